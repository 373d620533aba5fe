/* tui_draw.c: drawing the views. Every string goes through put(), which
 * cleans it with tui_text before curses sees it.
 * SPDX-License-Identifier: MIT */
#define _XOPEN_SOURCE 700
#define NCURSES_WIDECHAR 1
#include "tui.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "tui_text.h"

#define MIN_ROWS 24
#define MIN_COLS 80
#define LABEL_COLS 9

/* What a piece of text is, for its attributes. */
enum role {
	R_NORMAL, R_BAR, R_BAR_GOOD, R_BAR_BAD, R_BAR_WARN, R_TAB_ON,
	R_HEAD, R_SEL, R_SEL_OFF, R_LABEL, R_DIM, R_GOOD, R_WARN, R_BAD,
	R_KEY, R_TITLE, R_BORDER, R_COUNT
};

static attr_t role_attr[R_COUNT];

enum { P_BAR = 1, P_BAR_GOOD, P_BAR_BAD, P_BAR_WARN, P_TAB_ON, P_SEL,
	P_LABEL, P_GOOD, P_WARN, P_BAD, P_KEY, P_BORDER };

void
tui_draw_init(tui *t)
{
	const char *nc = getenv("NO_COLOR");

	t->color = has_colors() && (nc == NULL || *nc == '\0');
	for (int i = 0; i < R_COUNT; i++)
		role_attr[i] = A_NORMAL;
	role_attr[R_HEAD] = A_BOLD | A_UNDERLINE;
	role_attr[R_DIM] = A_DIM;
	role_attr[R_TITLE] = A_BOLD;
	if (!t->color) {
		role_attr[R_BAR] = A_REVERSE;
		role_attr[R_BAR_GOOD] = A_REVERSE | A_BOLD;
		role_attr[R_BAR_BAD] = A_REVERSE | A_BOLD | A_UNDERLINE;
		role_attr[R_BAR_WARN] = A_REVERSE | A_BOLD;
		role_attr[R_TAB_ON] = A_BOLD | A_UNDERLINE;
		role_attr[R_SEL] = A_REVERSE | A_BOLD;
		role_attr[R_SEL_OFF] = A_UNDERLINE | A_BOLD;
		role_attr[R_LABEL] = A_BOLD;
		role_attr[R_GOOD] = A_BOLD;
		role_attr[R_WARN] = A_BOLD;
		role_attr[R_BAD] = A_BOLD | A_UNDERLINE;
		role_attr[R_KEY] = A_BOLD;
		return;
	}
	start_color();
	use_default_colors();
	init_pair(P_BAR, COLOR_BLACK, COLOR_CYAN);
	init_pair(P_BAR_GOOD, COLOR_BLACK, COLOR_GREEN);
	init_pair(P_BAR_BAD, COLOR_WHITE, COLOR_RED);
	init_pair(P_BAR_WARN, COLOR_BLACK, COLOR_YELLOW);
	init_pair(P_TAB_ON, COLOR_WHITE, COLOR_BLUE);
	init_pair(P_SEL, COLOR_BLACK, COLOR_CYAN);
	init_pair(P_LABEL, COLOR_CYAN, -1);
	init_pair(P_GOOD, COLOR_GREEN, -1);
	init_pair(P_WARN, COLOR_YELLOW, -1);
	init_pair(P_BAD, COLOR_RED, -1);
	init_pair(P_KEY, COLOR_CYAN, -1);
	init_pair(P_BORDER, COLOR_BLUE, -1);
	role_attr[R_BAR] = COLOR_PAIR(P_BAR);
	role_attr[R_BAR_GOOD] = COLOR_PAIR(P_BAR_GOOD);
	role_attr[R_BAR_BAD] = COLOR_PAIR(P_BAR_BAD) | A_BOLD;
	role_attr[R_BAR_WARN] = COLOR_PAIR(P_BAR_WARN);
	role_attr[R_TAB_ON] = COLOR_PAIR(P_TAB_ON) | A_BOLD;
	role_attr[R_SEL] = COLOR_PAIR(P_SEL);
	role_attr[R_SEL_OFF] = A_REVERSE;
	role_attr[R_LABEL] = COLOR_PAIR(P_LABEL);
	role_attr[R_GOOD] = COLOR_PAIR(P_GOOD);
	role_attr[R_WARN] = COLOR_PAIR(P_WARN) | A_BOLD;
	role_attr[R_BAD] = COLOR_PAIR(P_BAD) | A_BOLD;
	role_attr[R_KEY] = COLOR_PAIR(P_KEY) | A_BOLD;
	role_attr[R_BORDER] = COLOR_PAIR(P_BORDER);
}

/* ---- primitives ------------------------------------------------------- */

/* Draw s, cleaned, at (y, x) in at most w columns; returns the columns
 * used. */
static int
put(tui *t, int y, int x, int w, enum role r, const char *s)
{
	char buf[4096];
	int cols;

	if (s == NULL || y < 0 || y >= t->rows || x < 0 || x >= t->cols)
		return 0;
	if (x + w > t->cols)
		w = t->cols - x;
	if (w <= 0)
		return 0;
	cols = tui_text_clean(s, strlen(s), w, t->text_flags, buf, sizeof buf,
	    NULL);
	attrset(role_attr[r]);
	mvaddstr(y, x, buf);
	attrset(A_NORMAL);
	return cols;
}

/* put() a formatted string. */
static int
putf(tui *t, int y, int x, int w, enum role r, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int
putf(tui *t, int y, int x, int w, enum role r, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return put(t, y, x, w, r, buf);
}

/* Fill w columns at (y, x) with spaces in role r. */
static void
fill(tui *t, int y, int x, int w, enum role r)
{
	if (y < 0 || y >= t->rows)
		return;
	if (x + w > t->cols)
		w = t->cols - x;
	attrset(role_attr[r]);
	for (int i = 0; i < w; i++)
		mvaddch(y, x + i, ' ');
	attrset(A_NORMAL);
}

/* Draw s in w - 1 columns, padded with spaces to exactly w columns (a
 * table cell: at least one space to the next). */
static void
put_pad(tui *t, int y, int x, int w, enum role r, const char *s)
{
	int used = put(t, y, x, w - 1, r, s);

	if (used < w)
		fill(t, y, x + used, w - used, r);
}

/* A horizontal rule. */
static void
hrule(tui *t, int y, int x, int w)
{
	attrset(role_attr[R_BORDER]);
	for (int i = 0; i < w && x + i < t->cols; i++)
		mvaddstr(y, x + i, t->g.hline);
	attrset(A_NORMAL);
}

/* A vertical rule. */
static void
vrule(tui *t, int y, int x, int h)
{
	attrset(role_attr[R_BORDER]);
	for (int i = 0; i < h; i++)
		mvaddstr(y + i, x, t->g.vline);
	attrset(A_NORMAL);
}

/* Clear the rectangle. */
static void
clear_rect(tui *t, int y, int x, int h, int w)
{
	for (int i = 0; i < h; i++)
		fill(t, y + i, x, w, R_NORMAL);
}

/* Keep a list's cursor within the rows shown; returns the first row. */
static size_t
scroll_top(size_t *top, size_t sel, size_t count, int rows)
{
	size_t n = rows > 0 ? (size_t) rows : 1;

	if (sel < *top)
		*top = sel;
	if (sel >= *top + n)
		*top = sel - n + 1;
	if (count <= n)
		*top = 0;
	else if (*top > count - n)
		*top = count - n;
	return *top;
}

/* Split the width left for flexible columns by percentages. */
static int
pct(int total, int percent, int min)
{
	int v = total * percent / 100;

	return v < min ? min : v;
}

/* Role for a risk level. */
static enum role
risk_role(const char *risk)
{
	if (strcmp(risk, "high") == 0 || strcmp(risk, "critical") == 0)
		return R_BAD;
	if (strcmp(risk, "medium") == 0)
		return R_WARN;
	return R_GOOD;
}

/* Role for a trust level. */
static enum role
trust_role(int level)
{
	return level <= 0 ? R_BAD : level == 1 ? R_WARN : level >= 3 ? R_GOOD :
	    R_NORMAL;
}

/* Daemon wall time now. */
static int64_t
server_now(const tui *t)
{
	return tui_model_server_now(t->m, cs_now_ms());
}

/* ---- top bar ---------------------------------------------------------- */

/* Row 0: name, view tabs, filter, help hint. */
static void
draw_top(tui *t)
{
	static const char *const names[] = { "Queue", "Sessions", "History" };
	const char *filter = t->view == TUI_VIEW_QUEUE ?
	    t->m->queue_filter_text : t->view == TUI_VIEW_SESSIONS ?
	    t->m->sess_filter_text : t->m->hist_filter_text;
	int x;

	fill(t, 0, 0, t->cols, R_BAR);
	x = put(t, 0, 0, t->cols, R_BAR, " countersign ");
	for (int v = 0; v < TUI_VIEW_COUNT; v++) {
		char label[64];

		if (v == TUI_VIEW_QUEUE)
			snprintf(label, sizeof label, " 1 Queue %zu ",
			    t->m->item_count);
		else if (v == TUI_VIEW_SESSIONS &&
		    t->m->sess_total > t->m->sess_count)
			/* the snapshot lists the most recently active */
			snprintf(label, sizeof label, " 2 Sessions %zu of %zu ",
			    t->m->sess_count, t->m->sess_total);
		else if (v == TUI_VIEW_SESSIONS)
			snprintf(label, sizeof label, " 2 Sessions %zu ",
			    t->m->sess_count);
		else
			snprintf(label, sizeof label, " 3 %s ", names[v]);
		x += put(t, 0, x, t->cols - x, v == (int) t->view ? R_TAB_ON :
		    R_BAR, label);
	}
	if (filter != NULL) {
		char f[96];

		snprintf(f, sizeof f, " filter: %s ", filter);
		x += put(t, 0, x + 1, t->cols - x - 12, R_BAR_WARN, f) + 1;
	}
	if (t->cols - x > 16)
		put(t, 0, t->cols - 15, 15, R_BAR, "? help  q quit");
}

/* ---- status bar ------------------------------------------------------- */

/* Format a latency for the status bar. */
static void
fmt_latency(int64_t ms, char *out, size_t size)
{
	if (ms < 0)
		snprintf(out, size, "-");
	else if (ms < 60000)
		snprintf(out, size, "%.1fs", (double) ms / 1000.0);
	else
		snprintf(out, size, "%lldm%02llds", (long long) (ms / 60000),
		    (long long) (ms / 1000 % 60));
}

/* Last row: connection, pending, latency, posture, operator, policy. */
static void
draw_status(tui *t)
{
	const tui_model *m = t->m;
	const char *sep = t->cols >= 110 ? " \xe2\x94\x82 " : "  ";
	const char *posture = m->posture != NULL ? m->posture : "?";
	char buf[160], lat[32];
	int y = t->rows - 1, x = 0, w = t->cols;

	if (t->text_flags)
		sep = t->cols >= 110 ? " | " : "  ";
	fill(t, y, 0, w, R_BAR);
	if (m->conn == TUI_CONN_UP)
		snprintf(buf, sizeof buf, " %s connected ", t->g.dot);
	else if (m->conn == TUI_CONN_DOWN)
		snprintf(buf, sizeof buf, " %s disconnected \xe2\x80\x94 "
		    "retrying ", t->g.dot);
	else
		snprintf(buf, sizeof buf, " %s connecting ", t->g.dot);
	x += put(t, y, x, w - x, m->conn == TUI_CONN_UP ? R_BAR_GOOD :
	    m->conn == TUI_CONN_DOWN ? R_BAR_BAD : R_BAR_WARN, buf);
	if (m->health != NULL) {
		x += put(t, y, x, w - x, R_BAR, sep);
		x += put(t, y, x, w - x, R_BAR_BAD, " audit unavailable ");
	}
	x += put(t, y, x, w - x, R_BAR, sep);
	snprintf(buf, sizeof buf, "%zu pending", m->item_count);
	x += put(t, y, x, w - x, m->item_count > 0 ? R_BAR_WARN : R_BAR, buf);
	x += put(t, y, x, w - x, R_BAR, sep);
	fmt_latency(tui_model_latency_p50(m), lat, sizeof lat);
	snprintf(buf, sizeof buf, "p50 %s", lat);
	x += put(t, y, x, w - x, R_BAR, buf);
	x += put(t, y, x, w - x, R_BAR, sep);
	snprintf(buf, sizeof buf, "posture %s", posture);
	x += put(t, y, x, w - x, strcmp(posture, "lockdown") == 0 ?
	    R_BAR_BAD : strcmp(posture, "elevated") == 0 ? R_BAR_WARN : R_BAR,
	    buf);
	x += put(t, y, x, w - x, R_BAR, sep);
	snprintf(buf, sizeof buf, "op %s", m->operator_name != NULL ?
	    m->operator_name : "?");
	x += put(t, y, x, w - x, R_BAR, buf);
	x += put(t, y, x, w - x, R_BAR, sep);
	put(t, y, x, w - x, R_BAR, m->policy != NULL ? m->policy : "policy ?");
}

/* ---- message line ----------------------------------------------------- */

/* Key hints for the current view: pairs of key and meaning. */
static void
draw_hints(tui *t, int y)
{
	static const char *const queue[] = { "a", "approve", "A", "session",
		"d", "deny", "D", "quarantine", "t", "trust", "Tab", "detail",
		"/", "filter", "s", "sessions", "h", "history", "?", "help",
		NULL };
	static const char *const sessions[] = { "t", "trust", "+/-", "step",
		"x", "revoke", "p", "posture", "/", "filter", "1", "queue",
		"h", "history", "?", "help", NULL };
	static const char *const history[] = { "Enter", "event", "/",
		"filter", "r", "refresh", "End", "oldest", "1", "queue", "s",
		"sessions", "?", "help", NULL };
	const char *const *h = t->view == TUI_VIEW_QUEUE ? queue :
	    t->view == TUI_VIEW_SESSIONS ? sessions : history;
	int x = 1;

	for (size_t i = 0; h[i] != NULL && x < t->cols - 4; i += 2) {
		x += put(t, y, x, t->cols - x, R_KEY, h[i]);
		x += put(t, y, x, t->cols - x, R_DIM, " ");
		x += put(t, y, x, t->cols - x, R_DIM, h[i + 1]);
		x += 2;
	}
}

/* Row rows-2: the prompt, else the notice, else key hints. */
static void
draw_line(tui *t)
{
	int y = t->rows - 2;
	const tui_prompt *p = &t->prompt;
	static const enum role level_role[] = { [TUI_INFO] = R_NORMAL,
		[TUI_GOOD] = R_GOOD, [TUI_WARN] = R_WARN, [TUI_BAD] = R_BAD };

	fill(t, y, 0, t->cols, R_NORMAL);
	curs_set(0);
	if (p->active) {
		int x = 1, label_w, text_w, cur;
		char before[TUI_PROMPT_MAX + 1];

		label_w = put(t, y, x, p->kind == TUI_PROMPT_CHOICE ?
		    t->cols - 2 : t->cols - 24, R_KEY, p->label);
		x += label_w;
		if (p->error[0] != '\0') {
			int ew = tui_text_width(p->error, t->text_flags) + 3;

			put(t, y, t->cols - ew, ew, R_BAD, p->error);
		}
		text_w = t->cols - x - 2;
		snprintf(before, sizeof before, "%.*s", (int) p->cursor,
		    p->buf);
		cur = tui_text_width(before, t->text_flags);
		if (p->kind == TUI_PROMPT_TEXT) {
			/* keep the cursor in view on long input */
			const char *shown = p->buf;

			while (cur >= text_w && *shown != '\0') {
				shown++;
				while ((*shown & 0xC0) == 0x80)
					shown++;
				snprintf(before, sizeof before, "%.*s",
				    (int) (p->buf + p->cursor - shown), shown);
				cur = tui_text_width(before, t->text_flags);
			}
			put(t, y, x, text_w, R_NORMAL, shown);
			move(y, x + cur);
			curs_set(1);
		}
		return;
	}
	if (t->m->notice[0] != '\0') {
		put(t, y, 1, t->cols - 2, level_role[t->m->notice_level],
		    t->m->notice);
		return;
	}
	draw_hints(t, y);
}

/* ---- queue view ------------------------------------------------------- */

/* The list of pending calls in a box at (y, x) of h rows and w cols. */
static void
draw_queue_list(tui *t, int y, int x, int h, int w)
{
	tui_model *m = t->m;
	int flex = w - 7 - 1 - 6 - 4 - 3, tool_w, agent_w, user_w;
	int64_t now = server_now(t);
	size_t top;

	tool_w = pct(flex, 42, 8);
	agent_w = pct(flex, 32, 6);
	user_w = flex - tool_w - agent_w;
	if (user_w < 4)
		user_w = 4;
	putf(t, y, x, w, R_HEAD, " %-6s %-*s %-*s %-*s %-5s %-3s", "LEFT",
	    tool_w, "TOOL", agent_w, "AGENT", user_w, "HUMAN", "RISK", "OK");
	h--;
	t->list_rows = h;
	if (m->shown_count == 0) {
		put(t, y + 2, x + 2, w - 4, R_DIM, m->item_count == 0 ?
		    "no calls are waiting for an operator" :
		    "no waiting call matches the filter (Esc clears it)");
		return;
	}
	top = scroll_top(&t->top[TUI_VIEW_QUEUE], m->queue_sel,
	    m->shown_count, h);
	for (int row = 0; row < h && top + (size_t) row < m->shown_count;
	    row++) {
		size_t i = top + (size_t) row;
		const tui_item *it = m->shown[i];
		bool sel = i == m->queue_sel;
		enum role base = sel ? (t->focus == 0 ? R_SEL : R_SEL_OFF) :
		    R_NORMAL;
		int64_t left = it->deadline_ms - now;
		char cd[16], quorum[16];
		int cx = x, ry = y + 1 + row;

		tui_fmt_countdown(left, cd, sizeof cd);
		if (it->approvers > 1)
			snprintf(quorum, sizeof quorum, "%d/%d", it->approvals,
			    it->approvers);
		else
			quorum[0] = '\0';
		fill(t, ry, x, w, base);
		cx += put(t, ry, cx, 1, base, " ");
		put_pad(t, ry, cx, 7, sel ? base : left < 30000 ? R_BAD :
		    left < 60000 ? R_WARN : R_NORMAL, cd);
		cx += 7;
		put_pad(t, ry, cx, tool_w + 1, sel ? base : R_TITLE, it->tool);
		cx += tool_w + 1;
		put_pad(t, ry, cx, agent_w + 1, base, it->agent);
		cx += agent_w + 1;
		put_pad(t, ry, cx, user_w + 1, base, it->user);
		cx += user_w + 1;
		put_pad(t, ry, cx, 6, sel ? base : risk_role(it->risk),
		    strcmp(it->risk, "critical") == 0 ? "crit" :
		    strcmp(it->risk, "medium") == 0 ? "med" : it->risk);
		cx += 6;
		put(t, ry, cx, x + w - cx, sel ? base : R_WARN, quorum);
	}
	if (top > 0)
		put(t, y + 1, x + w - 2, 1, R_DIM, t->g.up);
	if (top + (size_t) h < m->shown_count)
		put(t, y + h, x + w - 2, 1, R_DIM, t->g.down);
}

/* One line of the detail pane. */
struct dline {
	enum role label_role, role;
	const char *label;
	char *text; /* owned, raw */
};

struct dlines {
	struct dline *v;
	size_t count, cap;
};

/* Append a detail line (text formatted). */
static void
dl_add(struct dlines *d, const char *label, enum role role, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

static void
dl_add(struct dlines *d, const char *label, enum role role, const char *fmt,
    ...)
{
	va_list ap;
	char *text;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (text = malloc((size_t) n + 1)) == NULL)
		abort();
	va_start(ap, fmt);
	vsnprintf(text, (size_t) n + 1, fmt, ap);
	va_end(ap);
	if (d->count == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 32;
		if ((d->v = realloc(d->v, d->cap * sizeof *d->v)) == NULL)
			abort();
	}
	d->v[d->count++] = (struct dline) { .label_role = R_LABEL,
		.role = role, .label = label, .text = text };
}

/* Free the detail lines. */
static void
dl_free(struct dlines *d)
{
	for (size_t i = 0; i < d->count; i++)
		free(d->v[i].text);
	free(d->v);
}

/* The chain as "human (human) -> agent -> sub-agent". */
static void
chain_text(const tui *t, const json_t *chain, char *out, size_t size)
{
	size_t i, used = 0;
	const json_t *v;

	out[0] = '\0';
	json_array_foreach(chain, i, v) {
		int n = snprintf(out + used, size - used, "%s%s%s%s%s",
		    i > 0 ? " " : "", i > 0 ? t->g.arrow : "", i > 0 ? " " : "",
		    json_is_string(v) ? json_string_value(v) : "?",
		    i == 0 && json_array_size(chain) > 1 ? " (human)" : "");

		if (n < 0 || (size_t) n >= size - used)
			return;
		used += (size_t) n;
	}
}

/* Add one line of pretty-printed arguments, cleaned and wrapped to width
 * columns (continuations indented), at most 40 rows. */
static void
wrap_add(const tui *t, struct dlines *d, const char *line, int width)
{
	size_t len = strlen(line), size = len * 3 + 16, at = 0, clean_len;
	char *clean = malloc(size);
	int rows = 0, indent = 0;

	if (clean == NULL)
		abort();
	tui_text_clean(line, len, -1, t->text_flags, clean, size, NULL);
	clean_len = strlen(clean);
	while (line[indent] == ' ')
		indent++;
	if (width < 20 + indent)
		width = 20 + indent;
	do {
		int w = width - 2 - (rows > 0 ? indent + 4 : 0);
		size_t n = tui_text_fit(clean + at, w, NULL);

		if (rows == 39 && at + n < clean_len) {
			dl_add(d, "", R_NORMAL, "%*s%s", 2 + indent + 4, "",
			    t->text_flags ? "..." : TUI_TEXT_ELLIPSIS);
			break;
		}
		if (n == 0 && at < clean_len)
			n = clean_len - at; /* a character wider than w */
		dl_add(d, "", R_NORMAL, "%*s%.*s", rows > 0 ? 2 + indent + 4 :
		    2, "", (int) n, clean + at);
		at += n;
		rows++;
	} while (at < clean_len);
	free(clean);
}

/* The arguments: on the ARGS line when they fit in one line, else
 * pretty-printed and wrapped below it. */
static void
args_lines(const tui *t, struct dlines *d, const json_t *args, int width)
{
	char *text = json_dumps(args, JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	char *line, *nl;

	if (text != NULL && strchr(text, '\n') == NULL &&
	    tui_text_width(text, t->text_flags) <= width) {
		dl_add(d, "ARGS", R_TITLE, "%s", text);
		free(text);
		return;
	}
	free(text);
	dl_add(d, "ARGS", R_DIM, "%s", "");
	if ((text = json_dumps(args, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
	    JSON_ENCODE_ANY)) == NULL)
		return;
	line = text;
	do {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl = '\0';
		wrap_add(t, d, line, width);
		line = nl != NULL ? nl + 1 : NULL;
	} while (line != NULL);
	free(text);
}

/* Build the detail lines of one call; width is the value column's. */
static void
detail_lines(tui *t, const tui_item *it, struct dlines *d, int width)
{
	const json_t *r = it->raw;
	const tui_sess *s = tui_model_find_session(t->m, it->session);
	int64_t now = server_now(t);
	int64_t exp_ms = it->token_exp_s * 1000;
	bool exp_soon = it->token_exp_s > 0 && (exp_ms - now < 300000 ||
	    exp_ms < it->deadline_ms);
	const char *sep = t->g.sep;
	char buf[512], when[32], age[16], left[16];
	const json_t *v;
	size_t i;

	dl_add(d, "CALL", R_TITLE, "%s  %s%s%s", it->tool,
	    tui_json_str(r, "action", ""),
	    json_object_get(r, "resource") != NULL ? " " : "",
	    tui_json_str(r, "resource", ""));
	/* what is out of the ordinary, first */
	if (it->new_tool)
		dl_add(d, "FLAG", R_WARN, "%s first use of %s in this session",
		    t->g.flag, it->tool);
	if (exp_soon) {
		tui_fmt_age(exp_ms - now, age, sizeof age);
		dl_add(d, "FLAG", R_BAD, "%s token %s%s%s", t->g.flag,
		    exp_ms <= now ? "has expired" : "expires in ",
		    exp_ms <= now ? "" : age, exp_ms < it->deadline_ms &&
		    exp_ms > now ? ", before the decision deadline" : "");
	}
	if (it->approvers > 1 && it->approvals < it->approvers)
		dl_add(d, "FLAG", R_WARN, "%s quorum not met: %d of %d "
		    "operators", t->g.flag, it->approvals, it->approvers);
	if (s != NULL && it->trust >= 0 && s->trust != it->trust)
		dl_add(d, "FLAG", R_WARN, "%s session trust is now %d (%s), "
		    "was %d when escalated", t->g.flag, s->trust,
		    tui_trust_name(s->trust), it->trust);
	if (strcmp(it->risk, "high") == 0 || strcmp(it->risk, "critical") == 0)
		dl_add(d, "FLAG", R_BAD, "%s %s-risk tool", t->g.flag, it->risk);
	dl_add(d, "WHY", R_NORMAL, "%s", tui_json_str(r, "reason", "-"));
	chain_text(t, json_object_get(r, "chain"), buf, sizeof buf);
	dl_add(d, "CHAIN", R_NORMAL, "%s", buf[0] ? buf : it->agent);
	if (json_is_integer(json_object_get(r, "args_elided")))
		dl_add(d, "ARGS", R_WARN, "%lld bytes, too large for the "
		    "snapshot: see history (h, / request:ID)", (long long)
		    json_integer_value(json_object_get(r, "args_elided")));
	else
		args_lines(t, d, json_object_get(r, "args"), width);
	if (s != NULL)
		dl_add(d, "SESSION", trust_role(s->trust), "%s %s trust %d %s "
		    "%s %lld calls, %lld denied", it->session, sep, s->trust,
		    tui_trust_name(s->trust), sep, (long long) s->calls,
		    (long long) s->denials);
	else
		dl_add(d, "SESSION", trust_role(it->trust), "%s %s trust %d "
		    "%s", it->session, sep, it->trust,
		    tui_trust_name(it->trust));
	dl_add(d, "PURPOSE", R_NORMAL, "%s", tui_json_str(r, "purpose",
	    "(none given)"));
	dl_add(d, "SCOPE", R_NORMAL, "%s", tui_json_str(r, "scope", "-"));
	if (it->token_exp_s > 0) {
		tui_fmt_clock(exp_ms, false, when, sizeof when);
		tui_fmt_age(exp_ms > now ? exp_ms - now : now - exp_ms, age,
		    sizeof age);
		dl_add(d, "TOKEN", exp_soon ? R_BAD : R_NORMAL, "expires %s "
		    "(%s%s%s) %s jti %s", when, exp_ms > now ? "in " : "",
		    age, exp_ms > now ? "" : " ago", sep,
		    tui_json_str(r, "jti", "-"));
	}
	dl_add(d, "CONSENT", R_NORMAL, "%s", tui_json_str(r, "consent",
	    "(no consent reference)"));
	dl_add(d, "RULE", R_NORMAL, "%s %s risk %s %s policy %s",
	    it->rule[0] ? it->rule : "(default)", sep, it->risk[0] ? it->risk :
	    "?", sep, tui_json_str(r, "policy", "?"));
	if (it->approvers > 1) {
		size_t used = 0;

		buf[0] = '\0';
		json_array_foreach(json_object_get(r, "approvals"), i, v) {
			int n = snprintf(buf + used, sizeof buf - used, "%s%s",
			    i > 0 ? ", " : "", json_is_string(v) ?
			    json_string_value(v) : "?");

			if (n < 0 || (size_t) n >= sizeof buf - used)
				break;
			used += (size_t) n;
		}
		dl_add(d, "QUORUM", it->approvals < it->approvers ? R_WARN :
		    R_GOOD, "%d of %d approvals%s%s", it->approvals,
		    it->approvers, used ? ": " : "", buf);
	}
	tui_fmt_countdown(it->deadline_ms - now, left, sizeof left);
	tui_fmt_age(now - it->received_ms, age, sizeof age);
	tui_fmt_clock(it->deadline_ms, false, when, sizeof when);
	dl_add(d, "WAITING", it->deadline_ms - now < 30000 ? R_BAD : R_NORMAL,
	    "%s %s decide within %s (by %s)", age, sep, left, when);
	dl_add(d, "CONTEXT", R_DIM, "rate %lld/min %s posture %s",
	    (long long) json_integer_value(json_object_get(r, "rate")), sep,
	    tui_json_str(r, "posture", "?"));
	dl_add(d, "REQUEST", R_NORMAL, "%s %s id %s", it->request, sep,
	    tui_json_str(r, "id", "-"));
	dl_add(d, "DIGEST", R_DIM, "%s", tui_json_str(r, "args_digest", ""));
}

/* The detail pane of the selected call. */
static void
draw_detail(tui *t, int y, int x, int h, int w)
{
	const tui_item *it = tui_model_queue_selected(t->m);
	struct dlines d = { 0 };
	int vw = w - LABEL_COLS - 2;

	if (it == NULL) {
		t->detail_lines = 0;
		put(t, y + 1, x + 2, w - 4, R_DIM, "select a call to see its "
		    "delegation chain, token, rule and arguments");
		return;
	}
	detail_lines(t, it, &d, vw);
	t->detail_lines = d.count > (size_t) h ? (int) d.count - h : 0;
	if (t->detail_scroll > t->detail_lines)
		t->detail_scroll = t->detail_lines;
	for (int row = 0; row < h; row++) {
		size_t i = (size_t) (row + t->detail_scroll);
		const struct dline *l;

		if (i >= d.count)
			break;
		l = &d.v[i];
		put(t, y + row, x + 1, LABEL_COLS, l->role == R_BAD &&
		    strcmp(l->label, "FLAG") == 0 ? R_BAD : l->label_role,
		    l->label);
		put(t, y + row, x + 1 + LABEL_COLS, vw, l->role, l->text);
	}
	if (t->detail_scroll > 0)
		put(t, y, x + w - 2, 1, R_DIM, t->g.up);
	if (t->detail_scroll < t->detail_lines)
		put(t, y + h - 1, x + w - 2, 1, R_DIM, t->g.down);
	dl_free(&d);
}

/* Queue list and detail: side by side when wide, stacked otherwise. */
static void
draw_queue(tui *t, int y, int h)
{
	if (t->cols >= 110) {
		int lw = t->cols * 47 / 100;

		draw_queue_list(t, y, 0, h, lw);
		vrule(t, y, lw, h);
		if (t->focus == 1)
			put(t, y, lw + 2, 20, R_KEY, "detail");
		draw_detail(t, y + (t->focus == 1), lw + 1, h - (t->focus == 1),
		    t->cols - lw - 1);
	} else {
		int lh = (int) t->m->shown_count + 1;

		if (lh < 5)
			lh = 5;
		if (lh > h / 3 + 1)
			lh = h / 3 + 1;
		draw_queue_list(t, y, 0, lh, t->cols);
		hrule(t, y + lh, 0, t->cols);
		if (t->focus == 1)
			put(t, y + lh, 2, 20, R_KEY, " detail ");
		draw_detail(t, y + lh + 1, 0, h - lh - 1, t->cols);
	}
}

/* ---- sessions view ---------------------------------------------------- */

/* The selected session's chain, tools and grants. */
static void
draw_sess_detail(tui *t, const tui_sess *s, int y, int h)
{
	const char *sep = t->g.sep;
	char buf[512], age[16];
	const json_t *v;
	const char *key;
	size_t used = 0, i;
	int row = 0, vw = t->cols - LABEL_COLS - 2;
	int64_t now = server_now(t);

	if (s == NULL)
		return;
	chain_text(t, json_object_get(s->raw, "chain"), buf, sizeof buf);
	put(t, y + row, 1, LABEL_COLS, R_LABEL, "CHAIN");
	put(t, y + row++, 1 + LABEL_COLS, vw, R_NORMAL, buf);
	buf[0] = '\0';
	json_object_foreach((json_t *) json_object_get(s->raw, "tools"), key,
	    v) {
		int n = snprintf(buf + used, sizeof buf - used, "%s%s x%lld",
		    used ? ", " : "", key, (long long) json_integer_value(v));

		if (n < 0 || (size_t) n >= sizeof buf - used)
			break;
		used += (size_t) n;
	}
	put(t, y + row, 1, LABEL_COLS, R_LABEL, "TOOLS");
	put(t, y + row++, 1 + LABEL_COLS, vw, R_NORMAL, used ? buf : "-");
	put(t, y + row, 1, LABEL_COLS, R_LABEL, "PURPOSE");
	put(t, y + row++, 1 + LABEL_COLS, vw, R_NORMAL, s->purpose);
	tui_fmt_age(now - s->created_ms, age, sizeof age);
	put(t, y + row, 1, LABEL_COLS, R_LABEL, "OPENED");
	putf(t, y + row++, 1 + LABEL_COLS, vw, R_NORMAL, "%s ago %s %lld calls "
	    "%s %lld denied", age, sep, (long long) s->calls, sep,
	    (long long) s->denials);
	put(t, y + row, 1, LABEL_COLS, R_LABEL, "GRANTS");
	if (json_array_size(json_object_get(s->raw, "grants")) == 0)
		put(t, y + row++, 1 + LABEL_COLS, vw, R_DIM, "none");
	json_array_foreach(json_object_get(s->raw, "grants"), i, v) {
		int64_t exp = json_integer_value(json_object_get(v, "expires"));

		if (row >= h)
			break;
		tui_fmt_age(exp - now, age, sizeof age);
		putf(t, y + row++, 1 + LABEL_COLS, vw, R_WARN, "%s: every %s "
		    "call, by %s, %s left (x revokes)",
		    tui_json_str(v, "id", "?"), tui_json_str(v, "tool", "?"),
		    tui_json_str(v, "operator", "?"), age);
	}
}

/* Every session with trust, counts and last activity. */
static void
draw_sessions(tui *t, int y, int h)
{
	tui_model *m = t->m;
	int dh = h >= 20 ? 8 : 6, lh = h - dh - 1;
	int flex = t->cols - 1 - 14 - 7 - 7 - 6 - 4, sess_w, agent_w, user_w,
	    purpose_w;
	int64_t now = server_now(t);
	size_t top;

	bool wide = t->cols >= 110;

	sess_w = pct(flex, wide ? 24 : 36, 8);
	agent_w = pct(flex, wide ? 20 : 38, 8);
	user_w = wide ? pct(flex, 14, 6) : flex - sess_w - agent_w - 1;
	purpose_w = wide ? flex - sess_w - agent_w - user_w : 0;
	putf(t, y, 0, t->cols, R_HEAD, " %-*s %-*s %-*s %-13s %6s %6s %5s %-*s",
	    sess_w, "SESSION", agent_w, "AGENT", user_w, "HUMAN", "TRUST",
	    "CALLS", "DENIED", "LAST", purpose_w > 0 ? purpose_w : 1,
	    wide ? "PURPOSE" : "");
	t->list_rows = lh - 1;
	if (m->sess_shown_count == 0) {
		put(t, y + 2, 2, t->cols - 4, R_DIM, m->sess_count == 0 ?
		    "no sessions yet" : "no session matches the filter (Esc "
		    "clears it)");
		return;
	}
	top = scroll_top(&t->top[TUI_VIEW_SESSIONS], m->sess_sel,
	    m->sess_shown_count, lh - 1);
	for (int row = 0; row < lh - 1 && top + (size_t) row <
	    m->sess_shown_count; row++) {
		size_t i = top + (size_t) row;
		const tui_sess *s = m->sessions[m->sess_shown[i]];
		bool sel = i == m->sess_sel;
		enum role base = sel ? R_SEL : R_NORMAL;
		char trust[24], age[16], num[24];
		int cx = 1, ry = y + 1 + row;

		fill(t, ry, 0, t->cols, base);
		snprintf(trust, sizeof trust, "%d %s", s->trust,
		    tui_trust_name(s->trust));
		tui_fmt_age(now - s->last_ms, age, sizeof age);
		put_pad(t, ry, cx, sess_w + 1, base, s->session);
		cx += sess_w + 1;
		put_pad(t, ry, cx, agent_w + 1, base, s->agent);
		cx += agent_w + 1;
		put_pad(t, ry, cx, user_w + 1, base, s->user);
		cx += user_w + 1;
		put_pad(t, ry, cx, 14, sel ? base : trust_role(s->trust), trust);
		cx += 14;
		snprintf(num, sizeof num, "%6lld ", (long long) s->calls);
		cx += put(t, ry, cx, 7, base, num);
		snprintf(num, sizeof num, "%6lld ", (long long) s->denials);
		cx += put(t, ry, cx, 7, sel ? base : s->denials > 0 ? R_WARN :
		    base, num);
		snprintf(num, sizeof num, "%5s ", age);
		cx += put(t, ry, cx, 6, base, num);
		if (wide)
			put(t, ry, cx, t->cols - cx, sel ? base : R_DIM,
			    s->purpose);
	}
	hrule(t, y + lh, 0, t->cols);
	draw_sess_detail(t, tui_model_sess_selected(m), y + lh + 1, dh);
}

/* ---- history view ----------------------------------------------------- */

/* The audit store, newest first. */
static void
draw_history(tui *t, int y, int h)
{
	tui_model *m = t->m;
	bool wide = t->cols >= 110;
	int fixed = 1 + 8 + 9 + 9 + 6 + (wide ? 9 : 0);
	int flex = t->cols - fixed, tool_w, agent_w = 0, what_w;
	size_t top;
	char info[256];

	tool_w = pct(flex, wide ? 18 : 24, 8);
	if (wide)
		agent_w = pct(flex, 16, 8);
	what_w = flex - tool_w - agent_w - (wide ? 2 : 1);
	snprintf(info, sizeof info, " audit store %s %s %zu rows loaded%s",
	    t->opts->db_path != NULL ? t->opts->db_path : "?", t->g.sep,
	    m->hist_count, m->hist_done ? "" : ", more below");
	put(t, y, 0, t->cols, R_DIM, t->hist_error[0] ? t->hist_error : info);
	if (wide)
		putf(t, y + 1, 0, t->cols, R_HEAD, " %7s %-8s %-8s %-5s %-8s "
		    "%-*s %-*s %-*s", "SEQ", "TIME", "KIND", "DEC", "BY", tool_w,
		    "TOOL", agent_w, "AGENT", what_w, "WHAT");
	else
		putf(t, y + 1, 0, t->cols, R_HEAD, " %7s %-8s %-8s %-5s %-*s "
		    "%-*s", "SEQ", "TIME", "KIND", "DEC", tool_w, "TOOL", what_w,
		    "WHAT");
	h -= 2;
	y += 2;
	t->list_rows = h;
	if (m->hist_count == 0) {
		put(t, y + 1, 2, t->cols - 4, R_DIM, t->hist_error[0] ?
		    "history is not available" : m->hist_filter_text != NULL ?
		    "no audit row matches the filter (Esc clears it)" :
		    "the audit store is empty");
		return;
	}
	top = scroll_top(&t->top[TUI_VIEW_HISTORY], m->hist_sel, m->hist_count,
	    h);
	for (int row = 0; row < h && top + (size_t) row < m->hist_count;
	    row++) {
		size_t i = top + (size_t) row;
		const tui_hist_row *r = &m->hist[i];
		bool sel = i == m->hist_sel;
		enum role base = sel ? R_SEL : R_NORMAL;
		char seq[24], when[16];
		int cx = 0, ry = y + row;

		fill(t, ry, 0, t->cols, base);
		snprintf(seq, sizeof seq, " %7lld ", (long long) r->seq);
		tui_fmt_clock(r->ts_ms, false, when, sizeof when);
		cx += put(t, ry, cx, 9, sel ? base : R_DIM, seq);
		put_pad(t, ry, cx, 9, base, when);
		cx += 9;
		put_pad(t, ry, cx, 9, sel ? base : R_LABEL, r->kind);
		cx += 9;
		put_pad(t, ry, cx, 6, sel ? base : strcmp(r->decision,
		    "allow") == 0 ? R_GOOD : strcmp(r->decision, "deny") == 0 ?
		    R_BAD : base, r->decision);
		cx += 6;
		if (wide) {
			put_pad(t, ry, cx, 9, base, r->by);
			cx += 9;
		}
		put_pad(t, ry, cx, tool_w + 1, base, r->tool);
		cx += tool_w + 1;
		if (wide) {
			put_pad(t, ry, cx, agent_w + 1, base, r->agent);
			cx += agent_w + 1;
		}
		put(t, ry, cx, t->cols - cx, base, r->what);
	}
}

/* ---- overlays --------------------------------------------------------- */

/* A framed box; returns nothing, draws the border and clears inside. */
static void
draw_box(tui *t, int y, int x, int h, int w, const char *title)
{
	attrset(role_attr[R_BORDER]);
	mvaddstr(y, x, t->g.tl);
	mvaddstr(y, x + w - 1, t->g.tr);
	mvaddstr(y + h - 1, x, t->g.bl);
	mvaddstr(y + h - 1, x + w - 1, t->g.br);
	attrset(A_NORMAL);
	hrule(t, y, x + 1, w - 2);
	hrule(t, y + h - 1, x + 1, w - 2);
	vrule(t, y + 1, x, h - 2);
	vrule(t, y + 1, x + w - 1, h - 2);
	clear_rect(t, y + 1, x + 1, h - 2, w - 2);
	putf(t, y, x + 2, w - 4, R_TITLE, " %s ", title);
}

/* The help overlay, made from the key table. */
static void
draw_help(tui *t)
{
	size_t count = tui_key_help_count(), longest = 48;
	int w;
	int h = (int) count + 4 < t->rows - 2 ? (int) count + 4 : t->rows - 2;
	int y, x, inner = h - 3;

	/* wide enough for the longest help text when the terminal is */
	for (size_t i = 0; i < count; i++) {
		const char *keys, *help, *where;

		tui_key_help(i, &keys, &help, &where);
		if (strlen(help) > longest)
			longest = strlen(help);
	}
	w = (int) longest + 37; /* keys 16, where 15, margins */
	if (w > t->cols - 4)
		w = t->cols - 4;
	y = (t->rows - h) / 2;
	x = (t->cols - w) / 2;
	if (t->ovl_scroll > (int) count - inner)
		t->ovl_scroll = (int) count - inner > 0 ? (int) count - inner :
		    0;
	draw_box(t, y, x, h, w, "keys");
	for (int row = 0; row < inner; row++) {
		size_t i = (size_t) (row + t->ovl_scroll);
		const char *keys, *help, *where;

		if (i >= count)
			break;
		tui_key_help(i, &keys, &help, &where);
		put(t, y + 1 + row, x + 2, 16, R_KEY, keys);
		put(t, y + 1 + row, x + 18, w - 20 - 16, R_NORMAL, help);
		put(t, y + 1 + row, x + w - 17, 15, R_DIM, where);
	}
	put(t, y + h - 2, x + 2, w - 4, R_DIM, "Enter never approves. "
	    "j/k scroll, any other key closes.");
}

/* One audit event in full, with its hash. */
static void
draw_event(tui *t)
{
	int y = 1, x = 0, h = t->rows - 3, w = t->cols, row = 0, line = 0;
	char *text, *p, *nl;
	char title[64];

	snprintf(title, sizeof title, "audit event %lld", (long long)
	    t->ovl_seq);
	draw_box(t, y, x, h, w, title);
	put(t, y + 1, x + 2, 6, R_LABEL, "hash");
	put(t, y + 1, x + 8, w - 10, R_NORMAL, t->ovl_hash);
	if ((text = json_dumps(t->ovl_event, JSON_INDENT(2) |
	    JSON_PRESERVE_ORDER)) == NULL)
		return;
	for (p = text; p != NULL && row < h - 4; p = nl != NULL ? nl + 1 :
	    NULL, line++) {
		if ((nl = strchr(p, '\n')) != NULL)
			*nl = '\0';
		if (line < t->ovl_scroll)
			continue;
		put(t, y + 2 + row++, x + 2, w - 4, R_NORMAL, p);
	}
	if (p == NULL && line > 0 && t->ovl_scroll >= line)
		t->ovl_scroll = line - 1;
	free(text);
	put(t, y + h - 2, x + 2, w - 4, R_DIM, "j/k PgUp/PgDn scroll, any "
	    "other key closes");
}

/* ---- the screen ------------------------------------------------------- */

/* Below 80x24: say so instead of a broken layout. */
static void
draw_too_small(tui *t)
{
	erase();
	putf(t, t->rows / 2 - 1, 1, t->cols - 2, R_BAD,
	    "terminal too small: %dx%d", t->cols, t->rows);
	putf(t, t->rows / 2, 1, t->cols - 2, R_NORMAL, "countersign needs "
	    "%dx%d", MIN_COLS, MIN_ROWS);
	put(t, t->rows / 2 + 1, 1, t->cols - 2, R_DIM, "q quits");
	curs_set(0);
}

void
tui_draw(tui *t)
{
	int body_y = 1, body_h = t->rows - 3;

	if (t->dirty == 0)
		return;
	if (t->dirty & TUI_DIRTY_CLEAR)
		clear();
	if (t->rows < MIN_ROWS || t->cols < MIN_COLS) {
		draw_too_small(t);
		t->dirty = 0;
		refresh();
		return;
	}
	if (t->dirty & TUI_DIRTY_TOP)
		draw_top(t);
	if (t->dirty & TUI_DIRTY_BODY) {
		clear_rect(t, body_y, 0, body_h, t->cols);
		if (t->view == TUI_VIEW_QUEUE)
			draw_queue(t, body_y, body_h);
		else if (t->view == TUI_VIEW_SESSIONS)
			draw_sessions(t, body_y, body_h);
		else
			draw_history(t, body_y, body_h);
		if (t->overlay == TUI_OVL_HELP)
			draw_help(t);
		else if (t->overlay == TUI_OVL_EVENT && t->ovl_event != NULL)
			draw_event(t);
	}
	if (t->dirty & TUI_DIRTY_STATUS)
		draw_status(t);
	/* last, so that the prompt's cursor stays where it belongs */
	draw_line(t);
	t->dirty = 0;
	refresh();
}
