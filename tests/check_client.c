/* check_client.c: Check suite for the client library (countersign.h)
 * against a real countersignd started by each test on a fresh home, and
 * against an in-test REP server that answers out of order (contexts).
 * SPDX-License-Identifier: MIT */
#include "countersign.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "home.h"
#include "tok.h"

#define ck_assert_cs_ok(expr, cause)                                         \
	do {                                                                 \
		cs_err ck_rv_ = (expr);                                      \
		ck_assert_msg(ck_rv_ == CS_OK, "%s: %s (%s)", #expr,         \
		    cs_strerror(ck_rv_),                                     \
		    (cause) != NULL ? (cause) : "no cause");                 \
	} while (0)

/* The daemon's policy: reads run, transfers ask, the rest is denied. */
static const char policy_text[] =
    "{\"policy\":\"client\",\"version\":\"1\","
    "\"defaults\":{\"decision\":\"deny\",\"approval_timeout_s\":60,"
    "\"on_timeout\":\"deny\"},"
    "\"tools\":{\"fs.read\":{\"risk\":\"low\"},"
    "\"payments.transfer\":{\"risk\":\"high\"}},"
    "\"rules\":["
    "{\"id\":\"transfers\",\"if\":{\"tool\":\"payments.transfer\"},"
    "\"then\":\"ask\",\"reason\":\"transfers need an operator\"},"
    "{\"id\":\"reads\",\"if\":{\"tool\":\"fs.read\"},\"then\":\"allow\"}"
    "]}";

static char home[64];
static char agent_url[128], control_url[128];
static pid_t daemon_pid = -1;
static char *token;
static bool cleanup_registered;

/* Current CLOCK_MONOTONIC in ms. */
static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleep ms milliseconds. */
static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* bin/countersignd next to this test binary's build folder:
 * ROOT/build[/VARIANT]/tests/check_client -> ROOT/bin[/VARIANT]. */
static void
daemon_path(char *out, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	char *build, *variant, *slash;
	int len;

	if (n <= 0 || (exe[n] = '\0', build = strstr(exe, "/build/")) ==
	    NULL) {
		snprintf(out, size, "bin/countersignd");
		return;
	}
	*build = '\0';
	variant = build + 7;
	slash = strchr(variant, '/');
	/* build/tests/... or build/san/tests/... */
	if (slash != NULL && strncmp(variant, "tests/", 6) != 0)
		len = snprintf(out, size, "%s/bin/%.*s/countersignd", exe,
		    (int) (slash - variant), variant);
	else
		len = snprintf(out, size, "%s/bin/countersignd", exe);
	if (len < 0 || (size_t) len >= size)
		snprintf(out, size, "bin/countersignd");
}

/* Remove the (flat) home folder and everything in it. */
static void
rm_home(void)
{
	DIR *dir = opendir(home);
	struct dirent *e;
	char path[PATH_MAX];

	while (dir != NULL && (e = readdir(dir)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", home, e->d_name);
		unlink(path);
	}
	if (dir != NULL)
		closedir(dir);
	rmdir(home);
}

/* Stop the daemon (SIGTERM, then SIGKILL) and remove its home. */
static void
daemon_stop(void)
{
	if (daemon_pid > 0) {
		int status;
		int64_t until = now_ms() + 10000;

		kill(daemon_pid, SIGTERM);
		while (waitpid(daemon_pid, &status, WNOHANG) == 0) {
			if (now_ms() > until) {
				kill(daemon_pid, SIGKILL);
				waitpid(daemon_pid, &status, 0);
				break;
			}
			sleep_ms(10);
		}
		daemon_pid = -1;
	}
	if (home[0] != '\0') {
		rm_home();
		home[0] = '\0';
	}
	free(token);
	token = NULL;
}

/* Start countersignd on a fresh home and mint a token for it. */
static void
daemon_start(void)
{
	char bin[PATH_MAX], policy[128], log[128], *cause = NULL;
	unsigned char *key = NULL;
	size_t key_len = 0;
	core_tok_mint_opts o = { .user = "alice", .agent = "c-agent",
		.scope = "tool:fs.* tool:payments.*", .ttl_s = 900,
		.trust = 2 };
	int64_t until;
	FILE *f;

	daemon_path(bin, sizeof bin);
	ck_assert_msg(access(bin, X_OK) == 0, "%s is not built (run make)",
	    bin);
	snprintf(home, sizeof home, "/tmp/check_client.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(home));
	if (!cleanup_registered) /* a failed test exits without teardown */
		cleanup_registered = atexit(daemon_stop) == 0;
	snprintf(policy, sizeof policy, "%s/policy.json", home);
	snprintf(log, sizeof log, "%s/daemon.log", home);
	ck_assert_ptr_nonnull(f = fopen(policy, "w"));
	fputs(policy_text, f);
	ck_assert_int_eq(fclose(f), 0);
	snprintf(agent_url, sizeof agent_url, "ipc://%s/agent.ipc", home);
	snprintf(control_url, sizeof control_url, "ipc://%s/control.ipc",
	    home);
	if ((daemon_pid = fork()) == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		prctl(PR_SET_PDEATHSIG, SIGTERM); /* never outlive the test */
		if (fd >= 0)
			dup2(fd, STDERR_FILENO);
		execl(bin, "countersignd", "--home", home, "--policy", policy,
		    "--foreground", (char *) NULL);
		_exit(127);
	}
	ck_assert_int_gt(daemon_pid, 0);
	/* ready once the agent socket accepts a connection */
	for (until = now_ms() + 10000;; sleep_ms(20)) {
		cs_client *c;
		int status;

		if (cs_client_open(agent_url, &c, NULL) == CS_OK) {
			cs_client_close(c);
			break;
		}
		ck_assert_msg(waitpid(daemon_pid, &status, WNOHANG) == 0,
		    "countersignd exited at start (see %s)", log);
		ck_assert_msg(now_ms() < until, "countersignd not ready");
	}
	ck_assert_cs_ok(cs_home_key(home, false, &key, &key_len, &cause),
	    cause);
	ck_assert_cs_ok(core_tok_mint(key, key_len, &o, time(NULL), &token,
	    &cause), cause);
	free(key);
}

/* An operator command on the control socket; returns the reply. */
static json_t *
control(json_t *req)
{
	cs_client *c;
	json_t *reply = NULL;
	char *cause = NULL;

	ck_assert_cs_ok(cs_client_open(control_url, &c, &cause), cause);
	ck_assert_cs_ok(cs_client_call_json(c, req, 10000, &reply, &cause),
	    cause);
	cs_client_close(c);
	json_decref(req);
	return reply;
}

/* Approve or deny a pending request as the operator running the test. */
static void
decide(const char *request, const char *verdict)
{
	json_t *reply = control(json_pack("{s:i, s:s, s:s, s:s, s:s, s:I, "
	    "s:b}", "v", 1, "type", "decide", "request", request, "verdict",
	    verdict, "scope", "once", "ttl_s", (json_int_t) 900, "quarantine",
	    0));

	ck_assert_msg(json_is_true(json_object_get(reply, "ok")),
	    "decide %s %s refused", request, verdict);
	json_decref(reply);
}

/* The request ids waiting for an operator, as a new JSON array. */
static json_t *
pending_ids(void)
{
	json_t *reply = control(json_pack("{s:i, s:s}", "v", 1, "type",
	    "pending"));
	json_t *ids = json_array(), *item;
	size_t i;

	json_array_foreach(json_object_get(reply, "pending"), i, item)
		json_array_append(ids, json_object_get(item, "request"));
	json_decref(reply);
	return ids;
}

/* Wait until count calls are pending; returns their ids. */
static json_t *
wait_pending(size_t count)
{
	int64_t until = now_ms() + 10000;

	for (;;) {
		json_t *ids = pending_ids();

		if (json_array_size(ids) >= count)
			return ids;
		json_decref(ids);
		ck_assert_msg(now_ms() < until, "%zu calls never pending",
		    count);
		sleep_ms(20);
	}
}

/* ---- cs_client_open ---------------------------------------------------- */

START_TEST(test_open_unreachable)
{
	cs_client *c = NULL;
	char *cause = NULL;

	ck_assert_int_eq(cs_client_open("ipc:///tmp/check_client.none/"
	    "agent.ipc", &c, &cause), CS_ETRANSPORT);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(cause);
	ck_assert_ptr_nonnull(strstr(cause, "cannot reach"));
	free(cause);
}
END_TEST

/* ---- cs_decision_fini -------------------------------------------------- */

START_TEST(test_decision_fini)
{
	cs_decision d;

	memset(&d, 0, sizeof d);
	cs_decision_fini(&d);
	ck_assert_int_eq(d.audit_seq, -1);
	d.json = json_object();
	cs_decision_fini(&d);
	ck_assert_ptr_null(d.json);
	cs_decision_fini(&d); /* twice is harmless */
	cs_decision_fini(NULL);
}
END_TEST

/* ---- cs_client_authorize ----------------------------------------------- */

START_TEST(test_authorize_allow)
{
	cs_client *c;
	cs_decision d = { .audit_seq = -1 };
	char *cause = NULL;
	cs_authz a;

	daemon_start();
	a = (cs_authz) { .token = token, .tool = "fs.read", .id = "c-1",
		.args_json = "{\"path\":\"/workspace/a.txt\"}",
		.purpose = "read a file" };
	ck_assert_cs_ok(cs_client_open(agent_url, &c, &cause), cause);
	ck_assert_cs_ok(cs_client_authorize(c, &a, 5000, &d, &cause), cause);
	ck_assert_int_eq(d.verdict, CS_VERDICT_ALLOW);
	ck_assert_str_eq(d.by, "policy");
	ck_assert_str_eq(d.rule, "reads");
	ck_assert_ptr_nonnull(d.request);
	ck_assert_int_eq(strncmp(d.request, "r-", 2), 0);
	ck_assert_ptr_nonnull(d.args_digest);
	ck_assert_int_eq(strncmp(d.args_digest, "sha256:", 7), 0);
	ck_assert_int_gt(d.audit_seq, 0); /* answered after the commit */
	ck_assert_str_eq(json_string_value(json_object_get(d.json, "id")),
	    "c-1");
	cs_decision_fini(&d);
	cs_client_close(c);
	daemon_stop();
}
END_TEST

START_TEST(test_authorize_deny)
{
	cs_client *c;
	cs_decision d = { .audit_seq = -1 };
	char *cause = NULL;
	cs_authz a;

	daemon_start();
	ck_assert_cs_ok(cs_client_open(agent_url, &c, &cause), cause);
	/* a forged token: denied by admission, still a decision */
	a = (cs_authz) { .token = "eyJhbGciOiJub25lIn0.e30.", .tool =
		"fs.read" };
	ck_assert_cs_ok(cs_client_authorize(c, &a, 5000, &d, &cause), cause);
	ck_assert_int_eq(d.verdict, CS_VERDICT_DENY);
	ck_assert_str_eq(d.by, "admission");
	/* outside the token's scope */
	a = (cs_authz) { .token = token, .tool = "shell.exec" };
	ck_assert_cs_ok(cs_client_authorize(c, &a, 5000, &d, &cause), cause);
	ck_assert_int_eq(d.verdict, CS_VERDICT_DENY);
	ck_assert_str_eq(d.by, "admission");
	/* in scope, no rule: the policy's default */
	a = (cs_authz) { .token = token, .tool = "fs.write" };
	ck_assert_cs_ok(cs_client_authorize(c, &a, 5000, &d, &cause), cause);
	ck_assert_int_eq(d.verdict, CS_VERDICT_DENY);
	ck_assert_str_eq(d.by, "policy");
	cs_decision_fini(&d);
	cs_client_close(c);
	daemon_stop();
}
END_TEST

/* Requests refused before or by the daemon: never a decision. */
START_TEST(test_authorize_refused)
{
	cs_client *c;
	cs_decision d = { .audit_seq = -1 };
	char *cause = NULL;
	cs_authz a;

	daemon_start();
	ck_assert_cs_ok(cs_client_open(agent_url, &c, &cause), cause);
	a = (cs_authz) { .tool = "fs.read" }; /* no token */
	ck_assert_int_eq(cs_client_authorize(c, &a, 5000, &d, &cause),
	    CS_EINVAL);
	ck_assert_ptr_null(d.json);
	free(cause);
	cause = NULL;
	a = (cs_authz) { .token = token, .tool = "fs.read", .args_json =
		"[1,2]" };
	ck_assert_int_eq(cs_client_authorize(c, &a, 5000, &d, &cause),
	    CS_EINVAL);
	ck_assert_ptr_nonnull(strstr(cause, "JSON object"));
	free(cause);
	cause = NULL;
	a.args_json = "{\"a\":";
	ck_assert_int_eq(cs_client_authorize(c, &a, 5000, &d, &cause),
	    CS_EINVAL);
	free(cause);
	cause = NULL;
	/* the daemon refuses a tool name with a space */
	a = (cs_authz) { .token = token, .tool = "fs read" };
	ck_assert_int_eq(cs_client_authorize(c, &a, 5000, &d, &cause),
	    CS_EINVAL);
	ck_assert_ptr_nonnull(strstr(cause, "bad_value"));
	ck_assert_ptr_null(d.json);
	free(cause);
	cs_client_close(c);
	daemon_stop();
}
END_TEST

/* Decide the one pending call once it shows up. */
static void *
decider_main(void *arg)
{
	json_t *ids = wait_pending(1);

	decide(json_string_value(json_array_get(ids, 0)), (const char *) arg);
	json_decref(ids);
	return NULL;
}

START_TEST(test_authorize_waits_for_operator)
{
	cs_client *c;
	cs_decision d = { .audit_seq = -1 };
	char *cause = NULL;
	pthread_t decider;
	cs_authz a;

	daemon_start();
	a = (cs_authz) { .token = token, .tool = "payments.transfer",
		.args_json = "{\"amount\":250}", .wait_ms = 20000 };
	ck_assert_cs_ok(cs_client_open(agent_url, &c, &cause), cause);
	ck_assert_int_eq(pthread_create(&decider, NULL, decider_main,
	    (void *) "approve"), 0);
	ck_assert_cs_ok(cs_client_authorize(c, &a, 0, &d, &cause), cause);
	pthread_join(decider, NULL);
	ck_assert_int_eq(d.verdict, CS_VERDICT_ALLOW);
	ck_assert_str_eq(d.by, "operator");
	ck_assert_str_eq(d.rule, "transfers");
	cs_decision_fini(&d);
	cs_client_close(c);
	daemon_stop();
}
END_TEST

START_TEST(test_authorize_timeout)
{
	cs_client *c;
	cs_decision d = { .audit_seq = -1 };
	char *cause = NULL;
	int64_t start;
	cs_authz a;

	daemon_start();
	a = (cs_authz) { .token = token, .tool = "payments.transfer",
		.wait_ms = 20000 };
	ck_assert_cs_ok(cs_client_open(agent_url, &c, &cause), cause);
	start = now_ms();
	ck_assert_int_eq(cs_client_authorize(c, &a, 300, &d, &cause),
	    CS_ETIMEDOUT);
	ck_assert_int_lt(now_ms() - start, 3000);
	ck_assert_ptr_null(d.json);
	free(cause);
	cs_client_close(c);
	daemon_stop();
}
END_TEST

/* ---- cs_client_status -------------------------------------------------- */

START_TEST(test_status)
{
	cs_client *c;
	cs_decision d = { .audit_seq = -1 };
	char *cause = NULL, *request;
	cs_authz a;

	daemon_start();
	a = (cs_authz) { .token = token, .tool = "payments.transfer",
		.args_json = "{\"amount\":5}", .wait_ms = 0 };
	ck_assert_cs_ok(cs_client_open(agent_url, &c, &cause), cause);
	ck_assert_cs_ok(cs_client_authorize(c, &a, 5000, &d, &cause), cause);
	ck_assert_int_eq(d.verdict, CS_VERDICT_PENDING);
	request = strdup(d.request);
	ck_assert_cs_ok(cs_client_status(c, request, 5000, &d, &cause),
	    cause);
	ck_assert_int_eq(d.verdict, CS_VERDICT_PENDING);
	ck_assert_str_eq(d.request, request);
	decide(request, "deny");
	ck_assert_cs_ok(cs_client_status(c, request, 5000, &d, &cause),
	    cause);
	ck_assert_int_eq(d.verdict, CS_VERDICT_DENY);
	ck_assert_str_eq(d.by, "operator");
	ck_assert_int_gt(d.audit_seq, 0);
	ck_assert_int_eq(cs_client_status(c, "r-0000-999999", 5000, &d,
	    &cause), CS_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(cause, "not_found"));
	free(cause);
	cause = NULL;
	ck_assert_int_eq(cs_client_status(c, "", 5000, &d, &cause),
	    CS_EINVAL);
	free(cause);
	free(request);
	cs_decision_fini(&d);
	cs_client_close(c);
	daemon_stop();
}
END_TEST

/* ---- cs_client_authorize_async ----------------------------------------- */

/* Results collected by async_cb. */
struct results {
	pthread_mutex_t mtx;
	pthread_cond_t cond;
	int count;
	cs_err rv[16];
	cs_verdict verdict[16];
	char request[16][40];
	char id[16][40];
};

static struct results results = {
	PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, { 0 }, { 0 },
	{ { 0 } }, { { 0 } },
};

/* Record one asynchronous outcome. */
static void
async_cb(void *ud, cs_err rv, const cs_decision *dec, const char *cause)
{
	int slot = (int) (intptr_t) ud;

	(void) cause;
	pthread_mutex_lock(&results.mtx);
	results.rv[slot] = rv;
	if (dec != NULL) {
		const char *id = json_string_value(json_object_get(dec->json,
		    "id"));

		results.verdict[slot] = dec->verdict;
		snprintf(results.request[slot], sizeof results.request[slot],
		    "%s", dec->request != NULL ? dec->request : "");
		snprintf(results.id[slot], sizeof results.id[slot], "%s",
		    id != NULL ? id : "");
	}
	results.count++;
	pthread_cond_broadcast(&results.cond);
	pthread_mutex_unlock(&results.mtx);
}

/* Forget earlier results (tests share a process under CK_FORK=no). */
static void
results_reset(void)
{
	pthread_mutex_lock(&results.mtx);
	results.count = 0;
	memset(results.rv, 0, sizeof results.rv);
	memset(results.verdict, 0, sizeof results.verdict);
	memset(results.request, 0, sizeof results.request);
	memset(results.id, 0, sizeof results.id);
	pthread_mutex_unlock(&results.mtx);
}

/* Wait until count callbacks came in (10 s at most). */
static void
wait_results(int count)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&results.mtx);
	while (results.count < count)
		if (pthread_cond_timedwait(&results.cond, &results.mtx,
		    &until) != 0)
			break;
	pthread_mutex_unlock(&results.mtx);
	ck_assert_int_ge(results.count, count);
}

START_TEST(test_async_many_in_flight)
{
	cs_client *c;
	char *cause = NULL, ids[5][16], amount[5][32];
	json_t *pending;
	size_t i;

	results_reset();
	daemon_start();
	ck_assert_cs_ok(cs_client_open(agent_url, &c, &cause), cause);
	for (i = 0; i < 5; i++) {
		cs_authz a;

		snprintf(ids[i], sizeof ids[i], "call-%zu", i);
		snprintf(amount[i], sizeof amount[i], "{\"amount\":%zu}",
		    i + 1);
		a = (cs_authz) { .token = token, .tool = "payments.transfer",
			.id = ids[i], .args_json = amount[i],
			.wait_ms = 20000 };
		ck_assert_cs_ok(cs_client_authorize_async(c, &a, 0, async_cb,
		    (void *) (intptr_t) i, &cause), cause);
	}
	/* all five wait at once on one client */
	pending = wait_pending(5);
	ck_assert_int_eq(results.count, 0);
	for (i = 0; i < json_array_size(pending); i++)
		decide(json_string_value(json_array_get(pending, i)),
		    i % 2 == 0 ? "approve" : "deny");
	wait_results(5);
	for (i = 0; i < 5; i++) {
		size_t j;

		ck_assert_int_eq(results.rv[i], CS_OK);
		ck_assert_str_eq(results.id[i], ids[i]);
		/* each callback got the decision of its own call */
		for (j = 0; j < json_array_size(pending); j++)
			if (strcmp(json_string_value(json_array_get(pending,
			    j)), results.request[i]) == 0)
				break;
		ck_assert_uint_lt(j, json_array_size(pending));
		ck_assert_int_eq(results.verdict[i], j % 2 == 0 ?
		    CS_VERDICT_ALLOW : CS_VERDICT_DENY);
	}
	json_decref(pending);
	cs_client_close(c);
	daemon_stop();
}
END_TEST

START_TEST(test_async_timeout_and_close)
{
	cs_client *c;
	char *cause = NULL;
	cs_authz a;

	results_reset();
	daemon_start();
	a = (cs_authz) { .token = token, .tool = "payments.transfer",
		.wait_ms = 20000 };
	ck_assert_cs_ok(cs_client_open(agent_url, &c, &cause), cause);
	ck_assert_cs_ok(cs_client_authorize_async(c, &a, 300, async_cb,
	    (void *) 0, &cause), cause);
	ck_assert_cs_ok(cs_client_authorize_async(c, &a, 60000, async_cb,
	    (void *) 1, &cause), cause);
	ck_assert_cs_ok(cs_client_authorize_async(c, &a, 60000, async_cb,
	    (void *) 2, &cause), cause);
	wait_results(1);
	ck_assert_int_eq(results.rv[0], CS_ETIMEDOUT);
	json_decref(wait_pending(3));
	/* close answers the calls still in flight before it returns */
	cs_client_close(c);
	ck_assert_int_eq(results.count, 3);
	ck_assert_int_eq(results.rv[1], CS_ECLOSED);
	ck_assert_int_eq(results.rv[2], CS_ECLOSED);
	/* bad requests are refused at once, without a callback */
	ck_assert_cs_ok(cs_client_open(agent_url, &c, &cause), cause);
	a.args_json = "[]";
	ck_assert_int_eq(cs_client_authorize_async(c, &a, 0, async_cb,
	    (void *) 3, &cause), CS_EINVAL);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(cs_client_authorize_async(c, &a, 0, NULL, NULL,
	    &cause), CS_EINVAL);
	free(cause);
	cs_client_close(c);
	ck_assert_int_eq(results.count, 3);
	daemon_stop();
}
END_TEST

/* An in-test REP server that takes three requests on three contexts and
 * answers them in reverse order, echoing each request's id. */
static void *
rep_main(void *arg)
{
	nng_socket *sock = arg;
	nng_ctx ctx[3];
	nng_aio *aio[3];
	nng_msg *msg[3];

	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(nng_ctx_open(&ctx[i], *sock), 0);
		ck_assert_int_eq(nng_aio_alloc(&aio[i], NULL, NULL), 0);
		nng_ctx_recv(ctx[i], aio[i]);
		nng_aio_wait(aio[i]);
		ck_assert_int_eq(nng_aio_result(aio[i]), 0);
		msg[i] = nng_aio_get_msg(aio[i]);
	}
	for (int i = 2; i >= 0; i--) {
		json_t *req = json_loadb(nng_msg_body(msg[i]),
		    nng_msg_len(msg[i]), 0, NULL);
		json_t *rep = json_pack("{s:i, s:s, s:s, s:O, s:s, s:s}", "v",
		    1, "type", "decision", "decision", "allow", "id",
		    json_object_get(req, "id"), "request", "r-echo", "by",
		    "policy");
		char *text = json_dumps(rep, JSON_COMPACT);

		nng_msg_clear(msg[i]);
		nng_msg_append(msg[i], text, strlen(text));
		nng_aio_set_msg(aio[i], msg[i]);
		nng_ctx_send(ctx[i], aio[i]);
		nng_aio_wait(aio[i]);
		free(text);
		json_decref(req);
		json_decref(rep);
		sleep_ms(20);
	}
	for (int i = 0; i < 3; i++) {
		nng_aio_free(aio[i]);
		nng_ctx_close(ctx[i]);
	}
	return NULL;
}

START_TEST(test_async_out_of_order)
{
	nng_socket rep;
	pthread_t server;
	cs_client *c;
	char *cause = NULL;
	static const char *const ids[] = { "first", "second", "third" };

	results_reset();
	ck_assert_int_eq(nng_rep0_open(&rep), 0);
	ck_assert_int_eq(nng_listen(rep, "inproc://check_client", NULL, 0),
	    0);
	ck_assert_int_eq(pthread_create(&server, NULL, rep_main, &rep), 0);
	ck_assert_cs_ok(cs_client_open("inproc://check_client", &c, &cause),
	    cause);
	for (int i = 0; i < 3; i++) {
		cs_authz a = { .token = "t", .tool = "fs.read", .id = ids[i] };

		ck_assert_cs_ok(cs_client_authorize_async(c, &a, 10000,
		    async_cb, (void *) (intptr_t) i, &cause), cause);
	}
	wait_results(3);
	pthread_join(server, NULL);
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(results.rv[i], CS_OK);
		ck_assert_int_eq(results.verdict[i], CS_VERDICT_ALLOW);
		ck_assert_str_eq(results.id[i], ids[i]);
	}
	cs_client_close(c);
	nng_close(rep);
}
END_TEST

static Suite *
client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *tc;

	tc = tcase_create("cs_client_open");
	tcase_add_test(tc, test_open_unreachable);
	suite_add_tcase(s, tc);

	tc = tcase_create("cs_decision_fini");
	tcase_add_test(tc, test_decision_fini);
	suite_add_tcase(s, tc);

	tc = tcase_create("cs_client_authorize");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_authorize_allow);
	tcase_add_test(tc, test_authorize_deny);
	tcase_add_test(tc, test_authorize_refused);
	tcase_add_test(tc, test_authorize_waits_for_operator);
	tcase_add_test(tc, test_authorize_timeout);
	suite_add_tcase(s, tc);

	tc = tcase_create("cs_client_status");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_status);
	suite_add_tcase(s, tc);

	tc = tcase_create("cs_client_authorize_async");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_async_many_in_flight);
	tcase_add_test(tc, test_async_timeout_and_close);
	tcase_add_test(tc, test_async_out_of_order);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(client_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nng_fini();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
