/* tui_text.c: sanitizing agent-supplied strings before they are drawn.
 * SPDX-License-Identifier: MIT */
#define _XOPEN_SOURCE 700
#include "tui_text.h"

#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* Format characters (Unicode category Cf) and separators, inclusive. */
static const struct {
	uint32_t lo, hi;
} unsafe_ranges[] = {
	{ 0x0000, 0x001F }, { 0x007F, 0x009F }, { 0x00AD, 0x00AD },
	{ 0x0600, 0x0605 }, { 0x061C, 0x061C }, { 0x06DD, 0x06DD },
	{ 0x070F, 0x070F }, { 0x0890, 0x0891 }, { 0x08E2, 0x08E2 },
	{ 0x180E, 0x180E }, { 0x200B, 0x200F }, { 0x2028, 0x202E },
	{ 0x2060, 0x2064 }, { 0x2066, 0x206F }, { 0xFEFF, 0xFEFF },
	{ 0xFFF9, 0xFFFB }, { 0x110BD, 0x110BD }, { 0x110CD, 0x110CD },
	{ 0x13430, 0x1343F }, { 0x1BCA0, 0x1BCA3 }, { 0x1D173, 0x1D17A },
	{ 0xE0001, 0xE0001 }, { 0xE0020, 0xE007F },
};

bool
tui_text_is_unsafe(uint32_t cp)
{
	for (size_t i = 0; i < sizeof unsafe_ranges / sizeof unsafe_ranges[0];
	    i++)
		if (cp >= unsafe_ranges[i].lo && cp <= unsafe_ranges[i].hi)
			return true;
	return cp >= 0xD800 && cp <= 0xDFFF;
}

size_t
tui_text_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	unsigned char b = s[0];
	unsigned char lo = 0x80, hi = 0xBF;
	size_t need, i;
	uint32_t v;

	if (b < 0x80) {
		*cp = b;
		return 1;
	}
	if (b >= 0xC2 && b <= 0xDF) {
		need = 1;
		v = b & 0x1F;
	} else if (b >= 0xE0 && b <= 0xEF) {
		need = 2;
		v = b & 0x0F;
		if (b == 0xE0)
			lo = 0xA0; /* overlong */
		else if (b == 0xED)
			hi = 0x9F; /* surrogates */
	} else if (b >= 0xF0 && b <= 0xF4) {
		need = 3;
		v = b & 0x07;
		if (b == 0xF0)
			lo = 0x90; /* overlong */
		else if (b == 0xF4)
			hi = 0x8F; /* above U+10FFFF */
	} else {
		*cp = 1; /* C0, C1 lead, F5..FF or a stray continuation */
		return 0;
	}
	for (i = 1; i <= need; i++) {
		if (i >= len || s[i] < lo || s[i] > hi) {
			*cp = (uint32_t) i;
			return 0;
		}
		v = (v << 6) | (s[i] & 0x3F);
		lo = 0x80;
		hi = 0xBF;
	}
	*cp = v;
	return need + 1;
}

size_t
tui_text_utf8_encode(uint32_t cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char) cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char) (0xC0 | (cp >> 6));
		out[1] = (char) (0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char) (0xE0 | (cp >> 12));
		out[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char) (0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char) (0xF0 | (cp >> 18));
	out[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char) (0x80 | (cp & 0x3F));
	return 4;
}

/* The next code point at s[*i] without validation errors: invalid bytes
 * read as U+FFFD. Advances *i. */
static uint32_t
next_cp(const unsigned char *s, size_t len, size_t *i)
{
	uint32_t cp;
	size_t n = tui_text_utf8_decode(s + *i, len - *i, &cp);

	if (n == 0) {
		*i += cp;
		return 0xFFFD;
	}
	*i += n;
	return cp;
}

/* Skip a CSI body: parameter bytes 0x30-0x3F, intermediates 0x20-0x2F,
 * then one final byte 0x40-0x7E. Stops before anything else. */
static void
skip_csi(const unsigned char *s, size_t len, size_t *i)
{
	while (*i < len && s[*i] >= 0x20 && s[*i] <= 0x3F)
		(*i)++;
	if (*i < len && s[*i] >= 0x40 && s[*i] <= 0x7E)
		(*i)++;
}

/* After ESC at s[*i - 1]: skip the rest of the sequence. */
static void
skip_escape(const unsigned char *s, size_t len, size_t *i)
{
	unsigned char c;

	if (*i >= len)
		return;
	c = s[*i];
	if (c == '[') {
		(*i)++;
		skip_csi(s, len, i);
	} else if (c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_') {
		/* a control string: its introducer goes, its body stays in
		 * sight as plain text (hiding it up to a terminator would let
		 * an agent hide whatever follows, an amount, a recipient) */
		(*i)++;
	} else if (c >= 0x20 && c <= 0x2F) {
		while (*i < len && s[*i] >= 0x20 && s[*i] <= 0x2F)
			(*i)++;
		if (*i < len && s[*i] >= 0x30 && s[*i] <= 0x7E)
			(*i)++;
	} else if (c >= 0x30 && c <= 0x7E) {
		(*i)++;
	}
}

/* Output under construction. */
struct sink {
	char *out;
	size_t size, len;
	int max_cols, cols, ell_cols;
	size_t fit_len; /* length that still leaves room for the ellipsis */
	int fit_cols;
	bool full;
};

/* Append one token of width w; false when it does not fit. */
static bool
sink_put(struct sink *k, const char *bytes, size_t n, int w)
{
	if (k->max_cols >= 0 && k->cols + w > k->max_cols)
		return false;
	if (k->len + n + 4 >= k->size) /* keep room for ellipsis and NUL */
		return false;
	memcpy(k->out + k->len, bytes, n);
	k->len += n;
	k->cols += w;
	if (k->max_cols < 0 || k->cols <= k->max_cols - k->ell_cols) {
		k->fit_len = k->len;
		k->fit_cols = k->cols;
	}
	return true;
}

int
tui_text_clean(const char *in, size_t in_len, int max_cols, int flags,
    char *out, size_t out_size, bool *truncated)
{
	const unsigned char *s = (const unsigned char *) in;
	bool ascii = (flags & TUI_TEXT_ASCII) != 0;
	struct sink k = { .out = out, .size = out_size, .max_cols = max_cols,
		.ell_cols = ascii ? 3 : 1 };
	size_t i = 0;
	bool cut = false;

	if (in == NULL)
		in_len = 0;
	while (i < in_len) {
		size_t at = i;
		uint32_t cp = next_cp(s, in_len, &i);
		char enc[4];
		const char *tok = enc;
		size_t n = 1;
		int w = 1;

		if (cp == 0x1B || cp == 0x9B || cp == 0x9D || cp == 0x90 ||
		    cp == 0x98 || cp == 0x9E || cp == 0x9F || cp == 0x9C) {
			/* ESC drops its sequence (a CSI's parameters and an
			 * escape's one final byte: never free text); a C1
			 * introducer or terminator drops nothing but itself */
			if (cp == 0x1B)
				skip_escape(s, in_len, &i);
			tok = ascii ? "?" : TUI_TEXT_ESC_MARK;
			n = strlen(tok);
		} else if (cp == '\t') {
			enc[0] = ' ';
		} else if (cp < 0x20 || cp == 0x7F) {
			if (ascii)
				enc[0] = '?';
			else
				n = tui_text_utf8_encode(cp == 0x7F ? 0x2421 :
				    0x2400 + cp, enc);
		} else if (cp < 0x80) {
			enc[0] = (char) cp;
		} else if (ascii) {
			enc[0] = cp == 0x2013 || cp == 0x2014 ? '-' : '?';
		} else if (cp == 0xFFFD || tui_text_is_unsafe(cp) ||
		    (w = wcwidth((wchar_t) cp)) < 0) {
			tok = TUI_TEXT_REPLACEMENT;
			n = strlen(tok);
			w = 1;
		} else {
			tok = in + at; /* valid and displayable: copy as is */
			n = i - at;
		}
		if (!sink_put(&k, tok, n, w)) {
			cut = true;
			break;
		}
	}
	if (cut) {
		const char *ell = ascii ? "..." : TUI_TEXT_ELLIPSIS;

		k.len = k.fit_len;
		k.cols = k.fit_cols;
		if (max_cols < 0 || max_cols >= k.ell_cols) {
			memcpy(k.out + k.len, ell, strlen(ell));
			k.len += strlen(ell);
			k.cols += k.ell_cols;
		} else {
			k.len = 0;
			k.cols = 0;
			for (int c = 0; c < max_cols; c++)
				k.out[k.len++] = '.';
			k.cols = max_cols;
		}
	}
	out[k.len] = '\0';
	if (truncated != NULL)
		*truncated = cut;
	return k.cols;
}

char *
tui_text_dup(const char *in, int max_cols, int flags)
{
	size_t len = in != NULL ? strlen(in) : 0;
	size_t size = len * 3 + 16;
	char *out;

	if ((out = malloc(size)) == NULL)
		return NULL;
	tui_text_clean(in, len, max_cols, flags, out, size, NULL);
	return out;
}

int
tui_text_width(const char *in, int flags)
{
	char buf[1024];
	size_t len = in != NULL ? strlen(in) : 0;
	char *big;
	int w;

	if (len * 3 + 16 <= sizeof buf)
		return tui_text_clean(in, len, -1, flags, buf, sizeof buf, NULL);
	if ((big = malloc(len * 3 + 16)) == NULL)
		return (int) len;
	w = tui_text_clean(in, len, -1, flags, big, len * 3 + 16, NULL);
	free(big);
	return w;
}

size_t
tui_text_fit(const char *clean, int max_cols, int *cols)
{
	const unsigned char *s = (const unsigned char *) clean;
	size_t len = strlen(clean), at = 0;
	int used = 0;

	while (at < len) {
		uint32_t cp;
		size_t n = tui_text_utf8_decode(s + at, len - at, &cp);
		int w;

		if (n == 0) {
			n = cp; /* not clean after all: count a column each */
			w = 1;
		} else {
			w = cp < 0x80 ? 1 : wcwidth((wchar_t) cp);
			if (w < 0)
				w = 1;
		}
		if (used + w > max_cols)
			break;
		used += w;
		at += n;
	}
	if (cols != NULL)
		*cols = used;
	return at;
}
