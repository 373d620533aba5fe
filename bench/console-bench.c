/* console-bench.c: headless timings of the operator console (tui/): its
 * model applying events, and its drawing code painting a full screen or
 * answering a key, with ncurses writing to /dev/null instead of a
 * terminal. The key table, the views and the history pages read from a
 * real audit store are the console's own code; only the loop around them
 * (poll, sockets) is left out. Prints one line per measurement:
 *   console=NAME median_us=... p99_us=... min_us=... runs=... (details)
 * SPDX-License-Identifier: MIT */
#define _XOPEN_SOURCE 700
#define NCURSES_WIDECHAR 1
#include <errno.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curses.h>

#include "cs.h"
#include "store.h"
#include "tui.h"
#include "tui_model.h"

#define HIST_MARGIN 50     /* as tui.c: load a page this close to the end */
#define STORE_BATCH 1000   /* audit rows per append transaction */
#define SESSIONS 200       /* sessions in the snapshot */

/* What to measure and how often. */
struct opts {
	long pending;      /* calls waiting in the big queue */
	long history;      /* rows in the audit store */
	long events;       /* events per apply batch */
	int rows, cols;    /* screen size */
	int scale;         /* divides repetition counts (--quick: 4) */
	const char *db;    /* an existing store to reuse, else a new one */
};

static const tui_glyphs glyphs = {
	.hline = "\xe2\x94\x80", .vline = "\xe2\x94\x82",
	.arrow = "\xe2\x86\x92", .dot = "\xe2\x97\x8f", .flag = "!",
	.up = "\xe2\x96\xb2", .down = "\xe2\x96\xbc", .sep = "\xc2\xb7",
	.tl = "\xe2\x94\x8c", .tr = "\xe2\x94\x90", .bl = "\xe2\x94\x94",
	.br = "\xe2\x94\x98",
};

/* One simulated agent and what it tends to call. */
static const struct persona {
	const char *agent, *user, *purpose, *tool, *risk, *rule, *args;
	int approvers;
} personas[] = {
	{ "finance-agent", "carol", "pay supplier invoices for March",
	    "payments.transfer", "high", "big-transfer",
	    "{\"amount\":18250,\"currency\":\"EUR\",\"to\":"
	    "\"GB29NWBK60161331926819\",\"memo\":\"invoice 7781\"}", 2 },
	{ "code-assistant", "alice", "refactor the billing service",
	    "shell.exec", "high", "default",
	    "{\"cmd\":\"git push origin main\",\"cwd\":\"/workspace\"}", 1 },
	{ "support-bot", "bob", "answer customer tickets", "email.send",
	    "medium", "external-email",
	    "{\"to\":\"customer@gmail.com\",\"subject\":\"Re: refund\"}", 1 },
	{ "research-agent", "dave", "summarise competitor pricing pages",
	    "http.post", "medium", "http-post-external",
	    "{\"url\":\"https://paste.example.net/api\",\"body\":\"...\"}", 1 },
	{ "ops-agent", "erin", "rotate expiring service credentials",
	    "secrets.read", "critical", "secrets",
	    "{\"name\":\"db/prod/password\"}", 2 },
	{ "intern-bot", "frank", "clean up the shared drive", "fs.read",
	    "medium", "sensitive-path", "{\"path\":\"/shared/.env\"}", 1 },
};
#define PERSONAS CS_ARRAY_LEN(personas)

/* Monotonic nanoseconds. */
static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
i64_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;

	return x < y ? -1 : x > y;
}

/* Timings of one measurement. */
struct samples {
	int64_t *ns;
	size_t count, cap;
};

static void
sample_add(struct samples *s, int64_t ns)
{
	if (s->count == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		if ((s->ns = realloc(s->ns, s->cap * sizeof *s->ns)) == NULL)
			abort();
	}
	s->ns[s->count++] = ns;
}

/* The median of the samples in ns (sorts them). */
static double
median_ns(struct samples *s)
{
	if (s->count == 0)
		return 0;
	qsort(s->ns, s->count, sizeof *s->ns, i64_cmp);
	return (double) s->ns[(s->count - 1) / 2];
}

/* Print one line: name, median, p99, min (µs), runs, then details. */
static void
report(struct samples *s, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
report(struct samples *s, const char *name, const char *fmt, ...)
{
	va_list ap;
	size_t p99;

	if (s->count == 0)
		return;
	qsort(s->ns, s->count, sizeof *s->ns, i64_cmp);
	p99 = (s->count * 99 + 99) / 100;
	p99 = p99 > 0 ? p99 - 1 : 0;
	printf("console=%s median_us=%.1f p99_us=%.1f min_us=%.1f runs=%zu",
	    name, (double) s->ns[(s->count - 1) / 2] / 1e3,
	    (double) s->ns[p99 < s->count ? p99 : s->count - 1] / 1e3,
	    (double) s->ns[0] / 1e3, s->count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	free(s->ns);
	memset(s, 0, sizeof *s);
}

/* ---- synthetic daemon traffic ------------------------------------------ */

/* A pending item as the daemon publishes it (see `countersignctl pending
 * --json`): new reference. */
static json_t *
make_item(long i, int64_t now_ms)
{
	const struct persona *p = &personas[(size_t) i % PERSONAS];
	char request[32], id[32], session[32], jti[40];
	json_t *item;

	snprintf(request, sizeof request, "r-bench-%07ld", i);
	snprintf(id, sizeof id, "c-%ld", i);
	snprintf(session, sizeof session, "s-%s-%ld", p->user, i % 97);
	snprintf(jti, sizeof jti, "%032lx", (unsigned long) i * 2654435761u);
	item = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:I, s:s, s:[s,s], "
	    "s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:i, s:s, s:s, s:s, "
	    "s:i, s:b, s:i, s:I, s:[]}",
	    "request", request, "id", id, "session", session, "tool", p->tool,
	    "args", json_loads(p->args, 0, NULL), "args_digest",
	    "sha256:7bb7511d8f944f5adcdda95863f88e82a3a7e83303661ee8222c6154"
	    "e6c59d40", "received", (json_int_t) (now_ms - 1000),
	    "posture", "normal", "chain", p->user, p->agent, "user", p->user,
	    "agent", p->agent, "jti", jti, "consent", "consent-2026-0113",
	    "scope", "tool:payments.* tool:db.query tool:email.send",
	    "purpose", p->purpose, "token_exp",
	    (json_int_t) (now_ms / 1000 + 8 * 3600), "policy",
	    "default@1#778c5e13", "trust", 2, "rule", p->rule, "risk",
	    p->risk, "reason", "an operator decides", "rate", 4, "new_tool",
	    (int) (i % 3 == 0), "approvers", p->approvers,
	    "deadline", (json_int_t) (now_ms + 120000 + i * 37 % 480000),
	    "approvals");
	if (item == NULL)
		abort();
	return item;
}

/* A hello reply with count pending calls and SESSIONS sessions: new
 * reference. */
static json_t *
make_hello(long count, int64_t now_ms)
{
	json_t *pending = json_array(), *sessions = json_array();

	for (long i = 0; i < count; i++)
		json_array_append_new(pending, make_item(i, now_ms));
	for (long i = 0; i < SESSIONS; i++) {
		const struct persona *p = &personas[(size_t) i % PERSONAS];
		char session[32];

		snprintf(session, sizeof session, "s-%s-%ld", p->user, i % 97);
		json_array_append_new(sessions, json_pack("{s:s, s:s, s:s, "
		    "s:s, s:i, s:i, s:i, s:I, s:I, s:[s,s], s:{s:i}, s:[]}",
		    "session", session, "user", p->user, "agent", p->agent,
		    "purpose", p->purpose, "trust", 2, "calls", 40 + (int) i,
		    "denials", (int) (i % 4), "created",
		    (json_int_t) (now_ms - 3600000 + i), "last",
		    (json_int_t) (now_ms - i * 1000), "chain", p->user,
		    p->agent, "tools", p->tool, 12, "grants"));
	}
	return json_pack("{s:i, s:s, s:s, s:s, s:s, s:o, s:o, s:I}", "v", 1,
	    "type", "hello", "operator", "bench", "posture", "normal",
	    "policy", "default@1#778c5e13", "pending", pending, "sessions",
	    sessions, "server_time", (json_int_t) now_ms);
}

/* One event frame "TOPIC JSON" (a new string). */
static char *
make_frame(const char *topic, json_t *ev)
{
	char *json = json_dumps(ev, JSON_COMPACT), *frame;

	json_decref(ev);
	if (json == NULL || (frame = cs_asprintf("%s %s", topic, json)) ==
	    NULL)
		abort();
	free(json);
	return frame;
}

/* A resolved event for call i, decided by an operator: a new frame. */
static char *
resolved_frame(long i)
{
	char request[32];

	snprintf(request, sizeof request, "r-bench-%07ld", i);
	return make_frame("resolved", json_pack("{s:s, s:s, s:s, s:s, s:s, "
	    "s:I}", "request", request, "decision", i % 4 ? "allow" : "deny",
	    "by", "operator", "operator", "bench", "tool",
	    personas[(size_t) i % PERSONAS].tool, "latency_ms",
	    (json_int_t) 2500));
}

/* A batch of count frames (count even): new calls escalated, each
 * resolved by an operator after the next one arrived (p0 p1 r0 p2 r1 ...
 * r_last), so the queue has its old size again at the end. */
static char **
make_batch(long count, long first, int64_t now_ms)
{
	char **frames = calloc((size_t) count, sizeof *frames);
	long k = 0, calls = count / 2;

	if (frames == NULL || count < 2 || count % 2 != 0)
		abort();
	frames[k++] = make_frame("pending", make_item(first, now_ms));
	for (long i = 1; i < calls; i++) {
		frames[k++] = make_frame("pending", make_item(first + i,
		    now_ms));
		frames[k++] = resolved_frame(first + i - 1);
	}
	frames[k++] = resolved_frame(first + calls - 1);
	return frames;
}

/* Fill a new audit store at path with count rows of believable traffic. */
static void
make_store(const char *path, long count)
{
	core_store *st = NULL;
	char *cause = NULL;
	json_t *batch[STORE_BATCH];
	int64_t t0 = now_ns(), ts = cs_now_ms() - count * 50;

	if (core_store_open(path, CORE_STORE_CREATE, &st, &cause) != CS_OK) {
		fprintf(stderr, "console-bench: %s\n", cause);
		exit(1);
	}
	for (long done = 0; done < count;) {
		size_t n = 0;

		for (; n < STORE_BATCH && done < count; n++, done++) {
			const struct persona *p =
			    &personas[(size_t) done % PERSONAS];
			char request[32], session[32];
			bool drop = done % 500 == 7;

			snprintf(request, sizeof request, "r-hist-%07ld", done);
			snprintf(session, sizeof session, "s-%s-%ld", p->user,
			    done % 97);
			batch[n] = json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, "
			    "s:s, s:s, s:s, s:s, s:s, s:o, s:i, s:s, s:s}",
			    "kind", "decision", "ts", (json_int_t) (ts += 50),
			    "request", request, "session", session, "agent",
			    p->agent, "user", p->user, "tool", drop ?
			    "db.execute" : done % 3 ? "fs.read" : p->tool,
			    "decision", drop || done % 11 == 0 ? "deny" :
			    "allow", "by", done % 7 == 0 ? "operator" :
			    "policy", "rule", drop ? "no-drop" : "low-risk",
			    "reason", drop ? "dropping or truncating tables is "
			    "never done by agents" : "low-risk call", "args",
			    drop ? json_pack("{s:s}", "sql",
			    "DROP TABLE customers") : json_loads(p->args, 0,
			    NULL), "trust", 2, "policy", "default@1#778c5e13",
			    "purpose", p->purpose);
			if (batch[n] == NULL)
				abort();
		}
		if (core_store_append(st, batch, n, NULL) != CS_OK) {
			fprintf(stderr, "console-bench: cannot append to %s\n",
			    path);
			exit(1);
		}
		for (size_t i = 0; i < n; i++)
			json_decref(batch[i]);
	}
	core_store_close(st);
	fprintf(stderr, "console-bench: audit store of %ld rows made in "
	    "%.1f s\n", count, (double) (now_ns() - t0) / 1e9);
}

/* ---- the console without a terminal -------------------------------------- */

/* A console on a screen that writes to /dev/null; returns the screen. */
static SCREEN *
console_init(tui *t, tui_model *m, const tui_opts *topts,
    const struct opts *o)
{
	FILE *out = fopen("/dev/null", "w"), *in = fopen("/dev/null", "r");
	SCREEN *scr = NULL;
	static const char *const terms[] = { "xterm-256color", "xterm",
		"vt100" };

	for (size_t i = 0; i < CS_ARRAY_LEN(terms) && scr == NULL; i++)
		scr = newterm(terms[i], out, in);
	if (out == NULL || in == NULL || scr == NULL) {
		fprintf(stderr, "console-bench: no terminfo entry to draw "
		    "with\n");
		exit(1);
	}
	set_term(scr);
	resizeterm(o->rows, o->cols);
	memset(t, 0, sizeof *t);
	t->m = m;
	t->opts = topts;
	t->g = glyphs;
	tui_draw_init(t);
	getmaxyx(stdscr, t->rows, t->cols);
	t->dirty = TUI_DIRTY_ALL;
	tui_draw(t);
	return scr;
}

/* One key as the loop handles it: dispatch, then the history housekeeping
 * the loop does every turn (load a page near the end), then draw. */
static int64_t
key(tui *t, int k, bool is_char)
{
	int64_t t0 = now_ns();

	tui_dispatch(t, k, is_char);
	if (t->view == TUI_VIEW_HISTORY &&
	    tui_model_hist_wants_more(t->m, HIST_MARGIN))
		tui_hist_more(t);
	tui_draw(t);
	return now_ns() - t0;
}

/* Type text into the open prompt (untimed). */
static void
type(tui *t, const char *text)
{
	for (const char *c = text; *c != '\0'; c++)
		tui_dispatch(t, (unsigned char) *c, true);
}

/* Apply one batch of frames to m; returns the time taken. */
static int64_t
apply_batch(tui_model *m, char **frames, long count)
{
	int64_t t0 = now_ns(), now_ms = cs_now_ms(), mono = cs_mono_ms();

	for (long i = 0; i < count; i++)
		(void) tui_model_apply_event(m, frames[i], strlen(frames[i]),
		    now_ms, mono);
	return now_ns() - t0;
}

static void
free_batch(char **frames, long count)
{
	for (long i = 0; i < count; i++)
		free(frames[i]);
	free(frames);
}

/* Applying events to a model holding queue_len pending calls. */
static void
bench_apply(const struct opts *o, long queue_len, int runs)
{
	tui_model *m = tui_model_new();
	json_t *hello = make_hello(queue_len, cs_now_ms());
	struct samples s = { 0 };
	char name[64];
	double per_event_us;

	if (m == NULL || hello == NULL)
		abort();
	(void) tui_model_apply_hello(m, hello, cs_now_ms());
	json_decref(hello);
	for (int r = 0; r < runs; r++) {
		char **frames = make_batch(o->events, 10000000 + (long) r *
		    o->events, cs_now_ms());

		sample_add(&s, apply_batch(m, frames, o->events));
		free_batch(frames, o->events);
		if (m->item_count != (size_t) queue_len) {
			fprintf(stderr, "console-bench: the queue holds %zu "
			    "calls after a batch, not %ld\n", m->item_count,
			    queue_len);
			exit(1);
		}
	}
	snprintf(name, sizeof name, "apply-%ld", queue_len);
	per_event_us = median_ns(&s) / 1e3 / (double) o->events;
	report(&s, name, " events=%ld pending=%ld per_event_us=%.2f "
	    "(pending and resolved, alternating)", o->events, queue_len,
	    per_event_us);
	tui_model_free(m);
}

/* A hello snapshot of o->pending calls (a console connecting late). */
static void
bench_hello(const struct opts *o, int runs)
{
	json_t *hello = make_hello(o->pending, cs_now_ms());
	struct samples s = { 0 };

	for (int r = 0; r < runs; r++) {
		tui_model *m = tui_model_new();
		int64_t t0 = now_ns();

		(void) tui_model_apply_hello(m, hello, cs_now_ms());
		sample_add(&s, now_ns() - t0);
		tui_model_free(m);
	}
	report(&s, "hello", " pending=%ld sessions=%d", o->pending, SESSIONS);
	json_decref(hello);
}

int
main(int argc, char **argv)
{
	struct opts o = { .pending = 10000, .history = 100000, .events = 1000,
		.rows = 40, .cols = 120, .scale = 1 };
	char dir[] = "/tmp/cs-console-bench.XXXXXX", *db = NULL;
	tui_opts topts = { 0 };
	tui t;
	tui_model *m;
	json_t *hello;
	struct samples s = { 0 };
	SCREEN *scr;
	size_t loaded;
	long long n;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--quick") == 0) {
			o.scale = 4;
			continue;
		}
		if (v == NULL || (strcmp(a, "--db") != 0 &&
		    cs_parse_int(v, 1, 10000000, &n) != CS_OK)) {
			fprintf(stderr, "usage: console-bench [--pending N] "
			    "[--history ROWS] [--events N] [--rows R] "
			    "[--cols C] [--db AUDIT_DB] [--quick]\n");
			return 64;
		}
		i++;
		if (strcmp(a, "--pending") == 0)
			o.pending = (long) n;
		else if (strcmp(a, "--history") == 0)
			o.history = (long) n;
		else if (strcmp(a, "--events") == 0)
			o.events = (long) n;
		else if (strcmp(a, "--rows") == 0)
			o.rows = (int) n;
		else if (strcmp(a, "--cols") == 0)
			o.cols = (int) n;
		else if (strcmp(a, "--db") == 0)
			o.db = v;
		else {
			fprintf(stderr, "console-bench: unknown option %s\n",
			    a);
			return 64;
		}
	}
	o.events += o.events % 2; /* pairs of pending and resolved */
	if (setlocale(LC_ALL, "C.UTF-8") == NULL)
		setlocale(LC_ALL, "C.utf8");
	unsetenv("NO_COLOR");

	/* the model alone */
	bench_apply(&o, 0, 101 / o.scale);
	bench_apply(&o, o.pending, 21 / o.scale);
	bench_hello(&o, 5);

	/* the audit store the history view reads */
	if (o.db != NULL) {
		db = strdup(o.db);
	} else {
		if (mkdtemp(dir) == NULL) {
			fprintf(stderr, "console-bench: mkdtemp: %s\n",
			    strerror(errno));
			return 1;
		}
		db = cs_asprintf("%s/audit.db", dir);
		make_store(db, o.history);
	}
	topts.db_path = db;

	/* drawing: the queue view with o.pending calls */
	if ((m = tui_model_new()) == NULL)
		abort();
	hello = make_hello(o.pending, cs_now_ms());
	(void) tui_model_apply_hello(m, hello, cs_now_ms());
	(void) tui_model_set_conn(m, TUI_CONN_UP, cs_mono_ms());
	json_decref(hello);
	scr = console_init(&t, m, &topts, &o);
	for (int r = 0; r < 401 / o.scale; r++) {
		int64_t t0 = now_ns();

		t.dirty = TUI_DIRTY_ALL;
		tui_draw(&t);
		sample_add(&s, now_ns() - t0);
	}
	report(&s, "redraw-queue", " size=%dx%d pending=%ld (clear and "
	    "paint every cell)", t.cols, t.rows, o.pending);

	/* keystrokes in the queue: j from the top, scrolling past the
	 * screen, then k back up */
	for (int r = 0; r < 2000 / o.scale; r++)
		sample_add(&s, key(&t, 'j', true));
	for (int r = 0; r < 2000 / o.scale; r++)
		sample_add(&s, key(&t, 'k', true));
	report(&s, "key-queue", " key=j/k pending=%ld size=%dx%d", o.pending,
	    t.cols, t.rows);
	for (int r = 0; r < 201 / o.scale; r++) {
		sample_add(&s, key(&t, '\t', true));
	}
	report(&s, "key-tab", " key=Tab pending=%ld (detail pane focus)",
	    o.pending);

	/* the history view over the audit store */
	for (int r = 0; r < 41 / o.scale; r++) {
		sample_add(&s, key(&t, 'h', true));
		(void) key(&t, '1', true);
	}
	report(&s, "key-history-open", " key=h history_rows=%ld (newest "
	    "page from the store)", o.history);
	(void) key(&t, 'h', true);
	for (int r = 0; r < 401 / o.scale; r++) {
		int64_t t0 = now_ns();

		t.dirty = TUI_DIRTY_ALL;
		tui_draw(&t);
		sample_add(&s, now_ns() - t0);
	}
	report(&s, "redraw-history", " size=%dx%d history_rows=%ld", t.cols,
	    t.rows, o.history);
	for (int r = 0; r < 2000 / o.scale; r++)
		sample_add(&s, key(&t, 'j', true));
	report(&s, "key-history", " key=j history_rows=%ld loaded=%zu (pages "
	    "load as the cursor nears the end)", o.history, m->hist_count);
	for (int r = 0; r < 11; r++) {
		(void) key(&t, '/', true);
		type(&t, "tool:payments.transfer");
		sample_add(&s, key(&t, '\r', true));
		loaded = m->hist_count;
		(void) key(&t, 27, true); /* clears the filter */
	}
	report(&s, "key-history-filter", " key=Enter filter=tool "
	    "history_rows=%ld loaded=%zu", o.history, loaded);
	for (int r = 0; r < 11; r++) {
		(void) key(&t, '/', true);
		type(&t, "drop table");
		sample_add(&s, key(&t, '\r', true));
		loaded = m->hist_count;
		(void) key(&t, 27, true);
	}
	report(&s, "key-history-search", " key=Enter search=text "
	    "history_rows=%ld loaded=%zu (rare text: scans the store)",
	    o.history, loaded);

	endwin();
	delscreen(scr);
	json_decref(t.ovl_event);
	core_store_close(t.store);
	tui_model_free(m);
	if (o.db == NULL) {
		char *wal = cs_asprintf("%s-wal", db), *shm =
		    cs_asprintf("%s-shm", db);

		unlink(db);
		unlink(wal);
		unlink(shm);
		free(wal);
		free(shm);
		rmdir(dir);
	}
	free(db);
	return 0;
}
