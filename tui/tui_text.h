/* tui_text.h: making agent-supplied text safe to draw: control characters,
 * escape sequences, bidi and other format characters and invalid UTF-8 are
 * replaced by visible, inert marks; text is cut to a display width with a
 * visible ellipsis. Nothing here knows about curses.
 * SPDX-License-Identifier: MIT */
#ifndef TUI_TEXT_H
#define TUI_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	TUI_TEXT_ASCII = 1, /* the terminal is not UTF-8: emit ASCII only */
};

/* Marks used in place of what cannot be shown. */
#define TUI_TEXT_REPLACEMENT "\xef\xbf\xbd" /* U+FFFD, invalid or unsafe */
#define TUI_TEXT_ESC_MARK "\xe2\x90\x9b"    /* U+241B, an escape sequence */
#define TUI_TEXT_ELLIPSIS "\xe2\x80\xa6"    /* U+2026, text was cut */

/* tui_text_clean writes a safe copy of in_len bytes of in to out (at most
 * out_size bytes including the NUL; out_size must be at least 8).
 * - an escape sequence (ESC or a C1 introducer: CSI, OSC, DCS, SOS, PM,
 *   APC, with its parameters and string up to its terminator) becomes one
 *   U+241B mark;
 * - a tab becomes a space; other C0 controls become their control
 *   pictures (U+2400 + c), DEL becomes U+2421;
 * - other C1 controls, bidi overrides and isolates, zero-width and other
 *   format characters, line and paragraph separators, characters the
 *   locale cannot display, and every invalid UTF-8 byte (overlong forms,
 *   surrogates, values above U+10FFFF, stray continuation bytes) become
 *   U+FFFD;
 * - with TUI_TEXT_ASCII every mark and every non-ASCII character is '?'.
 * When max_cols >= 0 the result is cut to at most max_cols display columns
 * and ends in an ellipsis ("..." in ASCII) when anything was cut. Returns
 * the number of display columns written; *truncated (may be NULL) tells
 * whether anything was cut. Display widths come from wcwidth(), so the
 * caller sets a UTF-8 LC_CTYPE first when not using TUI_TEXT_ASCII. */
int tui_text_clean(const char *in, size_t in_len, int max_cols, int flags,
    char *out, size_t out_size, bool *truncated);

/* tui_text_dup returns a new, cleaned copy of the NUL-terminated in, cut
 * to max_cols columns (-1: no cut); NULL on OOM. NULL in gives "". */
char *tui_text_dup(const char *in, int max_cols, int flags);

/* tui_text_width returns the display width of in once cleaned. */
int tui_text_width(const char *in, int flags);

/* tui_text_fit returns how many bytes of clean (text already cleaned, so
 * valid UTF-8 without controls) fit in max_cols display columns, never
 * splitting a character; *cols (may be NULL) gets their width. */
size_t tui_text_fit(const char *clean, int max_cols, int *cols);

/* tui_text_is_unsafe reports whether code point cp may not reach the
 * terminal as is: C0, DEL, C1, bidi controls, format characters and
 * separators. */
bool tui_text_is_unsafe(uint32_t cp);

/* tui_text_utf8_decode decodes one strictly valid UTF-8 sequence at s
 * (len bytes available) into *cp and returns its length, or returns 0 when
 * the bytes are not valid UTF-8 (overlong, surrogate, > U+10FFFF,
 * truncated, stray continuation); then *cp is the number of bytes that
 * form the invalid maximal subpart (at least 1). */
size_t tui_text_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);

/* tui_text_utf8_encode writes cp as UTF-8 into out (4 bytes) and returns
 * its length. */
size_t tui_text_utf8_encode(uint32_t cp, char out[4]);

#endif
