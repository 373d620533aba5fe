/* tui_prompt.c: the modal line editor.
 * SPDX-License-Identifier: MIT */
#define _XOPEN_SOURCE 700
#define NCURSES_WIDECHAR 1
#include "tui_prompt.h"

#include <stdio.h>
#include <string.h>

#include <curses.h>

#include "tui_text.h"

#define CTRL(c) ((c) & 0x1f)

void
tui_prompt_open(tui_prompt *p, enum tui_prompt_kind kind, int action,
    const char *label, const char *initial, const char *choices,
    const char *target)
{
	memset(p, 0, sizeof *p);
	p->active = true;
	p->kind = kind;
	p->action = action;
	snprintf(p->label, sizeof p->label, "%s", label != NULL ? label : "");
	snprintf(p->choices, sizeof p->choices, "%s",
	    choices != NULL ? choices : "");
	snprintf(p->target, sizeof p->target, "%s",
	    target != NULL ? target : "");
	if (initial != NULL) {
		snprintf(p->buf, sizeof p->buf, "%s", initial);
		p->len = p->cursor = strlen(p->buf);
	}
}

void
tui_prompt_close(tui_prompt *p)
{
	p->active = false;
}

/* Whether byte c continues a UTF-8 sequence. */
static bool
is_cont(char c)
{
	return ((unsigned char) c & 0xC0) == 0x80;
}

/* Start of the character before the cursor. */
static size_t
prev_char(const tui_prompt *p, size_t at)
{
	if (at == 0)
		return 0;
	at--;
	while (at > 0 && is_cont(p->buf[at]))
		at--;
	return at;
}

/* Start of the character after at. */
static size_t
next_char(const tui_prompt *p, size_t at)
{
	if (at >= p->len)
		return p->len;
	at++;
	while (at < p->len && is_cont(p->buf[at]))
		at++;
	return at;
}

/* Remove bytes [from, to). */
static void
cut(tui_prompt *p, size_t from, size_t to)
{
	memmove(p->buf + from, p->buf + to, p->len - to + 1);
	p->len -= to - from;
	p->cursor = from;
}

/* Insert one character at the cursor; controls are refused. */
static void
insert(tui_prompt *p, int ch)
{
	char enc[4];
	size_t n;

	if (ch < 0x20 || ch == 0x7F || (ch >= 0x80 && ch <= 0x9F) ||
	    ch > 0x10FFFF || tui_text_is_unsafe((uint32_t) ch))
		return;
	n = tui_text_utf8_encode((uint32_t) ch, enc);
	if (p->len + n > TUI_PROMPT_MAX)
		return;
	memmove(p->buf + p->cursor + n, p->buf + p->cursor,
	    p->len - p->cursor + 1);
	memcpy(p->buf + p->cursor, enc, n);
	p->len += n;
	p->cursor += n;
}

/* A choice prompt: one key out of the set. */
static enum tui_prompt_result
choice_key(tui_prompt *p, int key, bool is_char)
{
	if (is_char && (key == 27 || key == CTRL('g') || key == CTRL('c')))
		return TUI_PROMPT_CANCEL;
	if ((is_char && (key == '\n' || key == '\r')) ||
	    (!is_char && key == KEY_ENTER)) {
		if (p->choices[0] == '\0')
			return TUI_PROMPT_CONTINUE;
		p->buf[0] = p->choices[0];
		p->buf[1] = '\0';
		p->len = p->cursor = 1;
		return TUI_PROMPT_ACCEPT;
	}
	if (is_char && key > 0x20 && key < 0x7F &&
	    strchr(p->choices, key) != NULL) {
		p->buf[0] = (char) key;
		p->buf[1] = '\0';
		p->len = p->cursor = 1;
		return TUI_PROMPT_ACCEPT;
	}
	return TUI_PROMPT_CONTINUE;
}

enum tui_prompt_result
tui_prompt_key(tui_prompt *p, int key, bool is_char)
{
	size_t at;

	if (!p->active)
		return TUI_PROMPT_CANCEL;
	if (p->kind == TUI_PROMPT_CHOICE)
		return choice_key(p, key, is_char);
	if (is_char) {
		switch (key) {
		case '\n':
		case '\r':
			return TUI_PROMPT_ACCEPT;
		case 27:
		case CTRL('g'):
		case CTRL('c'):
			return TUI_PROMPT_CANCEL;
		case 127:
		case CTRL('h'):
			if (p->cursor > 0)
				cut(p, prev_char(p, p->cursor), p->cursor);
			return TUI_PROMPT_CONTINUE;
		case CTRL('d'):
			cut(p, p->cursor, next_char(p, p->cursor));
			return TUI_PROMPT_CONTINUE;
		case CTRL('a'):
			p->cursor = 0;
			return TUI_PROMPT_CONTINUE;
		case CTRL('e'):
			p->cursor = p->len;
			return TUI_PROMPT_CONTINUE;
		case CTRL('b'):
			p->cursor = prev_char(p, p->cursor);
			return TUI_PROMPT_CONTINUE;
		case CTRL('f'):
			p->cursor = next_char(p, p->cursor);
			return TUI_PROMPT_CONTINUE;
		case CTRL('u'):
			cut(p, 0, p->cursor);
			return TUI_PROMPT_CONTINUE;
		case CTRL('k'):
			cut(p, p->cursor, p->len);
			return TUI_PROMPT_CONTINUE;
		case CTRL('w'):
			at = p->cursor;
			while (at > 0 && p->buf[at - 1] == ' ')
				at--;
			while (at > 0 && p->buf[at - 1] != ' ')
				at--;
			cut(p, at, p->cursor);
			return TUI_PROMPT_CONTINUE;
		default:
			insert(p, key);
			return TUI_PROMPT_CONTINUE;
		}
	}
	switch (key) {
	case KEY_ENTER:
		return TUI_PROMPT_ACCEPT;
	case KEY_BACKSPACE:
		if (p->cursor > 0)
			cut(p, prev_char(p, p->cursor), p->cursor);
		break;
	case KEY_DC:
		cut(p, p->cursor, next_char(p, p->cursor));
		break;
	case KEY_LEFT:
		p->cursor = prev_char(p, p->cursor);
		break;
	case KEY_RIGHT:
		p->cursor = next_char(p, p->cursor);
		break;
	case KEY_HOME:
		p->cursor = 0;
		break;
	case KEY_END:
		p->cursor = p->len;
		break;
	default:
		break;
	}
	return TUI_PROMPT_CONTINUE;
}

size_t
tui_prompt_cursor_chars(const tui_prompt *p)
{
	size_t n = 0;

	for (size_t i = 0; i < p->cursor; i++)
		if (!is_cont(p->buf[i]))
			n++;
	return n;
}
