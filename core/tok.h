/* tok.h: scoped-token admission: JWT (RFC 7519) with an RFC 8693
 * delegation chain, verified with libjwt against an algorithm allow-list.
 * SPDX-License-Identifier: MIT */
#ifndef CORE_TOK_H
#define CORE_TOK_H

#include "cs.h"

/* Verified claims of one token. Every string is owned by the struct. */
typedef struct core_tok {
	char *user;       /* sub: the human on whose behalf the agent acts */
	char *agent;      /* outermost act.sub: the current actor */
	char **chain;     /* user first, then actors outward; last == agent */
	size_t chain_len; /* >= 2 for a valid token */
	char **scopes;    /* "tool:fs.*" with the "tool:" prefix stripped */
	size_t scope_count;
	int64_t exp;      /* Unix seconds */
	int64_t iat;      /* Unix seconds, 0 when absent */
	int64_t nbf;      /* Unix seconds, 0 when absent */
	char *jti;        /* NULL when absent */
	char *iss;        /* NULL when absent */
	char *aud;        /* NULL when absent (first audience if an array) */
	int trust;        /* 0..4, -1 when absent */
	char *consent;    /* NULL when absent */
	char *purpose;    /* NULL when absent */
	char *sid;        /* NULL when absent */
	char *scope_text; /* the raw scope claim, for display and audit */
} core_tok;

/* Verification settings. key is the HS256 secret. */
typedef struct core_tok_verifier {
	const unsigned char *key;
	size_t key_len;
	int64_t leeway_s;     /* allowed clock skew for exp/nbf/iat */
	const char *issuer;   /* required iss when not NULL */
	const char *audience; /* required aud when not NULL */
	size_t max_len;       /* tokens longer than this are refused (8192) */
} core_tok_verifier;

/* core_tok_verify checks a compact JWT at wall time now_s and returns new
 * claims in *out. Only HS256 is accepted: "none", any other algorithm, a
 * bad signature, a malformed token, exp <= now - leeway, nbf or iat in the
 * future beyond leeway, a missing sub/act.sub/scope/exp, or claims of the
 * wrong type fail with CS_EDENIED and a new *cause such as
 * "token expired", "bad signature", "algorithm none not allowed",
 * "missing claim exp". Numbers must be JSON integers (a string or real
 * exp is refused). The act chain is bounded at 16 actors. */
cs_err core_tok_verify(const core_tok_verifier *v, const char *jwt,
    int64_t now_s, core_tok **out, char **cause);

/* The cause of a refusal for the signature alone: it depends only on the
 * token's text and the key, so a verifier may remember it. */
#define CORE_TOK_BAD_SIGNATURE "bad signature"

/* core_tok_free frees claims; NULL is a no-op. */
void core_tok_free(core_tok *tok);

/* core_tok_covers reports whether one of the token's scope patterns
 * (globs over tool names, "*" matches any run) covers tool. */
bool core_tok_covers(const core_tok *tok, const char *tool);

/* Options for minting a token. NULL/negative fields are omitted. */
typedef struct core_tok_mint_opts {
	const char *user;       /* sub, required */
	const char *agent;      /* current actor, required */
	const char *const *actors; /* prior actors from the human outward */
	size_t actor_count;
	const char *scope;      /* space-separated "tool:PATTERN", required */
	int64_t ttl_s;          /* > 0 */
	int trust;              /* 0..4 or -1 */
	const char *purpose;
	const char *consent;
	const char *sid;
	const char *jti;        /* generated when NULL */
	const char *iss;
	const char *aud;
} core_tok_mint_opts;

/* core_tok_mint signs a new HS256 token issued at now_s; *out is a new
 * string the caller frees. The chain is encoded as nested act claims:
 * act = {sub: agent, act: {sub: last prior actor, act: {...}}}. */
cs_err core_tok_mint(const unsigned char *key, size_t key_len,
    const core_tok_mint_opts *opts, int64_t now_s, char **out, char **cause);

#endif
