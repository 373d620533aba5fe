/* agent.c: a minimal agent in C: ask countersignd before running a tool,
 * and run it only on allow. It links libcountersign.a alone (with nng and
 * jansson).
 *
 *   agent --home DIR --token JWT --tool fs.read [--args JSON] [--wait MS]
 *
 * Exit status: 0 allow, 1 deny, 2 still pending, 69 daemon unreachable,
 * 64 usage error, 65 refused as malformed.
 * SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "countersign.h"

static int
usage(void)
{
	fprintf(stderr, "usage: agent (--home DIR | --url URL) --token JWT "
	    "--tool NAME [--args JSON] [--wait MS]\n");
	return 64;
}

int
main(int argc, char **argv)
{
	const char *home = getenv("COUNTERSIGN_HOME"), *url = NULL;
	char url_buf[4096], *cause = NULL;
	cs_authz a = { .wait_ms = 0 };
	cs_decision dec = { .audit_seq = -1 };
	cs_client *c;
	cs_err rv;
	int status;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--home") == 0)
			home = argv[i + 1];
		else if (strcmp(argv[i], "--url") == 0)
			url = argv[i + 1];
		else if (strcmp(argv[i], "--token") == 0)
			a.token = argv[i + 1];
		else if (strcmp(argv[i], "--tool") == 0)
			a.tool = argv[i + 1];
		else if (strcmp(argv[i], "--args") == 0)
			a.args_json = argv[i + 1];
		else if (strcmp(argv[i], "--wait") == 0)
			a.wait_ms = strtoll(argv[i + 1], NULL, 10);
		else
			return usage();
	}
	if (argc % 2 == 0 || a.token == NULL || a.tool == NULL ||
	    (url == NULL && home == NULL))
		return usage();
	if (url == NULL) {
		snprintf(url_buf, sizeof url_buf, "ipc://%s/agent.ipc", home);
		url = url_buf;
	}

	if (cs_client_open(url, &c, &cause) != CS_OK) {
		fprintf(stderr, "agent: %s: not running %s\n", cause, a.tool);
		free(cause);
		return 69; /* fail closed: no answer is no permission */
	}
	/* blocks up to wait_ms (plus a margin) while an operator decides */
	rv = cs_client_authorize(c, &a, 0, &dec, &cause);
	if (rv == CS_OK && dec.verdict == CS_VERDICT_PENDING) {
		/* nobody decided within wait_ms: ask once more, later */
		char *request = strdup(dec.request != NULL ? dec.request : "");

		printf("%s is waiting for an operator\n", request);
		cs_decision_fini(&dec);
		rv = cs_client_status(c, request, 5000, &dec, &cause);
		free(request);
	}
	if (rv != CS_OK) {
		fprintf(stderr, "agent: %s: not running %s\n",
		    cause != NULL ? cause : "no decision", a.tool);
		status = rv == CS_EINVAL ? 65 : 69;
	} else if (dec.verdict == CS_VERDICT_ALLOW) {
		printf("allow %s (%s, rule %s): running %s\n", dec.request,
		    dec.by, dec.rule != NULL ? dec.rule : "-", a.tool);
		status = 0; /* ... run the tool here ... */
	} else if (dec.verdict == CS_VERDICT_PENDING) {
		printf("still pending %s: not running %s yet\n", dec.request,
		    a.tool);
		status = 2;
	} else {
		printf("deny %s (%s): %s\n", dec.request, dec.by,
		    dec.reason != NULL ? dec.reason : "no reason given");
		status = 1;
	}
	cs_decision_fini(&dec);
	free(cause);
	cs_client_close(c);
	return status;
}
