/* hostile_race.c: approve racing deny racing the approval timeout, for the
 * hostile harness. Each trial escalates one call (wait_ms 0), parks a
 * second copy of the same request (same id: it joins the pending call),
 * then fires operator decisions over the control socket at the same
 * moment, or right at the call's deadline. One line per trial:
 *
 *   KIND REQUEST AGENT_DECISION AGENT_BY DECIDE1 DECIDE2
 *
 * KIND is approve-deny, approve-timeout, deny-timeout, all-three or
 * approve-approve; DECIDEn is decided:VERDICT, awaiting_quorum,
 * refused:CODE, none (not sent) or noreply. The harness then checks the
 * audit store: one final outcome per request, the same one the agent got.
 *
 *   hostile_race -a AGENT_URL -c CONTROL_URL -T TOKEN -n TRIALS -o OUT
 *                [-j PARALLEL] [-x OP_TOOL] [-y TIMEOUT_TOOL] [-p PREFIX]
 *
 * OP_TOOL must escalate with a long timeout, TIMEOUT_TOOL with a 1 s
 * timeout (tests/hostile/policies/hostile.json).
 * SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>
#include <nng/protocol/reqrep0/req.h>

enum kind { K_APPROVE_DENY, K_APPROVE_TIMEOUT, K_DENY_TIMEOUT, K_ALL_THREE,
	K_APPROVE_APPROVE, K_COUNT };

static const char *const kind_names[K_COUNT] = { "approve-deny",
	"approve-timeout", "deny-timeout", "all-three", "approve-approve" };

struct race_opts {
	const char *agent_url, *control_url, *token, *prefix;
	const char *op_tool, *timeout_tool;
	long trials;
	int parallel;
	FILE *out;
};

static struct race_opts opts;
static atomic_long next_trial;
static pthread_mutex_t out_mtx = PTHREAD_MUTEX_INITIALIZER;

struct conns {
	nng_socket agent, waiter, ctl1, ctl2;
	unsigned rng;
};

/* Wall clock milliseconds. */
static int64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A REQ socket dialed to url; false on error. */
static bool
req_open(const char *url, nng_socket *s)
{
	int rv;

	if ((rv = nng_req0_open(s)) != 0 ||
	    (rv = nng_socket_set_ms(*s, NNG_OPT_REQ_RESENDTIME,
	    NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_ms(*s, NNG_OPT_RECVTIMEO, 30000)) != 0 ||
	    (rv = nng_socket_set_ms(*s, NNG_OPT_SENDTIMEO, 5000)) != 0 ||
	    (rv = nng_dial(*s, url, NULL, 0)) != 0) {
		fprintf(stderr, "hostile_race: %s: %s\n", url,
		    nng_strerror(rv));
		return false;
	}
	return true;
}

/* Send a JSON object (stolen); false on error. */
static bool
send_json(nng_socket s, json_t *msg)
{
	char *text = msg != NULL ? json_dumps(msg, JSON_COMPACT) : NULL;
	bool ok = text != NULL && nng_send(s, text, strlen(text), 0) == 0;

	free(text);
	json_decref(msg);
	return ok;
}

/* Receive a JSON reply (new reference) or NULL. */
static json_t *
recv_json(nng_socket s)
{
	char *buf = NULL;
	size_t len = 0;
	json_error_t jerr;
	json_t *r;

	if (nng_recv(s, &buf, &len, NNG_FLAG_ALLOC) != 0)
		return NULL;
	r = json_loadb(buf, len, 0, &jerr);
	nng_free(buf, len);
	return r;
}

/* The authorize frame of trial i. */
static json_t *
authorize_msg(long i, const char *tool, long wait_ms)
{
	char id[96], session[96];

	snprintf(id, sizeof id, "%s-%ld", opts.prefix, i);
	snprintf(session, sizeof session, "%s-s%ld", opts.prefix, i);
	return json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:{s:I}, s:I}", "v",
	    1, "type", "authorize", "id", id, "token", opts.token, "tool", tool,
	    "session", session, "args", "trial", (json_int_t) i, "wait_ms",
	    (json_int_t) wait_ms);
}

/* A decide frame. */
static json_t *
decide_msg(const char *request, const char *verdict)
{
	return json_pack("{s:i, s:s, s:s, s:s, s:s}", "v", 1, "type",
	    "decide", "request", request, "verdict", verdict, "reason",
	    "hostile race");
}

/* Describe a decide reply into out. */
static void
decide_result(json_t *r, const char *verdict, char *out, size_t size)
{
	const char *state, *code;

	if (r == NULL) {
		snprintf(out, size, "noreply");
		return;
	}
	state = json_string_value(json_object_get(r, "state"));
	code = json_string_value(json_object_get(r, "code"));
	if (json_is_true(json_object_get(r, "ok")) && state != NULL &&
	    strcmp(state, "decided") == 0)
		snprintf(out, size, "decided:%s", verdict);
	else if (json_is_true(json_object_get(r, "ok")) && state != NULL)
		snprintf(out, size, "%s", state);
	else
		snprintf(out, size, "refused:%s", code != NULL ? code : "?");
}

/* Sleep until the wall clock reaches at_ms. */
static void
sleep_until(int64_t at_ms)
{
	int64_t now = wall_ms();

	if (at_ms > now)
		nng_msleep((nng_duration) (at_ms - now));
}

/* Run trial i on c. */
static void
trial(struct conns *c, long i)
{
	enum kind k = (enum kind) (i % K_COUNT);
	const char *tool = (k == K_APPROVE_TIMEOUT || k == K_DENY_TIMEOUT ||
	    k == K_ALL_THREE) ? opts.timeout_tool : opts.op_tool;
	const char *v1 = NULL, *v2 = NULL;
	char request[64], d1[64] = "none", d2[64] = "none";
	const char *adec = "noreply", *aby = "-";
	json_t *r, *w = NULL, *r1 = NULL, *r2 = NULL;
	int64_t deadline;

	if (!send_json(c->agent, authorize_msg(i, tool, 0)) ||
	    (r = recv_json(c->agent)) == NULL) {
		pthread_mutex_lock(&out_mtx);
		fprintf(opts.out, "%s - setup-failed - none none\n",
		    kind_names[k]);
		pthread_mutex_unlock(&out_mtx);
		return;
	}
	snprintf(request, sizeof request, "%s",
	    json_string_value(json_object_get(r, "request")) != NULL ?
	    json_string_value(json_object_get(r, "request")) : "-");
	deadline = json_integer_value(json_object_get(r, "deadline"));
	if (json_string_value(json_object_get(r, "decision")) == NULL ||
	    strcmp(json_string_value(json_object_get(r, "decision")),
	    "pending") != 0) {
		pthread_mutex_lock(&out_mtx);
		fprintf(opts.out, "%s %s setup-not-pending - none none\n",
		    kind_names[k], request);
		pthread_mutex_unlock(&out_mtx);
		json_decref(r);
		return;
	}
	json_decref(r);
	/* the same request again, parked: it joins the pending call */
	if (!send_json(c->waiter, authorize_msg(i, tool, 20000)))
		adec = "send-failed";
	nng_msleep(2);
	switch (k) {
	case K_APPROVE_DENY:
		v1 = "approve";
		v2 = "deny";
		break;
	case K_APPROVE_APPROVE:
		v1 = v2 = "approve";
		break;
	case K_APPROVE_TIMEOUT:
		v1 = "approve";
		break;
	case K_DENY_TIMEOUT:
		v1 = "deny";
		break;
	case K_ALL_THREE:
	default:
		v1 = "approve";
		v2 = "deny";
		break;
	}
	if (tool == opts.timeout_tool && deadline > 0) {
		/* land within +-40 ms of the deadline */
		c->rng = c->rng * 1103515245u + 12345u;
		sleep_until(deadline - 40 + (int64_t) ((c->rng >> 8) % 81));
	}
	if ((i / K_COUNT) % 2 == 1) {
		/* alternate which decision leaves first */
		const char *t = v1;

		v1 = v2 != NULL ? v2 : v1;
		v2 = v2 != NULL ? t : NULL;
	}
	if (v1 != NULL && !send_json(c->ctl1, decide_msg(request, v1)))
		snprintf(d1, sizeof d1, "send-failed");
	if (v2 != NULL && !send_json(c->ctl2, decide_msg(request, v2)))
		snprintf(d2, sizeof d2, "send-failed");
	if (v1 != NULL && strcmp(d1, "none") == 0) {
		r1 = recv_json(c->ctl1);
		decide_result(r1, v1, d1, sizeof d1);
	}
	if (v2 != NULL && strcmp(d2, "none") == 0) {
		r2 = recv_json(c->ctl2);
		decide_result(r2, v2, d2, sizeof d2);
	}
	if (strcmp(adec, "noreply") == 0 && (w = recv_json(c->waiter)) !=
	    NULL) {
		const char *s = json_string_value(json_object_get(w,
		    "decision"));
		const char *b = json_string_value(json_object_get(w, "by"));

		adec = s != NULL ? s : json_string_value(json_object_get(w,
		    "type")) != NULL ? "error" : "?";
		aby = b != NULL ? b : "-";
	}
	pthread_mutex_lock(&out_mtx);
	fprintf(opts.out, "%s %s %s %s %s %s\n", kind_names[k], request, adec,
	    aby, d1, d2);
	pthread_mutex_unlock(&out_mtx);
	json_decref(w);
	json_decref(r1);
	json_decref(r2);
}

/* One worker: its own four connections, trials until none are left. */
static void *
worker(void *arg)
{
	struct conns c;
	long i;

	memset(&c, 0, sizeof c);
	c.rng = (unsigned) (uintptr_t) arg * 2654435761u + (unsigned) wall_ms();
	if (!req_open(opts.agent_url, &c.agent) ||
	    !req_open(opts.agent_url, &c.waiter) ||
	    !req_open(opts.control_url, &c.ctl1) ||
	    !req_open(opts.control_url, &c.ctl2))
		return NULL;
	while ((i = atomic_fetch_add(&next_trial, 1)) < opts.trials)
		trial(&c, i);
	nng_close(c.agent);
	nng_close(c.waiter);
	nng_close(c.ctl1);
	nng_close(c.ctl2);
	return NULL;
}

int
main(int argc, char **argv)
{
	const char *out = NULL;
	pthread_t *tids;
	int opt;

	opts.parallel = 16;
	opts.prefix = "race";
	opts.op_tool = "race.op";
	opts.timeout_tool = "race.timeout";
	while ((opt = getopt(argc, argv, "a:c:T:n:o:j:x:y:p:")) != -1) {
		switch (opt) {
		case 'a':
			opts.agent_url = optarg;
			break;
		case 'c':
			opts.control_url = optarg;
			break;
		case 'T':
			opts.token = optarg;
			break;
		case 'n':
			opts.trials = strtol(optarg, NULL, 10);
			break;
		case 'o':
			out = optarg;
			break;
		case 'j':
			opts.parallel = (int) strtol(optarg, NULL, 10);
			break;
		case 'x':
			opts.op_tool = optarg;
			break;
		case 'y':
			opts.timeout_tool = optarg;
			break;
		case 'p':
			opts.prefix = optarg;
			break;
		default:
			out = NULL;
			break;
		}
	}
	if (opts.agent_url == NULL || opts.control_url == NULL ||
	    opts.token == NULL || out == NULL || opts.trials <= 0 ||
	    opts.parallel <= 0 || opts.parallel > 512 || optind != argc) {
		fputs("usage: hostile_race -a AGENT_URL -c CONTROL_URL -T TOKEN "
		    "-n TRIALS -o OUT [-j PARALLEL] [-x OP_TOOL] "
		    "[-y TIMEOUT_TOOL] [-p PREFIX]\n", stderr);
		return 64;
	}
	if ((opts.out = fopen(out, "w")) == NULL) {
		fprintf(stderr, "hostile_race: %s: %s\n", out, strerror(errno));
		return 1;
	}
	if ((tids = calloc((size_t) opts.parallel, sizeof *tids)) == NULL)
		return 1;
	for (int i = 0; i < opts.parallel; i++)
		if (pthread_create(&tids[i], NULL, worker,
		    (void *) (uintptr_t) i) != 0)
			return 1;
	for (int i = 0; i < opts.parallel; i++)
		pthread_join(tids[i], NULL);
	free(tids);
	fclose(opts.out);
	nng_fini();
	return 0;
}
