/* pol.h: the policy language: compile a JSON policy once, evaluate it per
 * call (most restrictive matching rule wins), lint and table tests.
 * SPDX-License-Identifier: MIT */
#ifndef CORE_POL_H
#define CORE_POL_H

#include "cs.h"

/* Decisions, ordered by restrictiveness: a larger value wins. */
typedef enum pol_decision {
	POL_ALLOW = 0,
	POL_ASK = 1,
	POL_DENY = 2,
} pol_decision;

/* pol_decision_name returns "allow", "ask" or "deny". */
const char *pol_decision_name(pol_decision d);

/* pol_decision_parse maps "allow"/"ask"/"deny" to a decision. */
cs_err pol_decision_parse(const char *text, pol_decision *out);

typedef struct pol_set pol_set;

/* Everything a rule can test, for one call. Strings are borrowed; NULL
 * means absent (a test on an absent field does not match, except
 * {"exists": false} and "not"). */
typedef struct pol_input {
	const char *tool;
	const char *action;
	const char *resource;
	const char *agent;    /* current actor */
	const char *user;     /* delegating human */
	const char *purpose;
	const char *posture;  /* "normal" | "elevated" | "lockdown" */
	const char *const *scopes; /* the token's tool patterns */
	size_t scope_count;
	int chain_depth;      /* number of actors: 1 = agent acting directly */
	int trust;            /* 0..4 */
	int hour;             /* 0..23, local time of the daemon */
	int weekday;          /* 0 = Sunday .. 6 */
	int rate_per_min;     /* calls in this session in the last 60 s,
	                       * including this one */
	int denials;          /* denials so far in this session */
	const json_t *args;   /* borrowed; may be NULL */
} pol_input;

/* The rule id of a deny given because a test read an argument that an
 * enforcement point sent as a summary (cs_summary). */
#define POL_RULE_SUMMARIZED "summarized-args"

/* The outcome of one evaluation. Strings are borrowed from the pol_set and
 * live as long as it does. */
typedef struct pol_result {
	pol_decision decision;
	const char *rule;        /* deciding rule id, or "default" */
	const char *risk;        /* from "tools" (glob keys allowed), else
	                          * "unknown" */
	const char *reason;      /* the rule's "reason", or NULL */
	int approvers;           /* >= 1; from the deciding ask rule */
	int timeout_s;           /* approval timeout for an ask */
	pol_decision on_timeout; /* POL_DENY unless the policy says allow */
} pol_result;

/* pol_set_compile compiles policy text (origin names it in messages, such
 * as the file path). On error *cause is a new human-readable message that
 * names where the problem is, for example
 * "default.json: rules[3] (id \"no-drop\"): if.args.sql.matches: bad
 * regex: Unmatched [". Unknown keys, unknown fields, bad operators, bad
 * regexes, duplicate rule ids and wrong types are all errors. The whole
 * policy is rejected on any error. */
cs_err pol_set_compile(const char *buf, size_t len, const char *origin,
    pol_set **out, char **cause);

/* pol_set_load reads and compiles a policy file (at most 4 MiB). */
cs_err pol_set_load(const char *path, pol_set **out, char **cause);

/* pol_set_free frees a policy; NULL is a no-op. */
void pol_set_free(pol_set *pol);

/* pol_set_version returns "name@version#<first 8 hex of sha256(file)>". */
const char *pol_set_version(const pol_set *pol);

/* pol_set_rule_count returns the number of rules. */
size_t pol_set_rule_count(const pol_set *pol);

/* pol_eval evaluates in against pol. It never allocates and never fails:
 * any internal problem yields POL_DENY. */
void pol_eval(const pol_set *pol, const pol_input *in, pol_result *out);

/* pol_test_run runs table-driven cases (CASES.json: {"cases":[{"name":..,
 * "input":{..}, "expect":{"decision":..,"rule":..}}]}) against pol. It
 * writes one line per failing case and a summary to report (a FILE *, as
 * void * to keep stdio out of this header) and sets *failed to the number
 * of mismatches. Returns an error only when the cases file is malformed. */
cs_err pol_test_run(const pol_set *pol, const char *cases_buf,
    size_t cases_len, const char *origin, void *report, int *passed,
    int *failed, char **cause);

#endif
