/* fuzz_wire.c: libFuzzer target for the agent wire decoder: arbitrary bytes
 * through core_json_parse_strict and core_msg_parse, with the daemon's
 * default limits, checking what a parsed message promises.
 * SPDX-License-Identifier: MIT */
#include "fuzz.h"
#include "json.h"
#include "req.h"

#include <string.h>

#define WIRE_MAX_DEPTH 32       /* the daemon's default max_depth */
#define WIRE_MAX_ARGS_LEN 32768 /* the daemon's default max_args_len */
#define WIRE_SHALLOW_DEPTH 3    /* a second, tight limit for the scanner */
#define WIRE_GUARD 0xA5         /* fills a core_msg that must stay as is */

/* The codes req.h promises, written out here rather than taken from
 * req.c so that a new, undocumented code fails the run. */
static const char *const stable_codes[] = {
	"bad_json", "too_deep", "bad_utf8", "nul_in_string", "duplicate_key",
	"bad_version", "unknown_type", "missing_field", "wrong_type",
	"unknown_field", "bad_value", "too_large",
};

static const char *const authorize_fields[] = {
	"v", "type", "id", "token", "session", "tool", "action", "resource",
	"args", "context", "wait_ms",
};

static const char *const status_fields[] = { "v", "type", "request", "id" };

/* Whether code is one of the stable codes. */
static bool
code_is_stable(const char *code)
{
	if (code == NULL)
		return false;
	for (size_t i = 0; i < CS_ARRAY_LEN(stable_codes); i++) {
		if (strcmp(code, stable_codes[i]) == 0)
			return true;
	}
	return false;
}

/* Whether key is among the count names. */
static bool
name_in(const char *key, const char *const *names, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (strcmp(key, names[i]) == 0)
			return true;
	}
	return false;
}

/* Whether s is an identifier as req.h describes it: 1..128 bytes of
 * [A-Za-z0-9._:@/+-]. Written again here to check core_name_ok too. */
static bool
ident_ok(const char *s)
{
	static const char extra[] = "._:@/+-";
	size_t len = strlen(s);

	if (len == 0 || len > 128)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') ||
		    (c != '\0' && memchr(extra, c, sizeof extra - 1) != NULL)))
			return false;
	}
	return true;
}

/* Nesting of arrays and objects in v: a scalar is 0, [] and {} are 1. */
static int
json_depth(const json_t *v)
{
	const char *key;
	json_t *item;
	size_t i;
	int deepest = 0, d;

	if (json_is_object(v)) {
		json_object_foreach((json_t *) v, key, item) {
			if ((d = json_depth(item)) > deepest)
				deepest = d;
		}
		return deepest + 1;
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, item) {
			if ((d = json_depth(item)) > deepest)
				deepest = d;
		}
		return deepest + 1;
	}
	return 0;
}

/* Whether a string or key anywhere in v holds a NUL byte. */
static bool
json_has_nul(const json_t *v)
{
	const char *key;
	json_t *item;
	size_t i;

	if (json_is_string(v))
		return strlen(json_string_value(v)) != json_string_length(v);
	if (json_is_object(v)) {
		json_object_foreach((json_t *) v, key, item) {
			if (json_has_nul(item))
				return true;
		}
	}
	if (json_is_array(v)) {
		json_array_foreach(v, i, item) {
			if (json_has_nul(item))
				return true;
		}
	}
	return false;
}

/* Whether needle occurs in the len bytes at buf. */
static bool
has_text(const char *buf, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(buf + i, needle, n) == 0)
			return true;
	return false;
}

/* The string member key of obj, or NULL when absent or not a string. */
static const char *
member_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* The one-pass renderer gives jansson's text, sorted and in order. */
static void
check_dump(const json_t *v)
{
	static const int modes[][2] = {
		{ 0, JSON_COMPACT },
		{ CS_JSON_SORT, JSON_COMPACT | JSON_SORT_KEYS },
	};

	for (size_t i = 0; i < CS_ARRAY_LEN(modes); i++) {
		size_t len = 0;
		char *ours = cs_json_dump(v, modes[i][0], &len);
		char *theirs = json_dumps(v, (size_t) modes[i][1] |
		    JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));

		FUZZ_CHECK(ours != NULL && theirs != NULL &&
		    strcmp(ours, theirs) == 0 && len == strlen(theirs),
		    "cs_json_dump gave %s where json_dumps gave %s",
		    ours != NULL ? ours : "(null)",
		    theirs != NULL ? theirs : "(null)");
		free(ours);
		free(theirs);
	}
}

/* Check core_json_parse_strict at one depth limit against plain jansson;
 * returns the strict result's code (NULL on success). */
static const char *
check_strict(const char *buf, size_t len, int max_depth)
{
	const char *code = NULL;
	char *cause = NULL;
	json_error_t jerr;
	json_t *strict, *plain;

	strict = core_json_parse_strict(buf, len, max_depth, &code, &cause);
	plain = json_loadb(buf, len, 0, &jerr); /* duplicates: last wins */
	if (strict == NULL) {
		json_t *strict_jansson;

		FUZZ_CHECK(code_is_stable(code), "unstable code \"%s\"",
		    code != NULL ? code : "(null)");
		FUZZ_CHECK(cause != NULL, "code %s without a cause", code);
		/* and it refuses only what jansson's strict parse refuses,
		 * past the depth limit (jansson's is 2048), INT64_MIN (which
		 * yajl's lexer takes for an overflow) and raw NUL bytes
		 * (which jansson skips after some tokens) aside */
		strict_jansson = json_loadb(buf, len, JSON_REJECT_DUPLICATES,
		    NULL);
		FUZZ_CHECK(strict_jansson == NULL ||
		    strcmp(code, "too_deep") == 0 ||
		    has_text(buf, len, "-9223372036854775808") ||
		    memchr(buf, '\0', len) != NULL,
		    "refused (%s: %s) what jansson takes", code, cause);
		json_decref(strict_jansson);
	} else {
		code = NULL;
		FUZZ_CHECK(plain != NULL, "strict parse took what jansson "
		    "refuses: %s", jerr.text);
		FUZZ_CHECK(json_equal(strict, plain), "strict and plain "
		    "parses differ");
		FUZZ_CHECK(json_depth(strict) <= max_depth, "depth %d past "
		    "the limit %d", json_depth(strict), max_depth);
		FUZZ_CHECK(!json_has_nul(strict), "a NUL byte got through");
	}
	if (plain != NULL)
		check_dump(plain);
	json_decref(strict);
	json_decref(plain);
	free(cause);
	return code;
}

/* Check the members of a parsed authorize message. */
static void
check_authorize(const core_msg *m)
{
	const char *key;
	json_t *item, *v;
	char *canon, digest[72];

	json_object_foreach(m->root, key, item) {
		FUZZ_CHECK(name_in(key, authorize_fields,
		    CS_ARRAY_LEN(authorize_fields)), "authorize message kept "
		    "the unknown field \"%s\"", key);
	}
	FUZZ_CHECK(m->token != NULL && m->tool != NULL, "authorize without "
	    "token or tool");
	FUZZ_CHECK(m->token == member_str(m->root, "token"), "token is not "
	    "the frame's");
	FUZZ_CHECK(m->tool == member_str(m->root, "tool"), "tool is not the "
	    "frame's");
	FUZZ_CHECK(core_name_ok(m->tool) && ident_ok(m->tool), "bad tool "
	    "name \"%s\"", m->tool);
	FUZZ_CHECK(m->id == member_str(m->root, "id") &&
	    (m->id == NULL || ident_ok(m->id)), "bad id");
	FUZZ_CHECK(m->session == member_str(m->root, "session") &&
	    (m->session == NULL || ident_ok(m->session)), "bad session");
	FUZZ_CHECK(m->action == member_str(m->root, "action") &&
	    (m->action == NULL || strlen(m->action) <= 128), "bad action");
	FUZZ_CHECK(m->resource == member_str(m->root, "resource") &&
	    (m->resource == NULL || strlen(m->resource) <= 1024),
	    "bad resource");
	FUZZ_CHECK(m->request == NULL, "authorize with a status request");

	v = json_object_get(m->root, "args");
	FUZZ_CHECK(m->args == v, "args is not the frame's");
	if (v != NULL) {
		FUZZ_CHECK(json_is_object(v), "args is not an object");
		canon = cs_json_canon(v);
		FUZZ_CHECK(canon != NULL, "args do not encode");
		FUZZ_CHECK(strlen(canon) <= WIRE_MAX_ARGS_LEN, "args of %zu "
		    "bytes passed the %d byte cap", strlen(canon),
		    WIRE_MAX_ARGS_LEN);
		free(canon);
	}

	/* The digest binds approvals to these very args. */
	FUZZ_CHECK(memchr(m->args_digest, '\0', sizeof m->args_digest) !=
	    NULL && cs_args_digest(m->args, digest) == CS_OK &&
	    strcmp(m->args_digest, digest) == 0, "args_digest is not the "
	    "digest of the args");
	FUZZ_CHECK(strlen(digest) == 71 && strncmp(digest, "sha256:", 7) ==
	    0 && strspn(digest + 7, "0123456789abcdef") == 64,
	    "args_digest \"%s\"", digest);

	v = json_object_get(m->root, "context");
	FUZZ_CHECK(m->context == v, "context is not the frame's");
	if (v != NULL) {
		FUZZ_CHECK(json_is_object(v), "context is not an object");
		json_object_foreach(v, key, item) {
			FUZZ_CHECK(json_is_string(item) &&
			    json_string_length(item) <= 1024, "context.%s is "
			    "not a short string", key);
		}
		FUZZ_CHECK(m->purpose == member_str(v, "purpose"),
		    "purpose is not context.purpose");
	} else {
		FUZZ_CHECK(m->purpose == NULL, "purpose without context");
	}

	v = json_object_get(m->root, "wait_ms");
	if (v == NULL) {
		FUZZ_CHECK(m->wait_ms == -1, "wait_ms %lld without the field",
		    (long long) m->wait_ms);
	} else {
		FUZZ_CHECK(json_is_integer(v) && m->wait_ms >= 0 &&
		    m->wait_ms == json_integer_value(v), "bad wait_ms");
	}
}

/* Check the members of a parsed status message. */
static void
check_status(const core_msg *m)
{
	const char *key;
	json_t *item;

	json_object_foreach(m->root, key, item) {
		FUZZ_CHECK(name_in(key, status_fields,
		    CS_ARRAY_LEN(status_fields)), "status message kept the "
		    "unknown field \"%s\"", key);
	}
	FUZZ_CHECK(m->request != NULL && ident_ok(m->request) &&
	    m->request == member_str(m->root, "request"), "bad request");
	FUZZ_CHECK(m->id == member_str(m->root, "id"), "id is not the "
	    "frame's");
	FUZZ_CHECK(m->token == NULL && m->tool == NULL && m->args == NULL &&
	    m->context == NULL, "status message with authorize members");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *) data;
	const char *strict_code, *code = NULL;
	char *cause = NULL;
	core_msg msg;
	cs_err rv;
	json_t *v;

	(void) check_strict(buf, size, WIRE_SHALLOW_DEPTH);
	strict_code = check_strict(buf, size, WIRE_MAX_DEPTH);

	memset(&msg, WIRE_GUARD, sizeof msg);
	rv = core_msg_parse(buf, size, WIRE_MAX_DEPTH, WIRE_MAX_ARGS_LEN,
	    &msg, &code, &cause);
	if (rv != CS_OK) {
		const unsigned char *raw = (const unsigned char *) &msg;

		FUZZ_CHECK(rv == CS_EPARSE || rv == CS_EINVAL, "returned %s",
		    cs_strerror(rv));
		FUZZ_CHECK(code_is_stable(code), "unstable code \"%s\"",
		    code != NULL ? code : "(null)");
		FUZZ_CHECK(cause != NULL, "code %s without a cause", code);
		for (size_t i = 0; i < sizeof msg; i++) {
			FUZZ_CHECK(raw[i] == WIRE_GUARD, "failed parse (%s) "
			    "wrote byte %zu of out", code, i);
		}
		/* A frame that is not JSON fails the same way in both. */
		if (strict_code != NULL) {
			FUZZ_CHECK(rv == CS_EPARSE &&
			    strcmp(code, strict_code) == 0, "code %s, but the "
			    "strict parse said %s", code, strict_code);
		} else {
			FUZZ_CHECK(rv == CS_EINVAL, "JSON frame refused as a "
			    "parse error (%s)", code);
		}
		free(cause);
		return 0;
	}
	FUZZ_CHECK(strict_code == NULL, "message parsed, strict JSON parse "
	    "refused it (%s)", strict_code);
	FUZZ_CHECK(msg.root != NULL && json_is_object(msg.root),
	    "message root is not an object");
	v = json_object_get(msg.root, "v");
	FUZZ_CHECK(json_is_integer(v) &&
	    json_integer_value(v) == CORE_WIRE_VERSION, "wrong version");
	switch (msg.type) {
	case CORE_MSG_AUTHORIZE:
		FUZZ_CHECK(strcmp(member_str(msg.root, "type") != NULL ?
		    member_str(msg.root, "type") : "", "authorize") == 0,
		    "authorize from another type");
		check_authorize(&msg);
		break;
	case CORE_MSG_STATUS:
		FUZZ_CHECK(strcmp(member_str(msg.root, "type") != NULL ?
		    member_str(msg.root, "type") : "", "status") == 0,
		    "status from another type");
		check_status(&msg);
		break;
	default:
		FUZZ_CHECK(false, "unknown message type %d", (int) msg.type);
	}
	free(cause); /* success may still leave none; NULL is fine */
	core_msg_fini(&msg);
	FUZZ_CHECK(msg.root == NULL, "core_msg_fini kept the root");
	return 0;
}
