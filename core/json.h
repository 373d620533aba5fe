/* json.h: compact JSON text of a jansson tree, in one pass.
 * SPDX-License-Identifier: MIT */
#ifndef CS_JSON_H
#define CS_JSON_H

#include <stddef.h>

#include <jansson.h>

/* Object members in byte order of their keys; otherwise in the order
 * they were set, as jansson keeps them. */
#define CS_JSON_SORT 0x1

/* Nesting beyond this is refused (jansson's own parse limit). */
#define CS_JSON_MAX_DEPTH 2048

/* cs_json_dump renders value (any JSON value, not only a container) as
 * compact JSON: the text jansson's json_dumps gives with JSON_COMPACT |
 * JSON_ENCODE_ANY | JSON_REAL_PRECISION(17), plus JSON_SORT_KEYS when
 * flags has CS_JSON_SORT, byte for byte. The audit hash chain hashes this
 * text, and the decision path renders every row and reply with it, so it
 * does in one pass over a growing buffer what json_dumps does through a
 * callback per fragment, a loop check per container and a printf per
 * number. Returns a new NUL-terminated string (its length in *len when
 * len is not NULL), or NULL when out of memory, when value is NULL, when
 * a string or key is not UTF-8, or when containers nest deeper than
 * CS_JSON_MAX_DEPTH. */
char *cs_json_dump(const json_t *value, int flags, size_t *len);

#endif
