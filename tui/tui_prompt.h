/* tui_prompt.h: the console's modal line editor (reason, TTL, trust level,
 * filter text) and one-key choices (confirmations, posture). It edits a
 * UTF-8 buffer; the caller draws it and acts on the result.
 * SPDX-License-Identifier: MIT */
#ifndef TUI_PROMPT_H
#define TUI_PROMPT_H

#include <stdbool.h>
#include <stddef.h>

#define TUI_PROMPT_MAX 240 /* bytes of text, without the NUL */

enum tui_prompt_kind {
	TUI_PROMPT_TEXT,   /* a line of text, Enter accepts */
	TUI_PROMPT_CHOICE, /* one key out of choices */
};

enum tui_prompt_result {
	TUI_PROMPT_CONTINUE,
	TUI_PROMPT_ACCEPT,
	TUI_PROMPT_CANCEL,
};

typedef struct tui_prompt {
	bool active;
	enum tui_prompt_kind kind;
	int action;            /* what the caller does with the answer */
	char label[160];       /* shown before the text (raw: cleaned when
	                        * drawn) */
	char choices[16];      /* CHOICE: accepted keys, the first is the
	                        * default for Enter ("" : no default) */
	char buf[TUI_PROMPT_MAX + 1];
	size_t len, cursor;    /* bytes; cursor sits on a character boundary */
	char target[128];      /* the request or session acted on */
	char extra[64];        /* a value from an earlier step */
	char error[96];        /* why the last answer was refused */
} tui_prompt;

/* tui_prompt_open starts a prompt (label and initial are copied, initial
 * may be NULL). */
void tui_prompt_open(tui_prompt *p, enum tui_prompt_kind kind, int action,
    const char *label, const char *initial, const char *choices,
    const char *target);

/* tui_prompt_close ends the prompt. */
void tui_prompt_close(tui_prompt *p);

/* tui_prompt_key feeds one key: a character (wide char code) when is_char,
 * else a curses KEY_* code. For a CHOICE the accepted key is left in
 * buf. */
enum tui_prompt_result tui_prompt_key(tui_prompt *p, int key, bool is_char);

/* tui_prompt_cursor_chars returns how many characters precede the cursor
 * (for placing the terminal cursor; wide characters count once). */
size_t tui_prompt_cursor_chars(const tui_prompt *p);

#endif
