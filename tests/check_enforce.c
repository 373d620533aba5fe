/* check_enforce.c: what the enforcement points share (cli/enforce.c),
 * against a scripted daemon on a real nng REP socket: a call still
 * pending is asked again, but never in a tight loop; every failure is a
 * deny; arguments too large are summarized in the form the policy
 * evaluator recognizes.
 * SPDX-License-Identifier: MIT */
#include <check.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

#include "cs.h"
#include "enforce.h"

#define URL "inproc://check_enforce"

/* A daemon that answers every request with a fixed reply, counting. */
struct fake {
	nng_socket rep;
	pthread_t thread;
	const char *reply;
	int asks;
	int64_t last_wait_ms;
};

static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	nng_msg *msg;

	while (nng_recvmsg(f->rep, &msg, 0) == 0) {
		json_t *req = json_loadb(nng_msg_body(msg), nng_msg_len(msg), 0,
		    NULL);

		f->asks++;
		f->last_wait_ms = json_integer_value(json_object_get(req,
		    "wait_ms"));
		json_decref(req);
		nng_msg_clear(msg);
		if (nng_msg_append(msg, f->reply, strlen(f->reply)) != 0 ||
		    nng_sendmsg(f->rep, msg, 0) != 0)
			nng_msg_free(msg);
	}
	return NULL;
}

static void
fake_start(struct fake *f, const char *reply)
{
	memset(f, 0, sizeof *f);
	f->reply = reply;
	ck_assert_int_eq(nng_rep0_open(&f->rep), 0);
	ck_assert_int_eq(nng_listen(f->rep, URL, NULL, 0), 0);
	ck_assert_int_eq(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void
fake_stop(struct fake *f)
{
	nng_close(f->rep);
	pthread_join(f->thread, NULL);
}

static void
ask(int64_t wait_ms, enforce_verdict *v)
{
	enforce_call call = { .url = URL, .token = "t", .id = "c-1",
		.tool = "fs.read", .wait_ms = wait_ms };

	enforce_authorize(&call, v);
}

/* A daemon that answers "pending" at once, again and again (it should
 * wait for wait_ms): the call is asked again at most every 100 ms, and
 * denied when its wait is over. */
START_TEST(test_pending_at_once_is_not_a_tight_loop)
{
	struct fake f;
	enforce_verdict v;
	int64_t start = cs_mono_ms();

	fake_start(&f, "{\"v\":1,\"type\":\"decision\",\"decision\":"
	    "\"pending\",\"request\":\"r-1\"}");
	ask(1000, &v);
	fake_stop(&f);
	ck_assert_int_eq(v.decision, ENFORCE_PENDING);
	ck_assert_ptr_nonnull(strstr(v.reason, "no operator decided"));
	ck_assert_str_eq(v.request, "r-1");
	ck_assert_int_ge(cs_mono_ms() - start, 1000);
	/* without the pause this is thousands */
	ck_assert_msg(f.asks >= 2 && f.asks <= 15, "%d asks in 1 s", f.asks);
	enforce_verdict_fini(&v);
}
END_TEST

/* Replies that are not a decision are denies. */
START_TEST(test_bad_replies_deny)
{
	static const char *const replies[] = {
		"not json",
		"[]",
		"{\"v\":1,\"type\":\"decision\"}",
		"{\"v\":1,\"type\":\"decision\",\"decision\":\"maybe\"}",
		"{\"v\":1,\"type\":\"error\",\"code\":\"bad_json\"}",
	};
	struct fake f;
	enforce_verdict v;

	fake_start(&f, replies[_i]);
	ask(0, &v);
	fake_stop(&f);
	ck_assert_int_eq(v.decision, ENFORCE_DENY);
	ck_assert_ptr_nonnull(v.reason);
	ck_assert_int_eq(f.asks, 1);
	enforce_verdict_fini(&v);
}
END_TEST

START_TEST(test_allow)
{
	struct fake f;
	enforce_verdict v;

	fake_start(&f, "{\"v\":1,\"type\":\"decision\",\"decision\":"
	    "\"allow\",\"rule\":\"low-risk\"}");
	ask(5000, &v);
	fake_stop(&f);
	ck_assert_int_eq(v.decision, ENFORCE_ALLOW);
	ck_assert_str_eq(v.rule, "low-risk");
	ck_assert_int_eq(f.asks, 1);
	/* the wait left, less what building the request took */
	ck_assert_int_le(f.last_wait_ms, 5000);
	ck_assert_int_ge(f.last_wait_ms, 4000);
	enforce_verdict_fini(&v);
}
END_TEST

/* Long strings become summaries the policy evaluator recognizes; short
 * ones stay whole; what cannot fit is refused. */
START_TEST(test_args_fit)
{
	char *big = malloc(40000), *cause = NULL;
	json_t *args, *fit;
	const char *s;

	memset(big, 'x', 39999);
	big[39999] = '\0';
	args = json_pack("{s:s, s:s}", "path", "/workspace/a", "content", big);
	fit = enforce_args_fit(args, ENFORCE_ARGS_MAX, &cause);
	ck_assert_ptr_nonnull(fit);
	ck_assert_ptr_ne(fit, args);
	ck_assert_str_eq(json_string_value(json_object_get(fit, "path")),
	    "/workspace/a");
	s = json_string_value(json_object_get(fit, "content"));
	ck_assert(cs_is_summary(s, strlen(s)));
	ck_assert_ptr_nonnull(strstr(s, "[39999 bytes, sha256:"));
	json_decref(fit);
	json_decref(args);
	/* small arguments come back as they are */
	args = json_pack("{s:s}", "path", "/workspace/a");
	fit = enforce_args_fit(args, ENFORCE_ARGS_MAX, &cause);
	ck_assert_ptr_eq(fit, args);
	json_decref(fit);
	json_decref(args);
	/* ten thousand short strings cannot be summarized into 24 KiB */
	args = json_array();
	for (int i = 0; i < 10000; i++)
		json_array_append_new(args, json_string("0123456789"));
	fit = enforce_args_fit(args, ENFORCE_ARGS_MAX, &cause);
	ck_assert_ptr_null(fit);
	ck_assert_ptr_nonnull(strstr(cause, "too large to authorize"));
	free(cause);
	json_decref(args);
	free(big);
}
END_TEST

static Suite *
enforce_suite(void)
{
	Suite *s = suite_create("enforce");
	TCase *tc = tcase_create("enforce_authorize");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_pending_at_once_is_not_a_tight_loop);
	tcase_add_loop_test(tc, test_bad_replies_deny, 0, 5);
	tcase_add_test(tc, test_allow);
	suite_add_tcase(s, tc);
	tc = tcase_create("enforce_args_fit");
	tcase_add_test(tc, test_args_fit);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(enforce_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
