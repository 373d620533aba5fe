/* tui_model.h: what the console knows, with no curses and no sockets: the
 * pending queue (ordered most urgent first), sessions, the history page
 * cache, filters, connection state, notices and the human-loop latency.
 * Strings kept here are raw (as the daemon sent them); drawing code cleans
 * them with tui_text before they reach the terminal.
 * SPDX-License-Identifier: MIT */
#ifndef TUI_MODEL_H
#define TUI_MODEL_H

#include <stdarg.h>

#include "cs.h"
#include "map.h"

/* One pending call (an ITEM of hello or a "pending" event). */
typedef struct tui_item {
	char *request;       /* owned */
	const char *tool;    /* borrowed from raw; "" when absent */
	const char *agent;
	const char *user;
	const char *session;
	const char *risk;
	const char *rule;
	int64_t received_ms; /* daemon wall time, Unix ms */
	int64_t deadline_ms; /* daemon wall time, Unix ms */
	int64_t token_exp_s; /* Unix seconds, 0 when unknown */
	int trust;           /* -1 when unknown */
	int approvers;       /* operators needed */
	int approvals;       /* operators so far */
	bool new_tool;       /* first use of the tool in the session */
	json_t *raw;         /* owned: the whole item */
} tui_item;

/* One session. */
typedef struct tui_sess {
	char *session;       /* owned */
	const char *user;    /* borrowed from raw */
	const char *agent;
	const char *purpose;
	int trust;
	int64_t calls, denials;
	int64_t created_ms, last_ms;
	json_t *raw;         /* owned */
} tui_sess;

/* One audit row as the history list shows it. */
typedef struct tui_hist_row {
	int64_t seq;
	int64_t ts_ms;
	char *kind, *decision, *by, *tool, *agent, *session, *what; /* owned */
} tui_hist_row;

/* A parsed filter: "key:value" words (tool: agent: user: session:
 * decision: kind: request:) and free text. NULL fields do not filter. */
typedef struct tui_filter {
	char *tool, *agent, *user, *session, *decision, *kind, *request;
	char *text;
} tui_filter;

enum tui_conn {
	TUI_CONN_CONNECTING,   /* first contact not made yet */
	TUI_CONN_UP,           /* hello answered */
	TUI_CONN_DOWN,         /* lost: retrying */
};

enum tui_level {
	TUI_INFO,
	TUI_GOOD,
	TUI_WARN,
	TUI_BAD,
};

/* What an applied input changed (a set of bits). */
enum {
	TUI_CHG_QUEUE = 1,
	TUI_CHG_SESSIONS = 2,
	TUI_CHG_STATUS = 4,
	TUI_CHG_HISTORY = 8,
	TUI_CHG_NOTICE = 16,
};

#define TUI_LATENCY_RING 256

typedef struct tui_model {
	tui_item **items;      /* owned, sorted most urgent first */
	size_t item_count, item_cap;
	core_map *item_index;  /* request id -> item in items (borrowed) */
	tui_item **shown;      /* borrowed: the items passing the filter,
	                        * in the same order */
	size_t shown_count, shown_cap;
	size_t queue_sel;      /* index into shown */
	char *queue_sel_id;    /* request id the cursor follows */
	tui_filter queue_filter;
	char *queue_filter_text;

	tui_sess **sessions;   /* owned, oldest first */
	size_t sess_count, sess_cap;
	size_t sess_total;     /* sessions the daemon holds: a snapshot lists
	                        * the most recently active 10,000 */
	size_t *sess_shown;
	size_t sess_shown_count;
	size_t sess_sel;
	char *sess_sel_id;
	tui_filter sess_filter;
	char *sess_filter_text;

	tui_hist_row *hist;    /* loaded rows, newest first */
	size_t hist_count, hist_cap;
	size_t hist_sel;
	bool hist_done;        /* no older rows match */
	tui_filter hist_filter;
	char *hist_filter_text;

	char *operator_name;   /* owned, may be NULL */
	char *posture;
	char *policy;
	char *health;          /* NULL when the audit store is fine */
	enum tui_conn conn;
	bool was_up;           /* a hello has been answered before */
	int64_t clock_offset_ms; /* daemon wall time minus ours */

	char notice[256];
	enum tui_level notice_level;
	int64_t notice_until_ms; /* monotonic */

	int64_t latency[TUI_LATENCY_RING]; /* ms, escalation to decision */
	size_t latency_count, latency_head;
	int64_t decided_count; /* decisions seen since start */
} tui_model;

/* tui_model_new returns an empty model; NULL on OOM. */
tui_model *tui_model_new(void);

/* tui_model_free frees the model; NULL is a no-op. */
void tui_model_free(tui_model *m);

/* tui_model_apply_hello replaces the snapshot from a hello (or sessions)
 * reply: pending items, sessions, operator, posture, policy, and the clock
 * offset (server_time - now_ms). Returns TUI_CHG_* bits, or -1 when the
 * reply is not a snapshot. */
int tui_model_apply_hello(tui_model *m, const json_t *reply, int64_t now_ms);

/* tui_model_apply_event applies one event frame "TOPIC JSON" (len bytes,
 * not NUL-terminated). now_mono_ms times notices. Returns TUI_CHG_* bits;
 * 0 for frames it does not understand (they are hints, never errors). */
int tui_model_apply_event(tui_model *m, const char *frame, size_t len,
    int64_t now_ms, int64_t now_mono_ms);

/* tui_model_put_item inserts or replaces a pending item (copied from
 * item, a JSON object with at least "request") at its place in the queue,
 * filtering it once; the cursor stays on its call. CS_EINVAL when it has
 * no request id. Costs a lookup, two binary searches and a move of the
 * pointers after it, never a sort. */
cs_err tui_model_put_item(tui_model *m, const json_t *item);

/* tui_model_remove_item drops request from the queue (as cheap as
 * tui_model_put_item); false when absent. */
bool tui_model_remove_item(tui_model *m, const char *request);

/* tui_model_find_item returns the item (borrowed) or NULL; a hash
 * lookup. */
tui_item *tui_model_find_item(const tui_model *m, const char *request);

/* tui_model_put_session inserts or replaces a session (copied). */
cs_err tui_model_put_session(tui_model *m, const json_t *sess);

/* tui_model_find_session returns the session (borrowed) or NULL. */
tui_sess *tui_model_find_session(const tui_model *m, const char *session);

/* Cursor movement in the queue, sessions and history lists: delta rows,
 * clamped; INT32_MIN / INT32_MAX go to the first / last row. */
void tui_model_queue_move(tui_model *m, long delta);
void tui_model_sess_move(tui_model *m, long delta);
void tui_model_hist_move(tui_model *m, long delta);

/* tui_model_queue_selected returns the selected item or NULL. */
tui_item *tui_model_queue_selected(const tui_model *m);

/* tui_model_sess_selected returns the selected session or NULL. */
tui_sess *tui_model_sess_selected(const tui_model *m);

/* tui_model_hist_selected returns the selected history row or NULL. */
const tui_hist_row *tui_model_hist_selected(const tui_model *m);

/* tui_model_set_filter sets the filter text of a list (0 queue,
 * 1 sessions, 2 history); "" or NULL clears it. Setting the history filter
 * empties the history cache. A key the list has no field for (decision:
 * or kind: outside history, user: in history, tool: or request: in
 * sessions) leaves the filter as it was: CS_EINVAL, and *unused (when
 * not NULL) names the key. */
cs_err tui_model_set_filter(tui_model *m, int list, const char *text,
    const char **unused);

/* tui_filter_parse parses text into f (fields are new strings).
 * tui_filter_fini frees them. */
cs_err tui_filter_parse(const char *text, tui_filter *f);
void tui_filter_fini(tui_filter *f);

/* tui_filter_match_item / _sess report whether an item or session passes
 * f: key values match as globs ('*'), free text as a case-insensitive
 * substring of the main fields and the arguments. */
bool tui_filter_match_item(const tui_filter *f, const tui_item *it);
bool tui_filter_match_sess(const tui_filter *f, const tui_sess *s);

/* History cache. tui_model_hist_clear forgets every loaded row;
 * tui_model_hist_add appends one row (older than those already loaded)
 * from an audit event (borrowed); tui_model_hist_oldest_seq returns the
 * seq to page from (0 when nothing is loaded); tui_model_hist_wants_more
 * tells whether the cursor is within margin rows of the loaded end while
 * older rows may exist. */
void tui_model_hist_clear(tui_model *m);
cs_err tui_model_hist_add(tui_model *m, int64_t seq, const json_t *event);
int64_t tui_model_hist_oldest_seq(const tui_model *m);
bool tui_model_hist_wants_more(const tui_model *m, size_t margin);

/* tui_model_note_latency records one escalation-to-decision latency. */
void tui_model_note_latency(tui_model *m, int64_t ms);

/* tui_model_latency_p50 returns the median of the recorded latencies
 * (the lower middle for an even count), or -1 when none. */
int64_t tui_model_latency_p50(const tui_model *m);

/* tui_model_notice sets the transient message for secs seconds. */
void tui_model_notice(tui_model *m, enum tui_level level, int64_t now_mono_ms,
    int secs, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* tui_model_set_conn changes the connection state; returns
 * TUI_CHG_* bits. */
int tui_model_set_conn(tui_model *m, enum tui_conn conn, int64_t now_mono_ms);

/* tui_model_server_now returns the daemon's wall time now. */
int64_t tui_model_server_now(const tui_model *m, int64_t now_ms);

/* tui_fmt_countdown formats ms left as "m:ss" (or "h:mm:ss" from an hour;
 * "0:00" once due). */
void tui_fmt_countdown(int64_t ms_left, char *out, size_t size);

/* tui_fmt_age formats a duration coarsely: "now", "42s", "5m", "3h",
 * "2d". */
void tui_fmt_age(int64_t ms, char *out, size_t size);

/* tui_fmt_clock formats Unix ms as local "HH:MM:SS" (or "YYYY-MM-DD
 * HH:MM:SS" with long_form). */
void tui_fmt_clock(int64_t unix_ms, bool long_form, char *out, size_t size);

/* tui_trust_name names a trust level: quarantined, low, standard,
 * elevated, trusted ("?" otherwise). */
const char *tui_trust_name(int level);

/* tui_json_str returns a string member of o, or fallback. */
const char *tui_json_str(const json_t *o, const char *key,
    const char *fallback);

#endif
