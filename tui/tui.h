/* tui.h: the operator console: one thread, one poll() over the keyboard,
 * the event feed and control replies; handlers set dirty bits, drawing
 * happens once per loop turn.
 * SPDX-License-Identifier: MIT */
#ifndef TUI_H
#define TUI_H

#include <signal.h>

#include "cs.h"
#include "tp_console.h"
#include "tui_model.h"
#include "tui_prompt.h"

struct core_store;

/* Where to connect and what to run. */
typedef struct tui_opts {
	const char *control_url; /* REQ endpoint */
	const char *events_url;  /* SUB endpoint */
	const char *db_path;     /* audit store, read-only */
	long long iterations;    /* stop after this many loop turns; 0: run */
} tui_opts;

enum tui_view {
	TUI_VIEW_QUEUE,
	TUI_VIEW_SESSIONS,
	TUI_VIEW_HISTORY,
	TUI_VIEW_COUNT
};

enum tui_overlay {
	TUI_OVL_NONE,
	TUI_OVL_HELP,
	TUI_OVL_EVENT, /* one audit event in full */
};

/* Parts of the screen to draw again. */
enum {
	TUI_DIRTY_TOP = 1,
	TUI_DIRTY_BODY = 2,
	TUI_DIRTY_LINE = 4,   /* notice or prompt line */
	TUI_DIRTY_STATUS = 8,
	TUI_DIRTY_CLEAR = 16, /* erase first (resize, C-l) */
	TUI_DIRTY_ALL = 31,
};

/* What an answered prompt does. */
enum tui_action {
	TUI_ACT_DENY = 1,
	TUI_ACT_DENY_QUARANTINE,
	TUI_ACT_GRANT_TTL,
	TUI_ACT_GRANT_CONFIRM,
	TUI_ACT_TRUST_LEVEL,
	TUI_ACT_TRUST_REASON,
	TUI_ACT_POSTURE_LEVEL,
	TUI_ACT_POSTURE_REASON,
	TUI_ACT_FILTER,
	TUI_ACT_REVOKE_CONFIRM,
};

/* Glyphs for UTF-8 terminals, with ASCII stand-ins. */
typedef struct tui_glyphs {
	const char *hline, *vline, *arrow, *dot, *flag, *up, *down, *sep;
	const char *tl, *tr, *bl, *br; /* box corners */
} tui_glyphs;

/* The console. */
typedef struct tui {
	tui_model *m;
	tp_console *net;
	struct core_store *store;  /* opened on first use */
	const tui_opts *opts;
	enum tui_view view;
	enum tui_overlay overlay;
	int focus;                 /* 0: the list, 1: the detail pane */
	int detail_scroll;         /* first detail line shown */
	int detail_lines;          /* lines the detail pane had last time */
	int ovl_scroll;
	json_t *ovl_event;         /* TUI_OVL_EVENT: owned */
	char ovl_hash[80];
	int64_t ovl_seq;
	tui_prompt prompt;
	int rows, cols;
	int list_rows;             /* rows of the list last drawn */
	size_t top[TUI_VIEW_COUNT]; /* first row shown of each list */
	unsigned dirty;
	bool quit;
	int text_flags;            /* TUI_TEXT_ASCII when not UTF-8 */
	bool color;
	tui_glyphs g;
	unsigned seen_connects;    /* connections already greeted */
	int64_t started_mono;
	int64_t hello_retry_mono;  /* when to ask hello again, 0: no */
	int64_t sessions_mono;     /* last sessions refresh */
	int64_t hist_mono;         /* last history refresh */
	bool hist_stale;           /* newer audit rows probably exist */
	bool hist_to_end;          /* End pressed: keep loading */
	char hist_error[160];
	int64_t sel_moved_mono;    /* the queue cursor moved by itself */
	int64_t last_second;
} tui;

/* Set by SIGINT and SIGTERM; the loop ends when it is not 0. */
extern volatile sig_atomic_t tui_stop;

/* tui_run runs the console until q, a signal, or opts->iterations loop
 * turns. The terminal is restored before it returns. Returns an exit
 * status. */
int tui_run(const tui_opts *opts);

/* tui_draw_init sets up colours (unless NO_COLOR) and attributes. */
void tui_draw_init(tui *t);

/* tui_draw draws the dirty parts of the screen and refreshes it. */
void tui_draw(tui *t);

/* tui_dispatch handles one key (is_char: a character, else a KEY_*). */
void tui_dispatch(tui *t, int key, bool is_char);

/* tui_key_help_count / tui_key_help return the rows of the help screen,
 * made from the key table: keys (joined names) and what they do. */
size_t tui_key_help_count(void);
void tui_key_help(size_t i, const char **keys, const char **help,
    const char **where);

/* Actions the keys and prompts start. */
void tui_act_decide(tui *t, const char *request, bool approve,
    bool for_session, int64_t ttl_s, const char *reason, bool quarantine);
void tui_act_trust(tui *t, const char *session, int level,
    const char *reason);
void tui_act_posture(tui *t, const char *level, const char *reason);
void tui_act_revoke(tui *t, const char *session, const char *grant);
void tui_act_hello(tui *t);
void tui_act_refresh(tui *t);

/* tui_hist_reload forgets the history cache and loads the newest page;
 * tui_hist_more loads the next older page; tui_hist_open shows the
 * selected row's full event. */
void tui_hist_reload(tui *t);
void tui_hist_more(tui *t);
void tui_hist_open(tui *t);

/* tui_notice sets the transient message and marks its line dirty. */
void tui_notice(tui *t, enum tui_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* tui_set_view switches the main view. */
void tui_set_view(tui *t, enum tui_view view);

#endif
