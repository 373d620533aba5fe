/* req.c: strict parsing of agent wire messages.
 * SPDX-License-Identifier: MIT */
#include "req.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

bool
core_name_ok(const char *s)
{
	size_t len = 0;

	if (s == NULL)
		return false;
	for (; s[len] != '\0'; len++) {
		unsigned char c = (unsigned char) s[len];

		if (len >= 128)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("._:@/+-", c) != NULL))
			return false;
	}
	return len > 0;
}

/* ---- the strict parse -------------------------------------------------
 *
 * yajl lexes the frame (about five times faster than jansson's own parser)
 * and these callbacks build the same jansson tree json_loadb would, with
 * json_loadb's checks: duplicate keys and NUL in strings refused, every
 * string and key valid UTF-8 (by jansson's own check, which refuses
 * overlong forms, surrogates and code points above U+10FFFF, where yajl's
 * is looser, so yajl's is off), the top level an object or an array,
 * nothing but whitespace after it. cs_json_scan has already bounded the
 * depth and refused what yajl's lexer lets through: \u escapes of
 * unpaired surrogates (it makes them '?') and \f or \v as whitespace. */

struct build {
	json_t **stack;         /* open containers, innermost last */
	int depth, max_depth;
	json_t *root;
	char *key;              /* the member name waiting for its value: a
	                         * copy, as yajl decodes an escaped name into
	                         * the buffer it then decodes the value into */
	size_t key_len, key_cap;
	yajl_handle h;
	size_t end;             /* bytes up to the end of the root */
	bool ascii;             /* the frame is ASCII: every string is UTF-8 */
	const char *code;       /* why a callback stopped the parse */
	char *cause;
};

/* Stop the parse with code and a message. */
static int
build_fail(struct build *b, const char *code, const char *message)
{
	b->code = code;
	free(b->cause);
	b->cause = NULL;
	cs_set_cause(&b->cause, "invalid JSON: %s", message);
	return 0;
}

/* Why jansson refused to make a string of s: memory, or its UTF-8. */
static int
build_string_fail(struct build *b)
{
	if (errno == ENOMEM)
		return build_fail(b, "too_large", "out of memory");
	return build_fail(b, "bad_utf8", "invalid UTF-8 in a string");
}

/* Put v (stolen) where the parse is: the root, the next element of the
 * open array, or the value of the waiting member. */
static int
build_add(struct build *b, json_t *v)
{
	json_t *top;

	if (v == NULL)
		return build_fail(b, "too_large", "out of memory");
	if (b->depth == 0) {
		if (!json_is_object(v) && !json_is_array(v)) {
			json_decref(v);
			return build_fail(b, "bad_json",
			    "'[' or '{' expected at the top level");
		}
		b->root = v;
	} else if (json_is_array(top = b->stack[b->depth - 1])) {
		if (json_array_append_new(top, v) != 0)
			return build_fail(b, "too_large", "out of memory");
	} else {
		const char *key = b->key;

		if (json_object_getn(top, key, b->key_len) != NULL) {
			json_decref(v);
			return build_fail(b, "duplicate_key", "duplicate key");
		}
		errno = 0;
		if (b->ascii) {
			if (json_object_setn_new_nocheck(top, key, b->key_len,
			    v) != 0)
				return build_fail(b, "too_large",
				    "out of memory");
		} else if (json_object_setn_new(top, key, b->key_len, v) !=
		    0) {
			/* jansson checks the key's UTF-8 here */
			return build_string_fail(b);
		}
	}
	return 1;
}

/* Open a container: add it, then parse into it. */
static int
build_open(struct build *b, json_t *v)
{
	if (!build_add(b, v))
		return 0;
	/* cs_json_scan bounded the depth; this guard only keeps the stack
	 * safe should the two ever disagree */
	if (b->depth >= b->max_depth)
		return build_fail(b, "too_deep", "nested too deep");
	b->stack[b->depth++] = v;
	return 1;
}

static int
build_null(void *ud)
{
	return build_add(ud, json_null());
}

static int
build_bool(void *ud, int value)
{
	return build_add(ud, json_boolean(value));
}

static int
build_int(void *ud, long long value)
{
	return build_add(ud, json_integer((json_int_t) value));
}

static int
build_real(void *ud, double value)
{
	return build_add(ud, json_real(value));
}

static int
build_str(void *ud, const unsigned char *s, size_t len)
{
	struct build *b = ud;
	json_t *v;

	if (memchr(s, '\0', len) != NULL)
		return build_fail(b, "nul_in_string",
		    "\\u0000 is not allowed in a string");
	errno = 0;
	if (b->ascii)
		v = json_stringn_nocheck((const char *) s, len);
	else if ((v = json_stringn((const char *) s, len)) == NULL)
		return build_string_fail(b);
	return build_add(b, v);
}

static int
build_key(void *ud, const unsigned char *s, size_t len)
{
	struct build *b = ud;

	if (memchr(s, '\0', len) != NULL)
		return build_fail(b, "nul_in_string",
		    "\\u0000 is not allowed in a member name");
	if (len >= b->key_cap) {
		char *grown = realloc(b->key, len + 1);

		if (grown == NULL)
			return build_fail(b, "too_large", "out of memory");
		b->key = grown;
		b->key_cap = len + 1;
	}
	memcpy(b->key, s, len);
	b->key_len = len;
	return 1;
}

static int
build_map(void *ud)
{
	return build_open(ud, json_object());
}

static int
build_array(void *ud)
{
	return build_open(ud, json_array());
}

static int
build_close(void *ud)
{
	struct build *b = ud;

	if (--b->depth == 0) /* within a callback: up to this token */
		b->end = yajl_get_bytes_consumed(b->h);
	return 1;
}

/* Whether the text after the root is only JSON whitespace: yajl, asked to
 * refuse trailing garbage, still takes an unterminated string there. */
static bool
nothing_after(const char *buf, size_t len, size_t end)
{
	for (size_t i = end; i < len; i++)
		if (strchr(" \t\n\r", buf[i]) == NULL || buf[i] == '\0')
			return false;
	return true;
}

static const yajl_callbacks build_callbacks = {
	.yajl_null = build_null,
	.yajl_boolean = build_bool,
	.yajl_integer = build_int,
	.yajl_double = build_real,
	.yajl_string = build_str,
	.yajl_start_map = build_map,
	.yajl_map_key = build_key,
	.yajl_end_map = build_close,
	.yajl_start_array = build_array,
	.yajl_end_array = build_close,
};

/* Whether buf holds no byte above 0x7f: eight bytes at a time. */
static bool
ascii_only(const char *buf, size_t len)
{
	uint64_t any = 0, word;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		memcpy(&word, buf + i, 8);
		any |= word;
	}
	for (; i < len; i++)
		any |= (unsigned char) buf[i];
	return (any & UINT64_C(0x8080808080808080)) == 0;
}

/* The code for text yajl or the scan refused: jansson, which reads text
 * in order, would have said bad_utf8 of text that is not UTF-8 at all. */
static const char *
bad_text_code(const char *buf, size_t len)
{
	return cs_utf8_ok(buf, len) ? "bad_json" : "bad_utf8";
}

/* yajl's own allocations for one parse (its handle, lexer, decode
 * buffer and state stack: a few kilobytes) come from a block on the
 * parsing thread's stack, and go with it: no malloc or free per frame,
 * and no large malloc that makes glibc consolidate the small chunks the
 * tree building frees. A request the block cannot hold goes to malloc. */
#define ARENA_SIZE 8192
#define ARENA_ALIGN 16

struct arena {
	size_t used;
	_Alignas(ARENA_ALIGN) unsigned char block[ARENA_SIZE];
};

static bool
arena_owns(const struct arena *a, const void *p)
{
	/* as integers: < on pointers into different objects is undefined */
	uintptr_t c = (uintptr_t) p, start = (uintptr_t) a->block;

	return c >= start && c - start < ARENA_SIZE;
}

/* Each block handed out is preceded by its size, for realloc; a size
 * past the block (where need could wrap) goes straight to malloc. */
static void *
arena_malloc(void *ctx, size_t size)
{
	struct arena *a = ctx;
	size_t need = ARENA_ALIGN + ((size + ARENA_ALIGN - 1) &
	    ~(size_t) (ARENA_ALIGN - 1));
	unsigned char *p;

	if (size > ARENA_SIZE || ARENA_SIZE - a->used < need)
		return malloc(size);
	p = a->block + a->used;
	memcpy(p, &size, sizeof size);
	a->used += need;
	return p + ARENA_ALIGN;
}

static void
arena_free(void *ctx, void *ptr)
{
	if (!arena_owns(ctx, ptr))
		free(ptr); /* an arena block goes with the arena */
}

static void *
arena_realloc(void *ctx, void *ptr, size_t size)
{
	size_t old;
	void *grown;

	if (ptr == NULL)
		return arena_malloc(ctx, size);
	if (!arena_owns(ctx, ptr))
		return realloc(ptr, size);
	memcpy(&old, (unsigned char *) ptr - ARENA_ALIGN, sizeof old);
	if (size <= old)
		return ptr;
	if ((grown = arena_malloc(ctx, size)) != NULL)
		memcpy(grown, ptr, old);
	return grown;
}

json_t *
core_json_parse_strict(const char *buf, size_t len, int max_depth,
    const char **code, char **cause)
{
	json_t *stack[CORE_JSON_DEPTH_MAX];
	struct build b = { .stack = stack, .max_depth = max_depth };
	struct arena arena;
	yajl_alloc_funcs funcs = { arena_malloc, arena_realloc, arena_free,
	    &arena };
	yajl_handle h;
	yajl_status st;
	const char *flaw = NULL;

	if (max_depth > CORE_JSON_DEPTH_MAX)
		b.max_depth = max_depth = CORE_JSON_DEPTH_MAX;
	if (!cs_json_scan(buf, len, max_depth, &flaw)) {
		*code = "too_deep";
		cs_set_cause(cause, "JSON nests deeper than %d levels",
		    max_depth);
		return NULL;
	}
	if (flaw != NULL) {
		*code = bad_text_code(buf, len);
		cs_set_cause(cause, "invalid JSON: %s", flaw);
		return NULL;
	}
	arena.used = 0;
	if ((h = yajl_alloc(&build_callbacks, &funcs, &b)) == NULL) {
		*code = "too_large";
		cs_set_cause(cause, "out of memory parsing JSON");
		return NULL;
	}
	yajl_config(h, yajl_dont_validate_strings, 1);
	b.h = h;
	b.ascii = ascii_only(buf, len);
	st = yajl_parse(h, (const unsigned char *) buf, len);
	if (st == yajl_status_ok)
		st = yajl_complete_parse(h);
	if (st == yajl_status_ok && b.root != NULL &&
	    nothing_after(buf, len, b.end)) {
		yajl_free(h);
		free(b.key);
		return b.root;
	}
	json_decref(b.root);
	if (b.code != NULL) {
		*code = b.code;
		*cause = b.cause;
		b.cause = NULL;
	} else if (st == yajl_status_ok && b.root != NULL) {
		*code = bad_text_code(buf, len);
		cs_set_cause(cause, "invalid JSON at byte %zu: text after the "
		    "value", b.end);
	} else if (st == yajl_status_ok) {
		*code = "bad_json";
		cs_set_cause(cause, "invalid JSON: no value");
	} else {
		unsigned char *msg = yajl_get_error(h, 0, NULL, 0);
		size_t at = yajl_get_bytes_consumed(h), n;

		*code = bad_text_code(buf, len);
		n = msg != NULL ? strcspn((const char *) msg, "\n") : 0;
		cs_set_cause(cause, "invalid JSON at byte %zu: %.*s", at,
		    (int) n, msg != NULL ? (const char *) msg : "");
		yajl_free_error(h, msg);
	}
	free(b.cause);
	free(b.key);
	yajl_free(h);
	return NULL;
}

/* Fetch an optional string member; false with code/cause on a wrong type. */
static bool
req_str(json_t *root, const char *key, bool required, const char **out,
    const char **code, char **cause)
{
	json_t *v = json_object_get(root, key);

	*out = NULL;
	if (v == NULL) {
		if (!required)
			return true;
		*code = "missing_field";
		cs_set_cause(cause, "missing field \"%s\"", key);
		return false;
	}
	if (!json_is_string(v)) {
		*code = "wrong_type";
		cs_set_cause(cause, "field \"%s\" must be a string", key);
		return false;
	}
	*out = json_string_value(v);
	return true;
}

/* Refuse members not listed in allowed (smuggled "decision" and such). */
static bool
req_known_fields(json_t *root, const char *const *allowed, size_t count,
    const char **code, char **cause)
{
	const char *key;
	json_t *v;

	json_object_foreach(root, key, v) {
		size_t i;

		for (i = 0; i < count; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (i == count) {
			*code = "unknown_field";
			cs_set_cause(cause, "unknown field \"%.64s\"", key);
			return false;
		}
	}
	return true;
}

/* Validate an identifier field's characters. */
static bool
req_name(const char *value, const char *key, const char **code,
    char **cause)
{
	if (value == NULL || core_name_ok(value))
		return true;
	*code = "bad_value";
	cs_set_cause(cause, "field \"%s\" must be 1-128 characters of "
	    "[A-Za-z0-9._:@/+-]", key);
	return false;
}

/* Parse the members of an authorize message. */
static bool
req_authorize(core_msg *m, size_t max_args_len, const char **code,
    char **cause)
{
	static const char *const fields[] = { "v", "type", "id", "token",
		"session", "tool", "action", "resource", "args", "context",
		"wait_ms" };
	json_t *v;

	if (!req_known_fields(m->root, fields, CS_ARRAY_LEN(fields), code,
	    cause))
		return false;
	if (!req_str(m->root, "id", false, &m->id, code, cause) ||
	    !req_str(m->root, "token", true, &m->token, code, cause) ||
	    !req_str(m->root, "session", false, &m->session, code, cause) ||
	    !req_str(m->root, "tool", true, &m->tool, code, cause) ||
	    !req_str(m->root, "action", false, &m->action, code, cause) ||
	    !req_str(m->root, "resource", false, &m->resource, code, cause))
		return false;
	if (!req_name(m->id, "id", code, cause) ||
	    !req_name(m->session, "session", code, cause) ||
	    !req_name(m->tool, "tool", code, cause))
		return false;
	if ((m->action != NULL && strlen(m->action) > 128) ||
	    (m->resource != NULL && strlen(m->resource) > 1024)) {
		*code = "bad_value";
		cs_set_cause(cause, "action or resource too long");
		return false;
	}
	if ((v = json_object_get(m->root, "args")) != NULL) {
		char *canon;
		size_t canon_len;

		if (!json_is_object(v)) {
			*code = "wrong_type";
			cs_set_cause(cause, "field \"args\" must be an object");
			return false;
		}
		if ((canon = cs_json_canon(v)) == NULL) {
			*code = "too_large";
			cs_set_cause(cause, "args could not be encoded");
			return false;
		}
		canon_len = strlen(canon);
		memcpy(m->args_digest, "sha256:", 7);
		cs_sha256_hex(canon, canon_len, m->args_digest + 7);
		free(canon);
		if (canon_len > max_args_len) {
			*code = "too_large";
			cs_set_cause(cause, "args larger than %zu bytes",
			    max_args_len);
			return false;
		}
		m->args = v;
	} else
		(void) cs_args_digest(NULL, m->args_digest);
	if ((v = json_object_get(m->root, "context")) != NULL) {
		const char *key;
		json_t *item;

		if (!json_is_object(v)) {
			*code = "wrong_type";
			cs_set_cause(cause, "field \"context\" must be an object");
			return false;
		}
		json_object_foreach(v, key, item) {
			if (!json_is_string(item) ||
			    json_string_length(item) > 1024) {
				*code = "wrong_type";
				cs_set_cause(cause, "context.%.64s must be a "
				    "string of at most 1024 bytes", key);
				return false;
			}
		}
		m->context = v;
		m->purpose = json_string_value(json_object_get(v, "purpose"));
	}
	m->wait_ms = -1;
	if ((v = json_object_get(m->root, "wait_ms")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0) {
			*code = "wrong_type";
			cs_set_cause(cause, "field \"wait_ms\" must be a "
			    "non-negative integer");
			return false;
		}
		m->wait_ms = json_integer_value(v);
	}
	return true;
}

cs_err
core_msg_parse(const char *buf, size_t len, int max_depth,
    size_t max_args_len, core_msg *out, const char **code, char **cause)
{
	static const char *const status_fields[] = { "v", "type", "request",
		"id" };
	core_msg m = { 0 };
	json_t *v;
	const char *type;

	if ((m.root = core_json_parse_strict(buf, len, max_depth, code,
	    cause)) == NULL)
		return CS_EPARSE;
	if (!json_is_object(m.root)) {
		*code = "wrong_type";
		cs_set_cause(cause, "message must be a JSON object");
		goto fail;
	}
	v = json_object_get(m.root, "v");
	if (v == NULL || !json_is_integer(v) ||
	    json_integer_value(v) != CORE_WIRE_VERSION) {
		*code = "bad_version";
		cs_set_cause(cause, "field \"v\" must be %d", CORE_WIRE_VERSION);
		goto fail;
	}
	if (!req_str(m.root, "type", true, &type, code, cause))
		goto fail;
	if (strcmp(type, "authorize") == 0) {
		m.type = CORE_MSG_AUTHORIZE;
		if (!req_authorize(&m, max_args_len, code, cause))
			goto fail;
	} else if (strcmp(type, "status") == 0) {
		m.type = CORE_MSG_STATUS;
		if (!req_known_fields(m.root, status_fields,
		    CS_ARRAY_LEN(status_fields), code, cause) ||
		    !req_str(m.root, "request", true, &m.request, code,
		    cause) ||
		    !req_str(m.root, "id", false, &m.id, code, cause) ||
		    !req_name(m.request, "request", code, cause))
			goto fail;
	} else {
		*code = "unknown_type";
		cs_set_cause(cause, "unknown message type \"%.32s\"", type);
		goto fail;
	}
	*out = m;
	return CS_OK;
fail:
	json_decref(m.root);
	return CS_EINVAL;
}

void
core_msg_fini(core_msg *msg)
{
	json_decref(msg->root);
	msg->root = NULL;
}
