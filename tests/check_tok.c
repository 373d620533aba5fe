/* check_tok.c: Check suite for core/tok.c (scoped-token admission).
 * SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>
#include <jwt.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "tok.h"

#define NOW ((int64_t) 1700000000)
#define EXP_OK "1700003600" /* NOW + 1 h */

#define ck_assert_cs_ok(expr, cause) do { \
	cs_err rv_ = (expr); \
	ck_assert_msg(rv_ == CS_OK, "%s: %s (%s)", #expr, cs_strerror(rv_), \
	    (cause) != NULL ? (cause) : "no cause"); \
} while (0)

static const unsigned char test_key[] = "0123456789abcdef0123456789abcdef";
#define TEST_KEY_LEN (sizeof test_key - 1)
static const unsigned char other_key[] = "fedcba9876543210fedcba9876543210";

/* Pointers no call ever produces: "out untouched" checks. */
static core_tok untouched_tok;
static core_tok *const untouched = &untouched_tok;
static char untouched_text[1];

/* Verifier with the test key and no other requirements. */
static core_tok_verifier
verifier(void)
{
	core_tok_verifier v = {
		.key = test_key,
		.key_len = TEST_KEY_LEN,
	};

	return v;
}

/* Unpadded base64url of data: a new string. */
static char *
b64url(const void *data, size_t len)
{
	char *out = malloc(4 * ((len + 2) / 3) + 1);
	size_t n;

	ck_assert_ptr_nonnull(out);
	EVP_EncodeBlock((unsigned char *) out, data, (int) len);
	n = strlen(out);
	while (n > 0 && out[n - 1] == '=')
		out[--n] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	return out;
}

/* Build a compact JWT from header and payload JSON text, HMAC-signed
 * with md over key (md NULL: empty signature). A new string. */
static char *
make_token(const char *header, const char *payload, const EVP_MD *md,
    const unsigned char *key, size_t key_len)
{
	char *h = b64url(header, strlen(header));
	char *p = b64url(payload, strlen(payload));
	char *signing = cs_asprintf("%s.%s", h, p);
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0;
	char *sig, *token;

	ck_assert_ptr_nonnull(signing);
	if (md != NULL) {
		ck_assert_ptr_nonnull(HMAC(md, key, (int) key_len,
		    (const unsigned char *) signing, strlen(signing), mac,
		    &mac_len));
		sig = b64url(mac, mac_len);
	} else
		sig = strdup("");
	token = cs_asprintf("%s.%s", signing, sig);
	ck_assert_ptr_nonnull(token);
	free(h);
	free(p);
	free(signing);
	free(sig);
	return token;
}

#define HDR_HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* HS256 token over payload with the test key. */
static char *
make_hs256(const char *payload)
{
	return make_token(HDR_HS256, payload, EVP_sha256(), test_key,
	    TEST_KEY_LEN);
}

/* Verify jwt and require a denial whose cause contains want (any cause
 * when want is NULL); *out must stay untouched. */
static void
expect_denied(const core_tok_verifier *v, const char *jwt, int64_t now_s,
    const char *want)
{
	core_tok *tok = untouched;
	char *cause = NULL;
	cs_err rv;

	rv = core_tok_verify(v, jwt, now_s, &tok, &cause);
	ck_assert_msg(rv == CS_EDENIED, "want denial (%s), got %s (%s)",
	    want != NULL ? want : "any", cs_strerror(rv),
	    cause != NULL ? cause : "no cause");
	ck_assert_ptr_eq(tok, untouched);
	ck_assert_ptr_nonnull(cause);
	if (want != NULL)
		ck_assert_msg(strstr(cause, want) != NULL,
		    "cause \"%s\" lacks \"%s\"", cause, want);
	free(cause);
}

/* Verify jwt and require success; returns the new claims. */
static core_tok *
expect_ok(const core_tok_verifier *v, const char *jwt, int64_t now_s)
{
	core_tok *tok = NULL;
	char *cause = NULL;

	ck_assert_cs_ok(core_tok_verify(v, jwt, now_s, &tok, &cause), cause);
	ck_assert_ptr_null(cause);
	ck_assert_ptr_nonnull(tok);
	return tok;
}

/* Mint with the test key and require success; returns the token. */
static char *
mint_ok(const core_tok_mint_opts *opts)
{
	char *jwt = NULL, *cause = NULL;

	ck_assert_cs_ok(core_tok_mint(test_key, TEST_KEY_LEN, opts, NOW, &jwt,
	    &cause), cause);
	ck_assert_ptr_nonnull(jwt);
	return jwt;
}

/* core_tok_verify */

static const char *const chain_actors[] = {
	"planner", "researcher", "reviewer", "a4", "a5", "a6", "a7", "a8",
	"a9", "a10", "a11", "a12", "a13", "a14", "a15",
};
static const size_t chain_counts[] = { 0, 1, 3, 15 };

START_TEST(test_verify_round_trip)
{
	size_t count = chain_counts[_i];
	core_tok_mint_opts opts = {
		.user = "alice",
		.agent = "coder",
		.actors = chain_actors,
		.actor_count = count,
		.scope = "tool:fs.read tool:net.*",
		.ttl_s = 600,
		.trust = 3,
		.purpose = "fix the build",
		.consent = "consent-42",
		.sid = "sess-7",
		.jti = "jti-1",
		.iss = "countersign",
		.aud = "countersignd",
	};
	core_tok_verifier v = verifier();
	char *jwt = mint_ok(&opts);
	core_tok *tok;

	v.issuer = "countersign";
	v.audience = "countersignd";
	tok = expect_ok(&v, jwt, NOW);
	ck_assert_str_eq(tok->user, "alice");
	ck_assert_str_eq(tok->agent, "coder");
	ck_assert_uint_eq(tok->chain_len, count + 2);
	ck_assert_str_eq(tok->chain[0], "alice");
	for (size_t i = 0; i < count; i++)
		ck_assert_str_eq(tok->chain[i + 1], chain_actors[i]);
	ck_assert_str_eq(tok->chain[tok->chain_len - 1], "coder");
	ck_assert_uint_eq(tok->scope_count, 2);
	ck_assert_str_eq(tok->scopes[0], "fs.read");
	ck_assert_str_eq(tok->scopes[1], "net.*");
	ck_assert_str_eq(tok->scope_text, "tool:fs.read tool:net.*");
	ck_assert_int_eq(tok->iat, NOW);
	ck_assert_int_eq(tok->exp, NOW + 600);
	ck_assert_int_eq(tok->nbf, 0);
	ck_assert_int_eq(tok->trust, 3);
	ck_assert_str_eq(tok->purpose, "fix the build");
	ck_assert_str_eq(tok->consent, "consent-42");
	ck_assert_str_eq(tok->sid, "sess-7");
	ck_assert_str_eq(tok->jti, "jti-1");
	ck_assert_str_eq(tok->iss, "countersign");
	ck_assert_str_eq(tok->aud, "countersignd");
	core_tok_free(tok);
	free(jwt);
}
END_TEST

START_TEST(test_verify_three_actor_chain)
{
	/* alice -> planner -> researcher -> coder: three actors. */
	core_tok_mint_opts opts = {
		.user = "alice",
		.agent = "coder",
		.actors = chain_actors,
		.actor_count = 2,
		.scope = "tool:fs.*",
		.ttl_s = 60,
		.trust = -1,
	};
	static const char *const want[] = {
		"alice", "planner", "researcher", "coder",
	};
	core_tok_verifier v = verifier();
	char *jwt = mint_ok(&opts);
	core_tok *tok = expect_ok(&v, jwt, NOW);

	ck_assert_uint_eq(tok->chain_len, CS_ARRAY_LEN(want));
	for (size_t i = 0; i < CS_ARRAY_LEN(want); i++)
		ck_assert_str_eq(tok->chain[i], want[i]);
	ck_assert_str_eq(tok->agent, "coder");
	ck_assert_str_eq(tok->user, "alice");
	ck_assert_int_eq(tok->trust, -1);
	ck_assert_ptr_null(tok->purpose);
	ck_assert_ptr_null(tok->iss);
	ck_assert_ptr_null(tok->aud);
	ck_assert_ptr_nonnull(tok->jti);
	core_tok_free(tok);
	free(jwt);
}
END_TEST

START_TEST(test_verify_minimal_claims)
{
	/* A hand-built token: "act" with the human acting earliest. */
	char *jwt = make_hs256("{\"sub\":\"alice\",\"scope\":\"tool:fs.read\","
	    "\"exp\":" EXP_OK ",\"act\":{\"sub\":\"coder\","
	    "\"act\":{\"sub\":\"planner\"}}}");
	core_tok_verifier v = verifier();
	core_tok *tok = expect_ok(&v, jwt, NOW);

	ck_assert_uint_eq(tok->chain_len, 3);
	ck_assert_str_eq(tok->chain[0], "alice");
	ck_assert_str_eq(tok->chain[1], "planner");
	ck_assert_str_eq(tok->chain[2], "coder");
	ck_assert_str_eq(tok->agent, "coder");
	ck_assert_int_eq(tok->iat, 0);
	ck_assert_int_eq(tok->nbf, 0);
	ck_assert_int_eq(tok->trust, -1);
	ck_assert_ptr_null(tok->jti);
	ck_assert_ptr_null(tok->iss);
	ck_assert_ptr_null(tok->aud);
	ck_assert_ptr_null(tok->consent);
	ck_assert_ptr_null(tok->purpose);
	ck_assert_ptr_null(tok->sid);
	core_tok_free(tok);
	free(jwt);
}
END_TEST

#define C_SUB "\"sub\":\"alice\""
#define C_ACT "\"act\":{\"sub\":\"coder\"}"
#define C_SCOPE "\"scope\":\"tool:fs.*\""
#define C_EXP "\"exp\":" EXP_OK
#define C_BASE C_SUB "," C_ACT "," C_SCOPE "," C_EXP

static const char *const good_claims[] = {
	"{" C_BASE "}",
	"{" C_BASE ",\"aud\":[\"x\",\"y\"]}",
	"{" C_BASE ",\"aud\":\"x\"}",
	"{" C_BASE ",\"trust\":0}",
	"{" C_BASE ",\"trust\":4}",
	"{" C_BASE ",\"iat\":1700000000,\"nbf\":1700000000}",
	"{" C_BASE ",\"iat\":0,\"nbf\":0}",
	"{" C_BASE ",\"extra\":{\"nested\":[1,2,{\"x\":null}]}}",
	"{" C_SUB "," C_ACT "," C_EXP ",\"scope\":\"tool:a tool:b.* tool:?\"}",
	"{" C_SUB "," C_SCOPE "," C_EXP ",\"act\":{\"sub\":\"b\",\"x\":1,"
	    "\"act\":{\"sub\":\"a\"}}}",
};

START_TEST(test_verify_good_claims)
{
	core_tok_verifier v = verifier();
	char *jwt = make_hs256(good_claims[_i]);

	core_tok_free(expect_ok(&v, jwt, NOW));
	free(jwt);
}
END_TEST

static const struct {
	const char *payload;
	const char *cause;
} bad_claims[] = {
	{ "{" C_SUB "," C_ACT "," C_SCOPE ",\"exp\":\"" EXP_OK "\"}",
	    "claim exp must be an integer" },
	{ "{" C_SUB "," C_ACT "," C_SCOPE ",\"exp\":" EXP_OK ".0}",
	    "claim exp must be an integer" },
	{ "{" C_SUB "," C_ACT "," C_SCOPE ",\"exp\":1.7e9}",
	    "claim exp must be an integer" },
	{ "{" C_SUB "," C_ACT "," C_SCOPE ",\"exp\":-1}",
	    "claim exp must be an integer" },
	{ "{" C_SUB "," C_ACT "," C_SCOPE ",\"exp\":null}",
	    "claim exp must be an integer" },
	{ "{" C_SUB "," C_ACT "," C_SCOPE ",\"exp\":true}",
	    "claim exp must be an integer" },
	{ "{" C_SUB "," C_ACT "," C_SCOPE "}", "missing claim exp" },
	{ "{" C_SUB "," C_ACT "," C_SCOPE ",\"exp\":1" "00000000000000000000}",
	    "malformed token" },
	{ "{" C_BASE ",\"iat\":\"1700000000\"}",
	    "claim iat must be an integer" },
	{ "{" C_BASE ",\"nbf\":1700000000.5}",
	    "claim nbf must be an integer" },
	{ "{" C_BASE ",\"nbf\":-5}", "claim nbf must be an integer" },
	{ "{" C_BASE ",\"trust\":5}", "claim trust must be an integer 0..4" },
	{ "{" C_BASE ",\"trust\":-1}", "claim trust must be an integer 0..4" },
	{ "{" C_BASE ",\"trust\":\"2\"}",
	    "claim trust must be an integer 0..4" },
	{ "{" C_BASE ",\"trust\":2.0}", "claim trust must be an integer 0..4" },
	{ "{" C_ACT "," C_SCOPE "," C_EXP "}", "missing claim sub" },
	{ "{\"sub\":7," C_ACT "," C_SCOPE "," C_EXP "}",
	    "claim sub must be a string" },
	{ "{\"sub\":\"\"," C_ACT "," C_SCOPE "," C_EXP "}",
	    "claim sub must be a non-empty string" },
	{ "{" C_SUB "," C_SCOPE "," C_EXP "}", "missing claim act" },
	{ "{" C_SUB "," C_SCOPE "," C_EXP ",\"act\":\"coder\"}",
	    "claim act must be an object" },
	{ "{" C_SUB "," C_SCOPE "," C_EXP ",\"act\":null}",
	    "claim act must be an object" },
	{ "{" C_SUB "," C_SCOPE "," C_EXP ",\"act\":{}}",
	    "missing claim act.sub" },
	{ "{" C_SUB "," C_SCOPE "," C_EXP ",\"act\":{\"sub\":7}}",
	    "claim act.sub must be a non-empty string" },
	{ "{" C_SUB "," C_SCOPE "," C_EXP ",\"act\":{\"sub\":\"\"}}",
	    "claim act.sub must be a non-empty string" },
	{ "{" C_SUB "," C_SCOPE "," C_EXP
	    ",\"act\":{\"sub\":\"b\",\"act\":\"a\"}}",
	    "claim act must be an object" },
	{ "{" C_SUB "," C_SCOPE "," C_EXP ",\"act\":{\"sub\":\"b\","
	    "\"act\":{\"act\":{\"sub\":\"a\"}}}}", "missing claim act.sub" },
	{ "{" C_SUB "," C_ACT "," C_EXP "}", "missing claim scope" },
	{ "{" C_SUB "," C_ACT "," C_EXP ",\"scope\":7}",
	    "claim scope must be a string" },
	{ "{" C_SUB "," C_ACT "," C_EXP ",\"scope\":[\"tool:fs.*\"]}",
	    "claim scope must be a string" },
	{ "{" C_SUB "," C_ACT "," C_EXP ",\"scope\":\"fs.read\"}",
	    "scope item must start with tool:" },
	{ "{" C_SUB "," C_ACT "," C_EXP ",\"scope\":\"tool:a fs.read\"}",
	    "scope item must start with tool:" },
	{ "{" C_SUB "," C_ACT "," C_EXP ",\"scope\":\"Tool:a\"}",
	    "scope item must start with tool:" },
	{ "{" C_SUB "," C_ACT "," C_EXP ",\"scope\":\"tool\"}",
	    "scope item must start with tool:" },
	{ "{" C_SUB "," C_ACT "," C_EXP ",\"scope\":\"\"}", "scope is empty" },
	{ "{" C_SUB "," C_ACT "," C_EXP ",\"scope\":\"tool:\"}",
	    "scope item has an empty pattern" },
	{ "{" C_SUB "," C_ACT "," C_EXP ",\"scope\":\"tool:a  tool:b\"}",
	    "scope has an empty item" },
	{ "{" C_SUB "," C_ACT "," C_EXP ",\"scope\":\" tool:a\"}",
	    "scope has an empty item" },
	{ "{" C_SUB "," C_ACT "," C_EXP ",\"scope\":\"tool:a \"}",
	    "scope has an empty item" },
	{ "{" C_SUB "," C_ACT "," C_EXP ",\"scope\":\"tool:a\\tb\"}",
	    "scope item has an invalid character" },
	{ "{" C_SUB "," C_ACT "," C_EXP ",\"scope\":\"tool:caf\\u00e9\"}",
	    "scope item has an invalid character" },
	{ "{" C_BASE ",\"jti\":7}", "claim jti must be a string" },
	{ "{" C_BASE ",\"iss\":[\"a\"]}", "claim iss must be a string" },
	{ "{" C_BASE ",\"consent\":true}", "claim consent must be a string" },
	{ "{" C_BASE ",\"purpose\":{}}", "claim purpose must be a string" },
	{ "{" C_BASE ",\"sid\":null}", "claim sid must be a string" },
	{ "{" C_BASE ",\"aud\":5}", "claim aud must be a string or array" },
	{ "{" C_BASE ",\"aud\":[]}", "claim aud must be a string or array" },
	{ "{" C_BASE ",\"aud\":[\"a\",1]}",
	    "claim aud must be a string or array" },
	{ "{" C_BASE ",\"sub\":\"mallory\"}", "malformed token" },
	{ "[" C_BASE "]", "malformed token" },
	{ "\"alice\"", "malformed token" },
	{ "{" C_BASE ",}", "malformed token" },
	{ "", "malformed token" },
	{ "{" C_BASE ",\"purpose\":\"\xff\"}", "malformed token" },
	{ "{" C_BASE ",\"purpose\":\"a\\u0000b\"}", "malformed token" },
};

START_TEST(test_verify_bad_claims)
{
	core_tok_verifier v = verifier();
	char *jwt = make_hs256(bad_claims[_i].payload);

	expect_denied(&v, jwt, NOW, bad_claims[_i].cause);
	free(jwt);
}
END_TEST

/* A payload whose act claim nests depth actors. A new string. */
static char *
nested_payload(int depth)
{
	char buf[2048];
	size_t n;

	n = (size_t) snprintf(buf, sizeof buf, "{%s,%s,%s,\"act\":", C_SUB,
	    C_SCOPE, C_EXP);
	for (int i = 0; i < depth; i++) {
		n += (size_t) snprintf(buf + n, sizeof buf - n,
		    "%s{\"sub\":\"agent%d\"", i == 0 ? "" : ",\"act\":",
		    depth - i);
	}
	for (int i = 0; i <= depth; i++)
		n += (size_t) snprintf(buf + n, sizeof buf - n, "}");
	ck_assert_uint_lt(n, sizeof buf);
	return strdup(buf);
}

START_TEST(test_verify_chain_depth)
{
	int depth = _i;
	core_tok_verifier v = verifier();
	char *payload = nested_payload(depth);
	char *jwt = make_hs256(payload);

	if (depth <= 16) {
		core_tok *tok = expect_ok(&v, jwt, NOW);

		/* agent1 is the deepest act, agentN the outermost. */
		ck_assert_uint_eq(tok->chain_len, (size_t) depth + 1);
		for (int i = 1; i <= depth; i++) {
			char name[16];

			snprintf(name, sizeof name, "agent%d", i);
			ck_assert_str_eq(tok->chain[i], name);
		}
		ck_assert_str_eq(tok->agent, tok->chain[depth]);
		core_tok_free(tok);
	} else
		expect_denied(&v, jwt, NOW, "act chain longer than 16");
	free(jwt);
	free(payload);
}
END_TEST

static const struct {
	const char *header;
	int md; /* 0 none, 256, 384, 512 */
	const char *cause; /* NULL: accepted */
} headers[] = {
	{ "{\"alg\":\"none\",\"typ\":\"JWT\"}", 0,
	    "algorithm none not allowed" },
	{ "{\"alg\":\"none\",\"typ\":\"JWT\"}", 256,
	    "algorithm none not allowed" },
	{ "{\"alg\":\"none\"}", 0, "algorithm none not allowed" },
	{ "{\"alg\":\"NONE\",\"typ\":\"JWT\"}", 0,
	    "algorithm none not allowed" },
	{ "{\"alg\":\"nOnE\"}", 256, "algorithm none not allowed" },
	{ "{\"alg\":\"HS384\",\"typ\":\"JWT\"}", 384,
	    "algorithm HS384 not allowed" },
	{ "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", 512,
	    "algorithm HS512 not allowed" },
	{ "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", 384, "bad signature" },
	{ "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", 512, "bad signature" },
	{ "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", 0, "bad signature" },
	{ "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", 256,
	    "algorithm RS256 not allowed" },
	{ "{\"alg\":\"ES256\",\"typ\":\"JWT\"}", 256,
	    "algorithm ES256 not allowed" },
	{ "{\"alg\":\"hs256\",\"typ\":\"JWT\"}", 256,
	    "algorithm hs256 not allowed" },
	{ "{\"alg\":\"HS256 \",\"typ\":\"JWT\"}", 256,
	    "algorithm not allowed" },
	{ "{\"alg\":\"HS256\"}", 256, NULL },
	{ "{\"alg\":\"HS256\",\"typ\":\"jwt\"}", 256, NULL },
	{ "{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}", 256, NULL },
	{ "{\"alg\":\"HS256\",\"typ\":\"JOSE\"}", 256,
	    "token type not allowed" },
	{ "{\"alg\":\"HS256\",\"typ\":1}", 256, "token type not allowed" },
	{ "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", 256,
	    "critical header not supported" },
	{ "{\"alg\":\"none\",\"alg\":\"HS256\"}", 256, "malformed token" },
	{ "{\"alg\":\"HS256\",\"alg\":\"none\"}", 256, "malformed token" },
	{ "{\"typ\":\"JWT\"}", 256, "malformed token" },
	{ "{\"alg\":256}", 256, "malformed token" },
	{ "{\"alg\":null}", 0, "malformed token" },
	{ "[\"HS256\"]", 256, "malformed token" },
	{ "HS256", 256, "malformed token" },
	{ "{}", 256, "malformed token" },
};

START_TEST(test_verify_headers)
{
	const EVP_MD *md = headers[_i].md == 256 ? EVP_sha256() :
	    headers[_i].md == 384 ? EVP_sha384() :
	    headers[_i].md == 512 ? EVP_sha512() : NULL;
	core_tok_verifier v = verifier();
	char *jwt = make_token(headers[_i].header, "{" C_BASE "}", md,
	    test_key, TEST_KEY_LEN);

	if (headers[_i].cause == NULL)
		core_tok_free(expect_ok(&v, jwt, NOW));
	else
		expect_denied(&v, jwt, NOW, headers[_i].cause);
	free(jwt);
}
END_TEST

START_TEST(test_verify_alg_none_literal)
{
	/* base64url({"alg":"none","typ":"JWT"}) + payload + "." */
	static const char jwt[] = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0."
	    "eyJzdWIiOiJhbGljZSIsImFjdCI6eyJzdWIiOiJjb2RlciJ9LCJzY29wZSI6"
	    "InRvb2w6KiIsImV4cCI6OTk5OTk5OTk5OX0.";
	core_tok_verifier v = verifier();

	expect_denied(&v, jwt, NOW, "algorithm none not allowed");
}
END_TEST

START_TEST(test_verify_bad_signature)
{
	core_tok_verifier v = verifier();
	char *wrong = make_token(HDR_HS256, "{" C_BASE "}", EVP_sha256(),
	    other_key, TEST_KEY_LEN);
	char *good = make_hs256("{" C_BASE "}");
	char *evil = make_hs256("{\"sub\":\"mallory\"," C_ACT "," C_SCOPE ","
	    C_EXP "}");
	char *spliced, *truncated;
	const char *good_sig = strrchr(good, '.');
	const char *evil_sig = strrchr(evil, '.');

	expect_denied(&v, wrong, NOW, "bad signature");
	/* Verified with a different key than the one that signed it. */
	v.key = other_key;
	core_tok_free(expect_ok(&v, wrong, NOW));
	expect_denied(&v, good, NOW, "bad signature");
	v.key = test_key;

	/* Tampered payload with the original signature. */
	spliced = cs_asprintf("%.*s%s", (int) (evil_sig - evil), evil,
	    good_sig);
	ck_assert_ptr_nonnull(spliced);
	expect_denied(&v, spliced, NOW, "bad signature");

	/* A shortened signature. */
	truncated = strdup(good);
	ck_assert_ptr_nonnull(truncated);
	truncated[strlen(truncated) - 3] = '\0';
	expect_denied(&v, truncated, NOW, "bad signature");

	/* A shorter key prefix must not verify either. */
	v.key_len = TEST_KEY_LEN - 1;
	expect_denied(&v, good, NOW, "bad signature");
	free(wrong);
	free(good);
	free(evil);
	free(spliced);
	free(truncated);
}
END_TEST

START_TEST(test_verify_flipped_chars)
{
	core_tok_verifier v = verifier();
	char *good = make_hs256("{" C_BASE ",\"purpose\":\"tidy up\"}");
	size_t len = strlen(good);
	const char *payload = strchr(good, '.') + 1;
	const char *sig = strrchr(good, '.');

	for (size_t i = 0; i < len; i++) {
		char *bad = strdup(good);
		const char *p = good + i;
		core_tok *tok = untouched;
		char *cause = NULL;

		ck_assert_ptr_nonnull(bad);
		bad[i] = bad[i] == 'A' ? 'B' : 'A';
		ck_assert_int_eq(core_tok_verify(&v, bad, NOW, &tok, &cause),
		    CS_EDENIED);
		ck_assert_ptr_eq(tok, untouched);
		ck_assert_ptr_nonnull(cause);
		/* In the payload segment only the signature can object. */
		if (p >= payload && p < sig)
			ck_assert_msg(strcmp(cause, "bad signature") == 0 ||
			    strcmp(cause, "malformed token") == 0,
			    "flip at %zu: %s", i, cause);
		free(cause);
		free(bad);
	}
	free(good);
}
END_TEST

static const struct {
	int64_t exp, nbf, iat; /* nbf, iat: -1 absent */
	int64_t now, leeway;
	const char *cause;     /* NULL: accepted */
} times[] = {
	{ NOW + 100, -1, -1, NOW, 0, NULL },
	{ NOW + 1, -1, -1, NOW, 0, NULL },
	{ NOW, -1, -1, NOW, 0, "token expired" },
	{ NOW - 1, -1, -1, NOW, 0, "token expired" },
	{ 0, -1, -1, NOW, 0, "token expired" },
	{ NOW - 1, -1, -1, NOW, 5, NULL },
	{ NOW - 5, -1, -1, NOW, 5, "token expired" },
	{ NOW, -1, -1, NOW, -100, "token expired" },
	{ NOW + 100, NOW, -1, NOW, 0, NULL },
	{ NOW + 100, NOW + 1, -1, NOW, 0, "token not yet valid" },
	{ NOW + 100, NOW + 5, -1, NOW, 5, NULL },
	{ NOW + 100, NOW + 6, -1, NOW, 5, "token not yet valid" },
	{ NOW + 100, -1, NOW, NOW, 0, NULL },
	{ NOW + 100, -1, NOW + 1, NOW, 0, "token issued in the future" },
	{ NOW + 100, -1, NOW + 30, NOW, 30, NULL },
	{ NOW + 100, -1, NOW + 31, NOW, 30, "token issued in the future" },
	{ NOW + 100, NOW + 50, NOW + 50, NOW, 0, "token not yet valid" },
	{ NOW + 10, -1, -1, NOW + 9, 0, NULL },
	{ NOW + 10, -1, -1, NOW + 10, 0, "token expired" },
	{ INT64_MAX, -1, -1, NOW, 60, NULL },
	{ INT64_MAX, -1, -1, NOW, INT64_MAX, NULL },
	{ INT64_MAX, INT64_MAX, INT64_MAX, INT64_MAX - 1, INT64_MAX,
	    NULL },
	{ INT64_MAX, INT64_MAX, -1, NOW, INT64_MAX, NULL },
	{ INT64_MAX, INT64_MAX, -1, NOW, 0, "token not yet valid" },
	{ NOW + 100, -1, -1, INT64_MIN, INT64_MAX, NULL },
};

START_TEST(test_verify_times)
{
	char payload[512];
	char nbf[40] = "", iat[40] = "";
	core_tok_verifier v = verifier();
	char *jwt;

	if (times[_i].nbf >= 0)
		snprintf(nbf, sizeof nbf, ",\"nbf\":%lld",
		    (long long) times[_i].nbf);
	if (times[_i].iat >= 0)
		snprintf(iat, sizeof iat, ",\"iat\":%lld",
		    (long long) times[_i].iat);
	snprintf(payload, sizeof payload, "{%s,%s,%s,\"exp\":%lld%s%s}",
	    C_SUB, C_ACT, C_SCOPE, (long long) times[_i].exp, nbf, iat);
	jwt = make_hs256(payload);
	v.leeway_s = times[_i].leeway;
	if (times[_i].cause == NULL) {
		core_tok *tok = expect_ok(&v, jwt, times[_i].now);

		ck_assert_int_eq(tok->exp, times[_i].exp);
		ck_assert_int_eq(tok->nbf, times[_i].nbf < 0 ? 0 :
		    times[_i].nbf);
		ck_assert_int_eq(tok->iat, times[_i].iat < 0 ? 0 :
		    times[_i].iat);
		core_tok_free(tok);
	} else
		expect_denied(&v, jwt, times[_i].now, times[_i].cause);
	free(jwt);
}
END_TEST

static const struct {
	const char *claims;   /* extra claims, "" for none */
	const char *issuer;   /* verifier settings */
	const char *audience;
	const char *cause;    /* NULL: accepted */
} iss_aud[] = {
	{ "", NULL, NULL, NULL },
	{ ",\"iss\":\"x\",\"aud\":\"y\"", NULL, NULL, NULL },
	{ ",\"iss\":\"cs\"", "cs", NULL, NULL },
	{ ",\"iss\":\"other\"", "cs", NULL, "wrong issuer" },
	{ ",\"iss\":\"CS\"", "cs", NULL, "wrong issuer" },
	{ ",\"iss\":\"cs \"", "cs", NULL, "wrong issuer" },
	{ "", "cs", NULL, "wrong issuer" },
	{ ",\"aud\":\"api\"", NULL, "api", NULL },
	{ ",\"aud\":[\"web\",\"api\"]", NULL, "api", NULL },
	{ ",\"aud\":[\"web\"]", NULL, "api", "wrong audience" },
	{ ",\"aud\":\"API\"", NULL, "api", "wrong audience" },
	{ "", NULL, "api", "wrong audience" },
	{ ",\"iss\":\"cs\",\"aud\":\"api\"", "cs", "api", NULL },
	{ ",\"iss\":\"cs\",\"aud\":\"web\"", "cs", "api", "wrong audience" },
	{ ",\"iss\":\"no\",\"aud\":\"api\"", "cs", "api", "wrong issuer" },
};

START_TEST(test_verify_iss_aud)
{
	char payload[512];
	core_tok_verifier v = verifier();
	char *jwt;

	snprintf(payload, sizeof payload, "{%s%s}", C_BASE,
	    iss_aud[_i].claims);
	jwt = make_hs256(payload);
	v.issuer = iss_aud[_i].issuer;
	v.audience = iss_aud[_i].audience;
	if (iss_aud[_i].cause == NULL)
		core_tok_free(expect_ok(&v, jwt, NOW));
	else
		expect_denied(&v, jwt, NOW, iss_aud[_i].cause);
	free(jwt);
}
END_TEST

static const char *const garbage[] = {
	"",
	".",
	"..",
	"...",
	"a.b.c",
	"a.b",
	"a.b.c.d",
	"abc",
	"e30.e30.",
	"e30.e30.e30",
	"e30=.e30.AAAA",
	" eyJhbGciOiJIUzI1NiJ9.e30.AAAA",
	"eyJhbGciOiJIUzI1NiJ9.e30",
	"eyJhbGciOiJIUzI1NiJ9..AAAA",
	".e30.AAAA",
	"eyJhbGciOiJIUzI1NiJ9.e30.!!!!",
	"eyJhbGciOiJIUzI1NiJ9.e30.AAAA.AAAA",
	"eyJhbGciOiJIUzI1NiJ9.e30.AAAAA",
	"eyJhbGciOiJIUzI1NiJ9.e30.AAAA=",
	"eyJhbGciOiJIUzI1NiJ9.eyJ.AAAA",
	"eyJhbGciOiJIUzI1NiJ9\n.e30.AAAA",
	"eyJhbGciOiJIUzI1NiJ9+.e30.AAAA",
	"eyJhbGciOiJIUzI1NiJ9.e31.AAAA",
	"\xff\xfe.\x01.\x7f",
};

START_TEST(test_verify_garbage)
{
	core_tok_verifier v = verifier();

	expect_denied(&v, garbage[_i], NOW, NULL);
}
END_TEST

START_TEST(test_verify_many_dots)
{
	char *dots = malloc(10001);
	core_tok_verifier v = verifier();

	ck_assert_ptr_nonnull(dots);
	memset(dots, '.', 10000);
	dots[10000] = '\0';
	expect_denied(&v, dots, NOW, "token too long");
	v.max_len = 20000;
	expect_denied(&v, dots, NOW, "malformed token");
	free(dots);
}
END_TEST

START_TEST(test_verify_too_long)
{
	char *purpose = malloc(9001);
	core_tok_mint_opts opts = {
		.user = "alice",
		.agent = "coder",
		.scope = "tool:fs.*",
		.ttl_s = 60,
		.trust = -1,
	};
	core_tok_verifier v = verifier();
	char *jwt, *big;
	size_t len;

	jwt = mint_ok(&opts);
	len = strlen(jwt);
	v.max_len = len;
	core_tok_free(expect_ok(&v, jwt, NOW));
	v.max_len = len - 1;
	expect_denied(&v, jwt, NOW, "token too long");

	/* max_len 0 means 8192. */
	ck_assert_ptr_nonnull(purpose);
	memset(purpose, 'p', 9000);
	purpose[9000] = '\0';
	opts.purpose = purpose;
	big = mint_ok(&opts);
	ck_assert_uint_gt(strlen(big), 8192);
	v.max_len = 0;
	core_tok_free(expect_ok(&v, jwt, NOW));
	expect_denied(&v, big, NOW, "token too long");
	v.max_len = 16384;
	core_tok_free(expect_ok(&v, big, NOW));
	free(purpose);
	free(jwt);
	free(big);
}
END_TEST

START_TEST(test_verify_bad_args)
{
	core_tok_verifier v = verifier();
	core_tok *tok = untouched;
	char *jwt = make_hs256("{" C_BASE "}");
	char *cause = NULL;

	ck_assert_int_eq(core_tok_verify(NULL, jwt, NOW, &tok, &cause),
	    CS_EINVAL);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	cause = NULL;
	ck_assert_int_eq(core_tok_verify(&v, NULL, NOW, &tok, NULL),
	    CS_EINVAL);
	ck_assert_int_eq(core_tok_verify(&v, jwt, NOW, NULL, NULL),
	    CS_EINVAL);
	v.key = NULL;
	ck_assert_int_eq(core_tok_verify(&v, jwt, NOW, &tok, NULL),
	    CS_EINVAL);
	v.key = test_key;
	v.key_len = 0;
	ck_assert_int_eq(core_tok_verify(&v, jwt, NOW, &tok, &cause),
	    CS_EINVAL);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	ck_assert_ptr_eq(tok, untouched);
	/* Denials without a cause pointer. */
	v.key_len = TEST_KEY_LEN;
	ck_assert_int_eq(core_tok_verify(&v, "a.b.c", NOW, &tok, NULL),
	    CS_EDENIED);
	ck_assert_ptr_eq(tok, untouched);
	free(jwt);
}
END_TEST

/* jansson allocations left before failing; SIZE_MAX: unlimited. */
static size_t json_budget = SIZE_MAX;
static size_t json_alloc_count; /* successful jansson allocations */

/* jansson allocator that fails once json_budget is spent. */
static void *
budget_malloc(size_t size)
{
	if (json_budget != SIZE_MAX) {
		if (json_budget == 0)
			return NULL;
		json_budget--;
	}
	json_alloc_count++;
	return malloc(size);
}

START_TEST(test_verify_oom)
{
	core_tok_verifier v = verifier();
	char *jwt = make_hs256("{" C_SUB "," C_SCOPE "," C_EXP ",\"iss\":\"i\","
	    "\"aud\":[\"a\",\"b\"],\"act\":{\"sub\":\"b\",\"act\":"
	    "{\"sub\":\"a\"}}}");
	bool saw_oom = false, passed = false;

	json_set_alloc_funcs(budget_malloc, free);
	for (size_t budget = 0; budget < 1000 && !passed; budget++) {
		core_tok *tok = untouched;
		char *cause = NULL;
		cs_err rv;

		json_budget = budget;
		rv = core_tok_verify(&v, jwt, NOW, &tok, &cause);
		json_budget = SIZE_MAX;
		/* libjwt reports its own OOM as EINVAL: a denial. */
		ck_assert_msg(rv == CS_OK || rv == CS_ENOMEM ||
		    rv == CS_EDENIED, "budget %zu: %s", budget,
		    cs_strerror(rv));
		saw_oom = saw_oom || rv == CS_ENOMEM;
		if (rv == CS_OK) {
			ck_assert_str_eq(tok->agent, "b");
			core_tok_free(tok);
			passed = true;
		} else
			ck_assert_ptr_eq(tok, untouched);
		free(cause);
	}
	json_set_alloc_funcs(malloc, free);
	ck_assert(saw_oom);
	ck_assert(passed);
	free(jwt);
}
END_TEST

/* core_tok_free */

START_TEST(test_free)
{
	core_tok_mint_opts opts = {
		.user = "alice",
		.agent = "coder",
		.actors = chain_actors,
		.actor_count = 3,
		.scope = "tool:a tool:b tool:c",
		.ttl_s = 60,
		.trust = 1,
		.purpose = "p",
		.consent = "c",
		.sid = "s",
		.iss = "i",
		.aud = "a",
	};
	core_tok_verifier v = verifier();
	char *jwt = mint_ok(&opts);

	core_tok_free(NULL);
	core_tok_free(expect_ok(&v, jwt, NOW));
	free(jwt);
}
END_TEST

/* core_tok_covers */

static const struct {
	const char *scope;
	const char *tool;
	bool want;
} covers[] = {
	{ "tool:fs.*", "fs.read", true },
	{ "tool:fs.*", "fs.", true },
	{ "tool:fs.*", "fs", false },
	{ "tool:fs.*", "fsx.read", false },
	{ "tool:fs.*", "net.get", false },
	{ "tool:fs.*", "tool:fs.read", false },
	{ "tool:fs.read", "fs.read", true },
	{ "tool:fs.read", "fs.readx", false },
	{ "tool:fs.read", "fs.rea", false },
	{ "tool:fs.read", "FS.READ", false },
	{ "tool:fs.read tool:net.*", "net.get", true },
	{ "tool:fs.read tool:net.*", "fs.read", true },
	{ "tool:fs.read tool:net.*", "fs.write", false },
	{ "tool:*", "anything.at.all", true },
	{ "tool:*.read", "fs.read", true },
	{ "tool:*.read", "fs.write", false },
	{ "tool:fs.?ead", "fs.read", true },
	{ "tool:fs.?ead", "fs.ead", false },
	{ "tool:a*b*c", "aXXbYYc", true },
	{ "tool:a*b*c", "aXXbYY", false },
};

START_TEST(test_covers)
{
	core_tok_mint_opts opts = {
		.user = "alice",
		.agent = "coder",
		.scope = covers[_i].scope,
		.ttl_s = 60,
		.trust = -1,
	};
	core_tok_verifier v = verifier();
	char *jwt = mint_ok(&opts);
	core_tok *tok = expect_ok(&v, jwt, NOW);

	ck_assert_msg(core_tok_covers(tok, covers[_i].tool) == covers[_i].want,
	    "%s covers %s", covers[_i].scope, covers[_i].tool);
	ck_assert(!core_tok_covers(tok, NULL));
	ck_assert(!core_tok_covers(NULL, covers[_i].tool));
	core_tok_free(tok);
	free(jwt);
}
END_TEST

/* core_tok_mint */

START_TEST(test_mint_claims)
{
	core_tok_mint_opts opts = {
		.user = "alice",
		.agent = "coder",
		.actors = chain_actors,
		.actor_count = 2,
		.scope = "tool:fs.*",
		.ttl_s = 900,
		.trust = 2,
		.purpose = "p",
		.consent = "c",
		.sid = "s",
		.iss = "i",
		.aud = "a",
	};
	char *jwt = mint_ok(&opts);
	jwt_t *decoded = NULL;
	json_t *claims, *want_act;
	const char *jti;
	char *text;

	/* Read it back through libjwt, independently of core_tok_verify. */
	ck_assert_int_eq(jwt_decode(&decoded, jwt, test_key,
	    (int) TEST_KEY_LEN), 0);
	ck_assert_int_eq(jwt_get_alg(decoded), JWT_ALG_HS256);
	ck_assert_str_eq(jwt_get_header(decoded, "alg"), "HS256");
	ck_assert_str_eq(jwt_get_header(decoded, "typ"), "JWT");
	text = jwt_get_grants_json(decoded, NULL);
	ck_assert_ptr_nonnull(text);
	claims = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
	ck_assert_ptr_nonnull(claims);
	ck_assert_str_eq(json_string_value(json_object_get(claims, "sub")),
	    "alice");
	ck_assert_str_eq(json_string_value(json_object_get(claims, "scope")),
	    "tool:fs.*");
	ck_assert_int_eq(json_integer_value(json_object_get(claims, "iat")),
	    NOW);
	ck_assert_int_eq(json_integer_value(json_object_get(claims, "exp")),
	    NOW + 900);
	ck_assert_int_eq(json_integer_value(json_object_get(claims, "trust")),
	    2);
	ck_assert_str_eq(json_string_value(json_object_get(claims, "iss")),
	    "i");
	ck_assert_str_eq(json_string_value(json_object_get(claims, "aud")),
	    "a");
	ck_assert_str_eq(json_string_value(json_object_get(claims,
	    "purpose")), "p");
	ck_assert_str_eq(json_string_value(json_object_get(claims,
	    "consent")), "c");
	ck_assert_str_eq(json_string_value(json_object_get(claims, "sid")),
	    "s");
	jti = json_string_value(json_object_get(claims, "jti"));
	ck_assert_ptr_nonnull(jti);
	ck_assert_uint_eq(strlen(jti), 32);
	ck_assert_uint_eq(strspn(jti, "0123456789abcdef"), 32);
	want_act = json_loads("{\"sub\":\"coder\",\"act\":{\"sub\":"
	    "\"researcher\",\"act\":{\"sub\":\"planner\"}}}", 0, NULL);
	ck_assert_ptr_nonnull(want_act);
	ck_assert(json_equal(json_object_get(claims, "act"), want_act));
	json_decref(want_act);
	json_decref(claims);
	free(text);
	jwt_free(decoded);
	free(jwt);
}
END_TEST

START_TEST(test_mint_omits_absent)
{
	static const char *const omitted[] = {
		"trust", "iss", "aud", "purpose", "consent", "sid", "nbf",
	};
	core_tok_mint_opts opts = {
		.user = "alice",
		.agent = "coder",
		.scope = "tool:x",
		.ttl_s = 1,
		.trust = -1,
		.jti = "fixed",
	};
	char *jwt = mint_ok(&opts);
	jwt_t *decoded = NULL;
	json_t *claims;
	char *text;

	ck_assert_int_eq(jwt_decode(&decoded, jwt, test_key,
	    (int) TEST_KEY_LEN), 0);
	text = jwt_get_grants_json(decoded, NULL);
	ck_assert_ptr_nonnull(text);
	claims = json_loads(text, 0, NULL);
	ck_assert_ptr_nonnull(claims);
	for (size_t i = 0; i < CS_ARRAY_LEN(omitted); i++)
		ck_assert_ptr_null(json_object_get(claims, omitted[i]));
	ck_assert_str_eq(json_string_value(json_object_get(claims, "jti")),
	    "fixed");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(
	    claims, "act"), "sub")), "coder");
	ck_assert_ptr_null(json_object_get(json_object_get(claims, "act"),
	    "act"));
	json_decref(claims);
	free(text);
	jwt_free(decoded);
	free(jwt);
}
END_TEST

START_TEST(test_mint_random_jti)
{
	core_tok_mint_opts opts = {
		.user = "alice",
		.agent = "coder",
		.scope = "tool:x",
		.ttl_s = 60,
		.trust = -1,
	};
	core_tok_verifier v = verifier();
	char *a = mint_ok(&opts), *b = mint_ok(&opts);
	core_tok *ta = expect_ok(&v, a, NOW), *tb = expect_ok(&v, b, NOW);

	ck_assert_str_ne(ta->jti, tb->jti);
	ck_assert_str_ne(a, b);
	core_tok_free(ta);
	core_tok_free(tb);
	free(a);
	free(b);
}
END_TEST

static const char *const two_actors[] = { "a", "b" };
static const char *const empty_actor[] = { "a", "" };
static const char *const null_actor[] = { "a", NULL };
static const char *const sixteen_actors[] = {
	"a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8",
	"a9", "a10", "a11", "a12", "a13", "a14", "a15", "a16",
};

static const struct {
	const char *user, *agent, *scope;
	int64_t ttl_s;
	int trust;
	const char *const *actors;
	size_t actor_count;
	const char *purpose;
	int64_t now;
	const char *cause;
} bad_mint[] = {
	{ NULL, "coder", "tool:x", 60, -1, NULL, 0, NULL, NOW,
	    "user and agent are required" },
	{ "", "coder", "tool:x", 60, -1, NULL, 0, NULL, NOW,
	    "user and agent are required" },
	{ "alice", NULL, "tool:x", 60, -1, NULL, 0, NULL, NOW,
	    "user and agent are required" },
	{ "alice", "", "tool:x", 60, -1, NULL, 0, NULL, NOW,
	    "user and agent are required" },
	{ "alice", "coder", NULL, 60, -1, NULL, 0, NULL, NOW,
	    "scope is required" },
	{ "alice", "coder", "", 60, -1, NULL, 0, NULL, NOW,
	    "scope is empty" },
	{ "alice", "coder", "fs.read", 60, -1, NULL, 0, NULL, NOW,
	    "must start with tool:" },
	{ "alice", "coder", "tool:a fs.read", 60, -1, NULL, 0, NULL, NOW,
	    "must start with tool:" },
	{ "alice", "coder", "tool:", 60, -1, NULL, 0, NULL, NOW,
	    "empty pattern" },
	{ "alice", "coder", "tool:a  tool:b", 60, -1, NULL, 0, NULL, NOW,
	    "empty item" },
	{ "alice", "coder", "tool:a\nb", 60, -1, NULL, 0, NULL, NOW,
	    "invalid character" },
	{ "alice", "coder", "tool:x", 0, -1, NULL, 0, NULL, NOW, "ttl" },
	{ "alice", "coder", "tool:x", -5, -1, NULL, 0, NULL, NOW, "ttl" },
	{ "alice", "coder", "tool:x", INT64_MAX, -1, NULL, 0, NULL, NOW,
	    "ttl" },
	{ "alice", "coder", "tool:x", 60, -1, NULL, 0, NULL, -1, "ttl" },
	{ "alice", "coder", "tool:x", 60, 5, NULL, 0, NULL, NOW, "trust" },
	{ "alice", "coder", "tool:x", 60, -2, NULL, 0, NULL, NOW, "trust" },
	{ "alice", "coder", "tool:x", 60, -1, NULL, 2, NULL, NOW,
	    "actors missing" },
	{ "alice", "coder", "tool:x", 60, -1, empty_actor, 2, NULL, NOW,
	    "actor 1 is empty" },
	{ "alice", "coder", "tool:x", 60, -1, null_actor, 2, NULL, NOW,
	    "actor 1 is empty" },
	{ "alice", "coder", "tool:x", 60, -1, sixteen_actors, 16, NULL, NOW,
	    "act chain longer than 16" },
	{ "\xff", "coder", "tool:x", 60, -1, NULL, 0, NULL, NOW,
	    "sub is not valid UTF-8" },
	{ "alice", "\xc3", "tool:x", 60, -1, two_actors, 2, NULL, NOW,
	    "sub is not valid UTF-8" },
	{ "alice", "coder", "tool:x", 60, -1, NULL, 0, "ok\xc3(", NOW,
	    "purpose is not valid UTF-8" },
};

START_TEST(test_mint_bad_opts)
{
	core_tok_mint_opts opts = {
		.user = bad_mint[_i].user,
		.agent = bad_mint[_i].agent,
		.scope = bad_mint[_i].scope,
		.ttl_s = bad_mint[_i].ttl_s,
		.trust = bad_mint[_i].trust,
		.actors = bad_mint[_i].actors,
		.actor_count = bad_mint[_i].actor_count,
		.purpose = bad_mint[_i].purpose,
	};
	char *jwt = untouched_text, *cause = NULL;

	ck_assert_int_eq(core_tok_mint(test_key, TEST_KEY_LEN, &opts,
	    bad_mint[_i].now, &jwt, &cause), CS_EINVAL);
	ck_assert_ptr_eq(jwt, untouched_text);
	ck_assert_ptr_nonnull(cause);
	ck_assert_msg(strstr(cause, bad_mint[_i].cause) != NULL,
	    "cause \"%s\" lacks \"%s\"", cause, bad_mint[_i].cause);
	free(cause);
}
END_TEST

START_TEST(test_mint_bad_args)
{
	core_tok_mint_opts opts = {
		.user = "alice",
		.agent = "coder",
		.scope = "tool:x",
		.ttl_s = 60,
		.trust = -1,
	};
	char *jwt = untouched_text, *cause = NULL;

	ck_assert_int_eq(core_tok_mint(NULL, TEST_KEY_LEN, &opts, NOW, &jwt,
	    &cause), CS_EINVAL);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	ck_assert_int_eq(core_tok_mint(test_key, 0, &opts, NOW, &jwt, NULL),
	    CS_EINVAL);
	ck_assert_int_eq(core_tok_mint(test_key, TEST_KEY_LEN, NULL, NOW,
	    &jwt, NULL), CS_EINVAL);
	ck_assert_ptr_eq(jwt, untouched_text);
	ck_assert_int_eq(core_tok_mint(test_key, TEST_KEY_LEN, &opts, NOW,
	    NULL, NULL), CS_EINVAL);
}
END_TEST

START_TEST(test_mint_max_chain)
{
	/* 15 prior actors + the agent: the longest chain allowed. */
	core_tok_mint_opts opts = {
		.user = "alice",
		.agent = "coder",
		.actors = sixteen_actors,
		.actor_count = 15,
		.scope = "tool:x",
		.ttl_s = 60,
		.trust = -1,
	};
	core_tok_verifier v = verifier();
	char *jwt = mint_ok(&opts);
	core_tok *tok = expect_ok(&v, jwt, NOW);

	ck_assert_uint_eq(tok->chain_len, 17);
	ck_assert_str_eq(tok->chain[1], "a1");
	ck_assert_str_eq(tok->chain[15], "a15");
	ck_assert_str_eq(tok->chain[16], "coder");
	core_tok_free(tok);
	free(jwt);
}
END_TEST

/* jansson allocations jwt_encode_str makes for the claims of jwt. */
static size_t
encode_alloc_count(const char *jwt)
{
	jwt_t *decoded = NULL, *fresh = NULL;
	char *text, *encoded;
	size_t before;

	ck_assert_int_eq(jwt_decode(&decoded, jwt, test_key,
	    (int) TEST_KEY_LEN), 0);
	text = jwt_get_grants_json(decoded, NULL);
	ck_assert_ptr_nonnull(text);
	ck_assert_int_eq(jwt_new(&fresh), 0);
	ck_assert_int_eq(jwt_set_alg(fresh, JWT_ALG_HS256, test_key,
	    (int) TEST_KEY_LEN), 0);
	ck_assert_int_eq(jwt_add_grants_json(fresh, text), 0);
	before = json_alloc_count;
	encoded = jwt_encode_str(fresh);
	ck_assert_ptr_nonnull(encoded);
	before = json_alloc_count - before;
	free(encoded);
	free(text);
	jwt_free(fresh);
	jwt_free(decoded);
	return before;
}

START_TEST(test_mint_oom)
{
	core_tok_mint_opts opts = {
		.user = "alice",
		.agent = "coder",
		.actors = two_actors,
		.actor_count = 2,
		.scope = "tool:x",
		.ttl_s = 60,
		.trust = 1,
		.purpose = "p",
		.jti = "0123456789abcdef0123456789abcdef",
	};
	core_tok_verifier v = verifier();
	size_t total, safe;
	char *jwt;

	json_set_alloc_funcs(budget_malloc, free);
	json_alloc_count = 0;
	jwt = mint_ok(&opts);
	total = json_alloc_count;
	/* libjwt 1.10.2 passes an unchecked json_dumps() result to strlen()
	 * inside jwt_encode_str, so failures can only be injected before
	 * that call, which comes last. */
	safe = total - encode_alloc_count(jwt);
	ck_assert_uint_gt(safe, 10);
	for (size_t budget = 0; budget < safe; budget++) {
		char *out = untouched_text, *cause = NULL;
		cs_err rv;

		json_budget = budget;
		rv = core_tok_mint(test_key, TEST_KEY_LEN, &opts, NOW, &out,
		    &cause);
		json_budget = SIZE_MAX;
		ck_assert_msg(rv == CS_ENOMEM, "budget %zu/%zu: %s", budget,
		    safe, cs_strerror(rv));
		ck_assert_ptr_eq(out, untouched_text);
		free(cause);
	}
	json_set_alloc_funcs(malloc, free);
	core_tok_free(expect_ok(&v, jwt, NOW));
	free(jwt);
}
END_TEST

static Suite *
tok_suite(void)
{
	Suite *s = suite_create("tok");
	TCase *tc;

	tc = tcase_create("core_tok_verify");
	tcase_add_loop_test(tc, test_verify_round_trip, 0,
	    CS_ARRAY_LEN(chain_counts));
	tcase_add_test(tc, test_verify_three_actor_chain);
	tcase_add_test(tc, test_verify_minimal_claims);
	tcase_add_loop_test(tc, test_verify_good_claims, 0,
	    CS_ARRAY_LEN(good_claims));
	tcase_add_loop_test(tc, test_verify_bad_claims, 0,
	    CS_ARRAY_LEN(bad_claims));
	tcase_add_loop_test(tc, test_verify_chain_depth, 1, 19);
	tcase_add_loop_test(tc, test_verify_headers, 0,
	    CS_ARRAY_LEN(headers));
	tcase_add_test(tc, test_verify_alg_none_literal);
	tcase_add_test(tc, test_verify_bad_signature);
	tcase_add_test(tc, test_verify_flipped_chars);
	tcase_add_loop_test(tc, test_verify_times, 0, CS_ARRAY_LEN(times));
	tcase_add_loop_test(tc, test_verify_iss_aud, 0,
	    CS_ARRAY_LEN(iss_aud));
	tcase_add_loop_test(tc, test_verify_garbage, 0,
	    CS_ARRAY_LEN(garbage));
	tcase_add_test(tc, test_verify_many_dots);
	tcase_add_test(tc, test_verify_too_long);
	tcase_add_test(tc, test_verify_bad_args);
	tcase_add_test(tc, test_verify_oom);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_tok_free");
	tcase_add_test(tc, test_free);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_tok_covers");
	tcase_add_loop_test(tc, test_covers, 0, CS_ARRAY_LEN(covers));
	suite_add_tcase(s, tc);

	tc = tcase_create("core_tok_mint");
	tcase_add_test(tc, test_mint_claims);
	tcase_add_test(tc, test_mint_omits_absent);
	tcase_add_test(tc, test_mint_random_jti);
	tcase_add_loop_test(tc, test_mint_bad_opts, 0,
	    CS_ARRAY_LEN(bad_mint));
	tcase_add_test(tc, test_mint_bad_args);
	tcase_add_test(tc, test_mint_max_chain);
	tcase_add_test(tc, test_mint_oom);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(tok_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
