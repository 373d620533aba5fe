/* fuzz_sanitize.c: libFuzzer target for the console's string sanitizer,
 * tui_text_clean and its helpers, in a UTF-8 locale. Input:
 *   FLAGS MAX_COLS OUT_SIZE TEXT...
 * FLAGS bit 0 asks for ASCII output; MAX_COLS >= 200 means no cut, else
 * columns % 64; OUT_SIZE < 128 means an output buffer of 8 + OUT_SIZE
 * bytes, else one large enough for anything. Whatever comes out must be
 * valid UTF-8 without controls or format characters, and fit what was
 * asked. Start-up also sweeps every code point once.
 * SPDX-License-Identifier: MIT */
#define _XOPEN_SOURCE 700
#include "fuzz.h"
#include "tui_text.h"

#include <locale.h>
#include <string.h>
#include <wchar.h>

#define SAN_ELLIPSIS "\xe2\x80\xa6"

/* Code points that must never reach the terminal: Unicode 14 categories
 * Cc, Cf, Zl, Zp and Cs (C0, DEL, C1, ESC, soft hyphen, bidi embeddings,
 * overrides and isolates, zero-width characters, line and paragraph
 * separators, the BOM, tags, ...). Written out from the Unicode data
 * rather than taken from tui_text.c, so that each checks the other. */
static const struct {
	uint32_t lo, hi;
} forbidden_ranges[] = {
	{ 0x0000, 0x001F }, { 0x007F, 0x009F }, { 0x00AD, 0x00AD },
	{ 0x0600, 0x0605 }, { 0x061C, 0x061C }, { 0x06DD, 0x06DD },
	{ 0x070F, 0x070F }, { 0x0890, 0x0891 }, { 0x08E2, 0x08E2 },
	{ 0x180E, 0x180E }, { 0x200B, 0x200F }, { 0x2028, 0x202E },
	{ 0x2060, 0x2064 }, { 0x2066, 0x206F }, { 0xD800, 0xDFFF },
	{ 0xFEFF, 0xFEFF }, { 0xFFF9, 0xFFFB }, { 0x110BD, 0x110BD },
	{ 0x110CD, 0x110CD }, { 0x13430, 0x13438 }, { 0x1BCA0, 0x1BCA3 },
	{ 0x1D173, 0x1D17A }, { 0xE0001, 0xE0001 }, { 0xE0020, 0xE007F },
};

/* Whether cp must never be in the output. */
static bool
forbidden(uint32_t cp)
{
	if (cp > 0x10FFFF)
		return true;
	for (size_t i = 0; i < sizeof forbidden_ranges /
	    sizeof forbidden_ranges[0]; i++) {
		if (cp >= forbidden_ranges[i].lo &&
		    cp <= forbidden_ranges[i].hi)
			return true;
	}
	return false;
}

/* Decode one strictly valid UTF-8 character (RFC 3629: shortest form, no
 * surrogates, at most U+10FFFF); its length, or 0 when invalid. Written
 * here again so as not to trust tui_text_utf8_decode. */
static size_t
utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
	size_t need;
	uint32_t v, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xE0) == 0xC0) {
		need = 1, v = s[0] & 0x1F, min = 0x80;
	} else if ((s[0] & 0xF0) == 0xE0) {
		need = 2, v = s[0] & 0x0F, min = 0x800;
	} else if ((s[0] & 0xF8) == 0xF0) {
		need = 3, v = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (need >= len)
		return 0;
	for (size_t i = 1; i <= need; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return need + 1;
}

/* Display width of one character as the sanitizer counts it. */
static int
cp_width(uint32_t cp)
{
	int w = cp < 0x80 ? 1 : wcwidth((wchar_t) cp);

	return w < 0 ? 1 : w;
}

/* Check that out (NUL-ended) is safe to draw and return its width:
 * valid UTF-8, nothing forbidden, only printable ASCII when ascii. what
 * names the output in messages. */
static int
check_safe(const char *out, bool ascii, const char *what)
{
	const unsigned char *s = (const unsigned char *) out;
	size_t len = strlen(out), at = 0;
	int width = 0;

	while (at < len) {
		uint32_t cp = 0;
		size_t n = utf8_next(s + at, len - at, &cp);

		FUZZ_CHECK(n > 0, "%s: invalid UTF-8 at byte %zu (0x%02x)",
		    what, at, s[at]);
		FUZZ_CHECK(!forbidden(cp), "%s: holds U+%04X at byte %zu",
		    what, (unsigned) cp, at);
		FUZZ_CHECK(!ascii || (cp >= 0x20 && cp < 0x7F), "%s: ASCII "
		    "output holds U+%04X", what, (unsigned) cp);
		width += cp_width(cp);
		at += n;
	}
	return width;
}

/* Clean len bytes of in without a cut into a new buffer of the size
 * tui_text_dup uses; *cols gets the width. */
static char *
clean_all(const char *in, size_t len, int flags, int *cols)
{
	size_t size = len * 3 + 16;
	char *out = malloc(size);
	bool cut = true;

	if (out == NULL)
		abort();
	*cols = tui_text_clean(in, len, -1, flags, out, size, &cut);
	FUZZ_CHECK(!cut, "a buffer of 3 * %zu + 16 bytes was too small",
	    len);
	FUZZ_CHECK(strlen(out) < size, "output overran its buffer");
	return out;
}

/* Check a cut of in to max_cols columns within out_size bytes against
 * the uncut text full. */
static void
check_cut(const char *in, size_t len, int max_cols, int flags,
    size_t out_size, const char *full)
{
	bool ascii = (flags & TUI_TEXT_ASCII) != 0, cut = false;
	const char *ell = ascii ? "..." : SAN_ELLIPSIS;
	int ell_cols = ascii ? 3 : 1, cols, width;
	char *out = malloc(out_size);
	size_t out_len, keep;

	if (out == NULL)
		abort();
	cols = tui_text_clean(in, len, max_cols, flags, out, out_size, &cut);
	out_len = strlen(out);
	FUZZ_CHECK(out_len < out_size, "output overran its buffer");
	width = check_safe(out, ascii, "cut output");
	FUZZ_CHECK(cols == width, "returned %d columns, wrote %d", cols,
	    width);
	FUZZ_CHECK(max_cols < 0 || cols <= max_cols, "%d columns for a "
	    "limit of %d", cols, max_cols);
	if (!cut) {
		FUZZ_CHECK(strcmp(out, full) == 0, "not cut, but not the "
		    "whole text either");
	} else if (max_cols >= 0 && max_cols < ell_cols) {
		FUZZ_CHECK(out_len == (size_t) max_cols &&
		    strspn(out, ".") == out_len, "cut to %d columns as \"%s\"",
		    max_cols, out);
	} else {
		keep = out_len - strlen(ell);
		FUZZ_CHECK(out_len >= strlen(ell) &&
		    strcmp(out + keep, ell) == 0, "cut without an ellipsis");
		FUZZ_CHECK(keep < strlen(full) &&
		    strncmp(out, full, keep) == 0, "cut text is not a "
		    "strict prefix of the whole");
	}
	free(out);
}

/* Check tui_text_fit on clean text for max_cols columns. */
static void
check_fit(const char *clean, int max_cols)
{
	const unsigned char *s = (const unsigned char *) clean;
	size_t len = strlen(clean), at;
	int cols = -1, width = 0;
	uint32_t cp = 0;

	at = tui_text_fit(clean, max_cols, &cols);
	FUZZ_CHECK(at <= len, "fit %zu of %zu bytes", at, len);
	FUZZ_CHECK(at == len || (s[at] & 0xC0) != 0x80, "fit split a "
	    "character at byte %zu", at);
	for (size_t i = 0; i < at;) {
		size_t n = utf8_next(s + i, len - i, &cp);

		FUZZ_CHECK(n > 0, "clean text is not UTF-8");
		width += cp_width(cp);
		i += n;
	}
	FUZZ_CHECK(cols == width && cols <= max_cols, "fit %d columns "
	    "(counted %d) in %d", cols, width, max_cols);
	if (at < len && utf8_next(s + at, len - at, &cp) > 0)
		FUZZ_CHECK(width + cp_width(cp) > max_cols, "fit stopped "
		    "with room for U+%04X", (unsigned) cp);
}

/* Check one input in one mode: the whole text, its idempotence, the
 * NUL-ended helpers, a cut and a fit. */
static void
check_text(const char *in, size_t len, int flags, int max_cols,
    size_t out_size)
{
	bool ascii = (flags & TUI_TEXT_ASCII) != 0;
	char *full, *again, *copy, *dup, *prefix;
	int cols, cols_again, cols_prefix;

	full = clean_all(in, len, flags, &cols);
	FUZZ_CHECK(cols == check_safe(full, ascii, "output"), "returned %d "
	    "columns for a text %d wide", cols, check_safe(full, ascii, ""));
	again = clean_all(full, strlen(full), flags, &cols_again);
	FUZZ_CHECK(strcmp(again, full) == 0 && cols_again == cols,
	    "cleaning twice changed the text");
	free(again);

	/* The NUL-ended helpers see the text up to its first NUL. */
	if ((copy = malloc(len + 1)) == NULL)
		abort();
	memcpy(copy, in, len);
	copy[len] = '\0';
	prefix = clean_all(copy, strlen(copy), flags, &cols_prefix);
	dup = tui_text_dup(copy, -1, flags);
	FUZZ_CHECK(dup != NULL && strcmp(dup, prefix) == 0, "tui_text_dup "
	    "differs from tui_text_clean");
	FUZZ_CHECK(tui_text_width(copy, flags) == cols_prefix,
	    "tui_text_width differs from tui_text_clean");
	free(dup);
	free(prefix);
	free(copy);

	check_cut(in, len, max_cols, flags, out_size != 0 ? out_size :
	    len * 3 + 16, full);
	check_fit(full, max_cols >= 0 ? max_cols : 40);
	free(full);
}

/* Encode any value up to U+10FFFF the UTF-8 way, surrogates included. */
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

/* Clean "a" cp "b" every way and check the outputs; a harmless,
 * displayable character must come through unchanged. */
static void
sweep_one(uint32_t cp)
{
	unsigned char in[8];
	char out[64];
	size_t n = encode_any(cp, in + 1);

	in[0] = 'a';
	in[n + 1] = 'b';
	tui_text_clean((const char *) in, n + 2, -1, 0, out, sizeof out, NULL);
	(void) check_safe(out, false, "sweep");
	if (!forbidden(cp) && wcwidth((wchar_t) cp) >= 0) {
		FUZZ_CHECK(strlen(out) == n + 2 && memcmp(out, in, n + 2) == 0,
		    "U+%04X, displayable and harmless, did not come through",
		    (unsigned) cp);
	}
	tui_text_clean((const char *) in + 1, n, 1, 0, out, sizeof out, NULL);
	(void) check_safe(out, false, "sweep, cut to 1 column");
	tui_text_clean((const char *) in, n + 2, -1, TUI_TEXT_ASCII, out,
	    sizeof out, NULL);
	(void) check_safe(out, true, "sweep, ASCII");
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void) argc;
	(void) argv;
	if (setlocale(LC_CTYPE, "C.UTF-8") == NULL &&
	    setlocale(LC_CTYPE, "en_US.UTF-8") == NULL) {
		fprintf(stderr, "fuzz_sanitize: no UTF-8 locale\n");
		abort();
	}
	for (uint32_t cp = 0; cp <= 0x10FFFF; cp++)
		sweep_one(cp);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int flags, max_cols;
	size_t out_size;

	if (size < 3)
		return 0;
	flags = (data[0] & 1) != 0 ? TUI_TEXT_ASCII : 0;
	max_cols = data[1] >= 200 ? -1 : data[1] % 64;
	out_size = data[2] < 128 ? 8 + (size_t) data[2] : 0;
	check_text((const char *) data + 3, size - 3, flags, max_cols,
	    out_size);
	return 0;
}
