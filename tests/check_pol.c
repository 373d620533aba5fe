/* check_pol.c: Check suite for the policy language (core/pol.c).
 * SPDX-License-Identifier: MIT */
#include <check.h>
#include <glob.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pol.h"

#define ck_assert_cs_ok(expr) do { \
	cs_err ck_rv_ = (expr); \
	ck_assert_msg(ck_rv_ == CS_OK, "%s: %s", #expr, cs_strerror(ck_rv_)); \
} while (0)

/* A minimal policy around one "if" body, for operator tests. */
#define ONE_RULE(cond) \
	"{\"policy\":\"t\",\"version\":\"1\"," \
	"\"defaults\":{\"decision\":\"allow\"}," \
	"\"tools\":{\"fs.read\":{\"risk\":\"low\"},\"fs.*\":{\"risk\":" \
	"\"medium\"}},\"rules\":[{\"id\":\"r\",\"if\":{" cond "}," \
	"\"then\":\"deny\"}]}"

/* A path next to this source file, so tests run from any directory that
 * the compiler's __FILE__ is relative to. */
static void
src_path(char *buf, size_t size, const char *rel)
{
	const char *file = __FILE__;
	const char *slash = strrchr(file, '/');

	if (slash == NULL)
		snprintf(buf, size, "../%s", rel);
	else
		snprintf(buf, size, "%.*s/../%s", (int) (slash - file), file,
		    rel);
}

/* Compile text or fail the test with the cause. */
static pol_set *
compile_ok(const char *text)
{
	pol_set *pol = NULL;
	char *cause = NULL;
	cs_err rv = pol_set_compile(text, strlen(text), "t.json", &pol,
	    &cause);

	ck_assert_msg(rv == CS_OK, "compile: %s: %s", cs_strerror(rv),
	    cause ? cause : "(no cause)");
	ck_assert_ptr_nonnull(pol);
	free(cause);
	return pol;
}

/* A pol_input built from JSON like a cases file's "input". */
struct tin {
	json_t *root;
	pol_input in;
	const char *scopes[8];
};

/* Fill t from JSON text, with the same defaults as pol_test_run. */
static void
tin_init(struct tin *t, const char *text)
{
	static const struct {
		const char *key;
		size_t off;
	} strs[] = {
		{ "tool", offsetof(pol_input, tool) },
		{ "action", offsetof(pol_input, action) },
		{ "resource", offsetof(pol_input, resource) },
		{ "agent", offsetof(pol_input, agent) },
		{ "user", offsetof(pol_input, user) },
		{ "purpose", offsetof(pol_input, purpose) },
		{ "posture", offsetof(pol_input, posture) },
	};
	static const struct {
		const char *key;
		size_t off;
	} ints[] = {
		{ "chain_depth", offsetof(pol_input, chain_depth) },
		{ "trust", offsetof(pol_input, trust) },
		{ "hour", offsetof(pol_input, hour) },
		{ "weekday", offsetof(pol_input, weekday) },
		{ "rate", offsetof(pol_input, rate_per_min) },
		{ "denials", offsetof(pol_input, denials) },
	};
	json_error_t jerr;
	json_t *scope;

	memset(t, 0, sizeof *t);
	t->root = json_loads(text, JSON_ALLOW_NUL, &jerr);
	ck_assert_msg(t->root != NULL, "bad test input %s: %s", text,
	    jerr.text);
	t->in.posture = "normal";
	t->in.chain_depth = 1;
	t->in.trust = 2;
	t->in.hour = 12;
	t->in.weekday = 3;
	t->in.rate_per_min = 1;
	for (size_t i = 0; i < CS_ARRAY_LEN(strs); i++) {
		json_t *v = json_object_get(t->root, strs[i].key);

		if (v != NULL)
			*(const char **) (void *) ((char *) &t->in +
			    strs[i].off) = json_string_value(v);
	}
	for (size_t i = 0; i < CS_ARRAY_LEN(ints); i++) {
		json_t *v = json_object_get(t->root, ints[i].key);

		if (v != NULL)
			*(int *) (void *) ((char *) &t->in + ints[i].off) =
			    (int) json_integer_value(v);
	}
	if ((scope = json_object_get(t->root, "scope")) != NULL) {
		for (size_t i = 0; i < json_array_size(scope) &&
		    i < CS_ARRAY_LEN(t->scopes); i++)
			t->scopes[i] = json_string_value(
			    json_array_get(scope, i));
		t->in.scopes = t->scopes;
		t->in.scope_count = json_array_size(scope);
	}
	t->in.args = json_object_get(t->root, "args");
}

/* Release what tin_init took. */
static void
tin_fini(struct tin *t)
{
	json_decref(t->root);
	t->root = NULL;
}

/* ------------------------------------------------------------------ */
/* pol_decision_name, pol_decision_parse                               */

static const struct {
	pol_decision d;
	const char *name;
} decision_names[] = {
	{ POL_ALLOW, "allow" },
	{ POL_ASK, "ask" },
	{ POL_DENY, "deny" },
	{ (pol_decision) 7, "unknown" },
};

START_TEST(test_decision_name)
{
	ck_assert_str_eq(pol_decision_name(decision_names[_i].d),
	    decision_names[_i].name);
}
END_TEST

static const struct {
	const char *text;
	cs_err want;
	pol_decision d;
} decision_texts[] = {
	{ "allow", CS_OK, POL_ALLOW },
	{ "ask", CS_OK, POL_ASK },
	{ "deny", CS_OK, POL_DENY },
	{ "Deny", CS_EINVAL, POL_ASK },
	{ "", CS_EINVAL, POL_ASK },
	{ "allowed", CS_EINVAL, POL_ASK },
	{ NULL, CS_EINVAL, POL_ASK },
};

START_TEST(test_decision_parse)
{
	pol_decision d = POL_ASK;

	ck_assert_int_eq(pol_decision_parse(decision_texts[_i].text, &d),
	    decision_texts[_i].want);
	/* Written only on success; failures leave the sentinel. */
	ck_assert_int_eq(d, decision_texts[_i].d);
}
END_TEST

/* ------------------------------------------------------------------ */
/* pol_set_compile                                                     */

#define P_HEAD "{\"policy\":\"t\",\"version\":\"1\","
#define RULES(r) P_HEAD "\"rules\":[" r "]}"
#define IF(c) RULES("{\"id\":\"no-drop\",\"if\":{" c "},\"then\":\"deny\"}")

static const struct {
	const char *json;
	const char *want; /* a substring of the cause */
} bad_policies[] = {
	{ "{\"policy\": }", "t.json:1:12: " },
	{ "{\n  \"policy\": \"t\",\n  \"version\": ,\n}", "t.json:3:14: " },
	{ P_HEAD "\"policy\":\"u\",\"rules\":[]}", "duplicate object key" },
	{ P_HEAD "\"rules\":[]} trailing", "t.json:1:" },
	{ "[]", "t.json: a policy must be a JSON object" },
	{ P_HEAD "\"rules\":[],\"rulez\":[]}",
	    "t.json: unknown key \"rulez\" (expected policy, version, " },
	{ "{\"version\":\"1\",\"rules\":[]}", "t.json: policy: missing" },
	{ "{\"policy\":3,\"version\":\"1\",\"rules\":[]}",
	    "policy: must be a string" },
	{ "{\"policy\":\"a@b\",\"version\":\"1\",\"rules\":[]}",
	    "policy: must be 1 to 128 printable" },
	{ "{\"policy\":\"a\",\"rules\":[]}", "t.json: version: missing" },
	{ "{\"policy\":\"a\",\"version\":3,\"rules\":[]}",
	    "version: must be a string" },
	{ "{\"policy\":\"a\",\"version\":\"1 2\",\"rules\":[]}",
	    "version: must be" },
	{ "{\"policy\":\"a\",\"version\":\"1\\u0000\",\"rules\":[]}",
	    "t.json:1:" },
	{ P_HEAD "\"description\":5,\"rules\":[]}",
	    "description: must be a string" },
	{ P_HEAD "\"x\":1}", "unknown key \"x\"" },
	{ "{\"policy\":\"a\",\"version\":\"1\"}", "t.json: rules: missing" },
	{ P_HEAD "\"rules\":{}}", "rules: must be an array" },
	{ RULES("5"), "t.json: rules[0]: must be an object" },
	{ RULES("{\"then\":\"deny\"}"), "t.json: rules[0]: id: missing" },
	{ RULES("{\"id\":4,\"then\":\"deny\"}"), "rules[0]: id: must be a str" },
	{ RULES("{\"id\":\"a b\",\"then\":\"deny\"}"), "rules[0]: id: \"a b\"" },
	{ RULES("{\"id\":\"\",\"then\":\"deny\"}"), "rules[0]: id: \"\" must" },
	{ RULES("{\"id\":\"default\",\"then\":\"deny\"}"),
	    "rules[0] (id \"default\"): id: \"default\" is reserved" },
	{ RULES("{\"id\":\"error\",\"then\":\"deny\"}"), "is reserved" },
	{ RULES("{\"id\":\"a\",\"then\":\"deny\"},{\"id\":\"b\",\"then\":"
	    "\"deny\"},{\"id\":\"a\",\"then\":\"allow\"}"),
	    "t.json: rules[2] (id \"a\"): id: duplicate of rules[0]" },
	{ RULES("{\"id\":\"a\",\"iff\":{},\"then\":\"deny\"}"),
	    "rules[0] (id \"a\"): unknown key \"iff\" (expected id, if, then" },
	{ RULES("{\"id\":\"a\"}"), "rules[0] (id \"a\"): then: missing" },
	{ RULES("{\"id\":\"a\",\"then\":\"block\"}"),
	    "t.json: rules[0] (id \"a\"): then: must be one of allow, ask, "
	    "deny" },
	{ RULES("{\"id\":\"a\",\"then\":1}"), "then: must be a string" },
	{ RULES("{\"id\":\"a\",\"then\":\"deny\",\"approvers\":2}"),
	    "approvers: only for \"then\": \"ask\"" },
	{ RULES("{\"id\":\"a\",\"then\":\"ask\",\"approvers\":0}"),
	    "approvers: must be an integer from 1 to 16" },
	{ RULES("{\"id\":\"a\",\"then\":\"ask\",\"approvers\":\"2\"}"),
	    "approvers: must be an integer" },
	{ RULES("{\"id\":\"a\",\"then\":\"ask\",\"approvers\":2.0}"),
	    "approvers: must be an integer" },
	{ RULES("{\"id\":\"a\",\"then\":\"allow\",\"timeout_s\":5}"),
	    "timeout_s: only for \"then\": \"ask\"" },
	{ RULES("{\"id\":\"a\",\"then\":\"ask\",\"timeout_s\":0}"),
	    "timeout_s: must be an integer from 1 to" },
	{ RULES("{\"id\":\"a\",\"then\":\"ask\",\"reason\":7}"),
	    "reason: must be a string" },
	{ RULES("{\"id\":\"a\",\"then\":\"ask\",\"description\":[]}"),
	    "description: must be a string" },
	{ RULES("{\"id\":\"a\",\"if\":[],\"then\":\"ask\"}"),
	    "rules[0] (id \"a\"): if: must be an object" },
	{ IF("\"agnt\":\"x\""),
	    "t.json: rules[0] (id \"no-drop\"): if: unknown field \"agnt\"" },
	{ IF("\"args\":{\"exists\":true}"), "if.args: args needs a path" },
	{ IF("\"args.\":1"), "if.args.: args needs a path" },
	{ IF("\"args.a..b\":1"), "if.args.a..b: empty segment" },
	{ IF("\"args.a.\":1"), "empty segment" },
	{ IF("\"tool\":{\"like\":\"x\"}"),
	    "if.tool: unknown operator \"like\" (expected in, <," },
	{ IF("\"tool\":{}"), "if.tool: empty test object" },
	{ IF("\"tool\":null"), "if.tool: null is not a test" },
	{ IF("\"args.x\":[1]"), "if.args.x: an array is not a test" },
	{ IF("\"tool\":{\"in\":\"x\"}"), "if.tool: in: must be a non-empty" },
	{ IF("\"tool\":{\"in\":[]}"), "in: must be a non-empty array" },
	{ IF("\"tool\":{\"in\":[\"a\",{\"exists\":true}]}"),
	    "if.tool.in[1]: an object is not a test" },
	{ IF("\"trust\":{\"<\":\"3\"}"), "if.trust.<: must be a number" },
	{ IF("\"tool\":{\">=\":3}"),
	    "if.tool.>=: tool is a string; compare numbers only" },
	{ IF("\"trust\":\"2\""),
	    "if.trust: \"2\" is a string but trust is a number" },
	{ IF("\"trust\":{\"in\":[1,\"2\"]}"), "if.trust.in[1]: \"2\" is a" },
	{ IF("\"tool\":5"), "if.tool: a number never equals tool" },
	{ IF("\"tool\":true"), "if.tool: a boolean never equals tool" },
	{ IF("\"trust\":true"), "a boolean never equals trust" },
	{ IF("\"args.sql\":{\"matches\":5}"),
	    "if.args.sql.matches: must be a string (a POSIX ERE)" },
	{ IF("\"args.sql\":{\"matches\":\"a[b\"}"),
	    "t.json: rules[0] (id \"no-drop\"): if.args.sql.matches: bad "
	    "regex: " },
	{ IF("\"args.sql\":{\"matches\":\"(a\"}"), "bad regex" },
	/* shapes glibc compiles in exponential time or memory */
	{ IF("\"args.q\":{\"matches\":\"b++++++++++++++++++++++++\"}"),
	    "stacked quantifiers" },
	{ IF("\"args.q\":{\"matches\":\"^(b|bb)***\"}"),
	    "stacked quantifiers" },
	/* back-references: regexec backtracks, exponential in the input */
	{ IF("\"args.q\":{\"matches\":\"(a*)(a*)\\\\2\\\\1b\"}"),
	    "back-references (\\1 to \\9) are not allowed" },
	/* an unmatched ')' is a literal to glibc, and can be repeated */
	{ IF("\"args.q\":{\"matches\":\"b)++++++++++++++++++++++++\"}"),
	    "stacked quantifiers" },
	{ IF("\"args.q\":{\"matches\":\"((b{1,100}){1,100}){1,100}\"}"),
	    "more than 4096 atoms" },
	{ IF("\"args.q\":{\"matches\":\"b{1,5000}\"}"),
	    "repeat counts above 1000" },
	{ IF("\"args.q\":{\"matches\":\"(((((((((b)))))))))\"}"),
	    "nested deeper than 8" },
	{ IF("\"hour\":{\"matches\":\"1\"}"), "regexes test strings only" },
	{ IF("\"args.sql\":{\"matches\":\"a\",\"icase\":\"yes\"}"),
	    "if.args.sql.icase: must be true or false" },
	{ IF("\"args.sql\":{\"icase\":true}"), "if.args.sql: icase needs" },
	{ IF("\"args.sql\":{\"icase\":true,\"exists\":true}"),
	    "icase needs matches" },
	{ IF("\"purpose\":{\"exists\":1}"),
	    "if.purpose.exists: must be true or false" },
	{ IF("\"tool\":{\"any\":[]}"), "if.tool: any: must be a non-empty" },
	{ IF("\"tool\":{\"all\":{}}"), "all: must be a non-empty array" },
	{ IF("\"tool\":{\"any\":[\"a\",{\"not\":{\"nope\":1}}]}"),
	    "if.tool.any[1].not: unknown operator \"nope\"" },
	{ IF("\"tool\":{\"not\":{\"all\":[{\"<\":1}]}}"),
	    "if.tool.not.all[0].<: tool is a string" },
	{ IF("\"risk\":\"hgh\""),
	    "if.risk: \"hgh\" is not a risk (expected low, medium, high, "
	    "critical, unknown)" },
	{ IF("\"risk\":{\"in\":[\"low\",\"crit\"]}"),
	    "if.risk.in[1]: \"crit\" is not a risk" },
	{ IF("\"posture\":\"panic\""), "\"panic\" is not a posture" },
	/* a glob that matches no value would silently never hold */
	{ IF("\"posture\":\"Lockdown*\""), "\"Lockdown*\" is not a posture" },
	{ IF("\"risk\":\"HIGH?\""), "\"HIGH?\" is not a risk" },
	{ P_HEAD "\"defaults\":[],\"rules\":[]}",
	    "t.json: defaults: must be an object" },
	{ P_HEAD "\"defaults\":{\"timeout\":1},\"rules\":[]}",
	    "t.json: defaults: unknown key \"timeout\"" },
	{ P_HEAD "\"defaults\":{\"decision\":\"maybe\"},\"rules\":[]}",
	    "defaults: decision: must be one of allow, ask, deny" },
	{ P_HEAD "\"defaults\":{\"on_timeout\":\"ask\"},\"rules\":[]}",
	    "defaults: on_timeout: must be deny or allow" },
	{ P_HEAD "\"defaults\":{\"approval_timeout_s\":-1},\"rules\":[]}",
	    "defaults: approval_timeout_s: must be an integer" },
	{ P_HEAD "\"tools\":[],\"rules\":[]}", "t.json: tools: must be an " },
	{ P_HEAD "\"tools\":{\"fs.read\":\"low\"},\"rules\":[]}",
	    "t.json: tools.\"fs.read\": must be an object" },
	{ P_HEAD "\"tools\":{\"fs.read\":{\"risk\":\"lo\"}},\"rules\":[]}",
	    "tools.\"fs.read\": risk: must be one of low, medium, high, "
	    "critical" },
	{ P_HEAD "\"tools\":{\"x\":{\"risk\":\"unknown\"}},\"rules\":[]}",
	    "risk: must be one of" },
	{ P_HEAD "\"tools\":{\"x\":{}},\"rules\":[]}",
	    "tools.\"x\": risk: missing" },
	{ P_HEAD "\"tools\":{\"x\":{\"risk\":\"low\",\"level\":1}},"
	    "\"rules\":[]}", "tools.\"x\": unknown key \"level\"" },
	{ P_HEAD "\"tools\":{\"\":{\"risk\":\"low\"}},\"rules\":[]}",
	    "tools: empty tool name" },
};

START_TEST(test_compile_rejects)
{
	const char *json = bad_policies[_i].json;
	pol_set *pol = (pol_set *) &pol; /* sentinel: must stay untouched */
	pol_set *const sentinel = pol;
	char *cause = NULL;
	cs_err rv;

	rv = pol_set_compile(json, strlen(json), "t.json", &pol, &cause);
	ck_assert_msg(rv == CS_EPARSE, "row %d: want parse error, got %s",
	    _i, cs_strerror(rv));
	ck_assert_ptr_eq(pol, sentinel);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, bad_policies[_i].want) != NULL,
	    "row %d: cause \"%s\" lacks \"%s\"", _i, cause,
	    bad_policies[_i].want);
	free(cause);
}
END_TEST

START_TEST(test_compile_minimal)
{
	static const char text[] = "{\"policy\":\"p\",\"version\":\"1\","
	    "\"rules\":[]}";
	pol_set *pol = compile_ok(text);
	pol_result res;
	struct tin t;

	/* No defaults: deny, 120 s, deny on timeout. */
	tin_init(&t, "{\"tool\":\"fs.read\"}");
	pol_eval(pol, &t.in, &res);
	ck_assert_int_eq(res.decision, POL_DENY);
	ck_assert_str_eq(res.rule, "default");
	ck_assert_int_eq(res.timeout_s, 120);
	ck_assert_int_eq(res.on_timeout, POL_DENY);
	ck_assert_ptr_null(res.reason);
	tin_fini(&t);
	pol_set_free(pol);
}
END_TEST

START_TEST(test_compile_no_cause_wanted)
{
	static const char text[] = "{\"policy\":1}";
	pol_set *pol = NULL;

	ck_assert_int_eq(pol_set_compile(text, strlen(text), NULL, &pol,
	    NULL), CS_EPARSE);
	ck_assert_ptr_null(pol);
	ck_assert_int_eq(pol_set_compile(NULL, 0, NULL, &pol, NULL),
	    CS_EINVAL);
}
END_TEST

/* Build a policy whose one rule nests not/any/all depth levels deep. */
static char *
nested_policy(int depth)
{
	size_t size = 256 + (size_t) depth * 16;
	char *buf = malloc(size);
	size_t used;

	ck_assert_ptr_nonnull(buf);
	used = (size_t) snprintf(buf, size, "%s", P_HEAD "\"rules\":[{\"id\":"
	    "\"n\",\"then\":\"deny\",\"if\":{\"tool\":");
	for (int i = 0; i < depth; i++) {
		used += (size_t) snprintf(buf + used, size - used, "%s",
		    i % 2 ? "{\"any\":[" : "{\"not\":");
	}
	used += (size_t) snprintf(buf + used, size - used, "\"x\"");
	for (int i = depth - 1; i >= 0; i--)
		used += (size_t) snprintf(buf + used, size - used, "%s",
		    i % 2 ? "]}" : "}");
	snprintf(buf + used, size - used, "}}]}");
	return buf;
}

START_TEST(test_compile_nesting_limit)
{
	char *ok = nested_policy(16), *bad = nested_policy(17);
	char *cause = NULL;
	pol_set *pol = NULL;
	pol_result res;
	struct tin t;

	pol_set_free(compile_ok(ok));
	ck_assert_int_eq(pol_set_compile(bad, strlen(bad), "t.json", &pol,
	    &cause), CS_EPARSE);
	ck_assert_ptr_nonnull(strstr(cause, "nested deeper than 16"));
	free(cause);
	/* 16 levels: eight nots (even), so "x" matches itself. */
	pol = compile_ok(ok);
	tin_init(&t, "{\"tool\":\"x\"}");
	pol_eval(pol, &t.in, &res);
	ck_assert_int_eq(res.decision, POL_DENY);
	ck_assert_str_eq(res.rule, "n");
	tin_fini(&t);
	pol_set_free(pol);
	free(ok);
	free(bad);
}
END_TEST

/* A policy with one regex of len bytes ('a' repeated). */
static char *
regex_policy(size_t len)
{
	size_t size = 256 + len;
	char *buf = malloc(size);
	int n;

	ck_assert_ptr_nonnull(buf);
	n = snprintf(buf, size, "%s", P_HEAD "\"rules\":[{\"id\":\"r\","
	    "\"then\":\"deny\",\"if\":{\"args.s\":{\"matches\":\"");
	memset(buf + n, 'a', len);
	snprintf(buf + n + len, size - (size_t) n - len, "\"}}}]}");
	return buf;
}

START_TEST(test_compile_regex_limit)
{
	char *ok = regex_policy(1024), *bad = regex_policy(1025);
	char *cause = NULL;
	pol_set *pol = NULL;

	pol_set_free(compile_ok(ok));
	ck_assert_int_eq(pol_set_compile(bad, strlen(bad), "t.json", &pol,
	    &cause), CS_EPARSE);
	ck_assert_ptr_nonnull(strstr(cause,
	    "if.args.s.matches: regex longer than 1024 bytes"));
	free(cause);
	free(ok);
	free(bad);
}
END_TEST

/* A policy of count rules r0.. testing tool t0.. exactly. */
static char *
many_rules_policy(int count)
{
	size_t size = 64 + (size_t) count * 64;
	char *buf = malloc(size);
	size_t used;

	ck_assert_ptr_nonnull(buf);
	used = (size_t) snprintf(buf, size, "%s", P_HEAD "\"rules\":[");
	for (int i = 0; i < count; i++) {
		used += (size_t) snprintf(buf + used, size - used,
		    "%s{\"id\":\"r%d\",\"if\":{\"tool\":\"t%d\"},"
		    "\"then\":\"%s\"}", i ? "," : "", i, i,
		    i % 2 ? "allow" : "deny");
	}
	snprintf(buf + used, size - used, "]}");
	return buf;
}

START_TEST(test_compile_rule_limit)
{
	char *ok = many_rules_policy(10000), *bad = many_rules_policy(10001);
	char *cause = NULL;
	pol_set *pol = NULL;
	pol_result res;
	struct tin t;

	ck_assert_int_eq(pol_set_compile(bad, strlen(bad), "t.json", &pol,
	    &cause), CS_EPARSE);
	ck_assert_str_eq(cause, "t.json: rules: more than 10000 rules");
	free(cause);
	pol = compile_ok(ok);
	ck_assert_uint_eq(pol_set_rule_count(pol), 10000);
	tin_init(&t, "{\"tool\":\"t9999\"}");
	pol_eval(pol, &t.in, &res);
	ck_assert_int_eq(res.decision, POL_ALLOW);
	ck_assert_str_eq(res.rule, "r9999");
	tin_fini(&t);
	tin_init(&t, "{\"tool\":\"t5000\"}");
	pol_eval(pol, &t.in, &res);
	ck_assert_int_eq(res.decision, POL_DENY);
	ck_assert_str_eq(res.rule, "r5000");
	tin_fini(&t);
	tin_init(&t, "{\"tool\":\"t10000\"}");
	pol_eval(pol, &t.in, &res);
	ck_assert_str_eq(res.rule, "default");
	tin_fini(&t);
	pol_set_free(pol);
	free(ok);
	free(bad);
}
END_TEST

/* jansson allocator that fails the fail_at-th allocation. */
static int alloc_count, fail_at;

/* Count allocations; fail the fail_at-th. */
static void *
chaos_malloc(size_t size)
{
	if (++alloc_count == fail_at)
		return NULL;
	return malloc(size);
}

/* Pair of chaos_malloc. */
static void
chaos_free(void *p)
{
	free(p);
}

START_TEST(test_compile_oom)
{
	static const char cases[] = "{\"cases\":[{\"name\":\"a\",\"input\":"
	    "{\"tool\":\"fs.read\"},\"expect\":{\"decision\":\"allow\"}}]}";
	char path[512], *buf = NULL, *cause = NULL;
	size_t len = 0;
	bool done = false;
	int passed = -1, failed = -1;

	src_path(path, sizeof path, "policies/default.json");
	ck_assert_cs_ok(cs_read_file(path, 1 << 22, &buf, &len, NULL));
	/* Fail each jansson allocation in turn: every failure is an error
	 * with nothing leaked, until the compile finally succeeds. */
	for (fail_at = 1; !done && fail_at < 100000; fail_at++) {
		pol_set *pol = NULL;
		cs_err rv;

		alloc_count = 0;
		json_set_alloc_funcs(chaos_malloc, chaos_free);
		rv = pol_set_compile(buf, len, "d.json", &pol, &cause);
		if (rv == CS_OK) {
			rv = pol_test_run(pol, cases, strlen(cases), "c.json",
			    NULL, &passed, &failed, &cause);
			ck_assert(rv == CS_OK || rv == CS_ENOMEM ||
			    rv == CS_EPARSE);
			done = alloc_count < fail_at;
		} else {
			ck_assert_msg(rv == CS_ENOMEM || rv == CS_EPARSE,
			    "rv %s", cs_strerror(rv));
			ck_assert_ptr_null(pol);
		}
		json_set_alloc_funcs(malloc, free);
		pol_set_free(pol);
		free(cause);
		cause = NULL;
	}
	json_set_alloc_funcs(malloc, free);
	ck_assert(done);
	ck_assert_int_eq(passed, 1);
	ck_assert_int_eq(failed, 0);
	free(buf);
}
END_TEST

/* ------------------------------------------------------------------ */
/* pol_set_load                                                        */

/* Report whether path names a cases file rather than a policy. */
static bool
is_cases_file(const char *path)
{
	size_t len = strlen(path), suffix = strlen(".cases.json");

	return len >= suffix && strcmp(path + len - suffix, ".cases.json") == 0;
}

START_TEST(test_load_every_policy)
{
	char dir[512], pattern[600];
	glob_t g;
	size_t policies = 0;

	src_path(dir, sizeof dir, "policies");
	snprintf(pattern, sizeof pattern, "%s/*.json", dir);
	ck_assert_int_eq(glob(pattern, 0, NULL, &g), 0);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		const char *path = g.gl_pathv[i];
		char cases[700], *buf = NULL, *cause = NULL;
		pol_set *pol = NULL;
		size_t len = 0;
		int passed = 0, failed = -1;
		cs_err rv;

		if (is_cases_file(path))
			continue;
		policies++;
		rv = pol_set_load(path, &pol, &cause);
		ck_assert_msg(rv == CS_OK, "%s: %s", path,
		    cause ? cause : cs_strerror(rv));
		ck_assert_uint_gt(pol_set_rule_count(pol), 0);
		/* A policy's own cases, if any, must all pass. */
		snprintf(cases, sizeof cases, "%.*s.cases.json",
		    (int) (strlen(path) - strlen(".json")), path);
		if (cs_read_file(cases, 1 << 22, &buf, &len, NULL) == CS_OK) {
			char *out = NULL;
			size_t out_len = 0;
			FILE *f = open_memstream(&out, &out_len);

			ck_assert_ptr_nonnull(f);
			rv = pol_test_run(pol, buf, len, cases, f, &passed,
			    &failed, &cause);
			fclose(f);
			ck_assert_msg(rv == CS_OK, "%s: %s", cases,
			    cause ? cause : cs_strerror(rv));
			ck_assert_msg(failed == 0, "%s:\n%s", cases, out);
			ck_assert_int_gt(passed, 0);
			free(out);
		}
		free(buf);
		free(cause);
		pol_set_free(pol);
	}
	globfree(&g);
	ck_assert_uint_gt(policies, 0);
}
END_TEST

START_TEST(test_load_missing)
{
	pol_set *pol = NULL;
	char *cause = NULL;

	ck_assert_int_eq(pol_set_load("/nonexistent/p.json", &pol, &cause),
	    CS_ENOTFOUND);
	ck_assert_ptr_null(pol);
	ck_assert_ptr_nonnull(strstr(cause, "/nonexistent/p.json"));
	free(cause);
}
END_TEST

START_TEST(test_load_names_file)
{
	char path[] = "/tmp/check_pol_XXXXXX";
	static const char text[] = "{\n\"policy\": \"x\",\n\"version\": \"1\","
	    "\n\"rules\": [{\"id\": \"a\", \"then\": \"nope\"}]\n}\n";
	pol_set *pol = NULL;
	char *cause = NULL, *want;
	int fd = mkstemp(path);
	FILE *f;

	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_nonnull(f = fdopen(fd, "w"));
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(pol_set_load(path, &pol, &cause), CS_EPARSE);
	want = cs_asprintf("%s: rules[0] (id \"a\"): then: must be one of "
	    "allow, ask, deny", path);
	ck_assert_str_eq(cause, want);
	free(want);
	free(cause);
	remove(path);
}
END_TEST

/* ------------------------------------------------------------------ */
/* pol_set_free, pol_set_version, pol_set_rule_count                   */

START_TEST(test_free_null)
{
	pol_set_free(NULL);
	ck_assert_str_eq(pol_set_version(NULL), "");
	ck_assert_uint_eq(pol_set_rule_count(NULL), 0);
}
END_TEST

START_TEST(test_version_format)
{
	static const char text[] = "{\"policy\":\"shop\",\"version\":\"3.1\","
	    "\"rules\":[]}";
	static const char spaced[] = "{\"policy\":\"shop\",\"version\":"
	    "\"3.1\", \"rules\":[]}";
	char hash[65], *want;
	pol_set *pol = compile_ok(text), *pol2 = compile_ok(spaced);
	regex_t re;

	cs_sha256_hex(text, strlen(text), hash);
	want = cs_asprintf("shop@3.1#%.8s", hash);
	ck_assert_str_eq(pol_set_version(pol), want);
	ck_assert_int_eq(regcomp(&re, "^shop@3\\.1#[0-9a-f]{8}$",
	    REG_EXTENDED | REG_NOSUB), 0);
	ck_assert_int_eq(regexec(&re, pol_set_version(pol2), 0, NULL, 0), 0);
	/* Same content, other bytes: another version. */
	ck_assert_str_ne(pol_set_version(pol), pol_set_version(pol2));
	regfree(&re);
	free(want);
	pol_set_free(pol);
	pol_set_free(pol2);
}
END_TEST

START_TEST(test_version_of_default)
{
	char path[512], hash[65], *buf = NULL, *want, *cause = NULL;
	size_t len = 0;
	pol_set *pol = NULL;

	src_path(path, sizeof path, "policies/default.json");
	ck_assert_cs_ok(cs_read_file(path, 1 << 22, &buf, &len, NULL));
	ck_assert_cs_ok(pol_set_load(path, &pol, &cause));
	cs_sha256_hex(buf, len, hash);
	want = cs_asprintf("default@2#%.8s", hash);
	ck_assert_str_eq(pol_set_version(pol), want);
	free(want);
	free(buf);
	pol_set_free(pol);
}
END_TEST

static const struct {
	const char *json;
	size_t count;
} rule_counts[] = {
	{ RULES(""), 0 },
	{ RULES("{\"id\":\"a\",\"then\":\"deny\"}"), 1 },
	{ RULES("{\"id\":\"a\",\"then\":\"deny\"},{\"id\":\"b\",\"if\":{"
	    "\"tool\":\"x\"},\"then\":\"allow\"},{\"id\":\"c\",\"then\":"
	    "\"ask\"}"), 3 },
};

START_TEST(test_rule_count)
{
	pol_set *pol = compile_ok(rule_counts[_i].json);

	ck_assert_uint_eq(pol_set_rule_count(pol), rule_counts[_i].count);
	pol_set_free(pol);
}
END_TEST

/* ------------------------------------------------------------------ */
/* pol_eval                                                            */

/* One "if" body, one input, and whether the rule should match. */
static const struct {
	const char *policy;
	const char *input;
	bool match;
} op_rows[] = {
	/* plain strings and globs */
	{ ONE_RULE("\"tool\":\"fs.read\""), "{\"tool\":\"fs.read\"}", true },
	{ ONE_RULE("\"tool\":\"fs.read\""), "{\"tool\":\"fs.readx\"}", false },
	{ ONE_RULE("\"tool\":\"fs.read\""), "{}", false },
	{ ONE_RULE("\"tool\":\"fs.*\""), "{\"tool\":\"fs.write\"}", true },
	{ ONE_RULE("\"tool\":\"fs.*\""), "{\"tool\":\"db.query\"}", false },
	{ ONE_RULE("\"tool\":\"fs.?ead\""), "{\"tool\":\"fs.read\"}", true },
	{ ONE_RULE("\"tool\":\"fs.?ead\""), "{\"tool\":\"fs.ead\"}", false },
	{ ONE_RULE("\"tool\":\"*\""), "{\"tool\":\"\"}", true },
	{ ONE_RULE("\"tool\":\"*\""), "{}", false },
	{ ONE_RULE("\"agent\":\"ci-*\""), "{\"agent\":\"ci-7\"}", true },
	{ ONE_RULE("\"user\":\"alice\""), "{\"user\":\"alice\"}", true },
	{ ONE_RULE("\"user\":\"alice\""), "{\"user\":\"Alice\"}", false },
	{ ONE_RULE("\"action\":\"invoke\""), "{\"action\":\"invoke\"}", true },
	{ ONE_RULE("\"resource\":\"acct:*\""), "{\"resource\":\"acct:1\"}",
	    true },
	{ ONE_RULE("\"purpose\":\"*invoice*\""),
	    "{\"purpose\":\"pay invoice 7\"}", true },
	{ ONE_RULE("\"posture\":\"elevated\""), "{\"posture\":\"elevated\"}",
	    true },
	{ ONE_RULE("\"posture\":\"elevated\""), "{}", false },
	{ ONE_RULE("\"args.name\":\"a*c\""), "{\"args\":{\"name\":\"abbc\"}}",
	    true },
	{ ONE_RULE("\"args.name\":\"abc\""), "{\"args\":{\"name\":"
	    "\"abc\\u0000x\"}}", false },
	/* numbers and booleans */
	{ ONE_RULE("\"trust\":2"), "{\"trust\":2}", true },
	{ ONE_RULE("\"trust\":2"), "{\"trust\":3}", false },
	{ ONE_RULE("\"args.n\":2"), "{\"args\":{\"n\":2.0}}", true },
	{ ONE_RULE("\"args.n\":2.5"), "{\"args\":{\"n\":2.5}}", true },
	{ ONE_RULE("\"args.n\":2"), "{\"args\":{\"n\":\"2\"}}", false },
	{ ONE_RULE("\"args.s\":\"2\""), "{\"args\":{\"s\":2}}", false },
	{ ONE_RULE("\"args.dry\":true"), "{\"args\":{\"dry\":true}}", true },
	{ ONE_RULE("\"args.dry\":true"), "{\"args\":{\"dry\":false}}", false },
	{ ONE_RULE("\"args.dry\":false"), "{\"args\":{\"dry\":false}}", true },
	{ ONE_RULE("\"args.dry\":true"), "{\"args\":{\"dry\":\"true\"}}",
	    false },
	{ ONE_RULE("\"args.dry\":true"), "{\"args\":{\"dry\":1}}", false },
	/* in */
	{ ONE_RULE("\"tool\":{\"in\":[\"fs.read\",\"db.*\"]}"),
	    "{\"tool\":\"db.query\"}", true },
	{ ONE_RULE("\"tool\":{\"in\":[\"fs.read\",\"db.*\"]}"),
	    "{\"tool\":\"shell.exec\"}", false },
	{ ONE_RULE("\"tool\":{\"in\":[\"fs.read\"]}"), "{}", false },
	{ ONE_RULE("\"trust\":{\"in\":[1,3]}"), "{\"trust\":3}", true },
	{ ONE_RULE("\"trust\":{\"in\":[1,3]}"), "{\"trust\":2}", false },
	{ ONE_RULE("\"args.x\":{\"in\":[\"a\",1,true]}"),
	    "{\"args\":{\"x\":true}}", true },
	{ ONE_RULE("\"args.x\":{\"in\":[\"a\",1,true]}"),
	    "{\"args\":{\"x\":1.0}}", true },
	{ ONE_RULE("\"args.x\":{\"in\":[\"a\",1,true]}"),
	    "{\"args\":{\"x\":\"b\"}}", false },
	/* comparisons */
	{ ONE_RULE("\"trust\":{\"<\":2}"), "{\"trust\":1}", true },
	{ ONE_RULE("\"trust\":{\"<\":2}"), "{\"trust\":2}", false },
	{ ONE_RULE("\"trust\":{\"<=\":2}"), "{\"trust\":2}", true },
	{ ONE_RULE("\"trust\":{\"<=\":2}"), "{\"trust\":3}", false },
	{ ONE_RULE("\"trust\":{\">\":2}"), "{\"trust\":3}", true },
	{ ONE_RULE("\"trust\":{\">\":2}"), "{\"trust\":2}", false },
	{ ONE_RULE("\"trust\":{\">=\":2}"), "{\"trust\":2}", true },
	{ ONE_RULE("\"trust\":{\">=\":2}"), "{\"trust\":1}", false },
	{ ONE_RULE("\"trust\":{\">\":1,\"<\":4}"), "{\"trust\":2}", true },
	{ ONE_RULE("\"trust\":{\">\":1,\"<\":4}"), "{\"trust\":4}", false },
	{ ONE_RULE("\"trust\":{\">\":1.5}"), "{\"trust\":2}", true },
	{ ONE_RULE("\"args.amount\":{\">\":100}"),
	    "{\"args\":{\"amount\":100.5}}", true },
	{ ONE_RULE("\"args.amount\":{\">\":100}"),
	    "{\"args\":{\"amount\":100}}", false },
	{ ONE_RULE("\"args.amount\":{\">\":100}"),
	    "{\"args\":{\"amount\":\"500\"}}", false },
	{ ONE_RULE("\"args.amount\":{\">\":100}"), "{\"args\":{}}", false },
	{ ONE_RULE("\"args.amount\":{\">\":100}"), "{}", false },
	{ ONE_RULE("\"args.n\":{\">\":9007199254740992}"),
	    "{\"args\":{\"n\":9007199254740993}}", true },
	{ ONE_RULE("\"args.n\":{\"<\":0}"), "{\"args\":{\"n\":-0.5}}", true },
	{ ONE_RULE("\"hour\":{\">=\":7,\"<=\":20}"), "{\"hour\":20}", true },
	{ ONE_RULE("\"weekday\":{\"in\":[0,6]}"), "{\"weekday\":0}", true },
	{ ONE_RULE("\"weekday\":{\"in\":[0,6]}"), "{}", false },
	{ ONE_RULE("\"chain_depth\":{\">\":3}"), "{\"chain_depth\":4}", true },
	{ ONE_RULE("\"chain_depth\":{\">\":3}"), "{}", false },
	{ ONE_RULE("\"rate.session_per_min\":{\">=\":30}"),
	    "{\"rate\":30}", true },
	{ ONE_RULE("\"session.denials\":5"), "{\"denials\":5}", true },
	{ ONE_RULE("\"session.denials\":5"), "{}", false },
	/* matches */
	{ ONE_RULE("\"args.sql\":{\"matches\":\"^select\"}"),
	    "{\"args\":{\"sql\":\"SELECT 1\"}}", false },
	{ ONE_RULE("\"args.sql\":{\"matches\":\"^select\",\"icase\":true}"),
	    "{\"args\":{\"sql\":\"SELECT 1\"}}", true },
	{ ONE_RULE("\"args.sql\":{\"matches\":\"^select\",\"icase\":false}"),
	    "{\"args\":{\"sql\":\"SELECT 1\"}}", false },
	{ ONE_RULE("\"args.sql\":{\"matches\":\"drop[[:space:]]+table\"}"),
	    "{\"args\":{\"sql\":\"x; drop \\t table y\"}}", true },
	{ ONE_RULE("\"args.n\":{\"matches\":\"1\"}"), "{\"args\":{\"n\":1}}",
	    false },
	{ ONE_RULE("\"args.n\":{\"matches\":\".*\"}"), "{}", false },
	{ ONE_RULE("\"resource\":{\"matches\":\"^acct:[0-9]+$\"}"),
	    "{\"resource\":\"acct:42\"}", true },
	{ ONE_RULE("\"resource\":{\"matches\":\"^acct:[0-9]+$\"}"),
	    "{\"resource\":\"acct:42x\"}", false },
	/* an escaped backslash before a digit is no back-reference */
	{ ONE_RULE("\"args.s\":{\"matches\":\"^a\\\\\\\\1$\"}"),
	    "{\"args\":{\"s\":\"a\\\\1\"}}", true },
	/* an unmatched ')' is a literal, repeatable once */
	{ ONE_RULE("\"args.s\":{\"matches\":\"^a)+$\"}"),
	    "{\"args\":{\"s\":\"a)))\"}}", true },
	{ ONE_RULE("\"args.cmd\":{\"matches\":\"rm -rf\"}"),
	    "{\"args\":{\"cmd\":\"ls\\u0000rm -rf /\"}}", true },
	/* exists */
	{ ONE_RULE("\"purpose\":{\"exists\":true}"), "{\"purpose\":\"x\"}",
	    true },
	{ ONE_RULE("\"purpose\":{\"exists\":true}"), "{}", false },
	{ ONE_RULE("\"purpose\":{\"exists\":false}"), "{}", true },
	{ ONE_RULE("\"purpose\":{\"exists\":false}"), "{\"purpose\":\"\"}",
	    false },
	{ ONE_RULE("\"args.a.b\":{\"exists\":true}"),
	    "{\"args\":{\"a\":{\"b\":null}}}", true },
	{ ONE_RULE("\"args.a\":{\"exists\":true}"),
	    "{\"args\":{\"a\":[]}}", true },
	{ ONE_RULE("\"args.a.b\":{\"exists\":false}"),
	    "{\"args\":{\"a\":\"b\"}}", true },
	{ ONE_RULE("\"trust\":{\"exists\":true}"), "{}", true },
	/* not, any, all */
	{ ONE_RULE("\"purpose\":{\"not\":\"x\"}"), "{}", true },
	{ ONE_RULE("\"purpose\":{\"not\":\"x\"}"), "{\"purpose\":\"x\"}",
	    false },
	{ ONE_RULE("\"purpose\":{\"not\":\"x\"}"), "{\"purpose\":\"y\"}",
	    true },
	{ ONE_RULE("\"hour\":{\"any\":[{\"<\":7},{\">\":20}]}"),
	    "{\"hour\":6}", true },
	{ ONE_RULE("\"hour\":{\"any\":[{\"<\":7},{\">\":20}]}"),
	    "{\"hour\":12}", false },
	{ ONE_RULE("\"hour\":{\"any\":[{\"<\":7},{\">\":20}]}"),
	    "{\"hour\":21}", true },
	{ ONE_RULE("\"hour\":{\"all\":[{\">=\":7},{\"<=\":20}]}"),
	    "{\"hour\":7}", true },
	{ ONE_RULE("\"hour\":{\"all\":[{\">=\":7},{\"<=\":20}]}"),
	    "{\"hour\":6}", false },
	{ ONE_RULE("\"purpose\":{\"any\":[\"x\",{\"exists\":false}]}"), "{}",
	    true },
	{ ONE_RULE("\"purpose\":{\"all\":[\"x\",{\"exists\":false}]}"), "{}",
	    false },
	{ ONE_RULE("\"tool\":{\"not\":{\"any\":[{\"in\":[\"a\",\"b\"]},"
	    "{\"all\":[{\"matches\":\"^c\"},{\"not\":\"cx\"}]}]}}"),
	    "{\"tool\":\"cy\"}", false },
	{ ONE_RULE("\"tool\":{\"not\":{\"any\":[{\"in\":[\"a\",\"b\"]},"
	    "{\"all\":[{\"matches\":\"^c\"},{\"not\":\"cx\"}]}]}}"),
	    "{\"tool\":\"cx\"}", true },
	{ ONE_RULE("\"tool\":{\"not\":{\"any\":[{\"in\":[\"a\",\"b\"]},"
	    "{\"all\":[{\"matches\":\"^c\"},{\"not\":\"cx\"}]}]}}"),
	    "{\"tool\":\"b\"}", false },
	{ ONE_RULE("\"tool\":{\"not\":{\"any\":[{\"in\":[\"a\",\"b\"]},"
	    "{\"all\":[{\"matches\":\"^c\"},{\"not\":\"cx\"}]}]}}"),
	    "{\"tool\":\"d\"}", true },
	{ ONE_RULE("\"tool\":{\"not\":{\"any\":[{\"in\":[\"a\",\"b\"]},"
	    "{\"all\":[{\"matches\":\"^c\"},{\"not\":\"cx\"}]}]}}"),
	    "{}", true },
	{ ONE_RULE("\"args.to\":{\"not\":{\"matches\":\"@example\\\\.com$\"}}"),
	    "{\"args\":{\"to\":[\"a@example.com\"]}}", true },
	/* args paths */
	{ ONE_RULE("\"args.to.0\":\"a@x\""), "{\"args\":{\"to\":[\"a@x\"]}}",
	    true },
	{ ONE_RULE("\"args.to.0\":\"a@x\""),
	    "{\"args\":{\"to\":{\"0\":\"a@x\"}}}", true },
	{ ONE_RULE("\"args.to.1\":\"a@x\""), "{\"args\":{\"to\":[\"a@x\"]}}",
	    false },
	{ ONE_RULE("\"args.list.1.name\":\"b\""),
	    "{\"args\":{\"list\":[{\"name\":\"a\"},{\"name\":\"b\"}]}}", true },
	{ ONE_RULE("\"args.list.x\":{\"exists\":true}"),
	    "{\"args\":{\"list\":[1]}}", false },
	{ ONE_RULE("\"args.a.b\":\"x\""), "{\"args\":{\"a\":\"str\"}}",
	    false },
	{ ONE_RULE("\"args.a\":\"x\""), "{\"args\":[\"x\"]}", false },
	{ ONE_RULE("\"args.0\":\"x\""), "{\"args\":[\"x\"]}", true },
	{ ONE_RULE("\"args.a\":{\"exists\":true}"), "{}", false },
	/* several fields: all must hold; none: everything matches */
	{ ONE_RULE("\"tool\":\"fs.read\",\"trust\":{\">=\":2}"),
	    "{\"tool\":\"fs.read\",\"trust\":2}", true },
	{ ONE_RULE("\"tool\":\"fs.read\",\"trust\":{\">=\":2}"),
	    "{\"tool\":\"fs.read\",\"trust\":1}", false },
	{ ONE_RULE(""), "{}", true },
	/* scope: any of the token's patterns */
	{ ONE_RULE("\"scope\":\"fs.*\""), "{\"scope\":[\"db.*\",\"fs.*\"]}",
	    true },
	{ ONE_RULE("\"scope\":\"fs.*\""), "{\"scope\":[\"db.*\"]}", false },
	{ ONE_RULE("\"scope\":\"fs.*\""), "{}", false },
	{ ONE_RULE("\"scope\":{\"exists\":false}"), "{}", true },
	{ ONE_RULE("\"scope\":{\"exists\":true}"), "{\"scope\":[\"x\"]}",
	    true },
	{ ONE_RULE("\"scope\":{\"matches\":\"^\\\\*$\"}"),
	    "{\"scope\":[\"fs.read\",\"*\"]}", true },
	{ ONE_RULE("\"scope\":{\"matches\":\"^\\\\*$\"}"),
	    "{\"scope\":[\"fs.*\"]}", false },
	/* risk: exact key, longest glob, else unknown */
	{ ONE_RULE("\"risk\":\"low\""), "{\"tool\":\"fs.read\"}", true },
	{ ONE_RULE("\"risk\":\"medium\""), "{\"tool\":\"fs.write\"}", true },
	{ ONE_RULE("\"risk\":\"unknown\""), "{\"tool\":\"x.y\"}", true },
	{ ONE_RULE("\"risk\":\"unknown\""), "{}", true },
	{ ONE_RULE("\"risk\":{\"in\":[\"high\",\"critical\"]}"),
	    "{\"tool\":\"fs.read\"}", false },
};

START_TEST(test_eval_ops)
{
	pol_set *pol = compile_ok(op_rows[_i].policy);
	pol_result res;
	struct tin t;

	tin_init(&t, op_rows[_i].input);
	pol_eval(pol, &t.in, &res);
	ck_assert_msg((res.decision == POL_DENY) == op_rows[_i].match,
	    "row %d: %s with %s: want %s, got %s (rule %s)", _i,
	    op_rows[_i].policy, op_rows[_i].input,
	    op_rows[_i].match ? "match" : "no match",
	    pol_decision_name(res.decision), res.rule);
	ck_assert_str_eq(res.rule, op_rows[_i].match ? "r" : "default");
	tin_fini(&t);
	pol_set_free(pol);
}
END_TEST

static const char combine_policy[] =
    "{\"policy\":\"c\",\"version\":\"2\",\"defaults\":{\"decision\":"
    "\"ask\",\"approval_timeout_s\":90,\"on_timeout\":\"allow\","
    "\"reason\":\"nothing matched\"},"
    "\"tools\":{\"a\":{\"risk\":\"low\"},\"b\":{\"risk\":\"high\"},"
    "\"b*\":{\"risk\":\"medium\"},\"*\":{\"risk\":\"critical\"},"
    "\"bb*\":{\"risk\":\"low\"}},"
    "\"rules\":["
    "{\"id\":\"allow-a\",\"if\":{\"tool\":\"a\"},\"then\":\"allow\","
    "\"reason\":\"a is fine\"},"
    "{\"id\":\"ask-hi\",\"if\":{\"risk\":\"high\"},\"then\":\"ask\","
    "\"approvers\":2,\"timeout_s\":30,\"reason\":\"high\"},"
    "{\"id\":\"ask-b\",\"if\":{\"tool\":\"b*\"},\"then\":\"ask\"},"
    "{\"id\":\"deny-x\",\"if\":{\"args.x\":true},\"then\":\"deny\"},"
    "{\"id\":\"deny-x2\",\"if\":{\"args.x\":{\"exists\":true}},"
    "\"then\":\"deny\",\"reason\":\"x2\"},"
    "{\"id\":\"allow-all\",\"if\":{\"tool\":{\"not\":\"z*\"}},"
    "\"then\":\"allow\"}"
    "]}";

static const struct {
	const char *input;
	pol_decision decision;
	const char *rule;
	const char *reason;
	const char *risk;
	int approvers;
	int timeout_s;
} combine_rows[] = {
	/* allow-a and allow-all tie: the first in file order wins */
	{ "{\"tool\":\"a\"}", POL_ALLOW, "allow-a", "a is fine", "low", 1,
	    90 },
	/* ask beats allow; of two asks the first decides approvers */
	{ "{\"tool\":\"b\"}", POL_ASK, "ask-hi", "high", "high", 2, 30 },
	{ "{\"tool\":\"bz\"}", POL_ASK, "ask-b", NULL, "medium", 1, 90 },
	{ "{\"tool\":\"bbq\"}", POL_ASK, "ask-b", NULL, "low", 1, 90 },
	{ "{\"tool\":\"c\"}", POL_ALLOW, "allow-all", NULL, "critical", 1,
	    90 },
	/* deny beats everything; the first deny decides */
	{ "{\"tool\":\"a\",\"args\":{\"x\":true}}", POL_DENY, "deny-x", NULL,
	    "low", 1, 90 },
	{ "{\"tool\":\"b\",\"args\":{\"x\":false}}", POL_DENY, "deny-x2",
	    "x2", "high", 1, 90 },
	/* nothing matches: the defaults */
	{ "{\"tool\":\"zed\"}", POL_ASK, "default", "nothing matched",
	    "critical", 1, 90 },
	/* absent tool: "not" holds, so allow-all matches */
	{ "{}", POL_ALLOW, "allow-all", NULL, "unknown", 1, 90 },
};

START_TEST(test_eval_combine)
{
	pol_set *pol = compile_ok(combine_policy);
	pol_result res;
	struct tin t;

	tin_init(&t, combine_rows[_i].input);
	pol_eval(pol, &t.in, &res);
	ck_assert_int_eq(res.decision, combine_rows[_i].decision);
	ck_assert_str_eq(res.rule, combine_rows[_i].rule);
	ck_assert_pstr_eq(res.reason, combine_rows[_i].reason);
	ck_assert_str_eq(res.risk, combine_rows[_i].risk);
	ck_assert_int_eq(res.approvers, combine_rows[_i].approvers);
	ck_assert_int_eq(res.timeout_s, combine_rows[_i].timeout_s);
	ck_assert_int_eq(res.on_timeout, POL_ALLOW);
	tin_fini(&t);
	pol_set_free(pol);
}
END_TEST

/* The same rules with the tool test written as an exact string (in the
 * tool index) or as an "in" list (in the generic list). */
#define INDEX_POLICY(T_READ, T_WRITE) \
	"{\"policy\":\"i\",\"version\":\"1\",\"defaults\":{\"decision\":" \
	"\"ask\"},\"tools\":{\"fs.read\":{\"risk\":\"low\"}},\"rules\":[" \
	"{\"id\":\"g-ask-trust\",\"if\":{\"trust\":{\"<\":2}}," \
	"\"then\":\"ask\"}," \
	"{\"id\":\"x-allow-read\",\"if\":{\"tool\":" T_READ "}," \
	"\"then\":\"allow\"}," \
	"{\"id\":\"x-ask-write\",\"if\":{\"tool\":" T_WRITE ",\"args.path\":" \
	"{\"not\":{\"matches\":\"^/w/\"}}},\"then\":\"ask\"}," \
	"{\"id\":\"g-ask-secret\",\"if\":{\"args.path\":{\"matches\":" \
	"\"secret\"}},\"then\":\"ask\",\"approvers\":2}," \
	"{\"id\":\"x-deny-etc\",\"if\":{\"tool\":" T_WRITE ",\"args.path\":" \
	"{\"matches\":\"^/etc\"}},\"then\":\"deny\"}," \
	"{\"id\":\"g-deny-burst\",\"if\":{\"rate.session_per_min\":" \
	"{\">\":50}},\"then\":\"deny\"}," \
	"{\"id\":\"x-ask-read-secret\",\"if\":{\"tool\":" T_READ "," \
	"\"args.path\":{\"matches\":\"secret\"}},\"then\":\"ask\"}," \
	"{\"id\":\"x-deny-read-etc\",\"if\":{\"tool\":" T_READ "," \
	"\"args.path\":{\"matches\":\"^/etc\"}},\"then\":\"deny\"}," \
	"{\"id\":\"g-allow-low\",\"if\":{\"risk\":\"low\"}," \
	"\"then\":\"allow\"}]}"

START_TEST(test_eval_index_matches_generic)
{
	static const char *const tools[] = {
		"\"tool\":\"fs.read\",", "\"tool\":\"fs.write\",",
		"\"tool\":\"db.query\",", "",
	};
	static const char *const paths[] = {
		",\"args\":{\"path\":\"/w/a\"}",
		",\"args\":{\"path\":\"/w/secret\"}",
		",\"args\":{\"path\":\"/etc/x\"}",
		",\"args\":{\"path\":\"/etc/secret\"}", "",
	};
	pol_set *indexed = compile_ok(INDEX_POLICY("\"fs.read\"",
	    "\"fs.write\""));
	pol_set *generic = compile_ok(INDEX_POLICY(
	    "{\"in\":[\"fs.read\"]}", "{\"in\":[\"fs.write\"]}"));
	int compared = 0;

	for (size_t i = 0; i < CS_ARRAY_LEN(tools); i++)
	for (size_t j = 0; j < CS_ARRAY_LEN(paths); j++)
	for (int trust = 1; trust <= 2; trust++)
	for (int rate = 1; rate <= 60; rate += 59) {
		char text[256];
		pol_result a, b;
		struct tin t;

		snprintf(text, sizeof text, "{%s\"trust\":%d,\"rate\":%d%s}",
		    tools[i], trust, rate, paths[j]);
		tin_init(&t, text);
		pol_eval(indexed, &t.in, &a);
		pol_eval(generic, &t.in, &b);
		ck_assert_msg(a.decision == b.decision &&
		    strcmp(a.rule, b.rule) == 0 && a.approvers == b.approvers,
		    "%s: indexed %s (%s), generic %s (%s)", text,
		    pol_decision_name(a.decision), a.rule,
		    pol_decision_name(b.decision), b.rule);
		tin_fini(&t);
		compared++;
	}
	ck_assert_int_eq(compared, 80);
	pol_set_free(indexed);
	pol_set_free(generic);
}
END_TEST

/* Ties across the index and the generic list follow file order. */
static const struct {
	const char *input;
	pol_decision decision;
	const char *rule;
} index_rows[] = {
	{ "{\"tool\":\"fs.read\",\"args\":{\"path\":\"/w/a\"}}", POL_ALLOW,
	    "x-allow-read" },
	{ "{\"tool\":\"fs.read\",\"trust\":1}", POL_ASK, "g-ask-trust" },
	{ "{\"tool\":\"fs.read\",\"args\":{\"path\":\"/w/secret\"}}",
	    POL_ASK, "g-ask-secret" },
	{ "{\"tool\":\"fs.write\",\"rate\":60,\"args\":{\"path\":\"/etc/x\"}}",
	    POL_DENY, "x-deny-etc" },
	{ "{\"tool\":\"fs.read\",\"rate\":60,\"args\":{\"path\":\"/etc/x\"}}",
	    POL_DENY, "g-deny-burst" },
	{ "{\"tool\":\"fs.write\",\"args\":{\"path\":\"/x\"}}", POL_ASK,
	    "x-ask-write" },
	{ "{\"tool\":\"db.query\"}", POL_ASK, "default" },
};

START_TEST(test_eval_index_order)
{
	pol_set *pol = compile_ok(INDEX_POLICY("\"fs.read\"",
	    "\"fs.write\""));
	pol_result res;
	struct tin t;

	tin_init(&t, index_rows[_i].input);
	pol_eval(pol, &t.in, &res);
	ck_assert_int_eq(res.decision, index_rows[_i].decision);
	ck_assert_str_eq(res.rule, index_rows[_i].rule);
	tin_fini(&t);
	pol_set_free(pol);
}
END_TEST

START_TEST(test_eval_fail_closed)
{
	static const char *const scopes[] = { "fs.*", NULL };
	pol_set *pol = compile_ok(ONE_RULE("\"scope\":\"db.*\""));
	pol_input in;
	pol_result res;

	memset(&in, 0, sizeof in);
	in.tool = "fs.read";
	in.trust = 2;
	pol_eval(NULL, &in, &res);
	ck_assert_int_eq(res.decision, POL_DENY);
	ck_assert_str_eq(res.rule, "error");
	ck_assert_int_eq(res.on_timeout, POL_DENY);
	pol_eval(pol, NULL, &res);
	ck_assert_int_eq(res.decision, POL_DENY);
	pol_eval(pol, &in, NULL); /* no crash */
	/* A well-formed call is allowed by this policy's default... */
	pol_eval(pol, &in, &res);
	ck_assert_int_eq(res.decision, POL_ALLOW);
	/* ...but a broken scope list is an internal error: deny. */
	in.scope_count = 1;
	pol_eval(pol, &in, &res);
	ck_assert_int_eq(res.decision, POL_DENY);
	ck_assert_str_eq(res.rule, "error");
	in.scopes = scopes;
	in.scope_count = 2; /* second entry NULL */
	pol_eval(pol, &in, &res);
	ck_assert_int_eq(res.decision, POL_DENY);
	ck_assert_str_eq(res.rule, "error");
	pol_set_free(pol);
}
END_TEST

/* A test that reads an argument sent as a summary (cs_summary) cannot be
 * judged, so the call is refused; whether the argument exists is still
 * known, and a deny that holds anyway keeps its rule. */
static const char summary_policy[] =
    "{\"policy\":\"s\",\"version\":\"1\",\"defaults\":{\"decision\":"
    "\"ask\"},\"rules\":["
    "{\"id\":\"allow-ws\",\"if\":{\"tool\":\"fs.write\","
    "\"args.path\":\"/workspace/*\"},\"then\":\"allow\"},"
    "{\"id\":\"deny-x\",\"if\":{\"args.x\":true},\"then\":\"deny\"},"
    "{\"id\":\"allow-stat\",\"if\":{\"tool\":\"fs.stat\","
    "\"args.path\":{\"exists\":true}},\"then\":\"allow\"},"
    "{\"id\":\"allow-edits\",\"if\":{\"tool\":\"fs.edit\","
    "\"args.edits\":{\"not\":\"x\"}},\"then\":\"allow\"}"
    "]}";

/* Evaluate summary_policy for tool with args built by the caller. */
static void
eval_args(pol_set *pol, const char *tool, json_t *args, pol_result *res)
{
	pol_input in;

	memset(&in, 0, sizeof in);
	in.tool = tool;
	in.trust = 2;
	in.args = args;
	pol_eval(pol, &in, res);
	json_decref(args);
}

START_TEST(test_eval_summarized)
{
	char path[600], *sum, *near;
	pol_set *pol = compile_ok(summary_policy);
	pol_result res;
	size_t n;

	n = (size_t) snprintf(path, sizeof path, "/workspace/%0400d/../../"
	    "root/.bashrc", 0);
	ck_assert_ptr_nonnull(sum = cs_summary(path, n, 128));
	ck_assert(cs_is_summary(sum, strlen(sum)));
	ck_assert(!cs_is_summary(path, n));

	/* the whole path: judged */
	eval_args(pol, "fs.write", json_pack("{s:s}", "path", path), &res);
	ck_assert_int_eq(res.decision, POL_ALLOW);
	/* its summary: refused, whatever its head says */
	eval_args(pol, "fs.write", json_pack("{s:s}", "path", sum), &res);
	ck_assert_int_eq(res.decision, POL_DENY);
	ck_assert_str_eq(res.rule, POL_RULE_SUMMARIZED);
	ck_assert_ptr_nonnull(strstr(res.reason, "summarized"));
	/* a deny that holds anyway keeps its rule */
	eval_args(pol, "fs.write", json_pack("{s:s,s:b}", "path", sum, "x",
	    1), &res);
	ck_assert_int_eq(res.decision, POL_DENY);
	ck_assert_str_eq(res.rule, "deny-x");
	/* existence is known */
	eval_args(pol, "fs.stat", json_pack("{s:s}", "path", sum), &res);
	ck_assert_int_eq(res.decision, POL_ALLOW);
	ck_assert_str_eq(res.rule, "allow-stat");
	/* a summary inside a container a test reads */
	eval_args(pol, "fs.edit", json_pack("{s:[s,{s:s}]}", "edits", "a",
	    "new", "b"), &res);
	ck_assert_int_eq(res.decision, POL_ALLOW);
	eval_args(pol, "fs.edit", json_pack("{s:[s,{s:s}]}", "edits", "a",
	    "new", sum), &res);
	ck_assert_str_eq(res.rule, POL_RULE_SUMMARIZED);
	/* a summary no test reads changes nothing */
	eval_args(pol, "fs.write", json_pack("{s:s,s:s}", "path",
	    "/workspace/a", "content", sum), &res);
	ck_assert_int_eq(res.decision, POL_ALLOW);
	/* one hex digit short is an ordinary string */
	n = strlen(sum);
	ck_assert_ptr_nonnull(near = malloc(n));
	memcpy(near, sum, n - 2);
	near[n - 2] = ']';
	near[n - 1] = '\0';
	ck_assert(!cs_is_summary(near, n - 1));
	eval_args(pol, "fs.write", json_pack("{s:s}", "path", near), &res);
	ck_assert_int_eq(res.decision, POL_ALLOW);
	ck_assert(!cs_is_summary("... [1 bytes, sha256:]", 22));
	ck_assert(!cs_is_summary("]", 1));
	free(near);
	free(sum);
	pol_set_free(pol);
}
END_TEST

/* ------------------------------------------------------------------ */
/* pol_test_run                                                        */

START_TEST(test_run_default_cases)
{
	char ppath[512], cpath[512], *buf = NULL, *cause = NULL;
	size_t len = 0;
	pol_set *pol = NULL;
	int passed = -1, failed = -1;

	src_path(ppath, sizeof ppath, "policies/default.json");
	src_path(cpath, sizeof cpath, "policies/default.cases.json");
	ck_assert_cs_ok(pol_set_load(ppath, &pol, &cause));
	ck_assert_cs_ok(cs_read_file(cpath, 1 << 22, &buf, &len, NULL));
	ck_assert_cs_ok(pol_test_run(pol, buf, len, cpath, stderr, &passed,
	    &failed, &cause));
	ck_assert_int_eq(failed, 0);
	ck_assert_int_ge(passed, 45);
	free(buf);
	pol_set_free(pol);
}
END_TEST

static const char report_policy[] =
    "{\"policy\":\"r\",\"version\":\"1\",\"tools\":{\"db.query\":"
    "{\"risk\":\"low\"}},\"rules\":["
    "{\"id\":\"no-drop\",\"if\":{\"args.sql\":{\"matches\":\"drop\"}},"
    "\"then\":\"deny\"},"
    "{\"id\":\"s\",\"if\":{\"tool\":\"secrets.read\"},\"then\":\"ask\","
    "\"approvers\":2},"
    "{\"id\":\"low-risk\",\"if\":{\"risk\":\"low\"},\"then\":\"allow\"}]}";

START_TEST(test_run_report)
{
	static const char cases[] = "{\"cases\":["
	    "{\"name\":\"a\",\"input\":{\"tool\":\"db.query\",\"args\":{\"sql\":"
	    "\"drop x\"}},\"expect\":{\"decision\":\"deny\",\"rule\":"
	    "\"no-drop\"}},"
	    "{\"name\":\"b\",\"input\":{\"tool\":\"db.query\",\"args\":{\"sql\":"
	    "\"select\"}},\"expect\":{\"decision\":\"deny\",\"rule\":"
	    "\"no-drop\"}},"
	    "{\"name\":\"c\",\"input\":{\"tool\":\"secrets.read\"},\"expect\":"
	    "{\"decision\":\"ask\",\"rule\":\"s\",\"approvers\":3}},"
	    "{\"name\":\"d\",\"input\":{\"tool\":\"fs.read\"},\"expect\":"
	    "{\"decision\":\"allow\",\"risk\":\"low\"}},"
	    "{\"name\":\"e\",\"input\":{\"tool\":\"secrets.read\"},\"expect\":"
	    "{\"decision\":\"ask\",\"approvers\":2}}"
	    "]}";
	pol_set *pol = compile_ok(report_policy);
	char *out = NULL, *cause = NULL;
	size_t out_len = 0;
	int passed = -1, failed = -1;
	FILE *f = open_memstream(&out, &out_len);

	ck_assert_ptr_nonnull(f);
	ck_assert_cs_ok(pol_test_run(pol, cases, strlen(cases), "c.json", f,
	    &passed, &failed, &cause));
	fclose(f);
	ck_assert_str_eq(out,
	    "FAIL b: want deny (rule no-drop), got allow (rule low-risk)\n"
	    "FAIL c: want ask (rule s, approvers 3), got ask (rule s, "
	    "approvers 2)\n"
	    "FAIL d: want allow (risk low), got deny (rule default, risk unknown)\n"
	    "2 passed, 3 failed\n");
	ck_assert_int_eq(passed, 2);
	ck_assert_int_eq(failed, 3);
	free(out);
	pol_set_free(pol);
}
END_TEST

#define CASE(input, expect) \
	"{\"cases\":[{\"name\":\"a\",\"input\":" input ",\"expect\":" \
	expect "}]}"
#define DENY "{\"decision\":\"deny\"}"

static const struct {
	const char *json;
	const char *want;
} bad_cases[] = {
	{ "{\"cases\":[", "c.json:1:10: " },
	{ "[]", "c.json: a cases file must be a JSON object" },
	{ "{\"cases\":[],\"cases\":[]}", "duplicate object key" },
	{ "{\"tests\":[]}", "c.json: unknown key \"tests\"" },
	{ "{}", "c.json: cases: must be a non-empty array" },
	{ "{\"cases\":[]}", "cases: must be a non-empty array" },
	{ "{\"cases\":[1]}", "c.json: cases[0]: must be an object" },
	{ "{\"cases\":[{\"input\":{},\"expect\":" DENY "}]}",
	    "c.json: cases[0]: name: must be a non-empty string" },
	{ "{\"cases\":[{\"name\":\"a\",\"input\":{},\"expect\":" DENY "},"
	    "{\"name\":\"a\",\"input\":{},\"expect\":" DENY "}]}",
	    "c.json: cases[1]: name: \"a\" is already used by cases[0]" },
	{ "{\"cases\":[{\"name\":\"a\",\"inputs\":{},\"expect\":" DENY "}]}",
	    "c.json: cases[0] (name \"a\"): unknown key \"inputs\"" },
	{ "{\"cases\":[{\"name\":\"a\",\"expect\":" DENY "}]}",
	    "cases[0] (name \"a\"): input: missing" },
	{ CASE("[]", DENY), "cases[0] (name \"a\"): input: must be an obj" },
	{ CASE("{\"tol\":\"x\"}", DENY), "input: unknown key \"tol\"" },
	{ CASE("{\"tool\":5}", DENY), "input: tool: must be a string" },
	{ CASE("{\"trust\":9}", DENY),
	    "input: trust: must be an integer from 0 to 4" },
	{ CASE("{\"trust\":\"2\"}", DENY), "trust: must be an integer" },
	{ CASE("{\"hour\":24}", DENY), "hour: must be an integer from 0" },
	{ CASE("{\"weekday\":7}", DENY), "weekday: must be an integer" },
	{ CASE("{\"chain_depth\":0}", DENY), "chain_depth: must be an" },
	{ CASE("{\"rate.session_per_min\":-1}", DENY),
	    "rate.session_per_min: must be an integer" },
	{ CASE("{\"session.denials\":1.5}", DENY),
	    "session.denials: must be an integer" },
	{ CASE("{\"posture\":\"calm\"}", DENY),
	    "input: posture: must be one of normal, elevated, lockdown" },
	{ CASE("{\"scope\":\"fs.*\"}", DENY), "scope: must be an array" },
	{ CASE("{\"scope\":[1]}", DENY), "input: scope[0]: must be a string" },
	{ "{\"cases\":[{\"name\":\"a\",\"input\":{}}]}",
	    "cases[0] (name \"a\"): expect: missing" },
	{ CASE("{}", "{}"), "expect: decision: missing" },
	{ CASE("{}", "{\"decision\":\"maybe\"}"),
	    "expect: decision: must be one of allow, ask, deny" },
	{ CASE("{}", "{\"decision\":\"deny\",\"why\":1}"),
	    "expect: unknown key \"why\"" },
	{ CASE("{}", "{\"decision\":\"ask\",\"approvers\":0}"),
	    "expect: approvers: must be an integer" },
	{ CASE("{}", "{\"decision\":\"deny\",\"rule\":3}"),
	    "expect: rule: must be a string" },
	/* a bad case after good ones: nothing runs, nothing is printed */
	{ "{\"cases\":[{\"name\":\"ok\",\"input\":{},\"expect\":" DENY "},"
	    "{\"name\":\"bad\",\"input\":{\"trust\":-1},\"expect\":" DENY
	    "}]}", "c.json: cases[1] (name \"bad\"): input: trust:" },
};

START_TEST(test_run_rejects)
{
	const char *json = bad_cases[_i].json;
	pol_set *pol = compile_ok(report_policy);
	char *out = NULL, *cause = NULL;
	size_t out_len = 0;
	int passed = -7, failed = -7;
	FILE *f = open_memstream(&out, &out_len);
	cs_err rv;

	ck_assert_ptr_nonnull(f);
	rv = pol_test_run(pol, json, strlen(json), "c.json", f, &passed,
	    &failed, &cause);
	fclose(f);
	ck_assert_msg(rv == CS_EPARSE, "row %d: got %s", _i,
	    cs_strerror(rv));
	ck_assert_msg(cause != NULL && strstr(cause, bad_cases[_i].want),
	    "row %d: cause \"%s\" lacks \"%s\"", _i, cause ? cause : "",
	    bad_cases[_i].want);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(passed, -7);
	ck_assert_int_eq(failed, -7);
	free(cause);
	free(out);
	pol_set_free(pol);
}
END_TEST

START_TEST(test_run_defaults)
{
	/* Unset input fields take the documented defaults. */
	static const char policy[] = RULES(
	    "{\"id\":\"d\",\"if\":{\"posture\":\"normal\",\"chain_depth\":1,"
	    "\"trust\":2,\"hour\":12,\"weekday\":3,\"rate.session_per_min\":1,"
	    "\"session.denials\":0,\"tool\":{\"exists\":false},\"args.x\":"
	    "{\"exists\":false},\"scope\":{\"exists\":false}},"
	    "\"then\":\"allow\"}");
	static const char cases[] = CASE("{}",
	    "{\"decision\":\"allow\",\"rule\":\"d\"}");
	pol_set *pol = compile_ok(policy);
	int passed = 0, failed = -1;

	ck_assert_cs_ok(pol_test_run(pol, cases, strlen(cases), NULL, NULL,
	    &passed, &failed, NULL));
	ck_assert_int_eq(passed, 1);
	ck_assert_int_eq(failed, 0);
	pol_set_free(pol);
}
END_TEST

/* One TCase per public function of pol.h. */
static Suite *
pol_suite(void)
{
	Suite *s = suite_create("pol");
	TCase *tc;

	tc = tcase_create("pol_decision_name");
	tcase_add_loop_test(tc, test_decision_name, 0,
	    CS_ARRAY_LEN(decision_names));
	suite_add_tcase(s, tc);

	tc = tcase_create("pol_decision_parse");
	tcase_add_loop_test(tc, test_decision_parse, 0,
	    CS_ARRAY_LEN(decision_texts));
	suite_add_tcase(s, tc);

	tc = tcase_create("pol_set_compile");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_compile_rejects, 0,
	    CS_ARRAY_LEN(bad_policies));
	tcase_add_test(tc, test_compile_minimal);
	tcase_add_test(tc, test_compile_no_cause_wanted);
	tcase_add_test(tc, test_compile_nesting_limit);
	tcase_add_test(tc, test_compile_regex_limit);
	tcase_add_test(tc, test_compile_rule_limit);
	tcase_add_test(tc, test_compile_oom);
	suite_add_tcase(s, tc);

	tc = tcase_create("pol_set_load");
	tcase_add_test(tc, test_load_every_policy);
	tcase_add_test(tc, test_load_missing);
	tcase_add_test(tc, test_load_names_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("pol_set_free");
	tcase_add_test(tc, test_free_null);
	suite_add_tcase(s, tc);

	tc = tcase_create("pol_set_version");
	tcase_add_test(tc, test_version_format);
	tcase_add_test(tc, test_version_of_default);
	suite_add_tcase(s, tc);

	tc = tcase_create("pol_set_rule_count");
	tcase_add_loop_test(tc, test_rule_count, 0, CS_ARRAY_LEN(rule_counts));
	suite_add_tcase(s, tc);

	tc = tcase_create("pol_eval");
	tcase_add_loop_test(tc, test_eval_ops, 0, CS_ARRAY_LEN(op_rows));
	tcase_add_loop_test(tc, test_eval_combine, 0,
	    CS_ARRAY_LEN(combine_rows));
	tcase_add_test(tc, test_eval_index_matches_generic);
	tcase_add_loop_test(tc, test_eval_index_order, 0,
	    CS_ARRAY_LEN(index_rows));
	tcase_add_test(tc, test_eval_fail_closed);
	tcase_add_test(tc, test_eval_summarized);
	suite_add_tcase(s, tc);

	tc = tcase_create("pol_test_run");
	tcase_add_test(tc, test_run_default_cases);
	tcase_add_test(tc, test_run_report);
	tcase_add_loop_test(tc, test_run_rejects, 0, CS_ARRAY_LEN(bad_cases));
	tcase_add_test(tc, test_run_defaults);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pol_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
