/* req.c: strict parsing of agent wire messages.
 * SPDX-License-Identifier: MIT */
#include "req.h"

#include <stdlib.h>
#include <string.h>

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

json_t *
core_json_parse_strict(const char *buf, size_t len, int max_depth,
    const char **code, char **cause)
{
	json_error_t jerr;
	json_t *root;

	if (!cs_json_depth_ok(buf, len, max_depth)) {
		*code = "too_deep";
		cs_set_cause(cause, "JSON nests deeper than %d levels",
		    max_depth);
		return NULL;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root != NULL)
		return root;
	switch (json_error_code(&jerr)) {
	case json_error_invalid_utf8:
		*code = "bad_utf8";
		break;
	case json_error_null_character:
	case json_error_null_byte_in_key:
		*code = "nul_in_string";
		break;
	case json_error_duplicate_key:
		*code = "duplicate_key";
		break;
	case json_error_out_of_memory:
		*code = "too_large";
		break;
	default:
		*code = "bad_json";
		break;
	}
	cs_set_cause(cause, "invalid JSON at byte %d: %s", jerr.position,
	    jerr.text);
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
