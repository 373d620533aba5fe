/* main.c: countersign, the operator console: arguments, locale, signals.
 * SPDX-License-Identifier: MIT */
#define _XOPEN_SOURCE 700
#define NCURSES_WIDECHAR 1
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "cfg.h"
#include "cs.h"
#include "home.h"
#include "tui.h"

/* SIGINT and SIGTERM: ask the loop to stop; it restores the terminal. */
static void
stop_cb(int sig)
{
	(void) sig;
	tui_stop = 1;
}

/* A crash: give the terminal back, then die of the same signal. */
static void
crash_cb(int sig)
{
	endwin();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void
usage(FILE *f)
{
	fputs("usage: countersign [--home DIR] [--connect URL] [--events URL]\n"
	    "                   [--iterations N]\n"
	    "\n"
	    "The operator console of countersignd: approve or deny escalated\n"
	    "agent tool calls, change session trust and posture, read the\n"
	    "audit history. Press ? inside for the keys.\n"
	    "\n"
	    "  --home DIR       instance folder (default $COUNTERSIGN_HOME,\n"
	    "                   else $XDG_STATE_HOME/countersign)\n"
	    "  --connect URL    control endpoint (default from config.json,\n"
	    "                   else ipc://DIR/control.ipc)\n"
	    "  --events URL     event endpoint (default: the control URL with\n"
	    "                   \"control\" replaced by \"events\", or the next\n"
	    "                   port for tcp://)\n"
	    "  --iterations N   stop after N loop turns (headless test runs)\n"
	    "\n"
	    "Honours NO_COLOR; needs a terminal of at least 80x24.\n", f);
}

/* The events URL that goes with a control URL given on the command line. */
static char *
events_for(const char *control)
{
	const char *at = strstr(control, "control");
	const char *colon;
	char *end;
	long port;

	if (at != NULL)
		return cs_asprintf("%.*sevents%s", (int) (at - control),
		    control, at + strlen("control"));
	if ((colon = strrchr(control, ':')) != NULL &&
	    (port = strtol(colon + 1, &end, 10)) > 0 && port < 65535 &&
	    *end == '\0')
		return cs_asprintf("%.*s:%ld", (int) (colon - control),
		    control, port + 1);
	return NULL;
}

int
main(int argc, char **argv)
{
	const char *home_arg = NULL, *connect = NULL, *events = NULL;
	char *home = NULL, *cause = NULL, *path = NULL;
	char *control_url = NULL, *events_url = NULL, *db_path = NULL;
	tui_opts opts = { 0 };
	core_cfg cfg;
	struct sigaction sa;
	int status;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--home") == 0 && i + 1 < argc)
			home_arg = argv[++i];
		else if (strcmp(argv[i], "--connect") == 0 && i + 1 < argc)
			connect = argv[++i];
		else if (strcmp(argv[i], "--events") == 0 && i + 1 < argc)
			events = argv[++i];
		else if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
			if (cs_parse_int(argv[++i], 1, INT32_MAX,
			    &opts.iterations) != CS_OK) {
				fprintf(stderr, "countersign: --iterations "
				    "needs a positive number\n");
				return 64;
			}
		} else if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "countersign: unknown argument %s\n",
			    argv[i]);
			usage(stderr);
			return 64;
		}
	}
	setlocale(LC_ALL, "");
	if ((home = cs_home_resolve(home_arg, &cause)) == NULL) {
		fprintf(stderr, "countersign: %s\n", cause != NULL ? cause :
		    "cannot find the home folder");
		free(cause);
		return 64;
	}
	core_cfg_defaults(&cfg);
	path = cs_asprintf("%s/config.json", home);
	if (path != NULL && core_cfg_load(path, &cfg, &cause) != CS_OK) {
		fprintf(stderr, "countersign: %s (using the default "
		    "endpoints)\n", cause != NULL ? cause : path);
		free(cause);
		cause = NULL;
	}
	if (connect != NULL)
		control_url = strdup(connect);
	else if (cfg.control_url != NULL)
		control_url = strdup(cfg.control_url);
	else
		control_url = cs_home_url(home, "control.ipc");
	if (events != NULL)
		events_url = strdup(events);
	else if (connect != NULL)
		events_url = events_for(connect);
	else if (cfg.events_url != NULL)
		events_url = strdup(cfg.events_url);
	else
		events_url = cs_home_url(home, "events.ipc");
	db_path = cs_asprintf("%s/audit.db", home);
	if (control_url == NULL || events_url == NULL || db_path == NULL) {
		fprintf(stderr, "countersign: no events endpoint for %s: "
		    "give --events URL\n", connect != NULL ? connect : "?");
		status = 64;
		goto out;
	}
	opts.control_url = control_url;
	opts.events_url = events_url;
	opts.db_path = db_path;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = stop_cb;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = crash_cb;
	sa.sa_flags = (int) SA_RESETHAND;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGABRT, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	status = tui_run(&opts);
out:
	core_cfg_fini(&cfg);
	free(path);
	free(home);
	free(control_url);
	free(events_url);
	free(db_path);
	return status;
}
