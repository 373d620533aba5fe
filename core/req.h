/* req.h: the agent wire messages (authorize, status), parsed strictly:
 * every field typed, unknown fields refused, depth and size bounded.
 * SPDX-License-Identifier: MIT */
#ifndef CORE_REQ_H
#define CORE_REQ_H

#include "cs.h"

#define CORE_WIRE_VERSION 1

typedef enum core_msg_type {
	CORE_MSG_AUTHORIZE,
	CORE_MSG_STATUS,
} core_msg_type;

/* A parsed agent message. Strings are borrowed from root. */
typedef struct core_msg {
	json_t *root;         /* owned */
	core_msg_type type;
	const char *id;       /* client's request id (authorize), may be NULL */
	const char *token;
	const char *session;  /* may be NULL */
	const char *tool;
	const char *action;   /* may be NULL */
	const char *resource; /* may be NULL */
	const char *purpose;  /* context.purpose, may be NULL */
	json_t *args;         /* borrowed, may be NULL */
	char args_digest[72]; /* "sha256:<hex>" of the canonical args (of
	                       * JSON null when absent) */
	json_t *context;      /* borrowed, may be NULL */
	int64_t wait_ms;      /* -1 when absent */
	const char *request;  /* status: the request id asked about */
} core_msg;

/* core_msg_parse parses one agent frame of len bytes (not NUL-terminated).
 * On failure it returns CS_EPARSE or CS_EINVAL, sets *code to a stable
 * error code (static string: "bad_json", "too_deep", "bad_utf8",
 * "nul_in_string", "duplicate_key", "bad_version", "unknown_type",
 * "missing_field", "wrong_type", "unknown_field", "bad_value",
 * "too_large") and *cause to a new message; out is untouched. */
cs_err core_msg_parse(const char *buf, size_t len, int max_depth,
    size_t max_args_len, core_msg *out, const char **code, char **cause);

/* core_msg_fini releases the message's root. */
void core_msg_fini(core_msg *msg);

/* core_name_ok reports whether s is a usable identifier (tool, session or
 * request id): 1..128 bytes of [A-Za-z0-9._:@/+-]. */
bool core_name_ok(const char *s);

/* The deepest nesting core_json_parse_strict accepts, whatever it is
 * asked (the configuration's max_depth is at most this). */
#define CORE_JSON_DEPTH_MAX 256

/* core_json_parse_strict parses a frame with duplicate keys refused,
 * depth bounded, NUL in strings and invalid UTF-8 refused; the same codes
 * as core_msg_parse. Returns a new reference or NULL. */
json_t *core_json_parse_strict(const char *buf, size_t len, int max_depth,
    const char **code, char **cause);

#endif
