/* pol.c: the policy language: compile a JSON policy into rules with a
 * per-tool index, evaluate calls without allocating, run table tests.
 * SPDX-License-Identifier: MIT */
#include "pol.h"

#include <limits.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POL_MAX_RULES 10000
#define POL_MAX_REGEX 1024       /* bytes of one "matches" source */
#define POL_MAX_DEPTH 16         /* nesting of not/any/all */
#define POL_MAX_SEGMENTS 32      /* segments of one args.PATH */
#define POL_MAX_FILE (4u << 20)  /* bytes of a policy or cases file */
#define POL_MAX_ID 64            /* bytes of a rule id */
#define POL_MAX_REASON 1024      /* bytes of a reason */
#define POL_MAX_APPROVERS 16
#define POL_MAX_TIMEOUT_S 604800 /* one week */
#define POL_DEFAULT_TIMEOUT_S 120
#define POL_MAX_SCOPES 64        /* scopes of one test case */
#define POL_LOC 512              /* bytes of a location in a message */

/* Everything a rule can test. */
enum field {
	F_TOOL,
	F_ACTION,
	F_RESOURCE,
	F_AGENT,
	F_USER,
	F_CHAIN_DEPTH,
	F_TRUST,
	F_RISK,
	F_POSTURE,
	F_PURPOSE,
	F_SCOPE,
	F_HOUR,
	F_WEEKDAY,
	F_RATE,
	F_DENIALS,
	F_ARGS,
};

/* What a field holds, so that tests of the wrong kind fail to compile. */
enum field_type {
	FT_STR, /* a string (or absent) */
	FT_INT, /* an integer, always present */
	FT_ANY, /* any JSON value (args.PATH) */
};

static const char *const risk_names[] = {
	"low", "medium", "high", "critical", "unknown", NULL,
};
static const char *const posture_names[] = {
	"normal", "elevated", "lockdown", NULL,
};

static const struct field_def {
	const char *name;
	enum field field;
	enum field_type type;
	const char *const *domain; /* allowed exact values, or NULL */
} field_defs[] = {
	{ "tool", F_TOOL, FT_STR, NULL },
	{ "action", F_ACTION, FT_STR, NULL },
	{ "resource", F_RESOURCE, FT_STR, NULL },
	{ "agent", F_AGENT, FT_STR, NULL },
	{ "user", F_USER, FT_STR, NULL },
	{ "chain_depth", F_CHAIN_DEPTH, FT_INT, NULL },
	{ "trust", F_TRUST, FT_INT, NULL },
	{ "risk", F_RISK, FT_STR, risk_names },
	{ "posture", F_POSTURE, FT_STR, posture_names },
	{ "purpose", F_PURPOSE, FT_STR, NULL },
	{ "scope", F_SCOPE, FT_STR, NULL },
	{ "hour", F_HOUR, FT_INT, NULL },
	{ "weekday", F_WEEKDAY, FT_INT, NULL },
	{ "rate.session_per_min", F_RATE, FT_INT, NULL },
	{ "session.denials", F_DENIALS, FT_INT, NULL },
};

static const struct field_def args_def = { "args", F_ARGS, FT_ANY, NULL };

/* Test operators. "in" compiles to OP_ANY over plain values, and an
 * object with several operators to OP_ALL. */
enum op {
	OP_STR,   /* equal string */
	OP_GLOB,  /* glob string */
	OP_NUM,   /* equal number */
	OP_BOOL,  /* equal boolean */
	OP_LT,
	OP_LE,
	OP_GT,
	OP_GE,
	OP_MATCH, /* POSIX ERE */
	OP_EXISTS,
	OP_NOT,
	OP_ANY,
	OP_ALL,
};

/* A JSON number kept exact when it is an integer. */
struct num {
	bool is_int;
	json_int_t i;
	double d;
};

struct test {
	enum op op;
	const char *str;     /* OP_STR, OP_GLOB: borrowed from the root */
	size_t len;          /* bytes of str */
	struct num num;      /* OP_NUM and the comparisons */
	bool flag;           /* OP_BOOL value, OP_EXISTS wanted */
	regex_t *re;         /* OP_MATCH: owned */
	struct test *kids;   /* OP_NOT (one), OP_ANY, OP_ALL: owned */
	size_t kid_count;
};

/* One segment of args.PATH. */
struct seg {
	const char *key; /* points into cond.path_buf */
	long index;      /* array index, or -1 when not all digits */
};

/* One "FIELD: TEST" of a rule's if. */
struct cond {
	enum field field;
	char *path_buf;     /* owned copy of the args path, NUL-separated */
	struct seg *segs;   /* owned */
	size_t seg_count;
	struct test test;
};

struct rule {
	const char *id;     /* borrowed from the root */
	const char *reason; /* borrowed, or NULL */
	pol_decision then;
	int approvers;      /* >= 1 */
	int timeout_s;      /* 0: the policy default */
	struct cond *conds; /* owned */
	size_t cond_count;
};

struct tool_risk {
	const char *pattern; /* borrowed key of "tools" */
	size_t len;
	bool is_glob;
	const char *risk;    /* static */
};

/* A string-keyed hash table of item lists (open addressing, FNV-1a). */
struct slot {
	const char *key; /* borrowed; NULL marks an empty slot */
	uint32_t *items; /* owned, ascending */
	size_t count;
	size_t cap;
};

struct index {
	struct slot *slots;
	size_t mask; /* slot count - 1 */
};

struct pol_set {
	json_t *root;            /* owns every borrowed string */
	char *version;           /* "name@version#hash8" */
	pol_decision def_decision;
	int def_timeout_s;
	pol_decision on_timeout;
	const char *def_reason;  /* borrowed, or NULL */
	struct tool_risk *tools; /* file order */
	size_t tool_count;
	struct index tool_exact; /* tool name -> index into tools */
	struct rule *rules;      /* file order */
	size_t rule_count;
	struct index by_tool;    /* exact tool -> rule indices */
	uint32_t *generic;       /* rule indices not in by_tool, ascending */
	size_t generic_count;
};

/* Where compile errors go. */
struct cctx {
	const char *origin;
	char **cause;
};

/* ------------------------------------------------------------------ */
/* small helpers                                                       */

const char *
pol_decision_name(pol_decision d)
{
	switch (d) {
	case POL_ALLOW:
		return "allow";
	case POL_ASK:
		return "ask";
	case POL_DENY:
		return "deny";
	}
	return "unknown";
}

cs_err
pol_decision_parse(const char *text, pol_decision *out)
{
	static const pol_decision all[] = { POL_ALLOW, POL_ASK, POL_DENY };

	if (text == NULL || out == NULL)
		return CS_EINVAL;
	for (size_t i = 0; i < CS_ARRAY_LEN(all); i++) {
		if (strcmp(text, pol_decision_name(all[i])) == 0) {
			*out = all[i];
			return CS_OK;
		}
	}
	return CS_EINVAL;
}

/* Record a located compile error; returns CS_EPARSE. */
static cs_err __attribute__((format(printf, 3, 4)))
perr(const struct cctx *c, const char *where, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (where != NULL && *where != '\0')
		cs_set_cause(c->cause, "%s: %s: %s", c->origin, where, msg);
	else
		cs_set_cause(c->cause, "%s: %s", c->origin, msg);
	return CS_EPARSE;
}

/* Record an allocation failure; returns CS_ENOMEM. */
static cs_err
oom(const struct cctx *c)
{
	cs_set_cause(c->cause, "%s: out of memory", c->origin);
	return CS_ENOMEM;
}

/* Join a location and a suffix into buf ("if" + ".tool"), truncating. */
static const char * __attribute__((format(printf, 3, 4)))
loc(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	if (n < 0)
		buf[0] = '\0';
	return buf;
}

/* Report whether a failed json_loadb ran out of memory: jansson says so,
 * or failed before writing any message (jerr must start zeroed). */
static bool
jansson_oom(const json_error_t *jerr)
{
	return json_error_code(jerr) == json_error_out_of_memory ||
	    jerr->text[0] == '\0';
}

/* Name a JSON type for messages. */
static const char *
json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "a number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "a value";
}

/* Report whether key is one of the NULL-terminated names. */
static bool
key_in(const char *key, const char *const *names)
{
	for (size_t i = 0; names[i] != NULL; i++) {
		if (strcmp(key, names[i]) == 0)
			return true;
	}
	return false;
}

/* Reject keys of obj that are not in names, listing the expected ones. */
static cs_err
check_keys(const struct cctx *c, const char *where, json_t *obj,
    const char *const *names)
{
	const char *key;
	json_t *value;
	char list[256];
	size_t used = 0;

	json_object_foreach(obj, key, value) {
		(void) value;
		if (key_in(key, names))
			continue;
		list[0] = '\0';
		for (size_t i = 0; names[i] != NULL; i++) {
			int n = snprintf(list + used, sizeof list - used,
			    "%s%s", i ? ", " : "", names[i]);

			if (n < 0 || (size_t) n >= sizeof list - used)
				break;
			used += (size_t) n;
		}
		return perr(c, where, "unknown key \"%s\" (expected %s)", key,
		    list);
	}
	return CS_OK;
}

/* Read an integer member in [min, max]; absent leaves *out alone. */
static cs_err
get_int(const struct cctx *c, const char *where, json_t *obj,
    const char *key, long long min, long long max, int *out)
{
	json_t *v = json_object_get(obj, key);
	json_int_t i;

	if (v == NULL)
		return CS_OK;
	if (!json_is_integer(v) || (i = json_integer_value(v)) < min ||
	    i > max) {
		return perr(c, where, "%s: must be an integer from %lld to %lld",
		    key, min, max);
	}
	*out = (int) i;
	return CS_OK;
}

/* Read a string member; absent leaves *out alone. */
static cs_err
get_str(const struct cctx *c, const char *where, json_t *obj,
    const char *key, size_t max_len, const char **out)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL)
		return CS_OK;
	if (!json_is_string(v))
		return perr(c, where, "%s: must be a string", key);
	if (json_string_length(v) > max_len) {
		return perr(c, where, "%s: longer than %zu bytes", key,
		    max_len);
	}
	*out = json_string_value(v);
	return CS_OK;
}

/* Report whether s contains glob metacharacters. */
static bool
is_glob(const char *s)
{
	return strpbrk(s, "*?") != NULL;
}

/* Glob match where text has an explicit length ('*' any run, '?' one
 * byte); iterative with one backtrack point, so patterns can't recurse. */
static bool
glob_match_n(const char *p, const char *t, size_t len)
{
	const char *star = NULL;
	size_t mark = 0, i = 0;

	while (i < len) {
		if (*p == '*') {
			star = p++;
			mark = i;
		} else if (*p != '\0' && (*p == '?' || *p == t[i])) {
			p++;
			i++;
		} else if (star != NULL) {
			p = star + 1;
			i = ++mark;
		} else
			return false;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

/* Compare numbers: negative, zero or positive like strcmp. */
static int
num_cmp(const struct num *a, const struct num *b)
{
	double x, y;

	if (a->is_int && b->is_int)
		return (a->i > b->i) - (a->i < b->i);
	x = a->is_int ? (double) a->i : a->d;
	y = b->is_int ? (double) b->i : b->d;
	return (x > y) - (x < y);
}

/* Read a JSON number into n. */
static void
num_from_json(const json_t *v, struct num *n)
{
	n->is_int = json_is_integer(v);
	n->i = n->is_int ? json_integer_value(v) : 0;
	n->d = n->is_int ? (double) n->i : json_real_value(v);
}

/* ------------------------------------------------------------------ */
/* hash index                                                          */

/* FNV-1a over a NUL-terminated key. */
static uint64_t
hash_key(const char *key)
{
	uint64_t h = 1469598103934665603ULL;

	for (const unsigned char *p = (const unsigned char *) key; *p; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	return h;
}

/* Size an index for at most expected keys (load stays under one half). */
static cs_err
idx_init(struct index *idx, size_t expected)
{
	size_t size = 16;

	while (size < expected * 2)
		size *= 2;
	if ((idx->slots = calloc(size, sizeof *idx->slots)) == NULL)
		return CS_ENOMEM;
	idx->mask = size - 1;
	return CS_OK;
}

/* Free an index's lists and slots; a zeroed index is a no-op. */
static void
idx_fini(struct index *idx)
{
	if (idx->slots != NULL) {
		for (size_t i = 0; i <= idx->mask; i++)
			free(idx->slots[i].items);
	}
	free(idx->slots);
	idx->slots = NULL;
	idx->mask = 0;
}

/* Find the slot for key: its own, or the empty one it would take. */
static struct slot *
idx_probe(const struct index *idx, const char *key)
{
	size_t i = (size_t) hash_key(key) & idx->mask;

	while (idx->slots[i].key != NULL && strcmp(idx->slots[i].key, key) != 0)
		i = (i + 1) & idx->mask;
	return &idx->slots[i];
}

/* Look key up; NULL when absent or the index is empty. */
static const struct slot *
idx_find(const struct index *idx, const char *key)
{
	const struct slot *s;

	if (idx->slots == NULL || key == NULL)
		return NULL;
	s = idx_probe(idx, key);
	return s->key != NULL ? s : NULL;
}

/* Append item to key's list (key is borrowed). */
static cs_err
idx_add(struct index *idx, const char *key, uint32_t item)
{
	struct slot *s = idx_probe(idx, key);

	if (s->count == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4;
		uint32_t *items = realloc(s->items, cap * sizeof *items);

		if (items == NULL)
			return CS_ENOMEM;
		s->items = items;
		s->cap = cap;
	}
	s->key = key;
	s->items[s->count++] = item;
	return CS_OK;
}

/* ------------------------------------------------------------------ */
/* compiling tests                                                     */

/* Free what a test owns (not the test itself). */
static void
test_fini(struct test *t)
{
	if (t->re != NULL) {
		regfree(t->re);
		free(t->re);
		t->re = NULL;
	}
	for (size_t i = 0; i < t->kid_count; i++)
		test_fini(&t->kids[i]);
	free(t->kids);
	t->kids = NULL;
	t->kid_count = 0;
}

/* Whether glob matches one of the names in domain (NULL-ended). */
static bool
glob_in(const char *glob, const char *const *domain)
{
	for (size_t i = 0; domain[i] != NULL; i++)
		if (cs_glob_match(glob, domain[i]))
			return true;
	return false;
}

/* Check a plain string against the field's type and domain. */
static cs_err
check_string_test(const struct cctx *c, const char *where,
    const struct field_def *f, const char *s)
{
	if (f->type == FT_INT) {
		return perr(c, where, "\"%s\" is a string but %s is a number",
		    s, f->name);
	}
	if (f->domain != NULL && (is_glob(s) ? !glob_in(s, f->domain) :
	    !key_in(s, f->domain))) {
		/* a glob too must match one of the values, or the test can
		 * never hold and its rule is silently dead */
		char list[128];
		size_t used = 0;

		list[0] = '\0';
		for (size_t i = 0; f->domain[i] != NULL; i++) {
			int n = snprintf(list + used, sizeof list - used,
			    "%s%s", i ? ", " : "", f->domain[i]);

			if (n < 0 || (size_t) n >= sizeof list - used)
				break;
			used += (size_t) n;
		}
		return perr(c, where, "\"%s\" is not a %s (expected %s)", s,
		    f->name, list);
	}
	return CS_OK;
}

/* Compile a plain value (string, number or boolean) test. */
static cs_err
compile_plain(const struct cctx *c, const char *where,
    const struct field_def *f, json_t *v, struct test *t)
{
	cs_err rv;

	switch (json_typeof(v)) {
	case JSON_STRING:
		if ((rv = check_string_test(c, where, f,
		    json_string_value(v))) != CS_OK)
			return rv;
		t->str = json_string_value(v);
		t->len = json_string_length(v);
		t->op = is_glob(t->str) ? OP_GLOB : OP_STR;
		return CS_OK;
	case JSON_INTEGER:
	case JSON_REAL:
		if (f->type == FT_STR) {
			return perr(c, where, "a number never equals %s, a "
			    "string", f->name);
		}
		t->op = OP_NUM;
		num_from_json(v, &t->num);
		return CS_OK;
	case JSON_TRUE:
	case JSON_FALSE:
		if (f->type != FT_ANY) {
			return perr(c, where, "a boolean never equals %s",
			    f->name);
		}
		t->op = OP_BOOL;
		t->flag = json_is_true(v);
		return CS_OK;
	default:
		return perr(c, where, "%s is not a test (use a string, number, "
		    "boolean or an operator object)", json_type_name(v));
	}
}

static cs_err compile_test(const struct cctx *c, const char *where,
    const struct field_def *f, json_t *v, int depth, struct test *t);

/* Compile a non-empty array into kids (for "in", "any" and "all"). */
static cs_err
compile_list(const struct cctx *c, const char *where, const char *op,
    const struct field_def *f, json_t *arr, int depth, bool plain,
    struct test *t)
{
	char sub[POL_LOC];
	size_t n;
	cs_err rv;

	if (!json_is_array(arr) || (n = json_array_size(arr)) == 0) {
		return perr(c, where, "%s: must be a non-empty array", op);
	}
	if ((t->kids = calloc(n, sizeof *t->kids)) == NULL)
		return oom(c);
	t->op = OP_ANY;
	t->kid_count = n;
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(arr, i);

		loc(sub, sizeof sub, "%s.%s[%zu]", where, op, i);
		rv = plain ? compile_plain(c, sub, f, v, &t->kids[i]) :
		    compile_test(c, sub, f, v, depth, &t->kids[i]);
		if (rv != CS_OK)
			return rv;
	}
	return CS_OK;
}

/* Check a regex's shape before regcomp: glibc expands stacked and nested
 * repeats ("a+++", "((a{1,100}){1,100}){1,100}") in exponential time and
 * memory, so a short policy could stall a reload; and it matches
 * back-references by backtracking, so an agent's argument could stall a
 * decision. Refuses stacked quantifiers, back-references, groups nested
 * deeper than 8, and patterns whose expanded size (each {n,m} copies its
 * atom m times) passes 4096 atoms. Returns NULL when the shape is fine,
 * else why. */
static const char *
regex_shape(const char *re)
{
	long acc[10] = { 0 };   /* expanded size per open group */
	long last = 0;          /* size of the previous atom */
	int depth = 0;
	bool after_quant = false;

	for (const char *p = re; *p != '\0'; p++) {
		long reps = 0;

		switch (*p) {
		case '\\':
			/* glibc's regexec backtracks on back-references: a
			 * 50-byte argument can hold a call for seconds */
			if (p[1] >= '1' && p[1] <= '9')
				return "back-references (\\1 to \\9) are not "
				    "allowed: matching them can take "
				    "exponential time";
			if (p[1] != '\0')
				p++;
			last = 1;
			break;
		case '[':
			/* a bracket expression is one atom: skip to its ']'
			 * (a ']' right after '[' or '[^' is a member) */
			p++;
			if (*p == '^')
				p++;
			if (*p == ']')
				p++;
			while (*p != '\0' && *p != ']') {
				if (*p == '[' && (p[1] == ':' || p[1] == '.' ||
				    p[1] == '=')) {
					char close = p[1];

					p += 2;
					while (*p != '\0' &&
					    !(*p == close && p[1] == ']'))
						p++;
					if (*p != '\0')
						p++;
				}
				if (*p != '\0')
					p++;
			}
			if (*p == '\0')
				return NULL; /* unbalanced: regcomp says why */
			last = 1;
			break;
		case '(':
			if (++depth > 8)
				return "groups nested deeper than 8";
			acc[depth] = 0;
			after_quant = false;
			last = 0;
			continue;
		case ')':
			if (depth == 0) {
				/* glibc takes an unmatched ')' literally */
				last = 1;
				break;
			}
			last = acc[depth--];
			acc[depth] += last;
			after_quant = false;
			continue;
		case '*':
		case '+':
		case '?':
			reps = 1; /* a loop, not a copy */
			break;
		case '{': {
			char *end;
			long lo = strtol(p + 1, &end, 10), hi = lo;

			if (*end == ',')
				hi = end[1] == '}' ? lo + 1 :
				    strtol(end + 1, &end, 10);
			if (lo < 0 || hi < 0 || lo > 1000 || hi > 1000)
				return "repeat counts above 1000 are not allowed";
			reps = hi > 1 ? hi - 1 : 1;
			while (*p != '\0' && *p != '}')
				p++;
			if (*p == '\0')
				return NULL;
			break;
		}
		case '|':
		case '^':
		case '$':
			after_quant = false;
			last = 0;
			continue;
		default:
			last = 1;
			break;
		}
		if (reps > 0) {
			if (after_quant)
				return "stacked quantifiers (such as \"a++\" or "
				    "\"a*{2}\") are not allowed";
			after_quant = true;
			acc[depth] += last * reps;
		} else {
			after_quant = false;
			acc[depth] += last;
		}
		if (acc[depth] > 4096)
			return "the pattern expands to more than 4096 atoms "
			    "(nested or large {n,m} repeats)";
	}
	return NULL;
}

/* Compile one operator of an operator object into t. */
static cs_err
compile_op(const struct cctx *c, const char *where,
    const struct field_def *f, json_t *obj, const char *key,
    json_t *v, int depth, struct test *t)
{
	static const struct {
		const char *name;
		enum op op;
	} cmps[] = {
		{ "<", OP_LT }, { "<=", OP_LE }, { ">", OP_GT }, { ">=", OP_GE },
	};
	char sub[POL_LOC];

	loc(sub, sizeof sub, "%s.%s", where, key);
	for (size_t i = 0; i < CS_ARRAY_LEN(cmps); i++) {
		if (strcmp(key, cmps[i].name) != 0)
			continue;
		if (!json_is_number(v))
			return perr(c, sub, "must be a number");
		if (f->type == FT_STR) {
			return perr(c, sub, "%s is a string; compare numbers "
			    "only", f->name);
		}
		t->op = cmps[i].op;
		num_from_json(v, &t->num);
		return CS_OK;
	}
	if (strcmp(key, "in") == 0)
		return compile_list(c, where, "in", f, v, depth, true, t);
	if (strcmp(key, "any") == 0 || strcmp(key, "all") == 0) {
		cs_err rv;

		if (depth + 1 > POL_MAX_DEPTH) {
			return perr(c, sub, "not/any/all nested deeper than %d",
			    POL_MAX_DEPTH);
		}
		rv = compile_list(c, where, key, f, v, depth + 1, false, t);
		t->op = strcmp(key, "any") == 0 ? OP_ANY : OP_ALL;
		return rv;
	}
	if (strcmp(key, "not") == 0) {
		if (depth + 1 > POL_MAX_DEPTH) {
			return perr(c, sub, "not/any/all nested deeper than %d",
			    POL_MAX_DEPTH);
		}
		if ((t->kids = calloc(1, sizeof *t->kids)) == NULL)
			return oom(c);
		t->op = OP_NOT;
		t->kid_count = 1;
		return compile_test(c, sub, f, v, depth + 1, t->kids);
	}
	if (strcmp(key, "exists") == 0) {
		if (!json_is_boolean(v))
			return perr(c, sub, "must be true or false");
		t->op = OP_EXISTS;
		t->flag = json_is_true(v);
		return CS_OK;
	}
	if (strcmp(key, "matches") == 0) {
		json_t *icase = json_object_get(obj, "icase");
		const char *shape;
		char err[256];
		int flags = REG_EXTENDED | REG_NOSUB, rc;

		if (!json_is_string(v))
			return perr(c, sub, "must be a string (a POSIX ERE)");
		if (json_string_length(v) > POL_MAX_REGEX) {
			return perr(c, sub, "regex longer than %d bytes",
			    POL_MAX_REGEX);
		}
		if (f->type == FT_INT) {
			return perr(c, sub, "%s is a number; regexes test "
			    "strings only", f->name);
		}
		if (icase != NULL && !json_is_boolean(icase)) {
			return perr(c, loc(sub, sizeof sub, "%s.icase", where),
			    "must be true or false");
		}
		if (json_is_true(icase))
			flags |= REG_ICASE;
		if ((shape = regex_shape(json_string_value(v))) != NULL)
			return perr(c, sub, "bad regex: %s", shape);
		if ((t->re = malloc(sizeof *t->re)) == NULL)
			return oom(c);
		if ((rc = regcomp(t->re, json_string_value(v), flags)) != 0) {
			regerror(rc, t->re, err, sizeof err);
			free(t->re);
			t->re = NULL;
			if (rc == REG_ESPACE)
				return oom(c);
			return perr(c, sub, "bad regex: %s", err);
		}
		t->op = OP_MATCH;
		return CS_OK;
	}
	return perr(c, where, "unknown operator \"%s\" (expected in, <, <=, "
	    ">, >=, matches, icase, exists, not, any, all)", key);
}

/* Compile a test: a plain value or an object of operators, which must
 * all hold. depth counts the not/any/all around it. */
static cs_err
compile_test(const struct cctx *c, const char *where,
    const struct field_def *f, json_t *v, int depth, struct test *t)
{
	const char *key;
	json_t *value;
	size_t ops = 0, i = 0;
	cs_err rv;

	if (!json_is_object(v))
		return compile_plain(c, where, f, v, t);
	json_object_foreach(v, key, value) {
		(void) value;
		if (strcmp(key, "icase") != 0)
			ops++;
	}
	if (json_object_size(v) == 0)
		return perr(c, where, "empty test object");
	if (json_object_get(v, "icase") != NULL &&
	    json_object_get(v, "matches") == NULL)
		return perr(c, where, "icase needs matches");
	if (ops == 1) {
		json_object_foreach(v, key, value) {
			if (strcmp(key, "icase") != 0)
				return compile_op(c, where, f, v, key, value,
				    depth, t);
		}
	}
	if ((t->kids = calloc(ops, sizeof *t->kids)) == NULL)
		return oom(c);
	t->op = OP_ALL;
	t->kid_count = ops;
	json_object_foreach(v, key, value) {
		if (strcmp(key, "icase") == 0)
			continue;
		if ((rv = compile_op(c, where, f, v, key, value, depth,
		    &t->kids[i++])) != CS_OK)
			return rv;
	}
	return CS_OK;
}

/* Split "args.a.0.b" into segments owned by cond. */
static cs_err
compile_path(const struct cctx *c, const char *where, const char *name,
    struct cond *cond)
{
	const char *path;
	size_t count = 1, len;
	char *p;

	if (strncmp(name, "args.", 5) != 0 || name[5] == '\0') {
		return perr(c, where, "args needs a path, as in "
		    "args.amount");
	}
	path = name + 5;
	len = strlen(path);
	for (size_t i = 0; i < len; i++)
		count += path[i] == '.';
	if (count > POL_MAX_SEGMENTS) {
		return perr(c, where, "path has more than %d segments",
		    POL_MAX_SEGMENTS);
	}
	if ((cond->path_buf = strdup(path)) == NULL ||
	    (cond->segs = calloc(count, sizeof *cond->segs)) == NULL)
		return oom(c);
	p = cond->path_buf;
	for (size_t i = 0; i < count; i++) {
		char *dot = strchr(p, '.');
		size_t digits = 0;

		if (dot != NULL)
			*dot = '\0';
		if (*p == '\0')
			return perr(c, where, "empty segment in args path");
		cond->segs[i].key = p;
		cond->segs[i].index = -1;
		while (p[digits] >= '0' && p[digits] <= '9')
			digits++;
		if (p[digits] == '\0' && digits <= 9)
			cond->segs[i].index = strtol(p, NULL, 10);
		if (dot != NULL)
			p = dot + 1;
	}
	cond->seg_count = count;
	return CS_OK;
}

/* Compile the "if" object of a rule. */
static cs_err
compile_if(const struct cctx *c, const char *rloc, json_t *cond_obj,
    struct rule *r)
{
	char where[POL_LOC];
	const char *key;
	json_t *value;
	size_t i = 0;
	cs_err rv;

	if (cond_obj == NULL)
		return CS_OK;
	if (!json_is_object(cond_obj)) {
		return perr(c, loc(where, sizeof where, "%s: if", rloc),
		    "must be an object");
	}
	if (json_object_size(cond_obj) == 0)
		return CS_OK;
	r->conds = calloc(json_object_size(cond_obj), sizeof *r->conds);
	if (r->conds == NULL)
		return oom(c);
	json_object_foreach(cond_obj, key, value) {
		struct cond *cond = &r->conds[i++];
		const struct field_def *f = NULL;

		r->cond_count = i;
		loc(where, sizeof where, "%s: if.%s", rloc, key);
		for (size_t j = 0; j < CS_ARRAY_LEN(field_defs); j++) {
			if (strcmp(key, field_defs[j].name) == 0)
				f = &field_defs[j];
		}
		if (f == NULL && (strcmp(key, "args") == 0 ||
		    strncmp(key, "args.", 5) == 0)) {
			f = &args_def;
			if ((rv = compile_path(c, where, key, cond)) != CS_OK)
				return rv;
		}
		if (f == NULL) {
			return perr(c, loc(where, sizeof where, "%s: if", rloc),
			    "unknown field \"%s\"", key);
		}
		cond->field = f->field;
		if ((rv = compile_test(c, where, f, value, 0, &cond->test)) !=
		    CS_OK)
			return rv;
	}
	return CS_OK;
}

/* Report whether s is a usable rule id: [A-Za-z0-9._:-]+. */
static bool
id_ok(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("._:-", *s) != NULL))
			return false;
	}
	return true;
}

/* Compile rules[i] into r, checking its id against ids. */
static cs_err
compile_rule(const struct cctx *c, size_t i, json_t *obj,
    struct index *ids, struct rule *r)
{
	static const char *const keys[] = {
		"id", "if", "then", "approvers", "timeout_s", "reason",
		"description", NULL,
	};
	char rloc[POL_LOC];
	const struct slot *dup;
	const char *then = NULL, *desc = NULL;
	json_t *id;
	cs_err rv;

	loc(rloc, sizeof rloc, "rules[%zu]", i);
	if (!json_is_object(obj))
		return perr(c, rloc, "must be an object");
	if ((id = json_object_get(obj, "id")) == NULL)
		return perr(c, rloc, "id: missing");
	if (!json_is_string(id))
		return perr(c, rloc, "id: must be a string");
	r->id = json_string_value(id);
	if (strlen(r->id) > POL_MAX_ID || !id_ok(r->id)) {
		return perr(c, rloc, "id: \"%s\" must be 1 to %d of "
		    "A-Z a-z 0-9 . _ : -", r->id, POL_MAX_ID);
	}
	loc(rloc, sizeof rloc, "rules[%zu] (id \"%s\")", i, r->id);
	if (strcmp(r->id, "default") == 0 || strcmp(r->id, "error") == 0)
		return perr(c, rloc, "id: \"%s\" is reserved", r->id);
	if ((dup = idx_find(ids, r->id)) != NULL) {
		return perr(c, rloc, "id: duplicate of rules[%u]",
		    (unsigned) dup->items[0]);
	}
	if (idx_add(ids, r->id, (uint32_t) i) != CS_OK)
		return oom(c);
	if ((rv = check_keys(c, rloc, obj, keys)) != CS_OK)
		return rv;
	if ((rv = get_str(c, rloc, obj, "then", 16, &then)) != CS_OK)
		return rv;
	if (then == NULL)
		return perr(c, rloc, "then: missing");
	if (pol_decision_parse(then, &r->then) != CS_OK)
		return perr(c, rloc, "then: must be one of allow, ask, deny");
	r->approvers = 1;
	if (r->then != POL_ASK && json_object_get(obj, "approvers") != NULL)
		return perr(c, rloc, "approvers: only for \"then\": \"ask\"");
	if (r->then != POL_ASK && json_object_get(obj, "timeout_s") != NULL)
		return perr(c, rloc, "timeout_s: only for \"then\": \"ask\"");
	if ((rv = get_int(c, rloc, obj, "approvers", 1, POL_MAX_APPROVERS,
	    &r->approvers)) != CS_OK ||
	    (rv = get_int(c, rloc, obj, "timeout_s", 1, POL_MAX_TIMEOUT_S,
	    &r->timeout_s)) != CS_OK ||
	    (rv = get_str(c, rloc, obj, "reason", POL_MAX_REASON,
	    &r->reason)) != CS_OK ||
	    (rv = get_str(c, rloc, obj, "description", SIZE_MAX,
	    &desc)) != CS_OK)
		return rv;
	return compile_if(c, rloc, json_object_get(obj, "if"), r);
}

/* ------------------------------------------------------------------ */
/* compiling the policy                                                */

/* Report whether s can go into a version string: no space, '@' or '#'. */
static bool
name_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > 128)
		return false;
	for (; *s; s++) {
		if ((unsigned char) *s <= ' ' || *s == '@' || *s == '#' ||
		    *s == 0x7f)
			return false;
	}
	return true;
}

/* Compile "defaults". */
static cs_err
compile_defaults(const struct cctx *c, json_t *obj, pol_set *pol)
{
	static const char *const keys[] = {
		"decision", "approval_timeout_s", "on_timeout", "reason", NULL,
	};
	const char *decision = NULL, *on_timeout = NULL;
	cs_err rv;

	pol->def_decision = POL_DENY;
	pol->def_timeout_s = POL_DEFAULT_TIMEOUT_S;
	pol->on_timeout = POL_DENY;
	if (obj == NULL)
		return CS_OK;
	if (!json_is_object(obj))
		return perr(c, "defaults", "must be an object");
	if ((rv = check_keys(c, "defaults", obj, keys)) != CS_OK ||
	    (rv = get_str(c, "defaults", obj, "decision", 16,
	    &decision)) != CS_OK ||
	    (rv = get_str(c, "defaults", obj, "on_timeout", 16,
	    &on_timeout)) != CS_OK ||
	    (rv = get_str(c, "defaults", obj, "reason", POL_MAX_REASON,
	    &pol->def_reason)) != CS_OK ||
	    (rv = get_int(c, "defaults", obj, "approval_timeout_s", 1,
	    POL_MAX_TIMEOUT_S, &pol->def_timeout_s)) != CS_OK)
		return rv;
	if (decision != NULL &&
	    pol_decision_parse(decision, &pol->def_decision) != CS_OK) {
		return perr(c, "defaults", "decision: must be one of allow, "
		    "ask, deny");
	}
	if (on_timeout != NULL) {
		if (strcmp(on_timeout, "deny") == 0)
			pol->on_timeout = POL_DENY;
		else if (strcmp(on_timeout, "allow") == 0)
			pol->on_timeout = POL_ALLOW;
		else {
			return perr(c, "defaults", "on_timeout: must be deny "
			    "or allow");
		}
	}
	return CS_OK;
}

/* Compile "tools": risk per tool name or glob. */
static cs_err
compile_tools(const struct cctx *c, json_t *obj, pol_set *pol)
{
	static const char *const keys[] = { "risk", "description", NULL };
	const char *key;
	json_t *value;
	char where[POL_LOC];
	cs_err rv;

	if (obj == NULL)
		return CS_OK;
	if (!json_is_object(obj))
		return perr(c, "tools", "must be an object");
	if (json_object_size(obj) == 0)
		return CS_OK;
	pol->tools = calloc(json_object_size(obj), sizeof *pol->tools);
	if (pol->tools == NULL ||
	    idx_init(&pol->tool_exact, json_object_size(obj)) != CS_OK)
		return oom(c);
	json_object_foreach(obj, key, value) {
		struct tool_risk *t = &pol->tools[pol->tool_count];
		const char *risk = NULL, *desc = NULL;

		loc(where, sizeof where, "tools.\"%s\"", key);
		if (*key == '\0')
			return perr(c, "tools", "empty tool name");
		if (!json_is_object(value))
			return perr(c, where, "must be an object");
		if ((rv = check_keys(c, where, value, keys)) != CS_OK ||
		    (rv = get_str(c, where, value, "risk", 16,
		    &risk)) != CS_OK ||
		    (rv = get_str(c, where, value, "description", SIZE_MAX,
		    &desc)) != CS_OK)
			return rv;
		if (risk == NULL)
			return perr(c, where, "risk: missing");
		t->risk = NULL;
		for (size_t i = 0; i < 4; i++) {
			if (strcmp(risk, risk_names[i]) == 0)
				t->risk = risk_names[i];
		}
		if (t->risk == NULL) {
			return perr(c, where, "risk: must be one of low, "
			    "medium, high, critical");
		}
		t->pattern = key;
		t->len = strlen(key);
		t->is_glob = is_glob(key);
		if (idx_add(&pol->tool_exact, key,
		    (uint32_t) pol->tool_count) != CS_OK)
			return oom(c);
		pol->tool_count++;
	}
	return CS_OK;
}

/* Build the tool index: rules whose "tool" test is an exact string go
 * into that tool's bucket, the rest into the generic list. */
static cs_err
index_rules(const struct cctx *c, pol_set *pol)
{
	if (idx_init(&pol->by_tool, pol->rule_count) != CS_OK)
		return oom(c);
	pol->generic = calloc(pol->rule_count ? pol->rule_count : 1,
	    sizeof *pol->generic);
	if (pol->generic == NULL)
		return oom(c);
	for (size_t i = 0; i < pol->rule_count; i++) {
		const struct rule *r = &pol->rules[i];
		const char *exact = NULL;

		for (size_t j = 0; j < r->cond_count; j++) {
			if (r->conds[j].field == F_TOOL &&
			    r->conds[j].test.op == OP_STR)
				exact = r->conds[j].test.str;
		}
		if (exact == NULL)
			pol->generic[pol->generic_count++] = (uint32_t) i;
		else if (idx_add(&pol->by_tool, exact, (uint32_t) i) != CS_OK)
			return oom(c);
	}
	return CS_OK;
}

/* Compile "rules". */
static cs_err
compile_rules(const struct cctx *c, json_t *arr, pol_set *pol)
{
	struct index ids = { NULL, 0 };
	size_t n;
	cs_err rv = CS_OK;

	if (arr == NULL)
		return perr(c, "rules", "missing");
	if (!json_is_array(arr))
		return perr(c, "rules", "must be an array");
	if ((n = json_array_size(arr)) > POL_MAX_RULES)
		return perr(c, "rules", "more than %d rules", POL_MAX_RULES);
	if (n > 0 && (pol->rules = calloc(n, sizeof *pol->rules)) == NULL)
		return oom(c);
	if (idx_init(&ids, n) != CS_OK)
		return oom(c);
	for (size_t i = 0; i < n; i++) {
		pol->rule_count = i + 1;
		if ((rv = compile_rule(c, i, json_array_get(arr, i), &ids,
		    &pol->rules[i])) != CS_OK)
			goto fail;
	}
	rv = index_rules(c, pol);
fail:
	idx_fini(&ids);
	return rv;
}

cs_err
pol_set_compile(const char *buf, size_t len, const char *origin,
    pol_set **out, char **cause)
{
	static const char *const keys[] = {
		"policy", "version", "description", "defaults", "tools",
		"rules", NULL,
	};
	struct cctx c = { origin != NULL ? origin : "<policy>", cause };
	const char *name = NULL, *version = NULL, *desc = NULL;
	char hash[65];
	json_error_t jerr;
	pol_set *pol = NULL;
	cs_err rv;

	if (buf == NULL || out == NULL) {
		cs_set_cause(cause, "%s: no policy text", c.origin);
		return CS_EINVAL;
	}
	if (len > POL_MAX_FILE) {
		rv = perr(&c, NULL, "larger than %u bytes", POL_MAX_FILE);
		goto fail;
	}
	if ((pol = calloc(1, sizeof *pol)) == NULL) {
		rv = oom(&c);
		goto fail;
	}
	memset(&jerr, 0, sizeof jerr);
	pol->root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (pol->root == NULL) {
		if (jansson_oom(&jerr)) {
			rv = oom(&c);
			goto fail;
		}
		cs_set_cause(cause, "%s:%d:%d: %s", c.origin, jerr.line,
		    jerr.column, jerr.text);
		rv = CS_EPARSE;
		goto fail;
	}
	if (!json_is_object(pol->root)) {
		rv = perr(&c, NULL, "a policy must be a JSON object");
		goto fail;
	}
	if ((rv = check_keys(&c, NULL, pol->root, keys)) != CS_OK ||
	    (rv = get_str(&c, NULL, pol->root, "policy", 128,
	    &name)) != CS_OK ||
	    (rv = get_str(&c, NULL, pol->root, "version", 128,
	    &version)) != CS_OK ||
	    (rv = get_str(&c, NULL, pol->root, "description", SIZE_MAX,
	    &desc)) != CS_OK)
		goto fail;
	if (name == NULL || !name_ok(name)) {
		rv = perr(&c, "policy", name == NULL ? "missing" :
		    "must be 1 to 128 printable characters other than space, "
		    "@ and #");
		goto fail;
	}
	if (version == NULL || !name_ok(version)) {
		rv = perr(&c, "version", version == NULL ? "missing" :
		    "must be 1 to 128 printable characters other than space, "
		    "@ and #");
		goto fail;
	}
	if ((rv = compile_defaults(&c, json_object_get(pol->root,
	    "defaults"), pol)) != CS_OK ||
	    (rv = compile_tools(&c, json_object_get(pol->root, "tools"),
	    pol)) != CS_OK ||
	    (rv = compile_rules(&c, json_object_get(pol->root, "rules"),
	    pol)) != CS_OK)
		goto fail;
	cs_sha256_hex(buf, len, hash);
	if ((pol->version = cs_asprintf("%s@%s#%.8s", name, version,
	    hash)) == NULL) {
		rv = oom(&c);
		goto fail;
	}
	*out = pol;
	return CS_OK;
fail:
	pol_set_free(pol);
	return rv;
}

cs_err
pol_set_load(const char *path, pol_set **out, char **cause)
{
	char *buf = NULL;
	size_t len = 0;
	cs_err rv;

	if (path == NULL || out == NULL)
		return CS_EINVAL;
	if ((rv = cs_read_file(path, POL_MAX_FILE, &buf, &len, cause)) !=
	    CS_OK)
		goto fail;
	rv = pol_set_compile(buf, len, path, out, cause);
fail:
	free(buf);
	return rv;
}

void
pol_set_free(pol_set *pol)
{
	if (pol == NULL)
		return;
	for (size_t i = 0; i < pol->rule_count; i++) {
		struct rule *r = &pol->rules[i];

		for (size_t j = 0; j < r->cond_count; j++) {
			test_fini(&r->conds[j].test);
			free(r->conds[j].segs);
			free(r->conds[j].path_buf);
		}
		free(r->conds);
	}
	free(pol->rules);
	free(pol->tools);
	free(pol->generic);
	idx_fini(&pol->tool_exact);
	idx_fini(&pol->by_tool);
	free(pol->version);
	json_decref(pol->root);
	free(pol);
}

const char *
pol_set_version(const pol_set *pol)
{
	return pol != NULL && pol->version != NULL ? pol->version : "";
}

size_t
pol_set_rule_count(const pol_set *pol)
{
	return pol != NULL ? pol->rule_count : 0;
}

/* ------------------------------------------------------------------ */
/* evaluation: no allocation, fail closed                              */

/* A field's value for one call. */
struct val {
	enum { V_ABSENT, V_STR, V_NUM, V_BOOL, V_NULL, V_COMPOUND } kind;
	const char *s; /* V_STR: borrowed */
	size_t len;    /* V_STR: bytes */
	struct num n;  /* V_NUM */
	bool b;        /* V_BOOL */
};

struct ectx {
	const pol_input *in;
	const char *risk;
	bool failed; /* an internal error: the answer is deny */
	bool summarized; /* a test read an argument sent as a summary */
};

/* Set v to a C string, or absent for NULL. */
static void
val_str(struct val *v, const char *s)
{
	v->kind = s != NULL ? V_STR : V_ABSENT;
	v->s = s;
	v->len = s != NULL ? strlen(s) : 0;
}

/* Set v to an integer. */
static void
val_int(struct val *v, int i)
{
	v->kind = V_NUM;
	v->n.is_int = true;
	v->n.i = i;
	v->n.d = i;
}

/* Set v from a JSON value (NULL: absent). */
static void
val_json(struct val *v, const json_t *j)
{
	if (j == NULL) {
		v->kind = V_ABSENT;
		return;
	}
	switch (json_typeof(j)) {
	case JSON_STRING:
		v->kind = V_STR;
		v->s = json_string_value(j);
		v->len = json_string_length(j);
		return;
	case JSON_INTEGER:
	case JSON_REAL:
		v->kind = V_NUM;
		num_from_json(j, &v->n);
		return;
	case JSON_TRUE:
	case JSON_FALSE:
		v->kind = V_BOOL;
		v->b = json_is_true(j);
		return;
	case JSON_NULL:
		v->kind = V_NULL;
		return;
	default:
		v->kind = V_COMPOUND;
		return;
	}
}

/* Run a regex over a string that may hold NUL bytes. */
static bool
regex_eval(struct ectx *e, const regex_t *re, const struct val *v)
{
	int rc;

#ifdef REG_STARTEND
	regmatch_t m[1];

	if (v->len > INT_MAX) {
		e->failed = true;
		return false;
	}
	m[0].rm_so = 0;
	m[0].rm_eo = (regoff_t) v->len;
	rc = regexec(re, v->s, 1, m, REG_STARTEND);
#else
	if (strlen(v->s) != v->len) {
		e->failed = true;
		return false;
	}
	rc = regexec(re, v->s, 0, NULL, 0);
#endif
	if (rc == 0)
		return true;
	if (rc != REG_NOMATCH)
		e->failed = true;
	return false;
}

/* Evaluate one test against a value. */
static bool
test_eval(struct ectx *e, const struct test *t, const struct val *v)
{
	switch (t->op) {
	case OP_EXISTS:
		return (v->kind != V_ABSENT) == t->flag;
	case OP_NOT:
		return !test_eval(e, t->kids, v);
	case OP_ANY:
		for (size_t i = 0; i < t->kid_count; i++) {
			if (test_eval(e, &t->kids[i], v))
				return true;
		}
		return false;
	case OP_ALL:
		for (size_t i = 0; i < t->kid_count; i++) {
			if (!test_eval(e, &t->kids[i], v))
				return false;
		}
		return true;
	case OP_STR:
		return v->kind == V_STR && v->len == t->len &&
		    memcmp(v->s, t->str, t->len) == 0;
	case OP_GLOB:
		return v->kind == V_STR && glob_match_n(t->str, v->s, v->len);
	case OP_NUM:
		return v->kind == V_NUM && num_cmp(&v->n, &t->num) == 0;
	case OP_BOOL:
		return v->kind == V_BOOL && v->b == t->flag;
	case OP_LT:
		return v->kind == V_NUM && num_cmp(&v->n, &t->num) < 0;
	case OP_LE:
		return v->kind == V_NUM && num_cmp(&v->n, &t->num) <= 0;
	case OP_GT:
		return v->kind == V_NUM && num_cmp(&v->n, &t->num) > 0;
	case OP_GE:
		return v->kind == V_NUM && num_cmp(&v->n, &t->num) >= 0;
	case OP_MATCH:
		return v->kind == V_STR && regex_eval(e, t->re, v);
	}
	e->failed = true;
	return false;
}

/* Walk args along a compiled path; NULL when any step is missing. */
static const json_t *
args_walk(const json_t *cur, const struct cond *cond)
{
	for (size_t i = 0; i < cond->seg_count && cur != NULL; i++) {
		const struct seg *s = &cond->segs[i];

		if (json_is_object(cur))
			cur = json_object_get(cur, s->key);
		else if (json_is_array(cur) && s->index >= 0)
			cur = json_array_get(cur, (size_t) s->index);
		else
			cur = NULL;
	}
	return cur;
}

/* Report whether v is, or holds, a string an enforcement point sent as a
 * summary (cs_summary); past 64 levels, assume it does. */
static bool
holds_summary(const json_t *v, int depth)
{
	const char *key;
	const json_t *item;
	size_t i;

	if (json_is_string(v))
		return cs_is_summary(json_string_value(v),
		    json_string_length(v));
	if (!json_is_object(v) && !json_is_array(v))
		return false;
	if (depth >= 64)
		return true;
	if (json_is_object(v)) {
		json_object_foreach((json_t *) v, key, item) {
			if (holds_summary(item, depth + 1))
				return true;
		}
	} else {
		json_array_foreach(v, i, item) {
			if (holds_summary(item, depth + 1))
				return true;
		}
	}
	return false;
}

/* Evaluate one condition of a rule. */
static bool
cond_eval(struct ectx *e, const struct cond *cond)
{
	const pol_input *in = e->in;
	struct val v = { V_ABSENT, NULL, 0, { false, 0, 0 }, false };

	switch (cond->field) {
	case F_TOOL:
		val_str(&v, in->tool);
		break;
	case F_ACTION:
		val_str(&v, in->action);
		break;
	case F_RESOURCE:
		val_str(&v, in->resource);
		break;
	case F_AGENT:
		val_str(&v, in->agent);
		break;
	case F_USER:
		val_str(&v, in->user);
		break;
	case F_PURPOSE:
		val_str(&v, in->purpose);
		break;
	case F_POSTURE:
		val_str(&v, in->posture);
		break;
	case F_RISK:
		val_str(&v, e->risk);
		break;
	case F_CHAIN_DEPTH:
		val_int(&v, in->chain_depth);
		break;
	case F_TRUST:
		val_int(&v, in->trust);
		break;
	case F_HOUR:
		val_int(&v, in->hour);
		break;
	case F_WEEKDAY:
		val_int(&v, in->weekday);
		break;
	case F_RATE:
		val_int(&v, in->rate_per_min);
		break;
	case F_DENIALS:
		val_int(&v, in->denials);
		break;
	case F_ARGS: {
		const json_t *arg = args_walk(in->args, cond);

		/* a test of a value cut short cannot be judged: whether it
		 * exists is still known */
		if (arg != NULL && cond->test.op != OP_EXISTS &&
		    holds_summary(arg, 0))
			e->summarized = true;
		val_json(&v, arg);
		break;
	}
	case F_SCOPE:
		if (in->scope_count == 0)
			break;
		if (in->scopes == NULL) {
			e->failed = true;
			return false;
		}
		/* Any one of the token's patterns passing is enough. */
		for (size_t i = 0; i < in->scope_count; i++) {
			if (in->scopes[i] == NULL) {
				e->failed = true;
				return false;
			}
			val_str(&v, in->scopes[i]);
			if (test_eval(e, &cond->test, &v))
				return true;
		}
		return false;
	default:
		e->failed = true;
		return false;
	}
	return test_eval(e, &cond->test, &v);
}

/* Report whether every condition of r holds. */
static bool
rule_eval(struct ectx *e, const struct rule *r)
{
	for (size_t i = 0; i < r->cond_count; i++) {
		if (!cond_eval(e, &r->conds[i]))
			return false;
	}
	return true;
}

/* The tool's risk: exact key, else the longest matching glob key (the
 * first of equal length), else "unknown". */
static const char *
risk_of(const pol_set *pol, const char *tool)
{
	const struct slot *s;
	const struct tool_risk *best = NULL;
	size_t len;

	if (tool == NULL)
		return "unknown";
	if ((s = idx_find(&pol->tool_exact, tool)) != NULL)
		return pol->tools[s->items[0]].risk;
	len = strlen(tool);
	for (size_t i = 0; i < pol->tool_count; i++) {
		const struct tool_risk *t = &pol->tools[i];

		if (!t->is_glob || (best != NULL && t->len <= best->len))
			continue;
		if (glob_match_n(t->pattern, tool, len))
			best = t;
	}
	return best != NULL ? best->risk : "unknown";
}

void
pol_eval(const pol_set *pol, const pol_input *in, pol_result *out)
{
	struct ectx e = { in, "unknown", false, false };
	const struct slot *bucket = NULL;
	const uint32_t *a = NULL, *g;
	size_t na = 0, ng, i = 0, j = 0;
	const struct rule *best = NULL;

	if (out == NULL)
		return;
	out->decision = POL_DENY;
	out->rule = "error";
	out->risk = "unknown";
	out->reason = "policy evaluation failed";
	out->approvers = 1;
	out->timeout_s = POL_DEFAULT_TIMEOUT_S;
	out->on_timeout = POL_DENY;
	if (pol == NULL || in == NULL)
		return;
	e.risk = risk_of(pol, in->tool);
	out->risk = e.risk;
	out->timeout_s = pol->def_timeout_s;
	if ((bucket = idx_find(&pol->by_tool, in->tool)) != NULL) {
		a = bucket->items;
		na = bucket->count;
	}
	g = pol->generic;
	ng = pol->generic_count;
	/* Merge the tool's bucket with the generic rules in file order, so
	 * that ties go to the first rule just as a linear scan would. */
	while (i < na || j < ng) {
		uint32_t k = (j >= ng || (i < na && a[i] < g[j])) ? a[i++] :
		    g[j++];
		const struct rule *r;

		if (k >= pol->rule_count) {
			e.failed = true;
			break;
		}
		r = &pol->rules[k];
		if (best != NULL && r->then <= best->then)
			continue;
		if (rule_eval(&e, r)) {
			best = r;
			if (r->then == POL_DENY)
				break;
		}
		if (e.failed)
			break;
	}
	if (e.failed)
		return;
	out->on_timeout = pol->on_timeout;
	if (e.summarized && (best == NULL || best->then != POL_DENY)) {
		/* the answer may hang on bytes the policy never saw */
		out->decision = POL_DENY;
		out->rule = POL_RULE_SUMMARIZED;
		out->reason = "an argument the policy tests was sent "
		    "summarized (too large to send whole), so it cannot be "
		    "judged";
		return;
	}
	if (best == NULL) {
		out->decision = pol->def_decision;
		out->rule = "default";
		out->reason = pol->def_reason;
		return;
	}
	out->decision = best->then;
	out->rule = best->id;
	out->reason = best->reason;
	if (best->then == POL_ASK) {
		out->approvers = best->approvers;
		if (best->timeout_s > 0)
			out->timeout_s = best->timeout_s;
	}
}

/* ------------------------------------------------------------------ */
/* table tests                                                         */

/* One parsed test case; strings are borrowed from the cases root. */
struct tcase {
	const char *name;
	pol_input in;
	const char *scopes[POL_MAX_SCOPES];
	pol_decision want;
	const char *want_rule; /* NULL: any */
	int want_approvers;    /* 0: any */
	const char *want_risk; /* NULL: any */
};

/* Parse the "input" object of a case. */
static cs_err
case_input(const struct cctx *c, const char *where, json_t *obj,
    struct tcase *tc)
{
	static const char *const keys[] = {
		"tool", "action", "resource", "agent", "user", "purpose",
		"posture", "scope", "chain_depth", "trust", "hour", "weekday",
		"rate.session_per_min", "session.denials", "args", NULL,
	};
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
		int min, max;
	} ints[] = {
		{ "chain_depth", offsetof(pol_input, chain_depth), 1, 1000 },
		{ "trust", offsetof(pol_input, trust), 0, 4 },
		{ "hour", offsetof(pol_input, hour), 0, 23 },
		{ "weekday", offsetof(pol_input, weekday), 0, 6 },
		{ "rate.session_per_min", offsetof(pol_input, rate_per_min), 0,
		    1000000 },
		{ "session.denials", offsetof(pol_input, denials), 0,
		    1000000 },
	};
	pol_input *in = &tc->in;
	json_t *scope;
	cs_err rv;

	in->posture = "normal";
	in->chain_depth = 1;
	in->trust = 2;
	in->hour = 12;
	in->weekday = 3;
	in->rate_per_min = 1;
	in->denials = 0;
	if (obj == NULL)
		return perr(c, where, "missing");
	if (!json_is_object(obj))
		return perr(c, where, "must be an object");
	if ((rv = check_keys(c, where, obj, keys)) != CS_OK)
		return rv;
	for (size_t i = 0; i < CS_ARRAY_LEN(strs); i++) {
		const char **dst = (const char **) (void *) ((char *) in +
		    strs[i].off);

		if ((rv = get_str(c, where, obj, strs[i].key, SIZE_MAX,
		    dst)) != CS_OK)
			return rv;
	}
	if (!key_in(in->posture, posture_names)) {
		return perr(c, where, "posture: must be one of normal, "
		    "elevated, lockdown");
	}
	for (size_t i = 0; i < CS_ARRAY_LEN(ints); i++) {
		int *dst = (int *) (void *) ((char *) in + ints[i].off);

		if ((rv = get_int(c, where, obj, ints[i].key, ints[i].min,
		    ints[i].max, dst)) != CS_OK)
			return rv;
	}
	if ((scope = json_object_get(obj, "scope")) != NULL) {
		if (!json_is_array(scope) ||
		    json_array_size(scope) > POL_MAX_SCOPES) {
			return perr(c, where, "scope: must be an array of at "
			    "most %d strings", POL_MAX_SCOPES);
		}
		for (size_t i = 0; i < json_array_size(scope); i++) {
			const json_t *s = json_array_get(scope, i);

			if (!json_is_string(s)) {
				return perr(c, where, "scope[%zu]: must be a "
				    "string", i);
			}
			tc->scopes[i] = json_string_value(s);
		}
		in->scopes = tc->scopes;
		in->scope_count = json_array_size(scope);
	}
	in->args = json_object_get(obj, "args");
	return CS_OK;
}

/* Parse the "expect" object of a case. */
static cs_err
case_expect(const struct cctx *c, const char *where, json_t *obj,
    struct tcase *tc)
{
	static const char *const keys[] = {
		"decision", "rule", "approvers", "risk", NULL,
	};
	const char *decision = NULL;
	cs_err rv;

	if (obj == NULL)
		return perr(c, where, "missing");
	if (!json_is_object(obj))
		return perr(c, where, "must be an object");
	if ((rv = check_keys(c, where, obj, keys)) != CS_OK ||
	    (rv = get_str(c, where, obj, "decision", 16,
	    &decision)) != CS_OK ||
	    (rv = get_str(c, where, obj, "rule", SIZE_MAX,
	    &tc->want_rule)) != CS_OK ||
	    (rv = get_str(c, where, obj, "risk", SIZE_MAX,
	    &tc->want_risk)) != CS_OK ||
	    (rv = get_int(c, where, obj, "approvers", 1, POL_MAX_APPROVERS,
	    &tc->want_approvers)) != CS_OK)
		return rv;
	if (decision == NULL)
		return perr(c, where, "decision: missing");
	if (pol_decision_parse(decision, &tc->want) != CS_OK)
		return perr(c, where, "decision: must be one of allow, ask, deny");
	return CS_OK;
}

/* Parse cases[i] into tc. */
static cs_err
case_parse(const struct cctx *c, size_t i, json_t *obj,
    struct tcase *tc)
{
	static const char *const keys[] = {
		"name", "description", "input", "expect", NULL,
	};
	char cloc[POL_LOC], where[POL_LOC];
	json_t *name;
	cs_err rv;

	memset(tc, 0, sizeof *tc);
	loc(cloc, sizeof cloc, "cases[%zu]", i);
	if (!json_is_object(obj))
		return perr(c, cloc, "must be an object");
	name = json_object_get(obj, "name");
	if (!json_is_string(name) || json_string_length(name) == 0)
		return perr(c, cloc, "name: must be a non-empty string");
	tc->name = json_string_value(name);
	loc(cloc, sizeof cloc, "cases[%zu] (name \"%s\")", i, tc->name);
	if ((rv = check_keys(c, cloc, obj, keys)) != CS_OK ||
	    (rv = case_input(c, loc(where, sizeof where, "%s: input", cloc),
	    json_object_get(obj, "input"), tc)) != CS_OK ||
	    (rv = case_expect(c, loc(where, sizeof where, "%s: expect", cloc),
	    json_object_get(obj, "expect"), tc)) != CS_OK)
		return rv;
	return CS_OK;
}

/* Describe an outcome for a failure line: "deny (rule x, approvers 2)".
 * Only the parts that are set appear. */
static void
describe(char *buf, size_t size, pol_decision d, const char *rule,
    int approvers, const char *risk)
{
	char num[16] = "";

	if (approvers > 0)
		snprintf(num, sizeof num, "%d", approvers);
	if (rule == NULL && approvers == 0 && risk == NULL) {
		snprintf(buf, size, "%s", pol_decision_name(d));
		return;
	}
	snprintf(buf, size, "%s (%s%s%s%s%s%s)", pol_decision_name(d),
	    rule != NULL ? "rule " : "", rule != NULL ? rule : "",
	    approvers > 0 ? (rule != NULL ? ", approvers " : "approvers ") :
	    "", num,
	    risk != NULL ? (rule != NULL || approvers > 0 ? ", risk " :
	    "risk ") : "", risk != NULL ? risk : "");
}

cs_err
pol_test_run(const pol_set *pol, const char *cases_buf, size_t cases_len,
    const char *origin, void *report, int *passed, int *failed,
    char **cause)
{
	static const char *const keys[] = { "cases", "description", NULL };
	struct cctx c = { origin != NULL ? origin : "<cases>", cause };
	struct index names = { NULL, 0 };
	struct tcase *tc = NULL;
	FILE *f = report;
	json_t *root = NULL;
	json_t *cases;
	json_error_t jerr;
	int pass_count = 0, fail_count = 0;
	size_t n;
	cs_err rv;

	if (pol == NULL || cases_buf == NULL) {
		cs_set_cause(cause, "%s: no policy or no cases", c.origin);
		return CS_EINVAL;
	}
	if (cases_len > POL_MAX_FILE) {
		rv = perr(&c, NULL, "larger than %u bytes", POL_MAX_FILE);
		goto fail;
	}
	memset(&jerr, 0, sizeof jerr);
	root = json_loadb(cases_buf, cases_len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		if (jansson_oom(&jerr)) {
			rv = oom(&c);
			goto fail;
		}
		cs_set_cause(cause, "%s:%d:%d: %s", c.origin, jerr.line,
		    jerr.column, jerr.text);
		rv = CS_EPARSE;
		goto fail;
	}
	if (!json_is_object(root)) {
		rv = perr(&c, NULL, "a cases file must be a JSON object");
		goto fail;
	}
	if ((rv = check_keys(&c, NULL, root, keys)) != CS_OK)
		goto fail;
	cases = json_object_get(root, "cases");
	if (!json_is_array(cases) || (n = json_array_size(cases)) == 0) {
		rv = perr(&c, "cases", "must be a non-empty array");
		goto fail;
	}
	if ((tc = malloc(sizeof *tc)) == NULL ||
	    idx_init(&names, n) != CS_OK) {
		rv = oom(&c);
		goto fail;
	}
	/* Check every case before running any, so a malformed file reports
	 * no results at all. */
	for (size_t i = 0; i < n; i++) {
		const struct slot *dup;

		if ((rv = case_parse(&c, i, json_array_get(cases, i), tc)) !=
		    CS_OK)
			goto fail;
		if ((dup = idx_find(&names, tc->name)) != NULL) {
			char where[POL_LOC];

			rv = perr(&c, loc(where, sizeof where, "cases[%zu]", i),
			    "name: \"%s\" is already used by cases[%u]",
			    tc->name, (unsigned) dup->items[0]);
			goto fail;
		}
		if (idx_add(&names, tc->name, (uint32_t) i) != CS_OK) {
			rv = oom(&c);
			goto fail;
		}
	}
	for (size_t i = 0; i < n; i++) {
		pol_result res;
		char want[256], got[256];

		if ((rv = case_parse(&c, i, json_array_get(cases, i), tc)) !=
		    CS_OK)
			goto fail;
		pol_eval(pol, &tc->in, &res);
		if (res.decision == tc->want &&
		    (tc->want_rule == NULL ||
		    strcmp(tc->want_rule, res.rule) == 0) &&
		    (tc->want_approvers == 0 ||
		    tc->want_approvers == res.approvers) &&
		    (tc->want_risk == NULL ||
		    strcmp(tc->want_risk, res.risk) == 0)) {
			pass_count++;
			continue;
		}
		fail_count++;
		describe(want, sizeof want, tc->want, tc->want_rule,
		    tc->want_approvers, tc->want_risk);
		describe(got, sizeof got, res.decision, res.rule,
		    tc->want_approvers ? res.approvers : 0,
		    tc->want_risk ? res.risk : NULL);
		if (f != NULL)
			fprintf(f, "FAIL %s: want %s, got %s\n", tc->name, want,
			    got);
	}
	if (f != NULL)
		fprintf(f, "%d passed, %d failed\n", pass_count, fail_count);
	if (passed != NULL)
		*passed = pass_count;
	if (failed != NULL)
		*failed = fail_count;
	rv = CS_OK;
fail:
	idx_fini(&names);
	free(tc);
	json_decref(root);
	return rv;
}
