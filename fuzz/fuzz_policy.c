/* fuzz_policy.c: libFuzzer target for the policy compiler and evaluator:
 * arbitrary bytes through pol_set_compile and, when they compile, calls
 * built from the input and from the policy's own names and values through
 * pol_eval, checking each answer against the policy text.
 * SPDX-License-Identifier: MIT */
#include "fuzz.h"
#include "pol.h"

#include <string.h>

#define POLICY_MAX_LEN 65536 /* bytes of policy text tried */
#define POLICY_ORIGIN "fuzz.json"
#define PROBE_MAX 64         /* names and values kept from a policy */
#define PATH_MAX_SET 8       /* args paths set in one built call */
#define EVAL_COUNT 4         /* calls evaluated per policy */
#define CATCH_ALL_ID "zz-fuzz-catch-all"

/* The input, split at NUL bytes:
 *   POLICY \0 TOOL \0 ARGS \0 ACTION \0 RESOURCE \0 PARAMS
 * Everything after POLICY is optional; PARAMS are bytes that pick the
 * rest of each call. */
struct input {
	const char *policy;
	size_t policy_len;
	const char *field[4];  /* tool, args JSON, action, resource: NUL-ended
	                        * copies in buf, or NULL */
	const uint8_t *params;
	size_t param_len;
	size_t param_at;       /* next unread param byte */
	char *buf;             /* owned: the NUL-ended copy of the input */
};

/* Names and values found in a policy, used to build calls that reach its
 * conditions. Strings are borrowed from root. */
struct probe {
	json_t *root;                  /* owned: the policy parsed again */
	const char *tools[PROBE_MAX];  /* tool names and patterns */
	size_t tool_count;
	const char *paths[PROBE_MAX];  /* "args.X.Y" keys */
	size_t path_count;
	json_t *values[PROBE_MAX];     /* borrowed scalars from the tests */
	size_t value_count;
	const char *strings[PROBE_MAX]; /* string values among them */
	size_t string_count;
};

/* Split data into in; false when the policy part is too long. */
static bool
input_split(const uint8_t *data, size_t size, struct input *in)
{
	size_t at = 0, field = 0;

	memset(in, 0, sizeof *in);
	if ((in->buf = malloc(size + 1)) == NULL)
		abort();
	memcpy(in->buf, data, size);
	in->buf[size] = '\0';
	in->policy = in->buf;
	in->policy_len = strnlen(in->buf, size);
	if (in->policy_len > POLICY_MAX_LEN) {
		free(in->buf);
		return false;
	}
	at = in->policy_len + 1;
	while (at <= size && field < CS_ARRAY_LEN(in->field)) {
		size_t len = strnlen(in->buf + at, size - at);

		in->field[field++] = in->buf + at;
		at += len + 1;
	}
	if (at < size) {
		in->params = data + at;
		in->param_len = size - at;
	}
	return true;
}

/* The next param byte, or 0 when they have run out. */
static unsigned
param(struct input *in)
{
	if (in->param_at >= in->param_len)
		return 0;
	return in->params[in->param_at++];
}

/* Add a string to a probe list unless it is full. */
static void
probe_add(const char **list, size_t *count, const char *s)
{
	if (s != NULL && *count < PROBE_MAX)
		list[(*count)++] = s;
}

/* Collect the scalars of a test (and tool names when it tests "tool"). */
static void
probe_test(struct probe *p, json_t *test, bool is_tool)
{
	const char *key;
	json_t *item;
	size_t i;

	if (json_is_object(test)) {
		json_object_foreach(test, key, item) {
			probe_test(p, item, is_tool);
		}
	} else if (json_is_array(test)) {
		json_array_foreach(test, i, item) {
			probe_test(p, item, is_tool);
		}
	} else if (p->value_count < PROBE_MAX) {
		p->values[p->value_count++] = test;
		if (json_is_string(test)) {
			probe_add(p->strings, &p->string_count,
			    json_string_value(test));
			if (is_tool)
				probe_add(p->tools, &p->tool_count,
				    json_string_value(test));
		}
	}
}

/* Parse the (compiled) policy again and collect its names and values. */
static void
probe_init(struct probe *p, const char *text, size_t len)
{
	json_t *rules, *rule, *tools, *item;
	const char *key;
	size_t i;

	memset(p, 0, sizeof *p);
	p->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	FUZZ_CHECK(json_is_object(p->root), "a compiled policy does not "
	    "parse as an object");
	tools = json_object_get(p->root, "tools");
	json_object_foreach(tools, key, item) {
		probe_add(p->tools, &p->tool_count, key);
	}
	rules = json_object_get(p->root, "rules");
	json_array_foreach(rules, i, rule) {
		json_object_foreach(json_object_get(rule, "if"), key, item) {
			if (strncmp(key, "args.", 5) == 0)
				probe_add(p->paths, &p->path_count, key);
			probe_test(p, item, strcmp(key, "tool") == 0);
		}
	}
}

/* Pick one of count strings (or NULL when there are none). */
static const char *
pick(struct input *in, const char *const *list, size_t count)
{
	unsigned b = param(in);

	return count > 0 ? list[b % count] : NULL;
}

/* Set args.PATH (path without the "args." prefix) to a new copy of value,
 * making objects on the way; a path through a non-object is left alone. */
static void
args_set(json_t *args, const char *path, json_t *value)
{
	char *copy = strdup(path), *seg = copy, *dot;
	json_t *cur = args, *next;

	if (copy == NULL)
		abort();
	while ((dot = strchr(seg, '.')) != NULL) {
		*dot = '\0';
		if ((next = json_object_get(cur, seg)) == NULL) {
			next = json_object();
			json_object_set_new(cur, seg, next);
		}
		if (!json_is_object(next))
			goto out;
		cur = next;
		seg = dot + 1;
	}
	json_object_set_new(cur, seg, json_deep_copy(value));
out:
	free(copy);
}

/* Build new args for a call: the input's ARGS when they parse, else an
 * object with some of the policy's paths set to some of its values. */
static json_t *
args_build(struct input *in, const struct probe *p)
{
	json_t *args;
	unsigned mask = param(in);

	if (in->field[1] != NULL && *in->field[1] != '\0' && (mask & 1) == 0)
		return json_loads(in->field[1], 0, NULL);
	if ((mask & 2) != 0)
		return NULL;
	if ((args = json_object()) == NULL)
		abort();
	for (size_t i = 0; i < p->path_count && i < PATH_MAX_SET; i++) {
		unsigned b = param(in);

		if ((b & 1) != 0 && p->value_count > 0)
			args_set(args, p->paths[i] + 5,
			    p->values[(b >> 1) % p->value_count]);
	}
	return args;
}

/* Fill a call from the input and the probe. */
static void
call_build(struct input *in, const struct probe *p, pol_input *call,
    const char **scopes, size_t scope_max)
{
	static const char *const postures[] = { "normal", "elevated",
		"lockdown" };
	unsigned b = param(in);

	memset(call, 0, sizeof *call);
	call->tool = (b & 1) != 0 && in->field[0] != NULL ? in->field[0] :
	    pick(in, p->tools, p->tool_count);
	if ((b & 2) != 0 && call->tool == NULL)
		call->tool = in->field[0];
	call->action = (b & 4) != 0 ? in->field[2] :
	    pick(in, p->strings, p->string_count);
	call->resource = (b & 8) != 0 ? in->field[3] :
	    pick(in, p->strings, p->string_count);
	call->agent = pick(in, p->strings, p->string_count);
	call->user = pick(in, p->strings, p->string_count);
	call->purpose = (b & 16) != 0 ? NULL :
	    pick(in, p->strings, p->string_count);
	call->posture = postures[param(in) % CS_ARRAY_LEN(postures)];
	call->scope_count = param(in) % (scope_max + 1);
	for (size_t i = 0; i < call->scope_count; i++)
		scopes[i] = p->tool_count > 0 ? pick(in, p->tools,
		    p->tool_count) : "*";
	call->scopes = scopes;
	call->chain_depth = 1 + (int) (param(in) % 8);
	call->trust = (int) (param(in) % 5);
	call->hour = (int) (param(in) % 24);
	call->weekday = (int) (param(in) % 7);
	call->rate_per_min = (int) param(in) * 4;
	call->denials = (int) (param(in) % 16);
}

/* The rule of the policy text with this id, or NULL. */
static json_t *
rule_by_id(json_t *root, const char *id)
{
	json_t *rule;
	size_t i;

	json_array_foreach(json_object_get(root, "rules"), i, rule) {
		const char *rid = json_string_value(json_object_get(rule,
		    "id"));

		if (rid != NULL && strcmp(rid, id) == 0)
			return rule;
	}
	return NULL;
}

/* A decision named in the policy text, or fallback when absent. */
static pol_decision
text_decision(json_t *obj, const char *key, pol_decision fallback)
{
	const char *name = json_string_value(json_object_get(obj, key));
	pol_decision d;

	if (name == NULL)
		return fallback;
	FUZZ_CHECK(pol_decision_parse(name, &d) == CS_OK, "compiled with "
	    "%s \"%s\"", key, name);
	return d;
}

/* An integer of the policy text, or fallback when absent. */
static int
text_int(json_t *obj, const char *key, int fallback)
{
	json_t *v = json_object_get(obj, key);

	return v != NULL ? (int) json_integer_value(v) : fallback;
}

/* Check one answer to call against what the policy text says it must
 * be. */
static void
check_result(json_t *root, const pol_input *call, const pol_result *r)
{
	static const char *const risks[] = { "low", "medium", "high",
		"critical", "unknown" };
	json_t *defaults = json_object_get(root, "defaults");
	json_t *rule, *tool;
	bool risk_ok = false;

	FUZZ_CHECK(r->decision == POL_ALLOW || r->decision == POL_ASK ||
	    r->decision == POL_DENY, "decision %d", (int) r->decision);
	FUZZ_CHECK(r->rule != NULL, "no deciding rule");
	FUZZ_CHECK(r->risk != NULL, "no risk");
	for (size_t i = 0; i < CS_ARRAY_LEN(risks); i++)
		risk_ok = risk_ok || strcmp(r->risk, risks[i]) == 0;
	FUZZ_CHECK(risk_ok, "risk \"%s\"", r->risk);
	if (call->tool != NULL && (tool = json_object_get(json_object_get(
	    root, "tools"), call->tool)) != NULL) {
		FUZZ_CHECK(strcmp(r->risk, json_string_value(json_object_get(
		    tool, "risk"))) == 0, "tool %s of risk %s rated %s",
		    call->tool, json_string_value(json_object_get(tool,
		    "risk")), r->risk);
	}
	FUZZ_CHECK(r->approvers >= 1 && r->approvers <= 16, "approvers %d",
	    r->approvers);
	FUZZ_CHECK(r->timeout_s >= 1 && r->timeout_s <= 604800,
	    "timeout_s %d", r->timeout_s);
	if (strcmp(r->rule, "error") == 0) {
		FUZZ_CHECK(r->decision == POL_DENY, "an evaluation error "
		    "decided %s", pol_decision_name(r->decision));
		return;
	}
	FUZZ_CHECK(r->on_timeout == text_decision(defaults, "on_timeout",
	    POL_DENY), "on_timeout is not the policy's");
	if (strcmp(r->rule, "default") == 0) {
		FUZZ_CHECK(r->decision == text_decision(defaults, "decision",
		    POL_DENY), "default decided %s against the policy",
		    pol_decision_name(r->decision));
		FUZZ_CHECK(r->approvers == 1, "default asks %d approvers",
		    r->approvers);
		return;
	}
	rule = rule_by_id(root, r->rule);
	FUZZ_CHECK(rule != NULL, "deciding rule \"%s\" is not in the policy",
	    r->rule);
	FUZZ_CHECK(r->decision == text_decision(rule, "then", POL_DENY),
	    "rule %s says %s, decided %s", r->rule,
	    json_string_value(json_object_get(rule, "then")),
	    pol_decision_name(r->decision));
	if (r->decision == POL_ASK) {
		FUZZ_CHECK(r->approvers == text_int(rule, "approvers", 1),
		    "rule %s: approvers %d", r->rule, r->approvers);
		FUZZ_CHECK(r->timeout_s == text_int(rule, "timeout_s",
		    text_int(defaults, "approval_timeout_s", 120)),
		    "rule %s: timeout_s %d", r->rule, r->timeout_s);
	} else {
		FUZZ_CHECK(r->approvers == 1, "rule %s: %s with %d approvers",
		    r->rule, pol_decision_name(r->decision), r->approvers);
	}
}

/* Whether two answers are the same. */
static bool
result_eq(const pol_result *a, const pol_result *b)
{
	return a->decision == b->decision && strcmp(a->rule, b->rule) == 0 &&
	    strcmp(a->risk, b->risk) == 0 && a->approvers == b->approvers &&
	    a->timeout_s == b->timeout_s && a->on_timeout == b->on_timeout &&
	    (a->reason == b->reason || (a->reason != NULL &&
	    b->reason != NULL && strcmp(a->reason, b->reason) == 0));
}

/* Compile the policy with one unconditional rule appended, deciding d;
 * NULL when the policy cannot take it (its id is taken, or the rule limit
 * is reached). */
static pol_set *
catch_all_compile(json_t *root, pol_decision d)
{
	json_t *copy = json_deep_copy(root), *rules, *rule;
	pol_set *pol = NULL;
	char *text, *cause = NULL;

	if (copy == NULL)
		abort();
	rules = json_object_get(copy, "rules");
	if (rule_by_id(copy, CATCH_ALL_ID) != NULL ||
	    json_array_size(rules) >= 10000) {
		json_decref(copy);
		return NULL;
	}
	rule = json_pack("{s:s, s:s}", "id", CATCH_ALL_ID, "then",
	    pol_decision_name(d));
	if (rule == NULL || json_array_append_new(rules, rule) != 0 ||
	    (text = json_dumps(copy, 0)) == NULL)
		abort();
	FUZZ_CHECK(pol_set_compile(text, strlen(text), POLICY_ORIGIN, &pol,
	    &cause) == CS_OK, "the policy plus an unconditional %s rule does "
	    "not compile: %s", pol_decision_name(d), cause);
	free(text);
	json_decref(copy);
	return pol;
}

/* Most restrictive wins, first in file order on ties: with an
 * unconditional rule deciding d appended, a call keeps its answer when
 * a rule decided it at least as strictly, and otherwise gets d from the
 * new rule. */
static void
check_catch_all(const pol_set *extra, pol_decision d, const pol_input *call,
    const pol_result *before)
{
	pol_result after;

	pol_eval(extra, call, &after);
	if (strcmp(before->rule, "error") == 0) {
		FUZZ_CHECK(strcmp(after.rule, "error") == 0, "an evaluation "
		    "error went away with a rule appended");
		return;
	}
	if (strcmp(before->rule, "default") != 0 && before->decision >= d) {
		FUZZ_CHECK(after.decision == before->decision &&
		    strcmp(after.rule, before->rule) == 0, "appending an "
		    "unconditional %s rule changed %s by %s into %s by %s",
		    pol_decision_name(d), pol_decision_name(before->decision),
		    before->rule, pol_decision_name(after.decision),
		    after.rule);
	} else {
		FUZZ_CHECK(after.decision == d &&
		    strcmp(after.rule, CATCH_ALL_ID) == 0, "an unconditional "
		    "%s rule appended lost to %s by %s (was %s by %s)",
		    pol_decision_name(d), pol_decision_name(after.decision),
		    after.rule, pol_decision_name(before->decision),
		    before->rule);
	}
}

/* Check a compiled policy's identity against its text. */
static void
check_identity(const pol_set *pol, json_t *root)
{
	const char *version = pol_set_version(pol);
	const char *name = json_string_value(json_object_get(root, "policy"));
	const char *ver = json_string_value(json_object_get(root, "version"));
	size_t name_len, ver_len, hash_at;

	FUZZ_CHECK(name != NULL && ver != NULL, "compiled without policy "
	    "or version");
	name_len = strlen(name);
	ver_len = strlen(ver);
	hash_at = name_len + 1 + ver_len;
	FUZZ_CHECK(strlen(version) == hash_at + 9 &&
	    strncmp(version, name, name_len) == 0 &&
	    version[name_len] == '@' &&
	    strncmp(version + name_len + 1, ver, ver_len) == 0 &&
	    version[hash_at] == '#' &&
	    strspn(version + hash_at + 1, "0123456789abcdef") == 8,
	    "version \"%s\"", version);
	FUZZ_CHECK(pol_set_rule_count(pol) ==
	    json_array_size(json_object_get(root, "rules")), "%zu rules "
	    "compiled", pol_set_rule_count(pol));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char sentinel; /* out must still point here after a failure */
	pol_set *const untouched = (pol_set *) (void *) &sentinel;
	pol_set *pol = untouched, *extra;
	struct input in;
	struct probe p;
	char *cause = NULL;
	const char *scopes[4];
	pol_decision extra_d;
	cs_err rv;

	if (!input_split(data, size, &in))
		return 0;
	rv = pol_set_compile(in.policy, in.policy_len, POLICY_ORIGIN, &pol,
	    &cause);
	if (rv != CS_OK) {
		FUZZ_CHECK(rv == CS_EPARSE, "compile returned %s",
		    cs_strerror(rv));
		FUZZ_CHECK(pol == untouched, "a failed compile wrote out");
		FUZZ_CHECK(cause != NULL && strncmp(cause, POLICY_ORIGIN,
		    strlen(POLICY_ORIGIN)) == 0, "cause \"%s\" does not name "
		    "the policy", cause != NULL ? cause : "(null)");
		free(cause);
		free(in.buf);
		return 0;
	}
	FUZZ_CHECK(pol != NULL && pol != untouched, "compiled to nothing");
	free(cause);
	probe_init(&p, in.policy, in.policy_len);
	check_identity(pol, p.root);
	extra_d = (pol_decision) (param(&in) % 3);
	extra = catch_all_compile(p.root, extra_d);

	for (int i = 0; i < EVAL_COUNT; i++) {
		pol_input call;
		pol_result res, again;
		json_t *args = args_build(&in, &p);

		call_build(&in, &p, &call, scopes, CS_ARRAY_LEN(scopes));
		call.args = args;
		pol_eval(pol, &call, &res);
		check_result(p.root, &call, &res);
		pol_eval(pol, &call, &again);
		FUZZ_CHECK(result_eq(&res, &again), "the same call decided "
		    "twice gave %s by %s, then %s by %s",
		    pol_decision_name(res.decision), res.rule,
		    pol_decision_name(again.decision), again.rule);
		if (extra != NULL)
			check_catch_all(extra, extra_d, &call, &res);
		json_decref(args);
	}
	pol_set_free(extra);
	pol_set_free(pol);
	json_decref(p.root);
	free(in.buf);
	return 0;
}
