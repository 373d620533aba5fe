/* tui_keys.c: the key table (also the help screen), its handlers, and
 * what answered prompts do.
 * SPDX-License-Identifier: MIT */
#define _XOPEN_SOURCE 700
#define NCURSES_WIDECHAR 1
#include "tui.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#define CTRL(c) ((c) & 0x1f)
#define SEL_GUARD_MS 1000 /* approvals wait this long after a cursor jump */

enum { VQ = 1 << TUI_VIEW_QUEUE, VS = 1 << TUI_VIEW_SESSIONS,
	VH = 1 << TUI_VIEW_HISTORY, VALL = VQ | VS | VH };

typedef void (*tui_key_fn)(tui *t);

/* One binding: key, whether it is a character (else KEY_*), the views
 * where it works, the handler, and its help text. */
struct tui_key {
	int key;
	bool is_char;
	unsigned views;
	tui_key_fn fn;
	const char *name;
	const char *help;
};

static void key_down(tui *t);
static void key_up(tui *t);
static void key_page_down(tui *t);
static void key_page_up(tui *t);
static void key_first(tui *t);
static void key_last(tui *t);
static void key_tab(tui *t);
static void key_enter(tui *t);
static void key_approve(tui *t);
static void key_approve_session(tui *t);
static void key_deny(tui *t);
static void key_deny_quarantine(tui *t);
static void key_trust(tui *t);
static void key_trust_up(tui *t);
static void key_trust_down(tui *t);
static void key_revoke(tui *t);
static void key_posture(tui *t);
static void key_filter(tui *t);
static void key_view_queue(tui *t);
static void key_view_sessions(tui *t);
static void key_view_history(tui *t);
static void key_refresh(tui *t);
static void key_escape(tui *t);
static void key_help(tui *t);
static void key_redraw(tui *t);
static void key_quit(tui *t);

/* The key table. Rows with the same handler next to each other are one
 * row of the help screen. Enter is never bound to an approval. */
static const struct tui_key tui_keys[] = {
	{ 'j', true, VALL, key_down, "j", "next row (detail focus: scroll)" },
	{ KEY_DOWN, false, VALL, key_down, "Down", NULL },
	{ 'k', true, VALL, key_up, "k", "previous row (detail: scroll)" },
	{ KEY_UP, false, VALL, key_up, "Up", NULL },
	{ KEY_NPAGE, false, VALL, key_page_down, "PgDn", "page down" },
	{ CTRL('f'), true, VALL, key_page_down, "C-f", NULL },
	{ KEY_PPAGE, false, VALL, key_page_up, "PgUp", "page up" },
	{ CTRL('b'), true, VALL, key_page_up, "C-b", NULL },
	{ KEY_HOME, false, VALL, key_first, "Home", "first row" },
	{ 'g', true, VALL, key_first, "g", NULL },
	{ KEY_END, false, VALL, key_last, "End", "last row (history: oldest)" },
	{ 'G', true, VALL, key_last, "G", NULL },
	{ '\t', true, VQ, key_tab, "Tab", "switch pane: queue list / detail" },
	{ '\r', true, VQ | VH, key_enter, "Enter",
	    "queue: detail pane; history: full audit event" },
	{ '\n', true, VQ | VH, key_enter, "", NULL },
	{ KEY_ENTER, false, VQ | VH, key_enter, "", NULL },
	{ 'a', true, VQ, key_approve, "a", "approve the selected call, once" },
	{ 'A', true, VQ, key_approve_session, "A",
	    "approve for the session: asks a TTL, then confirms" },
	{ 'd', true, VQ, key_deny, "d",
	    "deny: asks a reason, which goes back to the agent" },
	{ 'D', true, VQ, key_deny_quarantine, "D",
	    "deny and quarantine the session (trust 0)" },
	{ 't', true, VQ | VS, key_trust, "t",
	    "set the session's trust level 0-4, with a reason" },
	{ '+', true, VQ | VS, key_trust_up, "+", "raise the session's trust" },
	{ '-', true, VQ | VS, key_trust_down, "-",
	    "lower the session's trust" },
	{ 'x', true, VS, key_revoke, "x", "revoke a session grant (confirms)" },
	{ 'p', true, VALL, key_posture, "p",
	    "posture: normal, elevated or lockdown" },
	{ '/', true, VALL, key_filter, "/",
	    "filter: words and the view's fields (the prompt lists them)" },
	{ '1', true, VALL, key_view_queue, "1", "queue view" },
	{ 's', true, VALL, key_view_sessions, "s", "sessions view" },
	{ '2', true, VALL, key_view_sessions, "2", NULL },
	{ 'h', true, VALL, key_view_history, "h", "history view (audit store)" },
	{ '3', true, VALL, key_view_history, "3", NULL },
	{ 'r', true, VALL, key_refresh, "r", "refresh now" },
	{ 27, true, VALL, key_escape, "Esc",
	    "close, clear the filter, back to the queue" },
	{ '?', true, VALL, key_help, "?", "this help" },
	{ CTRL('l'), true, VALL, key_redraw, "C-l", "redraw the screen" },
	{ 'q', true, VALL, key_quit, "q", "quit" },
};

/* Help rows: runs of table rows sharing a handler. */
static struct help_row {
	char keys[32];
	const char *help;
	const char *where;
} help_rows[CS_ARRAY_LEN(tui_keys)];
static size_t help_count;

/* Build the help rows from the table once. */
static void
help_build(void)
{
	if (help_count > 0)
		return;
	for (size_t i = 0; i < CS_ARRAY_LEN(tui_keys); i++) {
		const struct tui_key *k = &tui_keys[i];
		struct help_row *h;

		if (i > 0 && tui_keys[i - 1].fn == k->fn) {
			h = &help_rows[help_count - 1];
			if (*k->name != '\0') {
				size_t used = strlen(h->keys);

				snprintf(h->keys + used, sizeof h->keys - used,
				    " %s", k->name);
			}
			continue;
		}
		h = &help_rows[help_count++];
		snprintf(h->keys, sizeof h->keys, "%s", k->name);
		h->help = k->help != NULL ? k->help : "";
		h->where = k->views == VALL ? "" : k->views == VQ ? "queue" :
		    k->views == VS ? "sessions" : k->views == (VQ | VS) ?
		    "queue, sessions" : k->views == (VQ | VH) ?
		    "queue, history" : "history";
	}
}

size_t
tui_key_help_count(void)
{
	help_build();
	return help_count;
}

void
tui_key_help(size_t i, const char **keys, const char **help,
    const char **where)
{
	help_build();
	*keys = i < help_count ? help_rows[i].keys : "";
	*help = i < help_count ? help_rows[i].help : "";
	*where = i < help_count ? help_rows[i].where : "";
}

/* ---- movement --------------------------------------------------------- */

/* Move the cursor (or scroll the detail pane) of the current view. */
static void
cursor_move(tui *t, long delta)
{
	if (t->view == TUI_VIEW_QUEUE && t->focus == 1) {
		long s = t->detail_scroll + delta;

		if (delta == INT32_MIN || s < 0)
			s = 0;
		if (delta == INT32_MAX || s > t->detail_lines)
			s = t->detail_lines;
		t->detail_scroll = (int) s;
	} else if (t->view == TUI_VIEW_QUEUE) {
		tui_model_queue_move(t->m, delta);
		t->detail_scroll = 0;
		t->sel_moved_mono = 0; /* the operator moved it */
	} else if (t->view == TUI_VIEW_SESSIONS) {
		tui_model_sess_move(t->m, delta);
	} else {
		if (delta == INT32_MAX && !t->m->hist_done)
			t->hist_to_end = true;
		tui_model_hist_move(t->m, delta);
	}
	t->dirty |= TUI_DIRTY_BODY;
}

/* Rows in one page of the current list. */
static long
page(const tui *t)
{
	return t->list_rows > 2 ? t->list_rows - 1 : 1;
}

static void key_down(tui *t) { cursor_move(t, 1); }
static void key_up(tui *t) { cursor_move(t, -1); }
static void key_page_down(tui *t) { cursor_move(t, page(t)); }
static void key_page_up(tui *t) { cursor_move(t, -page(t)); }
static void key_first(tui *t) { cursor_move(t, INT32_MIN); }
static void key_last(tui *t) { cursor_move(t, INT32_MAX); }

/* Tab: switch between the queue list and the detail pane. */
static void
key_tab(tui *t)
{
	t->focus = !t->focus;
	t->dirty |= TUI_DIRTY_BODY;
}

/* Enter: open, never approve. */
static void
key_enter(tui *t)
{
	if (t->view == TUI_VIEW_HISTORY)
		tui_hist_open(t);
	else
		key_tab(t);
}

/* ---- decisions -------------------------------------------------------- */

/* The selected call, or NULL with a notice. */
static tui_item *
selected_call(tui *t)
{
	tui_item *it = tui_model_queue_selected(t->m);

	if (it == NULL)
		tui_notice(t, TUI_INFO, "no call selected");
	else if (t->m->conn != TUI_CONN_UP) {
		tui_notice(t, TUI_BAD, "not connected to countersignd: "
		    "nothing sent");
		return NULL;
	}
	return it;
}

/* Whether the cursor moved by itself a moment ago (an item vanished or
 * arrived): then an approval waits for a second press. */
static bool
cursor_jumped(tui *t)
{
	if (t->sel_moved_mono == 0 ||
	    cs_mono_ms() - t->sel_moved_mono > SEL_GUARD_MS)
		return false;
	t->sel_moved_mono = 0;
	tui_notice(t, TUI_WARN, "the selection just changed: check the call "
	    "and press again");
	return true;
}

/* Whether the call's arguments are on screen: a snapshot too large for
 * every call's arguments leaves some out (args_elided), and nobody
 * approves what they cannot see. */
static bool
args_seen(tui *t, const tui_item *it)
{
	json_t *n = json_object_get(it->raw, "args_elided");

	if (n == NULL)
		return true;
	tui_notice(t, TUI_WARN, "this call's arguments (%lld bytes) were too "
	    "large for the snapshot: read them in history (h, then / "
	    "request:%s) or decide with countersignctl",
	    (long long) json_integer_value(n), it->request);
	return false;
}

static void
key_approve(tui *t)
{
	tui_item *it = selected_call(t);

	if (it == NULL || !args_seen(t, it) || cursor_jumped(t))
		return;
	tui_act_decide(t, it->request, true, false, 0, NULL, false);
}

static void
key_approve_session(tui *t)
{
	tui_item *it = selected_call(t);
	char label[160];

	if (it == NULL || !args_seen(t, it) || cursor_jumped(t))
		return;
	snprintf(label, sizeof label, "grant %s to session %s for (15m, "
	    "1h): ", it->tool, it->session);
	tui_prompt_open(&t->prompt, TUI_PROMPT_TEXT, TUI_ACT_GRANT_TTL, label,
	    "15m", NULL, it->request);
	t->dirty |= TUI_DIRTY_LINE;
}

static void
key_deny(tui *t)
{
	tui_item *it = selected_call(t);
	char label[160];

	if (it == NULL)
		return;
	snprintf(label, sizeof label, "deny %s: reason for the agent: ",
	    it->tool);
	tui_prompt_open(&t->prompt, TUI_PROMPT_TEXT, TUI_ACT_DENY, label, NULL,
	    NULL, it->request);
	t->dirty |= TUI_DIRTY_LINE;
}

static void
key_deny_quarantine(tui *t)
{
	tui_item *it = selected_call(t);
	char label[160];

	if (it == NULL)
		return;
	snprintf(label, sizeof label, "deny and QUARANTINE session %s, "
	    "reason: ", it->session);
	tui_prompt_open(&t->prompt, TUI_PROMPT_TEXT, TUI_ACT_DENY_QUARANTINE,
	    label, NULL, NULL, it->request);
	t->dirty |= TUI_DIRTY_LINE;
}

/* ---- trust and posture ------------------------------------------------ */

/* The session the trust keys act on: the selected session, or the
 * selected call's session. */
static const char *
trust_target(tui *t, int *level)
{
	tui_sess *s = NULL;
	tui_item *it;

	if (t->view == TUI_VIEW_SESSIONS) {
		s = tui_model_sess_selected(t->m);
	} else if ((it = tui_model_queue_selected(t->m)) != NULL) {
		s = tui_model_find_session(t->m, it->session);
		if (s == NULL) {
			*level = it->trust;
			return it->session;
		}
	}
	if (s == NULL) {
		tui_notice(t, TUI_INFO, "no session selected");
		return NULL;
	}
	*level = s->trust;
	return s->session;
}

static void
key_trust(tui *t)
{
	int level = -1;
	const char *session = trust_target(t, &level);
	char label[200], choices[8];
	size_t n = 0;

	if (session == NULL)
		return;
	if (level >= 0 && level <= 4)
		choices[n++] = (char) ('0' + level);
	for (int i = 0; i <= 4; i++)
		if (i != level)
			choices[n++] = (char) ('0' + i);
	choices[n] = '\0';
	snprintf(label, sizeof label, "trust for %s (now %d)? 0 quarantined, "
	    "1 low, 2 standard, 3 elevated, 4 trusted ", session, level);
	tui_prompt_open(&t->prompt, TUI_PROMPT_CHOICE, TUI_ACT_TRUST_LEVEL,
	    label, NULL, choices, session);
	t->dirty |= TUI_DIRTY_LINE;
}

/* Step a session's trust by delta. */
static void
trust_step(tui *t, int delta)
{
	int level = -1;
	const char *session = trust_target(t, &level);

	if (session == NULL)
		return;
	if (level + delta < 0 || level + delta > 4 || level < 0) {
		tui_notice(t, TUI_INFO, "trust of %s is already %d (%s)",
		    session, level, tui_trust_name(level));
		return;
	}
	tui_act_trust(t, session, level + delta, delta > 0 ?
	    "raised from the console" : "lowered from the console");
}

static void key_trust_up(tui *t) { trust_step(t, 1); }
static void key_trust_down(tui *t) { trust_step(t, -1); }

/* x: revoke the selected session's first grant, after a confirmation. */
static void
key_revoke(tui *t)
{
	tui_sess *s = tui_model_sess_selected(t->m);
	const json_t *g;
	char label[200];

	if (s == NULL ||
	    (g = json_array_get(json_object_get(s->raw, "grants"), 0)) ==
	    NULL) {
		tui_notice(t, TUI_INFO, "this session has no grants");
		return;
	}
	snprintf(label, sizeof label, "revoke grant %s (%s, by %s) of %s? "
	    "y/N ", tui_json_str(g, "id", "?"), tui_json_str(g, "tool", "?"),
	    tui_json_str(g, "operator", "?"), s->session);
	tui_prompt_open(&t->prompt, TUI_PROMPT_CHOICE, TUI_ACT_REVOKE_CONFIRM,
	    label, NULL, "ny", s->session);
	snprintf(t->prompt.extra, sizeof t->prompt.extra, "%s",
	    tui_json_str(g, "id", ""));
	t->dirty |= TUI_DIRTY_LINE;
}

static void
key_posture(tui *t)
{
	const char *now = t->m->posture != NULL ? t->m->posture : "normal";
	char label[160];

	snprintf(label, sizeof label, "posture (now %s): n normal  e elevated "
	    "l lockdown? ", now);
	tui_prompt_open(&t->prompt, TUI_PROMPT_CHOICE, TUI_ACT_POSTURE_LEVEL,
	    label, NULL, now[0] == 'e' ? "enl" : now[0] == 'l' ? "lne" :
	    "nel", NULL);
	t->dirty |= TUI_DIRTY_LINE;
}

static void
key_filter(tui *t)
{
	const char *now = t->view == TUI_VIEW_QUEUE ? t->m->queue_filter_text :
	    t->view == TUI_VIEW_SESSIONS ? t->m->sess_filter_text :
	    t->m->hist_filter_text;

	tui_prompt_open(&t->prompt, TUI_PROMPT_TEXT, TUI_ACT_FILTER,
	    t->view == TUI_VIEW_HISTORY ? "filter (text, tool: agent: "
	    "session: decision: kind:): " : t->view == TUI_VIEW_SESSIONS ?
	    "filter (text, agent: user: session:): " : "filter (text, tool: "
	    "agent: user: session:): ", now, NULL, NULL);
	t->dirty |= TUI_DIRTY_LINE;
}

/* ---- views and the rest ----------------------------------------------- */

static void key_view_queue(tui *t) { tui_set_view(t, TUI_VIEW_QUEUE); }
static void key_view_sessions(tui *t) { tui_set_view(t, TUI_VIEW_SESSIONS); }
static void key_view_history(tui *t) { tui_set_view(t, TUI_VIEW_HISTORY); }

static void
key_refresh(tui *t)
{
	if (t->view == TUI_VIEW_HISTORY)
		tui_hist_reload(t);
	else
		tui_act_hello(t);
	tui_notice(t, TUI_INFO, "refreshing");
}

static void
key_escape(tui *t)
{
	int list = t->view == TUI_VIEW_QUEUE ? 0 : t->view ==
	    TUI_VIEW_SESSIONS ? 1 : 2;
	const char *f = list == 0 ? t->m->queue_filter_text : list == 1 ?
	    t->m->sess_filter_text : t->m->hist_filter_text;

	if (t->focus == 1) {
		t->focus = 0;
	} else if (f != NULL) {
		tui_model_set_filter(t->m, list, NULL, NULL);
		if (list == 2)
			tui_hist_reload(t);
		tui_notice(t, TUI_INFO, "filter cleared");
	} else if (t->view != TUI_VIEW_QUEUE) {
		tui_set_view(t, TUI_VIEW_QUEUE);
	}
	t->dirty |= TUI_DIRTY_ALL & ~TUI_DIRTY_CLEAR;
}

static void
key_help(tui *t)
{
	t->overlay = TUI_OVL_HELP;
	t->ovl_scroll = 0;
	t->dirty |= TUI_DIRTY_ALL & ~TUI_DIRTY_CLEAR;
}

static void
key_redraw(tui *t)
{
	t->dirty = TUI_DIRTY_ALL;
}

static void
key_quit(tui *t)
{
	t->quit = true;
}

/* ---- prompts ---------------------------------------------------------- */

/* Act on an accepted prompt; may open the next step. */
static void
prompt_done(tui *t)
{
	tui_prompt *p = &t->prompt;
	tui_item *it;
	int64_t ttl_ms;
	char label[400], target[128], extra[64], answer[TUI_PROMPT_MAX + 1];

	snprintf(target, sizeof target, "%s", p->target);
	snprintf(extra, sizeof extra, "%s", p->extra);
	snprintf(answer, sizeof answer, "%s", p->buf);
	switch ((enum tui_action) p->action) {
	case TUI_ACT_DENY:
	case TUI_ACT_DENY_QUARANTINE:
		tui_prompt_close(p);
		tui_act_decide(t, target, false, false, 0, answer,
		    p->action == TUI_ACT_DENY_QUARANTINE);
		break;
	case TUI_ACT_GRANT_TTL:
		if (cs_parse_duration_ms(answer, &ttl_ms) != CS_OK ||
		    ttl_ms < 1000 || ttl_ms > 86400000) {
			snprintf(p->error, sizeof p->error, "a duration from 1s "
			    "to 24h, like 15m");
			return;
		}
		it = tui_model_find_item(t->m, target);
		snprintf(label, sizeof label, "approve EVERY %s call of "
		    "session %s for %.16s? y/N ",
		    it != NULL ? it->tool : "?", it != NULL ? it->session :
		    "?", answer);
		tui_prompt_open(p, TUI_PROMPT_CHOICE, TUI_ACT_GRANT_CONFIRM,
		    label, NULL, "ny", target);
		snprintf(p->extra, sizeof p->extra, "%lld",
		    (long long) (ttl_ms / 1000));
		break;
	case TUI_ACT_GRANT_CONFIRM:
		tui_prompt_close(p);
		if (answer[0] == 'y')
			tui_act_decide(t, target, true, true,
			    strtoll(extra, NULL, 10), NULL, false);
		else
			tui_notice(t, TUI_INFO, "not approved");
		break;
	case TUI_ACT_TRUST_LEVEL:
		snprintf(label, sizeof label, "reason for trust %c (%s) on %s: ",
		    answer[0], tui_trust_name(answer[0] - '0'), target);
		tui_prompt_open(p, TUI_PROMPT_TEXT, TUI_ACT_TRUST_REASON, label,
		    NULL, NULL, target);
		snprintf(p->extra, sizeof p->extra, "%c", answer[0]);
		break;
	case TUI_ACT_TRUST_REASON:
		tui_prompt_close(p);
		tui_act_trust(t, target, extra[0] - '0', answer);
		break;
	case TUI_ACT_POSTURE_LEVEL:
		snprintf(extra, sizeof extra, "%s", answer[0] == 'l' ?
		    "lockdown" : answer[0] == 'e' ? "elevated" : "normal");
		snprintf(label, sizeof label, "reason for posture %s: ", extra);
		tui_prompt_open(p, TUI_PROMPT_TEXT, TUI_ACT_POSTURE_REASON,
		    label, NULL, NULL, NULL);
		snprintf(p->extra, sizeof p->extra, "%s", extra);
		break;
	case TUI_ACT_POSTURE_REASON:
		tui_prompt_close(p);
		tui_act_posture(t, extra, answer);
		break;
	case TUI_ACT_FILTER: {
		static const char *const views[] = { "queue", "sessions",
			"history" };
		int list = t->view == TUI_VIEW_QUEUE ? 0 :
		    t->view == TUI_VIEW_SESSIONS ? 1 : 2;
		const char *unused = NULL;

		tui_prompt_close(p);
		if (tui_model_set_filter(t->m, list, answer, &unused) !=
		    CS_OK) {
			if (unused != NULL)
				tui_notice(t, TUI_WARN, "%s: is not a field of "
				    "the %s: filter unchanged", unused,
				    views[list]);
			else
				tui_notice(t, TUI_BAD, "out of memory: filter "
				    "unchanged");
			break;
		}
		if (t->view == TUI_VIEW_HISTORY)
			tui_hist_reload(t);
		t->dirty |= TUI_DIRTY_BODY | TUI_DIRTY_TOP;
		break;
	}
	case TUI_ACT_REVOKE_CONFIRM:
		tui_prompt_close(p);
		if (answer[0] == 'y')
			tui_act_revoke(t, target, extra);
		break;
	}
}

/* Keys of the help and event overlays. */
static void
overlay_key(tui *t, int key, bool is_char)
{
	if ((is_char && key == 'j') || (!is_char && key == KEY_DOWN))
		t->ovl_scroll++;
	else if ((is_char && key == 'k') || (!is_char && key == KEY_UP))
		t->ovl_scroll = t->ovl_scroll > 0 ? t->ovl_scroll - 1 : 0;
	else if (!is_char && key == KEY_NPAGE)
		t->ovl_scroll += 10;
	else if (!is_char && key == KEY_PPAGE)
		t->ovl_scroll = t->ovl_scroll > 10 ? t->ovl_scroll - 10 : 0;
	else if (is_char && key == CTRL('l'))
		t->dirty = TUI_DIRTY_ALL;
	else {
		t->overlay = TUI_OVL_NONE;
		json_decref(t->ovl_event);
		t->ovl_event = NULL;
	}
	t->dirty |= TUI_DIRTY_ALL & ~TUI_DIRTY_CLEAR;
}

void
tui_dispatch(tui *t, int key, bool is_char)
{
	if (t->prompt.active) {
		switch (tui_prompt_key(&t->prompt, key, is_char)) {
		case TUI_PROMPT_ACCEPT:
			t->prompt.error[0] = '\0';
			prompt_done(t);
			break;
		case TUI_PROMPT_CANCEL:
			tui_prompt_close(&t->prompt);
			tui_notice(t, TUI_INFO, "cancelled");
			break;
		case TUI_PROMPT_CONTINUE:
			break;
		}
		t->dirty |= TUI_DIRTY_LINE;
		return;
	}
	if (t->overlay != TUI_OVL_NONE) {
		overlay_key(t, key, is_char);
		return;
	}
	for (size_t i = 0; i < CS_ARRAY_LEN(tui_keys); i++) {
		const struct tui_key *k = &tui_keys[i];

		if (k->key != key || k->is_char != is_char)
			continue;
		if (!(k->views & (1u << t->view))) {
			tui_notice(t, TUI_INFO, "%s works in the %s view",
			    k->name, k->views & VQ ? "queue" : "sessions");
			return;
		}
		k->fn(t);
		return;
	}
}
