/* fuzz_token.c: libFuzzer target for the token verifier, core_tok_verify,
 * with a fixed key and clock. The first byte picks a mode:
 *   '0' (and 3, 6, ...): the rest is the token text, as an agent sends it;
 *   '1': the rest is HEADER \0 PAYLOAD (JSON), signed here with the key,
 *        so the claim checks behind the signature are reached;
 *   '2': tokens minted by core_tok_mint, mutated as the rest directs.
 * Whatever verifies must be correctly signed, in time, and carry claims
 * that match its payload; a mutated token that verifies must be the
 * original or carry the very same claims.
 * SPDX-License-Identifier: MIT */
#include "fuzz.h"
#include "tok.h"

#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define TOKEN_KEY "countersign-fuzz-hs256-key-0001"
#define TOKEN_NOW 1767225600 /* 2026-01-01T00:00:00Z */
#define TOKEN_LEEWAY 30
#define TOKEN_MAX_LEN 8192   /* the daemon's default max_token_len */
#define TOKEN_ISSUER "countersign-fuzz"
#define TOKEN_AUDIENCE "countersignd"
#define TOKEN_BUF_MAX 12288  /* mutated tokens stop growing here */
#define TOKEN_MAX_OPS 8      /* mutations applied to one token */
#define MINTED_COUNT 3

static const unsigned char token_key[] = TOKEN_KEY;
#define TOKEN_KEY_LEN (sizeof token_key - 1)

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Tokens minted at start-up, and their verified claims. */
static struct minted {
	char *jwt;
	core_tok *claims;
	bool bound; /* has iss and aud: verify with them required */
} minted[MINTED_COUNT];

/* A growable byte string. */
struct buf {
	char *data;
	size_t len, cap;
};

/* Append n bytes to b (aborts on OOM: the harness, not the product). */
static void
buf_add(struct buf *b, const void *bytes, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *grown = realloc(b->data, cap);

		if (grown == NULL)
			abort();
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, bytes, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* Append the unpadded base64url text of n bytes. */
static void
buf_b64url(struct buf *b, const unsigned char *in, size_t n)
{
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t) in[i] << 16;
		size_t left = n - i;
		char out[4];

		if (left > 1)
			v |= (uint32_t) in[i + 1] << 8;
		if (left > 2)
			v |= in[i + 2];
		out[0] = b64url[(v >> 18) & 63];
		out[1] = b64url[(v >> 12) & 63];
		out[2] = b64url[(v >> 6) & 63];
		out[3] = b64url[v & 63];
		buf_add(b, out, left > 2 ? 4 : left + 1);
	}
}

/* Decode base64url leniently (any trailing bits); a new NUL-ended buffer,
 * or NULL when a character is outside the alphabet. */
static unsigned char *
b64url_decode_any(const char *in, size_t len, size_t *out_len)
{
	unsigned char *out = malloc(len + 1);
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t n = 0;

	if (out == NULL)
		abort();
	for (size_t i = 0; i < len; i++) {
		const char *at = in[i] != '\0' ? strchr(b64url, in[i]) : NULL;

		if (at == NULL) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (uint32_t) (at - b64url);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char) (acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	out[n] = '\0';
	*out_len = n;
	return out;
}

/* The JSON object in one base64url segment (duplicates refused), or
 * NULL. */
static json_t *
segment_object(const char *seg, size_t len)
{
	size_t raw_len;
	unsigned char *raw = b64url_decode_any(seg, len, &raw_len);
	json_t *obj;

	if (raw == NULL)
		return NULL;
	obj = json_loadb((const char *) raw, raw_len, JSON_REJECT_DUPLICATES,
	    NULL);
	free(raw);
	if (obj != NULL && !json_is_object(obj)) {
		json_decref(obj);
		return NULL;
	}
	return obj;
}

/* Whether two strings that may be NULL are equal. */
static bool
str_eq(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Whether two sets of claims are the same. */
static bool
claims_eq(const core_tok *a, const core_tok *b)
{
	if (!str_eq(a->user, b->user) || !str_eq(a->agent, b->agent) ||
	    a->chain_len != b->chain_len || a->scope_count != b->scope_count ||
	    a->exp != b->exp || a->iat != b->iat || a->nbf != b->nbf ||
	    a->trust != b->trust || !str_eq(a->jti, b->jti) ||
	    !str_eq(a->iss, b->iss) || !str_eq(a->aud, b->aud) ||
	    !str_eq(a->consent, b->consent) ||
	    !str_eq(a->purpose, b->purpose) || !str_eq(a->sid, b->sid) ||
	    !str_eq(a->scope_text, b->scope_text))
		return false;
	for (size_t i = 0; i < a->chain_len; i++) {
		if (!str_eq(a->chain[i], b->chain[i]))
			return false;
	}
	for (size_t i = 0; i < a->scope_count; i++) {
		if (!str_eq(a->scopes[i], b->scopes[i]))
			return false;
	}
	return true;
}

/* An optional string claim must be copied as is (NULL when absent). */
static void
check_string_claim(const json_t *payload, const char *name,
    const char *got)
{
	const json_t *v = json_object_get(payload, name);

	FUZZ_CHECK(v == NULL ? got == NULL : (json_is_string(v) &&
	    str_eq(got, json_string_value(v))), "claim %s: \"%s\"", name,
	    got != NULL ? got : "(null)");
}

/* An optional integer claim must be a non-negative JSON integer equal
 * to got, no later than now plus leeway when it is a start time. */
static void
check_time_claim(const json_t *payload, const char *name, int64_t got,
    bool is_start)
{
	const json_t *v = json_object_get(payload, name);

	if (v == NULL) {
		FUZZ_CHECK(got == 0, "claim %s absent, read as %lld", name,
		    (long long) got);
		return;
	}
	FUZZ_CHECK(json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) == got, "claim %s read as %lld", name,
	    (long long) got);
	if (is_start)
		FUZZ_CHECK(got <= TOKEN_NOW + TOKEN_LEEWAY, "claim %s %lld "
		    "is in the future", name, (long long) got);
}

/* Whether glob pattern p ('*' any run, '?' one byte) matches all of text
 * t: the plain dynamic-programming answer, to check core_tok_covers. */
static bool
glob_dp(const char *p, const char *t)
{
	size_t plen = strlen(p), tlen = strlen(t);
	bool *row = calloc(tlen + 1, sizeof *row), *next;
	bool match;

	if (row == NULL || (next = calloc(tlen + 1, sizeof *next)) == NULL)
		abort();
	row[0] = true; /* row[j]: p[0..i) matches t[0..j) */
	for (size_t i = 0; i < plen; i++) {
		next[0] = row[0] && p[i] == '*';
		for (size_t j = 1; j <= tlen; j++) {
			next[j] = p[i] == '*' ? (row[j] || next[j - 1]) :
			    (row[j - 1] && (p[i] == '?' || p[i] == t[j - 1]));
		}
		memcpy(row, next, (tlen + 1) * sizeof *row);
	}
	match = row[tlen];
	free(row);
	free(next);
	return match;
}

/* core_tok_covers must agree with the scope patterns for some tools and
 * for each pattern's own text. */
static void
check_covers(const core_tok *tok)
{
	static const char *const tools[] = {
		"fs.read", "fs.write", "http.get", "shell.exec",
		"payments.transfer", "secrets.read", "a", "",
	};

	for (size_t i = 0; i < CS_ARRAY_LEN(tools) + tok->scope_count; i++) {
		const char *tool = i < CS_ARRAY_LEN(tools) ? tools[i] :
		    tok->scopes[i - CS_ARRAY_LEN(tools)];
		bool want = false;

		if (strlen(tool) > 256)
			continue;
		for (size_t j = 0; j < tok->scope_count && !want; j++)
			want = glob_dp(tok->scopes[j], tool);
		FUZZ_CHECK(core_tok_covers(tok, tool) == want, "scope \"%s\" "
		    "%s tool \"%s\"", tok->scope_text, want ? "does not cover" :
		    "covers", tool);
	}
}

/* Check the verified claims tok against the payload they came from. */
static void
check_claims(const json_t *payload, const core_tok *tok,
    const core_tok_verifier *v)
{
	const json_t *act = json_object_get(payload, "act");
	const json_t *val, *aud;
	const char *actors[16];
	size_t count = 0, at = 0;

	FUZZ_CHECK(json_is_string(json_object_get(payload, "sub")) &&
	    tok->user != NULL && *tok->user != '\0' &&
	    strcmp(tok->user, json_string_value(json_object_get(payload,
	    "sub"))) == 0, "sub read as \"%s\"", tok->user);
	while (act != NULL) {
		FUZZ_CHECK(json_is_object(act) && count < 16, "act chain "
		    "is not 1 to 16 objects");
		val = json_object_get(act, "sub");
		FUZZ_CHECK(json_is_string(val) &&
		    json_string_length(val) > 0, "act.sub is not a name");
		actors[count++] = json_string_value(val);
		act = json_object_get(act, "act");
	}
	FUZZ_CHECK(count >= 1 && tok->chain_len == count + 1, "chain of %zu "
	    "for %zu actors", tok->chain_len, count);
	FUZZ_CHECK(str_eq(tok->chain[0], tok->user) &&
	    str_eq(tok->agent, actors[0]) &&
	    str_eq(tok->chain[count], tok->agent), "chain ends are not user "
	    "and agent");
	for (size_t i = 0; i < count; i++) {
		FUZZ_CHECK(str_eq(tok->chain[i + 1], actors[count - 1 - i]),
		    "chain[%zu] is \"%s\"", i + 1, tok->chain[i + 1]);
	}

	val = json_object_get(payload, "scope");
	FUZZ_CHECK(json_is_string(val) &&
	    str_eq(tok->scope_text, json_string_value(val)) &&
	    tok->scope_count >= 1, "scope read as \"%s\"", tok->scope_text);
	for (size_t i = 0; i < tok->scope_count; i++) {
		size_t len = strlen(tok->scopes[i]);

		FUZZ_CHECK(strncmp(tok->scope_text + at, "tool:", 5) == 0 &&
		    len > 0 && strncmp(tok->scope_text + at + 5,
		    tok->scopes[i], len) == 0, "scope item %zu \"%s\"", i,
		    tok->scopes[i]);
		for (size_t j = 0; j < len; j++) {
			unsigned char c = (unsigned char) tok->scopes[i][j];

			FUZZ_CHECK(c > 0x20 && c < 0x7f, "scope item %zu holds "
			    "byte 0x%02x", i, c);
		}
		at += 5 + len;
		FUZZ_CHECK(tok->scope_text[at] == (i + 1 < tok->scope_count ?
		    ' ' : '\0'), "scope items do not rebuild the scope");
		at++;
	}

	val = json_object_get(payload, "exp");
	FUZZ_CHECK(json_is_integer(val) && json_integer_value(val) >= 0 &&
	    json_integer_value(val) == tok->exp, "exp read as %lld",
	    (long long) tok->exp);
	FUZZ_CHECK(tok->exp > TOKEN_NOW - TOKEN_LEEWAY, "expired token "
	    "(exp %lld) verified", (long long) tok->exp);
	check_time_claim(payload, "iat", tok->iat, true);
	check_time_claim(payload, "nbf", tok->nbf, true);

	val = json_object_get(payload, "trust");
	FUZZ_CHECK(val == NULL ? tok->trust == -1 : (json_is_integer(val) &&
	    json_integer_value(val) == tok->trust && tok->trust >= 0 &&
	    tok->trust <= 4), "trust read as %d", tok->trust);
	check_string_claim(payload, "jti", tok->jti);
	check_string_claim(payload, "iss", tok->iss);
	check_string_claim(payload, "consent", tok->consent);
	check_string_claim(payload, "purpose", tok->purpose);
	check_string_claim(payload, "sid", tok->sid);
	aud = json_object_get(payload, "aud");
	if (json_is_array(aud))
		aud = json_array_get(aud, 0);
	FUZZ_CHECK(aud == NULL ? tok->aud == NULL : (json_is_string(aud) &&
	    str_eq(tok->aud, json_string_value(aud))), "aud read as \"%s\"",
	    tok->aud != NULL ? tok->aud : "(null)");
	if (v->issuer != NULL)
		FUZZ_CHECK(str_eq(tok->iss, v->issuer), "issuer \"%s\" let "
		    "through", tok->iss != NULL ? tok->iss : "(null)");
	if (v->audience != NULL) {
		bool found = false;
		size_t i;

		aud = json_object_get(payload, "aud");
		if (json_is_string(aud))
			found = str_eq(json_string_value(aud), v->audience);
		json_array_foreach(aud, i, val) {
			found = found || str_eq(json_string_value(val),
			    v->audience);
		}
		FUZZ_CHECK(found, "audience not named, token verified");
	}
}

/* Check a token that verified: three segments, an HS256 header, a
 * signature that is the canonical text of the right HMAC, and claims that
 * match the payload. */
static void
check_verified(const char *jwt, const core_tok *tok,
    const core_tok_verifier *v)
{
	const char *dot1 = strchr(jwt, '.'), *dot2 = NULL, *typ_name;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0;
	struct buf want = { 0 };
	json_t *header, *payload;

	FUZZ_CHECK(strlen(jwt) <= TOKEN_MAX_LEN, "a %zu byte token verified",
	    strlen(jwt));
	FUZZ_CHECK(dot1 != NULL && (dot2 = strchr(dot1 + 1, '.')) != NULL &&
	    strchr(dot2 + 1, '.') == NULL, "verified token is not three "
	    "segments");
	header = segment_object(jwt, (size_t) (dot1 - jwt));
	payload = segment_object(dot1 + 1, (size_t) (dot2 - dot1 - 1));
	FUZZ_CHECK(header != NULL && payload != NULL, "verified token "
	    "without a JSON header and payload");
	FUZZ_CHECK(str_eq(json_string_value(json_object_get(header, "alg")),
	    "HS256"), "verified with alg other than HS256");
	FUZZ_CHECK(json_object_get(header, "crit") == NULL, "verified with "
	    "a crit header");
	typ_name = json_string_value(json_object_get(header, "typ"));
	FUZZ_CHECK(json_object_get(header, "typ") == NULL ||
	    (typ_name != NULL && strcasecmp(typ_name, "JWT") == 0),
	    "verified with typ other than JWT");

	if (HMAC(EVP_sha256(), token_key, TOKEN_KEY_LEN,
	    (const unsigned char *) jwt, (size_t) (dot2 - jwt), mac,
	    &mac_len) == NULL)
		abort();
	buf_b64url(&want, mac, mac_len);
	FUZZ_CHECK(strcmp(dot2 + 1, want.data) == 0, "signature \"%s\" "
	    "verified; the HMAC is \"%s\"", dot2 + 1, want.data);
	free(want.data);

	check_claims(payload, tok, v);
	check_covers(tok);
	json_decref(header);
	json_decref(payload);
}

/* Verify jwt with v and check the outcome either way; returns the claims
 * (new) when it verified. */
static core_tok *
verify_checked(const core_tok_verifier *v, const char *jwt)
{
	static char sentinel;
	core_tok *const untouched = (core_tok *) (void *) &sentinel;
	core_tok *tok = untouched;
	char *cause = NULL;
	cs_err rv;

	rv = core_tok_verify(v, jwt, TOKEN_NOW, &tok, &cause);
	if (rv != CS_OK) {
		FUZZ_CHECK(rv == CS_EDENIED, "refused with %s",
		    cs_strerror(rv));
		FUZZ_CHECK(tok == untouched, "a refused token wrote out");
		FUZZ_CHECK(cause != NULL && *cause != '\0', "refused without "
		    "a cause");
		free(cause);
		return NULL;
	}
	free(cause);
	FUZZ_CHECK(tok != NULL && tok != untouched, "verified to nothing");
	check_verified(jwt, tok, v);
	return tok;
}

/* A verifier; bound ones require the minted issuer and audience. */
static core_tok_verifier
verifier(bool bound)
{
	core_tok_verifier v = {
		.key = token_key, .key_len = TOKEN_KEY_LEN,
		.leeway_s = TOKEN_LEEWAY, .max_len = TOKEN_MAX_LEN,
		.issuer = bound ? TOKEN_ISSUER : NULL,
		.audience = bound ? TOKEN_AUDIENCE : NULL,
	};

	return v;
}

/* cs_b64url_decode takes exactly the canonical texts: what it decodes
 * encodes back to the same text, and what it refuses is not one. */
static void
check_b64url(const char *text, size_t len)
{
	unsigned char *raw = NULL;
	size_t raw_len = 0;
	struct buf again = { 0 };
	cs_err rv = cs_b64url_decode(text, len, &raw, &raw_len);

	FUZZ_CHECK(rv == CS_OK || rv == CS_EPARSE, "base64url decode "
	    "returned %s", cs_strerror(rv));
	if (rv == CS_OK) {
		buf_b64url(&again, raw, raw_len);
		FUZZ_CHECK(raw[raw_len] == '\0' && again.len == len &&
		    (len == 0 || memcmp(again.data, text, len) == 0),
		    "\"%.*s\" decoded, but it is not the canonical text of "
		    "what it decoded to", (int) len, text);
		free(raw);
	} else if (len % 4 != 1 && strspn(text, b64url) >= len &&
	    (raw = b64url_decode_any(text, len, &raw_len)) != NULL) {
		buf_b64url(&again, raw, raw_len);
		FUZZ_CHECK(again.len != len || memcmp(again.data, text, len) !=
		    0, "the canonical text \"%.*s\" was refused", (int) len,
		    text);
		free(raw);
	}
	free(again.data);
}

/* Mode '0': the bytes are the token; each dot-separated part also goes
 * through the base64url decoder alone. */
static void
fuzz_raw(const uint8_t *data, size_t size, bool bound)
{
	core_tok_verifier v = verifier(bound);
	char *jwt = malloc(size + 1);
	size_t at = 0;

	if (jwt == NULL)
		abort();
	memcpy(jwt, data, size);
	jwt[size] = '\0';
	core_tok_free(verify_checked(&v, jwt));
	while (at <= size) { /* parts end at a dot or a NUL */
		size_t len = strcspn(jwt + at, ".");

		check_b64url(jwt + at, len);
		at += len + 1;
	}
	free(jwt);
}

/* Mode '1': sign HEADER \0 PAYLOAD (or a standard header and the bytes as
 * the payload) and verify the result. */
static void
fuzz_signed(const uint8_t *data, size_t size, bool bound)
{
	static const char std_header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	core_tok_verifier v = verifier(bound);
	const uint8_t *nul = memchr(data, '\0', size);
	const uint8_t *header = (const uint8_t *) std_header, *payload = data;
	size_t header_len = sizeof std_header - 1, payload_len = size;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0;
	struct buf jwt = { 0 };

	if (nul != NULL) {
		header = data;
		header_len = (size_t) (nul - data);
		payload = nul + 1;
		payload_len = size - header_len - 1;
	}
	buf_b64url(&jwt, header, header_len);
	buf_add(&jwt, ".", 1);
	buf_b64url(&jwt, payload, payload_len);
	if (HMAC(EVP_sha256(), token_key, TOKEN_KEY_LEN,
	    (const unsigned char *) jwt.data, jwt.len, mac, &mac_len) == NULL)
		abort();
	buf_add(&jwt, ".", 1);
	buf_b64url(&jwt, mac, mac_len);
	core_tok_free(verify_checked(&v, jwt.data));
	free(jwt.data);
}

/* Where segment k (0..2) of the text in b starts and how long it is;
 * false when there are fewer dots. */
static bool
segment_span(const struct buf *b, unsigned k, size_t *start, size_t *len)
{
	size_t at = 0;

	for (unsigned i = 0; i < k; i++) {
		const char *dot = memchr(b->data + at, '.', b->len - at);

		if (dot == NULL)
			return false;
		at = (size_t) (dot - b->data) + 1;
	}
	*start = at;
	*len = strcspn(b->data + at, ".");
	return true;
}

/* Replace len bytes at start in b with n bytes of text. */
static void
buf_splice(struct buf *b, size_t start, size_t len, const char *text,
    size_t n)
{
	struct buf out = { 0 };

	buf_add(&out, b->data, start);
	buf_add(&out, text, n);
	buf_add(&out, b->data + start + len, b->len - start - len);
	free(b->data);
	*b = out;
}

/* Apply one mutation (op, a, c; more bytes may be read from *data) to
 * the token text in b. */
static void
mutate(struct buf *b, unsigned op, unsigned a, unsigned c,
    const uint8_t **data, size_t *size)
{
	size_t s1, l1, s2, l2, pos = b->len > 0 ? a % b->len : 0;
	char ch = (char) c;
	struct buf seg = { 0 };

	switch (op % 8) {
	case 0: /* overwrite a byte */
		if (b->len > 0)
			b->data[pos] = ch;
		break;
	case 1: /* insert a byte */
		buf_splice(b, a % (b->len + 1), 0, &ch, 1);
		break;
	case 2: /* delete a byte */
		if (b->len > 0)
			buf_splice(b, pos, 1, "", 0);
		break;
	case 3: /* change a base64url digit to a near one (low bits) */
		if (b->len > 0 && strchr(b64url, b->data[pos]) != NULL &&
		    b->data[pos] != '\0') {
			size_t d = (size_t) (strchr(b64url, b->data[pos]) -
			    b64url);

			b->data[pos] = b64url[(d ^ (1 + c % 15)) & 63];
		}
		break;
	case 4: /* cut */
		b->len = pos;
		if (b->data != NULL)
			b->data[pos] = '\0';
		break;
	case 5: /* swap two segments */
		if (segment_span(b, a % 3, &s1, &l1) &&
		    segment_span(b, c % 3, &s2, &l2) && s1 < s2) {
			char *first = strndup(b->data + s1, l1);
			char *second = strndup(b->data + s2, l2);

			if (first == NULL || second == NULL)
				abort();
			buf_splice(b, s2, l2, first, l1);
			buf_splice(b, s1, l1, second, l2);
			free(first);
			free(second);
		}
		break;
	case 6: /* replace a segment with the encoding of input bytes */
		if (segment_span(b, a % 3, &s1, &l1)) {
			size_t n = c % 64 < *size ? c % 64 : *size;

			buf_b64url(&seg, *data, n);
			*data += n;
			*size -= n;
			buf_splice(b, s1, l1, seg.data != NULL ? seg.data : "",
			    seg.len);
			free(seg.data);
		}
		break;
	default: /* append a byte */
		buf_add(b, &ch, 1);
		break;
	}
}

/* Mode '2': mutate a minted token; one that still verifies must be the
 * original or carry its very claims. */
static void
fuzz_mutated(const uint8_t *data, size_t size, unsigned pick)
{
	const struct minted *m = &minted[pick % MINTED_COUNT];
	core_tok_verifier v = verifier(m->bound);
	struct buf b = { 0 };
	core_tok *tok;

	buf_add(&b, m->jwt, strlen(m->jwt));
	for (int i = 0; i < TOKEN_MAX_OPS && size >= 3 &&
	    b.len < TOKEN_BUF_MAX; i++) {
		unsigned op = data[0], a = data[1], c = data[2];

		data += 3;
		size -= 3;
		mutate(&b, op, a | (op & 0xF0u) << 4, c, &data, &size);
	}
	if ((tok = verify_checked(&v, b.data != NULL ? b.data : "")) != NULL) {
		FUZZ_CHECK(strcmp(b.data, m->jwt) == 0 ||
		    claims_eq(tok, m->claims), "a changed token verified with "
		    "other claims:\n  was %s\n  now %s", m->jwt, b.data);
	}
	core_tok_free(tok);
	free(b.data);
}

/* Mint one token for the mutation mode and verify it once. */
static void
mint(struct minted *m, const core_tok_mint_opts *opts)
{
	core_tok_verifier v;
	char *cause = NULL;

	m->bound = opts->iss != NULL && opts->aud != NULL;
	v = verifier(m->bound);
	if (core_tok_mint(token_key, TOKEN_KEY_LEN, opts, TOKEN_NOW - 60,
	    &m->jwt, &cause) != CS_OK) {
		fprintf(stderr, "fuzz_token: cannot mint: %s\n", cause);
		abort();
	}
	m->claims = verify_checked(&v, m->jwt);
	FUZZ_CHECK(m->claims != NULL, "a freshly minted token does not "
	    "verify: %s", m->jwt);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const one[] = { "code-assistant" };
	static const char *const many[] = {
		"a01", "a02", "a03", "a04", "a05", "a06", "a07", "a08", "a09",
		"a10", "a11", "a12", "a13", "a14", "a15",
	};
	core_tok_mint_opts plain = {
		.user = "alice", .agent = "code-assistant",
		.scope = "tool:fs.* tool:http.get", .ttl_s = 3600, .trust = -1,
		.jti = "jti-plain-0001",
	};
	core_tok_mint_opts bound = {
		.user = "bob@example.com", .agent = "planner", .actors = one,
		.actor_count = 1, .scope = "tool:*", .ttl_s = 600, .trust = 3,
		.purpose = "quarterly report", .consent = "c-7", .sid = "s-42",
		.jti = "jti-bound-0002", .iss = TOKEN_ISSUER,
		.aud = TOKEN_AUDIENCE,
	};
	core_tok_mint_opts deep = {
		.user = "carol", .agent = "leaf", .actors = many,
		.actor_count = CS_ARRAY_LEN(many),
		.scope = "tool:db.query tool:payments.* tool:secrets.read",
		.ttl_s = 120, .trust = 0, .jti = "jti-deep-0003",
	};

	(void) argc;
	(void) argv;
	mint(&minted[0], &plain);
	mint(&minted[1], &bound);
	mint(&minted[2], &deep);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned mode;

	if (size == 0)
		return 0;
	mode = data[0];
	data++;
	size--;
	/* The mode byte's bit 6 asks for a verifier that requires the
	 * minted issuer and audience in the text modes. */
	switch (mode % 3) {
	case 0:
		fuzz_raw(data, size, (mode & 0x40) != 0);
		break;
	case 1:
		fuzz_signed(data, size, (mode & 0x40) != 0);
		break;
	default:
		if (size == 0)
			return 0;
		fuzz_mutated(data + 1, size - 1, data[0]);
		break;
	}
	return 0;
}
