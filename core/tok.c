/* tok.c: scoped-token admission: verify and mint HS256 JWTs that carry an
 * RFC 8693 delegation chain and a tool scope.
 * SPDX-License-Identifier: MIT */
#include "tok.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jwt.h>

#define TOK_MAX_LEN_DEFAULT 8192
#define TOK_MAX_ACTORS 16     /* act objects in one token */
#define TOK_HS256_SIG_LEN 32  /* bytes of an HMAC-SHA256 */
#define TOK_SCOPE_PREFIX "tool:"
#define TOK_SCOPE_PREFIX_LEN (sizeof TOK_SCOPE_PREFIX - 1)

/* Refuse a token: store a new cause and return CS_EDENIED. */
static cs_err
deny(char **cause, const char *what)
{
	cs_set_cause(cause, "%s", what);
	return CS_EDENIED;
}

/* Report an allocation failure with a cause. */
static cs_err
oom(char **cause)
{
	cs_set_cause(cause, "out of memory");
	return CS_ENOMEM;
}

/* Whether a failed jansson load ran out of memory. Some OOM paths in
 * jansson 2.14 return without any error text, so an empty text counts;
 * others (inside its lexer) read as syntax errors and fail closed as a
 * denial. */
static bool
json_load_oom(const json_error_t *jerr)
{
	return json_error_code(jerr) == json_error_out_of_memory ||
	    jerr->text[0] == '\0';
}

/* Decode a segment holding a JSON object (duplicate keys rejected). */
static cs_err
segment_json(const char *seg, size_t len, json_t **out, char **cause)
{
	unsigned char *raw = NULL;
	size_t raw_len;
	json_t *obj = NULL;
	json_error_t jerr;
	cs_err rv;

	memset(&jerr, 0, sizeof jerr);
	if ((rv = cs_b64url_decode(seg, len, &raw, &raw_len)) != CS_OK) {
		if (rv == CS_ENOMEM)
			return oom(cause);
		return deny(cause, "malformed token");
	}
	obj = json_loadb((const char *) raw, raw_len, JSON_REJECT_DUPLICATES,
	    &jerr);
	if (obj == NULL) {
		rv = json_load_oom(&jerr) ? oom(cause) :
		    deny(cause, "malformed token");
		goto fail;
	}
	if (!json_is_object(obj)) {
		rv = deny(cause, "malformed token");
		goto fail;
	}
	free(raw);
	*out = obj;
	return CS_OK;
fail:
	json_decref(obj);
	free(raw);
	return rv;
}

/* Whether text is a short algorithm name that is safe to echo. */
static bool
is_plain_name(const char *text)
{
	size_t len = strlen(text);

	if (len == 0 || len > 16)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return false;
	}
	return true;
}

/* Check the JOSE header: alg exactly HS256, typ absent or JWT, no crit. */
static cs_err
check_header(const json_t *header, char **cause)
{
	const json_t *alg = json_object_get(header, "alg");
	const json_t *typ = json_object_get(header, "typ");
	const char *name;

	if (alg == NULL || !json_is_string(alg))
		return deny(cause, "malformed token: no algorithm");
	name = json_string_value(alg);
	if (strcasecmp(name, "none") == 0)
		return deny(cause, "algorithm none not allowed");
	if (strcmp(name, "HS256") != 0) {
		if (is_plain_name(name))
			cs_set_cause(cause, "algorithm %s not allowed", name);
		else
			cs_set_cause(cause, "algorithm not allowed");
		return CS_EDENIED;
	}
	if (typ != NULL && (!json_is_string(typ) ||
	    strcasecmp(json_string_value(typ), "JWT") != 0))
		return deny(cause, "token type not allowed");
	/* RFC 7515 4.1.11: extensions we do not understand must fail. */
	if (json_object_get(header, "crit") != NULL)
		return deny(cause, "critical header not supported");
	return CS_OK;
}

/* Split a compact JWT into its three segments and check that each is
 * well formed before any key is used; *claims is the parsed payload. */
static cs_err
parse_unverified(const char *jwt, size_t len, json_t **claims, char **cause)
{
	const char *dot1, *dot2, *payload, *sig;
	json_t *header = NULL, *body = NULL;
	unsigned char *raw_sig = NULL;
	size_t header_len, payload_len, sig_len, raw_sig_len;
	cs_err rv;

	if ((dot1 = memchr(jwt, '.', len)) == NULL)
		return deny(cause, "malformed token");
	payload = dot1 + 1;
	if ((dot2 = memchr(payload, '.', len - (size_t) (payload - jwt))) ==
	    NULL)
		return deny(cause, "malformed token");
	sig = dot2 + 1;
	header_len = (size_t) (dot1 - jwt);
	payload_len = (size_t) (dot2 - payload);
	sig_len = len - (size_t) (sig - jwt);
	if (header_len == 0 || payload_len == 0 ||
	    memchr(sig, '.', sig_len) != NULL)
		return deny(cause, "malformed token");

	if ((rv = segment_json(jwt, header_len, &header, cause)) != CS_OK)
		goto fail;
	if ((rv = check_header(header, cause)) != CS_OK)
		goto fail;
	if ((rv = segment_json(payload, payload_len, &body, cause)) != CS_OK)
		goto fail;
	if ((rv = cs_b64url_decode(sig, sig_len, &raw_sig, &raw_sig_len)) !=
	    CS_OK) {
		rv = rv == CS_ENOMEM ? oom(cause) :
		    deny(cause, "malformed token");
		goto fail;
	}
	if (raw_sig_len != TOK_HS256_SIG_LEN) {
		rv = deny(cause, CORE_TOK_BAD_SIGNATURE);
		goto fail;
	}
	free(raw_sig);
	json_decref(header);
	*claims = body;
	return CS_OK;
fail:
	free(raw_sig);
	json_decref(body);
	json_decref(header);
	return rv;
}

/* Copy an optional string claim into *out (NULL when absent). */
static cs_err
claim_string(const json_t *claims, const char *name, char **out,
    char **cause)
{
	const json_t *val = json_object_get(claims, name);
	char *copy;

	if (val == NULL) {
		*out = NULL;
		return CS_OK;
	}
	if (!json_is_string(val)) {
		cs_set_cause(cause, "claim %s must be a string", name);
		return CS_EDENIED;
	}
	if ((copy = strdup(json_string_value(val))) == NULL)
		return oom(cause);
	*out = copy;
	return CS_OK;
}

/* Read an optional non-negative integer claim; *present tells whether
 * it was there. */
static cs_err
claim_int(const json_t *claims, const char *name, bool *present,
    int64_t *out, char **cause)
{
	const json_t *val = json_object_get(claims, name);

	if (val == NULL) {
		*present = false;
		return CS_OK;
	}
	if (!json_is_integer(val) || json_integer_value(val) < 0) {
		cs_set_cause(cause, "claim %s must be an integer", name);
		return CS_EDENIED;
	}
	*present = true;
	*out = (int64_t) json_integer_value(val);
	return CS_OK;
}

/* Free an array of count strings and the array itself. */
static void
free_strings(char **items, size_t count)
{
	if (items == NULL)
		return;
	for (size_t i = 0; i < count; i++)
		free(items[i]);
	free(items);
}

/* Split a scope text into new "tool:" patterns with the prefix stripped.
 * CS_EINVAL with a cause for a text that is not "tool:PATTERN" items
 * separated by single spaces. */
static cs_err
scope_parse(const char *text, char ***out, size_t *out_count, char **cause)
{
	char **items = NULL;
	size_t count = 1, done = 0;
	const char *p = text;
	cs_err rv;

	if (*text == '\0') {
		cs_set_cause(cause, "scope is empty");
		return CS_EINVAL;
	}
	for (const char *c = text; *c != '\0'; c++)
		count += *c == ' ';
	if ((items = calloc(count, sizeof *items)) == NULL)
		return oom(cause);
	for (done = 0; done < count; done++) {
		size_t len = strcspn(p, " ");

		if (len == 0) {
			cs_set_cause(cause, "scope has an empty item");
			rv = CS_EINVAL;
			goto fail;
		}
		if (len < TOK_SCOPE_PREFIX_LEN || strncmp(p, TOK_SCOPE_PREFIX,
		    TOK_SCOPE_PREFIX_LEN) != 0) {
			cs_set_cause(cause, "scope item must start with "
			    TOK_SCOPE_PREFIX);
			rv = CS_EINVAL;
			goto fail;
		}
		if (len == TOK_SCOPE_PREFIX_LEN) {
			cs_set_cause(cause, "scope item has an empty pattern");
			rv = CS_EINVAL;
			goto fail;
		}
		for (size_t i = TOK_SCOPE_PREFIX_LEN; i < len; i++) {
			unsigned char c = (unsigned char) p[i];

			if (c <= 0x20 || c >= 0x7f) {
				cs_set_cause(cause,
				    "scope item has an invalid character");
				rv = CS_EINVAL;
				goto fail;
			}
		}
		items[done] = strndup(p + TOK_SCOPE_PREFIX_LEN,
		    len - TOK_SCOPE_PREFIX_LEN);
		if (items[done] == NULL) {
			rv = oom(cause);
			goto fail;
		}
		p += len + (p[len] == ' ');
	}
	*out = items;
	*out_count = count;
	return CS_OK;
fail:
	free_strings(items, done);
	return rv;
}

/* Read the nested act claims into the chain: user first, then the
 * actors from the innermost act outward, the outermost act.sub last. */
static cs_err
read_chain(const json_t *claims, core_tok *tok, char **cause)
{
	const char *actors[TOK_MAX_ACTORS];
	const json_t *act = json_object_get(claims, "act");
	size_t count = 0;

	if (act == NULL)
		return deny(cause, "missing claim act");
	while (act != NULL) {
		const json_t *sub;

		if (!json_is_object(act))
			return deny(cause, "claim act must be an object");
		if (count == TOK_MAX_ACTORS)
			return deny(cause, "act chain longer than 16 actors");
		if ((sub = json_object_get(act, "sub")) == NULL)
			return deny(cause, "missing claim act.sub");
		if (!json_is_string(sub) || json_string_length(sub) == 0)
			return deny(cause,
			    "claim act.sub must be a non-empty string");
		actors[count++] = json_string_value(sub);
		act = json_object_get(act, "act");
	}
	if ((tok->chain = calloc(count + 1, sizeof *tok->chain)) == NULL)
		return oom(cause);
	tok->chain_len = count + 1;
	if ((tok->chain[0] = strdup(tok->user)) == NULL)
		return oom(cause);
	for (size_t i = 0; i < count; i++) {
		tok->chain[i + 1] = strdup(actors[count - 1 - i]);
		if (tok->chain[i + 1] == NULL)
			return oom(cause);
	}
	if ((tok->agent = strdup(actors[0])) == NULL)
		return oom(cause);
	return CS_OK;
}

/* Read the aud claim: a string or a non-empty array of strings. */
static cs_err
read_audience(const json_t *claims, core_tok *tok, char **cause)
{
	const json_t *aud = json_object_get(claims, "aud");
	const json_t *item;
	bool ok = json_is_string(aud);
	size_t i;

	if (aud == NULL)
		return CS_OK;
	if (json_is_array(aud)) {
		ok = json_array_size(aud) > 0;
		json_array_foreach(aud, i, item) {
			ok = ok && json_is_string(item);
		}
		aud = json_array_get(aud, 0);
	}
	if (!ok)
		return deny(cause,
		    "claim aud must be a string or array of strings");
	if ((tok->aud = strdup(json_string_value(aud))) == NULL)
		return oom(cause);
	return CS_OK;
}

/* Whether the aud claim names audience. */
static bool
has_audience(const json_t *claims, const char *audience)
{
	const json_t *aud = json_object_get(claims, "aud");
	size_t i;
	const json_t *item;

	if (json_is_string(aud))
		return strcmp(json_string_value(aud), audience) == 0;
	json_array_foreach(aud, i, item) {
		if (strcmp(json_string_value(item), audience) == 0)
			return true;
	}
	return false;
}

/* Build new claims from a verified payload, checking every type. */
static cs_err
tok_from_claims(const json_t *claims, core_tok **out, char **cause)
{
	core_tok *tok;
	const json_t *val;
	bool present;
	int64_t trust = -1;
	cs_err rv;

	if ((tok = calloc(1, sizeof *tok)) == NULL)
		return oom(cause);
	tok->trust = -1;

	if (json_object_get(claims, "sub") == NULL) {
		rv = deny(cause, "missing claim sub");
		goto fail;
	}
	if ((rv = claim_string(claims, "sub", &tok->user, cause)) != CS_OK)
		goto fail;
	if (*tok->user == '\0') {
		rv = deny(cause, "claim sub must be a non-empty string");
		goto fail;
	}
	if ((rv = read_chain(claims, tok, cause)) != CS_OK)
		goto fail;

	if ((val = json_object_get(claims, "scope")) == NULL) {
		rv = deny(cause, "missing claim scope");
		goto fail;
	}
	if (!json_is_string(val)) {
		rv = deny(cause, "claim scope must be a string");
		goto fail;
	}
	if ((tok->scope_text = strdup(json_string_value(val))) == NULL) {
		rv = oom(cause);
		goto fail;
	}
	rv = scope_parse(tok->scope_text, &tok->scopes, &tok->scope_count,
	    cause);
	if (rv != CS_OK) {
		rv = rv == CS_EINVAL ? CS_EDENIED : rv;
		goto fail;
	}

	if ((rv = claim_int(claims, "exp", &present, &tok->exp, cause)) !=
	    CS_OK)
		goto fail;
	if (!present) {
		rv = deny(cause, "missing claim exp");
		goto fail;
	}
	if ((rv = claim_int(claims, "iat", &present, &tok->iat, cause)) !=
	    CS_OK ||
	    (rv = claim_int(claims, "nbf", &present, &tok->nbf, cause)) !=
	    CS_OK)
		goto fail;
	if ((val = json_object_get(claims, "trust")) != NULL) {
		trust = json_is_integer(val) ? json_integer_value(val) : -1;
		if (trust < 0 || trust > 4) {
			rv = deny(cause, "claim trust must be an integer 0..4");
			goto fail;
		}
		tok->trust = (int) trust;
	}

	if ((rv = claim_string(claims, "jti", &tok->jti, cause)) != CS_OK ||
	    (rv = claim_string(claims, "iss", &tok->iss, cause)) != CS_OK ||
	    (rv = claim_string(claims, "consent", &tok->consent, cause)) !=
	    CS_OK ||
	    (rv = claim_string(claims, "purpose", &tok->purpose, cause)) !=
	    CS_OK ||
	    (rv = claim_string(claims, "sid", &tok->sid, cause)) != CS_OK ||
	    (rv = read_audience(claims, tok, cause)) != CS_OK)
		goto fail;
	*out = tok;
	return CS_OK;
fail:
	core_tok_free(tok);
	return rv;
}

/* a + b for b >= 0, saturating at INT64_MAX. */
static int64_t
add_sat(int64_t a, int64_t b)
{
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* Check exp, nbf and iat against now_s with the verifier's leeway. */
static cs_err
check_times(const core_tok *tok, const json_t *claims, int64_t now_s,
    int64_t leeway_s, char **cause)
{
	int64_t later = add_sat(now_s, leeway_s);

	if (now_s >= add_sat(tok->exp, leeway_s))
		return deny(cause, "token expired");
	if (json_object_get(claims, "nbf") != NULL && tok->nbf > later)
		return deny(cause, "token not yet valid");
	if (json_object_get(claims, "iat") != NULL && tok->iat > later)
		return deny(cause, "token issued in the future");
	return CS_OK;
}

cs_err
core_tok_verify(const core_tok_verifier *v, const char *jwt, int64_t now_s,
    core_tok **out, char **cause)
{
	size_t max_len, len;
	json_t *claims = NULL;
	jwt_t *decoded = NULL;
	core_tok *tok = NULL;
	int jrv;
	cs_err rv;

	if (v == NULL || jwt == NULL || out == NULL) {
		cs_set_cause(cause, "invalid arguments");
		return CS_EINVAL;
	}
	if (v->key == NULL || v->key_len == 0 || v->key_len > INT_MAX) {
		cs_set_cause(cause, "verifier key is empty or too long");
		return CS_EINVAL;
	}
	max_len = v->max_len != 0 ? v->max_len : TOK_MAX_LEN_DEFAULT;
	len = strnlen(jwt, max_len < SIZE_MAX ? max_len + 1 : SIZE_MAX);
	if (len > max_len)
		return deny(cause, "token too long");

	/* Our own strict pass first: libjwt takes "alg" from the token and
	 * would accept any HMAC size, case-folded names and duplicate
	 * header keys (last wins). */
	if ((rv = parse_unverified(jwt, len, &claims, cause)) != CS_OK)
		goto fail;
	jrv = jwt_decode(&decoded, jwt, v->key, (int) v->key_len);
	if (jrv != 0) {
		/* Structure and header are already checked, so what is left
		 * is the signature (or memory, which also fails closed). */
		rv = jrv == ENOMEM ? oom(cause) :
		    deny(cause, CORE_TOK_BAD_SIGNATURE);
		goto fail;
	}
	if (jwt_get_alg(decoded) != JWT_ALG_HS256) {
		rv = deny(cause, "algorithm not allowed");
		goto fail;
	}
	/* The claims come from the payload we parsed ourselves (it is the
	 * very text libjwt just authenticated): that parse rejects duplicate
	 * keys, which libjwt's own parse would silently merge. */
	if ((rv = tok_from_claims(claims, &tok, cause)) != CS_OK)
		goto fail;
	if ((rv = check_times(tok, claims, now_s,
	    v->leeway_s > 0 ? v->leeway_s : 0, cause)) != CS_OK)
		goto fail;
	if (v->issuer != NULL &&
	    (tok->iss == NULL || strcmp(tok->iss, v->issuer) != 0)) {
		rv = deny(cause, "wrong issuer");
		goto fail;
	}
	if (v->audience != NULL && !has_audience(claims, v->audience)) {
		rv = deny(cause, "wrong audience");
		goto fail;
	}
	jwt_free(decoded);
	json_decref(claims);
	*out = tok;
	return CS_OK;
fail:
	core_tok_free(tok);
	jwt_free(decoded);
	json_decref(claims);
	return rv;
}

void
core_tok_free(core_tok *tok)
{
	if (tok == NULL)
		return;
	free(tok->user);
	free(tok->agent);
	free_strings(tok->chain, tok->chain_len);
	free_strings(tok->scopes, tok->scope_count);
	free(tok->jti);
	free(tok->iss);
	free(tok->aud);
	free(tok->consent);
	free(tok->purpose);
	free(tok->sid);
	free(tok->scope_text);
	free(tok);
}

bool
core_tok_covers(const core_tok *tok, const char *tool)
{
	if (tok == NULL || tool == NULL)
		return false;
	for (size_t i = 0; i < tok->scope_count; i++) {
		if (cs_glob_match(tok->scopes[i], tool))
			return true;
	}
	return false;
}

/* Set obj[key] to a new JSON string: CS_EINVAL for text that is not
 * UTF-8, CS_ENOMEM when memory runs out. */
static cs_err
set_string(json_t *obj, const char *key, const char *text, char **cause)
{
	json_t *str;

	if ((str = json_string(text)) == NULL) {
		/* json_string fails on bad UTF-8 and on OOM; the unchecked
		 * variant only fails on OOM, which tells them apart. */
		if ((str = json_string_nocheck(text)) == NULL)
			return oom(cause);
		json_decref(str);
		cs_set_cause(cause, "%s is not valid UTF-8", key);
		return CS_EINVAL;
	}
	if (json_object_set_new(obj, key, str) != 0)
		return oom(cause);
	return CS_OK;
}

/* Set obj[key] to text when text is not NULL. */
static cs_err
set_optional(json_t *obj, const char *key, const char *text, char **cause)
{
	return text == NULL ? CS_OK : set_string(obj, key, text, cause);
}

/* Set obj[key] to a new JSON integer. */
static cs_err
set_int(json_t *obj, const char *key, int64_t value, char **cause)
{
	if (json_object_set_new(obj, key, json_integer(value)) != 0)
		return oom(cause);
	return CS_OK;
}

/* Build the nested act claim: actors[0] deepest, agent outermost. */
static cs_err
build_act(const core_tok_mint_opts *opts, json_t **out, char **cause)
{
	json_t *inner = NULL, *act = NULL;
	cs_err rv;

	for (size_t i = 0; i <= opts->actor_count; i++) {
		const char *sub = i < opts->actor_count ? opts->actors[i] :
		    opts->agent;

		if ((act = json_object()) == NULL) {
			rv = oom(cause);
			goto fail;
		}
		if ((rv = set_string(act, "sub", sub, cause)) != CS_OK)
			goto fail;
		if (inner != NULL) {
			/* set_new steals inner even when it fails. */
			rv = json_object_set_new(act, "act", inner) != 0 ?
			    oom(cause) : CS_OK;
			inner = NULL;
			if (rv != CS_OK)
				goto fail;
		}
		inner = act;
		act = NULL;
	}
	*out = inner;
	return CS_OK;
fail:
	json_decref(act);
	json_decref(inner);
	return rv;
}

/* Check mint options; CS_EINVAL with a cause for the first problem. */
static cs_err
check_mint_opts(const unsigned char *key, size_t key_len,
    const core_tok_mint_opts *opts, int64_t now_s, char **cause)
{
	char **scopes = NULL;
	size_t scope_count = 0;
	cs_err rv;

	if (key == NULL || key_len == 0 || key_len > INT_MAX) {
		cs_set_cause(cause, "key is empty or too long");
		return CS_EINVAL;
	}
	if (opts->user == NULL || *opts->user == '\0' ||
	    opts->agent == NULL || *opts->agent == '\0') {
		cs_set_cause(cause, "user and agent are required");
		return CS_EINVAL;
	}
	if (opts->actor_count >= TOK_MAX_ACTORS) {
		cs_set_cause(cause, "act chain longer than 16 actors");
		return CS_EINVAL;
	}
	if (opts->actor_count > 0 && opts->actors == NULL) {
		cs_set_cause(cause, "actors missing");
		return CS_EINVAL;
	}
	for (size_t i = 0; i < opts->actor_count; i++) {
		if (opts->actors[i] == NULL || *opts->actors[i] == '\0') {
			cs_set_cause(cause, "actor %zu is empty", i);
			return CS_EINVAL;
		}
	}
	if (opts->scope == NULL) {
		cs_set_cause(cause, "scope is required");
		return CS_EINVAL;
	}
	if ((rv = scope_parse(opts->scope, &scopes, &scope_count, cause)) !=
	    CS_OK)
		return rv;
	free_strings(scopes, scope_count);
	if (opts->ttl_s <= 0 || now_s < 0 || now_s > INT64_MAX - opts->ttl_s) {
		cs_set_cause(cause, "ttl must be positive and now_s + ttl "
		    "a valid time");
		return CS_EINVAL;
	}
	if (opts->trust < -1 || opts->trust > 4) {
		cs_set_cause(cause, "trust must be 0..4 or -1");
		return CS_EINVAL;
	}
	return CS_OK;
}

cs_err
core_tok_mint(const unsigned char *key, size_t key_len,
    const core_tok_mint_opts *opts, int64_t now_s, char **out, char **cause)
{
	json_t *claims = NULL, *act = NULL;
	jwt_t *token = NULL;
	char *claims_text = NULL, *encoded = NULL;
	char jti[33];
	cs_err rv;

	if (opts == NULL || out == NULL) {
		cs_set_cause(cause, "invalid arguments");
		return CS_EINVAL;
	}
	if ((rv = check_mint_opts(key, key_len, opts, now_s, cause)) != CS_OK)
		return rv;
	if (opts->jti == NULL && (rv = cs_random_hex(jti, 16)) != CS_OK) {
		cs_set_cause(cause, "no random jti: %s", cs_strerror(rv));
		return rv;
	}

	if ((claims = json_object()) == NULL) {
		rv = oom(cause);
		goto fail;
	}
	if ((rv = set_string(claims, "sub", opts->user, cause)) != CS_OK ||
	    (rv = set_string(claims, "scope", opts->scope, cause)) != CS_OK ||
	    (rv = set_int(claims, "iat", now_s, cause)) != CS_OK ||
	    (rv = set_int(claims, "exp", now_s + opts->ttl_s, cause)) !=
	    CS_OK ||
	    (rv = set_string(claims, "jti",
	    opts->jti != NULL ? opts->jti : jti, cause)) != CS_OK ||
	    (rv = set_optional(claims, "iss", opts->iss, cause)) != CS_OK ||
	    (rv = set_optional(claims, "aud", opts->aud, cause)) != CS_OK ||
	    (rv = set_optional(claims, "purpose", opts->purpose, cause)) !=
	    CS_OK ||
	    (rv = set_optional(claims, "consent", opts->consent, cause)) !=
	    CS_OK ||
	    (rv = set_optional(claims, "sid", opts->sid, cause)) != CS_OK)
		goto fail;
	if (opts->trust >= 0 &&
	    (rv = set_int(claims, "trust", opts->trust, cause)) != CS_OK)
		goto fail;
	if ((rv = build_act(opts, &act, cause)) != CS_OK)
		goto fail;
	rv = json_object_set_new(claims, "act", act) != 0 ? oom(cause) : CS_OK;
	if (rv != CS_OK)
		goto fail;

	if ((claims_text = json_dumps(claims, JSON_COMPACT)) == NULL) {
		rv = oom(cause);
		goto fail;
	}
	/* The options are checked and the claims are valid JSON, so any
	 * libjwt failure below is an allocation failure. */
	if (jwt_new(&token) != 0 ||
	    jwt_set_alg(token, JWT_ALG_HS256, key, (int) key_len) != 0 ||
	    jwt_add_grants_json(token, claims_text) != 0 ||
	    (encoded = jwt_encode_str(token)) == NULL) {
		rv = oom(cause);
		goto fail;
	}
	jwt_free(token);
	free(claims_text);
	json_decref(claims);
	*out = encoded;
	return CS_OK;
fail:
	jwt_free(token);
	free(claims_text);
	json_decref(claims);
	return rv;
}
