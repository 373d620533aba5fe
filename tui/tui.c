/* tui.c: the console's loop: poll, apply events and replies, read keys,
 * tick timers, draw what is dirty.
 * SPDX-License-Identifier: MIT */
#define _XOPEN_SOURCE 700
#define NCURSES_WIDECHAR 1
#include "tui.h"

#include <errno.h>
#include <langinfo.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curses.h>

#include "store.h"
#include "tui_text.h"

#define CONTROL_TIMEOUT_MS 3000  /* a control call never takes longer */
#define SESSIONS_EVERY_MS 2000   /* sessions view refresh */
#define HIST_PAGE 200            /* audit rows per page */
#define HIST_MARGIN 50           /* load more this close to the end */
#define EVENTS_PER_TURN 1000     /* events applied before drawing */
#define SEL_GUARD_MS 1000        /* approvals wait after a cursor jump */

volatile sig_atomic_t tui_stop;

static const tui_glyphs glyphs_utf8 = {
	.hline = "\xe2\x94\x80", .vline = "\xe2\x94\x82",
	.arrow = "\xe2\x86\x92", .dot = "\xe2\x97\x8f", .flag = "!",
	.up = "\xe2\x96\xb2", .down = "\xe2\x96\xbc", .sep = "\xc2\xb7",
	.tl = "\xe2\x94\x8c", .tr = "\xe2\x94\x90", .bl = "\xe2\x94\x94",
	.br = "\xe2\x94\x98",
};
static const tui_glyphs glyphs_ascii = {
	.hline = "-", .vline = "|", .arrow = "->", .dot = "*", .flag = "!",
	.up = "^", .down = "v", .sep = "-", .tl = "+", .tr = "+", .bl = "+",
	.br = "+",
};

void
tui_notice(tui *t, enum tui_level level, const char *fmt, ...)
{
	va_list ap;
	char buf[256];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	tui_model_notice(t->m, level, cs_mono_ms(), level >= TUI_WARN ? 8 : 5,
	    "%s", buf);
	t->dirty |= TUI_DIRTY_LINE;
}

/* ---- control requests ------------------------------------------------- */

/* A new control request object of type. */
static json_t *
control_req(const char *type)
{
	json_t *o = json_pack("{s:i, s:s}", "v", 1, "type", type);

	if (o == NULL)
		abort();
	return o;
}

/* Queue a request, with a notice when it cannot go out. */
static void
send_req(tui *t, enum tp_console_req_kind kind, const char *tag, json_t *req)
{
	if (tp_console_request(t->net, kind, tag, req, CONTROL_TIMEOUT_MS) !=
	    CS_OK)
		tui_notice(t, TUI_BAD, "too many requests waiting for "
		    "countersignd; try again");
}

void
tui_act_hello(tui *t)
{
	if (!tp_console_queued(t->net, TP_CONSOLE_REQ_HELLO))
		send_req(t, TP_CONSOLE_REQ_HELLO, NULL, control_req("hello"));
}

void
tui_act_refresh(tui *t)
{
	if (!tp_console_queued(t->net, TP_CONSOLE_REQ_SESSIONS) &&
	    !tp_console_queued(t->net, TP_CONSOLE_REQ_HELLO))
		send_req(t, TP_CONSOLE_REQ_SESSIONS, NULL,
		    control_req("sessions"));
	t->sessions_mono = cs_mono_ms();
}

void
tui_act_decide(tui *t, const char *request, bool approve, bool for_session,
    int64_t ttl_s, const char *reason, bool quarantine)
{
	json_t *req = control_req("decide");
	char tag[128];

	json_object_set_new(req, "request", json_string(request));
	json_object_set_new(req, "verdict", json_string(approve ? "approve" :
	    "deny"));
	json_object_set_new(req, "scope", json_string(for_session ? "session" :
	    "once"));
	if (for_session)
		json_object_set_new(req, "ttl_s", json_integer(ttl_s));
	if (reason != NULL && *reason != '\0')
		json_object_set_new(req, "reason", json_string(reason));
	if (quarantine)
		json_object_set_new(req, "quarantine", json_true());
	snprintf(tag, sizeof tag, "%s %s", request, approve ? "approved" :
	    "denied");
	send_req(t, TP_CONSOLE_REQ_DECIDE, tag, req);
	tui_notice(t, TUI_INFO, "%s %s%s%s", approve ? "approving" : "denying",
	    request, for_session ? " for the session" : "",
	    quarantine ? " and quarantining the session" : "");
}

void
tui_act_trust(tui *t, const char *session, int level, const char *reason)
{
	json_t *req = control_req("trust");

	json_object_set_new(req, "session", json_string(session));
	json_object_set_new(req, "level", json_integer(level));
	if (reason != NULL && *reason != '\0')
		json_object_set_new(req, "reason", json_string(reason));
	send_req(t, TP_CONSOLE_REQ_TRUST, session, req);
}

void
tui_act_posture(tui *t, const char *level, const char *reason)
{
	json_t *req = control_req("posture");

	json_object_set_new(req, "level", json_string(level));
	if (reason != NULL && *reason != '\0')
		json_object_set_new(req, "reason", json_string(reason));
	send_req(t, TP_CONSOLE_REQ_POSTURE, level, req);
}

void
tui_act_revoke(tui *t, const char *session, const char *grant)
{
	json_t *req = control_req("revoke");

	json_object_set_new(req, "session", json_string(session));
	json_object_set_new(req, "grant", json_string(grant));
	send_req(t, TP_CONSOLE_REQ_REVOKE, grant, req);
}

/* Mark the whole screen for drawing after the model changed. */
static void
changed(tui *t, int chg)
{
	if (chg <= 0)
		return;
	if (chg & (TUI_CHG_QUEUE | TUI_CHG_SESSIONS))
		t->dirty |= TUI_DIRTY_BODY | TUI_DIRTY_TOP;
	if (chg & TUI_CHG_STATUS)
		t->dirty |= TUI_DIRTY_STATUS | TUI_DIRTY_TOP;
	if (chg & TUI_CHG_NOTICE)
		t->dirty |= TUI_DIRTY_LINE;
	if (chg & TUI_CHG_HISTORY)
		t->hist_stale = true;
}

/* The reply to a decide. */
static void
decide_reply(tui *t, const tp_console_reply *r)
{
	const char *type = tui_json_str(r->msg, "type", "");
	const char *code = tui_json_str(r->msg, "code", "");
	const char *msg = tui_json_str(r->msg, "message", code);
	char request[128], tool[64];
	const char *verdict = strchr(r->tag, ' ');
	tui_item *it;

	snprintf(request, sizeof request, "%.*s", verdict != NULL ?
	    (int) (verdict - r->tag) : (int) strlen(r->tag), r->tag);
	verdict = verdict != NULL ? verdict + 1 : "decided";
	it = tui_model_find_item(t->m, request);
	snprintf(tool, sizeof tool, "%s", it != NULL ? it->tool : "");
	if (strcmp(type, "error") != 0) {
		const char *state = tui_json_str(r->msg, "state", "");

		if (strcmp(state, "awaiting_quorum") == 0) {
			long long got = json_integer_value(json_object_get(
			    r->msg, "approvals"));
			long long need = json_integer_value(json_object_get(
			    r->msg, "approvers"));

			tui_notice(t, TUI_INFO, "%s: approval %lld of %lld "
			    "recorded, waiting for another operator", request,
			    got, need);
			return;
		}
		if (it == NULL)
			return; /* the resolved event came first */
		tui_model_note_latency(t->m, tui_model_server_now(t->m,
		    cs_now_ms()) - it->received_ms);
		tui_notice(t, strcmp(verdict, "approved") == 0 ? TUI_GOOD :
		    TUI_WARN, "%s %s: %s", request, tool, verdict);
		tui_model_remove_item(t->m, request);
		t->dirty |= TUI_DIRTY_BODY | TUI_DIRTY_TOP | TUI_DIRTY_STATUS;
		return;
	}
	if (strcmp(code, "already_decided") == 0 ||
	    strcmp(code, "not_found") == 0) {
		const json_t *d = json_object_get(r->msg, "decision");

		if (d != NULL)
			tui_notice(t, TUI_INFO, "%s was already decided: %s by "
			    "%s", request, tui_json_str(d, "decision", "?"),
			    tui_json_str(d, "operator", NULL) != NULL ?
			    tui_json_str(d, "operator", "?") :
			    tui_json_str(d, "by", "?"));
		else
			tui_notice(t, TUI_INFO, "%s is no longer pending",
			    request);
		if (tui_model_remove_item(t->m, request))
			t->dirty |= TUI_DIRTY_BODY | TUI_DIRTY_TOP |
			    TUI_DIRTY_STATUS;
		return;
	}
	tui_notice(t, TUI_BAD, "%s not decided: %s", request, msg);
}

/* Route one finished control request. */
static void
handle_reply(tui *t, tp_console_reply *r)
{
	int64_t now_mono = cs_mono_ms();
	const char *type, *msg;

	if (r->msg == NULL) {
		if (r->kind == TP_CONSOLE_REQ_HELLO ||
		    r->kind == TP_CONSOLE_REQ_SESSIONS) {
			if (t->m->conn == TUI_CONN_UP)
				changed(t, tui_model_set_conn(t->m,
				    TUI_CONN_DOWN, now_mono));
			t->hello_retry_mono = now_mono + 1000;
			return;
		}
		if (r->kind == TP_CONSOLE_REQ_DECIDE)
			tui_notice(t, TUI_BAD, "decision on %.*s not sent: %s",
			    (int) strcspn(r->tag, " "), r->tag, r->cause);
		else
			tui_notice(t, TUI_BAD, "%s%snot sent: %s", r->tag,
			    *r->tag ? " " : "", r->cause);
		if (r->err == CS_ETRANSPORT || !tp_console_control_up(t->net)) {
			changed(t, tui_model_set_conn(t->m, TUI_CONN_DOWN,
			    now_mono));
			t->hello_retry_mono = now_mono + 1000;
		}
		return;
	}
	type = tui_json_str(r->msg, "type", "");
	msg = tui_json_str(r->msg, "message", tui_json_str(r->msg, "code",
	    "refused"));
	switch (r->kind) {
	case TP_CONSOLE_REQ_HELLO:
	case TP_CONSOLE_REQ_SESSIONS:
		if (strcmp(type, "error") == 0) {
			tui_notice(t, TUI_BAD, "countersignd refused: %s", msg);
			if (r->kind == TP_CONSOLE_REQ_HELLO)
				t->hello_retry_mono = now_mono + 3000;
			return;
		}
		changed(t, tui_model_apply_hello(t->m, r->msg, cs_now_ms()));
		if (r->kind == TP_CONSOLE_REQ_HELLO) {
			changed(t, tui_model_set_conn(t->m, TUI_CONN_UP,
			    now_mono));
			t->hist_stale = true;
		}
		t->hello_retry_mono = 0;
		break;
	case TP_CONSOLE_REQ_DECIDE:
		decide_reply(t, r);
		break;
	case TP_CONSOLE_REQ_TRUST:
		if (strcmp(type, "error") == 0)
			tui_notice(t, TUI_BAD, "trust of %s not changed: %s",
			    r->tag, msg);
		else
			tui_notice(t, TUI_GOOD, "trust of %s: %lld %s %lld "
			    "(%s); applies to its next call", r->tag,
			    (long long) json_integer_value(json_object_get(
			    r->msg, "from")), t->g.arrow, (long long)
			    json_integer_value(json_object_get(r->msg, "to")),
			    tui_trust_name((int) json_integer_value(
			    json_object_get(r->msg, "to"))));
		tui_act_refresh(t);
		break;
	case TP_CONSOLE_REQ_POSTURE:
		if (strcmp(type, "error") == 0)
			tui_notice(t, TUI_BAD, "posture not changed: %s", msg);
		else
			tui_notice(t, TUI_WARN, "posture: %s %s %s",
			    tui_json_str(r->msg, "from", "?"), t->g.arrow,
			    tui_json_str(r->msg, "to", "?"));
		break;
	case TP_CONSOLE_REQ_REVOKE:
		if (strcmp(type, "error") == 0)
			tui_notice(t, TUI_BAD, "grant %s not revoked: %s",
			    r->tag, msg);
		else
			tui_notice(t, TUI_GOOD, "grant %s revoked", r->tag);
		tui_act_refresh(t);
		break;
	}
}

/* Remember the cursor's item to notice when it moves by itself. */
static const char *
sel_id(const tui *t)
{
	return t->m->queue_sel_id != NULL ? t->m->queue_sel_id : "";
}

/* Apply waiting events and finished requests; follow the connection. */
static void
pump_net(tui *t)
{
	char *frame, before[64];
	size_t len;
	tp_console_reply r;
	int64_t now_mono = cs_mono_ms();
	unsigned connects;

	snprintf(before, sizeof before, "%s", sel_id(t));
	for (int i = 0; i < EVENTS_PER_TURN &&
	    tp_console_event_take(t->net, &frame, &len); i++) {
		changed(t, tui_model_apply_event(t->m, frame, len, cs_now_ms(),
		    now_mono));
		free(frame);
	}
	while (tp_console_reply_take(t->net, &r)) {
		handle_reply(t, &r);
		json_decref(r.msg);
	}
	if (*before != '\0' && strcmp(before, sel_id(t)) != 0)
		t->sel_moved_mono = now_mono;
	connects = tp_console_connects(t->net);
	if (connects != t->seen_connects) {
		t->seen_connects = connects; /* (re)connected: resync */
		tui_act_hello(t);
	}
	if (!tp_console_control_up(t->net)) {
		if (t->m->conn == TUI_CONN_UP ||
		    (t->m->conn == TUI_CONN_CONNECTING &&
		    now_mono - t->started_mono > 1500)) {
			changed(t, tui_model_set_conn(t->m, TUI_CONN_DOWN,
			    now_mono));
			tp_console_drop_queue(t->net);
		}
	} else if (t->hello_retry_mono != 0 &&
	    now_mono >= t->hello_retry_mono) {
		t->hello_retry_mono = 0;
		tui_act_hello(t);
	}
}

/* ---- history ---------------------------------------------------------- */

/* Open the audit store read-only on first use. */
static bool
store_ready(tui *t)
{
	char *cause = NULL;

	if (t->store != NULL)
		return true;
	if (t->opts->db_path == NULL) {
		snprintf(t->hist_error, sizeof t->hist_error,
		    "no audit store configured");
		return false;
	}
	if (access(t->opts->db_path, R_OK) != 0) {
		snprintf(t->hist_error, sizeof t->hist_error,
		    "no audit store at %s yet", t->opts->db_path);
		return false;
	}
	if (core_store_open(t->opts->db_path, CORE_STORE_RDONLY, &t->store,
	    &cause) != CS_OK) {
		snprintf(t->hist_error, sizeof t->hist_error, "%s",
		    cause != NULL ? cause : "cannot open the audit store");
		free(cause);
		t->store = NULL;
		return false;
	}
	t->hist_error[0] = '\0';
	return true;
}

struct page {
	tui_model *m;
	int64_t rows;
};

/* Collect one history row. */
static bool
hist_row_cb(void *ud, int64_t seq, const char *hash, json_t *event)
{
	struct page *p = ud;

	(void) hash;
	tui_model_hist_add(p->m, seq, event);
	p->rows++;
	return true;
}

/* Load one page of rows older than those loaded. */
static void
hist_page(tui *t)
{
	const tui_filter *f = &t->m->hist_filter;
	core_store_filter sf = {
		.session = f->session, .tool = f->tool, .agent = f->agent,
		.decision = f->decision, .kind = f->kind, .request = f->request,
		.text = f->text, .limit = HIST_PAGE,
		.before_seq = tui_model_hist_oldest_seq(t->m),
	};
	struct page p = { t->m, 0 };

	if (t->m->hist_done || !store_ready(t))
		return;
	if (sf.before_seq == 1) {
		t->m->hist_done = true;
		return;
	}
	if (core_store_history(t->store, &sf, hist_row_cb, &p) != CS_OK) {
		snprintf(t->hist_error, sizeof t->hist_error,
		    "the audit store could not be read");
		t->m->hist_done = true;
		return;
	}
	if (p.rows < HIST_PAGE)
		t->m->hist_done = true;
	t->dirty |= TUI_DIRTY_BODY;
}

void
tui_hist_reload(tui *t)
{
	tui_model_hist_clear(t->m);
	t->hist_to_end = false;
	t->hist_stale = false;
	t->hist_mono = cs_mono_ms();
	hist_page(t);
	t->dirty |= TUI_DIRTY_BODY | TUI_DIRTY_TOP;
}

void
tui_hist_more(tui *t)
{
	hist_page(t);
}

/* Keep the full event of the row with seq. */
static bool
hist_one_cb(void *ud, int64_t seq, const char *hash, json_t *event)
{
	tui *t = ud;

	json_decref(t->ovl_event);
	t->ovl_event = json_incref(event);
	t->ovl_seq = seq;
	snprintf(t->ovl_hash, sizeof t->ovl_hash, "%s", hash);
	return false;
}

void
tui_hist_open(tui *t)
{
	const tui_hist_row *row = tui_model_hist_selected(t->m);
	core_store_filter sf = { .limit = 1 };

	if (row == NULL || !store_ready(t))
		return;
	sf.before_seq = row->seq + 1;
	json_decref(t->ovl_event);
	t->ovl_event = NULL;
	if (core_store_history(t->store, &sf, hist_one_cb, t) != CS_OK ||
	    t->ovl_event == NULL) {
		tui_notice(t, TUI_BAD, "audit row %lld could not be read",
		    (long long) row->seq);
		return;
	}
	t->overlay = TUI_OVL_EVENT;
	t->ovl_scroll = 0;
	t->dirty |= TUI_DIRTY_ALL;
}

/* Seed the latency figure from operator decisions already audited. */
static bool
latency_cb(void *ud, int64_t seq, const char *hash, json_t *event)
{
	tui *t = ud;
	json_t *lat = json_object_get(event, "latency_ms");

	(void) seq;
	(void) hash;
	if (json_is_integer(lat))
		tui_model_note_latency(t->m, json_integer_value(lat));
	return true;
}

/* Load recent operator latencies from the audit store. */
static void
seed_latency(tui *t)
{
	core_store_filter sf = { .kind = "decision",
		.text = "\"by\":\"operator\"", .limit = 100 };

	if (store_ready(t))
		(void) core_store_history(t->store, &sf, latency_cb, t);
	t->hist_error[0] = '\0';
}

/* History housekeeping: more rows near the end, fresh rows at the top. */
static void
hist_tick(tui *t, int64_t now_mono)
{
	if (t->view != TUI_VIEW_HISTORY)
		return;
	if (t->hist_to_end) {
		for (int i = 0; i < 25 && !t->m->hist_done; i++)
			hist_page(t);
		tui_model_hist_move(t->m, INT32_MAX);
		if (t->m->hist_done)
			t->hist_to_end = false;
		t->dirty |= TUI_DIRTY_BODY;
		return;
	}
	if (tui_model_hist_wants_more(t->m, HIST_MARGIN))
		hist_page(t);
	if (t->hist_stale && t->m->hist_sel == 0 && t->overlay ==
	    TUI_OVL_NONE && now_mono - t->hist_mono >= 1000)
		tui_hist_reload(t);
}

void
tui_set_view(tui *t, enum tui_view view)
{
	if (t->view == view)
		return;
	t->view = view;
	t->focus = 0;
	t->detail_scroll = 0;
	if (view == TUI_VIEW_HISTORY)
		tui_hist_reload(t);
	else if (view == TUI_VIEW_SESSIONS)
		tui_act_refresh(t);
	t->dirty |= TUI_DIRTY_ALL;
}

/* ---- the loop --------------------------------------------------------- */

/* Once per turn: timers that do not depend on input. */
static void
tick(tui *t)
{
	int64_t now_mono = cs_mono_ms(), second = now_mono / 1000;

	if (second != t->last_second) {
		t->last_second = second;
		if (t->view == TUI_VIEW_QUEUE || t->view == TUI_VIEW_SESSIONS)
			t->dirty |= TUI_DIRTY_BODY; /* countdowns, ages */
		t->dirty |= TUI_DIRTY_LINE | TUI_DIRTY_STATUS;
	}
	if (t->m->notice[0] != '\0' && now_mono >= t->m->notice_until_ms) {
		t->m->notice[0] = '\0';
		t->dirty |= TUI_DIRTY_LINE;
	}
	if (t->view == TUI_VIEW_SESSIONS && t->m->conn == TUI_CONN_UP &&
	    now_mono - t->sessions_mono >= SESSIONS_EVERY_MS)
		tui_act_refresh(t);
	hist_tick(t, now_mono);
}

/* Read every key that is waiting; returns how many. */
static int
read_keys(tui *t)
{
	wint_t wc;
	int rv, keys = 0;

	while ((rv = get_wch(&wc)) != ERR) {
		keys++;
		if (rv == KEY_CODE_YES && wc == KEY_RESIZE) {
			getmaxyx(stdscr, t->rows, t->cols);
			t->dirty = TUI_DIRTY_ALL;
			continue;
		}
		tui_dispatch(t, (int) wc, rv != KEY_CODE_YES);
		if (t->quit)
			break;
	}
	return keys;
}

int
tui_run(const tui_opts *opts)
{
	tui t;
	SCREEN *scr;
	char *cause = NULL;
	long long turns = 0;
	int idle_reads = 0, in_fd = STDIN_FILENO;
	const char *codeset;
	int status = 0;

	memset(&t, 0, sizeof t);
	t.opts = opts;
	if ((t.m = tui_model_new()) == NULL)
		return 70;
	if (tp_console_open(opts->control_url, opts->events_url, &t.net,
	    &cause) != CS_OK) {
		fprintf(stderr, "countersign: %s\n", cause != NULL ? cause :
		    "cannot open sockets");
		free(cause);
		tui_model_free(t.m);
		return 69;
	}
	codeset = nl_langinfo(CODESET);
	if (codeset == NULL || strcmp(codeset, "UTF-8") != 0)
		t.text_flags = TUI_TEXT_ASCII;
	t.g = t.text_flags ? glyphs_ascii : glyphs_utf8;
	seed_latency(&t);

	if ((scr = newterm(NULL, stdout, stdin)) == NULL &&
	    (scr = newterm("xterm", stdout, stdin)) == NULL) {
		fprintf(stderr, "countersign: cannot use this terminal "
		    "(TERM=%s)\n", getenv("TERM") ? getenv("TERM") : "");
		tp_console_close(t.net);
		tui_model_free(t.m);
		return 69;
	}
	set_term(scr);
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	tui_draw_init(&t);
	getmaxyx(stdscr, t.rows, t.cols);
	t.started_mono = cs_mono_ms();
	t.dirty = TUI_DIRTY_ALL;

	while (!t.quit && !tui_stop) {
		struct pollfd pfd[3] = {
			{ .fd = in_fd, .events = POLLIN },
			{ .fd = tp_console_event_fd(t.net), .events = POLLIN },
			{ .fd = tp_console_wake_fd(t.net), .events = POLLIN },
		};

		if (opts->iterations > 0 && ++turns > opts->iterations)
			break;
		tui_draw(&t);
		if (poll(pfd, 3, t.hist_to_end ? 0 : 100) < 0 && errno != EINTR)
			break;
		pump_net(&t);
		/* input that is readable but yields no key is at its end (a
		 * headless run): stop polling it */
		if (read_keys(&t) == 0 && !isatty(STDIN_FILENO) &&
		    (pfd[0].revents & (POLLIN | POLLHUP)))
			in_fd = ++idle_reads >= 3 ? -1 : in_fd;
		else
			idle_reads = 0;
		tick(&t);
	}
	endwin();
	delscreen(scr);
	json_decref(t.ovl_event);
	core_store_close(t.store);
	tp_console_close(t.net);
	tui_model_free(t.m);
	return status;
}
