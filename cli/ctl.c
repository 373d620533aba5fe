/* ctl.c: countersignctl, the scriptable client: ask for decisions, decide,
 * change trust and posture, read and verify the audit store, mint tokens,
 * lint and test policies.
 * SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>

#include "countersign.h"
#include "cs.h"
#include "ctl.h"
#include "home.h"
#include "pol.h"
#include "store.h"
#include "tok.h"

/* Exit codes (sysexits where they fit). */
enum {
	EX_ALLOW = 0,
	EX_DENY = 1,
	EX_PENDING = 2,
	EX_USAGE_ = 64,
	EX_DATAERR_ = 65,
	EX_UNAVAILABLE_ = 69,
	EX_SOFTWARE_ = 70,
};

static const char *home_arg;

/* Print a one-line error and return code. */
int
ctl_fail(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("countersignctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/* Return the value of option name at argv[*i], advancing *i; NULL when
 * argv[*i] is not that option. Exits on a missing value. */
const char *
ctl_opt(int argc, char **argv, int *i, const char *name)
{
	if (strcmp(argv[*i], name) != 0)
		return NULL;
	if (*i + 1 >= argc) {
		ctl_fail(EX_USAGE_, "%s needs a value", name);
		exit(EX_USAGE_);
	}
	(*i)++;
	return argv[*i];
}

/* The --home value given before the command, or NULL. */
const char *
ctl_home_arg(void)
{
	return home_arg;
}

/* Resolve the home folder or exit with a usage error. */
char *
ctl_home(void)
{
	char *cause = NULL, *home = cs_home_resolve(home_arg, &cause);

	if (home == NULL) {
		ctl_fail(EX_USAGE_, "%s", cause);
		exit(EX_USAGE_);
	}
	return home;
}

/* Connect to one of the daemon's endpoints, or exit 69. */
cs_client *
ctl_connect(const char *endpoint)
{
	char *home = ctl_home(), *url, *cause = NULL;
	cs_client *c = NULL;
	const char *env = getenv(strcmp(endpoint, "agent.ipc") == 0 ?
	    "COUNTERSIGN_AGENT_URL" : "COUNTERSIGN_CONTROL_URL");

	url = env != NULL && *env ? strdup(env) : cs_home_url(home, endpoint);
	if (cs_client_open(url, &c, &cause) != CS_OK) {
		ctl_fail(EX_UNAVAILABLE_, "%s (is countersignd running with "
		    "--home %s?)", cause, home);
		exit(EX_UNAVAILABLE_);
	}
	free(cause);
	free(url);
	free(home);
	return c;
}

/* Connections reset before the reply that one call tries past. */
#define CTL_RESETS 2

/* One request/reply on endpoint. A connection reset before the reply is
 * sent again (twice at most) on the same socket, whose dialer connects
 * again by itself: countersignd resets the connections of a listener it
 * had to replace (nng 1.5 can stop handing connections over), and those
 * never reached it. Closing the socket instead could land in the middle
 * of that reconnection, which is what breaks an nng 1.5 listener. A
 * request that did reach a daemon that then went away is safe to repeat
 * too: calls are deduplicated by id, reads change nothing, and a repeated
 * decision is answered "already decided" with the outcome. */
static cs_err
ctl_call(const char *endpoint, const json_t *req, int64_t timeout_ms,
    json_t **reply, char **cause)
{
	cs_client *c = ctl_connect(endpoint);
	cs_err rv;

	for (int attempt = 0;; attempt++) {
		rv = cs_client_call_json(c, req, timeout_ms, reply, cause);
		if (rv != CS_ETRANSPORT || attempt >= CTL_RESETS ||
		    *cause == NULL ||
		    strstr(*cause, nng_strerror(NNG_ECONNRESET)) == NULL)
			break;
		free(*cause);
		*cause = NULL;
	}
	cs_client_close(c);
	return rv;
}

/* One request/reply on the control endpoint; exits on transport errors.
 * Returns the reply (new reference). */
static json_t *
ctl_control(json_t *req, int64_t timeout_ms)
{
	json_t *reply = NULL;
	char *cause = NULL;
	cs_err rv = ctl_call("control.ipc", req, timeout_ms, &reply, &cause);

	json_decref(req);
	if (rv != CS_OK) {
		ctl_fail(EX_UNAVAILABLE_, "%s", cause != NULL ? cause :
		    cs_strerror(rv));
		exit(EX_UNAVAILABLE_);
	}
	return reply;
}

/* Print a control error reply and return its exit code. */
static int
control_error(const json_t *reply)
{
	const char *code = json_string_value(json_object_get(reply, "code"));
	const char *msg = json_string_value(json_object_get(reply, "message"));

	if (code != NULL && strcmp(code, "already_decided") == 0) {
		const json_t *d = json_object_get(reply, "decision");

		return ctl_fail(EX_DENY, "%s was already decided: %s by %s",
		    json_string_value(json_object_get(reply, "request")),
		    json_string_value(json_object_get(d, "decision")),
		    json_string_value(json_object_get(d, "by")));
	}
	return ctl_fail(code != NULL && (strcmp(code, "bad_request") == 0 ||
	    strcmp(code, "bad_json") == 0) ? EX_DATAERR_ : EX_DENY, "%s: %s",
	    code != NULL ? code : "error", msg != NULL ? msg : "refused");
}

/* Print a JSON value on one line. */
void
ctl_print_json(const json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if (text != NULL) {
		puts(text);
		free(text);
	}
}

/* Exit code of a decision reply. */
static int
decision_exit(const json_t *reply)
{
	const char *type = json_string_value(json_object_get(reply, "type"));
	const char *d = json_string_value(json_object_get(reply, "decision"));

	if (type != NULL && strcmp(type, "error") == 0) {
		ctl_fail(EX_DATAERR_, "%s: %s",
		    json_string_value(json_object_get(reply, "code")),
		    json_string_value(json_object_get(reply, "message")));
		return EX_DATAERR_;
	}
	if (d == NULL)
		return ctl_fail(EX_SOFTWARE_, "reply without a decision");
	if (strcmp(d, "allow") == 0)
		return EX_ALLOW;
	if (strcmp(d, "pending") == 0)
		return EX_PENDING;
	return EX_DENY;
}

/* Send one frame to the agent endpoint, print the reply, return the exit
 * code of its decision (req is stolen). */
static int
agent_call(json_t *req, int64_t timeout_ms)
{
	json_t *reply = NULL;
	char *cause = NULL;
	cs_err rv = ctl_call("agent.ipc", req, timeout_ms, &reply, &cause);
	int code;

	json_decref(req);
	if (rv != CS_OK) {
		code = ctl_fail(EX_UNAVAILABLE_, "%s", cause != NULL ? cause :
		    cs_strerror(rv));
		free(cause);
		return code;
	}
	ctl_print_json(reply);
	code = decision_exit(reply);
	json_decref(reply);
	return code;
}

/* ask: one authorize request. */
static int
cmd_ask(int argc, char **argv)
{
	const char *token = NULL, *tool = NULL, *session = NULL, *action = NULL;
	const char *resource = NULL, *args = NULL, *purpose = NULL, *v;
	const char *id = NULL;
	int64_t wait_ms = 0;
	json_t *req, *jargs = NULL;
	json_error_t jerr;
	char idbuf[20];

	for (int i = 0; i < argc; i++) {
		if ((v = ctl_opt(argc, argv, &i, "--token")) != NULL)
			token = v;
		else if ((v = ctl_opt(argc, argv, &i, "--tool")) != NULL)
			tool = v;
		else if ((v = ctl_opt(argc, argv, &i, "--session")) != NULL)
			session = v;
		else if ((v = ctl_opt(argc, argv, &i, "--action")) != NULL)
			action = v;
		else if ((v = ctl_opt(argc, argv, &i, "--resource")) != NULL)
			resource = v;
		else if ((v = ctl_opt(argc, argv, &i, "--args")) != NULL)
			args = v;
		else if ((v = ctl_opt(argc, argv, &i, "--purpose")) != NULL)
			purpose = v;
		else if ((v = ctl_opt(argc, argv, &i, "--id")) != NULL)
			id = v;
		else if ((v = ctl_opt(argc, argv, &i, "--wait")) != NULL) {
			if (cs_parse_duration_ms(v, &wait_ms) != CS_OK)
				return ctl_fail(EX_USAGE_, "--wait: bad "
				    "duration \"%s\" (try 30s, 2m)", v);
		} else
			return ctl_fail(EX_USAGE_, "ask: unknown argument %s",
			    argv[i]);
	}
	if (token == NULL || tool == NULL)
		return ctl_fail(EX_USAGE_, "ask needs --token JWT and --tool "
		    "NAME");
	if (strcmp(token, "-") == 0) {
		static char buf[16384];
		size_t n = fread(buf, 1, sizeof buf - 1, stdin);

		buf[n] = '\0';
		buf[strcspn(buf, "\r\n")] = '\0';
		token = buf;
	}
	if (args != NULL) {
		jargs = json_loads(args, JSON_REJECT_DUPLICATES, &jerr);
		if (jargs == NULL || !json_is_object(jargs)) {
			json_decref(jargs);
			return ctl_fail(EX_DATAERR_, "--args must be a JSON "
			    "object: %s", jargs == NULL ? jerr.text :
			    "not an object");
		}
	}
	if (id == NULL) {
		memcpy(idbuf, "c-", 2);
		if (cs_random_hex(idbuf + 2, 8) != CS_OK)
			return ctl_fail(EX_SOFTWARE_, "no randomness");
		id = idbuf;
	}
	req = json_pack("{s:i, s:s, s:s, s:s, s:s, s:I}", "v", 1, "type",
	    "authorize", "id", id, "token", token, "tool", tool, "wait_ms",
	    (json_int_t) wait_ms);
	if (session != NULL)
		json_object_set_new(req, "session", json_string(session));
	if (action != NULL)
		json_object_set_new(req, "action", json_string(action));
	if (resource != NULL)
		json_object_set_new(req, "resource", json_string(resource));
	if (jargs != NULL)
		json_object_set_new(req, "args", jargs);
	if (purpose != NULL)
		json_object_set_new(req, "context", json_pack("{s:s}",
		    "purpose", purpose));
	return agent_call(req, wait_ms + 15000);
}

/* status REQUEST_ID */
static int
cmd_status(int argc, char **argv)
{
	if (argc != 1)
		return ctl_fail(EX_USAGE_, "usage: status REQUEST_ID");
	return agent_call(json_pack("{s:i, s:s, s:s}", "v", 1, "type",
	    "status", "request", argv[0]), 15000);
}

/* "in 1m30s" / "overdue" for a deadline. */
static void
fmt_left(int64_t deadline_ms, char *out, size_t size)
{
	int64_t left = (deadline_ms - cs_now_ms()) / 1000;

	if (left <= 0)
		snprintf(out, size, "due");
	else if (left < 60)
		snprintf(out, size, "%llds", (long long) left);
	else
		snprintf(out, size, "%lldm%02llds", (long long) left / 60,
		    (long long) left % 60);
}

/* pending [--json] */
static int
cmd_pending(int argc, char **argv)
{
	bool as_json = argc == 1 && strcmp(argv[0], "--json") == 0;
	json_t *reply, *items, *item;
	size_t i;
	int code = 0;

	if (argc > 1 || (argc == 1 && !as_json))
		return ctl_fail(EX_USAGE_, "usage: pending [--json]");
	reply = ctl_control(json_pack("{s:i, s:s}", "v", 1, "type",
	    "pending"), 15000);
	if (json_object_get(reply, "ok") == NULL) {
		code = control_error(reply);
		json_decref(reply);
		return code;
	}
	items = json_object_get(reply, "pending");
	if (!as_json)
		printf("%-18s %-20s %-12s %-10s %-10s %-14s %3s %8s\n",
		    "REQUEST", "TOOL", "AGENT", "USER", "SESSION", "RULE",
		    "OK", "DEADLINE");
	json_array_foreach(items, i, item) {
		char left[32];

		if (as_json) {
			ctl_print_json(item);
			continue;
		}
		fmt_left(json_integer_value(json_object_get(item, "deadline")),
		    left, sizeof left);
		printf("%-18.18s %-20.20s %-12.12s %-10.10s %-10.10s %-14.14s "
		    "%lld/%lld %8s\n",
		    json_string_value(json_object_get(item, "request")),
		    json_string_value(json_object_get(item, "tool")),
		    json_string_value(json_object_get(item, "agent")),
		    json_string_value(json_object_get(item, "user")),
		    json_string_value(json_object_get(item, "session")),
		    json_string_value(json_object_get(item, "rule")),
		    (long long) json_array_size(json_object_get(item,
		    "approvals")),
		    (long long) json_integer_value(json_object_get(item,
		    "approvers")), left);
	}
	json_decref(reply);
	return 0;
}

/* sessions [--json] */
static int
cmd_sessions(int argc, char **argv)
{
	bool as_json = argc == 1 && strcmp(argv[0], "--json") == 0;
	json_t *reply, *item;
	size_t i;
	int code;

	reply = ctl_control(json_pack("{s:i, s:s}", "v", 1, "type",
	    "sessions"), 15000);
	if (json_object_get(reply, "ok") == NULL) {
		code = control_error(reply);
		json_decref(reply);
		return code;
	}
	if (!as_json)
		printf("%-16s %-12s %-10s %5s %6s %7s  %s\n", "SESSION",
		    "AGENT", "USER", "TRUST", "CALLS", "DENIED", "PURPOSE");
	json_array_foreach(json_object_get(reply, "sessions"), i, item) {
		if (as_json) {
			ctl_print_json(item);
			continue;
		}
		printf("%-16.16s %-12.12s %-10.10s %5lld %6lld %7lld  %.40s\n",
		    json_string_value(json_object_get(item, "session")),
		    json_string_value(json_object_get(item, "agent")),
		    json_string_value(json_object_get(item, "user")),
		    (long long) json_integer_value(json_object_get(item,
		    "trust")),
		    (long long) json_integer_value(json_object_get(item,
		    "calls")),
		    (long long) json_integer_value(json_object_get(item,
		    "denials")),
		    json_string_value(json_object_get(item, "purpose")) ?
		    json_string_value(json_object_get(item, "purpose")) : "");
	}
	if ((size_t) json_integer_value(json_object_get(reply,
	    "sessions_total")) > json_array_size(json_object_get(reply,
	    "sessions")))
		fprintf(stderr, "countersignctl: the %zu most recently active "
		    "of %lld sessions\n", json_array_size(json_object_get(
		    reply, "sessions")), (long long) json_integer_value(
		    json_object_get(reply, "sessions_total")));
	json_decref(reply);
	return 0;
}

/* Send a control command and report ok or the error. */
static int
control_simple(json_t *req, const char *ok_fmt)
{
	json_t *reply = ctl_control(req, 15000);
	int code = 0;

	if (json_object_get(reply, "ok") == NULL)
		code = control_error(reply);
	else if (ok_fmt != NULL) {
		const char *state = json_string_value(json_object_get(reply,
		    "state"));

		if (state != NULL && strcmp(state, "awaiting_quorum") == 0)
			printf("approval recorded (%lld of %lld): waiting for "
			    "more operators\n",
			    (long long) json_integer_value(json_object_get(
			    reply, "approvals")),
			    (long long) json_integer_value(json_object_get(
			    reply, "approvers")));
		else
			puts(ok_fmt);
	}
	json_decref(reply);
	return code;
}

/* decide REQUEST_ID approve|deny [--reason T] [--for-session [--ttl D]] */
static int
cmd_decide(int argc, char **argv)
{
	const char *reason = NULL, *v;
	bool for_session = false, quarantine = false;
	int64_t ttl_ms = 15 * 60 * 1000;
	json_t *req;

	if (argc < 2 || (strcmp(argv[1], "approve") != 0 &&
	    strcmp(argv[1], "deny") != 0))
		return ctl_fail(EX_USAGE_, "usage: decide REQUEST_ID "
		    "approve|deny [--reason TEXT] [--for-session [--ttl 15m]] "
		    "[--quarantine]");
	for (int i = 2; i < argc; i++) {
		if ((v = ctl_opt(argc, argv, &i, "--reason")) != NULL)
			reason = v;
		else if ((v = ctl_opt(argc, argv, &i, "--ttl")) != NULL) {
			if (cs_parse_duration_ms(v, &ttl_ms) != CS_OK ||
			    ttl_ms < 1000)
				return ctl_fail(EX_USAGE_, "--ttl: bad "
				    "duration \"%s\"", v);
		} else if (strcmp(argv[i], "--for-session") == 0)
			for_session = true;
		else if (strcmp(argv[i], "--quarantine") == 0)
			quarantine = true;
		else
			return ctl_fail(EX_USAGE_, "decide: unknown argument "
			    "%s", argv[i]);
	}
	req = json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, s:b}", "v", 1, "type",
	    "decide", "request", argv[0], "verdict", argv[1], "scope",
	    for_session ? "session" : "once", "ttl_s",
	    (json_int_t) (ttl_ms / 1000), "quarantine", quarantine);
	if (reason != NULL)
		json_object_set_new(req, "reason", json_string(reason));
	return control_simple(req, strcmp(argv[1], "approve") == 0 ?
	    "approved" : "denied");
}

/* trust SESSION LEVEL [--reason T] */
static int
cmd_trust(int argc, char **argv)
{
	long long level;
	const char *reason = NULL, *v;
	json_t *req;

	if (argc < 2 || cs_parse_int(argv[1], 0, 4, &level) != CS_OK)
		return ctl_fail(EX_USAGE_, "usage: trust SESSION LEVEL(0-4) "
		    "[--reason TEXT]");
	for (int i = 2; i < argc; i++) {
		if ((v = ctl_opt(argc, argv, &i, "--reason")) != NULL)
			reason = v;
		else
			return ctl_fail(EX_USAGE_, "trust: unknown argument "
			    "%s", argv[i]);
	}
	req = json_pack("{s:i, s:s, s:s, s:i}", "v", 1, "type", "trust",
	    "session", argv[0], "level", (int) level);
	if (reason != NULL)
		json_object_set_new(req, "reason", json_string(reason));
	return control_simple(req, "trust changed");
}

/* posture normal|elevated|lockdown [--reason T] */
static int
cmd_posture(int argc, char **argv)
{
	const char *reason = NULL, *v;
	json_t *req;

	if (argc < 1 || (strcmp(argv[0], "normal") != 0 &&
	    strcmp(argv[0], "elevated") != 0 &&
	    strcmp(argv[0], "lockdown") != 0))
		return ctl_fail(EX_USAGE_, "usage: posture "
		    "normal|elevated|lockdown [--reason TEXT]");
	for (int i = 1; i < argc; i++) {
		if ((v = ctl_opt(argc, argv, &i, "--reason")) != NULL)
			reason = v;
		else
			return ctl_fail(EX_USAGE_, "posture: unknown argument "
			    "%s", argv[i]);
	}
	req = json_pack("{s:i, s:s, s:s}", "v", 1, "type", "posture", "level",
	    argv[0]);
	if (reason != NULL)
		json_object_set_new(req, "reason", json_string(reason));
	return control_simple(req, "posture changed");
}

/* revoke SESSION GRANT */
static int
cmd_revoke(int argc, char **argv)
{
	if (argc != 2)
		return ctl_fail(EX_USAGE_, "usage: revoke SESSION GRANT_ID");
	return control_simple(json_pack("{s:i, s:s, s:s, s:s}", "v", 1, "type",
	    "revoke", "session", argv[0], "grant", argv[1]), "revoked");
}

/* reload */
static int
cmd_reload(int argc, char **argv)
{
	(void) argv;
	if (argc != 0)
		return ctl_fail(EX_USAGE_, "usage: reload");
	return control_simple(json_pack("{s:i, s:s}", "v", 1, "type",
	    "reload"), "policy reloaded");
}

/* Open the audit store read-only or exit. */
static core_store *
open_store(void)
{
	char *home = ctl_home(), *path = cs_asprintf("%s/audit.db", home);
	char *cause = NULL;
	core_store *st = NULL;

	if (core_store_open(path, CORE_STORE_RDONLY, &st, &cause) != CS_OK) {
		ctl_fail(EX_UNAVAILABLE_, "%s", cause != NULL ? cause : path);
		exit(EX_UNAVAILABLE_);
	}
	free(path);
	free(home);
	return st;
}

struct history_out {
	bool as_json;
};

/* Print one history row. */
static bool
history_row(void *ud, int64_t seq, const char *hash, json_t *ev)
{
	struct history_out *o = ud;
	char when[32];
	time_t t = (time_t) (json_integer_value(json_object_get(ev, "ts")) /
	    1000);
	struct tm tm;
	const char *kind = json_string_value(json_object_get(ev, "kind"));
	const char *detail;

	(void) seq;
	if (o->as_json) {
		json_object_set_new(ev, "hash", json_string(hash));
		ctl_print_json(ev);
		return true;
	}
	localtime_r(&t, &tm);
	strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
	detail = json_string_value(json_object_get(ev, "reason"));
	printf("%6lld %s %-9s %-18.18s %-6s %-10s %-18.18s %-12.12s %.40s\n",
	    (long long) json_integer_value(json_object_get(ev, "seq")), when,
	    kind != NULL ? kind : "?",
	    json_string_value(json_object_get(ev, "request")) ?
	    json_string_value(json_object_get(ev, "request")) :
	    json_string_value(json_object_get(ev, "session")) ?
	    json_string_value(json_object_get(ev, "session")) : "-",
	    json_string_value(json_object_get(ev, "decision")) ?
	    json_string_value(json_object_get(ev, "decision")) : "-",
	    json_string_value(json_object_get(ev, "by")) ?
	    json_string_value(json_object_get(ev, "by")) :
	    json_string_value(json_object_get(ev, "operator")) ?
	    json_string_value(json_object_get(ev, "operator")) : "-",
	    json_string_value(json_object_get(ev, "tool")) ?
	    json_string_value(json_object_get(ev, "tool")) : "-",
	    json_string_value(json_object_get(ev, "agent")) ?
	    json_string_value(json_object_get(ev, "agent")) : "-",
	    detail != NULL ? detail : "");
	return true;
}

/* history [--limit N] [--session S] [--tool T] [--decision D] [--json] */
static int
cmd_history(int argc, char **argv)
{
	core_store_filter f = { .limit = 50 };
	struct history_out o = { false };
	const char *v;
	long long n;
	core_store *st;
	cs_err rv;

	for (int i = 0; i < argc; i++) {
		if ((v = ctl_opt(argc, argv, &i, "--limit")) != NULL) {
			if (cs_parse_int(v, 0, 1LL << 40, &n) != CS_OK)
				return ctl_fail(EX_USAGE_, "--limit: bad "
				    "number");
			f.limit = n;
		} else if ((v = ctl_opt(argc, argv, &i, "--session")) != NULL)
			f.session = v;
		else if ((v = ctl_opt(argc, argv, &i, "--tool")) != NULL)
			f.tool = v;
		else if ((v = ctl_opt(argc, argv, &i, "--agent")) != NULL)
			f.agent = v;
		else if ((v = ctl_opt(argc, argv, &i, "--kind")) != NULL)
			f.kind = v;
		else if ((v = ctl_opt(argc, argv, &i, "--request")) != NULL)
			f.request = v;
		else if ((v = ctl_opt(argc, argv, &i, "--search")) != NULL)
			f.text = v;
		else if ((v = ctl_opt(argc, argv, &i, "--decision")) != NULL) {
			if (strcmp(v, "allow") != 0 && strcmp(v, "deny") != 0)
				return ctl_fail(EX_USAGE_, "--decision must "
				    "be allow or deny");
			f.decision = v;
		} else if (strcmp(argv[i], "--json") == 0)
			o.as_json = true;
		else
			return ctl_fail(EX_USAGE_, "history: unknown argument "
			    "%s", argv[i]);
	}
	st = open_store();
	if (!o.as_json)
		printf("%6s %-19s %-9s %-18s %-6s %-10s %-18s %-12s %s\n",
		    "SEQ", "TIME", "KIND", "REQUEST", "RESULT", "BY", "TOOL",
		    "AGENT", "REASON");
	rv = core_store_history(st, &f, history_row, &o);
	core_store_close(st);
	if (rv != CS_OK)
		return ctl_fail(EX_UNAVAILABLE_, "audit store: %s",
		    cs_strerror(rv));
	return 0;
}

/* Check the store's end against a recorded head "SEQ HASH" (or
 * "SEQ:HASH"); 0 when it matches, else prints why and returns 1. */
static int
check_head(core_store *st, const char *head, const char *origin,
    int64_t rows)
{
	char want[65], have[65];
	long long seq;
	cs_err rv;

	if (sscanf(head, "%lld%*[ :]%64[0-9a-f]", &seq, want) != 2 ||
	    strlen(want) != 64 || seq < 0)
		return ctl_fail(EX_DATAERR_, "%s: expected \"SEQ HASH\"",
		    origin);
	if (seq == 0)
		return 0;
	if (seq > rows) {
		printf("audit chain BROKEN at seq %lld: rows deleted at the "
		    "tail (%s records seq %lld, the store ends at seq %lld)\n",
		    (long long) rows + 1, origin, seq, (long long) rows);
		return 1;
	}
	if ((rv = core_store_hash_at(st, seq, have)) != CS_OK ||
	    strcmp(have, want) != 0) {
		printf("audit chain BROKEN at seq %lld: hash differs from the "
		    "head recorded in %s\n", seq, origin);
		return 1;
	}
	return 0;
}

/* audit verify [--head SEQ:HASH] */
static int
cmd_audit(int argc, char **argv)
{
	core_store_verify_report r;
	core_store *st;
	char *cause = NULL, *home, *head_path, *head_text = NULL;
	const char *head = NULL, *v;
	cs_err rv;
	int code = 0;

	if (argc < 1 || strcmp(argv[0], "verify") != 0)
		return ctl_fail(EX_USAGE_, "usage: audit verify [--head "
		    "SEQ:HASH]");
	for (int i = 1; i < argc; i++) {
		if ((v = ctl_opt(argc, argv, &i, "--head")) != NULL)
			head = v;
		else
			return ctl_fail(EX_USAGE_, "audit verify: unknown "
			    "argument %s", argv[i]);
	}
	/* read the head before the store, so a daemon committing meanwhile
	 * only makes the store longer than the head */
	home = ctl_home();
	head_path = cs_asprintf("%s/audit.head", home);
	free(home);
	if (head == NULL && head_path != NULL)
		(void) cs_read_file(head_path, 256, &head_text, NULL, NULL);
	st = open_store();
	rv = core_store_verify(st, &r, &cause);
	if (rv != CS_OK) {
		core_store_close(st);
		free(head_text);
		free(head_path);
		return ctl_fail(EX_UNAVAILABLE_, "audit store: %s",
		    cause != NULL ? cause : cs_strerror(rv));
	}
	if (r.bad_seq != 0) {
		printf("audit chain BROKEN at seq %lld: %s\n",
		    (long long) r.bad_seq, r.problem);
		core_store_close(st);
		free(head_text);
		free(head_path);
		return 1;
	}
	if (head != NULL)
		code = check_head(st, head, "--head", r.rows);
	else if (head_text != NULL)
		code = check_head(st, head_text, head_path, r.rows);
	core_store_close(st);
	if (code == 0)
		printf("audit chain ok: %lld events verified%s\n",
		    (long long) r.rows, head != NULL || head_text != NULL ?
		    ", head matches" : "");
	free(head_text);
	free(head_path);
	return code;
}

/* policy lint FILE | policy test POLICY CASES */
static int
cmd_policy(int argc, char **argv)
{
	pol_set *pol = NULL;
	char *cause = NULL, *cases = NULL;
	size_t len;
	int passed = 0, failed = 0;

	if (argc == 2 && strcmp(argv[0], "lint") == 0) {
		if (pol_set_load(argv[1], &pol, &cause) != CS_OK) {
			fprintf(stderr, "%s\n", cause != NULL ? cause :
			    "policy rejected");
			free(cause);
			return 1;
		}
		printf("%s: ok: %s, %zu rules\n", argv[1],
		    pol_set_version(pol), pol_set_rule_count(pol));
		pol_set_free(pol);
		return 0;
	}
	if (argc == 3 && strcmp(argv[0], "test") == 0) {
		if (pol_set_load(argv[1], &pol, &cause) != CS_OK) {
			fprintf(stderr, "%s\n", cause);
			free(cause);
			return 1;
		}
		if (cs_read_file(argv[2], 16 << 20, &cases, &len, &cause) !=
		    CS_OK || pol_test_run(pol, cases, len, argv[2], stdout,
		    &passed, &failed, &cause) != CS_OK) {
			fprintf(stderr, "%s\n", cause != NULL ? cause :
			    "cannot run the cases");
			free(cause);
			free(cases);
			pol_set_free(pol);
			return 1;
		}
		free(cases);
		pol_set_free(pol);
		return failed == 0 && passed > 0 ? 0 : 1;
	}
	return ctl_fail(EX_USAGE_, "usage: policy lint FILE | policy test "
	    "POLICY CASES.json");
}

/* token mint --agent A --user U --scope S [...] */
static int
cmd_token(int argc, char **argv)
{
	core_tok_mint_opts o = { .trust = -1, .ttl_s = 900 };
	const char *chain = NULL, *v;
	char *home, *cause = NULL, *jwt = NULL, *chain_copy = NULL;
	const char *actors[16];
	unsigned char *key = NULL;
	size_t key_len = 0;
	long long n;
	int64_t ms;

	if (argc < 1 || strcmp(argv[0], "mint") != 0)
		return ctl_fail(EX_USAGE_, "usage: token mint --agent NAME "
		    "--user NAME --scope 'tool:fs.* ...' [--trust 0-4] "
		    "[--ttl 15m] [--purpose T] [--consent REF] [--session ID] "
		    "[--actor-chain a,b]");
	for (int i = 1; i < argc; i++) {
		if ((v = ctl_opt(argc, argv, &i, "--agent")) != NULL)
			o.agent = v;
		else if ((v = ctl_opt(argc, argv, &i, "--user")) != NULL)
			o.user = v;
		else if ((v = ctl_opt(argc, argv, &i, "--scope")) != NULL)
			o.scope = v;
		else if ((v = ctl_opt(argc, argv, &i, "--purpose")) != NULL)
			o.purpose = v;
		else if ((v = ctl_opt(argc, argv, &i, "--consent")) != NULL)
			o.consent = v;
		else if ((v = ctl_opt(argc, argv, &i, "--session")) != NULL)
			o.sid = v;
		else if ((v = ctl_opt(argc, argv, &i, "--jti")) != NULL)
			o.jti = v;
		else if ((v = ctl_opt(argc, argv, &i, "--actor-chain")) !=
		    NULL)
			chain = v;
		else if ((v = ctl_opt(argc, argv, &i, "--trust")) != NULL) {
			if (cs_parse_int(v, 0, 4, &n) != CS_OK)
				return ctl_fail(EX_USAGE_, "--trust must be "
				    "0-4");
			o.trust = (int) n;
		} else if ((v = ctl_opt(argc, argv, &i, "--ttl")) != NULL) {
			if (cs_parse_duration_ms(v, &ms) != CS_OK || ms < 1000)
				return ctl_fail(EX_USAGE_, "--ttl: bad "
				    "duration \"%s\"", v);
			o.ttl_s = ms / 1000;
		} else
			return ctl_fail(EX_USAGE_, "token mint: unknown "
			    "argument %s", argv[i]);
	}
	if (o.agent == NULL || o.user == NULL || o.scope == NULL)
		return ctl_fail(EX_USAGE_, "token mint needs --agent, --user "
		    "and --scope");
	if (chain != NULL && *chain != '\0') {
		char *save = NULL, *tok;

		chain_copy = strdup(chain);
		for (tok = strtok_r(chain_copy, ",", &save); tok != NULL;
		    tok = strtok_r(NULL, ",", &save)) {
			if (o.actor_count == CS_ARRAY_LEN(actors) - 1) {
				free(chain_copy);
				return ctl_fail(EX_USAGE_, "--actor-chain: at "
				    "most 15 actors");
			}
			actors[o.actor_count++] = tok;
		}
		o.actors = actors;
	}
	home = ctl_home();
	if (cs_home_prepare(home, &cause) != CS_OK ||
	    cs_home_key(home, true, &key, &key_len, &cause) != CS_OK) {
		free(home);
		free(chain_copy);
		return ctl_fail(EX_UNAVAILABLE_, "%s", cause);
	}
	free(home);
	if (core_tok_mint(key, key_len, &o, time(NULL), &jwt, &cause) !=
	    CS_OK) {
		free(key);
		free(chain_copy);
		return ctl_fail(EX_USAGE_, "%s", cause != NULL ? cause :
		    "cannot mint");
	}
	puts(jwt);
	free(jwt);
	free(key);
	free(chain_copy);
	return 0;
}

static void
usage(FILE *f)
{
	fputs("usage: countersignctl [--home DIR] COMMAND ...\n"
	    "\n"
	    "agents:\n"
	    "  ask --token JWT --tool NAME [--session ID] [--action A]\n"
	    "      [--resource R] [--args JSON] [--purpose T] [--wait DUR]\n"
	    "  status REQUEST_ID\n"
	    "  hook claude-code [--token-file FILE | --token JWT] "
	    "[--session ID]\n"
	    "      [--wait 50s] [--on-pending deny|ask] [--purpose T]\n"
	    "      (a Claude Code PreToolUse hook: event on stdin, answer "
	    "on stdout)\n"
	    "operators:\n"
	    "  pending [--json]          sessions [--json]\n"
	    "  decide REQUEST_ID approve|deny [--reason T] [--for-session "
	    "[--ttl 15m]] [--quarantine]\n"
	    "  trust SESSION LEVEL [--reason T]\n"
	    "  posture normal|elevated|lockdown [--reason T]\n"
	    "  revoke SESSION GRANT_ID   reload\n"
	    "audit:\n"
	    "  history [--limit N] [--session S] [--tool T] [--agent A]\n"
	    "          [--decision allow|deny] [--kind K] [--search TEXT] "
	    "[--json]\n"
	    "  audit verify [--head SEQ:HASH]\n"
	    "tokens and policies:\n"
	    "  token mint --agent NAME --user NAME --scope 'tool:fs.*' "
	    "[--trust 0-4]\n"
	    "      [--ttl 15m] [--purpose T] [--consent REF] [--session ID]\n"
	    "      [--actor-chain a,b]\n"
	    "  policy lint FILE          policy test POLICY CASES.json\n"
	    "  simulate [--agents N] [--rate PER_S] [--duration D] "
	    "[--seed S]\n"
	    "\n"
	    "exit codes: 0 allow/ok, 1 deny/refused, 2 pending, 64 usage, "
	    "65 bad input,\n"
	    "            69 daemon unreachable\n", f);
}

int
main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int argc, char **argv);
	} cmds[] = {
		{ "ask", cmd_ask }, { "status", cmd_status },
		{ "pending", cmd_pending }, { "sessions", cmd_sessions },
		{ "decide", cmd_decide }, { "trust", cmd_trust },
		{ "posture", cmd_posture }, { "revoke", cmd_revoke },
		{ "reload", cmd_reload }, { "history", cmd_history },
		{ "audit", cmd_audit }, { "policy", cmd_policy },
		{ "token", cmd_token }, { "simulate", ctl_simulate },
		{ "hook", ctl_hook },
	};
	int i = 1;

	while (i < argc && argv[i][0] == '-') {
		if (strcmp(argv[i], "--home") == 0 && i + 1 < argc) {
			home_arg = argv[i + 1];
			i += 2;
		} else if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--home") == 0)
			return ctl_fail(EX_USAGE_, "--home needs a value");
		else
			return ctl_fail(EX_USAGE_, "unknown option %s (see "
			    "countersignctl --help)", argv[i]);
	}
	if (i >= argc) {
		usage(stderr);
		return EX_USAGE_;
	}
	for (size_t c = 0; c < CS_ARRAY_LEN(cmds); c++)
		if (strcmp(argv[i], cmds[c].name) == 0)
			return cmds[c].fn(argc - i - 1, argv + i + 1);
	return ctl_fail(EX_USAGE_, "unknown command \"%s\" (see "
	    "countersignctl --help)", argv[i]);
}
