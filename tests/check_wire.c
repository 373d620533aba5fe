/* check_wire.c: Check suite for what arrives from outside: agent frames
 * (core/req.c) and DIR/config.json (core/cfg.c).
 * SPDX-License-Identifier: MIT */
#include "cfg.h"
#include "json.h"
#include "req.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>

#define ck_assert_cs_ok(expr, cause)                                         \
	do {                                                                 \
		cs_err ck_rv_ = (expr);                                      \
		ck_assert_msg(ck_rv_ == CS_OK, "%s: %s (%s)", #expr,         \
		    cs_strerror(ck_rv_),                                     \
		    (cause) != NULL ? (cause) : "no cause");                 \
	} while (0)

#define MAX_DEPTH 32
#define MAX_ARGS 1024

/* Frames are written with single quotes for readability; qn() turns the
 * len bytes of text (NUL bytes included) into a new buffer with JSON's
 * double quotes, NUL-terminated after len. */
static char *
qn(const char *text, size_t len)
{
	char *s = malloc(len + 1);

	ck_assert_ptr_nonnull(s);
	memcpy(s, text, len);
	s[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\'')
			s[i] = '"';
	return s;
}

/* qn() of a NUL-terminated text. */
static char *
q(const char *text)
{
	return qn(text, strlen(text));
}

/* ---- core_msg_parse: frames refused ------------------------------------ */

#define AUTH "'v':1,'type':'authorize','token':'t'"
#define AUTH_TOOL AUTH ",'tool':'fs.read'"

static const struct {
	const char *name;
	const char *frame; /* single-quoted JSON (see q()) */
	size_t len;        /* 0: strlen */
	const char *code;
	cs_err want;
} bad_frames[] = {
	{ "empty", "", 0, "bad_json", CS_EPARSE },
	{ "whitespace", "   \n", 0, "bad_json", CS_EPARSE },
	{ "not json", "not json", 0, "bad_json", CS_EPARSE },
	{ "truncated", "{" AUTH_TOOL, 0, "bad_json", CS_EPARSE },
	{ "truncated string", "{'v':1,'type':'autho", 0, "bad_json",
	    CS_EPARSE },
	{ "trailing garbage", "{" AUTH_TOOL "}x", 0, "bad_json", CS_EPARSE },
	{ "two objects", "{" AUTH_TOOL "}{" AUTH_TOOL "}", 0, "bad_json",
	    CS_EPARSE },
	{ "single quotes", "{\\'v\\':1}", 0, "bad_json", CS_EPARSE },
	{ "top-level array", "[{" AUTH_TOOL "}]", 0, "wrong_type",
	    CS_EINVAL },
	{ "top-level string", "'authorize'", 0, "bad_json", CS_EPARSE },
	{ "top-level number", "1", 0, "bad_json", CS_EPARSE },
	{ "missing v", "{'type':'authorize','token':'t','tool':'fs.read'}", 0,
	    "bad_version", CS_EINVAL },
	{ "v 2", "{'v':2,'type':'authorize','token':'t','tool':'x'}", 0,
	    "bad_version", CS_EINVAL },
	{ "v 0", "{'v':0,'type':'authorize','token':'t','tool':'x'}", 0,
	    "bad_version", CS_EINVAL },
	{ "v string", "{'v':'1','type':'authorize','token':'t','tool':'x'}",
	    0, "bad_version", CS_EINVAL },
	{ "v real", "{'v':1.0,'type':'authorize','token':'t','tool':'x'}", 0,
	    "bad_version", CS_EINVAL },
	{ "v true", "{'v':true,'type':'authorize','token':'t','tool':'x'}", 0,
	    "bad_version", CS_EINVAL },
	{ "missing type", "{'v':1,'token':'t','tool':'x'}", 0,
	    "missing_field", CS_EINVAL },
	{ "type number", "{'v':1,'type':7,'token':'t','tool':'x'}", 0,
	    "wrong_type", CS_EINVAL },
	{ "unknown type", "{'v':1,'type':'approve','request':'r-1'}", 0,
	    "unknown_type", CS_EINVAL },
	{ "type decision", "{'v':1,'type':'decision','token':'t'}", 0,
	    "unknown_type", CS_EINVAL },
	{ "type case", "{'v':1,'type':'Authorize','token':'t','tool':'x'}",
	    0, "unknown_type", CS_EINVAL },
	{ "missing token", "{'v':1,'type':'authorize','tool':'fs.read'}", 0,
	    "missing_field", CS_EINVAL },
	{ "missing tool", "{" AUTH "}", 0, "missing_field", CS_EINVAL },
	{ "token number", "{'v':1,'type':'authorize','token':5,'tool':'x'}",
	    0, "wrong_type", CS_EINVAL },
	{ "token null",
	    "{'v':1,'type':'authorize','token':null,'tool':'x'}", 0,
	    "wrong_type", CS_EINVAL },
	{ "tool number", "{" AUTH ",'tool':42}", 0, "wrong_type", CS_EINVAL },
	{ "tool array", "{" AUTH ",'tool':['fs.read']}", 0, "wrong_type",
	    CS_EINVAL },
	{ "tool object", "{" AUTH ",'tool':{'name':'fs.read'}}", 0,
	    "wrong_type", CS_EINVAL },
	{ "tool empty", "{" AUTH ",'tool':''}", 0, "bad_value", CS_EINVAL },
	{ "tool space", "{" AUTH ",'tool':'fs read'}", 0, "bad_value",
	    CS_EINVAL },
	{ "tool semicolon", "{" AUTH ",'tool':'fs.read;rm'}", 0, "bad_value",
	    CS_EINVAL },
	{ "tool escape", "{" AUTH ",'tool':'fs\\u001b[2J'}", 0, "bad_value",
	    CS_EINVAL },
	{ "tool newline", "{" AUTH ",'tool':'fs\\nread'}", 0, "bad_value",
	    CS_EINVAL },
	{ "tool non-ascii", "{" AUTH ",'tool':'f\xc3\xa9.read'}", 0,
	    "bad_value", CS_EINVAL },
	{ "tool 200 chars", "{" AUTH ",'tool':'"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'}", 0,
	    "bad_value", CS_EINVAL },
	{ "id with space", "{" AUTH_TOOL ",'id':'c 1'}", 0, "bad_value",
	    CS_EINVAL },
	{ "id number", "{" AUTH_TOOL ",'id':42}", 0, "wrong_type",
	    CS_EINVAL },
	{ "session slash-n", "{" AUTH_TOOL ",'session':'s\\n1'}", 0,
	    "bad_value", CS_EINVAL },
	{ "action number", "{" AUTH_TOOL ",'action':1}", 0, "wrong_type",
	    CS_EINVAL },
	{ "smuggled decision", "{" AUTH_TOOL ",'decision':'allow'}", 0,
	    "unknown_field", CS_EINVAL },
	{ "smuggled approved", "{" AUTH_TOOL ",'approved':true}", 0,
	    "unknown_field", CS_EINVAL },
	{ "smuggled trust", "{" AUTH_TOOL ",'trust':4}", 0, "unknown_field",
	    CS_EINVAL },
	{ "field case", "{" AUTH_TOOL ",'Args':{}}", 0, "unknown_field",
	    CS_EINVAL },
	{ "duplicate tool", "{" AUTH_TOOL ",'tool':'shell.exec'}", 0,
	    "duplicate_key", CS_EPARSE },
	{ "duplicate v", "{'v':1,'v':1,'type':'authorize','token':'t',"
	    "'tool':'x'}", 0, "duplicate_key", CS_EPARSE },
	{ "duplicate in args", "{" AUTH_TOOL ",'args':{'a':1,'a':2}}", 0,
	    "duplicate_key", CS_EPARSE },
	{ "escaped NUL in string", "{" AUTH ",'tool':'fs.read\\u0000x'}", 0,
	    "nul_in_string", CS_EPARSE },
	{ "escaped NUL in args", "{" AUTH_TOOL ",'args':{'p':'a\\u0000'}}",
	    0, "nul_in_string", CS_EPARSE },
	{ "escaped NUL in key", "{" AUTH_TOOL ",'args':{'a\\u0000b':1}}", 0,
	    "nul_in_string", CS_EPARSE },
	/* a raw NUL byte: json_loads would stop there, json_loadb must not.
	 * A raw control character is invalid JSON text. */
	{ "raw NUL in string", "{" AUTH ",'tool':'fs.read\0shell.exec'}",
	    sizeof("{" AUTH ",'tool':'fs.read\0shell.exec'}") - 1,
	    "bad_json", CS_EPARSE },
	{ "raw NUL after object", "{" AUTH_TOOL "}\0{'decision':'allow'}",
	    sizeof("{" AUTH_TOOL "}\0{'decision':'allow'}") - 1, "bad_json",
	    CS_EPARSE },
	{ "raw NUL between members", "{" AUTH_TOOL ",\0'id':'c-1'}",
	    sizeof("{" AUTH_TOOL ",\0'id':'c-1'}") - 1, "bad_json",
	    CS_EPARSE },
	{ "invalid UTF-8 byte", "{" AUTH_TOOL ",'id':'c-\xff'}", 0,
	    "bad_utf8", CS_EPARSE },
	{ "invalid UTF-8 in args", "{" AUTH_TOOL ",'args':{'p':'\xfe\xfe'}}",
	    0, "bad_utf8", CS_EPARSE },
	{ "lone continuation byte", "{" AUTH_TOOL ",'id':'\x80'}", 0,
	    "bad_utf8", CS_EPARSE },
	{ "truncated sequence", "{" AUTH_TOOL ",'id':'\xe2\x82'}", 0,
	    "bad_utf8", CS_EPARSE },
	{ "overlong slash C0 AF", "{" AUTH_TOOL ",'args':{'p':'..\xc0\xaf'}}",
	    0, "bad_utf8", CS_EPARSE },
	{ "overlong 3-byte", "{" AUTH_TOOL ",'id':'\xe0\x80\xaf'}", 0,
	    "bad_utf8", CS_EPARSE },
	{ "UTF-16 surrogate", "{" AUTH_TOOL ",'id':'\xed\xa0\x80'}", 0,
	    "bad_utf8", CS_EPARSE },
	{ "args array", "{" AUTH_TOOL ",'args':[1,2]}", 0, "wrong_type",
	    CS_EINVAL },
	{ "args string", "{" AUTH_TOOL ",'args':'{}'}", 0, "wrong_type",
	    CS_EINVAL },
	{ "args null", "{" AUTH_TOOL ",'args':null}", 0, "wrong_type",
	    CS_EINVAL },
	{ "context string", "{" AUTH_TOOL ",'context':'x'}", 0, "wrong_type",
	    CS_EINVAL },
	{ "context number value", "{" AUTH_TOOL ",'context':{'purpose':1}}",
	    0, "wrong_type", CS_EINVAL },
	{ "context object value",
	    "{" AUTH_TOOL ",'context':{'purpose':'x','n':{'a':'b'}}}", 0,
	    "wrong_type", CS_EINVAL },
	{ "context null value", "{" AUTH_TOOL ",'context':{'p':null}}", 0,
	    "wrong_type", CS_EINVAL },
	{ "wait_ms negative", "{" AUTH_TOOL ",'wait_ms':-1}", 0,
	    "wrong_type", CS_EINVAL },
	{ "wait_ms real", "{" AUTH_TOOL ",'wait_ms':1.5}", 0, "wrong_type",
	    CS_EINVAL },
	{ "wait_ms whole real", "{" AUTH_TOOL ",'wait_ms':1000.0}", 0,
	    "wrong_type", CS_EINVAL },
	{ "wait_ms string", "{" AUTH_TOOL ",'wait_ms':'1000'}", 0,
	    "wrong_type", CS_EINVAL },
	{ "wait_ms bool", "{" AUTH_TOOL ",'wait_ms':true}", 0, "wrong_type",
	    CS_EINVAL },
	{ "status without request", "{'v':1,'type':'status'}", 0,
	    "missing_field", CS_EINVAL },
	{ "status request number", "{'v':1,'type':'status','request':1}", 0,
	    "wrong_type", CS_EINVAL },
	{ "status bad request id", "{'v':1,'type':'status','request':'r 1'}",
	    0, "bad_value", CS_EINVAL },
	{ "status with token",
	    "{'v':1,'type':'status','request':'r-1','token':'t'}", 0,
	    "unknown_field", CS_EINVAL },
};

START_TEST(test_parse_rejects)
{
	size_t len = bad_frames[_i].len != 0 ? bad_frames[_i].len :
	    strlen(bad_frames[_i].frame);
	char *frame = qn(bad_frames[_i].frame, len);
	core_msg m = { .root = (json_t *) 1, .tool = "untouched" };
	const char *code = NULL;
	char *cause = NULL;
	cs_err rv;

	rv = core_msg_parse(frame, len, MAX_DEPTH, MAX_ARGS, &m, &code,
	    &cause);
	ck_assert_msg(rv == bad_frames[_i].want && code != NULL &&
	    strcmp(code, bad_frames[_i].code) == 0,
	    "%s: got %s/%s (%s), want %s/%s", bad_frames[_i].name,
	    cs_strerror(rv), code != NULL ? code : "(null)",
	    cause != NULL ? cause : "no cause",
	    cs_strerror(bad_frames[_i].want), bad_frames[_i].code);
	ck_assert_msg(cause != NULL && cause[0] != '\0', "%s: no cause",
	    bad_frames[_i].name);
	/* out is untouched on failure */
	ck_assert_ptr_eq(m.root, (json_t *) 1);
	ck_assert_str_eq(m.tool, "untouched");
	free(cause);
	free(frame);
}
END_TEST

/* A frame whose args nest depth levels deep (all arrays). */
static char *
nested_frame(int depth)
{
	static const char head[] = "{\"v\":1,\"type\":\"authorize\","
	    "\"token\":\"t\",\"tool\":\"x\",\"args\":{\"a\":";
	size_t len = sizeof head - 1 + 2 * (size_t) depth + 2;
	char *s = malloc(len + 1), *p;

	ck_assert_ptr_nonnull(s);
	memcpy(s, head, sizeof head - 1);
	p = s + sizeof head - 1;
	memset(p, '[', (size_t) depth);
	memset(p + depth, ']', (size_t) depth);
	memcpy(p + 2 * depth, "}}", 3);
	return s;
}

static const struct {
	int array_depth; /* inside the frame object and args: +2 in total */
	const char *code;  /* NULL: accepted */
} depths[] = {
	{ 1, NULL },
	{ 30, NULL },          /* 32 levels in all: the bound itself */
	{ 31, "too_deep" },
	{ 1000, "too_deep" },
	{ 100000, "too_deep" },
};

START_TEST(test_parse_depth)
{
	char *frame = nested_frame(depths[_i].array_depth);
	core_msg m;
	const char *code = NULL;
	char *cause = NULL;
	cs_err rv;

	rv = core_msg_parse(frame, strlen(frame), MAX_DEPTH, 1 << 20, &m,
	    &code, &cause);
	if (depths[_i].code == NULL) {
		ck_assert_cs_ok(rv, cause);
		ck_assert(json_is_object(m.args));
		core_msg_fini(&m);
	} else {
		ck_assert_int_eq(rv, CS_EPARSE);
		ck_assert_str_eq(code, depths[_i].code);
		ck_assert_ptr_nonnull(cause);
	}
	free(cause);
	free(frame);
}
END_TEST

/* Depth counting skips brackets inside strings, escaped quotes included. */
START_TEST(test_parse_depth_strings)
{
	char *frame = q("{'v':1,'type':'authorize','token':'t','tool':'x',"
	    "'args':{'s':'[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[',"
	    "'t':'\\\"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{'}}");
	core_msg m;
	const char *code = NULL;
	char *cause = NULL;

	ck_assert_cs_ok(core_msg_parse(frame, strlen(frame), MAX_DEPTH,
	    MAX_ARGS, &m, &code, &cause), cause);
	core_msg_fini(&m);
	free(frame);
}
END_TEST

static const struct {
	size_t max_args_len;
	const char *code; /* NULL: accepted */
} args_sizes[] = {
	{ 1024, NULL },
	{ 114, NULL },        /* canonical args are exactly 114 bytes */
	{ 113, "too_large" },
	{ 64, "too_large" },
	{ 0, "too_large" },
};

START_TEST(test_parse_args_size)
{
	/* canonical: {"a":"<100 x>","b":1} = 6 + 100 + 8 = 114 bytes; the
	 * frame's own spacing does not count */
	char *frame = q("{'v':1,'type':'authorize','token':'t','tool':'x',"
	    "'args':{  'b' : 1 ,  'a' : '"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' }}");
	core_msg m;
	const char *code = NULL;
	char *cause = NULL;
	cs_err rv;

	rv = core_msg_parse(frame, strlen(frame), MAX_DEPTH,
	    args_sizes[_i].max_args_len, &m, &code, &cause);
	if (args_sizes[_i].code == NULL) {
		ck_assert_cs_ok(rv, cause);
		ck_assert_uint_eq(json_object_size(m.args), 2);
		core_msg_fini(&m);
	} else {
		ck_assert_int_eq(rv, CS_EINVAL);
		ck_assert_str_eq(code, args_sizes[_i].code);
		ck_assert_ptr_nonnull(cause);
	}
	free(cause);
	free(frame);
}
END_TEST

/* ---- core_msg_parse: frames accepted ----------------------------------- */

START_TEST(test_parse_authorize_full)
{
	char *frame = q("{'v':1,'type':'authorize','id':'c-42',"
	    "'token':'aaa.bbb.ccc','session':'s-7',"
	    "'tool':'payments.transfer','action':'invoke',"
	    "'resource':'acct:42','args':{'amount':250,'currency':'EUR',"
	    "'to':'DE89'},'context':{'purpose':'pay supplier invoice 7781',"
	    "'ticket':'T-1'},'wait_ms':120000}");
	core_msg m;
	const char *code = NULL;
	char *cause = NULL;

	ck_assert_cs_ok(core_msg_parse(frame, strlen(frame), MAX_DEPTH,
	    MAX_ARGS, &m, &code, &cause), cause);
	free(frame); /* strings are borrowed from m.root, not the frame */
	ck_assert_int_eq(m.type, CORE_MSG_AUTHORIZE);
	ck_assert_str_eq(m.id, "c-42");
	ck_assert_str_eq(m.token, "aaa.bbb.ccc");
	ck_assert_str_eq(m.session, "s-7");
	ck_assert_str_eq(m.tool, "payments.transfer");
	ck_assert_str_eq(m.action, "invoke");
	ck_assert_str_eq(m.resource, "acct:42");
	ck_assert_str_eq(m.purpose, "pay supplier invoice 7781");
	ck_assert_int_eq(json_integer_value(json_object_get(m.args, "amount")),
	    250);
	ck_assert_str_eq(json_string_value(json_object_get(m.context,
	    "ticket")), "T-1");
	ck_assert_int_eq(m.wait_ms, 120000);
	ck_assert_ptr_null(m.request);
	ck_assert_ptr_null(cause);
	core_msg_fini(&m);
	ck_assert_ptr_null(m.root);
	core_msg_fini(&m); /* twice is harmless */
}
END_TEST

START_TEST(test_parse_authorize_minimal)
{
	char *frame = q("  {'tool':'fs.read','token':'t','type':'authorize',"
	    "'v':1}\n");
	core_msg m;
	const char *code = NULL;
	char *cause = NULL;

	ck_assert_cs_ok(core_msg_parse(frame, strlen(frame), MAX_DEPTH,
	    MAX_ARGS, &m, &code, &cause), cause);
	ck_assert_int_eq(m.type, CORE_MSG_AUTHORIZE);
	ck_assert_str_eq(m.tool, "fs.read");
	ck_assert_str_eq(m.token, "t");
	ck_assert_ptr_null(m.id);
	ck_assert_ptr_null(m.session);
	ck_assert_ptr_null(m.action);
	ck_assert_ptr_null(m.resource);
	ck_assert_ptr_null(m.purpose);
	ck_assert_ptr_null(m.args);
	ck_assert_ptr_null(m.context);
	ck_assert_int_eq(m.wait_ms, -1);
	core_msg_fini(&m);
	free(frame);
}
END_TEST

static const struct {
	const char *frame;
	int64_t wait_ms;
	const char *purpose;
} good_variants[] = {
	{ "{" AUTH_TOOL ",'wait_ms':0}", 0, NULL },
	{ "{" AUTH_TOOL ",'wait_ms':9007199254740993}", 9007199254740993LL,
	    NULL },
	{ "{" AUTH_TOOL ",'context':{}}", -1, NULL },
	{ "{" AUTH_TOOL ",'context':{'ticket':'x'}}", -1, NULL },
	{ "{" AUTH_TOOL ",'context':{'purpose':''}}", -1, "" },
	{ "{" AUTH_TOOL ",'args':{}}", -1, NULL },
	{ "{" AUTH_TOOL ",'args':{'deep':{'er':[1,2,{'x':null}]}}}", -1,
	    NULL },
	{ "{" AUTH ",'tool':'a.b_c:d@e/f+g-h'}", -1, NULL },
	{ "{" AUTH ",'tool':'"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aa'}", -1, NULL }, /* 128 characters */
	{ "{" AUTH_TOOL ",'args':{'s':'caf\xc3\xa9 \xe2\x82\xac "
	    "\xf0\x9f\x98\x80'}}", -1, NULL }, /* valid multi-byte UTF-8 */
	{ "{" AUTH_TOOL ",'args':{'s':'\\u00e9\\ud83d\\ude00'}}", -1, NULL },
};

START_TEST(test_parse_good_variants)
{
	char *frame = q(good_variants[_i].frame);
	core_msg m;
	const char *code = NULL;
	char *cause = NULL;

	ck_assert_cs_ok(core_msg_parse(frame, strlen(frame), MAX_DEPTH,
	    MAX_ARGS, &m, &code, &cause), cause);
	ck_assert_int_eq(m.type, CORE_MSG_AUTHORIZE);
	ck_assert_int_eq(m.wait_ms, good_variants[_i].wait_ms);
	if (good_variants[_i].purpose == NULL)
		ck_assert_ptr_null(m.purpose);
	else
		ck_assert_str_eq(m.purpose, good_variants[_i].purpose);
	core_msg_fini(&m);
	free(frame);
}
END_TEST

START_TEST(test_parse_status)
{
	char *frame = q("{'v':1,'type':'status','request':'r-ab12-000123',"
	    "'id':'poll-1'}");
	core_msg m;
	const char *code = NULL;
	char *cause = NULL;

	ck_assert_cs_ok(core_msg_parse(frame, strlen(frame), MAX_DEPTH,
	    MAX_ARGS, &m, &code, &cause), cause);
	ck_assert_int_eq(m.type, CORE_MSG_STATUS);
	ck_assert_str_eq(m.request, "r-ab12-000123");
	ck_assert_str_eq(m.id, "poll-1");
	ck_assert_ptr_null(m.token);
	ck_assert_ptr_null(m.tool);
	core_msg_fini(&m);
	free(frame);

	frame = q("{'v':1,'type':'status','request':'r-1'}");
	ck_assert_cs_ok(core_msg_parse(frame, strlen(frame), MAX_DEPTH,
	    MAX_ARGS, &m, &code, &cause), cause);
	ck_assert_int_eq(m.type, CORE_MSG_STATUS);
	ck_assert_str_eq(m.request, "r-1");
	ck_assert_ptr_null(m.id);
	core_msg_fini(&m);
	free(frame);
}
END_TEST

/* The length given is the frame: bytes after it are never read. */
START_TEST(test_parse_uses_len)
{
	char *frame = q("{" AUTH_TOOL "}GARBAGE");
	core_msg m;
	const char *code = NULL;
	char *cause = NULL;

	ck_assert_cs_ok(core_msg_parse(frame, strlen(frame) - 7, MAX_DEPTH,
	    MAX_ARGS, &m, &code, &cause), cause);
	ck_assert_str_eq(m.tool, "fs.read");
	core_msg_fini(&m);
	free(frame);
}
END_TEST

/* cause is optional. */
START_TEST(test_parse_null_cause)
{
	core_msg m;
	const char *code = NULL;

	ck_assert_int_eq(core_msg_parse("nope", 4, MAX_DEPTH, MAX_ARGS, &m,
	    &code, NULL), CS_EPARSE);
	ck_assert_str_eq(code, "bad_json");
	ck_assert_int_eq(core_msg_parse("[]", 2, MAX_DEPTH, MAX_ARGS, &m,
	    &code, NULL), CS_EINVAL);
	ck_assert_str_eq(code, "wrong_type");
}
END_TEST

/* ---- core_msg_fini ----------------------------------------------------- */

START_TEST(test_fini)
{
	char *frame = q("{" AUTH_TOOL ",'args':{'a':1}}");
	core_msg m;
	const char *code = NULL;
	char *cause = NULL;
	json_t *args;

	ck_assert_cs_ok(core_msg_parse(frame, strlen(frame), MAX_DEPTH,
	    MAX_ARGS, &m, &code, &cause), cause);
	/* a caller that keeps args takes its own reference */
	args = json_incref(m.args);
	core_msg_fini(&m);
	ck_assert_ptr_null(m.root);
	ck_assert_int_eq(json_integer_value(json_object_get(args, "a")), 1);
	json_decref(args);
	free(frame);
}
END_TEST

/* ---- core_name_ok ------------------------------------------------------ */

static const struct {
	const char *name;
	bool ok;
} names[] = {
	{ "fs.read", true },
	{ "payments.transfer", true },
	{ "r-ab12-000001", true },
	{ "A-Z_a.z:0@9/+-", true },
	{ "x", true },
	{ "", false },
	{ "fs read", false },
	{ "fs\tread", false },
	{ "fs\nread", false },
	{ "fs;read", false },
	{ "fs*", false },
	{ "fs?", false },
	{ "a\"b", false },
	{ "a\\b", false },
	{ "caf\xc3\xa9", false },
	{ "\x1b[31m", false },
	{ "%s%n", false },
	{ "$(id)", false },
};

START_TEST(test_name_ok)
{
	ck_assert_msg(core_name_ok(names[_i].name) == names[_i].ok,
	    "\"%s\": want %d", names[_i].name, names[_i].ok);
}
END_TEST

START_TEST(test_name_ok_length)
{
	char name[300];

	memset(name, 'a', sizeof name);
	name[128] = '\0';
	ck_assert(core_name_ok(name));
	name[128] = 'a';
	name[129] = '\0';
	ck_assert(!core_name_ok(name));
	name[129] = 'a';
	name[299] = '\0';
	ck_assert(!core_name_ok(name));
	ck_assert(!core_name_ok(NULL));
}
END_TEST

/* ---- core_json_parse_strict -------------------------------------------- */

static const struct {
	const char *text; /* single-quoted (see q()) */
	int max_depth;
	const char *code; /* NULL: parses */
} strict_cases[] = {
	{ "{}", 1, NULL },
	{ "[]", 1, NULL },
	{ "{'a':[]}", 1, "too_deep" },
	{ "{'a':[]}", 2, NULL },
	{ "{'a':{'b':{'c':{}}}}", 4, NULL },
	{ "{'a':{'b':{'c':{}}}}", 3, "too_deep" },
	{ "[[[[[[[[[[]]]]]]]]]]", 10, NULL },
	{ "[[[[[[[[[[]]]]]]]]]]", 9, "too_deep" },
	{ "{'a':'[[[[[[[[[['}", 1, NULL },
	{ "{'a':'\\\\','b':[]}", 2, NULL },
	{ "{'a':'\\\\','b':[[]]}", 2, "too_deep" },
	{ "'text'", 1, "bad_json" }, /* only objects and arrays */
	{ "42", 1, "bad_json" },
	{ "{'a':1,'a':1}", 8, "duplicate_key" },
	{ "{'a':{'b':1,'b':2}}", 8, "duplicate_key" },
	{ "['\\u0000']", 8, "nul_in_string" },
	{ "{'\\u0000':1}", 8, "nul_in_string" },
	{ "['\xc0\xaf']", 8, "bad_utf8" },
	{ "['\xf5\x80\x80\x80']", 8, "bad_utf8" },
	{ "[1,]", 8, "bad_json" },
	{ "{'a':1,}", 8, "bad_json" },
	{ "{'a' 1}", 8, "bad_json" },
	{ "[NaN]", 8, "bad_json" },
	{ "[1e999]", 8, "bad_json" },
	{ "", 8, "bad_json" },
	{ "   ", 8, "bad_json" },
	/* \u escapes of UTF-16 surrogates must come in pairs */
	{ "['\\ud800']", 8, "bad_json" },
	{ "['\\udc00']", 8, "bad_json" },
	{ "['\\ud800\\u0041']", 8, "bad_json" },
	{ "['\\ud800\\ud800']", 8, "bad_json" },
	{ "['\\ud83d/ude00']", 8, "bad_json" }, /* no backslash: not a pair */
	{ "{'\\udbff':1}", 8, "bad_json" },
	{ "['\\ud83d\\ude00']", 8, NULL },
	{ "['\\\\ud800']", 8, NULL }, /* an escaped backslash, then text */
	{ "['\\u12']", 8, "bad_json" },
	{ "['\\x41']", 8, "bad_json" },
	/* UTF-8 in member names too */
	{ "{'\xc3\x28':1}", 8, "bad_utf8" },
	{ "{'a\xed\xa0\x80':1}", 8, "bad_utf8" },
	{ "{'\xc3\xa9t\xc3\xa9':'\xe2\x82\xac'}", 8, NULL },
	{ "[\xff]", 8, "bad_utf8" }, /* not UTF-8 outside a string */
	{ "{'a':1} {}", 8, "bad_json" },
	{ "{'a':1}'", 8, "bad_json" }, /* an unterminated string after it */
	{ "['a']'tail", 8, "bad_json" },
	{ "{'a':1} \t\r\n", 8, NULL },
	{ "{'a':\f1}", 8, "bad_json" }, /* JSON's whitespace has no \f */
	{ "[1,\v2]", 8, "bad_json" },
	{ "\x8f\x01{}", 8, "bad_utf8" }, /* not UTF-8 comes first */
	{ "['\f']", 8, "bad_json" }, /* nor may a string hold it raw */
	{ "{'a':1}x", 8, "bad_json" },
	{ "[1/*c*/]", 8, "bad_json" },
	{ "[01]", 8, "bad_json" },
	{ "[+1]", 8, "bad_json" },
	{ "[.5]", 8, "bad_json" },
	{ "['a\tb']", 8, "bad_json" }, /* a raw control character */
	{ "[true false]", 8, "bad_json" },
	{ "{1:2}", 8, "bad_json" },
	{ "[9223372036854775808]", 8, "bad_json" },
};

/* Text core_json_parse_strict must turn into the very tree json_loadb
 * makes of it (single-quoted, see q()). */
static const char *const same_tree[] = {
	"{}",
	"[[],{},[[]]]",
	"{'a':1,'b':-0,'c':9223372036854775807,'d':-9223372036854775807}",
	"[0.5,1e3,-2.5E-3,1.0,0.1,123456789.125]",
	"{'s':'\\n\\t\\r\\b\\f\\\\\\/\\u0041\\u00e9\\u20ac'}",
	"['\\ud83d\\ude00','\xf0\x9f\x98\x80','\xc3\xa9']",
	"{'nested':{'list':[true,false,null,{'k':'v'}],'n':null}}",
	"  {  'a' : [ 1 , 2 ] }  ",
	"{'':'','z':'last','a':'first'}",
	/* an escaped name, then an escaped value: yajl decodes both into
	 * one buffer */
	"{'na\\\"me':'\\u00e9t\\u00e9','k\\u00e9y':{'i\\nner':'v\\tal'}}",
};

START_TEST(test_json_parse_strict)
{
	char *text = q(strict_cases[_i].text);
	const char *code = NULL;
	char *cause = NULL;
	json_t *root;

	root = core_json_parse_strict(text, strlen(text),
	    strict_cases[_i].max_depth, &code, &cause);
	if (strict_cases[_i].code == NULL) {
		ck_assert_msg(root != NULL, "%s: %s", strict_cases[_i].text,
		    cause != NULL ? cause : "?");
		ck_assert_ptr_null(cause);
		json_decref(root);
	} else {
		ck_assert_ptr_null(root);
		ck_assert_msg(code != NULL &&
		    strcmp(code, strict_cases[_i].code) == 0,
		    "%s: code %s, want %s", strict_cases[_i].text,
		    code != NULL ? code : "(null)", strict_cases[_i].code);
		ck_assert_ptr_nonnull(cause);
	}
	free(cause);
	free(text);
}
END_TEST

START_TEST(test_json_parse_same_tree)
{
	char *text = q(same_tree[_i]);
	const char *code = NULL;
	char *cause = NULL;
	json_t *ours, *theirs;

	ours = core_json_parse_strict(text, strlen(text), 8, &code, &cause);
	theirs = json_loadb(text, strlen(text), JSON_REJECT_DUPLICATES, NULL);
	ck_assert_msg(ours != NULL, "%s: %s", same_tree[_i],
	    cause != NULL ? cause : "?");
	ck_assert_ptr_nonnull(theirs);
	ck_assert_msg(json_equal(ours, theirs), "%s: trees differ",
	    same_tree[_i]);
	json_decref(ours);
	json_decref(theirs);
	free(text);
}
END_TEST

/* Frames whose parse outgrows the block yajl's allocations come from:
 * long escaped strings (yajl's decode buffer grows past it, moving its
 * contents to the heap) and deep nesting (its state stack grows), still
 * the same tree as json_loadb's, and an error found after that still a
 * clean refusal. */
START_TEST(test_json_parse_big)
{
	size_t n = 40000, len;
	char *text = malloc(n * 4 + 1024), *p = text;
	const char *code = NULL;
	char *cause = NULL;
	json_t *ours, *theirs;

	ck_assert_ptr_nonnull(text);
	p += sprintf(p, "{\"a\":\"");
	for (size_t i = 0; i < n / 2; i++)
		p += sprintf(p, i % 2 ? "\\n" : "\\u00e9");
	p += sprintf(p, "\",\"b\":");
	for (int i = 0; i < 200; i++)
		*p++ = '[';
	*p++ = '1';
	for (int i = 0; i < 200; i++)
		*p++ = ']';
	p += sprintf(p, ",\"c\":\"");
	for (size_t i = 0; i < n; i++)
		*p++ = (char) ('a' + i % 26);
	p += sprintf(p, "\"}");
	len = (size_t) (p - text);
	ours = core_json_parse_strict(text, len, 256, &code, &cause);
	theirs = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	ck_assert_msg(ours != NULL, "%s", cause != NULL ? cause : "?");
	ck_assert_ptr_nonnull(theirs);
	ck_assert(json_equal(ours, theirs));
	json_decref(ours);
	json_decref(theirs);
	/* the same, broken at its very end */
	text[len - 1] = ',';
	ours = core_json_parse_strict(text, len, 256, &code, &cause);
	ck_assert_ptr_null(ours);
	ck_assert_str_eq(code, "bad_json");
	ck_assert_ptr_nonnull(cause);
	free(cause);
	free(text);
}
END_TEST

/* ---- cs_json_dump: jansson's text in one pass ------------------------- */

static uint64_t
dump_rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Text mixing plain ASCII, every escape, NUL, and 2-, 3- and 4-byte
 * UTF-8, often sharing a prefix so sorted keys compare past it. */
static size_t
dump_text(uint64_t *s, char *out, size_t cap)
{
	static const char *const pieces[] = {
		"a", "b", "ab", "Z", "0", "/", "~", "\x7f", " ", "\"", "\\",
		"\b", "\f", "\n", "\r", "\t", "\x01", "\x1f", "\0",
		"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xef\xbf\xbf",
	};
	size_t len = 0, count = dump_rng(s) % 7;

	for (size_t i = 0; i < count; i++) {
		size_t k = dump_rng(s) % CS_ARRAY_LEN(pieces);
		size_t n = k == 18 ? 1 : strlen(pieces[k]);

		if (len + n >= cap)
			break;
		memcpy(out + len, pieces[k], n);
		len += n;
	}
	return len;
}

static json_t *
dump_tree(uint64_t *s, int depth)
{
	static const json_int_t ints[] = { 0, 1, -1, 42, 1796660678885,
		INT64_MAX, INT64_MIN, -9 };
	static const double reals[] = { 0.0, -0.0, 0.1, 1.0, -2.5, 1e300,
		5e-324, 123456789.125, 1e21 };
	char text[64];
	size_t len;
	json_t *v;

	switch (dump_rng(s) % (depth > 0 ? 9 : 6)) {
	case 0:
		return json_integer(ints[dump_rng(s) % CS_ARRAY_LEN(ints)]);
	case 1:
		return json_real(reals[dump_rng(s) % CS_ARRAY_LEN(reals)]);
	case 2:
		return json_boolean(dump_rng(s) % 2);
	case 3:
		return json_null();
	case 4:
	case 5:
		len = dump_text(s, text, sizeof text);
		return json_stringn(text, len);
	case 6:
		v = json_array();
		for (size_t i = dump_rng(s) % 5; i > 0; i--)
			json_array_append_new(v, dump_tree(s, depth - 1));
		return v;
	default:
		v = json_object();
		for (size_t i = dump_rng(s) % 24; i > 0; i--) {
			len = dump_text(s, text, sizeof text);
			json_object_setn_new(v, text, len,
			    dump_tree(s, depth - 1));
		}
		return v;
	}
}

static void
dump_same(const json_t *v)
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

		ck_assert_ptr_nonnull(theirs);
		ck_assert_ptr_nonnull(ours);
		ck_assert_str_eq(ours, theirs);
		ck_assert_uint_eq(len, strlen(theirs));
		free(ours);
		free(theirs);
	}
}

/* Random trees, in both orders, give json_dumps's text byte for byte. */
START_TEST(test_json_dump_same_text)
{
	uint64_t s = 0x9e3779b97f4a7c15ULL;

	for (int i = 0; i < 3000; i++) {
		json_t *v = dump_tree(&s, 1 + i % 6);

		ck_assert_ptr_nonnull(v);
		dump_same(v);
		json_decref(v);
	}
}
END_TEST

/* A big object (the members outgrow the first block) and a long
 * string (the text outgrows the first buffer) come out whole. */
START_TEST(test_json_dump_big)
{
	json_t *v = json_object(), *list = json_array();
	char key[32], *long_text = malloc(100001);

	ck_assert_ptr_nonnull(long_text);
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof key, "k%d", (i * 7919) % 5000);
		json_object_set_new(v, key, json_integer(i));
	}
	memset(long_text, 'x', 100000);
	for (int i = 0; i < 100000; i += 997)
		long_text[i] = '\n';
	long_text[100000] = '\0';
	json_array_append_new(list, json_string(long_text));
	json_array_append_new(list, json_deep_copy(v));
	json_object_set_new(v, "list", list);
	dump_same(v);
	json_decref(v);
	free(long_text);
}
END_TEST

/* What jansson cannot render, neither can it: a string that is not
 * UTF-8 (only reachable through the _nocheck setters), and NULL. */
START_TEST(test_json_dump_refuses)
{
	static const char *const bad[] = {
		"\x80", "a\xc0\xaf", "\xc3", "\xed\xa0\x80", "\xf4\x90\x80\x80",
		"\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xff", "ok\xe2\x82",
	};

	ck_assert_ptr_null(cs_json_dump(NULL, 0, NULL));
	for (size_t i = 0; i < CS_ARRAY_LEN(bad); i++) {
		json_t *str = json_stringn_nocheck(bad[i], strlen(bad[i]));
		json_t *obj = json_object();
		char *theirs = json_dumps(str, JSON_ENCODE_ANY);

		ck_assert_ptr_null(theirs);
		ck_assert_ptr_null(cs_json_dump(str, 0, NULL));
		json_object_set_new_nocheck(obj, bad[i], json_true());
		ck_assert_ptr_null(cs_json_dump(obj, CS_JSON_SORT, NULL));
		json_decref(str);
		json_decref(obj);
	}
}
END_TEST

/* Nesting up to CS_JSON_MAX_DEPTH renders as jansson renders it; one
 * level more is refused, which is also what keeps a cycle from
 * recursing for ever. */
START_TEST(test_json_dump_depth)
{
	json_t *root = json_array(), *leaf = root;

	for (int i = 1; i < CS_JSON_MAX_DEPTH; i++) {
		json_t *next = json_object();

		if (json_is_array(leaf))
			json_array_append_new(leaf, next);
		else
			json_object_set_new(leaf, "k", next);
		leaf = next;
	}
	dump_same(root);
	json_object_set_new(leaf, "k", json_array());
	ck_assert_ptr_null(cs_json_dump(root, 0, NULL));
	json_decref(root);
}
END_TEST

/* ---- config.json ------------------------------------------------------- */

static char tmpdir[64];
static char cfgpath[128];

/* A private directory for this test's config file. */
static void
cfg_setup(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/check_wire.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(cfgpath, sizeof cfgpath, "%s/config.json", tmpdir);
}

/* Remove the config file and the directory. */
static void
cfg_teardown(void)
{
	unlink(cfgpath);
	rmdir(tmpdir);
}

/* Write text (single-quoted, see q()) as the config file. */
static void
write_cfg(const char *text)
{
	char *json = q(text);
	FILE *f = fopen(cfgpath, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(json, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	free(json);
}

/* ---- core_cfg_defaults ------------------------------------------------- */

START_TEST(test_cfg_defaults)
{
	core_cfg cfg;

	memset(&cfg, 0xa5, sizeof cfg);
	core_cfg_defaults(&cfg);
	ck_assert_ptr_null(cfg.operators);
	ck_assert_uint_eq(cfg.operator_count, 0);
	ck_assert_int_eq(cfg.max_initial_trust, 3);
	ck_assert_int_eq(cfg.default_trust, 2);
	ck_assert_uint_eq(cfg.max_pending, 1000);
	ck_assert_uint_eq(cfg.max_sessions, 100000);
	ck_assert_uint_eq(cfg.recent_max, 20000);
	ck_assert_int_eq(cfg.leeway_s, 30);
	ck_assert_ptr_null(cfg.issuer);
	ck_assert_ptr_null(cfg.audience);
	ck_assert_int_eq(cfg.max_wait_ms, 600000);
	ck_assert_int_eq(cfg.default_wait_ms, 0);
	ck_assert_int_eq(cfg.max_grant_ttl_ms, 86400000);
	ck_assert_int_eq(cfg.max_depth, 32);
	ck_assert_uint_eq(cfg.max_token_len, 8192);
	ck_assert_uint_eq(cfg.max_args_len, 32768);
	ck_assert_uint_eq(cfg.recv_max, 65536);
	ck_assert_int_eq(cfg.agent_contexts, 256);
	ck_assert_int_eq(cfg.control_contexts, 16);
	ck_assert_int_eq(cfg.socket_mode, 0600);
	ck_assert_ptr_null(cfg.agent_url);
	ck_assert_ptr_null(cfg.control_url);
	ck_assert_ptr_null(cfg.events_url);
	ck_assert(!core_cfg_is_operator(&cfg, "root"));
	core_cfg_fini(&cfg);
}
END_TEST

/* After a load without mask_args, the four default masks are set; clear
 * them so the rest compares equal to the defaults. */
static void
take_default_masks(core_cfg *cfg)
{
	ck_assert_uint_eq(cfg->mask_count, 4);
	ck_assert_str_eq(cfg->mask_args[0], "args.password");
	ck_assert_str_eq(cfg->mask_args[3], "args.token");
	for (size_t i = 0; i < cfg->mask_count; i++)
		free(cfg->mask_args[i]);
	free(cfg->mask_args);
	cfg->mask_args = NULL;
	cfg->mask_count = 0;
	ck_assert(!cfg->mask_defaults);
	cfg->mask_defaults = true;
}

/* ---- core_cfg_load ----------------------------------------------------- */

START_TEST(test_cfg_load_missing)
{
	core_cfg cfg, want;
	char *cause = NULL;

	core_cfg_defaults(&cfg);
	core_cfg_defaults(&want);
	ck_assert_cs_ok(core_cfg_load(cfgpath, &cfg, &cause), cause);
	ck_assert_ptr_null(cause);
	take_default_masks(&cfg);
	ck_assert_int_eq(memcmp(&cfg, &want, sizeof cfg), 0);
	core_cfg_fini(&cfg);
}
END_TEST

START_TEST(test_cfg_load_empty_object)
{
	core_cfg cfg, want;
	char *cause = NULL;

	write_cfg("{}");
	core_cfg_defaults(&cfg);
	core_cfg_defaults(&want);
	ck_assert_cs_ok(core_cfg_load(cfgpath, &cfg, &cause), cause);
	take_default_masks(&cfg);
	ck_assert_int_eq(memcmp(&cfg, &want, sizeof cfg), 0);
	core_cfg_fini(&cfg);
}
END_TEST

START_TEST(test_cfg_load_good)
{
	core_cfg cfg;
	char *cause = NULL;

	write_cfg("{\n"
	    "  'operators': ['carol', 'dave'],\n"
	    "  'max_initial_trust': 2, 'default_trust': 1,\n"
	    "  'max_pending': 50, 'max_sessions': 500, 'recent_max': 64,\n"
	    "  'leeway_s': 5, 'issuer': 'https://idp.example',\n"
	    "  'audience': 'countersign', 'max_wait_ms': 30000,\n"
	    "  'default_wait_ms': 1000, 'max_grant_ttl_ms': 3600000,\n"
	    "  'max_depth': 16, 'max_token_len': 4096,\n"
	    "  'max_args_len': 2048, 'recv_max': 16384,\n"
	    "  'agent_contexts': 8, 'control_contexts': 2,\n"
	    "  'socket_mode': '0660',\n"
	    "  'agent_url': 'tcp://127.0.0.1:7700',\n"
	    "  'control_url': 'ipc:///tmp/c.ipc',\n"
	    "  'events_url': 'ipc:///tmp/e.ipc'\n"
	    "}\n");
	core_cfg_defaults(&cfg);
	ck_assert_cs_ok(core_cfg_load(cfgpath, &cfg, &cause), cause);
	ck_assert_uint_eq(cfg.operator_count, 2);
	ck_assert_str_eq(cfg.operators[0], "carol");
	ck_assert_str_eq(cfg.operators[1], "dave");
	ck_assert_int_eq(cfg.max_initial_trust, 2);
	ck_assert_int_eq(cfg.default_trust, 1);
	ck_assert_uint_eq(cfg.max_pending, 50);
	ck_assert_uint_eq(cfg.max_sessions, 500);
	ck_assert_uint_eq(cfg.recent_max, 64);
	ck_assert_int_eq(cfg.leeway_s, 5);
	ck_assert_str_eq(cfg.issuer, "https://idp.example");
	ck_assert_str_eq(cfg.audience, "countersign");
	ck_assert_int_eq(cfg.max_wait_ms, 30000);
	ck_assert_int_eq(cfg.default_wait_ms, 1000);
	ck_assert_int_eq(cfg.max_grant_ttl_ms, 3600000);
	ck_assert_int_eq(cfg.max_depth, 16);
	ck_assert_uint_eq(cfg.max_token_len, 4096);
	ck_assert_uint_eq(cfg.max_args_len, 2048);
	ck_assert_uint_eq(cfg.recv_max, 16384);
	ck_assert_int_eq(cfg.agent_contexts, 8);
	ck_assert_int_eq(cfg.control_contexts, 2);
	ck_assert_int_eq(cfg.socket_mode, 0660);
	ck_assert_str_eq(cfg.agent_url, "tcp://127.0.0.1:7700");
	ck_assert_str_eq(cfg.control_url, "ipc:///tmp/c.ipc");
	ck_assert_str_eq(cfg.events_url, "ipc:///tmp/e.ipc");
	core_cfg_fini(&cfg);
}
END_TEST

/* Settings that load, and the one member they change. */
static const struct {
	const char *text;
	int socket_mode;
	int64_t max_wait_ms;
	size_t max_pending;
} good_cfgs[] = {
	{ "{'socket_mode':'0660'}", 0660, 600000, 1000 },
	{ "{'socket_mode':'660'}", 0660, 600000, 1000 },
	{ "{'socket_mode':'0600'}", 0600, 600000, 1000 },
	{ "{'socket_mode':'0777'}", 0777, 600000, 1000 },
	{ "{'socket_mode':432}", 0660, 600000, 1000 }, /* a plain integer */
	{ "{'socket_mode':'0'}", 0, 600000, 1000 },
	{ "{'max_wait_ms':0}", 0600, 0, 1000 },
	{ "{'max_wait_ms':86400000}", 0600, 86400000, 1000 },
	{ "{'max_pending':1}", 0600, 600000, 1 },
	{ "{'max_pending':1000000}", 0600, 600000, 1000000 },
};

START_TEST(test_cfg_load_good_values)
{
	core_cfg cfg;
	char *cause = NULL;

	write_cfg(good_cfgs[_i].text);
	core_cfg_defaults(&cfg);
	ck_assert_cs_ok(core_cfg_load(cfgpath, &cfg, &cause), cause);
	ck_assert_msg(cfg.socket_mode == good_cfgs[_i].socket_mode,
	    "%s: socket_mode %o", good_cfgs[_i].text, cfg.socket_mode);
	ck_assert_int_eq(cfg.max_wait_ms, good_cfgs[_i].max_wait_ms);
	ck_assert_uint_eq(cfg.max_pending, good_cfgs[_i].max_pending);
	core_cfg_fini(&cfg);
}
END_TEST

/* Config files refused, and a word the cause must contain. */
static const struct {
	const char *text;
	const char *cause_has;
} bad_cfgs[] = {
	{ "{'max_pendng':10}", "max_pendng" },           /* unknown key */
	{ "{'operator':['carol']}", "operator" },
	{ "{'Max_pending':10}", "Max_pending" },
	{ "{'max_pending':'10'}", "max_pending" },       /* wrong type */
	{ "{'max_pending':10.0}", "max_pending" },
	{ "{'max_pending':true}", "max_pending" },
	{ "{'max_pending':null}", "max_pending" },
	{ "{'issuer':5}", "issuer" },
	{ "{'agent_url':['tcp://x']}", "agent_url" },
	{ "{'max_pending':0}", "max_pending" },          /* out of range */
	{ "{'max_pending':-5}", "max_pending" },
	{ "{'max_initial_trust':5}", "max_initial_trust" },
	{ "{'default_trust':-1}", "default_trust" },
	{ "{'max_depth':1}", "max_depth" },
	{ "{'max_depth':100000}", "max_depth" },
	{ "{'recent_max':8}", "recent_max" },
	{ "{'max_grant_ttl_ms':999}", "max_grant_ttl_ms" },
	{ "{'max_wait_ms':86400001}", "max_wait_ms" },
	{ "{'max_token_len':9223372036854775807}", "max_token_len" },
	{ "{'agent_contexts':4294967297}", "agent_contexts" },
	{ "{'socket_mode':'0999'}", "socket_mode" },    /* not octal */
	{ "{'socket_mode':'01000'}", "socket_mode" },
	{ "{'socket_mode':'rw-rw----'}", "socket_mode" },
	{ "{'socket_mode':'0660 '}", "socket_mode" },
	{ "{'socket_mode':''}", "socket_mode" },
	{ "{'socket_mode':'-1'}", "socket_mode" },
	{ "{'socket_mode':4096}", "socket_mode" },
	{ "{'operators':'carol'}", "operators" },        /* operators */
	{ "{'operators':[1]}", "operators" },
	{ "{'operators':['carol','']}", "operators" },
	{ "{'operators':['carol',null]}", "operators" },
	{ "{'operators':{'carol':1}}", "operators" },
	{ "{'max_pending':1,'max_pending':2}", "duplicate" },
	{ "[]", "object" },
	{ "'text'", "config.json" },
	{ "{'max_pending':1", "config.json" },           /* bad JSON */
	{ "", "config.json" },
};

START_TEST(test_cfg_load_rejects)
{
	core_cfg cfg;
	char *cause = NULL;

	write_cfg(bad_cfgs[_i].text);
	core_cfg_defaults(&cfg);
	ck_assert_msg(core_cfg_load(cfgpath, &cfg, &cause) == CS_EPARSE,
	    "%s: accepted", bad_cfgs[_i].text);
	ck_assert_msg(cause != NULL &&
	    strstr(cause, bad_cfgs[_i].cause_has) != NULL,
	    "%s: cause \"%s\" lacks \"%s\"", bad_cfgs[_i].text,
	    cause != NULL ? cause : "(null)", bad_cfgs[_i].cause_has);
	/* every cause is located in the file */
	ck_assert_msg(strstr(cause, cfgpath) != NULL, "cause \"%s\"", cause);
	free(cause);
	core_cfg_fini(&cfg);
}
END_TEST

START_TEST(test_cfg_load_unreadable)
{
	core_cfg cfg;
	char *cause = NULL;

	/* a directory where the file should be */
	ck_assert_int_eq(mkdir(cfgpath, 0700), 0);
	core_cfg_defaults(&cfg);
	ck_assert_int_ne(core_cfg_load(cfgpath, &cfg, &cause), CS_OK);
	ck_assert_ptr_nonnull(cause);
	free(cause);
	core_cfg_fini(&cfg);
	rmdir(cfgpath);
}
END_TEST

START_TEST(test_cfg_load_null_cause)
{
	core_cfg cfg;

	write_cfg("{'nope':1}");
	core_cfg_defaults(&cfg);
	ck_assert_int_eq(core_cfg_load(cfgpath, &cfg, NULL), CS_EPARSE);
	core_cfg_fini(&cfg);
}
END_TEST

/* ---- core_cfg_fini ----------------------------------------------------- */

START_TEST(test_cfg_fini)
{
	core_cfg cfg;
	char *cause = NULL;

	write_cfg("{'operators':['a','b','c'],'issuer':'i','audience':'a',"
	    "'agent_url':'u','control_url':'v','events_url':'w'}");
	core_cfg_defaults(&cfg);
	ck_assert_cs_ok(core_cfg_load(cfgpath, &cfg, &cause), cause);
	core_cfg_fini(&cfg);
	ck_assert_ptr_null(cfg.operators);
	ck_assert_uint_eq(cfg.operator_count, 0);
	ck_assert_ptr_null(cfg.issuer);
	ck_assert_ptr_null(cfg.agent_url);
	core_cfg_fini(&cfg); /* twice is harmless */
	/* a failed load leaves nothing behind either */
	write_cfg("{'operators':['a','b',3]}");
	core_cfg_defaults(&cfg);
	ck_assert_int_eq(core_cfg_load(cfgpath, &cfg, &cause), CS_EPARSE);
	free(cause);
	core_cfg_fini(&cfg);
}
END_TEST

/* ---- core_cfg_is_operator ---------------------------------------------- */

static const struct {
	const char *name;
	bool ok;
} operator_names[] = {
	{ "carol", true }, { "dave", true }, { "Carol", false },
	{ "caro", false }, { "carol ", false }, { "", false },
	{ "mallory", false },
};

START_TEST(test_cfg_is_operator)
{
	core_cfg cfg;
	char *cause = NULL;

	write_cfg("{'operators':['carol','dave']}");
	core_cfg_defaults(&cfg);
	ck_assert_cs_ok(core_cfg_load(cfgpath, &cfg, &cause), cause);
	ck_assert_msg(core_cfg_is_operator(&cfg, operator_names[_i].name) ==
	    operator_names[_i].ok, "\"%s\"", operator_names[_i].name);
	core_cfg_fini(&cfg);
}
END_TEST

/* ---- HTTP ingress and webhook settings ---------------------------------- */

START_TEST(test_cfg_defaults_ingress)
{
	core_cfg cfg;

	memset(&cfg, 0xa5, sizeof cfg);
	core_cfg_defaults(&cfg);
	ck_assert_ptr_null(cfg.http_listen);
	ck_assert(!cfg.http_allow_remote);
	ck_assert_uint_eq(cfg.http_max_body, 0); /* 0: recv_max */
	ck_assert_ptr_null(cfg.webhooks);
	ck_assert_uint_eq(cfg.webhook_count, 0);
	ck_assert_uint_eq(cfg.webhook_queue_max, 256);
	core_cfg_fini(&cfg);
}
END_TEST

/* http_listen spellings that load, and their normalized form. */
static const struct {
	const char *text;
	const char *url;
} good_listens[] = {
	{ "{'http_listen':'127.0.0.1:8787'}", "http://127.0.0.1:8787" },
	{ "{'http_listen':'http://127.0.0.1:8787'}", "http://127.0.0.1:8787" },
	{ "{'http_listen':'http://127.0.0.1:8787/'}", "http://127.0.0.1:8787" },
	{ "{'http_listen':'127.9.9.9:0'}", "http://127.9.9.9:0" },
	{ "{'http_listen':'localhost:65535'}", "http://localhost:65535" },
	{ "{'http_listen':'[::1]:80'}", "http://[::1]:80" },
	{ "{'http_listen':'0.0.0.0:8787','http_allow_remote':true}",
	    "http://0.0.0.0:8787" },
	{ "{'http_allow_remote':true,'http_listen':'agents.example:443'}",
	    "http://agents.example:443" },
};

START_TEST(test_cfg_load_http_listen)
{
	core_cfg cfg;
	char *cause = NULL;

	write_cfg(good_listens[_i].text);
	core_cfg_defaults(&cfg);
	ck_assert_cs_ok(core_cfg_load(cfgpath, &cfg, &cause), cause);
	ck_assert_str_eq(cfg.http_listen, good_listens[_i].url);
	core_cfg_fini(&cfg);
}
END_TEST

START_TEST(test_cfg_load_webhooks)
{
	core_cfg cfg;
	char *cause = NULL;

	write_cfg("{'http_max_body':2048,'webhook_queue_max':9,'webhooks':["
	    "{'url':'https://hooks.example/T0/B0/x'},"
	    "{'url':'http://127.0.0.1:9/p','format':'slack','after_s':0,"
	    "'before_deadline_s':0,'timeout_ms':100,'retries':0},"
	    "{'url':'http://h/','format':'generic','after_s':86400,"
	    "'before_deadline_s':86400,'timeout_ms':120000,'retries':10}]}");
	core_cfg_defaults(&cfg);
	ck_assert_cs_ok(core_cfg_load(cfgpath, &cfg, &cause), cause);
	ck_assert_uint_eq(cfg.http_max_body, 2048);
	ck_assert_uint_eq(cfg.webhook_queue_max, 9);
	ck_assert_uint_eq(cfg.webhook_count, 3);
	/* defaults */
	ck_assert_str_eq(cfg.webhooks[0].url, "https://hooks.example/T0/B0/x");
	ck_assert(!cfg.webhooks[0].slack);
	ck_assert_int_eq(cfg.webhooks[0].after_s, 30);
	ck_assert_int_eq(cfg.webhooks[0].before_deadline_s, 20);
	ck_assert_int_eq(cfg.webhooks[0].timeout_ms, 3000);
	ck_assert_int_eq(cfg.webhooks[0].retries, 3);
	/* lower bounds */
	ck_assert(cfg.webhooks[1].slack);
	ck_assert_int_eq(cfg.webhooks[1].after_s, 0);
	ck_assert_int_eq(cfg.webhooks[1].before_deadline_s, 0);
	ck_assert_int_eq(cfg.webhooks[1].timeout_ms, 100);
	ck_assert_int_eq(cfg.webhooks[1].retries, 0);
	/* upper bounds */
	ck_assert(!cfg.webhooks[2].slack);
	ck_assert_int_eq(cfg.webhooks[2].after_s, 86400);
	ck_assert_int_eq(cfg.webhooks[2].timeout_ms, 120000);
	ck_assert_int_eq(cfg.webhooks[2].retries, 10);
	core_cfg_fini(&cfg);
	ck_assert_ptr_null(cfg.webhooks);
	ck_assert_uint_eq(cfg.webhook_count, 0);
}
END_TEST

/* Ingress and webhook settings refused, and a word the cause names. */
static const struct {
	const char *text;
	const char *cause_has;
} bad_ingress[] = {
	{ "{'http_listen':'0.0.0.0:8787'}", "loopback" },
	{ "{'http_listen':'10.0.0.1:8787','http_allow_remote':false}",
	    "loopback" },
	{ "{'http_listen':'agents.example:80'}", "loopback" },
	{ "{'http_listen':'[::]:80'}", "loopback" },
	{ "{'http_listen':8787}", "http_listen" },
	{ "{'http_listen':'127.0.0.1'}", "http_listen" },
	{ "{'http_listen':'127.0.0.1:'}", "http_listen" },
	{ "{'http_listen':'127.0.0.1:65536'}", "http_listen" },
	{ "{'http_listen':'127.0.0.1:123456'}", "http_listen" },
	{ "{'http_listen':'https://127.0.0.1:8787'}", "http_listen" },
	{ "{'http_listen':'127.0.0.1:80/v1'}", "http_listen" },
	{ "{'http_listen':'user@127.0.0.1:80'}", "http_listen" },
	{ "{'http_listen':':8787'}", "http_listen" },
	{ "{'http_listen':'[::1:80'}", "http_listen" },
	{ "{'http_allow_remote':'yes'}", "http_allow_remote" },
	{ "{'http_allow_remote':1}", "http_allow_remote" },
	{ "{'http_max_body':1023}", "http_max_body" },
	{ "{'http_max_body':16777217}", "http_max_body" },
	{ "{'webhook_queue_max':0}", "webhook_queue_max" },
	{ "{'webhooks':{}}", "webhooks" },
	{ "{'webhooks':['http://x/']}", "webhooks[0]" },
	{ "{'webhooks':[{}]}", "webhooks[0].url" },
	{ "{'webhooks':[{'url':'ftp://x/'}]}", "webhooks[0].url" },
	{ "{'webhooks':[{'url':'http://x/ y'}]}", "webhooks[0].url" },
	{ "{'webhooks':[{'url':5}]}", "webhooks[0].url" },
	{ "{'webhooks':[{'url':'http://x/'},{'url':'http://x/',"
	    "'format':'teams'}]}", "webhooks[1].format" },
	{ "{'webhooks':[{'url':'http://x/','format':null}]}",
	    "webhooks[0].format" },
	{ "{'webhooks':[{'url':'http://x/','secret':'s'}]}", "secret" },
	{ "{'webhooks':[{'url':'http://x/','after_s':-1}]}",
	    "webhooks[0].after_s" },
	{ "{'webhooks':[{'url':'http://x/','after_s':'30'}]}",
	    "webhooks[0].after_s" },
	{ "{'webhooks':[{'url':'http://x/','before_deadline_s':86401}]}",
	    "before_deadline_s" },
	{ "{'webhooks':[{'url':'http://x/','timeout_ms':99}]}", "timeout_ms" },
	{ "{'webhooks':[{'url':'http://x/','retries':11}]}", "retries" },
	{ "{'webhooks':[{'url':'http://x/','retries':1.5}]}", "retries" },
	{ "{'webhooks':[{'url':'http://a/'},{'url':'http://a/'},"
	    "{'url':'http://a/'},{'url':'http://a/'},{'url':'http://a/'},"
	    "{'url':'http://a/'},{'url':'http://a/'},{'url':'http://a/'},"
	    "{'url':'http://a/'},{'url':'http://a/'},{'url':'http://a/'},"
	    "{'url':'http://a/'},{'url':'http://a/'},{'url':'http://a/'},"
	    "{'url':'http://a/'},{'url':'http://a/'},{'url':'http://a/'}]}",
	    "at most 16" },
};

START_TEST(test_cfg_load_rejects_ingress)
{
	core_cfg cfg;
	char *cause = NULL;

	write_cfg(bad_ingress[_i].text);
	core_cfg_defaults(&cfg);
	ck_assert_msg(core_cfg_load(cfgpath, &cfg, &cause) == CS_EPARSE,
	    "%s: accepted", bad_ingress[_i].text);
	ck_assert_msg(cause != NULL &&
	    strstr(cause, bad_ingress[_i].cause_has) != NULL,
	    "%s: cause \"%s\" lacks \"%s\"", bad_ingress[_i].text,
	    cause != NULL ? cause : "(null)", bad_ingress[_i].cause_has);
	ck_assert_msg(strstr(cause, cfgpath) != NULL, "cause \"%s\"", cause);
	free(cause);
	core_cfg_fini(&cfg); /* partial webhooks freed too */
}
END_TEST

/* Addresses and whether they are loopback. */
static const struct {
	const char *url;
	bool loopback;
} listen_urls[] = {
	{ "http://127.0.0.1:1", true }, { "http://127.255.0.9:1", true },
	{ "http://localhost:1", true }, { "http://LocalHost:1", true },
	{ "http://[::1]:1", true }, { "http://0.0.0.0:1", false },
	{ "http://128.0.0.1:1", false }, { "http://[::]:1", false },
	{ "http://[::ffff:10.0.0.1]:1", false }, { "http://10.1.2.3:1", false },
	{ "http://localhost.example:1", false }, { "http://127.0.0:1", false },
	{ "127.0.0.1:1", false }, { "", false },
};

START_TEST(test_cfg_listen_is_loopback)
{
	ck_assert_msg(core_cfg_listen_is_loopback(listen_urls[_i].url) ==
	    listen_urls[_i].loopback, "%s", listen_urls[_i].url);
	ck_assert(!core_cfg_listen_is_loopback(NULL));
}
END_TEST

static Suite *
wire_suite(void)
{
	Suite *s = suite_create("wire");
	TCase *tc;

	tc = tcase_create("core_msg_parse");
	tcase_add_loop_test(tc, test_parse_rejects, 0,
	    CS_ARRAY_LEN(bad_frames));
	tcase_add_loop_test(tc, test_parse_depth, 0, CS_ARRAY_LEN(depths));
	tcase_add_test(tc, test_parse_depth_strings);
	tcase_add_loop_test(tc, test_parse_args_size, 0,
	    CS_ARRAY_LEN(args_sizes));
	tcase_add_test(tc, test_parse_authorize_full);
	tcase_add_test(tc, test_parse_authorize_minimal);
	tcase_add_loop_test(tc, test_parse_good_variants, 0,
	    CS_ARRAY_LEN(good_variants));
	tcase_add_test(tc, test_parse_status);
	tcase_add_test(tc, test_parse_uses_len);
	tcase_add_test(tc, test_parse_null_cause);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_msg_fini");
	tcase_add_test(tc, test_fini);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_name_ok");
	tcase_add_loop_test(tc, test_name_ok, 0, CS_ARRAY_LEN(names));
	tcase_add_test(tc, test_name_ok_length);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_json_parse_strict");
	tcase_add_loop_test(tc, test_json_parse_strict, 0,
	    CS_ARRAY_LEN(strict_cases));
	tcase_add_loop_test(tc, test_json_parse_same_tree, 0,
	    CS_ARRAY_LEN(same_tree));
	tcase_add_test(tc, test_json_parse_big);
	tcase_add_test(tc, test_json_dump_same_text);
	tcase_add_test(tc, test_json_dump_big);
	tcase_add_test(tc, test_json_dump_refuses);
	tcase_add_test(tc, test_json_dump_depth);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_cfg_defaults");
	tcase_add_test(tc, test_cfg_defaults);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_cfg_load");
	tcase_add_checked_fixture(tc, cfg_setup, cfg_teardown);
	tcase_add_test(tc, test_cfg_load_missing);
	tcase_add_test(tc, test_cfg_load_empty_object);
	tcase_add_test(tc, test_cfg_load_good);
	tcase_add_loop_test(tc, test_cfg_load_good_values, 0,
	    CS_ARRAY_LEN(good_cfgs));
	tcase_add_loop_test(tc, test_cfg_load_rejects, 0,
	    CS_ARRAY_LEN(bad_cfgs));
	tcase_add_test(tc, test_cfg_load_unreadable);
	tcase_add_test(tc, test_cfg_load_null_cause);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_cfg_fini");
	tcase_add_checked_fixture(tc, cfg_setup, cfg_teardown);
	tcase_add_test(tc, test_cfg_fini);
	suite_add_tcase(s, tc);

	tc = tcase_create("core_cfg_is_operator");
	tcase_add_checked_fixture(tc, cfg_setup, cfg_teardown);
	tcase_add_loop_test(tc, test_cfg_is_operator, 0,
	    CS_ARRAY_LEN(operator_names));
	suite_add_tcase(s, tc);

	tc = tcase_create("core_cfg_ingress");
	tcase_add_checked_fixture(tc, cfg_setup, cfg_teardown);
	tcase_add_test(tc, test_cfg_defaults_ingress);
	tcase_add_loop_test(tc, test_cfg_load_http_listen, 0,
	    CS_ARRAY_LEN(good_listens));
	tcase_add_test(tc, test_cfg_load_webhooks);
	tcase_add_loop_test(tc, test_cfg_load_rejects_ingress, 0,
	    CS_ARRAY_LEN(bad_ingress));
	suite_add_tcase(s, tc);

	tc = tcase_create("core_cfg_listen_is_loopback");
	tcase_add_loop_test(tc, test_cfg_listen_is_loopback, 0,
	    CS_ARRAY_LEN(listen_urls));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(wire_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
