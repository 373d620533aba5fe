/* check_tp_console.c: Check suite for the console's connections
 * (transport/tp_console.c): control requests answered, timed out, refused
 * as unreadable and queued in order; events taken from the SUB socket.
 * The daemon's side is played by plain REP and PUB sockets over inproc://.
 * SPDX-License-Identifier: MIT */
#include "tp_console.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/reqrep0/rep.h>

#define ck_assert_cs_ok(expr)                                                \
	do {                                                                 \
		cs_err ck_rv_ = (expr);                                      \
		ck_assert_msg(ck_rv_ == CS_OK, "%s: %s", #expr,              \
		    cs_strerror(ck_rv_));                                    \
	} while (0)

#define WAIT_MS 5000

/* The daemon's side of one test. */
struct daemon_side {
	nng_socket rep, pub;
	char control_url[64], events_url[64];
};

/* Listen on fresh inproc:// names, then open the console's side. */
static tp_console *
open_pair(struct daemon_side *d)
{
	static int serial;
	tp_console *c = NULL;
	char *cause = NULL;

	serial++;
	snprintf(d->control_url, sizeof d->control_url,
	    "inproc://control-%d", serial);
	snprintf(d->events_url, sizeof d->events_url, "inproc://events-%d",
	    serial);
	ck_assert_int_eq(nng_rep0_open(&d->rep), 0);
	ck_assert_int_eq(nng_socket_set_ms(d->rep, NNG_OPT_RECVTIMEO,
	    WAIT_MS), 0);
	ck_assert_int_eq(nng_listen(d->rep, d->control_url, NULL, 0), 0);
	ck_assert_int_eq(nng_pub0_open(&d->pub), 0);
	ck_assert_int_eq(nng_listen(d->pub, d->events_url, NULL, 0), 0);
	ck_assert_cs_ok(tp_console_open(d->control_url, d->events_url, &c,
	    &cause));
	ck_assert_ptr_null(cause);
	ck_assert_ptr_nonnull(c);
	return c;
}

static void
close_pair(struct daemon_side *d, tp_console *c)
{
	tp_console_close(c);
	nng_close(d->rep);
	nng_close(d->pub);
}

/* Wait until the control socket is connected. */
static void
wait_up(tp_console *c)
{
	for (int i = 0; i < WAIT_MS / 10 && !tp_console_control_up(c); i++)
		nng_msleep(10);
	ck_assert(tp_console_control_up(c));
	ck_assert_uint_ge(tp_console_connects(c), 1);
}

/* Wait on the wake fd for the next finished request. */
static void
wait_reply(tp_console *c, tp_console_reply *r)
{
	int64_t end = cs_mono_ms() + WAIT_MS;

	while (!tp_console_reply_take(c, r)) {
		struct pollfd pfd = { .fd = tp_console_wake_fd(c),
			.events = POLLIN };

		ck_assert_msg(cs_mono_ms() < end, "no reply in time");
		(void) poll(&pfd, 1, 50);
	}
}

/* A new request object of type. */
static json_t *
req_of(const char *type)
{
	return json_pack("{s:i, s:s}", "v", 1, "type", type);
}

/* Receive one request on the REP socket; returns its parsed type. */
static char *
serve_recv(struct daemon_side *d)
{
	char *buf = NULL, *type = NULL;
	size_t len = 0;
	json_t *o;

	ck_assert_int_eq(nng_recv(d->rep, &buf, &len, NNG_FLAG_ALLOC), 0);
	o = json_loadb(buf, len, 0, NULL);
	ck_assert_ptr_nonnull(o);
	type = strdup(json_string_value(json_object_get(o, "type")));
	json_decref(o);
	nng_free(buf, len);
	return type;
}

/* Answer the request just received with text. */
static void
serve_send(struct daemon_side *d, const char *text)
{
	char *buf = strdup(text);

	ck_assert_int_eq(nng_send(d->rep, buf, strlen(buf), 0), 0);
	free(buf);
}

START_TEST(test_request_reply)
{
	struct daemon_side d;
	tp_console *c = open_pair(&d);
	tp_console_reply r;
	char *type;

	wait_up(c);
	ck_assert(!tp_console_queued(c, TP_CONSOLE_REQ_HELLO));
	ck_assert_cs_ok(tp_console_request(c, TP_CONSOLE_REQ_HELLO, NULL,
	    req_of("hello"), 1000));
	ck_assert(tp_console_queued(c, TP_CONSOLE_REQ_HELLO));
	ck_assert(!tp_console_queued(c, TP_CONSOLE_REQ_DECIDE));
	type = serve_recv(&d);
	ck_assert_str_eq(type, "hello");
	free(type);
	serve_send(&d, "{\"v\":1,\"type\":\"hello\",\"operator\":\"carol\"}");
	wait_reply(c, &r);
	ck_assert_int_eq(r.kind, TP_CONSOLE_REQ_HELLO);
	ck_assert_int_eq(r.err, CS_OK);
	ck_assert_str_eq(r.tag, "");
	ck_assert_ptr_nonnull(r.msg);
	ck_assert_str_eq(json_string_value(json_object_get(r.msg,
	    "operator")), "carol");
	json_decref(r.msg);
	ck_assert(!tp_console_queued(c, TP_CONSOLE_REQ_HELLO));
	ck_assert(!tp_console_reply_take(c, &r));
	close_pair(&d, c);
}
END_TEST

/* Requests go out one at a time, in order, and keep their tags. */
START_TEST(test_request_order)
{
	static const struct {
		enum tp_console_req_kind kind;
		const char *type, *tag;
	} reqs[] = {
		{ TP_CONSOLE_REQ_DECIDE, "decide", "r-1 approved" },
		{ TP_CONSOLE_REQ_TRUST, "trust", "s-7" },
		{ TP_CONSOLE_REQ_POSTURE, "posture", "lockdown" },
	};
	struct daemon_side d;
	tp_console *c = open_pair(&d);
	tp_console_reply r;

	wait_up(c);
	for (size_t i = 0; i < CS_ARRAY_LEN(reqs); i++)
		ck_assert_cs_ok(tp_console_request(c, reqs[i].kind,
		    reqs[i].tag, req_of(reqs[i].type), 1000));
	for (size_t i = 0; i < CS_ARRAY_LEN(reqs); i++) {
		char *type = serve_recv(&d);

		ck_assert_str_eq(type, reqs[i].type);
		free(type);
		serve_send(&d, "{\"v\":1,\"type\":\"ok\"}");
		wait_reply(c, &r);
		ck_assert_int_eq(r.kind, reqs[i].kind);
		ck_assert_str_eq(r.tag, reqs[i].tag);
		ck_assert_int_eq(r.err, CS_OK);
		json_decref(r.msg);
	}
	close_pair(&d, c);
}
END_TEST

/* A daemon that never answers: the request fails after its timeout. */
START_TEST(test_request_timeout)
{
	struct daemon_side d;
	tp_console *c = open_pair(&d);
	tp_console_reply r;
	int64_t t0;
	char *type;

	wait_up(c);
	t0 = cs_mono_ms();
	ck_assert_cs_ok(tp_console_request(c, TP_CONSOLE_REQ_DECIDE,
	    "r-9 denied", req_of("decide"), 200));
	type = serve_recv(&d);
	free(type);
	wait_reply(c, &r);
	ck_assert_int_ge(cs_mono_ms() - t0, 150);
	ck_assert_int_eq(r.kind, TP_CONSOLE_REQ_DECIDE);
	ck_assert_str_eq(r.tag, "r-9 denied");
	ck_assert_int_eq(r.err, CS_ETIMEDOUT);
	ck_assert_ptr_null(r.msg);
	ck_assert_str_ne(r.cause, "");
	close_pair(&d, c);
}
END_TEST

/* A reply that is not a JSON object is CS_EPARSE, never a crash. */
START_TEST(test_reply_unreadable)
{
	static const char *const bad[] = { "not json", "[1,2]",
		"{\"a\":1,\"a\":2}" };
	struct daemon_side d;
	tp_console *c = open_pair(&d);
	tp_console_reply r;

	wait_up(c);
	for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++) {
		char *type;

		ck_assert_cs_ok(tp_console_request(c, TP_CONSOLE_REQ_SESSIONS,
		    NULL, req_of("sessions"), 1000));
		type = serve_recv(&d);
		free(type);
		serve_send(&d, bad[i]);
		wait_reply(c, &r);
		ck_assert_int_eq(r.err, CS_EPARSE);
		ck_assert_ptr_null(r.msg);
	}
	close_pair(&d, c);
}
END_TEST

/* With no daemon, requests queue up to a bound, then CS_EFULL; dropping
 * the queue frees them, and the one in flight times out. */
START_TEST(test_queue_bound)
{
	tp_console *c = NULL;
	tp_console_reply r;
	cs_err rv = CS_OK;
	int accepted = 0;

	ck_assert_cs_ok(tp_console_open("inproc://nobody-control",
	    "inproc://nobody-events", &c, NULL));
	ck_assert(!tp_console_control_up(c));
	while (accepted < 100 && (rv = tp_console_request(c,
	    TP_CONSOLE_REQ_TRUST, "s-1", req_of("trust"), 300)) == CS_OK)
		accepted++;
	ck_assert_int_eq(rv, CS_EFULL);
	ck_assert_int_gt(accepted, 1);
	ck_assert(tp_console_queued(c, TP_CONSOLE_REQ_TRUST));
	tp_console_drop_queue(c);
	ck_assert(tp_console_queued(c, TP_CONSOLE_REQ_TRUST)); /* in flight */
	wait_reply(c, &r);
	ck_assert_int_eq(r.err, CS_ETIMEDOUT);
	ck_assert(!tp_console_queued(c, TP_CONSOLE_REQ_TRUST));
	ck_assert(!tp_console_reply_take(c, &r));
	tp_console_close(c);
}
END_TEST

/* Events arrive on the SUB socket; its fd polls readable. */
START_TEST(test_events)
{
	struct daemon_side d;
	tp_console *c = open_pair(&d);
	char msg[] = "pending {\"request\":\"r-1\"}";
	char *frame = NULL;
	size_t len = 0;
	int fd = tp_console_event_fd(c);
	bool got = false;

	ck_assert_int_ge(fd, 0);
	ck_assert(!tp_console_event_take(c, &frame, &len));
	/* a subscription takes a moment to reach the publisher */
	for (int i = 0; i < WAIT_MS / 20 && !got; i++) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		ck_assert_int_eq(nng_send(d.pub, msg, strlen(msg), 0), 0);
		if (poll(&pfd, 1, 20) > 0)
			got = tp_console_event_take(c, &frame, &len);
	}
	ck_assert(got);
	ck_assert_uint_eq(len, strlen(msg));
	ck_assert(memcmp(frame, msg, len) == 0);
	free(frame);
	while (tp_console_event_take(c, &frame, &len))
		free(frame);
	close_pair(&d, c);
}
END_TEST

START_TEST(test_open_bad_url)
{
	tp_console *c = NULL;
	char *cause = NULL;

	ck_assert_int_eq(tp_console_open("nonsense://x", "inproc://e", &c,
	    &cause), CS_ETRANSPORT);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(cause);
	ck_assert_ptr_nonnull(strstr(cause, "nonsense://x"));
	free(cause);
	tp_console_close(NULL);
}
END_TEST

static Suite *
tp_console_suite(void)
{
	Suite *s = suite_create("tp_console");
	TCase *tc;

	tc = tcase_create("tp_console_request");
	tcase_add_test(tc, test_request_reply);
	tcase_add_test(tc, test_request_order);
	tcase_add_test(tc, test_request_timeout);
	tcase_add_test(tc, test_reply_unreadable);
	tcase_add_test(tc, test_queue_bound);
	suite_add_tcase(s, tc);

	tc = tcase_create("tp_console_event_take");
	tcase_add_test(tc, test_events);
	suite_add_tcase(s, tc);

	tc = tcase_create("tp_console_open");
	tcase_add_test(tc, test_open_bad_url);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(tp_console_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	nng_fini();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
