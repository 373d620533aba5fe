/* check_pend.c: Check suite for the pending queue (core/pend.c): bounds,
 * quorum approvals, waiters, deadlines and ordering.
 * SPDX-License-Identifier: MIT */
#include "pend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#define ck_assert_cs_ok(expr)                                                \
	do {                                                                 \
		cs_err ck_rv_ = (expr);                                      \
		ck_assert_msg(ck_rv_ == CS_OK, "%s: %s", #expr,              \
		    cs_strerror(ck_rv_));                                    \
	} while (0)

#define T0 INT64_C(1700000000000) /* wall ms */
#define M0 INT64_C(5000000)       /* monotonic ms */
#define DIGEST "sha256:0123456789abcdef0123456789abcdef" \
	"0123456789abcdef0123456789abcdef"

/* A pointer no call produces: "out untouched" checks. */
static core_pend untouched_pend;

/* The context object of a call, as the engine would build it. */
static json_t *
info_for(const char *request)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:{s:i}}", "request", request,
	    "tool", "payments.transfer", "user", "alice", "args", "amount",
	    250);

	ck_assert_ptr_nonnull(o);
	return o;
}

/* Add request with approvers and timeout_ms at M0; asserts success. */
static core_pend *
add(core_pend_q *q, const char *request, int approvers, int64_t timeout_ms)
{
	core_pend *p = NULL;

	ck_assert_cs_ok(core_pend_add(q, request, info_for(request), "alice",
	    "s-1", "payments.transfer", DIGEST, approvers, 2, M0, T0,
	    timeout_ms, &p));
	ck_assert_ptr_nonnull(p);
	return p;
}

/* ---- core_pend_q_new / core_pend_q_free -------------------------------- */

START_TEST(test_q_new)
{
	core_pend_q *q = core_pend_q_new(4);
	size_t count = 99;
	core_pend **items;

	ck_assert_ptr_nonnull(q);
	ck_assert_uint_eq(core_pend_count(q), 0);
	ck_assert_ptr_null(core_pend_get(q, "r-1"));
	ck_assert_int_eq(core_pend_next_deadline(q), INT64_MAX);
	items = core_pend_list(q, &count);
	ck_assert_ptr_nonnull(items);
	ck_assert_uint_eq(count, 0);
	free(items);
	core_pend_q_free(q);
}
END_TEST

START_TEST(test_q_free_with_items)
{
	core_pend_q *q = core_pend_q_new(100);
	bool met;

	for (int i = 0; i < 50; i++) {
		char request[40];
		core_pend *p;

		snprintf(request, sizeof request, "r-%d", i);
		p = add(q, request, 2, 60000);
		ck_assert_cs_ok(core_pend_approve(p, "op1", &met));
		ck_assert_cs_ok(core_pend_add_waiter(p, 7, M0 + 10));
		p->dedup_key = strdup("key");
	}
	/* valgrind/ASan: items, their info and names are freed */
	core_pend_q_free(q);
	core_pend_q_free(NULL);
}
END_TEST

/* ---- core_pend_add ----------------------------------------------------- */

START_TEST(test_add_fields)
{
	core_pend_q *q = core_pend_q_new(4);
	core_pend *p = NULL;
	json_t *info = info_for("r-1");

	ck_assert_cs_ok(core_pend_add(q, "r-1", info, "alice", "s-1",
	    "payments.transfer", DIGEST, 2, 0, M0, T0, 120000, &p));
	ck_assert_ptr_nonnull(p);
	ck_assert_str_eq(p->request, "r-1");
	ck_assert_ptr_eq(p->info, info); /* stolen, not copied */
	ck_assert_str_eq(p->user, "alice");
	ck_assert_str_eq(p->session, "s-1");
	ck_assert_str_eq(p->tool, "payments.transfer");
	ck_assert_str_eq(p->args_digest, DIGEST);
	ck_assert_int_eq(p->approvers_needed, 2);
	ck_assert_int_eq(p->approved_count, 0);
	ck_assert_int_eq(p->on_timeout, 0);
	ck_assert_int_eq(p->created_mono_ms, M0);
	ck_assert_int_eq(p->deadline_mono_ms, M0 + 120000);
	ck_assert_int_eq(p->deadline_ms, T0 + 120000);
	ck_assert_int_eq(p->waiter_count, 0);
	ck_assert_ptr_null(p->dedup_key);
	ck_assert_uint_eq(core_pend_count(q), 1);
	ck_assert_ptr_eq(core_pend_get(q, "r-1"), p);
	core_pend_q_free(q);
}
END_TEST

START_TEST(test_add_null_strings)
{
	core_pend_q *q = core_pend_q_new(4);
	core_pend *p = NULL;

	ck_assert_cs_ok(core_pend_add(q, "r-1", NULL, NULL, NULL, NULL, NULL,
	    1, 2, M0, T0, 1000, &p));
	ck_assert_str_eq(p->user, "");
	ck_assert_str_eq(p->session, "");
	ck_assert_str_eq(p->tool, "");
	ck_assert_str_eq(p->args_digest, "");
	ck_assert_int_eq(p->approvers_needed, 1);
	core_pend_q_free(q);
}
END_TEST

static const struct {
	int asked, want;
} approver_counts[] = {
	{ -3, 1 }, { 0, 1 }, { 1, 1 }, { 2, 2 }, { 8, 8 },
	{ 9, CORE_PEND_MAX_APPROVERS }, { 1000, CORE_PEND_MAX_APPROVERS },
};

START_TEST(test_add_approvers_clamped)
{
	core_pend_q *q = core_pend_q_new(4);
	core_pend *p = add(q, "r-1", approver_counts[_i].asked, 1000);

	ck_assert_int_eq(p->approvers_needed, approver_counts[_i].want);
	core_pend_q_free(q);
}
END_TEST

START_TEST(test_add_bound)
{
	core_pend_q *q = core_pend_q_new(2);
	core_pend *p = &untouched_pend;

	add(q, "r-1", 1, 1000);
	add(q, "r-2", 1, 1000);
	/* info is stolen on failure too: valgrind sees no leak */
	ck_assert_int_eq(core_pend_add(q, "r-3", info_for("r-3"), "alice",
	    "s-1", "x", DIGEST, 1, 2, M0, T0, 1000, &p), CS_EFULL);
	ck_assert_ptr_eq(p, &untouched_pend);
	ck_assert_uint_eq(core_pend_count(q), 2);
	ck_assert_ptr_null(core_pend_get(q, "r-3"));
	/* room again after one leaves */
	core_pend_free(core_pend_take(q, "r-1"));
	add(q, "r-3", 1, 1000);
	ck_assert_uint_eq(core_pend_count(q), 2);
	core_pend_q_free(q);
}
END_TEST

START_TEST(test_add_duplicate)
{
	core_pend_q *q = core_pend_q_new(4);
	core_pend *first = add(q, "r-1", 1, 1000), *p = &untouched_pend;

	ck_assert_int_eq(core_pend_add(q, "r-1", info_for("r-1"), "bob",
	    "s-2", "y", DIGEST, 1, 2, M0, T0, 5000, &p), CS_EEXISTS);
	ck_assert_ptr_eq(p, &untouched_pend);
	ck_assert_uint_eq(core_pend_count(q), 1);
	ck_assert_ptr_eq(core_pend_get(q, "r-1"), first);
	ck_assert_str_eq(first->user, "alice");
	ck_assert_int_eq(first->deadline_mono_ms, M0 + 1000);
	core_pend_q_free(q);
}
END_TEST

START_TEST(test_add_long_request)
{
	core_pend_q *q = core_pend_q_new(4);
	core_pend *p = &untouched_pend;
	char request[64];

	/* 39 characters fit the fixed field, 40 do not */
	memset(request, 'r', sizeof request);
	request[39] = '\0';
	add(q, request, 1, 1000);
	request[39] = 'r';
	request[40] = '\0';
	ck_assert_int_eq(core_pend_add(q, request, info_for("r"), "alice",
	    "s-1", "x", DIGEST, 1, 2, M0, T0, 1000, &p), CS_EINVAL);
	ck_assert_ptr_eq(p, &untouched_pend);
	ck_assert_uint_eq(core_pend_count(q), 1);
	core_pend_q_free(q);
}
END_TEST

/* ---- core_pend_get ----------------------------------------------------- */

START_TEST(test_get)
{
	core_pend_q *q = core_pend_q_new(4);
	core_pend *a = add(q, "r-1", 1, 1000), *b = add(q, "r-2", 1, 1000);

	ck_assert_ptr_eq(core_pend_get(q, "r-1"), a);
	ck_assert_ptr_eq(core_pend_get(q, "r-2"), b);
	ck_assert_ptr_null(core_pend_get(q, "r-3"));
	ck_assert_ptr_null(core_pend_get(q, "r-"));
	ck_assert_ptr_null(core_pend_get(q, ""));
	core_pend_q_free(q);
}
END_TEST

/* ---- core_pend_take / core_pend_free ----------------------------------- */

START_TEST(test_take)
{
	core_pend_q *q = core_pend_q_new(4);
	core_pend *a = add(q, "r-1", 1, 1000), *t;

	add(q, "r-2", 1, 1000);
	t = core_pend_take(q, "r-1");
	ck_assert_ptr_eq(t, a);
	ck_assert_uint_eq(core_pend_count(q), 1);
	ck_assert_ptr_null(core_pend_get(q, "r-1"));
	ck_assert_ptr_null(core_pend_take(q, "r-1"));
	ck_assert_ptr_null(core_pend_take(q, "r-9"));
	/* the taken item is still whole until freed */
	ck_assert_str_eq(t->request, "r-1");
	ck_assert_str_eq(json_string_value(json_object_get(t->info,
	    "request")), "r-1");
	core_pend_free(t);
	core_pend_q_free(q);
}
END_TEST

START_TEST(test_free)
{
	core_pend_q *q = core_pend_q_new(4);
	core_pend *p = add(q, "r-1", 3, 1000);
	bool met;

	core_pend_free(NULL);
	ck_assert_cs_ok(core_pend_approve(p, "op1", &met));
	ck_assert_cs_ok(core_pend_approve(p, "op2", &met));
	p->dedup_key = strdup("abc/c-1");
	core_pend_free(core_pend_take(q, "r-1"));
	ck_assert_uint_eq(core_pend_count(q), 0);
	core_pend_q_free(q);
}
END_TEST

/* ---- core_pend_count --------------------------------------------------- */

START_TEST(test_count)
{
	core_pend_q *q = core_pend_q_new(1000);

	for (int i = 0; i < 300; i++) {
		char request[40];

		snprintf(request, sizeof request, "r-%d", i);
		add(q, request, 1, 1000 + i);
		ck_assert_uint_eq(core_pend_count(q), (size_t) i + 1);
	}
	for (int i = 0; i < 300; i += 2) {
		char request[40];

		snprintf(request, sizeof request, "r-%d", i);
		core_pend_free(core_pend_take(q, request));
	}
	ck_assert_uint_eq(core_pend_count(q), 150);
	core_pend_q_free(q);
}
END_TEST

/* ---- core_pend_approve ------------------------------------------------- */

START_TEST(test_approve_self)
{
	core_pend_q *q = core_pend_q_new(4);
	core_pend *p = add(q, "r-1", 1, 1000);
	bool met = true;

	/* "alice" delegated the call: she may not approve it herself */
	ck_assert_int_eq(core_pend_approve(p, "alice", &met), CS_EDENIED);
	ck_assert(met); /* untouched */
	ck_assert_int_eq(p->approved_count, 0);
	/* names are compared exactly */
	ck_assert_cs_ok(core_pend_approve(p, "alice2", &met));
	ck_assert(met);
	core_pend_q_free(q);
}
END_TEST

START_TEST(test_approve_twice)
{
	core_pend_q *q = core_pend_q_new(4);
	core_pend *p = add(q, "r-1", 2, 1000);
	bool met = true;

	ck_assert_cs_ok(core_pend_approve(p, "op1", &met));
	ck_assert(!met);
	met = true;
	ck_assert_int_eq(core_pend_approve(p, "op1", &met), CS_EEXISTS);
	ck_assert(met); /* untouched */
	ck_assert_int_eq(p->approved_count, 1);
	ck_assert_cs_ok(core_pend_approve(p, "op2", &met));
	ck_assert(met);
	ck_assert_int_eq(p->approved_count, 2);
	ck_assert_str_eq(p->approved_by[0], "op1");
	ck_assert_str_eq(p->approved_by[1], "op2");
	core_pend_q_free(q);
}
END_TEST

/* The quorum is reached exactly at the N-th distinct operator. */
START_TEST(test_approve_quorum)
{
	static const char *const ops[] = { "op1", "op2", "op3", "op4", "op5",
		"op6", "op7", "op8" };
	int needed = _i;
	core_pend_q *q = core_pend_q_new(4);
	core_pend *p = add(q, "r-1", needed, 1000);

	for (int i = 0; i < needed; i++) {
		bool met = true;

		ck_assert_cs_ok(core_pend_approve(p, ops[i], &met));
		ck_assert_msg(met == (i + 1 == needed),
		    "quorum %d: met=%d after %d approvals", needed, met,
		    i + 1);
		/* a repeat never counts toward the quorum */
		ck_assert_int_eq(core_pend_approve(p, ops[i], &met),
		    CS_EEXISTS);
	}
	ck_assert_int_eq(p->approved_count, needed);
	core_pend_q_free(q);
}
END_TEST

START_TEST(test_approve_full)
{
	core_pend_q *q = core_pend_q_new(4);
	core_pend *p = add(q, "r-1", CORE_PEND_MAX_APPROVERS, 1000);
	bool met;

	for (int i = 0; i < CORE_PEND_MAX_APPROVERS; i++) {
		char name[16];

		snprintf(name, sizeof name, "op%d", i);
		ck_assert_cs_ok(core_pend_approve(p, name, &met));
	}
	ck_assert(met);
	ck_assert_int_eq(core_pend_approve(p, "one-more", &met), CS_EFULL);
	ck_assert_int_eq(p->approved_count, CORE_PEND_MAX_APPROVERS);
	core_pend_q_free(q);
}
END_TEST

/* ---- core_pend_add_waiter ---------------------------------------------- */

START_TEST(test_add_waiter)
{
	core_pend_q *q = core_pend_q_new(4);
	core_pend *p = add(q, "r-1", 1, 60000);

	for (int i = 0; i < CORE_PEND_MAX_WAITERS; i++) {
		ck_assert_cs_ok(core_pend_add_waiter(p, 100 + (uint64_t) i,
		    M0 + 1000 * i));
		ck_assert_int_eq(p->waiter_count, i + 1);
	}
	ck_assert_int_eq(core_pend_add_waiter(p, 999, M0), CS_EFULL);
	ck_assert_int_eq(p->waiter_count, CORE_PEND_MAX_WAITERS);
	for (int i = 0; i < CORE_PEND_MAX_WAITERS; i++) {
		ck_assert_uint_eq(p->waiters[i].handle, 100 + (uint64_t) i);
		ck_assert_int_eq(p->waiters[i].until_mono_ms, M0 + 1000 * i);
	}
	core_pend_q_free(q);
}
END_TEST

/* ---- core_pend_expired ------------------------------------------------- */

/* Five items added in this order with these timeouts (ms after M0). */
static const struct {
	const char *request;
	int64_t timeout_ms;
} expiry_items[] = {
	{ "r-a", 3000 }, { "r-b", 1000 }, { "r-c", 5000 }, { "r-d", 2000 },
	{ "r-e", 4000 },
};

static const struct {
	int64_t at; /* ms after M0 */
	size_t max;
	const char *want[5];
	size_t want_count;
} expiry_probes[] = {
	{ 0, 10, { NULL }, 0 },
	{ 999, 10, { NULL }, 0 },
	{ 1000, 10, { "r-b" }, 1 },          /* deadline <= now */
	{ 2500, 10, { "r-b", "r-d" }, 2 },
	{ 4000, 10, { "r-b", "r-d", "r-a", "r-e" }, 4 },
	{ 9000, 10, { "r-b", "r-d", "r-a", "r-e", "r-c" }, 5 },
	{ 9000, 5, { "r-b", "r-d", "r-a", "r-e", "r-c" }, 5 },
	{ 9000, 2, { "r-b", "r-d" }, 2 },    /* the earliest max */
	{ 9000, 1, { "r-b" }, 1 },
	{ 4000, 3, { "r-b", "r-d", "r-a" }, 3 },
	{ 9000, 0, { NULL }, 0 },
};

START_TEST(test_expired)
{
	core_pend_q *q = core_pend_q_new(16);
	char out[6][40];
	size_t n;

	for (size_t i = 0; i < CS_ARRAY_LEN(expiry_items); i++)
		add(q, expiry_items[i].request, 1, expiry_items[i].timeout_ms);
	memset(out, 0, sizeof out);
	n = core_pend_expired(q, M0 + expiry_probes[_i].at, out,
	    expiry_probes[_i].max);
	ck_assert_msg(n == expiry_probes[_i].want_count,
	    "at +%lld max %zu: %zu expired, want %zu",
	    (long long) expiry_probes[_i].at, expiry_probes[_i].max, n,
	    expiry_probes[_i].want_count);
	for (size_t i = 0; i < n; i++)
		ck_assert_str_eq(out[i], expiry_probes[_i].want[i]);
	/* out beyond n is untouched */
	ck_assert_str_eq(out[n], "");
	/* expired items stay queued until taken */
	ck_assert_uint_eq(core_pend_count(q), CS_ARRAY_LEN(expiry_items));
	core_pend_q_free(q);
}
END_TEST

START_TEST(test_expired_many)
{
	core_pend_q *q = core_pend_q_new(1000);
	char (*out)[40] = calloc(50, sizeof *out);
	size_t n;

	/* deadlines in a scrambled order: i * 7919 mod 500 */
	for (int i = 0; i < 500; i++) {
		char request[40];

		snprintf(request, sizeof request, "r-%d", (i * 7919) % 500);
		add(q, request, 1, 1000 + (i * 7919) % 500);
	}
	n = core_pend_expired(q, M0 + 100000, out, 50);
	ck_assert_uint_eq(n, 50);
	for (size_t i = 0; i < n; i++) {
		char want[40];

		snprintf(want, sizeof want, "r-%zu", i);
		ck_assert_str_eq(out[i], want);
	}
	free(out);
	core_pend_q_free(q);
}
END_TEST

/* ---- core_pend_next_deadline ------------------------------------------- */

START_TEST(test_next_deadline)
{
	core_pend_q *q = core_pend_q_new(4);
	core_pend *a;

	ck_assert_int_eq(core_pend_next_deadline(q), INT64_MAX);
	a = add(q, "r-1", 1, 60000);
	ck_assert_int_eq(core_pend_next_deadline(q), M0 + 60000);
	add(q, "r-2", 1, 30000);
	ck_assert_int_eq(core_pend_next_deadline(q), M0 + 30000);
	/* a waiter whose wait ends first sets the next wake-up */
	ck_assert_cs_ok(core_pend_add_waiter(a, 1, M0 + 5000));
	ck_assert_int_eq(core_pend_next_deadline(q), M0 + 5000);
	ck_assert_cs_ok(core_pend_add_waiter(a, 2, M0 + 2000));
	ck_assert_int_eq(core_pend_next_deadline(q), M0 + 2000);
	/* a waiter later than every deadline changes nothing */
	core_pend_free(core_pend_take(q, "r-1"));
	ck_assert_int_eq(core_pend_next_deadline(q), M0 + 30000);
	ck_assert_cs_ok(core_pend_add_waiter(core_pend_get(q, "r-2"), 3,
	    M0 + 90000));
	ck_assert_int_eq(core_pend_next_deadline(q), M0 + 30000);
	core_pend_free(core_pend_take(q, "r-2"));
	ck_assert_int_eq(core_pend_next_deadline(q), INT64_MAX);
	core_pend_q_free(q);
}
END_TEST

/* ---- core_pend_list ---------------------------------------------------- */

START_TEST(test_list_oldest_first)
{
	core_pend_q *q = core_pend_q_new(100);
	core_pend **items;
	size_t count = 0;

	/* insertion order, not deadline order, and not the hash order */
	for (int i = 0; i < 40; i++) {
		char request[40];

		snprintf(request, sizeof request, "r-%02d", 39 - i);
		add(q, request, 1, 1000 + (i % 3) * 1000);
	}
	core_pend_free(core_pend_take(q, "r-20"));
	items = core_pend_list(q, &count);
	ck_assert_ptr_nonnull(items);
	ck_assert_uint_eq(count, 39);
	for (size_t i = 0, want = 39; i < count; i++, want--) {
		char request[40];

		if (want == 20)
			want--;
		snprintf(request, sizeof request, "r-%02zu", want);
		ck_assert_str_eq(items[i]->request, request);
	}
	free(items);
	core_pend_q_free(q);
}
END_TEST

START_TEST(test_list_readd_is_newest)
{
	core_pend_q *q = core_pend_q_new(4);
	core_pend **items;
	size_t count;

	add(q, "r-1", 1, 1000);
	add(q, "r-2", 1, 1000);
	core_pend_free(core_pend_take(q, "r-1"));
	add(q, "r-1", 1, 1000);
	items = core_pend_list(q, &count);
	ck_assert_uint_eq(count, 2);
	ck_assert_str_eq(items[0]->request, "r-2");
	ck_assert_str_eq(items[1]->request, "r-1");
	free(items);
	core_pend_q_free(q);
}
END_TEST

/* ---- core_pend_to_json ------------------------------------------------- */

START_TEST(test_to_json)
{
	core_pend_q *q = core_pend_q_new(4);
	core_pend *p = add(q, "r-1", 3, 120000);
	json_t *o, *approvals;
	bool met;

	ck_assert_cs_ok(core_pend_approve(p, "op1", &met));
	ck_assert_cs_ok(core_pend_approve(p, "op2", &met));
	o = core_pend_to_json(p);
	ck_assert_ptr_nonnull(o);
	/* the call's context ... */
	ck_assert_str_eq(json_string_value(json_object_get(o, "tool")),
	    "payments.transfer");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(o,
	    "args"), "amount")), 250);
	/* ... plus the queue's view */
	ck_assert_str_eq(json_string_value(json_object_get(o, "request")),
	    "r-1");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "deadline")),
	    T0 + 120000);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "approvers")),
	    3);
	approvals = json_object_get(o, "approvals");
	ck_assert_uint_eq(json_array_size(approvals), 2);
	ck_assert_str_eq(json_string_value(json_array_get(approvals, 0)),
	    "op1");
	ck_assert_str_eq(json_string_value(json_array_get(approvals, 1)),
	    "op2");
	/* a copy: changing it leaves the item alone */
	json_object_set_new(o, "tool", json_string("x"));
	json_object_set_new(json_object_get(o, "args"), "amount",
	    json_integer(1));
	ck_assert_str_eq(json_string_value(json_object_get(p->info, "tool")),
	    "payments.transfer");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(
	    p->info, "args"), "amount")), 250);
	ck_assert_ptr_null(json_object_get(p->info, "approvals"));
	json_decref(o);
	core_pend_q_free(q);
}
END_TEST

static Suite *
pend_suite(void)
{
	Suite *s = suite_create("pend");
	TCase *tc;

	tc = tcase_create("core_pend_q_new");
	tcase_add_test(tc, test_q_new);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_pend_q_free");
	tcase_add_test(tc, test_q_free_with_items);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_pend_add");
	tcase_add_test(tc, test_add_fields);
	tcase_add_test(tc, test_add_null_strings);
	tcase_add_loop_test(tc, test_add_approvers_clamped, 0,
	    CS_ARRAY_LEN(approver_counts));
	tcase_add_test(tc, test_add_bound);
	tcase_add_test(tc, test_add_duplicate);
	tcase_add_test(tc, test_add_long_request);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_pend_get");
	tcase_add_test(tc, test_get);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_pend_take");
	tcase_add_test(tc, test_take);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_pend_free");
	tcase_add_test(tc, test_free);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_pend_count");
	tcase_add_test(tc, test_count);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_pend_approve");
	tcase_add_test(tc, test_approve_self);
	tcase_add_test(tc, test_approve_twice);
	tcase_add_loop_test(tc, test_approve_quorum, 1,
	    CORE_PEND_MAX_APPROVERS + 1);
	tcase_add_test(tc, test_approve_full);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_pend_add_waiter");
	tcase_add_test(tc, test_add_waiter);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_pend_expired");
	tcase_add_loop_test(tc, test_expired, 0, CS_ARRAY_LEN(expiry_probes));
	tcase_add_test(tc, test_expired_many);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_pend_next_deadline");
	tcase_add_test(tc, test_next_deadline);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_pend_list");
	tcase_add_test(tc, test_list_oldest_first);
	tcase_add_test(tc, test_list_readd_is_newest);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_pend_to_json");
	tcase_add_test(tc, test_to_json);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pend_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
