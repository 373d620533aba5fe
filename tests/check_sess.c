/* check_sess.c: Check suite for the session table (core/sess.c): trust
 * caps, the table bound, the sliding-minute rate, tools and grants.
 * SPDX-License-Identifier: MIT */
#include "sess.h"

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

#define T0 INT64_C(1700000000000) /* wall ms, on a whole second */
#define M0 INT64_C(5000000)       /* monotonic ms */

/* A pointer no call produces: "out untouched" checks. */
static core_sess untouched_sess;

/* Open a session with a fixed user, agent and chain; asserts success. */
static core_sess *
open_sess(core_sess_tab *tab, const char *id, int trust, int cap,
    bool *created)
{
	json_t *chain = json_pack("[s, s]", "alice", "bot");
	core_sess *s = NULL;

	ck_assert_ptr_nonnull(chain);
	ck_assert_cs_ok(core_sess_open(tab, id, "alice", "bot", chain,
	    "pay invoices", trust, cap, T0, &s, created));
	json_decref(chain);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* ---- core_sess_tab_new / core_sess_tab_free ---------------------------- */

START_TEST(test_tab_new_empty)
{
	core_sess_tab *tab = core_sess_tab_new(10);

	ck_assert_ptr_nonnull(tab);
	ck_assert_uint_eq(core_sess_count(tab), 0);
	ck_assert_ptr_null(core_sess_get(tab, "s-1"));
	core_sess_tab_free(tab);
}
END_TEST

START_TEST(test_tab_free_with_sessions)
{
	core_sess_tab *tab = core_sess_tab_new(0);
	bool created;

	ck_assert_ptr_nonnull(tab);
	for (int i = 0; i < 20; i++) {
		char id[16];
		core_sess *s;

		snprintf(id, sizeof id, "s-%d", i);
		s = open_sess(tab, id, 2, 3, &created);
		core_sess_note_call(s, T0, "fs.read");
		ck_assert_cs_ok(core_sess_grant_add(s, "fs.write", "op1",
		    60000, M0, T0, NULL));
	}
	/* valgrind/ASan check that everything the sessions own is freed */
	core_sess_tab_free(tab);
	core_sess_tab_free(NULL);
}
END_TEST

/* ---- core_sess_get ----------------------------------------------------- */

START_TEST(test_get)
{
	core_sess_tab *tab = core_sess_tab_new(0);
	core_sess *s;
	bool created;

	ck_assert_ptr_null(core_sess_get(tab, "s-1"));
	s = open_sess(tab, "s-1", 2, 3, &created);
	ck_assert_ptr_eq(core_sess_get(tab, "s-1"), s);
	ck_assert_ptr_null(core_sess_get(tab, "s-2"));
	ck_assert_ptr_null(core_sess_get(tab, "s-"));
	ck_assert_ptr_null(core_sess_get(tab, ""));
	core_sess_tab_free(tab);
}
END_TEST

/* ---- core_sess_open ---------------------------------------------------- */

static const struct {
	int trust, cap, want;
} trust_caps[] = {
	{ 2, 3, 2 },  /* under the cap */
	{ 3, 3, 3 },  /* at the cap */
	{ 4, 3, 3 },  /* a token asking for more than the cap */
	{ 4, 4, 4 },
	{ 4, 0, 0 },  /* cap 0: every new session starts quarantined */
	{ 0, 4, 0 },
	{ 9, 4, 4 },  /* out of range high */
	{ -1, 3, 0 }, /* out of range low */
	{ 1, 2, 1 },
};

START_TEST(test_open_trust_cap)
{
	core_sess_tab *tab = core_sess_tab_new(0);
	bool created = false;
	core_sess *s;

	s = open_sess(tab, "s-1", trust_caps[_i].trust, trust_caps[_i].cap,
	    &created);
	ck_assert(created);
	ck_assert_msg(s->trust == trust_caps[_i].want,
	    "trust %d cap %d: got %d, want %d", trust_caps[_i].trust,
	    trust_caps[_i].cap, s->trust, trust_caps[_i].want);
	core_sess_tab_free(tab);
}
END_TEST

START_TEST(test_open_copies_fields)
{
	core_sess_tab *tab = core_sess_tab_new(0);
	json_t *chain = json_pack("[s, s, s]", "alice", "planner", "bot");
	char id[] = "s-7", user[] = "alice", agent[] = "bot";
	char purpose[] = "pay supplier invoice";
	core_sess *s = NULL;
	bool created = false;

	ck_assert_cs_ok(core_sess_open(tab, id, user, agent, chain, purpose,
	    2, 3, T0, &s, &created));
	ck_assert(created);
	/* the caller's buffers and chain may change afterwards */
	memset(id, 'x', 3);
	memset(user, 'x', 5);
	memset(agent, 'x', 3);
	memset(purpose, 'x', 5);
	json_array_append_new(chain, json_string("mallory"));
	json_decref(chain);

	ck_assert_str_eq(s->id, "s-7");
	ck_assert_str_eq(s->user, "alice");
	ck_assert_str_eq(s->agent, "bot");
	ck_assert_str_eq(s->purpose, "pay supplier invoice");
	ck_assert_uint_eq(json_array_size(s->chain), 3);
	ck_assert_str_eq(json_string_value(json_array_get(s->chain, 2)),
	    "bot");
	ck_assert_int_eq(s->trust, 2);
	ck_assert_int_eq(s->calls, 0);
	ck_assert_int_eq(s->denials, 0);
	ck_assert_int_eq(s->created_ms, T0);
	ck_assert_int_eq(s->last_ms, T0);
	ck_assert_uint_eq(s->grant_count, 0);
	ck_assert_ptr_eq(core_sess_get(tab, "s-7"), s);
	core_sess_tab_free(tab);
}
END_TEST

START_TEST(test_open_nulls)
{
	core_sess_tab *tab = core_sess_tab_new(0);
	core_sess *s = NULL;
	bool created = false;

	/* no user, agent, chain or purpose: empty strings, empty chain */
	ck_assert_cs_ok(core_sess_open(tab, "s-1", NULL, NULL, NULL, NULL, 2,
	    3, T0, &s, &created));
	ck_assert(created);
	ck_assert_str_eq(s->user, "");
	ck_assert_str_eq(s->agent, "");
	ck_assert_ptr_null(s->purpose);
	ck_assert(json_is_array(s->chain));
	ck_assert_uint_eq(json_array_size(s->chain), 0);
	core_sess_tab_free(tab);
}
END_TEST

START_TEST(test_open_existing)
{
	core_sess_tab *tab = core_sess_tab_new(0);
	core_sess *s, *again = NULL;
	bool created = true;

	s = open_sess(tab, "s-1", 2, 3, &created);
	ck_assert(created);
	s->trust = 1; /* an operator lowered it */
	/* a later call with another token's claims does not reset it */
	ck_assert_cs_ok(core_sess_open(tab, "s-1", "bob", "other", NULL,
	    NULL, 4, 4, T0 + 5000, &again, &created));
	ck_assert(!created);
	ck_assert_ptr_eq(again, s);
	ck_assert_int_eq(again->trust, 1);
	ck_assert_str_eq(again->user, "alice");
	ck_assert_str_eq(again->agent, "bot");
	ck_assert_int_eq(again->created_ms, T0);
	ck_assert_uint_eq(core_sess_count(tab), 1);
	core_sess_tab_free(tab);
}
END_TEST

START_TEST(test_open_bound)
{
	core_sess_tab *tab = core_sess_tab_new(2);
	core_sess *out = &untouched_sess, *a;
	bool created = true;

	a = open_sess(tab, "s-1", 2, 3, &created);
	open_sess(tab, "s-2", 2, 3, &created);
	ck_assert_int_eq(core_sess_open(tab, "s-3", "carol", "bot", NULL,
	    NULL, 2, 3, T0, &out, &created), CS_EFULL);
	ck_assert_ptr_eq(out, &untouched_sess);
	ck_assert_ptr_null(core_sess_get(tab, "s-3"));
	ck_assert_uint_eq(core_sess_count(tab), 2);
	/* existing sessions still open when the table is full */
	ck_assert_cs_ok(core_sess_open(tab, "s-1", "alice", "bot", NULL,
	    NULL, 2, 3, T0, &out, &created));
	ck_assert_ptr_eq(out, a);
	ck_assert(!created);
	core_sess_tab_free(tab);
}
END_TEST

START_TEST(test_open_unbounded_many)
{
	core_sess_tab *tab = core_sess_tab_new(0);
	bool created;

	for (int i = 0; i < 3000; i++) {
		char id[16];

		snprintf(id, sizeof id, "s-%d", i);
		open_sess(tab, id, i % 5, 4, &created);
		ck_assert(created);
	}
	ck_assert_uint_eq(core_sess_count(tab), 3000);
	for (int i = 0; i < 3000; i++) {
		char id[16];
		core_sess *s;

		snprintf(id, sizeof id, "s-%d", i);
		s = core_sess_get(tab, id);
		ck_assert_ptr_nonnull(s);
		ck_assert_str_eq(s->id, id);
		ck_assert_int_eq(s->trust, i % 5);
	}
	core_sess_tab_free(tab);
}
END_TEST

/* ---- core_sess_count --------------------------------------------------- */

START_TEST(test_count)
{
	core_sess_tab *tab = core_sess_tab_new(0);
	bool created;

	ck_assert_uint_eq(core_sess_count(tab), 0);
	open_sess(tab, "s-1", 2, 3, &created);
	ck_assert_uint_eq(core_sess_count(tab), 1);
	open_sess(tab, "s-1", 2, 3, &created);
	ck_assert_uint_eq(core_sess_count(tab), 1);
	open_sess(tab, "s-2", 2, 3, &created);
	ck_assert_uint_eq(core_sess_count(tab), 2);
	core_sess_tab_free(tab);
}
END_TEST

/* ---- core_sess_each ---------------------------------------------------- */

struct each_ud {
	int seen, stop_after;
	unsigned mask;
};

/* Record each session's number; stop after stop_after visits. */
static bool
each_cb(void *ud, core_sess *s)
{
	struct each_ud *e = ud;

	e->mask |= 1u << strtol(s->id + 2, NULL, 10);
	return ++e->seen != e->stop_after;
}

START_TEST(test_each)
{
	core_sess_tab *tab = core_sess_tab_new(0);
	struct each_ud all = { 0, -1, 0 }, first = { 0, 1, 0 };
	struct each_ud none = { 0, -1, 0 };
	bool created;

	core_sess_each(tab, each_cb, &none);
	ck_assert_int_eq(none.seen, 0);
	for (int i = 0; i < 5; i++) {
		char id[16];

		snprintf(id, sizeof id, "s-%d", i);
		open_sess(tab, id, 2, 3, &created);
	}
	core_sess_each(tab, each_cb, &all);
	ck_assert_int_eq(all.seen, 5);
	ck_assert_uint_eq(all.mask, 0x1f);
	core_sess_each(tab, each_cb, &first);
	ck_assert_int_eq(first.seen, 1);
	core_sess_tab_free(tab);
}
END_TEST

/* ---- core_sess_note_call / core_sess_rate ------------------------------ */

/* Calls at offsets from T0 and, after each, the rate note_call returns. */
static const struct {
	const char *name;
	int64_t at[8];
	int want[8];
	size_t count;
} call_runs[] = {
	{ "one call", { 0 }, { 1 }, 1 },
	{ "same second", { 0, 1, 999 }, { 1, 2, 3 }, 3 },
	{ "spread over a minute", { 0, 20000, 40000, 59999 },
	    { 1, 2, 3, 4 }, 4 },
	{ "the first call falls out at 60 s", { 0, 60000 }, { 1, 1 }, 2 },
	{ "a bucket is reused after a minute", { 0, 0, 0, 60000, 60500 },
	    { 1, 2, 3, 1, 2 }, 5 },
	{ "sliding", { 0, 30000, 61000, 89999, 91000 },
	    { 1, 2, 2, 3, 3 }, 5 },
	{ "long gap", { 0, 1000, 3600000 }, { 1, 2, 1 }, 3 },
};

START_TEST(test_note_call_runs)
{
	core_sess_tab *tab = core_sess_tab_new(0);
	bool created;
	core_sess *s = open_sess(tab, "s-1", 2, 3, &created);

	for (size_t i = 0; i < call_runs[_i].count; i++) {
		int got = core_sess_note_call(s, T0 + call_runs[_i].at[i],
		    "fs.read");

		ck_assert_msg(got == call_runs[_i].want[i],
		    "%s: call %zu at +%lld ms: rate %d, want %d",
		    call_runs[_i].name, i, (long long) call_runs[_i].at[i],
		    got, call_runs[_i].want[i]);
		ck_assert_int_eq(s->last_ms, T0 + call_runs[_i].at[i]);
	}
	core_sess_tab_free(tab);
}
END_TEST

START_TEST(test_note_call_burst)
{
	core_sess_tab *tab = core_sess_tab_new(0);
	bool created;
	core_sess *s = open_sess(tab, "s-1", 2, 3, &created);

	for (int i = 1; i <= 500; i++)
		ck_assert_int_eq(core_sess_note_call(s, T0 + i * 100,
		    "fs.read"), i);
	core_sess_tab_free(tab);
}
END_TEST

/* Calls at T0 + {0, 500, 30000, 59000}; the rate seen at various times. */
static const struct {
	int64_t at;
	int want;
} rate_probes[] = {
	{ -1000, 0 },  /* before any call */
	{ 0, 2 },      /* now_ms T0: the two calls in that second */
	{ 29999, 2 },
	{ 30000, 3 },
	{ 59000, 4 },
	{ 59999, 4 },
	{ 60000, 2 },  /* the calls of second T0 are 60 s old: dropped */
	{ 89999, 2 },
	{ 90000, 1 },
	{ 118999, 1 },
	{ 119000, 0 },
	{ 3600000, 0 },
};

START_TEST(test_rate_window)
{
	static const int64_t calls[] = { 0, 500, 30000, 59000 };
	core_sess_tab *tab = core_sess_tab_new(0);
	bool created;
	core_sess *s = open_sess(tab, "s-1", 2, 3, &created);

	for (size_t i = 0; i < CS_ARRAY_LEN(calls); i++)
		core_sess_note_call(s, T0 + calls[i], "fs.read");
	ck_assert_msg(core_sess_rate(s, T0 + rate_probes[_i].at) ==
	    rate_probes[_i].want, "rate at +%lld ms: %d, want %d",
	    (long long) rate_probes[_i].at,
	    core_sess_rate(s, T0 + rate_probes[_i].at), rate_probes[_i].want);
	core_sess_tab_free(tab);
}
END_TEST

START_TEST(test_rate_fresh)
{
	core_sess_tab *tab = core_sess_tab_new(0);
	bool created;
	core_sess *s = open_sess(tab, "s-1", 2, 3, &created);

	ck_assert_int_eq(core_sess_rate(s, T0), 0);
	ck_assert_int_eq(core_sess_rate(s, 0), 0);
	ck_assert_int_eq(core_sess_rate(s, 1000), 0);
	core_sess_tab_free(tab);
}
END_TEST

/* ---- core_sess_knows_tool ---------------------------------------------- */

START_TEST(test_knows_tool)
{
	core_sess_tab *tab = core_sess_tab_new(0);
	bool created;
	core_sess *s = open_sess(tab, "s-1", 2, 3, &created);

	ck_assert(!core_sess_knows_tool(s, "fs.read"));
	core_sess_note_call(s, T0, "fs.read");
	ck_assert(core_sess_knows_tool(s, "fs.read"));
	ck_assert(!core_sess_knows_tool(s, "fs.write"));
	ck_assert(!core_sess_knows_tool(s, "fs."));
	core_sess_note_call(s, T0 + 1, "fs.read");
	ck_assert_int_eq(json_integer_value(json_object_get(s->tools,
	    "fs.read")), 2);
	core_sess_tab_free(tab);
}
END_TEST

START_TEST(test_knows_tool_bounded)
{
	core_sess_tab *tab = core_sess_tab_new(0);
	bool created;
	core_sess *s = open_sess(tab, "s-1", 2, 3, &created);
	char tool[32];

	/* at most 64 tools are remembered: a peer cannot grow the set */
	for (int i = 0; i < 100; i++) {
		snprintf(tool, sizeof tool, "tool.%d", i);
		core_sess_note_call(s, T0 + i, tool);
	}
	ck_assert_uint_eq(json_object_size(s->tools), 64);
	ck_assert(core_sess_knows_tool(s, "tool.0"));
	ck_assert(core_sess_knows_tool(s, "tool.63"));
	ck_assert(!core_sess_knows_tool(s, "tool.64"));
	ck_assert(!core_sess_knows_tool(s, "tool.99"));
	/* calls are still counted for the rate */
	ck_assert_int_eq(core_sess_rate(s, T0 + 99), 100);
	core_sess_tab_free(tab);
}
END_TEST

/* ---- core_sess_grant_add ----------------------------------------------- */

START_TEST(test_grant_add)
{
	core_sess_tab *tab = core_sess_tab_new(0);
	bool created;
	core_sess *s = open_sess(tab, "s-1", 2, 3, &created);
	core_grant g, h;

	ck_assert_cs_ok(core_sess_grant_add(s, "payments.transfer", "op1",
	    60000, M0, T0, &g));
	ck_assert_uint_eq(s->grant_count, 1);
	ck_assert_uint_eq(strlen(g.id), 18);
	ck_assert_msg(strncmp(g.id, "g-", 2) == 0, "grant id %s", g.id);
	ck_assert_uint_eq(strspn(g.id + 2, "0123456789abcdef"), 16);
	ck_assert_str_eq(g.tool, "payments.transfer");
	ck_assert_str_eq(g.operator_name, "op1");
	ck_assert_int_eq(g.expires_mono_ms, M0 + 60000);
	ck_assert_int_eq(g.expires_ms, T0 + 60000);

	ck_assert_cs_ok(core_sess_grant_add(s, "payments.transfer", "op2",
	    1000, M0, T0, &h));
	ck_assert_str_ne(g.id, h.id);
	ck_assert_uint_eq(s->grant_count, 2);
	/* out is optional */
	ck_assert_cs_ok(core_sess_grant_add(s, "fs.write", "op1", 1000, M0,
	    T0, NULL));
	ck_assert_uint_eq(s->grant_count, 3);
	core_sess_tab_free(tab);
}
END_TEST

/* ---- core_sess_grant_find ---------------------------------------------- */

static const struct {
	const char *tool;
	int64_t at;   /* monotonic offset from M0 */
	bool found;
} grant_probes[] = {
	{ "fs.write", 0, true },
	{ "fs.write", 59999, true },
	{ "fs.write", 60000, false }, /* the deadline itself is expired */
	{ "fs.write", 3600000, false },
	{ "fs.read", 0, false },      /* another tool */
	{ "fs.*", 0, false },         /* no glob matching */
	{ "fs.writ", 0, false },
	{ "", 0, false },
};

START_TEST(test_grant_find)
{
	core_sess_tab *tab = core_sess_tab_new(0);
	bool created;
	core_sess *s = open_sess(tab, "s-1", 2, 3, &created);
	const core_grant *g;

	ck_assert_cs_ok(core_sess_grant_add(s, "fs.write", "op1", 60000, M0,
	    T0, NULL));
	g = core_sess_grant_find(s, grant_probes[_i].tool,
	    M0 + grant_probes[_i].at);
	if (grant_probes[_i].found) {
		ck_assert_ptr_nonnull(g);
		ck_assert_str_eq(g->tool, grant_probes[_i].tool);
		ck_assert_str_eq(g->operator_name, "op1");
	} else {
		ck_assert_msg(g == NULL, "%s at +%lld found",
		    grant_probes[_i].tool, (long long) grant_probes[_i].at);
	}
	core_sess_tab_free(tab);
}
END_TEST

START_TEST(test_grant_find_drops_expired)
{
	core_sess_tab *tab = core_sess_tab_new(0);
	bool created;
	core_sess *s = open_sess(tab, "s-1", 2, 3, &created);
	const core_grant *g;
	core_grant longer;

	ck_assert_cs_ok(core_sess_grant_add(s, "fs.write", "op1", 1000, M0,
	    T0, NULL));
	ck_assert_cs_ok(core_sess_grant_add(s, "shell.exec", "op1", 2000, M0,
	    T0, NULL));
	ck_assert_cs_ok(core_sess_grant_add(s, "fs.write", "op2", 10000, M0,
	    T0, &longer));
	/* the first fs.write grant expired: the longer one answers */
	g = core_sess_grant_find(s, "fs.write", M0 + 5000);
	ck_assert_ptr_nonnull(g);
	ck_assert_str_eq(g->id, longer.id);
	ck_assert_str_eq(g->operator_name, "op2");
	/* expired grants on the way were dropped */
	ck_assert_uint_eq(s->grant_count, 1);
	ck_assert_ptr_null(core_sess_grant_find(s, "shell.exec", M0 + 5000));
	ck_assert_ptr_null(core_sess_grant_find(s, "fs.write", M0 + 10000));
	ck_assert_uint_eq(s->grant_count, 0);
	core_sess_tab_free(tab);
}
END_TEST

/* ---- core_sess_grant_revoke -------------------------------------------- */

START_TEST(test_grant_revoke)
{
	core_sess_tab *tab = core_sess_tab_new(0);
	bool created;
	core_sess *s = open_sess(tab, "s-1", 2, 3, &created);
	core_grant a, b, c;

	ck_assert_int_eq(core_sess_grant_revoke(s, "g-0000000000000000"),
	    CS_ENOTFOUND);
	ck_assert_cs_ok(core_sess_grant_add(s, "a.tool", "op1", 60000, M0, T0,
	    &a));
	ck_assert_cs_ok(core_sess_grant_add(s, "b.tool", "op1", 60000, M0, T0,
	    &b));
	ck_assert_cs_ok(core_sess_grant_add(s, "c.tool", "op1", 60000, M0, T0,
	    &c));
	ck_assert_cs_ok(core_sess_grant_revoke(s, b.id));
	ck_assert_uint_eq(s->grant_count, 2);
	ck_assert_ptr_null(core_sess_grant_find(s, "b.tool", M0));
	ck_assert_ptr_nonnull(core_sess_grant_find(s, "a.tool", M0));
	ck_assert_ptr_nonnull(core_sess_grant_find(s, "c.tool", M0));
	/* revoking twice: gone */
	ck_assert_int_eq(core_sess_grant_revoke(s, b.id), CS_ENOTFOUND);
	ck_assert_int_eq(core_sess_grant_revoke(s, ""), CS_ENOTFOUND);
	ck_assert_cs_ok(core_sess_grant_revoke(s, a.id));
	ck_assert_cs_ok(core_sess_grant_revoke(s, c.id));
	ck_assert_uint_eq(s->grant_count, 0);
	ck_assert_int_eq(core_sess_grant_revoke(s, c.id), CS_ENOTFOUND);
	core_sess_tab_free(tab);
}
END_TEST

/* ---- core_sess_to_json ------------------------------------------------- */

START_TEST(test_to_json)
{
	core_sess_tab *tab = core_sess_tab_new(0);
	bool created;
	core_sess *s = open_sess(tab, "s-1", 2, 3, &created);
	core_grant live;
	json_t *o, *grants, *g;

	core_sess_note_call(s, T0 + 1000, "fs.read");
	core_sess_note_call(s, T0 + 2000, "fs.read");
	core_sess_note_call(s, T0 + 3000, "fs.write");
	s->calls = 3;
	s->denials = 1;
	ck_assert_cs_ok(core_sess_grant_add(s, "fs.write", "op1", 60000, M0,
	    T0, &live));
	ck_assert_cs_ok(core_sess_grant_add(s, "shell.exec", "op2", 1000, M0,
	    T0, NULL));

	o = core_sess_to_json(s, M0 + 5000);
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(json_string_value(json_object_get(o, "session")),
	    "s-1");
	ck_assert_str_eq(json_string_value(json_object_get(o, "user")),
	    "alice");
	ck_assert_str_eq(json_string_value(json_object_get(o, "agent")),
	    "bot");
	ck_assert_str_eq(json_string_value(json_object_get(o, "purpose")),
	    "pay invoices");
	ck_assert_uint_eq(json_array_size(json_object_get(o, "chain")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "trust")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "calls")), 3);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "denials")),
	    1);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "created")),
	    T0);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "last")),
	    T0 + 3000);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(o,
	    "tools"), "fs.read")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(o,
	    "tools"), "fs.write")), 1);
	/* the expired shell.exec grant is left out */
	grants = json_object_get(o, "grants");
	ck_assert_uint_eq(json_array_size(grants), 1);
	g = json_array_get(grants, 0);
	ck_assert_str_eq(json_string_value(json_object_get(g, "id")),
	    live.id);
	ck_assert_str_eq(json_string_value(json_object_get(g, "tool")),
	    "fs.write");
	ck_assert_str_eq(json_string_value(json_object_get(g, "operator")),
	    "op1");
	ck_assert_int_eq(json_integer_value(json_object_get(g, "expires")),
	    T0 + 60000);
	json_decref(o);
	core_sess_tab_free(tab);
}
END_TEST

START_TEST(test_to_json_no_purpose)
{
	core_sess_tab *tab = core_sess_tab_new(0);
	core_sess *s = NULL;
	bool created;
	json_t *o;

	ck_assert_cs_ok(core_sess_open(tab, "s-1", "alice", "bot", NULL, NULL,
	    1, 3, T0, &s, &created));
	o = core_sess_to_json(s, M0);
	ck_assert_ptr_nonnull(o);
	/* absent or null, never a made-up string */
	ck_assert(json_object_get(o, "purpose") == NULL ||
	    json_is_null(json_object_get(o, "purpose")));
	ck_assert_uint_eq(json_array_size(json_object_get(o, "grants")), 0);
	ck_assert_uint_eq(json_object_size(json_object_get(o, "tools")), 0);
	json_decref(o);
	core_sess_tab_free(tab);
}
END_TEST

START_TEST(test_to_json_is_a_snapshot)
{
	core_sess_tab *tab = core_sess_tab_new(0);
	bool created;
	core_sess *s = open_sess(tab, "s-1", 2, 3, &created);
	json_t *o;
	char *before, *after;

	core_sess_note_call(s, T0, "fs.read");
	o = core_sess_to_json(s, M0);
	before = json_dumps(o, JSON_SORT_KEYS);
	/* later calls must not change an object already handed out (it is
	 * published from another thread) */
	core_sess_note_call(s, T0 + 1, "fs.read");
	core_sess_note_call(s, T0 + 2, "fs.write");
	after = json_dumps(o, JSON_SORT_KEYS);
	ck_assert_str_eq(after, before);
	free(before);
	free(after);
	json_decref(o);
	core_sess_tab_free(tab);
}
END_TEST

/* ---- core_sess_tab_set_delegation_max --------------------------------- */

/* Open id for user/agent (no chain); returns the rv. */
static cs_err
open_as(core_sess_tab *tab, const char *id, const char *user,
    const char *agent, core_sess **out)
{
	bool created;

	return core_sess_open(tab, id, user, agent, NULL, NULL, 2, 4, T0, out,
	    &created);
}

/* A delegation at its bound forgets its least recently used session. */
START_TEST(test_deleg_forgets_oldest)
{
	core_sess_tab *tab = core_sess_tab_new(0);
	core_sess *s;

	core_sess_tab_set_delegation_max(tab, 3);
	ck_assert_cs_ok(open_as(tab, "a", "alice", "bot", &s));
	ck_assert_cs_ok(open_as(tab, "b", "alice", "bot", &s));
	ck_assert_cs_ok(open_as(tab, "c", "alice", "bot", &s));
	ck_assert_cs_ok(open_as(tab, "a", "alice", "bot", &s)); /* used */
	ck_assert_cs_ok(open_as(tab, "d", "alice", "bot", &s));
	ck_assert_uint_eq(core_sess_count(tab), 3);
	ck_assert_ptr_null(core_sess_get(tab, "b")); /* least recent */
	ck_assert_ptr_nonnull(core_sess_get(tab, "a"));
	ck_assert_ptr_nonnull(core_sess_get(tab, "c"));
	ck_assert_ptr_nonnull(core_sess_get(tab, "d"));
	/* another delegation has its own bound: nothing of alice's goes */
	ck_assert_cs_ok(open_as(tab, "e", "alice", "other-bot", &s));
	ck_assert_cs_ok(open_as(tab, "f", "bob", "bot", &s));
	ck_assert_uint_eq(core_sess_count(tab), 5);
	ck_assert_ptr_nonnull(core_sess_get(tab, "c"));
	core_sess_tab_free(tab);
}
END_TEST

/* Sessions holding an operator's word are never forgotten: a call
 * waiting, a grant, a trust an operator set (a quarantine would be
 * escaped by forgetting it). When only such remain, the bound holds. */
START_TEST(test_deleg_keeps_operator_state)
{
	core_sess_tab *tab = core_sess_tab_new(0);
	core_sess *a, *b, *c, *s;

	core_sess_tab_set_delegation_max(tab, 3);
	ck_assert_cs_ok(open_as(tab, "a", "alice", "bot", &a));
	ck_assert_cs_ok(open_as(tab, "b", "alice", "bot", &b));
	ck_assert_cs_ok(open_as(tab, "c", "alice", "bot", &c));
	a->pending = 1;
	b->trust = 0;
	ck_assert_cs_ok(core_sess_grant_add(c, "fs.write", "op1", 60000, M0,
	    T0, NULL));
	s = &untouched_sess;
	ck_assert_int_eq(open_as(tab, "d", "alice", "bot", &s), CS_EDENIED);
	ck_assert_ptr_eq(s, &untouched_sess);
	ck_assert_uint_eq(core_sess_count(tab), 3);
	/* the quarantine lifted (trust as opened): b may go */
	b->trust = b->initial_trust;
	ck_assert_cs_ok(open_as(tab, "d", "alice", "bot", &s));
	ck_assert_ptr_null(core_sess_get(tab, "b"));
	ck_assert_ptr_eq(core_sess_get(tab, "a"), a);
	ck_assert_ptr_eq(core_sess_get(tab, "c"), c);
	core_sess_tab_free(tab);
}
END_TEST

/* One delegation opening sessions without end stays at its bound. */
START_TEST(test_deleg_flood)
{
	core_sess_tab *tab = core_sess_tab_new(100000);
	core_sess *s;
	char id[32];

	core_sess_tab_set_delegation_max(tab, 100);
	for (int i = 0; i < 20000; i++) {
		snprintf(id, sizeof id, "flood-%d", i);
		ck_assert_cs_ok(open_as(tab, id, "mallory", "bot", &s));
	}
	ck_assert_uint_eq(core_sess_count(tab), 100);
	ck_assert_ptr_nonnull(core_sess_get(tab, "flood-19999"));
	ck_assert_ptr_null(core_sess_get(tab, "flood-19899"));
	ck_assert_cs_ok(open_as(tab, "x", "alice", "bot", &s));
	core_sess_tab_free(tab);
}
END_TEST

static Suite *
sess_suite(void)
{
	Suite *s = suite_create("sess");
	TCase *tc;

	tc = tcase_create("core_sess_tab_new");
	tcase_add_test(tc, test_tab_new_empty);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_sess_tab_free");
	tcase_add_test(tc, test_tab_free_with_sessions);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_sess_get");
	tcase_add_test(tc, test_get);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_sess_open");
	tcase_add_loop_test(tc, test_open_trust_cap, 0,
	    CS_ARRAY_LEN(trust_caps));
	tcase_add_test(tc, test_open_copies_fields);
	tcase_add_test(tc, test_open_nulls);
	tcase_add_test(tc, test_open_existing);
	tcase_add_test(tc, test_open_bound);
	tcase_add_test(tc, test_open_unbounded_many);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_sess_tab_set_delegation_max");
	tcase_add_test(tc, test_deleg_forgets_oldest);
	tcase_add_test(tc, test_deleg_keeps_operator_state);
	tcase_add_test(tc, test_deleg_flood);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_sess_count");
	tcase_add_test(tc, test_count);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_sess_each");
	tcase_add_test(tc, test_each);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_sess_note_call");
	tcase_add_loop_test(tc, test_note_call_runs, 0,
	    CS_ARRAY_LEN(call_runs));
	tcase_add_test(tc, test_note_call_burst);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_sess_rate");
	tcase_add_loop_test(tc, test_rate_window, 0,
	    CS_ARRAY_LEN(rate_probes));
	tcase_add_test(tc, test_rate_fresh);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_sess_knows_tool");
	tcase_add_test(tc, test_knows_tool);
	tcase_add_test(tc, test_knows_tool_bounded);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_sess_grant_add");
	tcase_add_test(tc, test_grant_add);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_sess_grant_find");
	tcase_add_loop_test(tc, test_grant_find, 0,
	    CS_ARRAY_LEN(grant_probes));
	tcase_add_test(tc, test_grant_find_drops_expired);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_sess_grant_revoke");
	tcase_add_test(tc, test_grant_revoke);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_sess_to_json");
	tcase_add_test(tc, test_to_json);
	tcase_add_test(tc, test_to_json_no_purpose);
	tcase_add_test(tc, test_to_json_is_a_snapshot);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sess_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
