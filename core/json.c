/* json.c: compact JSON text of a jansson tree, in one pass.
 *
 * The output is jansson's own (json_dumps with JSON_COMPACT |
 * JSON_ENCODE_ANY | JSON_REAL_PRECISION(17), optionally JSON_SORT_KEYS):
 * the same escapes (\" \\ \b \f \n \r \t, other control characters as
 * \u00XX in upper case, everything else as is), the same strict UTF-8
 * check, keys sorted by bytes with a shorter prefix first. Reals are
 * rare on the decision path and locale-sensitive, so jansson formats
 * them. check_wire compares the two on random trees.
 * SPDX-License-Identifier: MIT */
#include "json.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct member {
	const char *key;
	size_t key_len;
	json_t *value;
};

struct out {
	char *buf;
	size_t len, cap;
	struct member *members; /* a stack: one run of members per open object */
	size_t member_count, member_cap;
};

static bool
grow(struct out *o, size_t more)
{
	size_t cap;
	char *buf;

	if (more > SIZE_MAX / 4 - o->len)
		return false;
	for (cap = o->cap; cap - o->len <= more; cap *= 2)
		;
	if ((buf = realloc(o->buf, cap)) == NULL)
		return false;
	o->buf = buf;
	o->cap = cap;
	return true;
}

static inline bool
reserve(struct out *o, size_t more)
{
	return o->cap - o->len > more || grow(o, more); /* and the NUL */
}

static bool
put(struct out *o, const void *data, size_t len)
{
	if (!reserve(o, len))
		return false;
	memcpy(o->buf + o->len, data, len);
	o->len += len;
	return true;
}

static bool
put_char(struct out *o, char c)
{
	if (!reserve(o, 1))
		return false;
	o->buf[o->len++] = c;
	return true;
}

/* The bytes a string holds as they are: printable ASCII but the quote
 * and the backslash (DEL included, as jansson leaves it). */
static bool
is_plain(unsigned char c)
{
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* Whether the 8 bytes at p are all plain (is_plain), tested at once:
 * no byte with the top bit set, none below 0x20, no quote, no
 * backslash (the classic has-zero-byte tests). */
static inline bool
word_is_plain(const unsigned char *p)
{
	const uint64_t ones = 0x0101010101010101ULL;
	const uint64_t highs = 0x8080808080808080ULL;
	uint64_t w, q, b;

	memcpy(&w, p, sizeof w);
	q = w ^ (ones * '"');
	b = w ^ (ones * '\\');
	return ((w | ((w - ones * 0x20) & ~w) | ((q - ones) & ~q) |
	    ((b - ones) & ~b)) & highs) == 0;
}

/* The length of the UTF-8 sequence at p (p[0] >= 0x80), or 0 when it is
 * not one: a stray continuation byte, an overlong form, a surrogate, a
 * code point past U+10FFFF, or a sequence cut short. */
static size_t
utf8_seq_len(const unsigned char *p, size_t avail)
{
	uint32_t cp;
	size_t len;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (len > avail)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
	    (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
		return 0;
	return len;
}

/* The string in quotes, escaped. Room for the worst case (every byte a
 * six-byte \u escape) is made first, so the loop only stores: plain
 * runs eight bytes at a time, the rest byte by byte. */
static bool
put_string(struct out *o, const char *text, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *) text;
	const unsigned char *end = p + len;
	char *d;
	size_t seq;

	if (len > SIZE_MAX / 8 || !reserve(o, 6 * len + 2))
		return false;
	d = o->buf + o->len;
	*d++ = '"';
	while (p < end) {
		if (end - p >= 8 && word_is_plain(p)) {
			memcpy(d, p, 8);
			d += 8;
			p += 8;
			continue;
		}
		if (is_plain(*p)) {
			*d++ = (char) *p++;
			continue;
		}
		if (*p >= 0x80) {
			if ((seq = utf8_seq_len(p, (size_t) (end - p))) == 0)
				return false;
			memcpy(d, p, seq);
			d += seq;
			p += seq;
			continue;
		}
		*d++ = '\\';
		switch (*p) {
		case '"': *d++ = '"'; break;
		case '\\': *d++ = '\\'; break;
		case '\b': *d++ = 'b'; break;
		case '\f': *d++ = 'f'; break;
		case '\n': *d++ = 'n'; break;
		case '\r': *d++ = 'r'; break;
		case '\t': *d++ = 't'; break;
		default:
			memcpy(d, "u00", 3);
			d[3] = hex[*p >> 4];
			d[4] = hex[*p & 15];
			d += 5;
			break;
		}
		p++;
	}
	*d++ = '"';
	o->len = (size_t) (d - o->buf);
	return true;
}

static bool
put_integer(struct out *o, json_int_t value)
{
	char digits[24], *d = digits + sizeof digits;
	uint64_t u = value < 0 ? 0 - (uint64_t) value : (uint64_t) value;

	do {
		*--d = (char) ('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (value < 0)
		*--d = '-';
	return put(o, d, (size_t) (digits + sizeof digits - d));
}

static bool
put_real(struct out *o, const json_t *value)
{
	char *text = json_dumps(value, JSON_ENCODE_ANY |
	    JSON_REAL_PRECISION(17));
	bool ok = text != NULL && put(o, text, strlen(text));

	free(text);
	return ok;
}

static int
member_cmp(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	const unsigned char *k = (const unsigned char *) x->key;
	const unsigned char *l = (const unsigned char *) y->key;
	size_t len = x->key_len < y->key_len ? x->key_len : y->key_len;

	/* keys are short and differ early: no call to memcmp */
	for (size_t i = 0; i < len; i++)
		if (k[i] != l[i])
			return k[i] < l[i] ? -1 : 1;
	return x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

/* Insertion sort: an event has a few dozen members, where qsort's merge
 * sort and its scratch allocation cost more than the compares. */
static void
sort_members(struct member *m, size_t count)
{
	if (count > 64) {
		qsort(m, count, sizeof *m, member_cmp);
		return;
	}
	for (size_t i = 1; i < count; i++) {
		struct member cur = m[i];
		size_t j = i;

		for (; j > 0 && member_cmp(&m[j - 1], &cur) > 0; j--)
			m[j] = m[j - 1];
		m[j] = cur;
	}
}

static bool put_value(struct out *o, const json_t *value, int flags,
    int depth);

static bool
put_object(struct out *o, const json_t *object, int flags, int depth)
{
	json_t *obj = (json_t *) object; /* the iterators take no const */
	size_t count = json_object_size(obj), base = o->member_count, i = 0;
	bool ok = true;

	if (count > o->member_cap - base) {
		size_t cap = o->member_cap != 0 ? o->member_cap : 32;
		struct member *m;

		while (cap - base < count)
			cap *= 2;
		if ((m = realloc(o->members, cap * sizeof *m)) == NULL)
			return false;
		o->members = m;
		o->member_cap = cap;
	}
	for (void *it = json_object_iter(obj); it != NULL && i < count;
	    it = json_object_iter_next(obj, it), i++)
		o->members[base + i] = (struct member) {
			json_object_iter_key(it), json_object_iter_key_len(it),
			json_object_iter_value(it)
		};
	o->member_count = base + i;
	if ((flags & CS_JSON_SORT) && i > 1)
		sort_members(o->members + base, i);
	ok = put_char(o, '{');
	for (size_t k = 0; ok && k < i; k++) {
		struct member m = o->members[base + k]; /* may move below */

		ok = (k == 0 || put_char(o, ',')) &&
		    put_string(o, m.key, m.key_len) && put_char(o, ':') &&
		    put_value(o, m.value, flags, depth);
	}
	o->member_count = base;
	return ok && put_char(o, '}');
}

static bool
put_value(struct out *o, const json_t *value, int flags, int depth)
{
	switch (json_typeof(value)) {
	case JSON_OBJECT:
		return depth < CS_JSON_MAX_DEPTH &&
		    put_object(o, value, flags, depth + 1);
	case JSON_ARRAY: {
		size_t count = json_array_size(value);

		if (depth >= CS_JSON_MAX_DEPTH || !put_char(o, '['))
			return false;
		for (size_t i = 0; i < count; i++)
			if ((i > 0 && !put_char(o, ',')) ||
			    !put_value(o, json_array_get(value, i), flags,
			    depth + 1))
				return false;
		return put_char(o, ']');
	}
	case JSON_STRING:
		return put_string(o, json_string_value(value),
		    json_string_length(value));
	case JSON_INTEGER:
		return put_integer(o, json_integer_value(value));
	case JSON_REAL:
		return put_real(o, value);
	case JSON_TRUE:
		return put(o, "true", 4);
	case JSON_FALSE:
		return put(o, "false", 5);
	case JSON_NULL:
		return put(o, "null", 4);
	}
	return false;
}

char *
cs_json_dump(const json_t *value, int flags, size_t *len)
{
	struct out o = { 0 };

	if (value == NULL || (o.buf = malloc(o.cap = 1024)) == NULL)
		return NULL;
	if (!put_value(&o, value, flags, 0)) {
		free(o.buf);
		free(o.members);
		return NULL;
	}
	free(o.members);
	o.buf[o.len] = '\0';
	if (len != NULL)
		*len = o.len;
	return o.buf;
}
