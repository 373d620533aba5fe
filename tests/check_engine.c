/* check_engine.c: Check suite for the decision path without sockets
 * (core/engine.c): frames in, effects (audit events, replies, published
 * events) out.
 * SPDX-License-Identifier: MIT */
#include "engine.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "tok.h"

#define ck_assert_cs_ok(expr, cause)                                         \
	do {                                                                 \
		cs_err ck_rv_ = (expr);                                      \
		ck_assert_msg(ck_rv_ == CS_OK, "%s: %s (%s)", #expr,         \
		    cs_strerror(ck_rv_),                                     \
		    (cause) != NULL ? (cause) : "no cause");                 \
	} while (0)

#define NOW_MS INT64_C(1700000000000) /* wall ms */
#define NOW_S (NOW_MS / 1000)
#define MONO INT64_C(8000000)          /* monotonic ms */
#define TIMEOUT_MS INT64_C(60000)      /* the policy's approval_timeout_s */
#define AGENT 1                        /* agent handles: 1.. */
#define OP 100                         /* control handles: 100.. */

static const unsigned char key[33] = "0123456789abcdef0123456789abcdef";
static const unsigned char wrong_key[33] = "fedcba9876543210fedcba9876543210";
#define KEY_LEN 32
#define SCOPE "tool:fs.* tool:db.* tool:payments.* tool:shell.*"

/* The test policy, single-quoted (see q()); %s is on_timeout. */
static const char policy_fmt[] =
    "{'policy':'test','version':'1',"
    "'defaults':{'decision':'deny','approval_timeout_s':60,"
    "'on_timeout':'%s'},"
    "'tools':{'fs.read':{'risk':'low'},"
    "'payments.transfer':{'risk':'high'}},"
    "'rules':["
    "{'id':'quarantine','if':{'trust':{'<=':0}},'then':'deny',"
    "'reason':'session quarantined'},"
    "{'id':'no-drop','if':{'tool':'db.*','args.sql':"
    "{'matches':'drop[[:space:]]+table','icase':true}},'then':'deny'},"
    "{'id':'big','if':{'tool':'payments.transfer','args.amount':"
    "{'>':100}},'then':'ask','approvers':2},"
    "{'id':'mid','if':{'tool':'payments.transfer'},'then':'ask'},"
    "{'id':'reads','if':{'tool':'fs.read'},'then':'allow'}"
    "]}";

/* A second policy for reloads: shell.exec becomes allowed. */
static const char policy2_text[] =
    "{'policy':'test','version':'2',"
    "'defaults':{'decision':'deny'},"
    "'rules':[{'id':'shell','if':{'tool':'shell.exec'},'then':'allow'}]}";

static struct {
	core_cfg cfg;
	core_engine *eng;
	core_fx fx;     /* effects of the last call */
	char *tok;      /* alice via bot, session s-1, SCOPE */
	char version[160];
	bool hold;      /* control_at leaves its effects uncommitted */
} F;

/* A new buffer with text's single quotes turned into double quotes. */
static char *
q(const char *text)
{
	char *s = strdup(text);

	ck_assert_ptr_nonnull(s);
	for (char *p = s; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	return s;
}

/* Compile a policy from single-quoted text; asserts success. */
static pol_set *
compile(const char *text)
{
	char *json = q(text), *cause = NULL;
	pol_set *pol = NULL;

	ck_assert_cs_ok(pol_set_compile(json, strlen(json), "test.json",
	    &pol, &cause), cause);
	free(json);
	return pol;
}

/* The test policy with on_timeout. */
static pol_set *
test_policy(const char *on_timeout)
{
	char text[sizeof policy_fmt + 16];

	snprintf(text, sizeof text, policy_fmt, on_timeout);
	return compile(text);
}

/* Mint an HS256 token for user via agent "bot". */
static char *
mint(const unsigned char *k, const char *user, const char *scope,
    int trust, const char *sid, int64_t iat_s, int64_t ttl_s)
{
	core_tok_mint_opts o = {
		.user = user, .agent = "bot", .scope = scope, .ttl_s = ttl_s,
		.trust = trust, .sid = sid,
	};
	char *out = NULL, *cause = NULL;

	ck_assert_cs_ok(core_tok_mint(k, KEY_LEN, &o, iat_s, &out, &cause),
	    cause);
	return out;
}

/* (Re)build the engine with operators ops, a queue bound and a policy. */
static void
engine_start(const char *const *ops, size_t op_count, size_t max_pending,
    const char *on_timeout)
{
	pol_set *pol = test_policy(on_timeout);

	core_engine_free(F.eng);
	core_cfg_fini(&F.cfg);
	core_cfg_defaults(&F.cfg);
	F.cfg.operators = calloc(op_count + 1, sizeof *F.cfg.operators);
	ck_assert_ptr_nonnull(F.cfg.operators);
	for (size_t i = 0; i < op_count; i++) {
		F.cfg.operators[i] = strdup(ops[i]);
		ck_assert_ptr_nonnull(F.cfg.operators[i]);
	}
	F.cfg.operator_count = op_count;
	if (max_pending != 0)
		F.cfg.max_pending = max_pending;
	snprintf(F.version, sizeof F.version, "%s", pol_set_version(pol));
	F.eng = core_engine_new(&F.cfg, pol, key, KEY_LEN);
	ck_assert_ptr_nonnull(F.eng);
}

/* Checked fixture: operators op1 and op2, default bounds. */
static void
setup(void)
{
	static const char *const ops[] = { "op1", "op2" };

	memset(&F, 0, sizeof F);
	core_fx_init(&F.fx);
	engine_start(ops, 2, 0, "deny");
	F.tok = mint(key, "alice", SCOPE, -1, "s-1", NOW_S, 3600);
}

static void
teardown(void)
{
	core_fx_fini(&F.fx);
	core_engine_free(F.eng);
	core_cfg_fini(&F.cfg);
	free(F.tok);
}

/* Forget the last call's effects. */
static void
fx_reset(void)
{
	core_fx_fini(&F.fx);
	core_fx_init(&F.fx);
}

/* Format a single-quoted frame into a new double-quoted string. */
static char *vframe(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));

static char *
vframe(const char *fmt, va_list ap)
{
	char buf[16384];
	int n = vsnprintf(buf, sizeof buf, fmt, ap);

	ck_assert(n >= 0 && (size_t) n < sizeof buf);
	return q(buf);
}

/* Send an agent frame on handle at mono time now_mono. */
static void agent_at(uint64_t handle, int64_t now_mono, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
agent_at(uint64_t handle, int64_t now_mono, const char *fmt, ...)
{
	va_list ap;
	char *frame;

	va_start(ap, fmt);
	frame = vframe(fmt, ap);
	va_end(ap);
	fx_reset();
	core_engine_agent_msg(F.eng, frame, strlen(frame), handle,
	    NOW_MS + (now_mono - MONO), now_mono, &F.fx);
	free(frame);
}

/* An authorize on handle; id NULL and wait_ms < 0 are left out. */
static void
ask_at(uint64_t handle, int64_t now_mono, const char *id, const char *token,
    const char *tool, const char *args, long long wait_ms)
{
	char idpart[160] = "", waitpart[64] = "";

	if (id != NULL)
		snprintf(idpart, sizeof idpart, ",'id':'%s'", id);
	if (wait_ms >= 0)
		snprintf(waitpart, sizeof waitpart, ",'wait_ms':%lld", wait_ms);
	agent_at(handle, now_mono, "{'v':1,'type':'authorize','token':'%s',"
	    "'tool':'%s','args':%s%s%s}", token, tool,
	    args != NULL ? args : "{}", idpart, waitpart);
}

static void
ask(uint64_t handle, const char *id, const char *token, const char *tool,
    const char *args, long long wait_ms)
{
	ask_at(handle, MONO, id, token, tool, args, wait_ms);
}

/* Send a control frame from operator op on handle at mono time. */
static void control_at(const char *op, uint64_t handle, int64_t now_mono,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
control_at(const char *op, uint64_t handle, int64_t now_mono,
    const char *fmt, ...)
{
	va_list ap;
	char *frame;

	va_start(ap, fmt);
	frame = vframe(fmt, ap);
	va_end(ap);
	fx_reset();
	core_engine_control_msg(F.eng, op, frame, strlen(frame), handle,
	    NOW_MS + (now_mono - MONO), now_mono, &F.fx);
	free(frame);
	/* as the daemon's writer does once the rows are written: changes
	 * take effect then */
	if (!F.hold)
		core_engine_committed(F.eng, &F.fx);
}

/* decide on request by op; more is extra members (",'scope':...") . */
static void
decide(const char *op, const char *request, const char *verdict,
    const char *more)
{
	control_at(op, OP, MONO, "{'v':1,'type':'decide','request':'%s',"
	    "'verdict':'%s'%s}", request, verdict, more != NULL ? more : "");
}

static void
tick(int64_t now_mono)
{
	fx_reset();
	core_engine_tick(F.eng, NOW_MS + (now_mono - MONO), now_mono, &F.fx);
}

/* A string member, or "(absent)". */
static const char *
S(const json_t *o, const char *key_name)
{
	const char *s = json_string_value(json_object_get(o, key_name));

	return s != NULL ? s : "(absent)";
}

static json_int_t
I(const json_t *o, const char *key_name)
{
	return json_integer_value(json_object_get(o, key_name));
}

/* How many replies the last call produced for handle. */
static size_t
replies_to(uint64_t handle)
{
	size_t n = 0;

	for (size_t i = 0; i < F.fx.reply_count; i++)
		n += F.fx.replies[i].handle == handle;
	return n;
}

/* The one reply to handle (borrowed). */
static json_t *
reply_to(uint64_t handle)
{
	json_t *msg = NULL;

	ck_assert_msg(replies_to(handle) == 1, "%zu replies to handle %llu",
	    replies_to(handle), (unsigned long long) handle);
	for (size_t i = 0; i < F.fx.reply_count; i++)
		if (F.fx.replies[i].handle == handle)
			msg = F.fx.replies[i].msg;
	return msg;
}

/* The reply record to handle, for its event link. */
static const core_reply *
reply_rec(uint64_t handle)
{
	(void) reply_to(handle);
	for (size_t i = 0; i < F.fx.reply_count; i++)
		if (F.fx.replies[i].handle == handle)
			return &F.fx.replies[i];
	return NULL;
}

/* Audit events of kind in the last call's effects. */
static size_t
events_of(const char *kind)
{
	size_t i, n = 0;
	json_t *ev;

	json_array_foreach(F.fx.events, i, ev)
		n += strcmp(S(ev, "kind"), kind) == 0;
	return n;
}

/* The one event of kind (borrowed). */
static json_t *
event_of(const char *kind)
{
	size_t i;
	json_t *ev, *found = NULL;

	ck_assert_msg(events_of(kind) == 1, "%zu \"%s\" events",
	    events_of(kind), kind);
	json_array_foreach(F.fx.events, i, ev)
		if (strcmp(S(ev, "kind"), kind) == 0)
			found = ev;
	return found;
}

static size_t
pubs_of(const char *topic)
{
	size_t n = 0;

	for (size_t i = 0; i < F.fx.pub_count; i++)
		n += strcmp(F.fx.pubs[i].topic, topic) == 0;
	return n;
}

/* The first published event on topic (borrowed). */
static json_t *
pub_of(const char *topic)
{
	for (size_t i = 0; i < F.fx.pub_count; i++)
		if (strcmp(F.fx.pubs[i].topic, topic) == 0)
			return F.fx.pubs[i].msg;
	ck_abort_msg("no \"%s\" event published", topic);
	return NULL;
}

/* Check a decision reply. */
static void
assert_decision(const json_t *msg, const char *decision, const char *by)
{
	ck_assert_ptr_nonnull(msg);
	ck_assert_str_eq(S(msg, "type"), "decision");
	ck_assert_int_eq(I(msg, "v"), 1);
	ck_assert_msg(strcmp(S(msg, "decision"), decision) == 0 &&
	    strcmp(S(msg, "by"), by) == 0, "got %s by %s (%s), want %s by %s",
	    S(msg, "decision"), S(msg, "by"), S(msg, "reason"), decision, by);
	ck_assert_msg(strncmp(S(msg, "request"), "r-", 2) == 0,
	    "request \"%s\"", S(msg, "request"));
}

/* Check an error reply. */
static void
assert_error(const json_t *msg, const char *code)
{
	ck_assert_ptr_nonnull(msg);
	ck_assert_str_eq(S(msg, "type"), "error");
	ck_assert_msg(strcmp(S(msg, "code"), code) == 0,
	    "code %s (%s), want %s", S(msg, "code"), S(msg, "message"), code);
	ck_assert_str_ne(S(msg, "message"), "(absent)");
}

/* Ask for a payment of amount on handle; returns the request id (a new
 * string) from the pending event. */
static char *
ask_payment(uint64_t handle, const char *id, int amount, long long wait_ms)
{
	char args[64];
	json_t *ev;

	snprintf(args, sizeof args, "{'amount':%d,'currency':'EUR'}", amount);
	ask(handle, id, F.tok, "payments.transfer", args, wait_ms);
	ev = event_of("pending");
	return strdup(S(ev, "request"));
}

/* ---- core_fx_init / core_fx_fini / core_fx_empty ----------------------- */

START_TEST(test_fx_init)
{
	core_fx fx;

	memset(&fx, 0xa5, sizeof fx);
	core_fx_init(&fx);
	ck_assert(core_fx_empty(&fx));
	ck_assert(json_is_array(fx.events));
	ck_assert_uint_eq(json_array_size(fx.events), 0);
	ck_assert_uint_eq(fx.reply_count, 0);
	ck_assert_uint_eq(fx.pub_count, 0);
	ck_assert_uint_eq(fx.req_count, 0);
	ck_assert(!fx.fallback);
	core_fx_fini(&fx);
}
END_TEST

/* fini frees replies, pubs and events (valgrind/ASan) and resets. */
START_TEST(test_fx_fini)
{
	ask(AGENT, "c-1", F.tok, "payments.transfer", "{'amount':50}", 0);
	ck_assert_uint_eq(F.fx.reply_count, 1);
	ck_assert_uint_eq(F.fx.pub_count, 1);
	core_fx_fini(&F.fx);
	ck_assert_ptr_null(F.fx.events);
	ck_assert_ptr_null(F.fx.replies);
	ck_assert_uint_eq(F.fx.reply_count, 0);
	ck_assert_uint_eq(F.fx.pub_count, 0);
	core_fx_fini(&F.fx); /* twice is harmless */
	core_fx_init(&F.fx);
}
END_TEST

START_TEST(test_fx_empty)
{
	ck_assert(core_fx_empty(&F.fx));
	ask(AGENT, "c-1", F.tok, "fs.read", NULL, -1);
	ck_assert(!core_fx_empty(&F.fx));
	/* a parked call still has its pending event to write */
	ask(AGENT, "c-2", F.tok, "payments.transfer", "{'amount':5}", 30000);
	ck_assert_uint_eq(F.fx.reply_count, 0);
	ck_assert(!core_fx_empty(&F.fx));
	/* nothing due */
	tick(MONO + 1);
	ck_assert(core_fx_empty(&F.fx));
}
END_TEST

/* ---- core_engine_new / core_engine_free -------------------------------- */

START_TEST(test_new_free)
{
	core_cfg cfg;
	pol_set *pol = test_policy("deny");
	char version[160];
	core_engine *eng;

	core_cfg_defaults(&cfg);
	snprintf(version, sizeof version, "%s", pol_set_version(pol));
	ck_assert_msg(strncmp(version, "test@1#", 7) == 0, "%s", version);
	eng = core_engine_new(&cfg, pol, key, KEY_LEN);
	ck_assert_ptr_nonnull(eng);
	ck_assert_str_eq(core_engine_policy_version(eng), version);
	ck_assert_uint_eq(core_engine_pending_count(eng), 0);
	ck_assert_int_eq(core_engine_next_wake(eng), INT64_MAX);
	core_engine_free(eng);
	core_engine_free(NULL);
	core_cfg_fini(&cfg);
}
END_TEST

/* Freeing an engine with sessions, grants, pending and parked calls and
 * remembered decisions leaks nothing (valgrind/ASan). */
START_TEST(test_free_busy)
{
	char *a = ask_payment(AGENT, "c-1", 50, 0);
	char *b;

	decide("op1", a, "approve", ",'scope':'session','ttl_s':600");
	b = ask_payment(AGENT, "c-2", 500, 30000);
	ask(AGENT + 1, "c-2", F.tok, "payments.transfer",
	    "{'amount':500,'currency':'EUR'}", 30000);
	decide("op1", b, "approve", NULL);
	ask(AGENT, "c-3", F.tok, "fs.read", NULL, -1);
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 1);
	core_engine_free(F.eng);
	F.eng = NULL;
	core_engine_free(NULL);
	free(a);
	free(b);
}
END_TEST

/* The key is copied: the caller's buffer may change afterwards. */
START_TEST(test_new_copies_key)
{
	unsigned char k[KEY_LEN];

	memcpy(k, key, KEY_LEN);
	core_engine_free(F.eng);
	F.eng = core_engine_new(&F.cfg, test_policy("deny"), k, KEY_LEN);
	ck_assert_ptr_nonnull(F.eng);
	memset(k, 0, sizeof k);
	ask(AGENT, "c-1", F.tok, "fs.read", NULL, -1);
	assert_decision(reply_to(AGENT), "allow", "policy");
}
END_TEST

/* ---- core_engine_agent_msg: decided by policy -------------------------- */

START_TEST(test_allow_by_policy)
{
	json_t *msg, *ev, *args = json_pack("{s:s}", "path", "/etc/motd");
	char digest[72];

	ck_assert_cs_ok(cs_args_digest(args, digest), NULL);
	json_decref(args);
	ask(AGENT, "c-1", F.tok, "fs.read", "{'path':'/etc/motd'}", -1);
	msg = reply_to(AGENT);
	assert_decision(msg, "allow", "policy");
	ck_assert_str_eq(S(msg, "rule"), "reads");
	ck_assert_str_eq(S(msg, "id"), "c-1");
	ck_assert_str_eq(S(msg, "policy"), F.version);
	ck_assert_str_eq(S(msg, "args_digest"), digest);
	ck_assert(json_is_null(json_object_get(msg, "operator")));
	ck_assert_str_ne(S(msg, "reason"), "(absent)");

	/* exactly one audit event, linked to the reply */
	ck_assert_uint_eq(json_array_size(F.fx.events), 1);
	ev = event_of("decision");
	ck_assert_str_eq(S(ev, "decision"), "allow");
	ck_assert_str_eq(S(ev, "by"), "policy");
	ck_assert_str_eq(S(ev, "rule"), "reads");
	ck_assert_str_eq(S(ev, "request"), S(msg, "request"));
	ck_assert_str_eq(S(ev, "tool"), "fs.read");
	ck_assert_str_eq(S(ev, "session"), "s-1");
	ck_assert_str_eq(S(ev, "user"), "alice");
	ck_assert_str_eq(S(ev, "agent"), "bot");
	ck_assert_str_eq(S(ev, "policy"), F.version);
	ck_assert_str_eq(S(ev, "args_digest"), digest);
	ck_assert_str_eq(S(ev, "posture"), "normal");
	ck_assert_str_eq(S(ev, "risk"), "low");
	ck_assert_int_eq(I(ev, "trust"), 2); /* default_trust */
	ck_assert_int_eq(I(ev, "ts"), NOW_MS);
	ck_assert_int_eq(I(ev, "latency_ms"), 0);
	ck_assert_str_eq(S(json_object_get(ev, "args"), "path"), "/etc/motd");
	ck_assert_uint_eq(json_array_size(json_object_get(ev, "chain")), 2);
	ck_assert_ptr_eq(reply_rec(AGENT)->event, ev);
	ck_assert_uint_eq(F.fx.req_count, 1);
	ck_assert_str_eq(F.fx.reqs[0].request, S(msg, "request"));

	/* consoles hear of calls that waited for them, not of every call */
	ck_assert_uint_eq(pubs_of("resolved"), 0);
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 0);
}
END_TEST

/* Request ids are distinct per call, and carry 48 random bits per start
 * of the daemon (r-BOOT-COUNTER), so that restarts do not repeat them. */
START_TEST(test_request_ids_unique)
{
	char first[40];

	ask(AGENT, NULL, F.tok, "fs.read", NULL, -1);
	snprintf(first, sizeof first, "%s", S(reply_to(AGENT), "request"));
	ck_assert_msg(strncmp(first, "r-", 2) == 0 &&
	    strspn(first + 2, "0123456789abcdef") == 12 && first[14] == '-' &&
	    strspn(first + 15, "0123456789") == strlen(first + 15),
	    "request id %s", first);
	ask(AGENT, NULL, F.tok, "fs.read", NULL, -1);
	ck_assert_str_ne(S(reply_to(AGENT), "request"), first);
	ck_assert_ptr_null(json_object_get(reply_to(AGENT), "id"));
}
END_TEST

static const struct {
	const char *tool;
	const char *args;
	const char *rule;
} denials[] = {
	{ "db.query", "{'sql':'DROP   TABLE users'}", "no-drop" },
	{ "db.execute", "{'sql':'begin; drop\\ttable x'}", "no-drop" },
	{ "db.query", "{'sql':'select 1'}", "default" },
	{ "shell.exec", "{'cmd':'ls'}", "default" },
	{ "fs.write", "{}", "default" },
};

START_TEST(test_deny_by_policy)
{
	json_t *msg, *ev;

	ask(AGENT, "c-1", F.tok, denials[_i].tool, denials[_i].args, -1);
	msg = reply_to(AGENT);
	assert_decision(msg, "deny", "policy");
	ck_assert_str_eq(S(msg, "rule"), denials[_i].rule);
	ck_assert_str_ne(S(msg, "reason"), "(absent)");
	ck_assert_uint_eq(json_array_size(F.fx.events), 1);
	ev = event_of("decision");
	ck_assert_str_eq(S(ev, "decision"), "deny");
	ck_assert_str_eq(S(ev, "by"), "policy");
	ck_assert_str_eq(S(ev, "rule"), denials[_i].rule);
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 0);
}
END_TEST

/* ---- core_engine_agent_msg: admission ---------------------------------- */

enum bad_token { BAD_SIG, EXPIRED, NOT_YET, OUT_OF_SCOPE, ALG_NONE, GARBAGE,
	EMPTY, OTHER_SESSION };

static const struct {
	enum bad_token kind;
	const char *cause_has;
} admissions[] = {
	{ BAD_SIG, "signature" },
	{ EXPIRED, "expired" },
	{ NOT_YET, "" },
	{ OUT_OF_SCOPE, "scope" },
	{ ALG_NONE, "none" },
	{ GARBAGE, "" },
	{ EMPTY, "" },
	{ OTHER_SESSION, "session" },
};

/* Unpadded base64url of a string: a new string. */
static char *
b64url(const char *text)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char *in = (const unsigned char *) text;
	size_t len = strlen(text), o = 0;
	char *out = malloc(4 * (len / 3 + 1) + 1);

	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned) in[i] << 16;

		if (i + 1 < len)
			v |= (unsigned) in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = abc[(v >> 18) & 63];
		out[o++] = abc[(v >> 12) & 63];
		if (i + 1 < len)
			out[o++] = abc[(v >> 6) & 63];
		if (i + 2 < len)
			out[o++] = abc[v & 63];
	}
	out[o] = '\0';
	return out;
}

/* A token for the admission case (a new string). */
static char *
bad_token(enum bad_token kind)
{
	char payload[256], *h, *p, *jwt;

	switch (kind) {
	case BAD_SIG:
		return mint(wrong_key, "alice", SCOPE, -1, "s-1", NOW_S, 3600);
	case EXPIRED:
		return mint(key, "alice", SCOPE, -1, "s-1", NOW_S - 7200, 60);
	case NOT_YET:
		return mint(key, "alice", SCOPE, -1, "s-1", NOW_S + 3600, 3600);
	case OUT_OF_SCOPE:
		return mint(key, "alice", "tool:fs.*", -1, "s-1", NOW_S, 3600);
	case ALG_NONE:
		snprintf(payload, sizeof payload, "{\"sub\":\"alice\","
		    "\"act\":{\"sub\":\"bot\"},\"scope\":\"tool:*\","
		    "\"exp\":%lld,\"sid\":\"s-1\"}", (long long) NOW_S + 3600);
		h = b64url("{\"alg\":\"none\",\"typ\":\"JWT\"}");
		p = b64url(payload);
		jwt = cs_asprintf("%s.%s.", h, p);
		free(h);
		free(p);
		return jwt;
	case GARBAGE:
		return strdup("not.a.token");
	case EMPTY:
		return strdup("");
	case OTHER_SESSION:
		return mint(key, "alice", SCOPE, -1, "s-other", NOW_S, 3600);
	}
	return NULL;
}

START_TEST(test_admission_denied)
{
	char *tok = bad_token(admissions[_i].kind);
	const char *tool = admissions[_i].kind == OUT_OF_SCOPE ?
	    "payments.transfer" : "fs.read";
	json_t *msg, *ev;

	ck_assert_ptr_nonnull(tok);
	if (admissions[_i].kind == OTHER_SESSION)
		agent_at(AGENT, MONO, "{'v':1,'type':'authorize','id':'c-1',"
		    "'token':'%s','session':'s-1','tool':'fs.read'}", tok);
	else
		ask(AGENT, "c-1", tok, tool, "{'amount':5}", 30000);
	msg = reply_to(AGENT);
	assert_decision(msg, "deny", "admission");
	ck_assert_msg(strncmp(S(msg, "reason"), "admission: ", 11) == 0 &&
	    strstr(S(msg, "reason"), admissions[_i].cause_has) != NULL,
	    "reason \"%s\" lacks \"%s\"", S(msg, "reason"),
	    admissions[_i].cause_has);
	ck_assert_str_eq(S(msg, "policy"), F.version);
	/* exactly one audit event, and nothing queued even with wait_ms */
	ck_assert_uint_eq(json_array_size(F.fx.events), 1);
	ev = event_of("decision");
	ck_assert_str_eq(S(ev, "decision"), "deny");
	ck_assert_str_eq(S(ev, "by"), "admission");
	ck_assert_str_eq(S(ev, "request"), S(msg, "request"));
	ck_assert_str_eq(S(ev, "reason"), S(msg, "reason"));
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 0);
	ck_assert_uint_eq(pubs_of("pending"), 0);
	free(tok);
}
END_TEST

/* A token refused for its signature is remembered: the same token again,
 * with another call id, gets the same refusal (and its own audit row),
 * and a good token is still verified afresh. */
START_TEST(test_admission_bad_signature_again)
{
	char *bad = bad_token(BAD_SIG);

	for (int i = 0; i < 3; i++) {
		char id[16];

		snprintf(id, sizeof id, "c-%d", i);
		ask(AGENT, id, bad, "fs.read", "{'path':'/workspace/a'}", -1);
		assert_decision(reply_to(AGENT), "deny", "admission");
		ck_assert_str_eq(S(reply_to(AGENT), "reason"),
		    "admission: bad signature");
		ck_assert_uint_eq(json_array_size(F.fx.events), 1);
	}
	ask(AGENT, "c-good", F.tok, "fs.read", "{'path':'/workspace/a'}", -1);
	assert_decision(reply_to(AGENT), "allow", "policy");
	free(bad);
}
END_TEST

/* A token's trust claim is capped by max_initial_trust (3). */
START_TEST(test_admission_trust_capped)
{
	char *tok = mint(key, "alice", SCOPE, 4, "s-4", NOW_S, 3600);

	ask(AGENT, "c-1", tok, "fs.read", NULL, -1);
	ck_assert_int_eq(I(event_of("decision"), "trust"), 3);
	free(tok);
	tok = mint(key, "alice", SCOPE, 1, "s-5", NOW_S, 3600);
	ask(AGENT, "c-1", tok, "fs.read", NULL, -1);
	ck_assert_int_eq(I(event_of("decision"), "trust"), 1);
	free(tok);
	/* trust 0 from the token: quarantined from the first call */
	tok = mint(key, "alice", SCOPE, 0, "s-6", NOW_S, 3600);
	ask(AGENT, "c-1", tok, "fs.read", NULL, -1);
	ck_assert_str_eq(S(reply_to(AGENT), "rule"), "quarantine");
	free(tok);
}
END_TEST

/* The session named by a hello snapshot (a new reference), or NULL. */
static json_t *
snapshot_session(const char *id)
{
	json_t *found = NULL, *s;
	size_t i;

	control_at("op1", OP, MONO, "{'v':1,'type':'hello'}");
	json_array_foreach(json_object_get(reply_to(OP), "sessions"), i, s)
		if (strcmp(S(s, "session"), id) == 0)
			found = json_incref(s);
	return found;
}

/* Nor one of the same user and agent through another chain, or carrying
 * another trust: a grant given for one chain is not one for another, and
 * a token re-issued with less trust does not inherit the session's. */
START_TEST(test_admission_same_agent_other_chain_or_trust)
{
	static const char *const via[] = { "planner", "helper" };
	core_tok_mint_opts o = {
		.user = "alice", .agent = "bot", .scope = SCOPE,
		.ttl_s = 3600, .trust = -1, .actors = via, .actor_count = 2,
	};
	char *request = ask_payment(AGENT, "c-1", 50, 0);
	char *deeper = NULL, *cause = NULL;
	char *weaker = mint(key, "alice", SCOPE, 0, NULL, NOW_S, 3600);
	char *same = mint(key, "alice", SCOPE, -1, NULL, NOW_S, 3600);
	json_t *msg;

	decide("op1", request, "approve", ",'scope':'session','ttl_s':600");
	ck_assert_cs_ok(core_tok_mint(key, KEY_LEN, &o, NOW_S, &deeper,
	    &cause), cause);
	agent_at(AGENT, MONO, "{'v':1,'type':'authorize','id':'d-1',"
	    "'token':'%s','session':'s-1','tool':'payments.transfer',"
	    "'args':{'amount':60}}", deeper);
	msg = reply_to(AGENT);
	assert_decision(msg, "deny", "admission");
	ck_assert_msg(strstr(S(msg, "reason"), "another delegation chain") !=
	    NULL, "reason %s", S(msg, "reason"));
	agent_at(AGENT, MONO, "{'v':1,'type':'authorize','id':'w-1',"
	    "'token':'%s','session':'s-1','tool':'fs.read'}", weaker);
	msg = reply_to(AGENT);
	assert_decision(msg, "deny", "admission");
	ck_assert_msg(strstr(S(msg, "reason"), "this token carries 0") !=
	    NULL, "reason %s", S(msg, "reason"));
	/* the same delegation and trust, without a sid of its own: it may */
	agent_at(AGENT, MONO, "{'v':1,'type':'authorize','id':'s-2',"
	    "'token':'%s','session':'s-1','tool':'payments.transfer',"
	    "'args':{'amount':60}}", same);
	assert_decision(reply_to(AGENT), "allow", "grant");
	free(deeper);
	free(weaker);
	free(same);
	free(request);
}
END_TEST

/* A token may not ride on another delegation's session: its trust and
 * grants belong to someone else. */
START_TEST(test_admission_other_delegation)
{
	core_tok_mint_opts o = {
		.user = "alice", .agent = "other-bot", .scope = SCOPE,
		.ttl_s = 3600, .trust = -1,
	};
	char *request = ask_payment(AGENT, "c-1", 50, 0);
	char *mallory = mint(key, "mallory", SCOPE, 0, NULL, NOW_S, 3600);
	char *other_agent = NULL, *cause = NULL;
	json_t *msg, *sess;

	decide("op1", request, "approve", ",'scope':'session','ttl_s':600");
	control_at("op1", OP, MONO, "{'v':1,'type':'trust','session':'s-1',"
	    "'level':4}");
	agent_at(AGENT, MONO, "{'v':1,'type':'authorize','id':'m-1',"
	    "'token':'%s','session':'s-1','tool':'payments.transfer',"
	    "'args':{'amount':60}}", mallory);
	msg = reply_to(AGENT);
	assert_decision(msg, "deny", "admission");
	ck_assert_msg(strstr(S(msg, "reason"), "another delegation") != NULL,
	    "reason %s", S(msg, "reason"));
	ck_assert_uint_eq(json_array_size(F.fx.events), 1);

	ck_assert_cs_ok(core_tok_mint(key, KEY_LEN, &o, NOW_S, &other_agent,
	    &cause), cause);
	agent_at(AGENT, MONO, "{'v':1,'type':'authorize','id':'m-2',"
	    "'token':'%s','session':'s-1','tool':'fs.read'}", other_agent);
	assert_decision(reply_to(AGENT), "deny", "admission");

	/* the session itself is untouched */
	sess = snapshot_session("s-1");
	ck_assert_ptr_nonnull(sess);
	ck_assert_int_eq(I(sess, "trust"), 4);
	ck_assert_int_eq(I(sess, "denials"), 0);
	ck_assert_str_eq(S(sess, "user"), "alice");
	json_decref(sess);
	/* and its owner still uses its grant */
	ask(AGENT, "c-2", F.tok, "payments.transfer", "{'amount':60}", 0);
	assert_decision(reply_to(AGENT), "allow", "grant");
	free(other_agent);
	free(mallory);
	free(request);
}
END_TEST

/* Frames with a token that fails admission cannot push a session into
 * "repeated denials": they never proved they belong to it. */
START_TEST(test_admission_not_counted)
{
	char *bad = bad_token(BAD_SIG);
	json_t *sess;

	ask(AGENT, "c-1", F.tok, "fs.read", NULL, -1);
	for (int i = 0; i < 6; i++) {
		agent_at(AGENT, MONO, "{'v':1,'type':'authorize','token':'%s',"
		    "'session':'s-1','tool':'fs.read'}", bad);
		assert_decision(reply_to(AGENT), "deny", "admission");
	}
	sess = snapshot_session("s-1");
	ck_assert_int_eq(I(sess, "calls"), 1);
	ck_assert_int_eq(I(sess, "denials"), 0);
	json_decref(sess);
	/* a real denial in the session does count */
	ask(AGENT, "c-2", F.tok, "shell.exec", NULL, -1);
	sess = snapshot_session("s-1");
	ck_assert_int_eq(I(sess, "calls"), 2);
	ck_assert_int_eq(I(sess, "denials"), 1);
	json_decref(sess);
	free(bad);
}
END_TEST

/* ---- core_engine_agent_msg: malformed frames --------------------------- */

static const struct {
	const char *frame;
	const char *code;
} malformed[] = {
	{ "", "bad_json" },
	{ "not json", "bad_json" },
	{ "{'v':1,'type':'authorize'", "bad_json" },
	{ "[1,2]", "wrong_type" },
	{ "{'v':2,'type':'authorize','token':'t','tool':'fs.read'}",
	    "bad_version" },
	{ "{'v':1,'type':'approve'}", "unknown_type" },
	{ "{'v':1,'type':'authorize','tool':'fs.read'}", "missing_field" },
	{ "{'v':1,'type':'authorize','token':'t','tool':'fs.read',"
	    "'decision':'allow'}", "unknown_field" },
	{ "{'v':1,'type':'authorize','token':'t','tool':'fs.read',"
	    "'tool':'shell.exec'}", "duplicate_key" },
	{ "{'v':1,'type':'authorize','token':'t','tool':'fs read'}",
	    "bad_value" },
	{ "{'v':1,'type':'authorize','token':'t','tool':'fs.read',"
	    "'wait_ms':-5}", "wrong_type" },
	{ "{'v':1,'type':'authorize','token':'t','tool':'fs.read\\u0000'}",
	    "nul_in_string" },
	/* the cause quotes the input cut at a byte count, here inside a
	 * two-byte character: the row and the reply must still be made */
	{ "{'v':1,'type':'authorize','token':'t','tool':'fs.read','"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "\xc3\xa9':1}", "unknown_field" },
	{ "{'v':1,'type':'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9'}",
	    "unknown_type" },
	{ "'\\\xe2\x82\xac", "bad_json" },
};

START_TEST(test_malformed_frame)
{
	json_t *msg, *ev;

	agent_at(AGENT, MONO, "%s", malformed[_i].frame);
	msg = reply_to(AGENT);
	assert_error(msg, malformed[_i].code);
	ck_assert_msg(strncmp(S(msg, "request"), "r-", 2) == 0, "request %s",
	    S(msg, "request"));
	ck_assert_uint_eq(json_array_size(F.fx.events), 1);
	ev = event_of("error");
	ck_assert_str_eq(S(ev, "decision"), "deny");
	ck_assert_str_eq(S(ev, "by"), "error");
	ck_assert_str_eq(S(ev, "code"), malformed[_i].code);
	ck_assert_str_eq(S(ev, "request"), S(msg, "request"));
	ck_assert_int_eq(I(ev, "size"), (json_int_t) strlen(
	    malformed[_i].frame));
	ck_assert_uint_eq(strlen(S(ev, "frame_sha256")), 64);
	ck_assert_ptr_eq(reply_rec(AGENT)->event, ev);
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 0);
}
END_TEST

START_TEST(test_malformed_deep_and_binary)
{
	size_t len = 5000;
	char *deep = malloc(len);
	static const char binary[] = "{\"v\":1,\"type\":\"authorize\","
	    "\"token\":\"t\",\"tool\":\"fs.read\"}\0{\"decision\":\"allow\"}";
	static const char overlong[] = "{\"v\":1,\"type\":\"authorize\","
	    "\"token\":\"t\",\"tool\":\"fs.read\",\"id\":\"\xc0\xaf\"}";

	ck_assert_ptr_nonnull(deep);
	memset(deep, '[', len);
	fx_reset();
	core_engine_agent_msg(F.eng, deep, len, AGENT, NOW_MS, MONO, &F.fx);
	assert_error(reply_to(AGENT), "too_deep");
	ck_assert_str_eq(S(event_of("error"), "code"), "too_deep");
	free(deep);

	fx_reset();
	core_engine_agent_msg(F.eng, binary, sizeof binary - 1, AGENT, NOW_MS,
	    MONO, &F.fx);
	assert_error(reply_to(AGENT), "bad_json");
	ck_assert_uint_eq(events_of("decision"), 0);
	ck_assert_uint_eq(events_of("error"), 1);

	fx_reset();
	core_engine_agent_msg(F.eng, overlong, sizeof overlong - 1, AGENT,
	    NOW_MS, MONO, &F.fx);
	assert_error(reply_to(AGENT), "bad_utf8");
	ck_assert_uint_eq(events_of("error"), 1);
}
END_TEST

/* ---- core_engine_agent_msg: escalation --------------------------------- */

START_TEST(test_ask_no_wait)
{
	json_t *msg, *ev, *pub;

	ask(AGENT, "c-1", F.tok, "payments.transfer", "{'amount':50}", 0);
	msg = reply_to(AGENT);
	assert_decision(msg, "pending", "policy");
	ck_assert_str_eq(S(msg, "rule"), "mid");
	ck_assert_str_eq(S(msg, "id"), "c-1");
	ck_assert_int_eq(I(msg, "deadline"), NOW_MS + TIMEOUT_MS);
	ck_assert_uint_eq(json_array_size(F.fx.events), 1);
	ev = event_of("pending");
	ck_assert_str_eq(S(ev, "request"), S(msg, "request"));
	ck_assert_str_eq(S(ev, "rule"), "mid");
	ck_assert_str_eq(S(ev, "risk"), "high");
	ck_assert_int_eq(I(ev, "approvers"), 1);
	ck_assert_ptr_null(json_object_get(ev, "decision"));
	ck_assert_uint_eq(pubs_of("pending"), 1);
	pub = pub_of("pending");
	ck_assert_str_eq(S(pub, "request"), S(msg, "request"));
	ck_assert_int_eq(I(pub, "approvers"), 1);
	ck_assert_uint_eq(json_array_size(json_object_get(pub, "approvals")),
	    0);
	ck_assert_uint_eq(pubs_of("resolved"), 0);
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 1);
	ck_assert_int_eq(core_engine_next_wake(F.eng), MONO + TIMEOUT_MS);
}
END_TEST

/* Without wait_ms the configured default (0) applies: answer at once. */
START_TEST(test_ask_default_wait)
{
	ask(AGENT, "c-1", F.tok, "payments.transfer", "{'amount':50}", -1);
	assert_decision(reply_to(AGENT), "pending", "policy");
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 1);
}
END_TEST

START_TEST(test_ask_park_then_approve)
{
	char *request = ask_payment(AGENT, "c-1", 50, 30000);
	json_t *msg, *ev;

	/* parked: no reply yet, but the pending event is written */
	ck_assert_uint_eq(F.fx.reply_count, 0);
	ck_assert_uint_eq(pubs_of("pending"), 1);
	ck_assert_int_eq(core_engine_next_wake(F.eng), MONO + 30000);

	decide("op1", request, "approve", NULL);
	msg = reply_to(AGENT);
	assert_decision(msg, "allow", "operator");
	ck_assert_str_eq(S(msg, "operator"), "op1");
	ck_assert_str_eq(S(msg, "request"), request);
	ck_assert_str_eq(S(msg, "rule"), "mid");
	ck_assert_str_eq(S(msg, "id"), "c-1");
	msg = reply_to(OP);
	ck_assert_str_eq(S(msg, "type"), "decide");
	ck_assert(json_is_true(json_object_get(msg, "ok")));
	ck_assert_str_eq(S(msg, "state"), "decided");
	ck_assert_uint_eq(json_array_size(F.fx.events), 1);
	ev = event_of("decision");
	ck_assert_str_eq(S(ev, "decision"), "allow");
	ck_assert_str_eq(S(ev, "by"), "operator");
	ck_assert_str_eq(S(ev, "operator"), "op1");
	ck_assert_ptr_null(json_object_get(ev, "deadline"));
	ck_assert_ptr_eq(reply_rec(AGENT)->event, ev);
	ck_assert_ptr_eq(reply_rec(OP)->event, ev);
	ck_assert_uint_eq(pubs_of("resolved"), 1);
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 0);
	ck_assert_int_eq(core_engine_next_wake(F.eng), INT64_MAX);
	free(request);
}
END_TEST

START_TEST(test_quorum)
{
	char *request = ask_payment(AGENT, "c-1", 250, 60000);
	json_t *msg, *ev, *ops;

	ck_assert_str_eq(S(event_of("pending"), "rule"), "big");
	ck_assert_int_eq(I(event_of("pending"), "approvers"), 2);

	decide("op1", request, "approve", NULL);
	ck_assert_uint_eq(replies_to(AGENT), 0);
	msg = reply_to(OP);
	ck_assert(json_is_true(json_object_get(msg, "ok")));
	ck_assert_str_eq(S(msg, "state"), "awaiting_quorum");
	ck_assert_int_eq(I(msg, "approvals"), 1);
	ck_assert_int_eq(I(msg, "approvers"), 2);
	ev = event_of("approval");
	ck_assert_str_eq(S(ev, "operator"), "op1");
	ck_assert_int_eq(I(ev, "count"), 1);
	ck_assert_int_eq(I(ev, "needed"), 2);
	ck_assert_uint_eq(events_of("decision"), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(pub_of("pending"),
	    "approvals")), 1);

	/* the same operator twice does not make a quorum */
	decide("op1", request, "approve", NULL);
	assert_error(reply_to(OP), "already_approved");
	ck_assert_uint_eq(replies_to(AGENT), 0);
	ck_assert_str_eq(S(event_of("refused"), "code"), "already_approved");
	ck_assert_uint_eq(events_of("decision"), 0);
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 1);

	decide("op2", request, "approve", NULL);
	msg = reply_to(AGENT);
	assert_decision(msg, "allow", "operator");
	ck_assert_str_eq(S(msg, "operator"), "op1");
	ops = json_object_get(msg, "operators");
	ck_assert_uint_eq(json_array_size(ops), 2);
	ck_assert_str_eq(json_string_value(json_array_get(ops, 0)), "op1");
	ck_assert_str_eq(json_string_value(json_array_get(ops, 1)), "op2");
	ck_assert_str_eq(S(reply_to(OP), "state"), "decided");
	ev = event_of("decision");
	ck_assert_uint_eq(json_array_size(json_object_get(ev, "operators")),
	    2);
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 0);
	free(request);
}
END_TEST

START_TEST(test_self_approval)
{
	static const char *const ops[] = { "op1", "op2", "alice" };
	char *request;

	engine_start(ops, 3, 0, "deny");
	request = ask_payment(AGENT, "c-1", 50, 30000);
	/* alice delegated the call: she may not approve it */
	decide("alice", request, "approve", NULL);
	assert_error(reply_to(OP), "self_approval");
	ck_assert_str_eq(S(reply_to(OP), "request"), request);
	ck_assert_uint_eq(replies_to(AGENT), 0);
	ck_assert_str_eq(S(event_of("refused"), "operator"), "alice");
	ck_assert_uint_eq(events_of("decision"), 0);
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 1);
	/* another operator still can */
	decide("op2", request, "approve", NULL);
	assert_decision(reply_to(AGENT), "allow", "operator");
	ck_assert_str_eq(S(reply_to(AGENT), "operator"), "op2");
	free(request);
}
END_TEST

/* The delegating human may refuse their own agent's call. */
START_TEST(test_self_deny)
{
	static const char *const ops[] = { "op1", "alice" };
	char *request;

	engine_start(ops, 2, 0, "deny");
	request = ask_payment(AGENT, "c-1", 50, 30000);
	decide("alice", request, "deny", NULL);
	assert_decision(reply_to(AGENT), "deny", "operator");
	ck_assert_str_eq(S(reply_to(AGENT), "operator"), "alice");
	free(request);
}
END_TEST

START_TEST(test_decide_deny_reason)
{
	char *request = ask_payment(AGENT, "c-1", 50, 30000);
	json_t *msg;

	decide("op2", request, "deny", ",'reason':'amount looks wrong'");
	msg = reply_to(AGENT);
	assert_decision(msg, "deny", "operator");
	ck_assert_str_eq(S(msg, "reason"), "amount looks wrong");
	ck_assert_str_eq(S(msg, "operator"), "op2");
	ck_assert_str_eq(S(event_of("decision"), "reason"),
	    "amount looks wrong");
	ck_assert_str_eq(S(pub_of("resolved"), "reason"),
	    "amount looks wrong");
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 0);
	free(request);
}
END_TEST

/* A deny on a quorum call needs one operator only. */
START_TEST(test_decide_deny_quorum)
{
	char *request = ask_payment(AGENT, "c-1", 250, 30000);

	decide("op1", request, "approve", NULL);
	decide("op2", request, "deny", NULL);
	assert_decision(reply_to(AGENT), "deny", "operator");
	ck_assert_str_eq(S(reply_to(AGENT), "operator"), "op2");
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 0);
	free(request);
}
END_TEST

START_TEST(test_decide_quarantine)
{
	char *request = ask_payment(AGENT, "c-1", 50, 0);
	json_t *ev;

	decide("op1", request, "deny", ",'quarantine':true");
	ck_assert_str_eq(S(event_of("decision"), "decision"), "deny");
	ev = event_of("trust");
	ck_assert_int_eq(I(ev, "from"), 2);
	ck_assert_int_eq(I(ev, "to"), 0);
	ck_assert_str_eq(S(ev, "session"), "s-1");
	ask(AGENT, "c-2", F.tok, "fs.read", NULL, -1);
	assert_decision(reply_to(AGENT), "deny", "policy");
	ck_assert_str_eq(S(reply_to(AGENT), "rule"), "quarantine");
	free(request);
}
END_TEST

START_TEST(test_decide_not_found)
{
	decide("op1", "r-nope-000001", "approve", NULL);
	assert_error(reply_to(OP), "not_found");
	ck_assert_str_eq(S(reply_to(OP), "request"), "r-nope-000001");
	ck_assert_str_eq(S(event_of("refused"), "code"), "not_found");
	ck_assert_uint_eq(events_of("decision"), 0);
}
END_TEST

START_TEST(test_decide_already_decided)
{
	char *request = ask_payment(AGENT, "c-1", 50, 0);
	json_t *msg;

	decide("op1", request, "deny", NULL);
	ck_assert_uint_eq(events_of("decision"), 1);
	decide("op2", request, "approve", NULL);
	msg = reply_to(OP);
	assert_error(msg, "already_decided");
	ck_assert_str_eq(S(msg, "request"), request);
	/* the first outcome, unchanged */
	ck_assert_str_eq(S(json_object_get(msg, "decision"), "decision"),
	    "deny");
	ck_assert_uint_eq(events_of("decision"), 0);
	ck_assert_uint_eq(replies_to(AGENT), 0);
	free(request);
}
END_TEST

START_TEST(test_decide_not_operator)
{
	char *request = ask_payment(AGENT, "c-1", 50, 0);

	decide("mallory", request, "approve", NULL);
	assert_error(reply_to(OP), "not_operator");
	ck_assert_str_eq(S(event_of("refused"), "operator"), "mallory");
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 1);
	/* also for the delegating human who is not an operator */
	decide("alice", request, "approve", NULL);
	assert_error(reply_to(OP), "not_operator");
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 1);
	free(request);
}
END_TEST

/* Control frames refused before anything happens. */
static const struct {
	const char *frame; /* @R is a pending request id */
	const char *code;
} bad_controls[] = {
	{ "not json", "bad_json" },
	{ "{'v':1,'type':'decide','request':'@R','request':'x',"
	    "'verdict':'approve'}", "duplicate_key" },
	{ "[]", "bad_version" },
	{ "{'type':'decide','request':'@R','verdict':'approve'}",
	    "bad_version" },
	{ "{'v':2,'type':'decide','request':'@R','verdict':'approve'}",
	    "bad_version" },
	{ "{'v':'1','type':'decide','request':'@R','verdict':'approve'}",
	    "bad_version" },
	{ "{'v':1,'request':'@R','verdict':'approve'}", "bad_version" },
	{ "{'v':1,'type':'launch'}", "unknown_type" },
	{ "{'v':1,'type':'decide','verdict':'approve','x':'@R'}",
	    "bad_request" },
	{ "{'v':1,'type':'decide','request':'@R','verdict':'maybe'}",
	    "bad_request" },
	{ "{'v':1,'type':'decide','request':'@R','verdict':'approve',"
	    "'scope':'forever'}", "bad_request" },
	{ "{'v':1,'type':'decide','request':'@R','verdict':'approve',"
	    "'ttl_s':0}", "bad_request" },
	{ "{'v':1,'type':'decide','request':'@R','verdict':'approve',"
	    "'ttl_s':-5}", "bad_request" },
	{ "{'v':1,'type':'decide','request':'@R','verdict':'approve',"
	    "'ttl_s':86401}", "bad_request" },
	{ "{'v':1,'type':'decide','request':'@R','verdict':'approve',"
	    "'ttl_s':9223372036854775807}", "bad_request" },
	{ "{'v':1,'type':'decide','request':'@R','verdict':'approve',"
	    "'ttl_s':9223372036854776}", "bad_request" },
	{ "{'v':1,'type':'decide','request':'@R','verdict':'approve',"
	    "'approved':true}", "bad_request" },
	{ "{'v':1,'type':'decide','request':5,'verdict':'approve','x':'@R'}",
	    "bad_request" },
	{ "{'v':1,'type':'trust','session':'s-1','level':5,'reason':'@R'}",
	    "bad_request" },
	{ "{'v':1,'type':'trust','session':'s-1','level':-1,'reason':'@R'}",
	    "bad_request" },
	{ "{'v':1,'type':'trust','session':'s-1','level':4294967298,"
	    "'reason':'@R'}", "bad_request" },
	{ "{'v':1,'type':'trust','session':'s-1','level':-4294967294,"
	    "'reason':'@R'}", "bad_request" },
	{ "{'v':1,'type':'trust','session':'s-1','level':'4','reason':'@R'}",
	    "bad_request" },
	{ "{'v':1,'type':'trust','session':'s-1','level':1,'x':'@R'}",
	    "bad_request" },
	{ "{'v':1,'type':'trust','session':'s-9','level':1,'reason':'@R'}",
	    "not_found" },
	{ "{'v':1,'type':'posture','level':'panic','reason':'@R'}",
	    "bad_request" },
	{ "{'v':1,'type':'posture','reason':'@R'}", "bad_request" },
	{ "{'v':1,'type':'revoke','session':'s-1','grant':'@R'}",
	    "not_found" },
};

START_TEST(test_control_refused)
{
	const char *at = strstr(bad_controls[_i].frame, "@R");
	char *request = ask_payment(AGENT, "c-1", 50, 0);
	char frame[512];
	json_t *ev;

	/* put the request id in place of @R */
	if (at != NULL)
		snprintf(frame, sizeof frame, "%.*s%s%s",
		    (int) (at - bad_controls[_i].frame),
		    bad_controls[_i].frame, request, at + 2);
	else
		snprintf(frame, sizeof frame, "%s", bad_controls[_i].frame);
	control_at("op1", OP, MONO, "%s", frame);
	assert_error(reply_to(OP), bad_controls[_i].code);
	ck_assert_uint_eq(json_array_size(F.fx.events), 1);
	ev = event_of("refused");
	ck_assert_str_eq(S(ev, "code"), bad_controls[_i].code);
	ck_assert_str_eq(S(ev, "operator"), "op1");
	ck_assert_ptr_eq(reply_rec(OP)->event, ev);
	/* nothing changed */
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 1);
	ck_assert_uint_eq(F.fx.pub_count, 0);
	ask(AGENT + 1, "c-2", F.tok, "fs.read", NULL, -1);
	assert_decision(reply_to(AGENT + 1), "allow", "policy");
	ck_assert_str_eq(S(event_of("decision"), "posture"), "normal");
	free(request);
}
END_TEST

/* ---- session grants ---------------------------------------------------- */

START_TEST(test_grant_session)
{
	char *request = ask_payment(AGENT, "c-1", 50, 0);
	char *other = mint(key, "alice", SCOPE, -1, "s-2", NOW_S, 3600);
	char grant[64];
	json_t *msg, *ev;

	decide("op1", request, "approve", ",'scope':'session','ttl_s':600");
	ck_assert_str_eq(S(event_of("decision"), "decision"), "allow");
	ev = event_of("grant");
	ck_assert_str_eq(S(ev, "session"), "s-1");
	ck_assert_str_eq(S(ev, "tool"), "payments.transfer");
	ck_assert_str_eq(S(ev, "operator"), "op1");
	ck_assert_str_eq(S(ev, "request"), request);
	ck_assert_int_eq(I(ev, "ttl_s"), 600);
	ck_assert_int_eq(I(ev, "expires"), NOW_MS + 600000);
	ck_assert_uint_eq(pubs_of("session"), 1);
	snprintf(grant, sizeof grant, "%s", S(ev, "grant"));

	/* the next ask in that session is allowed by the grant */
	ask(AGENT, "c-2", F.tok, "payments.transfer", "{'amount':60}", 30000);
	msg = reply_to(AGENT);
	assert_decision(msg, "allow", "grant");
	ck_assert_str_eq(S(msg, "operator"), "op1");
	ck_assert_str_eq(S(msg, "rule"), "mid");
	ck_assert_msg(strstr(S(msg, "reason"), grant) != NULL, "reason %s",
	    S(msg, "reason"));
	ck_assert_str_eq(S(event_of("decision"), "by"), "grant");
	ck_assert_str_eq(S(event_of("decision"), "grant"), grant);
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 0);

	/* not in another session */
	ask(AGENT, "c-3", other, "payments.transfer", "{'amount':60}", 0);
	assert_decision(reply_to(AGENT), "pending", "policy");
	/* a grant never turns a policy deny into an allow */
	ask(AGENT, "c-4", F.tok, "db.query", "{'sql':'drop table t'}", 0);
	assert_decision(reply_to(AGENT), "deny", "policy");
	/* and ends with its ttl */
	ask_at(AGENT, MONO + 600000, "c-5", F.tok, "payments.transfer",
	    "{'amount':60}", 0);
	assert_decision(reply_to(AGENT), "pending", "policy");
	free(other);
	free(request);
}
END_TEST

/* A grant from one operator does not stand in for a two-person rule. */
START_TEST(test_grant_not_for_quorum)
{
	char *request = ask_payment(AGENT, "c-1", 50, 0);

	decide("op1", request, "approve", ",'scope':'session','ttl_s':600");
	ck_assert_uint_eq(events_of("grant"), 1);
	ask(AGENT, "c-2", F.tok, "payments.transfer", "{'amount':5000}", 0);
	assert_decision(reply_to(AGENT), "pending", "policy");
	ck_assert_str_eq(S(reply_to(AGENT), "rule"), "big");
	ck_assert_uint_eq(events_of("decision"), 0);
	free(request);
}
END_TEST

/* A deny, or an approval once, leaves no grant behind. */
START_TEST(test_grant_only_for_session_approve)
{
	char *request = ask_payment(AGENT, "c-1", 50, 0);

	decide("op1", request, "deny", ",'scope':'session','ttl_s':600");
	ck_assert_uint_eq(events_of("grant"), 0);
	free(request);
	request = ask_payment(AGENT, "c-2", 50, 0);
	decide("op1", request, "approve", NULL);
	ck_assert_uint_eq(events_of("grant"), 0);
	ask(AGENT, "c-3", F.tok, "payments.transfer", "{'amount':60}", 0);
	assert_decision(reply_to(AGENT), "pending", "policy");
	free(request);
}
END_TEST

START_TEST(test_revoke)
{
	char *request = ask_payment(AGENT, "c-1", 50, 0);
	char grant[64];

	decide("op1", request, "approve", ",'scope':'session','ttl_s':600");
	snprintf(grant, sizeof grant, "%s", S(event_of("grant"), "grant"));
	control_at("op2", OP, MONO, "{'v':1,'type':'revoke','session':'s-1',"
	    "'grant':'%s'}", grant);
	ck_assert(json_is_true(json_object_get(reply_to(OP), "ok")));
	ck_assert_str_eq(S(event_of("revoke"), "grant"), grant);
	ck_assert_str_eq(S(event_of("revoke"), "operator"), "op2");
	ck_assert_uint_eq(pubs_of("session"), 1);
	ask(AGENT, "c-2", F.tok, "payments.transfer", "{'amount':60}", 0);
	assert_decision(reply_to(AGENT), "pending", "policy");
	/* a second revoke finds nothing */
	control_at("op2", OP, MONO, "{'v':1,'type':'revoke','session':'s-1',"
	    "'grant':'%s'}", grant);
	assert_error(reply_to(OP), "not_found");
	free(request);
}
END_TEST

/* A revoke whose row the store refuses stays in force, and its row is
 * carried to be written when the store takes rows again. */
START_TEST(test_revoke_audit_failed)
{
	char *request = ask_payment(AGENT, "c-1", 50, 0);
	char grant[64];
	core_fx out;
	json_t *ev;
	size_t i;
	bool carried = false;

	decide("op1", request, "approve", ",'scope':'session','ttl_s':600");
	snprintf(grant, sizeof grant, "%s", S(event_of("grant"), "grant"));
	F.hold = true; /* the store refuses the revoke's row */
	control_at("op2", OP, MONO, "{'v':1,'type':'revoke','session':'s-1',"
	    "'grant':'%s'}", grant);
	F.hold = false;
	core_fx_init(&out);
	core_engine_audit_failed(F.eng, &F.fx, NOW_MS, &out);
	json_array_foreach(out.events, i, ev)
		if (strcmp(S(ev, "kind"), "revoke") == 0 &&
		    strcmp(S(ev, "grant"), grant) == 0)
			carried = true;
	ck_assert(carried);
	core_fx_fini(&out);
	ask(AGENT, "c-2", F.tok, "payments.transfer", "{'amount':60}", 0);
	assert_decision(reply_to(AGENT), "pending", "policy");
	free(request);
}
END_TEST

/* ---- trust and posture ------------------------------------------------- */

START_TEST(test_trust)
{
	json_t *msg, *ev;

	ask(AGENT, "c-1", F.tok, "fs.read", NULL, -1);
	assert_decision(reply_to(AGENT), "allow", "policy");

	control_at("op1", OP, MONO, "{'v':1,'type':'trust','session':'s-1',"
	    "'level':0,'reason':'odd behaviour'}");
	msg = reply_to(OP);
	ck_assert_str_eq(S(msg, "type"), "trust");
	ck_assert(json_is_true(json_object_get(msg, "ok")));
	ck_assert_int_eq(I(msg, "from"), 2);
	ck_assert_int_eq(I(msg, "to"), 0);
	ck_assert_uint_eq(json_array_size(F.fx.events), 1);
	ev = event_of("trust");
	ck_assert_str_eq(S(ev, "session"), "s-1");
	ck_assert_int_eq(I(ev, "from"), 2);
	ck_assert_int_eq(I(ev, "to"), 0);
	ck_assert_str_eq(S(ev, "operator"), "op1");
	ck_assert_str_eq(S(ev, "reason"), "odd behaviour");
	ck_assert_str_eq(S(ev, "user"), "alice");
	ck_assert_ptr_eq(reply_rec(OP)->event, ev);
	ck_assert_uint_eq(pubs_of("session"), 1);
	ck_assert_int_eq(I(pub_of("session"), "trust"), 0);

	/* the very next call sees it */
	ask(AGENT, "c-2", F.tok, "fs.read", NULL, -1);
	msg = reply_to(AGENT);
	assert_decision(msg, "deny", "policy");
	ck_assert_str_eq(S(msg, "rule"), "quarantine");
	ck_assert_str_eq(S(msg, "reason"), "session quarantined");
	ck_assert_int_eq(I(event_of("decision"), "trust"), 0);

	control_at("op2", OP, MONO, "{'v':1,'type':'trust','session':'s-1',"
	    "'level':4}");
	ck_assert_int_eq(I(event_of("trust"), "from"), 0);
	ck_assert_int_eq(I(event_of("trust"), "to"), 4);
	ask(AGENT, "c-3", F.tok, "fs.read", NULL, -1);
	assert_decision(reply_to(AGENT), "allow", "policy");
	ck_assert_int_eq(I(event_of("decision"), "trust"), 4);
}
END_TEST

START_TEST(test_posture)
{
	json_t *msg, *ev;

	control_at("op1", OP, MONO, "{'v':1,'type':'posture',"
	    "'level':'lockdown','reason':'incident'}");
	msg = reply_to(OP);
	ck_assert(json_is_true(json_object_get(msg, "ok")));
	ck_assert_str_eq(S(msg, "from"), "normal");
	ck_assert_str_eq(S(msg, "to"), "lockdown");
	ev = event_of("posture");
	ck_assert_str_eq(S(ev, "from"), "normal");
	ck_assert_str_eq(S(ev, "to"), "lockdown");
	ck_assert_str_eq(S(ev, "operator"), "op1");
	ck_assert_str_eq(S(ev, "reason"), "incident");
	ck_assert_uint_eq(pubs_of("posture"), 1);
	ck_assert_str_eq(S(pub_of("posture"), "posture"), "lockdown");
	ask(AGENT, "c-1", F.tok, "fs.read", NULL, -1);
	ck_assert_str_eq(S(event_of("decision"), "posture"), "lockdown");

	control_at("op2", OP, MONO, "{'v':1,'type':'posture',"
	    "'level':'elevated'}");
	ck_assert_str_eq(S(event_of("posture"), "from"), "lockdown");
	ck_assert_str_eq(S(event_of("posture"), "to"), "elevated");
}
END_TEST

START_TEST(test_hello)
{
	char *tok = mint(key, "bob", SCOPE, 4, "s-b", NOW_S, 3600);
	char *request;
	json_t *msg, *sessions, *pending, *s;
	size_t i;
	int seen = 0;

	ask(AGENT, "c-1", tok, "fs.read", NULL, -1);
	request = ask_payment(AGENT, "c-2", 50, 0);
	control_at("op1", OP, MONO, "{'v':1,'type':'hello'}");
	msg = reply_to(OP);
	ck_assert_str_eq(S(msg, "type"), "hello");
	ck_assert(json_is_true(json_object_get(msg, "ok")));
	ck_assert_str_eq(S(msg, "operator"), "op1");
	ck_assert_str_eq(S(msg, "posture"), "normal");
	ck_assert_str_eq(S(msg, "policy"), F.version);
	ck_assert_int_eq(I(msg, "server_time"), NOW_MS);
	pending = json_object_get(msg, "pending");
	ck_assert_uint_eq(json_array_size(pending), 1);
	ck_assert_str_eq(S(json_array_get(pending, 0), "request"), request);
	sessions = json_object_get(msg, "sessions");
	ck_assert_uint_eq(json_array_size(sessions), 2);
	json_array_foreach(sessions, i, s) {
		if (strcmp(S(s, "session"), "s-b") == 0) {
			ck_assert_int_eq(I(s, "trust"), 3); /* capped */
			ck_assert_str_eq(S(s, "user"), "bob");
			seen++;
		} else {
			ck_assert_str_eq(S(s, "session"), "s-1");
			ck_assert_int_eq(I(s, "trust"), 2);
			seen++;
		}
	}
	ck_assert_int_eq(seen, 2);
	/* hello is not audited */
	ck_assert_uint_eq(json_array_size(F.fx.events), 0);

	control_at("mallory", OP, MONO, "{'v':1,'type':'hello'}");
	assert_error(reply_to(OP), "not_operator");
	free(request);
	free(tok);
}
END_TEST

/* ---- replays ----------------------------------------------------------- */

START_TEST(test_replay_decided)
{
	json_t *first;
	size_t decisions = 0;
	char *other;

	ask(AGENT, "c-1", F.tok, "fs.read", "{'path':'a'}", -1);
	first = json_deep_copy(reply_to(AGENT));
	decisions += events_of("decision");
	ask(AGENT + 1, "c-1", F.tok, "fs.read", "{'path':'a'}", -1);
	ck_assert_msg(json_equal(reply_to(AGENT + 1), first),
	    "replay differs from the first decision");
	ck_assert_uint_eq(json_array_size(F.fx.events), 0);
	decisions += events_of("decision");
	ck_assert_uint_eq(decisions, 1);
	ck_assert_uint_eq(F.fx.pub_count, 0);

	/* the same id under another token is another call */
	other = mint(key, "alice", SCOPE, -1, "s-1", NOW_S, 3600);
	ask(AGENT, "c-1", other, "fs.read", "{'path':'a'}", -1);
	assert_decision(reply_to(AGENT), "allow", "policy");
	ck_assert_str_ne(S(reply_to(AGENT), "request"), S(first, "request"));
	ck_assert_uint_eq(events_of("decision"), 1);
	json_decref(first);
	free(other);
}
END_TEST

/* A reused id with other arguments is not the same call: it must not
 * borrow the first call's outcome. */
START_TEST(test_replay_other_args)
{
	char first[40];

	ask(AGENT, "c-1", F.tok, "payments.transfer", "{'amount':5}", 0);
	snprintf(first, sizeof first, "%s", S(reply_to(AGENT), "request"));
	decide("op1", first, "approve", NULL);
	ask(AGENT, "c-1", F.tok, "payments.transfer", "{'amount':5000}", 0);
	assert_decision(reply_to(AGENT), "pending", "policy");
	ck_assert_str_ne(S(reply_to(AGENT), "request"), first);
	ck_assert_str_eq(S(reply_to(AGENT), "rule"), "big");
}
END_TEST

START_TEST(test_replay_admission_denied)
{
	char *bad = bad_token(BAD_SIG);
	json_t *first;

	ask(AGENT, "c-1", bad, "fs.read", NULL, -1);
	first = json_deep_copy(reply_to(AGENT));
	ask(AGENT, "c-1", bad, "fs.read", NULL, -1);
	ck_assert(json_equal(reply_to(AGENT), first));
	ck_assert_uint_eq(json_array_size(F.fx.events), 0);
	json_decref(first);
	free(bad);
}
END_TEST

START_TEST(test_replay_pending)
{
	char *request = ask_payment(AGENT, "c-1", 50, 30000);
	json_t *a, *b;

	/* the resend parks as a second waiter: no new call, no event */
	ask(AGENT + 1, "c-1", F.tok, "payments.transfer",
	    "{'amount':50,'currency':'EUR'}", 30000);
	ck_assert_uint_eq(F.fx.reply_count, 0);
	ck_assert_uint_eq(json_array_size(F.fx.events), 0);
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 1);
	/* a resend without wait gets "pending" for the same request */
	ask(AGENT + 2, "c-1", F.tok, "payments.transfer",
	    "{'amount':50,'currency':'EUR'}", 0);
	assert_decision(reply_to(AGENT + 2), "pending", "policy");
	ck_assert_str_eq(S(reply_to(AGENT + 2), "request"), request);
	ck_assert_uint_eq(json_array_size(F.fx.events), 0);

	decide("op1", request, "approve", NULL);
	a = reply_to(AGENT);
	b = reply_to(AGENT + 1);
	assert_decision(a, "allow", "operator");
	ck_assert(json_equal(a, b));
	ck_assert_str_eq(S(b, "request"), request);
	ck_assert_uint_eq(replies_to(AGENT + 2), 0);
	ck_assert_uint_eq(events_of("decision"), 1);
	free(request);
}
END_TEST

/* Past decisions are remembered up to recent_max; older ones are
 * forgotten (the audit store still has them) and a resend of a forgotten
 * call is decided afresh. */
START_TEST(test_recent_bounded)
{
	char first[40], last[40], id[16];
	char *pending;

	F.cfg.recent_max = 16;
	core_engine_free(F.eng);
	F.eng = core_engine_new(&F.cfg, test_policy("deny"), key, KEY_LEN);
	ck_assert_ptr_nonnull(F.eng);
	pending = ask_payment(AGENT, "c-p", 50, 0);
	for (int i = 0; i < 20; i++) {
		snprintf(id, sizeof id, "c-%d", i);
		ask(AGENT, id, F.tok, "fs.read", NULL, -1);
		assert_decision(reply_to(AGENT), "allow", "policy");
		if (i == 0)
			snprintf(first, sizeof first, "%s",
			    S(reply_to(AGENT), "request"));
		snprintf(last, sizeof last, "%s", S(reply_to(AGENT),
		    "request"));
	}
	/* the newest is remembered, the oldest is not */
	ask(AGENT, "c-19", F.tok, "fs.read", NULL, -1);
	ck_assert_str_eq(S(reply_to(AGENT), "request"), last);
	ck_assert_uint_eq(json_array_size(F.fx.events), 0);
	agent_at(AGENT, MONO, "{'v':1,'type':'status','request':'%s'}",
	    first);
	assert_error(reply_to(AGENT), "not_found");
	ask(AGENT, "c-0", F.tok, "fs.read", NULL, -1);
	assert_decision(reply_to(AGENT), "allow", "policy");
	ck_assert_str_ne(S(reply_to(AGENT), "request"), first);
	ck_assert_uint_eq(events_of("decision"), 1);
	/* a pending call is not pushed out by newer decisions */
	agent_at(AGENT, MONO, "{'v':1,'type':'status','request':'%s'}",
	    pending);
	assert_decision(reply_to(AGENT), "pending", "policy");
	decide("op1", pending, "approve", NULL);
	ask(AGENT, "c-p", F.tok, "payments.transfer",
	    "{'amount':50,'currency':'EUR'}", 0);
	assert_decision(reply_to(AGENT), "allow", "operator");
	ck_assert_str_eq(S(reply_to(AGENT), "request"), pending);
	free(pending);
}
END_TEST

/* ---- core_engine_tick -------------------------------------------------- */

START_TEST(test_tick_timeout)
{
	char *request = ask_payment(AGENT, "c-1", 50, 0);
	json_t *ev;

	tick(MONO + TIMEOUT_MS - 1);
	ck_assert(core_fx_empty(&F.fx));
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 1);
	tick(MONO + TIMEOUT_MS);
	ev = event_of("decision");
	ck_assert_str_eq(S(ev, "request"), request);
	ck_assert_str_eq(S(ev, "decision"), "deny");
	ck_assert_str_eq(S(ev, "by"), "timeout");
	ck_assert_msg(strstr(S(ev, "reason"), "60s") != NULL, "%s",
	    S(ev, "reason"));
	ck_assert_int_eq(I(ev, "latency_ms"), TIMEOUT_MS);
	ck_assert_uint_eq(F.fx.reply_count, 0);
	ck_assert_uint_eq(pubs_of("resolved"), 1);
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 0);
	/* the agent polls and learns the outcome */
	agent_at(AGENT, MONO + TIMEOUT_MS, "{'v':1,'type':'status',"
	    "'request':'%s'}", request);
	assert_decision(reply_to(AGENT), "deny", "timeout");
	/* a late decide finds it decided */
	decide("op1", request, "approve", NULL);
	assert_error(reply_to(OP), "already_decided");
	free(request);
}
END_TEST

START_TEST(test_tick_timeout_parked)
{
	char *request = ask_payment(AGENT, "c-1", 250, 600000);

	decide("op1", request, "approve", NULL);
	tick(MONO + TIMEOUT_MS + 1);
	assert_decision(reply_to(AGENT), "deny", "timeout");
	ck_assert_str_eq(S(event_of("decision"), "by"), "timeout");
	free(request);
}
END_TEST

START_TEST(test_tick_on_timeout_allow)
{
	static const char *const ops[] = { "op1", "op2" };
	char *request;

	engine_start(ops, 2, 0, "allow");
	request = ask_payment(AGENT, "c-1", 50, 600000);
	tick(MONO + TIMEOUT_MS);
	assert_decision(reply_to(AGENT), "allow", "timeout");
	free(request);
}
END_TEST

START_TEST(test_tick_waiter)
{
	char *request = ask_payment(AGENT, "c-1", 50, 5000);
	json_t *msg;

	ck_assert_int_eq(core_engine_next_wake(F.eng), MONO + 5000);
	tick(MONO + 4999);
	ck_assert(core_fx_empty(&F.fx));
	tick(MONO + 5000);
	msg = reply_to(AGENT);
	assert_decision(msg, "pending", "policy");
	ck_assert_str_eq(S(msg, "request"), request);
	ck_assert_str_eq(S(msg, "id"), "c-1");
	ck_assert_uint_eq(json_array_size(F.fx.events), 0);
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 1);
	ck_assert_int_eq(core_engine_next_wake(F.eng), MONO + TIMEOUT_MS);
	/* answered once: the timeout has no one left to answer */
	tick(MONO + TIMEOUT_MS);
	ck_assert_uint_eq(F.fx.reply_count, 0);
	ck_assert_uint_eq(events_of("decision"), 1);
	free(request);
}
END_TEST

/* wait_ms is capped at max_wait_ms. */
START_TEST(test_tick_wait_capped)
{
	char *request;

	F.cfg.max_wait_ms = 2000;
	request = ask_payment(AGENT, "c-1", 50, 999999999);
	ck_assert_int_eq(core_engine_next_wake(F.eng), MONO + 2000);
	tick(MONO + 2000);
	assert_decision(reply_to(AGENT), "pending", "policy");
	free(request);
}
END_TEST

/* ---- bounds ------------------------------------------------------------ */

START_TEST(test_queue_full)
{
	static const char *const ops[] = { "op1", "op2" };
	json_t *msg, *ev;
	char *a, *b;

	engine_start(ops, 2, 2, "deny");
	a = ask_payment(AGENT, "c-1", 50, 0);
	b = ask_payment(AGENT, "c-2", 50, 30000);
	ask(AGENT + 1, "c-3", F.tok, "payments.transfer", "{'amount':50}",
	    30000);
	msg = reply_to(AGENT + 1);
	assert_decision(msg, "deny", "error");
	ck_assert_msg(strstr(S(msg, "reason"), "queue") != NULL, "reason %s",
	    S(msg, "reason"));
	ck_assert_uint_eq(json_array_size(F.fx.events), 1);
	ev = event_of("decision");
	ck_assert_str_eq(S(ev, "decision"), "deny");
	ck_assert_str_eq(S(ev, "by"), "error");
	ck_assert_uint_eq(pubs_of("pending"), 0);
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 2);
	/* policy decisions go on as before */
	ask(AGENT, "c-4", F.tok, "fs.read", NULL, -1);
	assert_decision(reply_to(AGENT), "allow", "policy");
	/* room again once one is decided */
	decide("op1", a, "deny", NULL);
	ask(AGENT + 1, "c-5", F.tok, "payments.transfer", "{'amount':50}", 0);
	assert_decision(reply_to(AGENT + 1), "pending", "policy");
	free(a);
	free(b);
}
END_TEST

START_TEST(test_waiters_full)
{
	char *request = ask_payment(AGENT, "c-1", 50, 30000);

	/* seven more resends park; the ninth gets "pending" at once */
	for (uint64_t h = 2; h <= 8; h++) {
		ask(h, "c-1", F.tok, "payments.transfer",
		    "{'amount':50,'currency':'EUR'}", 30000);
		ck_assert_uint_eq(F.fx.reply_count, 0);
	}
	ask(9, "c-1", F.tok, "payments.transfer",
	    "{'amount':50,'currency':'EUR'}", 30000);
	assert_decision(reply_to(9), "pending", "policy");
	decide("op1", request, "approve", NULL);
	for (uint64_t h = 1; h <= 8; h++)
		assert_decision(reply_to(h), "allow", "operator");
	ck_assert_uint_eq(replies_to(9), 0);
	free(request);
}
END_TEST

/* ---- status ------------------------------------------------------------ */

START_TEST(test_status)
{
	char *request = ask_payment(AGENT, "c-1", 250, 0);
	json_t *msg;

	agent_at(AGENT, MONO, "{'v':1,'type':'status','request':'%s',"
	    "'id':'poll-1'}", request);
	msg = reply_to(AGENT);
	assert_decision(msg, "pending", "policy");
	ck_assert_str_eq(S(msg, "request"), request);
	ck_assert_str_eq(S(msg, "id"), "poll-1");
	ck_assert_int_eq(I(msg, "approvals"), 0);
	ck_assert_int_eq(I(msg, "approvers"), 2);
	ck_assert_uint_eq(json_array_size(F.fx.events), 0);

	decide("op1", request, "approve", NULL);
	agent_at(AGENT, MONO, "{'v':1,'type':'status','request':'%s'}",
	    request);
	ck_assert_int_eq(I(reply_to(AGENT), "approvals"), 1);

	decide("op2", request, "approve", NULL);
	agent_at(AGENT, MONO, "{'v':1,'type':'status','request':'%s',"
	    "'id':'poll-2'}", request);
	msg = reply_to(AGENT);
	assert_decision(msg, "allow", "operator");
	ck_assert_str_eq(S(msg, "id"), "poll-2");
	ck_assert_uint_eq(json_array_size(json_object_get(msg, "operators")),
	    2);

	agent_at(AGENT, MONO, "{'v':1,'type':'status','request':'r-none'}");
	assert_error(reply_to(AGENT), "not_found");
	ck_assert_uint_eq(json_array_size(F.fx.events), 0);
	free(request);
}
END_TEST

/* ---- core_engine_set_hooks --------------------------------------------- */

/* A store lookup that knows one old request. */
static json_t *
lookup_cb(void *ud, const char *request)
{
	int *calls = ud;

	(*calls)++;
	if (strcmp(request, "r-old-000001") != 0)
		return NULL;
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I}", "kind", "decision",
	    "request", "r-old-000001", "decision", "deny", "by", "operator",
	    "operator", "carol", "seq", (json_int_t) 77);
}

/* A reload that fails with a cause, or returns policy 2. */
static pol_set *
reload_cb(void *ud, char **cause)
{
	int *mode = ud;

	if (*mode == 0) {
		*cause = strdup("policies/x.json: rules[0]: bad regex");
		return NULL;
	}
	return compile(policy2_text);
}

START_TEST(test_hooks_lookup)
{
	int calls = 0;
	json_t *msg;

	core_engine_set_hooks(F.eng, lookup_cb, NULL, &calls);
	agent_at(AGENT, MONO, "{'v':1,'type':'status',"
	    "'request':'r-old-000001','id':'p'}");
	msg = reply_to(AGENT);
	assert_decision(msg, "deny", "operator");
	ck_assert_str_eq(S(msg, "operator"), "carol");
	ck_assert_str_eq(S(msg, "id"), "p");
	ck_assert_int_eq(I(msg, "audit_seq"), 77);
	ck_assert_int_eq(calls, 1);
	agent_at(AGENT, MONO, "{'v':1,'type':'status','request':'r-x'}");
	assert_error(reply_to(AGENT), "not_found");
	ck_assert_int_eq(calls, 2);
	/* a call the engine still remembers does not reach the store */
	ask(AGENT, "c-1", F.tok, "fs.read", NULL, -1);
	agent_at(AGENT, MONO, "{'v':1,'type':'status','request':'%s'}",
	    S(event_of("decision"), "request"));
	ck_assert_int_eq(calls, 2);
}
END_TEST

START_TEST(test_hooks_reload)
{
	int mode = 0;
	json_t *ev;

	/* no hook: refused, the policy stays */
	control_at("op1", OP, MONO, "{'v':1,'type':'reload'}");
	assert_error(reply_to(OP), "policy_rejected");
	ck_assert(json_is_false(json_object_get(event_of("policy"), "ok")));

	core_engine_set_hooks(F.eng, NULL, reload_cb, &mode);
	control_at("op1", OP, MONO, "{'v':1,'type':'reload'}");
	assert_error(reply_to(OP), "policy_rejected");
	ck_assert_msg(strstr(S(reply_to(OP), "message"), "bad regex") != NULL,
	    "%s", S(reply_to(OP), "message"));
	ev = event_of("policy");
	ck_assert(json_is_false(json_object_get(ev, "ok")));
	ck_assert_str_eq(S(ev, "from"), F.version);
	ck_assert_str_eq(S(ev, "operator"), "op1");
	ck_assert_str_eq(core_engine_policy_version(F.eng), F.version);

	mode = 1;
	control_at("op2", OP, MONO, "{'v':1,'type':'reload'}");
	ck_assert(json_is_true(json_object_get(reply_to(OP), "ok")));
	ck_assert_msg(strncmp(S(reply_to(OP), "policy"), "test@2#", 7) == 0,
	    "%s", S(reply_to(OP), "policy"));
	ck_assert_str_eq(core_engine_policy_version(F.eng),
	    S(reply_to(OP), "policy"));
	ck_assert(json_is_true(json_object_get(event_of("policy"), "ok")));
	ask(AGENT, "c-1", F.tok, "shell.exec", NULL, -1);
	assert_decision(reply_to(AGENT), "allow", "policy");
	ck_assert_str_eq(S(reply_to(AGENT), "rule"), "shell");
}
END_TEST

/* ---- core_engine_next_wake / core_engine_pending_count ----------------- */

START_TEST(test_next_wake)
{
	char *a, *b;

	ck_assert_int_eq(core_engine_next_wake(F.eng), INT64_MAX);
	a = ask_payment(AGENT, "c-1", 50, 0);
	ck_assert_int_eq(core_engine_next_wake(F.eng), MONO + TIMEOUT_MS);
	b = ask_payment(AGENT + 1, "c-2", 50, 1500);
	ck_assert_int_eq(core_engine_next_wake(F.eng), MONO + 1500);
	decide("op1", b, "deny", NULL);
	ck_assert_int_eq(core_engine_next_wake(F.eng), MONO + TIMEOUT_MS);
	decide("op1", a, "deny", NULL);
	ck_assert_int_eq(core_engine_next_wake(F.eng), INT64_MAX);
	free(a);
	free(b);
}
END_TEST

START_TEST(test_pending_count)
{
	char *a, *b;

	ck_assert_uint_eq(core_engine_pending_count(F.eng), 0);
	a = ask_payment(AGENT, "c-1", 50, 0);
	b = ask_payment(AGENT, "c-2", 500, 0);
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 2);
	ask(AGENT, "c-3", F.tok, "fs.read", NULL, -1);
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 2);
	decide("op1", a, "approve", NULL);
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 1);
	decide("op1", b, "approve", NULL); /* quorum not yet met */
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 1);
	free(a);
	free(b);
}
END_TEST

/* ---- core_engine_policy_version / core_engine_policy_changed ----------- */

START_TEST(test_policy_version)
{
	ck_assert_str_eq(core_engine_policy_version(F.eng), F.version);
	ask(AGENT, "c-1", F.tok, "fs.read", NULL, -1);
	ck_assert_str_eq(S(reply_to(AGENT), "policy"),
	    core_engine_policy_version(F.eng));
}
END_TEST

START_TEST(test_policy_changed_rejected)
{
	json_t *ev;

	fx_reset();
	core_engine_policy_changed(F.eng, NULL, "test.json: bad regex",
	    "op1", NOW_MS, &F.fx);
	ck_assert_str_eq(core_engine_policy_version(F.eng), F.version);
	ev = event_of("policy");
	ck_assert(json_is_false(json_object_get(ev, "ok")));
	ck_assert_str_eq(S(ev, "from"), F.version);
	ck_assert(json_object_get(ev, "to") == NULL ||
	    json_is_null(json_object_get(ev, "to")));
	ck_assert_str_eq(S(ev, "error"), "test.json: bad regex");
	ck_assert_str_eq(S(ev, "operator"), "op1");
	ck_assert_uint_eq(pubs_of("policy"), 1);
	ck_assert(json_is_false(json_object_get(pub_of("policy"), "ok")));
	ck_assert_str_eq(S(pub_of("policy"), "policy"), F.version);
	/* the old policy keeps deciding */
	ask(AGENT, "c-1", F.tok, "fs.read", NULL, -1);
	ck_assert_str_eq(S(reply_to(AGENT), "rule"), "reads");
}
END_TEST

START_TEST(test_policy_changed_applied)
{
	pol_set *pol = compile(policy2_text);
	char version[160];
	json_t *ev;

	snprintf(version, sizeof version, "%s", pol_set_version(pol));
	fx_reset();
	core_engine_policy_changed(F.eng, pol, NULL, "SIGHUP", NOW_MS, &F.fx);
	/* in force only once its row is written */
	ck_assert_str_eq(core_engine_policy_version(F.eng), F.version);
	core_engine_committed(F.eng, &F.fx);
	ck_assert_str_eq(core_engine_policy_version(F.eng), version);
	ev = event_of("policy");
	ck_assert(json_is_true(json_object_get(ev, "ok")));
	ck_assert_str_eq(S(ev, "from"), F.version);
	ck_assert_str_eq(S(ev, "to"), version);
	ck_assert(json_object_get(ev, "error") == NULL ||
	    json_is_null(json_object_get(ev, "error")));
	ask(AGENT, "c-1", F.tok, "fs.read", NULL, -1);
	assert_decision(reply_to(AGENT), "deny", "policy");
	ck_assert_str_eq(S(reply_to(AGENT), "policy"), version);
}
END_TEST

/* A call pending under the old policy is still decided after a reload. */
START_TEST(test_policy_changed_pending_survives)
{
	char *request = ask_payment(AGENT, "c-1", 50, 30000);

	fx_reset();
	core_engine_policy_changed(F.eng, compile(policy2_text), NULL, "op1",
	    NOW_MS, &F.fx);
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 1);
	decide("op1", request, "approve", NULL);
	assert_decision(reply_to(AGENT), "allow", "operator");
	ck_assert_str_eq(S(reply_to(AGENT), "policy"), F.version);
	free(request);
}
END_TEST

/* ---- core_engine_close_stale ------------------------------------------- */

START_TEST(test_close_stale)
{
	json_t *stale = json_pack("{s:s, s:I, s:I, s:s, s:s, s:s, s:s, s:{}, "
	    "s:s, s:I}", "kind", "pending", "seq", (json_int_t) 7, "ts",
	    (json_int_t) NOW_MS - 5000, "request", "r-old-000001", "tool",
	    "fs.write", "session", "s-9", "rule", "mid", "args", "user",
	    "alice", "received", (json_int_t) NOW_MS - 5000);
	json_t *ev;

	fx_reset();
	core_engine_close_stale(F.eng, stale, NOW_MS, &F.fx);
	ck_assert_uint_eq(json_array_size(F.fx.events), 1);
	ev = event_of("decision");
	ck_assert_str_eq(S(ev, "request"), "r-old-000001");
	ck_assert_str_eq(S(ev, "decision"), "deny");
	ck_assert_str_eq(S(ev, "by"), "error");
	ck_assert_str_eq(S(ev, "reason"), "restart");
	ck_assert_str_eq(S(ev, "tool"), "fs.write");
	ck_assert_int_eq(I(ev, "ts"), NOW_MS);
	ck_assert_int_eq(I(ev, "latency_ms"), 5000);
	ck_assert_ptr_null(json_object_get(ev, "seq"));
	ck_assert_uint_eq(F.fx.reply_count, 0);
	ck_assert_uint_eq(pubs_of("resolved"), 1);
	/* the event passed in is not modified */
	ck_assert_str_eq(S(stale, "kind"), "pending");
	ck_assert_int_eq(I(stale, "seq"), 7);
	json_decref(stale);
	/* a poll for it learns the outcome */
	agent_at(AGENT, MONO, "{'v':1,'type':'status',"
	    "'request':'r-old-000001'}");
	assert_decision(reply_to(AGENT), "deny", "error");
	ck_assert_str_eq(S(reply_to(AGENT), "reason"), "restart");
}
END_TEST

/* ---- core_engine_shutdown ---------------------------------------------- */

START_TEST(test_shutdown)
{
	char *a = ask_payment(5, "c-1", 50, 60000);
	char *b = ask_payment(6, "c-2", 250, 0);
	size_t i;
	json_t *ev;

	fx_reset();
	core_engine_shutdown(F.eng, NOW_MS + 10, &F.fx);
	ck_assert_uint_eq(events_of("decision"), 2);
	json_array_foreach(F.fx.events, i, ev) {
		ck_assert_str_eq(S(ev, "decision"), "deny");
		ck_assert_str_eq(S(ev, "by"), "error");
		ck_assert_str_eq(S(ev, "reason"), "shutdown");
	}
	assert_decision(reply_to(5), "deny", "error");
	ck_assert_str_eq(S(reply_to(5), "reason"), "shutdown");
	ck_assert_str_eq(S(reply_to(5), "request"), a);
	ck_assert_uint_eq(replies_to(6), 0);
	ck_assert_uint_eq(pubs_of("resolved"), 2);
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 0);
	/* nothing left */
	fx_reset();
	core_engine_shutdown(F.eng, NOW_MS + 20, &F.fx);
	ck_assert(core_fx_empty(&F.fx));
	free(a);
	free(b);
}
END_TEST

/* The store refused fx's rows: what the writer does then (the follow-up
 * effects are dropped). */
static void
store_refused(core_fx *fx)
{
	core_fx out;

	core_fx_init(&out);
	core_engine_audit_failed(F.eng, fx, NOW_MS, &out);
	core_fx_fini(&out);
	core_engine_settle_past(F.eng, fx); /* as the daemon's writer does */
}

/* Rebuild the engine with max_sessions_per_delegation set to max. */
static void
engine_restart_delegation_max(size_t max)
{
	core_engine_free(F.eng);
	F.cfg.max_sessions_per_delegation = max;
	F.eng = core_engine_new(&F.cfg, test_policy("deny"), key, KEY_LEN);
	ck_assert_ptr_nonnull(F.eng);
}

/* jansson's allocator, failing once alloc_left allocations have been
 * made (never while it is negative). */
static int alloc_left = -1;

static void *
failing_malloc(size_t n)
{
	if (alloc_left == 0)
		return NULL;
	if (alloc_left > 0)
		alloc_left--;
	return malloc(n);
}

/* Out of memory at any point of an operator's decision: either the call
 * is still pending with its waiters parked, or every waiter is answered
 * (no agent waits for an answer that will never come). */
START_TEST(test_decide_oom_answers_every_waiter)
{
	for (int n = 0; n < 600; n++) {
		char id[16], *request;
		size_t pending;

		snprintf(id, sizeof id, "o-%d", n);
		request = ask_payment(AGENT, id, 50, 30000);
		ask(AGENT + 1, id, F.tok, "payments.transfer",
		    "{'amount':50,'currency':'EUR'}", 30000);
		ck_assert_uint_eq(replies_to(AGENT + 1), 0);
		pending = core_engine_pending_count(F.eng);
		json_set_alloc_funcs(failing_malloc, free);
		alloc_left = n;
		F.hold = true;
		control_at("op1", OP, MONO, "{'v':1,'type':'decide',"
		    "'request':'%s','verdict':'approve'}", request);
		alloc_left = -1;
		json_set_alloc_funcs(malloc, free);
		F.hold = false;
		if (core_engine_pending_count(F.eng) == pending) {
			/* not decided: decide it now, and the waiters hear */
			decide("op1", request, "approve", NULL);
		}
		ck_assert_msg(replies_to(AGENT) == 1 &&
		    replies_to(AGENT + 1) == 1, "fail at allocation %d: %zu "
		    "and %zu replies to the waiters", n, replies_to(AGENT),
		    replies_to(AGENT + 1));
		ck_assert_uint_eq(core_engine_pending_count(F.eng),
		    pending - 1);
		free(request);
	}
}
END_TEST

/* The token's purpose is the one the human delegated: an agent that says
 * another in context.purpose has it recorded beside, and decides nothing
 * with it; without one in the token, the call's own is the purpose. */
START_TEST(test_purpose_from_token)
{
	core_tok_mint_opts o = {
		.user = "alice", .agent = "bot", .scope = SCOPE,
		.ttl_s = 3600, .trust = -1, .purpose = "pay invoice 7781",
	};
	char *tok = NULL, *cause = NULL;
	json_t *ev;

	ck_assert_cs_ok(core_tok_mint(key, KEY_LEN, &o, NOW_S, &tok, &cause),
	    cause);
	agent_at(AGENT, MONO, "{'v':1,'type':'authorize','token':'%s',"
	    "'session':'pp-1','tool':'fs.read','context':{'purpose':"
	    "'cleanup, approved by security'}}", tok);
	ev = event_of("decision");
	ck_assert_str_eq(S(ev, "purpose"), "pay invoice 7781");
	ck_assert_str_eq(S(ev, "stated_purpose"),
	    "cleanup, approved by security");
	agent_at(AGENT, MONO, "{'v':1,'type':'authorize','token':'%s',"
	    "'session':'pp-1','tool':'fs.read','context':{'purpose':"
	    "'pay invoice 7781'}}", tok);
	ck_assert_ptr_null(json_object_get(event_of("decision"),
	    "stated_purpose"));
	/* F.tok has none: the call's purpose is the purpose */
	agent_at(AGENT, MONO, "{'v':1,'type':'authorize','token':'%s',"
	    "'tool':'fs.read','context':{'purpose':'notify'}}", F.tok);
	ck_assert_str_eq(S(event_of("decision"), "purpose"), "notify");
	free(tok);
}
END_TEST

/* One delegation holds at most three quarters of the agent contexts in
 * waits: past that its calls are answered "pending" at once, and another
 * delegation's call still waits. */
START_TEST(test_park_share)
{
	char *bob = mint(key, "bob", SCOPE, -1, NULL, NOW_S, 3600);

	core_engine_free(F.eng);
	F.cfg.agent_contexts = 4;
	F.eng = core_engine_new(&F.cfg, test_policy("deny"), key, KEY_LEN);
	ck_assert_ptr_nonnull(F.eng);
	for (int i = 0; i < 3; i++) {
		char id[16];

		snprintf(id, sizeof id, "p-%d", i);
		free(ask_payment(10 + (uint64_t) i, id, 50 + i, 30000));
		ck_assert_uint_eq(replies_to(10 + (uint64_t) i), 0);
	}
	free(ask_payment(13, "p-3", 60, 30000));
	ck_assert_str_eq(S(reply_to(13), "decision"), "pending");
	/* a resend of a parked call is not parked either */
	ask(14, "p-0", F.tok, "payments.transfer",
	    "{'amount':50,'currency':'EUR'}", 30000);
	ck_assert_str_eq(S(reply_to(14), "decision"), "pending");
	agent_at(15, MONO, "{'v':1,'type':'authorize','token':'%s',"
	    "'session':'b-1','tool':'payments.transfer','args':{'amount':50},"
	    "'wait_ms':30000}", bob);
	ck_assert_uint_eq(replies_to(15), 0);
	free(bob);
}
END_TEST

/* ---- sessions per delegation ------------------------------------------ */

/* A delegation at max_sessions_per_delegation cannot forget a session
 * with a call waiting; once it is decided, it can. */
START_TEST(test_sessions_per_delegation)
{
	char *tok = mint(key, "alice", SCOPE, -1, NULL, NOW_S, 3600);
	char request[40];
	json_t *msg;

	engine_restart_delegation_max(1);
	agent_at(AGENT, MONO, "{'v':1,'type':'authorize','token':'%s',"
	    "'session':'x-1','tool':'payments.transfer','args':{'amount':50},"
	    "'wait_ms':0}", tok);
	ck_assert_str_eq(S(reply_to(AGENT), "decision"), "pending");
	snprintf(request, sizeof request, "%s", S(reply_to(AGENT), "request"));
	agent_at(AGENT, MONO, "{'v':1,'type':'authorize','token':'%s',"
	    "'session':'x-2','tool':'fs.read'}", tok);
	msg = reply_to(AGENT);
	assert_decision(msg, "deny", "error");
	ck_assert_msg(strstr(S(msg, "reason"), "max_sessions_per_delegation") !=
	    NULL, "%s", S(msg, "reason"));
	decide("op1", request, "approve", NULL);
	agent_at(AGENT, MONO, "{'v':1,'type':'authorize','token':'%s',"
	    "'session':'x-2','tool':'fs.read'}", tok);
	assert_decision(reply_to(AGENT), "allow", "policy");
	free(tok);
}
END_TEST

/* Many calls with big arguments waiting: every call is in the snapshot,
 * the arguments of those past the budget (6 MiB) replaced by their size,
 * so that 1,000 calls of 32 KB would still fit a client's 16 MiB. */
START_TEST(test_snapshot_pending_bound)
{
	char *memo = malloc(12001), *text;
	json_t *msg, *v;
	size_t i, elided = 0, full = 0;

	memset(memo, 'm', 12000);
	memo[12000] = '\0';
	for (int k = 0; k < 600; k++) {
		char id[16];

		snprintf(id, sizeof id, "big-%d", k);
		agent_at(AGENT, MONO, "{'v':1,'type':'authorize','id':'%s',"
		    "'token':'%s','tool':'payments.transfer',"
		    "'args':{'amount':50,'memo':'%s'},'wait_ms':0}", id, F.tok,
		    memo);
		ck_assert_str_eq(S(reply_to(AGENT), "decision"), "pending");
	}
	control_at("op1", OP, MONO, "{'v':1,'type':'hello'}");
	msg = reply_to(OP);
	ck_assert_uint_eq(json_array_size(json_object_get(msg, "pending")), 600);
	json_array_foreach(json_object_get(msg, "pending"), i, v) {
		if (json_is_integer(json_object_get(v, "args_elided"))) {
			ck_assert(json_is_null(json_object_get(v, "args")));
			elided++;
		} else {
			ck_assert_uint_eq(strlen(S(json_object_get(v, "args"),
			    "memo")), 12000);
			full++;
		}
	}
	ck_assert_uint_gt(full, 400);
	ck_assert_uint_gt(elided, 0);
	text = json_dumps(msg, JSON_COMPACT);
	ck_assert_uint_lt(strlen(text), 16u << 20);
	free(text);
	free(memo);
}
END_TEST

/* A session whose trust change waits for its row is not forgotten before
 * the change is in force (a quarantine would otherwise miss it); once the
 * store refuses the change, it may be. */
START_TEST(test_sessions_held_by_change)
{
	char *tok = mint(key, "alice", SCOPE, -1, NULL, NOW_S, 3600);

	engine_restart_delegation_max(1);
	agent_at(AGENT, MONO, "{'v':1,'type':'authorize','token':'%s',"
	    "'session':'x-1','tool':'fs.read'}", tok);
	assert_decision(reply_to(AGENT), "allow", "policy");
	F.hold = true;
	control_at("op1", OP, MONO, "{'v':1,'type':'trust','session':'x-1',"
	    "'level':0}");
	{
		core_fx change = F.fx;

		core_fx_init(&F.fx);
		agent_at(AGENT, MONO, "{'v':1,'type':'authorize','token':'%s',"
		    "'session':'x-2','tool':'fs.read'}", tok);
		assert_decision(reply_to(AGENT), "deny", "error");
		store_refused(&change);
		core_fx_fini(&change);
	}
	agent_at(AGENT, MONO, "{'v':1,'type':'authorize','token':'%s',"
	    "'session':'x-2','tool':'fs.read'}", tok);
	assert_decision(reply_to(AGENT), "allow", "policy");
	free(tok);
}
END_TEST

/* A snapshot lists the 10,000 most recently active sessions and says how
 * many there are. */
START_TEST(test_snapshot_sessions_bound)
{
	char *tok = mint(key, "alice", SCOPE, -1, NULL, NOW_S, 3600);
	json_t *msg, *sessions;
	bool newest = false, oldest = false;
	size_t i;
	json_t *v;

	engine_restart_delegation_max(0);
	for (int k = 0; k < 10005; k++)
		agent_at(AGENT, MONO + k, "{'v':1,'type':'authorize',"
		    "'token':'%s','session':'x-%d','tool':'fs.read'}", tok, k);
	control_at("op1", OP, MONO + 20000, "{'v':1,'type':'hello'}");
	msg = reply_to(OP);
	sessions = json_object_get(msg, "sessions");
	ck_assert_uint_eq(json_array_size(sessions), 10000);
	ck_assert_int_eq(I(msg, "sessions_total"), 10005);
	json_array_foreach(sessions, i, v) {
		newest |= strcmp(S(v, "session"), "x-10004") == 0;
		oldest |= strcmp(S(v, "session"), "x-0") == 0;
	}
	ck_assert(newest);
	ck_assert(!oldest);
	free(tok);
}
END_TEST

/* ---- the same call from many threads at once ------------------------- */

#define RACE_THREADS 8
#define RACE_ROUNDS 150

struct racer {
	pthread_barrier_t *start;
	const char *const *frames; /* one per round */
	char request[RACE_ROUNDS][40];
	size_t decisions;          /* decision events among its effects */
};

static void *
racer_main(void *arg)
{
	struct racer *r = arg;

	for (int i = 0; i < RACE_ROUNDS; i++) {
		core_fx fx;

		core_fx_init(&fx);
		pthread_barrier_wait(r->start);
		core_engine_agent_msg(F.eng, r->frames[i], strlen(r->frames[i]),
		    AGENT, NOW_MS, MONO, &fx);
		if (fx.reply_count == 1)
			snprintf(r->request[i], 40, "%s", json_string_value(
			    json_object_get(fx.replies[0].msg, "request")));
		for (size_t k = 0; k < json_array_size(fx.events); k++)
			if (strcmp(json_string_value(json_object_get(
			    json_array_get(fx.events, k), "kind")),
			    "decision") == 0)
				r->decisions++;
		core_fx_fini(&fx);
	}
	return NULL;
}

/* A call resent while its token (new to the engine) is being verified is
 * answered with the first one's decision, never decided twice. */
START_TEST(test_replay_race)
{
	static struct racer racers[RACE_THREADS];
	pthread_t th[RACE_THREADS];
	pthread_barrier_t start;
	char *frames[RACE_ROUNDS];
	size_t decisions = 0;

	for (int i = 0; i < RACE_ROUNDS; i++) {
		char sid[32];
		char *tok;

		/* a token the engine has not seen: verified with the lock
		 * released */
		snprintf(sid, sizeof sid, "race-%d", i);
		tok = mint(key, "alice", SCOPE, -1, sid, NOW_S, 3600);
		frames[i] = q("{'v':1,'type':'authorize','id':'dup',"
		    "'token':'@T','tool':'fs.read'}");
		{
			char *at = strstr(frames[i], "@T");
			char *f = cs_asprintf("%.*s%s%s", (int) (at - frames[i]),
			    frames[i], tok, at + 2);

			free(frames[i]);
			frames[i] = f;
		}
		free(tok);
	}
	pthread_barrier_init(&start, NULL, RACE_THREADS);
	for (int t = 0; t < RACE_THREADS; t++) {
		memset(&racers[t], 0, sizeof racers[t]);
		racers[t].start = &start;
		racers[t].frames = (const char *const *) frames;
		ck_assert_int_eq(pthread_create(&th[t], NULL, racer_main,
		    &racers[t]), 0);
	}
	for (int t = 0; t < RACE_THREADS; t++)
		pthread_join(th[t], NULL);
	pthread_barrier_destroy(&start);
	for (int i = 0; i < RACE_ROUNDS; i++) {
		for (int t = 1; t < RACE_THREADS; t++)
			ck_assert_msg(strcmp(racers[t].request[i],
			    racers[0].request[i]) == 0, "round %d: requests "
			    "%s and %s for one call", i, racers[0].request[i],
			    racers[t].request[i]);
		free(frames[i]);
	}
	for (int t = 0; t < RACE_THREADS; t++)
		decisions += racers[t].decisions;
	ck_assert_uint_eq(decisions, RACE_ROUNDS);
}
END_TEST

/* ---- core_engine_committed --------------------------------------------- */

/* An allowed fs.read with client id id, its row committed as seq: the
 * store numbers the event and the engine remembers it. Its request id
 * goes to request. */
static void
read_committed(const char *id, long long seq, char request[40])
{
	ask(AGENT, id, F.tok, "fs.read", NULL, -1);
	snprintf(request, 40, "%s", S(reply_to(AGENT), "request"));
	json_object_set_new(json_array_get(F.fx.events, 0), "seq",
	    json_integer(seq));
	core_engine_committed(F.eng, &F.fx);
}

START_TEST(test_committed)
{
	char request[40];
	json_t *msg;

	read_committed("c-1", 1234, request);
	ask(AGENT, "c-1", F.tok, "fs.read", NULL, -1);
	msg = reply_to(AGENT);
	ck_assert_int_eq(I(msg, "audit_seq"), 1234);
	ck_assert_str_eq(S(msg, "request"), request);
	agent_at(AGENT, MONO, "{'v':1,'type':'status','request':'%s'}",
	    request);
	ck_assert_int_eq(I(reply_to(AGENT), "audit_seq"), 1234);
}
END_TEST

/* Two calls committed as one batch: each remembers its own row's seq. */
START_TEST(test_committed_many)
{
	char first[40], second[40];
	core_fx held, *both[2];

	ask(AGENT, "c-1", F.tok, "fs.read", NULL, -1);
	snprintf(first, sizeof first, "%s", S(reply_to(AGENT), "request"));
	json_object_set_new(json_array_get(F.fx.events, 0), "seq",
	    json_integer(77));
	held = F.fx; /* taken out, so that the next call has its own */
	core_fx_init(&F.fx);
	ask(AGENT, "c-2", F.tok, "fs.read", NULL, -1);
	snprintf(second, sizeof second, "%s", S(reply_to(AGENT), "request"));
	ck_assert_str_ne(first, second);
	json_object_set_new(json_array_get(F.fx.events, 0), "seq",
	    json_integer(78));
	both[0] = &held;
	both[1] = &F.fx;
	core_engine_committed_many(F.eng, both, 2);
	core_fx_fini(&held);
	agent_at(AGENT, MONO, "{'v':1,'type':'status','request':'%s'}",
	    first);
	ck_assert_int_eq(I(reply_to(AGENT), "audit_seq"), 77);
	agent_at(AGENT, MONO, "{'v':1,'type':'status','request':'%s'}",
	    second);
	ck_assert_int_eq(I(reply_to(AGENT), "audit_seq"), 78);
}
END_TEST

/* A pending event's seq is not a decision's. */
START_TEST(test_committed_pending)
{
	char *request = ask_payment(AGENT, "c-1", 50, 0);

	json_object_set_new(json_array_get(F.fx.events, 0), "seq",
	    json_integer(5));
	core_engine_committed(F.eng, &F.fx);
	decide("op1", request, "approve", NULL);
	agent_at(AGENT, MONO, "{'v':1,'type':'status','request':'%s'}",
	    request);
	ck_assert_ptr_null(json_object_get(reply_to(AGENT), "audit_seq"));
	free(request);
}
END_TEST

/* ---- core_engine_audit_failed ------------------------------------------ */

START_TEST(test_audit_failed_allow)
{
	core_fx out;
	json_t *msg;

	ask(AGENT, "c-1", F.tok, "fs.read", NULL, -1);
	core_fx_init(&out);
	core_engine_audit_failed(F.eng, &F.fx, NOW_MS, &out);
	ck_assert(out.fallback);
	msg = reply_to(AGENT);
	ck_assert_str_eq(S(msg, "decision"), "deny");
	ck_assert_str_eq(S(msg, "by"), "error");
	ck_assert_str_eq(S(msg, "reason"), "audit_unavailable");
	ck_assert_uint_eq(out.reply_count, 0);
	core_fx_fini(&out);
	/* a replay or a poll gets the deny, not the allow */
	ask(AGENT, "c-1", F.tok, "fs.read", NULL, -1);
	ck_assert_str_eq(S(reply_to(AGENT), "decision"), "deny");
	ck_assert_str_eq(S(reply_to(AGENT), "reason"), "audit_unavailable");
}
END_TEST

/* A call resent, or polled, after its allow was committed rides in a
 * batch whose commit fails: it is still answered allow, as its row says,
 * and the remembered decision stays allow. */
START_TEST(test_audit_failed_committed_replay)
{
	char request[40];
	json_t *msg;

	read_committed("c-1", 77, request);
	ask(AGENT, "c-1", F.tok, "fs.read", NULL, -1);
	ck_assert(reply_rec(AGENT)->durable);
	store_refused(&F.fx);
	msg = reply_to(AGENT);
	assert_decision(msg, "allow", "policy");
	ck_assert_str_eq(S(msg, "request"), request);
	ck_assert_int_eq(I(msg, "audit_seq"), 77);
	agent_at(AGENT, MONO, "{'v':1,'type':'status','request':'%s'}",
	    request);
	ck_assert(reply_rec(AGENT)->durable);
	store_refused(&F.fx);
	assert_decision(reply_to(AGENT), "allow", "policy");
	/* a decision not yet committed is not an answer yet: whether its
	 * own row is written decides, not the batch the resend rides in */
	ask(AGENT, "c-2", F.tok, "fs.read", NULL, -1);
	ask(AGENT, "c-2", F.tok, "fs.read", NULL, -1);
	ck_assert(!reply_rec(AGENT)->durable);
	store_refused(&F.fx);
	ck_assert_str_eq(S(reply_to(AGENT), "decision"), "pending");
}
END_TEST

/* A resent call or a status read answered from a decision whose row is
 * not committed yet is settled just before it is sent: "pending" while
 * the row is not written, the decision once it is. */
START_TEST(test_settle_past)
{
	core_fx first;
	char request[40];

	ask(AGENT, "c-1", F.tok, "fs.read", NULL, -1);
	snprintf(request, sizeof request, "%s", S(reply_to(AGENT),
	    "request"));
	first = F.fx; /* the decision's row, not committed */
	core_fx_init(&F.fx);
	ask(AGENT, "c-1", F.tok, "fs.read", NULL, -1);
	ck_assert(!reply_rec(AGENT)->durable);
	ck_assert_str_eq(reply_rec(AGENT)->past, request);
	assert_decision(reply_to(AGENT), "allow", "policy");
	core_engine_settle_past(F.eng, &F.fx);
	ck_assert_str_eq(S(reply_to(AGENT), "decision"), "pending");
	ck_assert_str_eq(S(reply_to(AGENT), "id"), "c-1");
	ck_assert_str_eq(reply_rec(AGENT)->past, "");
	/* once the row is in, the same read settles to the decision */
	json_object_set_new(json_array_get(first.events, 0), "seq",
	    json_integer(41));
	core_engine_committed(F.eng, &first);
	core_fx_fini(&first);
	agent_at(AGENT, MONO, "{'v':1,'type':'status','request':'%s'}",
	    request);
	ck_assert(reply_rec(AGENT)->durable);
	core_engine_settle_past(F.eng, &F.fx);
	assert_decision(reply_to(AGENT), "allow", "policy");
}
END_TEST

/* A decision's reply comes rendered (the daemon sends it with audit_seq
 * appended); an audit failure changes the reply and drops the rendering. */
START_TEST(test_reply_text)
{
	core_fx out;
	const core_reply *r;
	char *want;

	ask(AGENT, "c-1", F.tok, "fs.read", "{\"path\": \"/workspace/a\"}", -1);
	r = reply_rec(AGENT);
	ck_assert_ptr_nonnull(r->text);
	want = json_dumps(r->msg, JSON_COMPACT);
	ck_assert_str_eq(r->text, want);
	ck_assert_ptr_null(strstr(r->text, "audit_seq"));
	free(want);
	core_fx_init(&out);
	core_engine_audit_failed(F.eng, &F.fx, NOW_MS, &out);
	r = reply_rec(AGENT);
	ck_assert_ptr_null(r->text);
	ck_assert_str_eq(S(r->msg, "decision"), "deny");
	core_fx_fini(&out);
}
END_TEST

START_TEST(test_audit_failed_deny_kept)
{
	core_fx out;
	json_t *msg, *ev;

	ask(AGENT, "c-1", F.tok, "shell.exec", NULL, -1);
	core_fx_init(&out);
	core_engine_audit_failed(F.eng, &F.fx, NOW_MS, &out);
	msg = reply_to(AGENT);
	ck_assert_str_eq(S(msg, "decision"), "deny");
	ck_assert_str_eq(S(msg, "by"), "policy");
	/* the row owed says what the agent was told */
	ck_assert_uint_eq(json_array_size(out.events), 1);
	ev = json_array_get(out.events, 0);
	ck_assert_str_eq(S(ev, "kind"), "decision");
	ck_assert_str_eq(S(ev, "decision"), "deny");
	ck_assert_str_eq(S(ev, "by"), "policy");
	ck_assert_str_eq(S(ev, "reason"), S(msg, "reason"));
	ck_assert_str_eq(S(ev, "request"), S(msg, "request"));
	core_fx_fini(&out);
}
END_TEST

/* A refused frame is answered as it was, so its row is owed too. */
START_TEST(test_audit_failed_error_row_kept)
{
	core_fx out;
	json_t *msg, *ev;

	agent_at(AGENT, MONO, "%s", "{'v':1,'type':'zzz'}");
	core_fx_init(&out);
	core_engine_audit_failed(F.eng, &F.fx, NOW_MS, &out);
	msg = reply_to(AGENT);
	assert_error(msg, "unknown_type");
	ck_assert_uint_eq(json_array_size(out.events), 1);
	ev = json_array_get(out.events, 0);
	ck_assert_str_eq(S(ev, "kind"), "error");
	ck_assert_str_eq(S(ev, "code"), "unknown_type");
	ck_assert_str_eq(S(ev, "request"), S(msg, "request"));
	core_fx_fini(&out);
}
END_TEST

START_TEST(test_audit_failed_pending)
{
	core_fx out;
	json_t *ev;
	char *request = ask_payment(AGENT, "c-1", 50, 0);

	ck_assert_uint_eq(core_engine_pending_count(F.eng), 1);
	core_fx_init(&out);
	core_engine_audit_failed(F.eng, &F.fx, NOW_MS, &out);
	/* the "pending" answer becomes a deny ... */
	ck_assert_str_eq(S(reply_to(AGENT), "decision"), "deny");
	ck_assert_str_eq(S(reply_to(AGENT), "reason"), "audit_unavailable");
	/* ... and the call is closed, with its own event */
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 0);
	ck_assert_uint_eq(json_array_size(out.events), 1);
	ev = json_array_get(out.events, 0);
	ck_assert_str_eq(S(ev, "kind"), "decision");
	ck_assert_str_eq(S(ev, "request"), request);
	ck_assert_str_eq(S(ev, "decision"), "deny");
	ck_assert_str_eq(S(ev, "by"), "error");
	ck_assert_str_eq(S(ev, "reason"), "audit_unavailable");
	ck_assert(out.fallback);
	core_fx_fini(&out);
	free(request);
}
END_TEST

START_TEST(test_audit_failed_parked)
{
	core_fx out;
	char *request = ask_payment(AGENT, "c-1", 50, 30000);

	core_fx_init(&out);
	core_engine_audit_failed(F.eng, &F.fx, NOW_MS, &out);
	ck_assert_uint_eq(out.reply_count, 1);
	ck_assert_uint_eq(out.replies[0].handle, AGENT);
	assert_decision(out.replies[0].msg, "deny", "error");
	ck_assert_str_eq(S(out.replies[0].msg, "reason"),
	    "audit_unavailable");
	ck_assert_str_eq(S(out.replies[0].msg, "request"), request);
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 0);
	core_fx_fini(&out);
	free(request);
}
END_TEST

START_TEST(test_audit_failed_decide)
{
	core_fx out;
	char *request = ask_payment(AGENT, "c-1", 50, 30000);

	decide("op1", request, "approve", NULL);
	assert_decision(reply_to(AGENT), "allow", "operator");
	core_fx_init(&out);
	core_engine_audit_failed(F.eng, &F.fx, NOW_MS, &out);
	ck_assert_str_eq(S(reply_to(AGENT), "decision"), "deny");
	ck_assert_str_eq(S(reply_to(AGENT), "by"), "error");
	ck_assert_str_eq(S(reply_to(AGENT), "reason"), "audit_unavailable");
	assert_error(reply_to(OP), "audit_unavailable");
	core_fx_fini(&out);
	/* a late poll sees the deny */
	agent_at(AGENT, MONO, "{'v':1,'type':'status','request':'%s'}",
	    request);
	ck_assert_str_eq(S(reply_to(AGENT), "decision"), "deny");
	free(request);
}
END_TEST

/* Changes wait for their rows: two posture changes in flight, both
 * refused by the store in the order they were made, leave the posture
 * that was last written; one refused and the next written leaves that. */
START_TEST(test_audit_failed_changes_in_order)
{
	core_fx a;

	control_at("op1", OP, MONO, "{'v':1,'type':'posture',"
	    "'level':'lockdown'}");
	F.hold = true;
	control_at("op1", OP, MONO, "{'v':1,'type':'posture',"
	    "'level':'normal'}");
	/* not in force before its row is written */
	ask(AGENT, "c-1", F.tok, "fs.read", NULL, -1);
	ck_assert_str_eq(S(event_of("decision"), "posture"), "lockdown");
	control_at("op1", OP, MONO, "{'v':1,'type':'posture',"
	    "'level':'normal'}");
	a = F.fx;
	core_fx_init(&F.fx);
	control_at("op1", OP, MONO, "{'v':1,'type':'posture',"
	    "'level':'elevated'}");
	store_refused(&a);
	store_refused(&F.fx);
	core_fx_fini(&a);
	ask(AGENT, "c-2", F.tok, "fs.read", NULL, -1);
	ck_assert_str_eq(S(event_of("decision"), "posture"), "lockdown");

	/* the first refused, the second written: the second is in force */
	control_at("op1", OP, MONO, "{'v':1,'type':'posture',"
	    "'level':'normal'}");
	a = F.fx;
	core_fx_init(&F.fx);
	control_at("op1", OP, MONO, "{'v':1,'type':'posture',"
	    "'level':'elevated'}");
	store_refused(&a);
	core_engine_committed(F.eng, &F.fx);
	core_fx_fini(&a);
	ask(AGENT, "c-3", F.tok, "fs.read", NULL, -1);
	ck_assert_str_eq(S(event_of("decision"), "posture"), "elevated");
}
END_TEST

/* A trust change and a reload refused by the store never take effect. */
START_TEST(test_audit_failed_trust_reload)
{
	json_t *sess;
	int mode = 1;

	ask(AGENT, "c-1", F.tok, "fs.read", NULL, -1);
	F.hold = true;
	control_at("op1", OP, MONO, "{'v':1,'type':'trust','session':'s-1',"
	    "'level':0}");
	store_refused(&F.fx);
	assert_error(reply_to(OP), "audit_unavailable");
	sess = snapshot_session("s-1");
	ck_assert_int_eq(I(sess, "trust"), 2);
	json_decref(sess);
	ask(AGENT, "c-2", F.tok, "fs.read", NULL, -1);
	assert_decision(reply_to(AGENT), "allow", "policy");

	core_engine_set_hooks(F.eng, NULL, reload_cb, &mode);
	control_at("op1", OP, MONO, "{'v':1,'type':'reload'}");
	store_refused(&F.fx);
	assert_error(reply_to(OP), "audit_unavailable");
	ck_assert_str_eq(core_engine_policy_version(F.eng), F.version);
	ask(AGENT, "c-3", F.tok, "shell.exec", NULL, -1);
	assert_decision(reply_to(AGENT), "deny", "policy");
}
END_TEST

/* An approval toward a quorum whose row was not written does not count:
 * the same operator may approve again, and one more does not decide. */
START_TEST(test_audit_failed_approval)
{
	char *request = ask_payment(AGENT, "c-1", 250, 60000);

	F.hold = true;
	decide("op1", request, "approve", NULL);
	ck_assert_str_eq(S(reply_to(OP), "state"), "awaiting_quorum");
	store_refused(&F.fx);
	assert_error(reply_to(OP), "audit_unavailable");
	F.hold = false;
	decide("op2", request, "approve", NULL);
	ck_assert_str_eq(S(reply_to(OP), "state"), "awaiting_quorum");
	ck_assert_int_eq(I(reply_to(OP), "approvals"), 1);
	ck_assert_uint_eq(core_engine_pending_count(F.eng), 1);
	decide("op1", request, "approve", NULL);
	ck_assert_str_eq(S(reply_to(OP), "state"), "decided");
	assert_decision(reply_to(AGENT), "allow", "operator");
	free(request);
}
END_TEST

/* ---- core_engine_control_msg: misc ------------------------------------- */

START_TEST(test_control_one_reply)
{
	static const char *const frames[] = {
		"{'v':1,'type':'hello'}", "{'v':1,'type':'pending'}",
		"{'v':1,'type':'sessions'}",
		"{'v':1,'type':'posture','level':'normal'}",
		"{'v':1,'type':'nope'}", "{}", "",
	};

	for (size_t i = 0; i < CS_ARRAY_LEN(frames); i++) {
		control_at("op1", OP + i, MONO, "%s", frames[i]);
		ck_assert_uint_eq(F.fx.reply_count, 1);
		ck_assert_uint_eq(F.fx.replies[0].handle, OP + i);
	}
}
END_TEST

static Suite *
engine_suite(void)
{
	Suite *s = suite_create("engine");
	TCase *tc;

	tc = tcase_create("core_fx_init");
	tcase_add_test(tc, test_fx_init);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_fx_fini");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fx_fini);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_fx_empty");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fx_empty);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_engine_new");
	tcase_add_test(tc, test_new_free);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_new_copies_key);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_engine_free");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_free_busy);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_engine_agent_msg");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_allow_by_policy);
	tcase_add_test(tc, test_request_ids_unique);
	tcase_add_loop_test(tc, test_deny_by_policy, 0,
	    CS_ARRAY_LEN(denials));
	tcase_add_loop_test(tc, test_admission_denied, 0,
	    CS_ARRAY_LEN(admissions));
	tcase_add_test(tc, test_admission_bad_signature_again);
	tcase_add_test(tc, test_admission_trust_capped);
	tcase_add_test(tc, test_admission_other_delegation);
	tcase_add_test(tc, test_admission_same_agent_other_chain_or_trust);
	tcase_add_test(tc, test_park_share);
	tcase_add_test(tc, test_purpose_from_token);
	tcase_add_test(tc, test_decide_oom_answers_every_waiter);
	tcase_add_test(tc, test_admission_not_counted);
	tcase_add_loop_test(tc, test_malformed_frame, 0,
	    CS_ARRAY_LEN(malformed));
	tcase_add_test(tc, test_malformed_deep_and_binary);
	tcase_add_test(tc, test_ask_no_wait);
	tcase_add_test(tc, test_ask_default_wait);
	tcase_add_test(tc, test_replay_decided);
	tcase_add_test(tc, test_replay_other_args);
	tcase_add_test(tc, test_replay_admission_denied);
	tcase_add_test(tc, test_replay_pending);
	tcase_add_test(tc, test_recent_bounded);
	tcase_add_test(tc, test_queue_full);
	tcase_add_test(tc, test_waiters_full);
	tcase_add_test(tc, test_status);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_engine_control_msg");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ask_park_then_approve);
	tcase_add_test(tc, test_quorum);
	tcase_add_test(tc, test_self_approval);
	tcase_add_test(tc, test_self_deny);
	tcase_add_test(tc, test_decide_deny_reason);
	tcase_add_test(tc, test_decide_deny_quorum);
	tcase_add_test(tc, test_decide_quarantine);
	tcase_add_test(tc, test_decide_not_found);
	tcase_add_test(tc, test_decide_already_decided);
	tcase_add_test(tc, test_decide_not_operator);
	tcase_add_loop_test(tc, test_control_refused, 0,
	    CS_ARRAY_LEN(bad_controls));
	tcase_add_test(tc, test_grant_session);
	tcase_add_test(tc, test_grant_not_for_quorum);
	tcase_add_test(tc, test_grant_only_for_session_approve);
	tcase_add_test(tc, test_revoke);
	tcase_add_test(tc, test_revoke_audit_failed);
	tcase_add_test(tc, test_trust);
	tcase_add_test(tc, test_posture);
	tcase_add_test(tc, test_hello);
	tcase_add_test(tc, test_control_one_reply);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_engine_tick");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_tick_timeout);
	tcase_add_test(tc, test_tick_timeout_parked);
	tcase_add_test(tc, test_tick_on_timeout_allow);
	tcase_add_test(tc, test_tick_waiter);
	tcase_add_test(tc, test_tick_wait_capped);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_engine_set_hooks");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_hooks_lookup);
	tcase_add_test(tc, test_hooks_reload);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_engine_next_wake");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_next_wake);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_engine_pending_count");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_pending_count);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_engine_policy_version");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_policy_version);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_engine_policy_changed");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_policy_changed_rejected);
	tcase_add_test(tc, test_policy_changed_applied);
	tcase_add_test(tc, test_policy_changed_pending_survives);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_engine_close_stale");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_close_stale);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_engine_shutdown");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_shutdown);
	suite_add_tcase(s, tc);

	tc = tcase_create("sessions per delegation");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sessions_per_delegation);
	tcase_add_test(tc, test_snapshot_sessions_bound);
	tcase_add_test(tc, test_sessions_held_by_change);
	tcase_add_test(tc, test_snapshot_pending_bound);
	suite_add_tcase(s, tc);

	tc = tcase_create("replay race");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_replay_race);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_engine_committed");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_committed);
	tcase_add_test(tc, test_committed_many);
	tcase_add_test(tc, test_committed_pending);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_engine_audit_failed");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_audit_failed_allow);
	tcase_add_test(tc, test_audit_failed_committed_replay);
	tcase_add_test(tc, test_settle_past);
	tcase_add_test(tc, test_audit_failed_deny_kept);
	tcase_add_test(tc, test_audit_failed_error_row_kept);
	tcase_add_test(tc, test_reply_text);
	tcase_add_test(tc, test_audit_failed_pending);
	tcase_add_test(tc, test_audit_failed_parked);
	tcase_add_test(tc, test_audit_failed_decide);
	tcase_add_test(tc, test_audit_failed_changes_in_order);
	tcase_add_test(tc, test_audit_failed_trust_reload);
	tcase_add_test(tc, test_audit_failed_approval);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(engine_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
