/* check_tui.c: Check suite for the console's model, text sanitizer and
 * line editor (tui/tui_model.c, tui/tui_text.c, tui/tui_prompt.c); no
 * terminal needed.
 * SPDX-License-Identifier: MIT */
#define _XOPEN_SOURCE 700
#define NCURSES_WIDECHAR 1
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <curses.h>

#include "tui_model.h"
#include "tui_prompt.h"
#include "tui_text.h"

#define ck_assert_cs_ok(expr)                                                \
	do {                                                                 \
		cs_err ck_rv_ = (expr);                                      \
		ck_assert_msg(ck_rv_ == CS_OK, "%s: %s", #expr,              \
		    cs_strerror(ck_rv_));                                    \
	} while (0)

#define REPL TUI_TEXT_REPLACEMENT
#define ESCM TUI_TEXT_ESC_MARK
#define BELM "\xe2\x90\x87" /* U+2407, what BEL shows as */
#define ELL TUI_TEXT_ELLIPSIS

/* Every test runs in a UTF-8 locale, as the console does on a UTF-8
 * terminal. */
static void
utf8_locale(void)
{
	if (setlocale(LC_ALL, "C.UTF-8") == NULL)
		setlocale(LC_ALL, "C.utf8");
}

/* ---- sanitizer -------------------------------------------------------- */

static const struct {
	const char *in;
	size_t len;       /* 0: strlen(in) */
	int max_cols;
	int flags;
	const char *want;
} clean_cases[] = {
	{ "plain text", 0, -1, 0, "plain text" },
	{ "\x1b[31mred\x1b[0m", 0, -1, 0, ESCM "red" ESCM },
	{ "a\x1b]0;fake title\x07" "b", 0, -1, 0,
	    "a" ESCM "0;fake title" BELM "b" },
	{ "a\x1b]0;title\x1b\\b", 0, -1, 0, "a" ESCM "0;title" ESCM "b" },
	{ "\x1b]52;c;cm0gLXJmIC8K\x07" "x", 0, -1, 0,
	    ESCM "52;c;cm0gLXJmIC8K" BELM "x" },
	{ "\x1bPq#0;2;0;0;0#0~~@@\x1b\\" "x", 0, -1, 0,
	    ESCM "q#0;2;0;0;0#0~~@@" ESCM "x" },
	{ "\x1b_apc payload\x1b\\ok", 0, -1, 0, ESCM "apc payload" ESCM "ok" },
	{ "\x1b(Bx", 0, -1, 0, ESCM "x" },
	{ "\x1b" "cx", 0, -1, 0, ESCM "x" },
	{ "end\x1b", 0, -1, 0, "end" ESCM },
	{ "\x1b[", 0, -1, 0, ESCM },
	{ "\x1b[?1049h\x1b[2J\x1b[Hfake screen", 0, -1, 0,
	    ESCM ESCM ESCM "fake screen" },
	{ "\xc2\x9b" "31mX", 0, -1, 0, ESCM "31mX" },       /* C1 CSI */
	{ "\xc2\x9d" "0;t\xc2\x9cY", 0, -1, 0, ESCM "0;t" ESCM "Y" }, /* OSC */
	{ "\xc2\x90q\x1b\\Z", 0, -1, 0, ESCM "q" ESCM "Z" },  /* C1 DCS */
	{ "\xc2\x85x", 0, -1, 0, REPL "x" },                 /* C1 NEL */
	/* an OSC opened in one JSON member hides none of the next ones */
	{ "{\"memo\": \"rent\xc2\x9d\", \"amount\": 990000, \"note\": \"\xc2\x9c\"}",
	    0, -1, 0, "{\"memo\": \"rent" ESCM "\", \"amount\": 990000, \"note\": \""
	    ESCM "\"}" },
	{ "\x9b" "31m", 0, -1, 0, REPL "31m" },              /* raw 0x9b */
	{ "abc\xe2\x80\xae" "fdp.exe", 0, -1, 0, "abc" REPL "fdp.exe" },
	{ "\xe2\x80\xaa\xe2\x80\xab\xe2\x80\xac\xe2\x80\xad", 0, -1, 0,
	    REPL REPL REPL REPL },
	{ "\xe2\x81\xa6x\xe2\x81\xa9", 0, -1, 0, REPL "x" REPL }, /* isolates */
	{ "pay\xe2\x80\x8bpal", 0, -1, 0, "pay" REPL "pal" },     /* ZWSP */
	{ "a\xe2\x80\x8d" "b\xe2\x80\x8f", 0, -1, 0, "a" REPL "b" REPL },
	{ "\xef\xbb\xbfx", 0, -1, 0, REPL "x" },                  /* BOM */
	{ "l1\xe2\x80\xa8l2\xe2\x80\xa9", 0, -1, 0, "l1" REPL "l2" REPL },
	{ "\x80", 0, -1, 0, REPL },                       /* continuation */
	{ "\xc0\xaf", 0, -1, 0, REPL REPL },              /* overlong '/' */
	{ "\xe0\x80\xaf", 0, -1, 0, REPL REPL REPL },     /* overlong */
	{ "\xed\xa0\x80", 0, -1, 0, REPL REPL REPL },     /* surrogate */
	{ "\xf4\x90\x80\x80", 0, -1, 0, REPL REPL REPL REPL }, /* > 10FFFF */
	{ "\xf8\x88\x80\x80\x80", 0, -1, 0, REPL REPL REPL REPL REPL },
	{ "\xe2\x82", 0, -1, 0, REPL },                   /* truncated */
	{ "\xe2\x82x", 0, -1, 0, REPL "x" },
	{ "a\rb", 0, -1, 0, "a\xe2\x90\x8d" "b" },
	{ "a\bb", 0, -1, 0, "a\xe2\x90\x88" "b" },
	{ "a\tb", 0, -1, 0, "a b" },
	{ "a\nb", 0, -1, 0, "a\xe2\x90\x8a" "b" },
	{ "\x7f", 0, -1, 0, "\xe2\x90\xa1" },
	{ "a\0b", 3, -1, 0, "a\xe2\x90\x80" "b" },
	{ "h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac", 0, -1, 0,
	    "h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac" },
	{ "e\xcc\x81", 0, -1, 0, "e\xcc\x81" },           /* combining */
	{ "abcdefghij", 0, 5, 0, "abcd" ELL },
	{ "abcde", 0, 5, 0, "abcde" },
	{ "abcdef", 0, 5, TUI_TEXT_ASCII, "ab..." },
	{ "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 0, 4, 0, "\xe6\x97\xa5" ELL },
	{ "\x1b[31mred", 0, 2, 0, ESCM ELL },
	{ "\x1b[31mre", 0, 3, 0, ESCM "re" },
	{ "\x1b[31mredder", 0, 3, 0, ESCM "r" ELL },
	{ "abc", 0, 0, 0, "" },
	{ "abc", 0, 1, 0, ELL },
	{ "a", 0, 1, 0, "a" },
	{ "abcd", 0, 1, 0, ELL },
	{ "h\xc3\xa9llo\x1b[1m!\xe2\x80\xae", 0, -1, TUI_TEXT_ASCII,
	    "h?llo?!?" },
	{ "a\xe2\x80\x94" "b", 0, -1, TUI_TEXT_ASCII, "a-b" },
};

START_TEST(test_clean_table)
{
	char out[512];
	const char *in = clean_cases[_i].in;
	size_t len = clean_cases[_i].len ? clean_cases[_i].len : strlen(in);
	int cols;

	utf8_locale();
	cols = tui_text_clean(in, len, clean_cases[_i].max_cols,
	    clean_cases[_i].flags, out, sizeof out, NULL);
	ck_assert_msg(strcmp(out, clean_cases[_i].want) == 0,
	    "case %d: got \"%s\", want \"%s\"", _i, out, clean_cases[_i].want);
	if (clean_cases[_i].max_cols >= 0)
		ck_assert_int_le(cols, clean_cases[_i].max_cols);
	ck_assert_int_eq(cols, tui_text_width(out, clean_cases[_i].flags));
}
END_TEST

START_TEST(test_clean_long)
{
	size_t len = 100000;
	char *in = malloc(len + 1), out[1024];
	bool cut = false;
	int cols;

	utf8_locale();
	ck_assert_ptr_nonnull(in);
	memset(in, 'x', len);
	in[len] = '\0';
	cols = tui_text_clean(in, len, 80, 0, out, sizeof out, &cut);
	ck_assert(cut);
	ck_assert_int_eq(cols, 80);
	ck_assert_uint_eq(strlen(out), 79 + strlen(ELL));
	ck_assert_str_eq(out + 79, ELL);
	/* a small buffer cuts too, visibly, and never overflows */
	cols = tui_text_clean(in, len, -1, 0, out, 16, &cut);
	ck_assert(cut);
	ck_assert_uint_lt(strlen(out), 16);
	ck_assert_str_eq(out + strlen(out) - strlen(ELL), ELL);
	free(in);
}
END_TEST

START_TEST(test_clean_dup)
{
	char *s;

	utf8_locale();
	s = tui_text_dup("tool\x1b]0;x\x07", -1, 0);
	ck_assert_str_eq(s, "tool" ESCM "0;x" BELM);
	free(s);
	s = tui_text_dup(NULL, 10, 0);
	ck_assert_str_eq(s, "");
	free(s);
}
END_TEST

/* Whether code point cp must never reach the terminal (checked
 * independently of tui_text_is_unsafe). */
static bool
forbidden(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) ||
	    (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) ||
	    (cp >= 0x200B && cp <= 0x200F) || cp == 0x2028 || cp == 0x2029 ||
	    cp == 0xFEFF || cp == 0x061C || (cp >= 0xD800 && cp <= 0xDFFF) ||
	    cp > 0x10FFFF;
}

/* Encode any value up to 0x10FFFF, surrogates included, the UTF-8 way. */
static size_t
encode_any(uint32_t cp, unsigned char out[4])
{
	if (cp < 0x80) {
		out[0] = (unsigned char) cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char) (0xC0 | (cp >> 6));
		out[1] = (unsigned char) (0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char) (0xE0 | (cp >> 12));
		out[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
		out[2] = (unsigned char) (0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (unsigned char) (0xF0 | (cp >> 18));
	out[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3F));
	out[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3F));
	out[3] = (unsigned char) (0x80 | (cp & 0x3F));
	return 4;
}

/* Whether out is valid UTF-8 holding nothing forbidden; else why not, in
 * why. Plain C (no ck_assert per call): the exhaustive loops below make
 * millions of checks, and Check logs every assertion. */
static bool
is_safe(const char *out, char *why, size_t size)
{
	const unsigned char *s = (const unsigned char *) out;
	size_t len = strlen(out), at = 0;

	if (memchr(out, 0x1B, len) != NULL) {
		snprintf(why, size, "raw ESC in output");
		return false;
	}
	while (at < len) {
		uint32_t cp;
		size_t n = tui_text_utf8_decode(s + at, len - at, &cp);

		if (n == 0) {
			snprintf(why, size, "invalid UTF-8 in output");
			return false;
		}
		if (forbidden(cp)) {
			snprintf(why, size, "output holds U+%04X", cp);
			return false;
		}
		at += n;
	}
	return true;
}

START_TEST(test_clean_every_code_point)
{
	unsigned char in[8];
	char out[64], why[64] = "";
	uint32_t bad = 0;
	long failures = 0;

	utf8_locale();
	for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
		size_t n = encode_any(cp, in + 1);
		bool ok;

		in[0] = 'a';
		in[n + 1] = 'b';
		tui_text_clean((const char *) in, n + 2, -1, 0, out,
		    sizeof out, NULL);
		ok = is_safe(out, why, sizeof why) && out[0] == 'a';
		if (ok && cp != 0x1B && cp != 0x90 && cp != 0x98 &&
		    cp != 0x9B && cp != 0x9D && cp != 0x9E && cp != 0x9F &&
		    out[strlen(out) - 1] != 'b') {
			snprintf(why, sizeof why, "text after it was lost");
			ok = false;
		}
		tui_text_clean((const char *) in + 1, n, 1, 0, out, sizeof out,
		    NULL);
		ok = ok && is_safe(out, why, sizeof why);
		tui_text_clean((const char *) in, n + 2, -1, TUI_TEXT_ASCII,
		    out, sizeof out, NULL);
		for (size_t i = 0; ok && out[i] != '\0'; i++)
			if (out[i] < 0x20 || out[i] >= 0x7F) {
				snprintf(why, sizeof why, "non-ASCII output");
				ok = false;
			}
		if (!ok && failures++ == 0)
			bad = cp;
	}
	ck_assert_msg(failures == 0, "%ld code points fail, first U+%04X: %s",
	    failures, bad, why);
}
END_TEST

START_TEST(test_clean_every_byte_pair)
{
	unsigned char in[2];
	char out[64], why[64] = "";
	unsigned bad = 0;
	long failures = 0;

	utf8_locale();
	for (unsigned a = 0; a < 256; a++)
		for (unsigned b = 0; b < 256; b++) {
			in[0] = (unsigned char) a;
			in[1] = (unsigned char) b;
			tui_text_clean((const char *) in, 2, -1, 0, out,
			    sizeof out, NULL);
			if (!is_safe(out, why, sizeof why) && failures++ == 0)
				bad = a << 8 | b;
		}
	ck_assert_msg(failures == 0, "%ld byte pairs fail, first %04x: %s",
	    failures, bad, why);
}
END_TEST

START_TEST(test_text_fit)
{
	int cols;

	utf8_locale();
	ck_assert_uint_eq(tui_text_fit("abcdef", 3, &cols), 3);
	ck_assert_int_eq(cols, 3);
	ck_assert_uint_eq(tui_text_fit("\xe6\x97\xa5\xe6\x9c\xac", 3, &cols),
	    3);
	ck_assert_int_eq(cols, 2);
	ck_assert_uint_eq(tui_text_fit("ab", 10, &cols), 2);
}
END_TEST

/* ---- model ------------------------------------------------------------ */

/* A pending item. */
static json_t *
item(const char *request, const char *tool, int64_t received,
    int64_t deadline)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:i, "
	    "s:i, s:[], s:o, s:{s:s}}", "request", request, "tool", tool,
	    "agent", "mailer", "user", "alice", "session", "s1", "risk",
	    "medium", "received", (json_int_t) received, "deadline",
	    (json_int_t) deadline, "rule", "external-email", "trust", 2,
	    "approvers", 1, "approvals", "new_tool", json_true(), "args", "to",
	    "x@gmail.com");
}

/* Apply an event built from a topic and a JSON value (stolen). */
static int
event(tui_model *m, const char *topic, json_t *body, int64_t now)
{
	char *text = json_dumps(body, JSON_COMPACT);
	char *frame = cs_asprintf("%s %s", topic, text);
	int chg = tui_model_apply_event(m, frame, strlen(frame), now, 0);

	free(text);
	free(frame);
	json_decref(body);
	return chg;
}

START_TEST(test_queue_order)
{
	tui_model *m = tui_model_new();
	json_t *v;

	ck_assert_ptr_nonnull(m);
	v = item("r-3", "c", 100, 3000);
	ck_assert_cs_ok(tui_model_put_item(m, v));
	json_decref(v);
	v = item("r-1", "a", 300, 1000);
	ck_assert_cs_ok(tui_model_put_item(m, v));
	json_decref(v);
	v = item("r-2b", "b", 200, 2000);
	ck_assert_cs_ok(tui_model_put_item(m, v));
	json_decref(v);
	v = item("r-2a", "b", 100, 2000);
	ck_assert_cs_ok(tui_model_put_item(m, v));
	json_decref(v);
	ck_assert_uint_eq(m->item_count, 4);
	ck_assert_str_eq(m->items[0]->request, "r-1");
	ck_assert_str_eq(m->items[1]->request, "r-2a"); /* older first */
	ck_assert_str_eq(m->items[2]->request, "r-2b");
	ck_assert_str_eq(m->items[3]->request, "r-3");
	/* an item without an id is refused */
	v = json_pack("{s:s}", "tool", "x");
	ck_assert_int_eq(tui_model_put_item(m, v), CS_EINVAL);
	json_decref(v);
	/* replacing keeps one copy */
	v = item("r-3", "c", 100, 500);
	ck_assert_cs_ok(tui_model_put_item(m, v));
	json_decref(v);
	ck_assert_uint_eq(m->item_count, 4);
	ck_assert_str_eq(m->items[0]->request, "r-3");
	tui_model_free(m);
}
END_TEST

START_TEST(test_queue_cursor_follows)
{
	tui_model *m = tui_model_new();
	json_t *v;

	v = item("r-1", "a", 100, 1000);
	tui_model_put_item(m, v);
	json_decref(v);
	v = item("r-2", "b", 100, 2000);
	tui_model_put_item(m, v);
	json_decref(v);
	tui_model_queue_move(m, 1);
	ck_assert_str_eq(tui_model_queue_selected(m)->request, "r-2");
	/* a more urgent call arrives: the cursor stays on its call */
	v = item("r-0", "z", 100, 500);
	tui_model_put_item(m, v);
	json_decref(v);
	ck_assert_str_eq(tui_model_queue_selected(m)->request, "r-2");
	ck_assert_uint_eq(m->queue_sel, 2);
	/* its call goes: the cursor stays in place, on the next one */
	ck_assert(tui_model_remove_item(m, "r-2"));
	ck_assert_str_eq(tui_model_queue_selected(m)->request, "r-1");
	ck_assert(!tui_model_remove_item(m, "r-2"));
	tui_model_queue_move(m, INT32_MIN);
	ck_assert_str_eq(tui_model_queue_selected(m)->request, "r-0");
	tui_model_queue_move(m, INT32_MAX);
	ck_assert_str_eq(tui_model_queue_selected(m)->request, "r-1");
	tui_model_queue_move(m, 10);
	ck_assert_str_eq(tui_model_queue_selected(m)->request, "r-1");
	tui_model_remove_item(m, "r-0");
	tui_model_remove_item(m, "r-1");
	ck_assert_ptr_null(tui_model_queue_selected(m));
	tui_model_queue_move(m, 1);
	tui_model_free(m);
}
END_TEST

static const struct {
	int64_t ms;
	const char *want;
} countdowns[] = {
	{ -5000, "0:00" }, { 0, "0:00" }, { 1, "0:01" }, { 999, "0:01" },
	{ 1000, "0:01" }, { 1001, "0:02" }, { 59000, "0:59" },
	{ 60000, "1:00" }, { 119500, "2:00" }, { 599000, "9:59" },
	{ 3599000, "59:59" }, { 3600000, "1:00:00" }, { 3661000, "1:01:01" },
	{ 90061000, "25:01:01" },
};

START_TEST(test_countdown)
{
	char out[32];

	tui_fmt_countdown(countdowns[_i].ms, out, sizeof out);
	ck_assert_str_eq(out, countdowns[_i].want);
}
END_TEST

START_TEST(test_age)
{
	static const struct {
		int64_t ms;
		const char *want;
	} ages[] = { { -1, "now" }, { 0, "now" }, { 999, "now" },
		{ 42000, "42s" }, { 300000, "5m" }, { 3 * 3600000, "3h" },
		{ 2 * 86400000LL + 5, "2d" } };
	char out[16];

	for (size_t i = 0; i < CS_ARRAY_LEN(ages); i++) {
		tui_fmt_age(ages[i].ms, out, sizeof out);
		ck_assert_str_eq(out, ages[i].want);
	}
	ck_assert_str_eq(tui_trust_name(0), "quarantined");
	ck_assert_str_eq(tui_trust_name(4), "trusted");
	ck_assert_str_eq(tui_trust_name(5), "?");
}
END_TEST

START_TEST(test_filters)
{
	tui_model *m = tui_model_new();
	tui_filter f;
	json_t *v;

	ck_assert_cs_ok(tui_filter_parse("tool:email.* GMAIL  decision:deny "
	    "Bogus:x", &f));
	ck_assert_str_eq(f.tool, "email.*");
	ck_assert_str_eq(f.decision, "deny");
	ck_assert_str_eq(f.text, "GMAIL Bogus:x");
	tui_filter_fini(&f);
	ck_assert_cs_ok(tui_filter_parse(NULL, &f));
	ck_assert_ptr_null(f.text);

	v = item("r-1", "email.send", 100, 1000);
	tui_model_put_item(m, v);
	json_decref(v);
	v = item("r-2", "fs.read", 100, 2000);
	json_object_set_new(v, "user", json_string("bob"));
	tui_model_put_item(m, v);
	json_decref(v);
	ck_assert_cs_ok(tui_model_set_filter(m, 0, "tool:email.*", NULL));
	ck_assert_uint_eq(m->shown_count, 1);
	ck_assert_str_eq(tui_model_queue_selected(m)->request, "r-1");
	ck_assert_cs_ok(tui_model_set_filter(m, 0, "GMAIL.com", NULL)); /* args */
	ck_assert_uint_eq(m->shown_count, 2);
	ck_assert_cs_ok(tui_model_set_filter(m, 0, "user:bob", NULL));
	ck_assert_uint_eq(m->shown_count, 1);
	ck_assert_str_eq(tui_model_queue_selected(m)->request, "r-2");
	ck_assert_cs_ok(tui_model_set_filter(m, 0, "nothing-matches", NULL));
	ck_assert_uint_eq(m->shown_count, 0);
	ck_assert_ptr_null(tui_model_queue_selected(m));
	ck_assert_cs_ok(tui_model_set_filter(m, 0, "", NULL));
	ck_assert_uint_eq(m->shown_count, 2);
	ck_assert_ptr_null(m->queue_filter_text);

	/* a key the list has no field for is refused, the filter kept */
	{
		const char *unused = NULL;

		ck_assert_cs_ok(tui_model_set_filter(m, 0, "tool:email.*",
		    NULL));
		ck_assert_int_eq(tui_model_set_filter(m, 0,
		    "decision:deny", &unused), CS_EINVAL);
		ck_assert_str_eq(unused, "decision");
		ck_assert_str_eq(m->queue_filter_text, "tool:email.*");
		ck_assert_uint_eq(m->shown_count, 1);
		ck_assert_int_eq(tui_model_set_filter(m, 0, "x kind:pending",
		    &unused), CS_EINVAL);
		ck_assert_str_eq(unused, "kind");
		ck_assert_int_eq(tui_model_set_filter(m, 1, "tool:fs.*",
		    &unused), CS_EINVAL);
		ck_assert_str_eq(unused, "tool");
		ck_assert_int_eq(tui_model_set_filter(m, 2, "user:bob",
		    &unused), CS_EINVAL);
		ck_assert_str_eq(unused, "user");
		ck_assert_ptr_null(m->hist_filter_text);
		ck_assert_cs_ok(tui_model_set_filter(m, 1, "user:bob agent:a*",
		    &unused));
		ck_assert_ptr_null(unused);
		ck_assert_cs_ok(tui_model_set_filter(m, 2,
		    "tool:fs.* decision:deny kind:decision", &unused));
		ck_assert_ptr_null(unused);
	}
	tui_model_free(m);
}
END_TEST

/* ---- queue invariants against a reference ----------------------------- */

/* The reference keeps the queue the plain way: a linear scan for each
 * insertion, the filter and the cursor recomputed over every item after
 * every change, as the console once did. */
#define REF_POOL 3000 /* request ids r-0000 .. r-2999 */

struct ref_item {
	char request[16];
	const char *tool;
	int64_t received, deadline;
};

struct ref_queue {
	struct ref_item pool[REF_POOL];
	bool live[REF_POOL];
	size_t all[REF_POOL];   /* live ids, in queue order */
	size_t all_count;
	size_t shown[REF_POOL]; /* the ids passing the filter, in order */
	size_t shown_count;
	size_t sel;             /* index into shown */
	long sel_id;            /* id the cursor follows, -1 for none */
	int filter;             /* 0 none, 1 tool:email.*, 2 READ */
};

static const char *const ref_tools[] = { "email.send", "fs.read",
	"shell.exec", "email.read" };
static const char *const ref_filters[] = { "", "tool:email.*", "READ" };

/* A reproducible xorshift64 stream. */
static uint64_t
ref_rand(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* Queue order: earliest deadline, then oldest, then by id. */
static int
ref_order(const struct ref_queue *r, size_t a, size_t b)
{
	const struct ref_item *x = &r->pool[a], *y = &r->pool[b];

	if (x->deadline != y->deadline)
		return x->deadline < y->deadline ? -1 : 1;
	if (x->received != y->received)
		return x->received < y->received ? -1 : 1;
	return strcmp(x->request, y->request);
}

/* qsort adapter for ref_order over the pool being sorted. */
static const struct ref_queue *ref_sorting;

static int
ref_cmp(const void *a, const void *b)
{
	return ref_order(ref_sorting, *(const size_t *) a,
	    *(const size_t *) b);
}

/* Whether the reference filter passes id. */
static bool
ref_passes(const struct ref_queue *r, size_t id)
{
	const char *tool = r->pool[id].tool;

	return r->filter == 0 || (r->filter == 1 &&
	    strncmp(tool, "email.", 6) == 0) || (r->filter == 2 &&
	    strstr(tool, "read") != NULL);
}

/* Insert id into all by a linear scan. */
static void
ref_insert(struct ref_queue *r, size_t id)
{
	size_t at = 0;

	while (at < r->all_count && ref_order(r, r->all[at], id) < 0)
		at++;
	memmove(&r->all[at + 1], &r->all[at],
	    (r->all_count - at) * sizeof r->all[0]);
	r->all[at] = id;
	r->all_count++;
	r->live[id] = true;
}

/* Remove id from all by a linear scan. */
static void
ref_remove(struct ref_queue *r, size_t id)
{
	for (size_t i = 0; i < r->all_count; i++)
		if (r->all[i] == id) {
			memmove(&r->all[i], &r->all[i + 1],
			    (r->all_count - i - 1) * sizeof r->all[0]);
			r->all_count--;
			break;
		}
	r->live[id] = false;
}

/* Filter everything again and put the cursor back (the old rebuild). */
static void
ref_rebuild(struct ref_queue *r, size_t keep)
{
	r->shown_count = 0;
	for (size_t i = 0; i < r->all_count; i++)
		if (ref_passes(r, r->all[i]))
			r->shown[r->shown_count++] = r->all[i];
	if (r->sel_id >= 0)
		for (size_t i = 0; i < r->shown_count; i++)
			if (r->shown[i] == (size_t) r->sel_id) {
				r->sel = i;
				return;
			}
	r->sel = r->shown_count == 0 ? 0 : keep < r->shown_count ? keep :
	    r->shown_count - 1;
	r->sel_id = r->shown_count == 0 ? -1 : (long) r->shown[r->sel];
}

/* The JSON of id's current state (new reference). */
static json_t *
ref_json(const struct ref_queue *r, size_t id)
{
	const struct ref_item *x = &r->pool[id];

	return item(x->request, x->tool, x->received, x->deadline);
}

/* Give id new sort keys and a new tool; few distinct values, so ties on
 * the deadline and on the received time are common. */
static void
ref_reroll(struct ref_queue *r, size_t id, uint64_t *rng)
{
	r->pool[id].deadline = 1000 + (int64_t) (ref_rand(rng) % 40);
	r->pool[id].received = (int64_t) (ref_rand(rng) % 4);
	r->pool[id].tool = ref_tools[ref_rand(rng) % CS_ARRAY_LEN(ref_tools)];
}

/* The first index where list and ids name different requests, or count
 * (plain loops: each Check assertion costs a write to the runner). */
static size_t
ref_mismatch(tui_item *const *list, const struct ref_queue *r,
    const size_t *ids, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (strcmp(list[i]->request, r->pool[ids[i]].request) != 0)
			return i;
	return count;
}

/* Check the model against the reference: same items in the same order,
 * same rows shown, same cursor. */
static void
ref_check(const tui_model *m, const struct ref_queue *r)
{
	size_t at;

	ck_assert_uint_eq(m->item_count, r->all_count);
	ck_assert_uint_eq(m->shown_count, r->shown_count);
	at = ref_mismatch(m->items, r, r->all, r->all_count);
	ck_assert_msg(at == r->all_count, "item %zu is %s, not %s", at,
	    at < r->all_count ? m->items[at]->request : "",
	    at < r->all_count ? r->pool[r->all[at]].request : "");
	at = ref_mismatch(m->shown, r, r->shown, r->shown_count);
	ck_assert_msg(at == r->shown_count, "row %zu is %s, not %s", at,
	    at < r->shown_count ? m->shown[at]->request : "",
	    at < r->shown_count ? r->pool[r->shown[at]].request : "");
	ck_assert_uint_eq(m->queue_sel, r->sel);
	if (r->sel_id < 0) {
		ck_assert_ptr_null(m->queue_sel_id);
		ck_assert_ptr_null(tui_model_queue_selected(m));
	} else {
		ck_assert_str_eq(m->queue_sel_id, r->pool[r->sel_id].request);
		ck_assert_str_eq(tui_model_queue_selected(m)->request,
		    r->pool[r->shown[r->sel]].request);
	}
}

/* The reference's own order checked against a plain qsort. */
static void
ref_check_sorted(struct ref_queue *r)
{
	size_t *copy = malloc((r->all_count + 1) * sizeof *copy);

	ck_assert_ptr_nonnull(copy);
	memcpy(copy, r->all, r->all_count * sizeof *copy);
	ref_sorting = r;
	qsort(copy, r->all_count, sizeof *copy, ref_cmp);
	ck_assert_int_eq(memcmp(copy, r->all, r->all_count * sizeof *copy),
	    0);
	free(copy);
}

/* Apply a hello of roughly the live items (some gone, some new, one sent
 * twice with other keys) to both. */
static void
ref_hello(tui_model *m, struct ref_queue *r, uint64_t *rng)
{
	json_t *h = json_pack("{s:s, s:[], s:[]}", "type", "hello", "pending",
	    "sessions");
	json_t *pending = json_object_get(h, "pending");
	bool in_hello[REF_POOL] = { false };
	size_t keep = r->sel, last = REF_POOL;

	for (size_t id = 0; id < REF_POOL; id++) {
		uint64_t dice = ref_rand(rng) % 100;

		if ((r->live[id] && dice < 80) || (!r->live[id] && dice < 5)) {
			if (!r->live[id])
				ref_reroll(r, id, rng);
			json_array_append_new(pending, ref_json(r, id));
			in_hello[id] = true;
			last = id;
		}
	}
	if (last < REF_POOL) { /* a duplicate: the later copy wins */
		ref_reroll(r, last, rng);
		json_array_append_new(pending, ref_json(r, last));
	}
	ck_assert_int_gt(tui_model_apply_hello(m, h, 0), 0);
	json_decref(h);
	r->all_count = 0;
	for (size_t id = 0; id < REF_POOL; id++) {
		r->live[id] = false;
		if (in_hello[id])
			ref_insert(r, id);
	}
	ref_rebuild(r, keep);
}

START_TEST(test_queue_against_reference)
{
	tui_model *m = tui_model_new();
	struct ref_queue *r = calloc(1, sizeof *r);
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	static const long moves[] = { -3, -1, 1, 2, 5, INT32_MIN, INT32_MAX };

	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_nonnull(r);
	r->sel_id = -1;
	for (size_t id = 0; id < REF_POOL; id++)
		snprintf(r->pool[id].request, sizeof r->pool[id].request,
		    "r-%04zu", id);
	for (int op = 0; op < 10000; op++) {
		uint64_t dice = ref_rand(&rng) % 1000;
		size_t id = (size_t) (ref_rand(&rng) % REF_POOL);
		size_t keep = r->sel;

		if (dice < 500) {        /* a new call, or a re-sent one */
			json_t *v;

			if (r->live[id])
				ref_remove(r, id);
			ref_reroll(r, id, &rng);
			ref_insert(r, id);
			ref_rebuild(r, keep);
			v = ref_json(r, id);
			ck_assert_cs_ok(tui_model_put_item(m, v));
			json_decref(v);
			ck_assert_int_eq(tui_model_find_item(m,
			    r->pool[id].request)->deadline_ms,
			    r->pool[id].deadline);
		} else if (dice < 880) { /* resolved, maybe never seen */
			bool was = r->live[id];

			if (was) {
				ref_remove(r, id);
				ref_rebuild(r, keep);
			}
			ck_assert_int_eq(tui_model_remove_item(m,
			    r->pool[id].request), was);
			ck_assert_ptr_null(tui_model_find_item(m,
			    r->pool[id].request));
		} else if (dice < 980) { /* the operator moves */
			long delta = moves[ref_rand(&rng) %
			    CS_ARRAY_LEN(moves)];
			long long target = (long long) r->sel + delta;

			if (r->shown_count == 0)
				target = 0;
			else if (delta == INT32_MIN || target < 0)
				target = 0;
			else if (delta == INT32_MAX ||
			    target >= (long long) r->shown_count)
				target = (long long) r->shown_count - 1;
			r->sel = (size_t) target;
			r->sel_id = r->shown_count == 0 ? -1 :
			    (long) r->shown[r->sel];
			tui_model_queue_move(m, delta);
		} else if (dice < 997) { /* a new filter */
			r->filter = (int) (ref_rand(&rng) %
			    CS_ARRAY_LEN(ref_filters));
			ref_rebuild(r, keep);
			ck_assert_cs_ok(tui_model_set_filter(m, 0,
			    ref_filters[r->filter], NULL));
		} else {                 /* reconnected: a new snapshot */
			ref_hello(m, r, &rng);
		}
		ref_check(m, r);
		if (op % 1000 == 999)
			ref_check_sorted(r);
	}
	ck_assert_uint_gt(r->all_count, 100);
	ref_check_sorted(r);
	free(r);
	tui_model_free(m);
}
END_TEST

/* Whether list (count items) is strictly in queue order. */
static bool
queue_is_sorted(tui_item *const *list, size_t count)
{
	for (size_t i = 1; i < count; i++) {
		const tui_item *x = list[i - 1], *y = list[i];

		if (x->deadline_ms > y->deadline_ms ||
		    (x->deadline_ms == y->deadline_ms &&
		    (x->received_ms > y->received_ms ||
		    (x->received_ms == y->received_ms &&
		    strcmp(x->request, y->request) >= 0))))
			return false;
	}
	return true;
}

START_TEST(test_queue_many)
{
	enum { MANY = 10000 };
	tui_model *m = tui_model_new();
	size_t *order = malloc(MANY * sizeof *order);
	uint64_t rng = 42;
	size_t email = 0;
	char request[16];

	ck_assert_ptr_nonnull(order);
	ck_assert_cs_ok(tui_model_set_filter(m, 0, "tool:email.*", NULL));
	for (size_t i = 0; i < MANY; i++)
		order[i] = i;
	for (size_t i = MANY - 1; i > 0; i--) { /* shuffle */
		size_t j = (size_t) (ref_rand(&rng) % (i + 1)), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (size_t i = 0; i < MANY; i++) {
		const char *tool = order[i] % 3 == 0 ? "email.send" :
		    "fs.read";
		json_t *v;

		snprintf(request, sizeof request, "r-%05zu", order[i]);
		v = item(request, tool, (int64_t) (ref_rand(&rng) % 7),
		    (int64_t) (ref_rand(&rng) % 500));
		if (tui_model_put_item(m, v) != CS_OK)
			ck_abort_msg("%s refused", request);
		json_decref(v);
		email += order[i] % 3 == 0;
	}
	ck_assert_uint_eq(m->item_count, MANY);
	ck_assert_uint_eq(m->shown_count, email);
	ck_assert(queue_is_sorted(m->items, m->item_count));
	ck_assert(queue_is_sorted(m->shown, m->shown_count));
	for (size_t i = 0; i < MANY; i++) {
		const tui_item *it;

		snprintf(request, sizeof request, "r-%05zu", i);
		if ((it = tui_model_find_item(m, request)) == NULL ||
		    strcmp(it->request, request) != 0)
			ck_abort_msg("%s not found", request);
	}
	/* remove every other one, in a new random order */
	for (size_t i = MANY - 1; i > 0; i--) {
		size_t j = (size_t) (ref_rand(&rng) % (i + 1)), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (size_t i = 0; i < MANY; i += 2) {
		snprintf(request, sizeof request, "r-%05zu", order[i]);
		if (!tui_model_remove_item(m, request) ||
		    tui_model_remove_item(m, request))
			ck_abort_msg("%s not removed once", request);
		email -= order[i] % 3 == 0;
	}
	ck_assert_uint_eq(m->item_count, MANY / 2);
	ck_assert_uint_eq(m->shown_count, email);
	ck_assert(queue_is_sorted(m->items, m->item_count));
	ck_assert(queue_is_sorted(m->shown, m->shown_count));
	ck_assert_cs_ok(tui_model_set_filter(m, 0, NULL, NULL));
	ck_assert_uint_eq(m->shown_count, MANY / 2);
	for (size_t i = 1; i < MANY; i += 2) {
		snprintf(request, sizeof request, "r-%05zu", order[i]);
		if (!tui_model_remove_item(m, request))
			ck_abort_msg("%s not removed", request);
	}
	ck_assert_uint_eq(m->item_count, 0);
	ck_assert_uint_eq(m->shown_count, 0);
	ck_assert_ptr_null(tui_model_queue_selected(m));
	free(order);
	tui_model_free(m);
}
END_TEST

/* A hello reply with two pending calls and one session. */
static json_t *
hello(void)
{
	json_t *h = json_pack("{s:i, s:s, s:b, s:s, s:s, s:s, s:[], s:[], "
	    "s:I}", "v", 1, "type", "hello", "ok", 1, "operator", "carol",
	    "posture", "normal", "policy", "default@1#abcd1234", "pending",
	    "sessions", "server_time", (json_int_t) 1000000);

	json_array_append_new(json_object_get(h, "pending"),
	    item("r-1", "email.send", 990000, 1100000));
	json_array_append_new(json_object_get(h, "pending"),
	    item("r-2", "shell.exec", 995000, 1050000));
	json_array_append_new(json_object_get(h, "sessions"), json_pack(
	    "{s:s, s:s, s:s, s:[s,s], s:s, s:i, s:i, s:i, s:I, s:I, s:{}, "
	    "s:[]}", "session", "s1", "user", "alice", "agent", "mailer",
	    "chain", "alice", "mailer", "purpose", "notify", "trust", 2,
	    "calls", 7, "denials", 1, "created", (json_int_t) 900000, "last",
	    (json_int_t) 990000, "tools", "grants"));
	return h;
}

START_TEST(test_apply_hello)
{
	tui_model *m = tui_model_new();
	json_t *h = hello();
	tui_sess *s;

	ck_assert_int_gt(tui_model_apply_hello(m, h, 999000), 0);
	json_decref(h);
	ck_assert_uint_eq(m->item_count, 2);
	ck_assert_str_eq(m->items[0]->request, "r-2"); /* due first */
	ck_assert_str_eq(m->operator_name, "carol");
	ck_assert_str_eq(m->posture, "normal");
	ck_assert_str_eq(m->policy, "default@1#abcd1234");
	ck_assert_int_eq(m->clock_offset_ms, 1000);
	ck_assert_int_eq(tui_model_server_now(m, 5000), 6000);
	ck_assert_uint_eq(m->sess_count, 1);
	s = tui_model_find_session(m, "s1");
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(s->trust, 2);
	ck_assert_int_eq(s->calls, 7);
	ck_assert_str_eq(tui_model_sess_selected(m)->session, "s1");
	/* a second snapshot replaces the first */
	h = hello();
	json_array_remove(json_object_get(h, "pending"), 0);
	tui_model_apply_hello(m, h, 999000);
	json_decref(h);
	ck_assert_uint_eq(m->item_count, 1);
	/* not a snapshot */
	h = json_pack("{s:s}", "type", "error");
	ck_assert_int_eq(tui_model_apply_hello(m, h, 0), -1);
	json_decref(h);
	tui_model_free(m);
}
END_TEST

START_TEST(test_apply_events)
{
	tui_model *m = tui_model_new();
	json_t *h = hello();
	int chg;

	tui_model_apply_hello(m, h, 1000000);
	json_decref(h);
	/* a new pending call */
	chg = event(m, "pending", item("r-3", "db.execute", 1000000,
	    1000500), 1000000);
	ck_assert(chg & TUI_CHG_QUEUE);
	ck_assert_uint_eq(m->item_count, 3);
	ck_assert_str_eq(m->items[0]->request, "r-3");
	/* a quorum approval re-sends the item with approvals */
	h = item("r-3", "db.execute", 1000000, 1000500);
	json_object_set_new(h, "approvers", json_integer(2));
	json_array_append_new(json_object_get(h, "approvals"),
	    json_string("dave"));
	event(m, "pending", h, 1000000);
	ck_assert_uint_eq(m->item_count, 3);
	ck_assert_int_eq(tui_model_find_item(m, "r-3")->approvals, 1);
	ck_assert_int_eq(tui_model_find_item(m, "r-3")->approvers, 2);
	/* decided elsewhere: removed, with a notice */
	chg = event(m, "resolved", json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
	    "request", "r-1", "decision", "allow", "by", "operator",
	    "operator", "dave", "tool", "email.send", "session", "s1"),
	    1002000);
	ck_assert(chg & TUI_CHG_QUEUE);
	ck_assert(chg & TUI_CHG_NOTICE);
	ck_assert_uint_eq(m->item_count, 2);
	ck_assert_ptr_null(tui_model_find_item(m, "r-1"));
	ck_assert_ptr_nonnull(strstr(m->notice, "r-1"));
	ck_assert_ptr_nonnull(strstr(m->notice, "approved by dave"));
	ck_assert_int_eq(tui_model_latency_p50(m), 12000);
	/* a timeout */
	event(m, "resolved", json_pack("{s:s, s:s, s:s}", "request", "r-2",
	    "decision", "deny", "by", "timeout"), 1002000);
	ck_assert_ptr_nonnull(strstr(m->notice, "timed out"));
	ck_assert_int_eq(tui_model_latency_p50(m), 12000); /* not human */
	/* resolved for a call never seen: no change to the queue */
	chg = event(m, "resolved", json_pack("{s:s, s:s, s:s}", "request",
	    "r-9", "decision", "allow", "by", "policy"), 1002000);
	ck_assert(!(chg & TUI_CHG_QUEUE));
	ck_assert_uint_eq(m->item_count, 1);
	/* session, posture, policy, health */
	chg = event(m, "session", json_pack("{s:s, s:s, s:s, s:i, s:I}",
	    "session", "s1", "user", "alice", "agent", "mailer", "trust", 0,
	    "created", (json_int_t) 900000), 0);
	ck_assert(chg & TUI_CHG_SESSIONS);
	ck_assert_int_eq(tui_model_find_session(m, "s1")->trust, 0);
	event(m, "session", json_pack("{s:s, s:s, s:s, s:i}", "session", "s2",
	    "user", "bob", "agent", "x", "trust", 3), 0);
	ck_assert_uint_eq(m->sess_count, 2);
	event(m, "posture", json_pack("{s:s, s:s}", "posture", "lockdown",
	    "operator", "dave"), 0);
	ck_assert_str_eq(m->posture, "lockdown");
	ck_assert_ptr_nonnull(strstr(m->notice, "lockdown"));
	event(m, "policy", json_pack("{s:s, s:b}", "policy", "default@2#ff",
	    "ok", 1), 0);
	ck_assert_str_eq(m->policy, "default@2#ff");
	event(m, "policy", json_pack("{s:s, s:b, s:s}", "policy",
	    "default@2#ff", "ok", 0, "error", "bad rule"), 0);
	ck_assert_str_eq(m->policy, "default@2#ff");
	ck_assert_ptr_nonnull(strstr(m->notice, "bad rule"));
	event(m, "health", json_pack("{s:s, s:s}", "audit", "unavailable",
	    "message", "disk full"), 0);
	ck_assert_str_eq(m->health, "disk full");
	event(m, "health", json_pack("{s:s}", "audit", "ok"), 0);
	ck_assert_ptr_null(m->health);
	tui_model_free(m);
}
END_TEST

START_TEST(test_bad_events)
{
	static const char *const frames[] = { "", "pending", "pending ",
		"pending {", "pending []", "pending {\"tool\":\"x\"}",
		"nosuchtopic {}", "resolved {\"request\":1}",
		"averyveryverylongtopicname {}", "session {\"a\":1}",
		"pending {\"request\":\"a\",\"request\":\"b\"}" };
	tui_model *m = tui_model_new();

	for (size_t i = 0; i < CS_ARRAY_LEN(frames); i++)
		ck_assert_int_eq(tui_model_apply_event(m, frames[i],
		    strlen(frames[i]), 0, 0) & ~TUI_CHG_HISTORY, 0);
	ck_assert_uint_eq(m->item_count, 0);
	ck_assert_uint_eq(m->sess_count, 0);
	tui_model_free(m);
}
END_TEST

START_TEST(test_latency_p50)
{
	tui_model *m = tui_model_new();

	ck_assert_int_eq(tui_model_latency_p50(m), -1);
	tui_model_note_latency(m, 5000);
	ck_assert_int_eq(tui_model_latency_p50(m), 5000);
	tui_model_note_latency(m, 1000);
	tui_model_note_latency(m, 3000);
	ck_assert_int_eq(tui_model_latency_p50(m), 3000);
	tui_model_note_latency(m, 4000);
	ck_assert_int_eq(tui_model_latency_p50(m), 3000); /* lower middle */
	tui_model_note_latency(m, -7);                    /* clock skew */
	ck_assert_int_eq(tui_model_latency_p50(m), 3000);
	/* the ring keeps the latest values only */
	for (int i = 0; i < TUI_LATENCY_RING; i++)
		tui_model_note_latency(m, 100);
	ck_assert_int_eq(tui_model_latency_p50(m), 100);
	tui_model_free(m);
}
END_TEST

START_TEST(test_conn_notices)
{
	tui_model *m = tui_model_new();

	ck_assert_int_eq(m->conn, TUI_CONN_CONNECTING);
	ck_assert(tui_model_set_conn(m, TUI_CONN_UP, 0) & TUI_CHG_STATUS);
	ck_assert_str_eq(m->notice, "connected");
	ck_assert_int_eq(tui_model_set_conn(m, TUI_CONN_UP, 0), 0);
	tui_model_set_conn(m, TUI_CONN_DOWN, 0);
	ck_assert_ptr_nonnull(strstr(m->notice, "disconnected"));
	ck_assert_ptr_nonnull(strstr(m->notice, "retrying"));
	tui_model_set_conn(m, TUI_CONN_UP, 0);
	ck_assert_str_eq(m->notice, "reconnected");
	tui_model_free(m);
}
END_TEST

START_TEST(test_history_cache)
{
	tui_model *m = tui_model_new();
	json_t *ev;

	ck_assert_int_eq(tui_model_hist_oldest_seq(m), 0);
	ck_assert(tui_model_hist_wants_more(m, 10));
	for (int64_t seq = 1000; seq > 500; seq--) {
		ev = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s}", "kind",
		    seq % 2 ? "decision" : "trust", "ts", (json_int_t) seq,
		    "decision", "deny", "by", "operator", "tool", "x",
		    "reason", "because", "operator", "carol");
		ck_assert_cs_ok(tui_model_hist_add(m, seq, ev));
		json_decref(ev);
	}
	ck_assert_uint_eq(m->hist_count, 500);
	ck_assert_int_eq(tui_model_hist_oldest_seq(m), 501);
	ck_assert(!tui_model_hist_wants_more(m, 10));
	tui_model_hist_move(m, 495);
	ck_assert(tui_model_hist_wants_more(m, 10));
	m->hist_done = true;
	ck_assert(!tui_model_hist_wants_more(m, 10));
	ck_assert_int_eq(tui_model_hist_selected(m)->seq, 505);
	ck_assert_str_eq(m->hist[0].what, "trust -1 -> -1 by carol: because");
	ck_assert_str_eq(m->hist[1].what, "because");
	/* a new history filter forgets the cache */
	ck_assert_cs_ok(tui_model_set_filter(m, 2, "decision:deny", NULL));
	ck_assert_uint_eq(m->hist_count, 0);
	ck_assert(!m->hist_done);
	ck_assert_str_eq(m->hist_filter.decision, "deny");
	tui_model_free(m);
}
END_TEST

/* ---- line editor ------------------------------------------------------ */

/* Type a UTF-8 string into the prompt, one character at a time. */
static void
type(tui_prompt *p, const char *s)
{
	const unsigned char *u = (const unsigned char *) s;
	size_t len = strlen(s), at = 0;

	while (at < len) {
		uint32_t cp;
		size_t n = tui_text_utf8_decode(u + at, len - at, &cp);

		ck_assert_uint_gt(n, 0);
		ck_assert_int_eq(tui_prompt_key(p, (int) cp, true),
		    TUI_PROMPT_CONTINUE);
		at += n;
	}
}

START_TEST(test_prompt_edit)
{
	tui_prompt p;

	tui_prompt_open(&p, TUI_PROMPT_TEXT, 7, "reason: ", NULL, NULL,
	    "r-1");
	ck_assert(p.active);
	ck_assert_str_eq(p.target, "r-1");
	type(&p, "h\xc3\xa9llo");
	ck_assert_str_eq(p.buf, "h\xc3\xa9llo");
	tui_prompt_key(&p, KEY_BACKSPACE, false);
	ck_assert_str_eq(p.buf, "h\xc3\xa9ll");
	tui_prompt_key(&p, KEY_LEFT, false);
	tui_prompt_key(&p, KEY_LEFT, false);
	tui_prompt_key(&p, KEY_LEFT, false);
	ck_assert_uint_eq(tui_prompt_cursor_chars(&p), 1);
	tui_prompt_key(&p, 127, true); /* DEL as backspace */
	ck_assert_str_eq(p.buf, "\xc3\xa9ll");
	tui_prompt_key(&p, KEY_DC, false);
	ck_assert_str_eq(p.buf, "ll");
	/* controls and escape sequences never get in */
	tui_prompt_key(&p, 0x07, true);
	tui_prompt_key(&p, 0x200B, true);
	tui_prompt_key(&p, 0x202E, true);
	tui_prompt_key(&p, 0x9B, true);
	ck_assert_str_eq(p.buf, "ll");
	tui_prompt_key(&p, KEY_END, false);
	type(&p, " ok now");
	tui_prompt_key(&p, 'w' & 0x1f, true);
	ck_assert_str_eq(p.buf, "ll ok ");
	tui_prompt_key(&p, 'u' & 0x1f, true);
	ck_assert_str_eq(p.buf, "");
	type(&p, "done");
	ck_assert_int_eq(tui_prompt_key(&p, '\r', true), TUI_PROMPT_ACCEPT);
	ck_assert_str_eq(p.buf, "done");
	ck_assert_int_eq(tui_prompt_key(&p, 27, true), TUI_PROMPT_CANCEL);
	/* the buffer is bounded */
	tui_prompt_open(&p, TUI_PROMPT_TEXT, 0, "x", NULL, NULL, NULL);
	for (int i = 0; i < TUI_PROMPT_MAX + 50; i++)
		tui_prompt_key(&p, 'x', true);
	ck_assert_uint_eq(p.len, TUI_PROMPT_MAX);
	tui_prompt_close(&p);
	ck_assert(!p.active);
}
END_TEST

START_TEST(test_prompt_choice)
{
	tui_prompt p;

	tui_prompt_open(&p, TUI_PROMPT_CHOICE, 1, "sure? y/N", NULL, "ny",
	    "r-1");
	ck_assert_int_eq(tui_prompt_key(&p, 'x', true), TUI_PROMPT_CONTINUE);
	ck_assert_int_eq(tui_prompt_key(&p, '\r', true), TUI_PROMPT_ACCEPT);
	ck_assert_str_eq(p.buf, "n"); /* Enter takes the safe default */
	tui_prompt_open(&p, TUI_PROMPT_CHOICE, 1, "sure? y/N", NULL, "ny",
	    "r-1");
	ck_assert_int_eq(tui_prompt_key(&p, 'y', true), TUI_PROMPT_ACCEPT);
	ck_assert_str_eq(p.buf, "y");
	tui_prompt_open(&p, TUI_PROMPT_CHOICE, 1, "level", "", "201", "s1");
	ck_assert_int_eq(tui_prompt_key(&p, 27, true), TUI_PROMPT_CANCEL);
}
END_TEST

static Suite *
tui_suite(void)
{
	Suite *s = suite_create("tui");
	TCase *tc;

	tc = tcase_create("tui_text_clean");
	tcase_add_loop_test(tc, test_clean_table, 0,
	    (int) CS_ARRAY_LEN(clean_cases));
	tcase_add_test(tc, test_clean_long);
	tcase_add_test(tc, test_clean_dup);
	tcase_add_test(tc, test_clean_every_code_point);
	tcase_add_test(tc, test_clean_every_byte_pair);
	tcase_add_test(tc, test_text_fit);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	tc = tcase_create("tui_model_queue");
	tcase_add_test(tc, test_queue_order);
	tcase_add_test(tc, test_queue_cursor_follows);
	tcase_add_test(tc, test_filters);
	tcase_add_test(tc, test_queue_against_reference);
	tcase_add_test(tc, test_queue_many);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	tc = tcase_create("tui_fmt");
	tcase_add_loop_test(tc, test_countdown, 0,
	    (int) CS_ARRAY_LEN(countdowns));
	tcase_add_test(tc, test_age);
	suite_add_tcase(s, tc);

	tc = tcase_create("tui_model_apply");
	tcase_add_test(tc, test_apply_hello);
	tcase_add_test(tc, test_apply_events);
	tcase_add_test(tc, test_bad_events);
	tcase_add_test(tc, test_latency_p50);
	tcase_add_test(tc, test_conn_notices);
	tcase_add_test(tc, test_history_cache);
	suite_add_tcase(s, tc);

	tc = tcase_create("tui_prompt");
	tcase_add_test(tc, test_prompt_edit);
	tcase_add_test(tc, test_prompt_choice);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(tui_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
