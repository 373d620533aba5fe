/* daemon.c: countersignd: wires the engine to the transport, runs the
 * audit commit (group commit on the writer thread, or at once on the
 * deciding thread for a call that comes alone; reply after commit) and
 * the deadline timer.
 * SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>

#include "cfg.h"
#include "cs.h"
#include "engine.h"
#include "home.h"
#include "json.h"
#include "pol.h"
#include "store.h"
#include "tp_http.h"
#include "tp_server.h"
#include "tp_webhook.h"

#define CONTROL_TAG (1ULL << 63)
#define HTTP_TAG (1ULL << 62)
#define TICK_MS 10
#define GUARD_MS 500 /* how often the listeners are probed */
#define FD_RESERVE_DIV 8 /* the HTTP ingress is stopped when fewer than
                          * 1/8 of the descriptors are left */

#ifndef CS_DEFAULT_POLICY
#define CS_DEFAULT_POLICY "policies/default.json"
#endif

/* One unit of work for the writer: effects to audit, then deliver. */
struct job {
	struct job *next;
	core_fx fx;
	bool log;              /* its rows are committed: log them */
	signed char health;    /* first tell consoles the audit store is
	                        * writable again (1) or unavailable (-1) */
	char **pre;            /* prerenders of fx.events (see enqueue) */
	size_t pre_count;
};

/* Free a job and what it holds. */
static void
job_free(struct job *j)
{
	core_fx_fini(&j->fx);
	for (size_t i = 0; i < j->pre_count; i++)
		free(j->pre[i]);
	free(j->pre);
	free(j);
}

/* Free a list of jobs. */
static void
jobs_free(struct job *j)
{
	for (struct job *next; j != NULL; j = next) {
		next = j->next;
		job_free(j);
	}
}

/* A chain of committed jobs, delivered in order. */
struct chain {
	struct job *head, *tail;
};

struct daemon {
	const char *home;
	char *policy_path;
	core_cfg cfg;
	core_engine *eng;
	core_store *store;      /* the commit's handle (see committing) */
	core_store *ckpt;       /* the timer's handle, for WAL checkpoints */
	core_store *reader;     /* status lookups, under the engine's lock */
	char *db_path;
	tp_server *agent;
	tp_server *control;
	tp_pub *pub;
	tp_http *http;          /* NULL unless http_listen is set */
	tp_webhook *webhook;    /* NULL unless webhooks are configured */

	pthread_mutex_t q_mtx;
	pthread_cond_t q_cond;
	struct job *q_head, *q_tail;
	bool stopping;
	bool writer_done;      /* late jobs are dropped (their peers see the
	                        * connection close: fail closed) */
	bool writer_started, timer_started;
	bool writer_idle;      /* the writer waits on q_cond */
	bool committing;       /* a thread holds the commit: it alone uses
	                        * store, retry, audit_down and head_* */
	bool writer_waits;     /* the writer waits for that thread */
	atomic_int deciding;   /* agent and operator frames being decided */
	int company;           /* how often (of 256, averaged) a commit had
	                        * company: more than one job, or jobs queued
	                        * while it ran */
	bool audit_down;
	int64_t down_mono_ms;   /* when a commit last failed */
	struct job *retry;      /* rows of answers already sent, written once
	                         * the store takes rows again */
	size_t owed_rows;       /* rows in retry, at most OWED_MAX */
	uint64_t owed_lost;     /* rows not kept past OWED_MAX, reported in
	                         * an audit_gap row once the store is back */
	struct job *spent;      /* delivered jobs, freed by the next thread
	                         * that queues one (under q_mtx) */
	int64_t head_seq;       /* seq recorded in DIR/audit.head */
	int64_t head_mono_ms;   /* when it was written */
	uint64_t commits, rows; /* group commit figures (see committing) */
	uint64_t commit_us;

	pthread_t writer, timer, guard;
	volatile sig_atomic_t timer_stop, guard_stop;
	bool guard_started;
	bool http_stopped;     /* the guard stopped the HTTP ingress */
	bool files_short;      /* descriptors nearly exhausted (logged once) */
	uid_t self_uid;
	char self_name[64];
};

/* ---- the writer ------------------------------------------------------ */

static void send_reply(struct daemon *d, const core_reply *r);
static void deliver_chain(struct daemon *d, struct chain *c);
static void commit_queued(struct daemon *d);

/* Queue effects for the writer (takes fx's contents); counted: the
 * caller decided an agent or operator frame and counted itself in
 * d->deciding. */
static void
enqueue(struct daemon *d, core_fx *fx, bool counted)
{
	struct job *j, *spent;
	size_t n;
	bool alone;

	if (core_fx_empty(fx)) {
		core_fx_fini(fx);
		if (counted)
			atomic_fetch_sub(&d->deciding, 1);
		return;
	}
	if ((j = calloc(1, sizeof *j)) == NULL) {
		/* nothing can be audited: fail closed, in the engine's
		 * memory too, and still answer every handle so that its
		 * slot moves on */
		core_fx follow;

		cs_log("error: out of memory queueing a decision: denied "
		    "without an audit row");
		core_fx_init(&follow);
		core_engine_audit_failed(d->eng, fx, cs_now_ms(), &follow);
		for (size_t i = 0; i < fx->reply_count; i++)
			send_reply(d, &fx->replies[i]);
		for (size_t i = 0; i < follow.reply_count; i++)
			send_reply(d, &follow.replies[i]);
		core_fx_fini(&follow);
		core_fx_fini(fx);
		if (counted)
			atomic_fetch_sub(&d->deciding, 1);
		return;
	}
	j->fx = *fx;
	memset(fx, 0, sizeof *fx);
	/* the rows' canonical JSON, rendered here on the caller's thread:
	 * the writer, which every decision waits for, only adds the seq */
	if ((n = json_array_size(j->fx.events)) > 0 &&
	    (j->pre = calloc(n, sizeof *j->pre)) != NULL) {
		j->pre_count = n;
		for (size_t i = 0; i < n; i++)
			j->pre[i] = core_store_prerender(
			    json_array_get(j->fx.events, i));
	}
	pthread_mutex_lock(&d->q_mtx);
	/* a frame, and calls come one at a time (no other is being decided,
	 * and recent commits had no company), so none would join this
	 * batch; the timer never commits itself, so that a store that makes
	 * a commit wait does not hold up deadlines */
	alone = counted && atomic_load(&d->deciding) <= 1 && d->company < 32;
	if (counted)
		atomic_fetch_sub(&d->deciding, 1);
	if (d->writer_done) {
		/* too late to audit anything: answer with an error, decide
		 * nothing */
		spent = d->spent;
		d->spent = NULL;
		pthread_mutex_unlock(&d->q_mtx);
		jobs_free(spent);
		for (size_t i = 0; i < j->fx.reply_count; i++) {
			json_decref(j->fx.replies[i].msg);
			free(j->fx.replies[i].text);
			j->fx.replies[i].text = NULL;
			j->fx.replies[i].msg = json_pack("{s:i, s:s, s:s, s:s}",
			    "v", 1, "type", "error", "code", "unavailable",
			    "message", "countersignd is shutting down");
			j->fx.replies[i].event = NULL;
			send_reply(d, &j->fx.replies[i]);
		}
		job_free(j);
		return;
	}
	if (d->q_tail != NULL)
		d->q_tail->next = j;
	else
		d->q_head = j;
	d->q_tail = j;
	if (alone && d->writer_idle && !d->committing && !d->stopping) {
		/* nothing else to commit, nothing being decided: commit at
		 * once on this thread rather than wake the writer, whose
		 * wake-up would be most of this call's wait beyond the
		 * disk's; what comes meanwhile is handed to the writer */
		commit_queued(d);
		if (d->q_head != NULL || d->stopping || d->writer_waits)
			pthread_cond_signal(&d->q_cond);
	} else if (d->writer_idle && !d->committing) {
		pthread_cond_signal(&d->q_cond);
	} /* else the thread that commits takes or hands on this job */
	/* the delivered jobs are freed here, on a thread that decides
	 * calls, not on the writer: most of their memory was allocated on
	 * such a thread, whose allocator cache they refill, and the writer,
	 * whom every decision waits for, is spared the work */
	spent = d->spent;
	d->spent = NULL;
	pthread_mutex_unlock(&d->q_mtx);
	jobs_free(spent);
}

/* Send one reply on the endpoint its handle belongs to. */
static void
send_reply(struct daemon *d, const core_reply *r)
{
	tp_server *srv = (r->handle & CONTROL_TAG) ? d->control : d->agent;
	bool http = (r->handle & (CONTROL_TAG | HTTP_TAG)) == HTTP_TAG;
	const json_t *seq = r->event != NULL ?
	    json_object_get(r->event, "seq") : NULL;
	char *text = NULL;
	const char *out;
	size_t len = r->text != NULL ? strlen(r->text) : 0;

	if (r->handle == 0 || (http ? d->http == NULL : srv == NULL))
		return;
	if (len > 2 && r->text[len - 1] == '}') {
		/* rendered by the engine; the row's seq goes at the end */
		if (seq != NULL)
			text = cs_asprintf("%.*s,\"audit_seq\":%lld}",
			    (int) (len - 1), r->text,
			    (long long) json_integer_value(seq));
		out = text != NULL ? text : r->text; /* no memory: no seq */
	} else {
		if (seq != NULL)
			json_object_set(r->msg, "audit_seq", (json_t *) seq);
		out = text = cs_json_dump(r->msg, 0, NULL);
	}
	if (out == NULL) /* no memory: still answer, so the slot moves on */
		out = "{\"v\":1,\"type\":\"error\",\"code\":\"internal\","
		    "\"message\":\"out of memory\"}";
	if (http)
		tp_http_reply(d->http, r->handle, out, strlen(out));
	else
		tp_server_reply(srv, r->handle, out, strlen(out));
	free(text);
}

/* Deliver replies and published events of committed effects. */
static void
deliver(struct daemon *d, core_fx *fx)
{
	for (size_t i = 0; i < fx->reply_count; i++)
		send_reply(d, &fx->replies[i]);
	for (size_t i = 0; i < fx->pub_count; i++) {
		size_t len;
		char *text = cs_json_dump(fx->pubs[i].msg, 0, &len);

		if (text != NULL) {
			if (d->pub != NULL)
				tp_pub_send(d->pub, fx->pubs[i].topic, text,
				    len);
			free(text);
		}
		/* pages follow committed events, off the decision path */
		tp_webhook_event(d->webhook, fx->pubs[i].topic,
		    fx->pubs[i].msg);
	}
}

/* The log lines of one batch, built by hand: fprintf was most of the
 * cost of logging, on the writer thread every decision waits for. */
struct logbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

/* Append n bytes. */
static void
lb_put(struct logbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n > b->cap) {
		size_t cap = b->cap > 0 ? b->cap : 1024;
		char *p;

		while (cap < b->len + n)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

/* Append a NUL-terminated string. */
static void
lb_str(struct logbuf *b, const char *s)
{
	lb_put(b, s, strlen(s));
}

/* Append at most max bytes of a string member of ev, or "-". Control
 * bytes, DEL, '"' and '\' are written as \xHH, so that no value (an
 * operator's reason, an error's text) can end the line or forge one. */
static void
lb_member(struct logbuf *b, const json_t *ev, const char *key, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	const json_t *v = json_object_get(ev, key);
	const char *s = json_string_value(v);
	size_t n, i = 0, run;

	if (s == NULL) {
		lb_put(b, "-", 1);
		return;
	}
	if ((n = json_string_length(v)) > max)
		n = max;
	while (i < n) {
		for (run = 0; i + run < n; run++) {
			unsigned char c = (unsigned char) s[i + run];

			if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
				break;
		}
		lb_put(b, s + i, run);
		if ((i += run) < n) {
			unsigned char c = (unsigned char) s[i++];
			char esc[4] = { '\\', 'x', hex[c >> 4], hex[c & 15] };

			lb_put(b, esc, sizeof esc);
		}
	}
}

/* Whether member key of ev is the string want. */
static bool
member_is(const json_t *ev, const char *key, const char *want)
{
	const char *s = json_string_value(json_object_get(ev, key));

	return s != NULL && strcmp(s, want) == 0;
}

/* Log one line per audit event to stderr, one write per batch:
 * STAMP decision|error REQUEST DECISION by= tool= agent= user= rule=
 * seq= reason="...", or STAMP KIND REQUEST seq= for other events. */
static void
log_events(json_t **events, size_t count)
{
	char stamp[48], num[24];
	struct logbuf b = { 0 };
	struct timespec ts;
	struct tm tm;
	size_t slen;

	if (count == 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	slen = strftime(stamp, sizeof stamp - 8, "%Y-%m-%dT%H:%M:%S", &tm);
	slen += (size_t) snprintf(stamp + slen, sizeof stamp - slen,
	    ".%03ldZ ", ts.tv_nsec / 1000000);
	for (size_t i = 0; i < count; i++) {
		const json_t *ev = events[i];
		bool full = member_is(ev, "kind", "decision") ||
		    member_is(ev, "kind", "error");

		lb_put(&b, stamp, slen);
		lb_member(&b, ev, "kind", 64);
		lb_put(&b, " ", 1);
		lb_member(&b, ev, "request", 64);
		if (full) {
			lb_put(&b, " ", 1);
			lb_member(&b, ev, "decision", 64);
			lb_str(&b, " by=");
			lb_member(&b, ev, "by", 64);
			lb_str(&b, " tool=");
			lb_member(&b, ev, "tool", 128);
			lb_str(&b, " agent=");
			lb_member(&b, ev, "agent", 128);
			lb_str(&b, " user=");
			lb_member(&b, ev, "user", 128);
			lb_str(&b, " rule=");
			lb_member(&b, ev, "rule", 128);
		}
		snprintf(num, sizeof num, " seq=%lld", (long long)
		    json_integer_value(json_object_get(ev, "seq")));
		lb_str(&b, num);
		if (full) {
			lb_str(&b, " reason=\"");
			lb_member(&b, ev, "reason", 200);
			lb_put(&b, "\"", 1);
		}
		lb_put(&b, "\n", 1);
	}
	if (b.oom)
		cs_log("error: out of memory: %zu audit log line(s) not "
		    "written (the rows are in the store)", count);
	else if (fwrite(b.p, 1, b.len, stderr) != b.len)
		clearerr(stderr);
	free(b.p);
}

/* The audit events of fx as a new array (borrowed members) of *n, for the
 * store and the log; NULL when there are none or memory ran out. */
static json_t **
fx_event_list(const core_fx *fx, size_t *n)
{
	json_t **events;

	*n = json_array_size(fx->events);
	if (*n == 0 || (events = calloc(*n, sizeof *events)) == NULL)
		return NULL;
	for (size_t i = 0; i < *n; i++)
		events[i] = json_array_get(fx->events, i);
	return events;
}

/* Log the audit events of fx. */
static void
log_events_of(const core_fx *fx)
{
	size_t n;
	json_t **events = fx_event_list(fx, &n);

	if (events != NULL)
		log_events(events, n);
	free(events);
}

/* Record the chain head in DIR/audit.head (write, fsync, rename), so that
 * `audit verify` notices rows cut off the end of the store. */
static void
write_head(struct daemon *d)
{
	char hash[65], *tmp, *path;
	int64_t seq = core_store_last_seq(d->store);
	FILE *f;

	if (seq == d->head_seq)
		return;
	core_store_last_hash(d->store, hash);
	tmp = cs_asprintf("%s/audit.head.tmp", d->home);
	path = cs_asprintf("%s/audit.head", d->home);
	if (tmp != NULL && path != NULL && (f = fopen(tmp, "w")) != NULL) {
		bool ok = fprintf(f, "%lld %s\n", (long long) seq, hash) > 0 &&
		    fflush(f) == 0 && fsync(fileno(f)) == 0;

		if (fclose(f) == 0 && ok && rename(tmp, path) == 0)
			d->head_seq = seq;
	}
	free(tmp);
	free(path);
}

/* Tell consoles the audit store's health changed. */
static void
publish_health(struct daemon *d, bool ok)
{
	char buf[160];
	int n;

	n = snprintf(buf, sizeof buf, "{\"audit\":\"%s\",\"message\":\"%s\"}",
	    ok ? "ok" : "unavailable", ok ? "audit store writable again" :
	    "audit store unavailable: every call is denied");
	if (d->pub != NULL && n > 0)
		tp_pub_send(d->pub, "health", buf, (size_t) n);
	tp_http_set_health(d->http, ok);
}

/* Rows owed to a store that fails are kept up to this many (a few KiB
 * each); past it they are counted, not kept, so a long outage under load
 * cannot grow the daemon without bound. */
#define OWED_MAX 10000

/* While the store is down, a commit is tried at most this often: between
 * tries, calls fail closed at once, and the rows owed are not rendered
 * and refused again for every batch. */
#define DOWN_RETRY_MS 200

/* Keep the rows of fx owed: they are retried until the store takes
 * them (fx keeps its replies). */
static void
owe(struct daemon *d, core_fx *fx)
{
	struct job *owed;
	size_t n = json_array_size(fx->events);

	if (n == 0)
		return;
	if (d->owed_rows + n > OWED_MAX ||
	    (owed = calloc(1, sizeof *owed)) == NULL) {
		if (d->owed_lost == 0)
			cs_log("error: %zu audit rows are owed to the store; "
			    "further rows are counted, not kept, until it "
			    "recovers", d->owed_rows);
		d->owed_lost += n;
		json_array_clear(fx->events);
		goto unnamed;
	}
	d->owed_rows += n;
	core_fx_init(&owed->fx);
	json_decref(owed->fx.events);
	owed->fx.events = fx->events;
	fx->events = json_array();
	owed->fx.fallback = true;
	owed->next = d->retry;
	d->retry = owed;
unnamed:
	for (size_t i = 0; i < fx->reply_count; i++) {
		fx->replies[i].event = NULL;
		json_object_del(fx->replies[i].msg, "audit_seq");
	}
}

/* The store is back after an outage that owed more rows than were kept:
 * owe one row that says how many are missing (written with the next
 * commit, or the writer's retry). */
static void
owe_gap(struct daemon *d)
{
	core_fx fx;
	json_t *ev = json_pack("{s:s, s:I, s:I, s:s}", "kind", "audit_gap",
	    "ts", (json_int_t) cs_now_ms(), "rows", (json_int_t) d->owed_lost,
	    "reason", "rows of fail-closed answers given while the audit "
	    "store was unavailable, past the number kept for it");

	core_fx_init(&fx);
	if (ev != NULL && json_array_append_new(fx.events, ev) == 0) {
		cs_log("error: %" PRIu64 " audit rows of fail-closed answers "
		    "were not kept during the outage (an audit_gap row says "
		    "so)", d->owed_lost);
		d->owed_lost = 0;
		owe(d, &fx);
	}
	core_fx_fini(&fx);
}

/* Append job to a chain. */
static void
chain_add(struct chain *c, struct job *j)
{
	j->next = NULL;
	if (c->tail != NULL)
		c->tail->next = j;
	else
		c->head = j;
	c->tail = j;
}

/* Append fx (its contents are taken) to a chain as a new job; log: its
 * rows are committed. Out of memory: deliver it at once, after all that
 * came before it. */
static void
chain_add_fx(struct daemon *d, struct chain *c, core_fx *fx, bool log)
{
	struct job *j = calloc(1, sizeof *j);

	if (j == NULL) {
		deliver_chain(d, c); /* all that came before it first */
		if (log)
			log_events_of(fx);
		deliver(d, fx);
		core_fx_fini(fx);
		return;
	}
	j->fx = *fx;
	j->log = log;
	memset(fx, 0, sizeof *fx);
	chain_add(c, j);
}

/* Append a change of the audit store's health to a chain, so consoles
 * hear of it in order with the events around it. */
static void
chain_add_health(struct daemon *d, struct chain *c, bool ok)
{
	struct job *j = calloc(1, sizeof *j);

	if (j == NULL) {
		deliver_chain(d, c);
		publish_health(d, ok);
		return;
	}
	core_fx_init(&j->fx);
	j->health = ok ? 1 : -1;
	chain_add(c, j);
}

/* Log the committed rows of a chain of jobs (one write), then send their
 * answers and events, and hand them to be freed; the chain is left
 * empty. The writer does this itself, between two commits: on two cores
 * a thread of its own cost more in wake-ups than it saved. */
static void
deliver_chain(struct daemon *d, struct chain *c)
{
	json_t **events = NULL;
	size_t count = 0, cap = 0;
	struct job *j = c->head, *last = NULL;

	c->head = c->tail = NULL;
	for (struct job *k = j; k != NULL; k = k->next) {
		size_t n = k->log ? json_array_size(k->fx.events) : 0;

		if (count + n > cap) {
			json_t **grown = realloc(events,
			    (count + n) * 2 * sizeof *events);

			if (grown == NULL) {
				cs_log("error: out of memory: %zu audit log "
				    "line(s) not written (the rows are in the "
				    "store)", n);
				continue; /* still sent */
			}
			events = grown;
			cap = (count + n) * 2;
		}
		for (size_t i = 0; i < n; i++)
			events[count++] = json_array_get(k->fx.events, i);
	}
	for (struct job *k = j; k != NULL; k = k->next) {
		if (k->health != 0)
			publish_health(d, k->health > 0);
		deliver(d, &k->fx);
		last = k;
	}
	/* logged once the answers are out: the rows are already durable */
	log_events(events, count);
	free(events);
	if (last != NULL) { /* freed by the next enqueue (see there) */
		pthread_mutex_lock(&d->q_mtx);
		last->next = d->spent;
		d->spent = j;
		pthread_mutex_unlock(&d->q_mtx);
	}
}

/* Write the fail-closed outcomes of a failed batch at once, before any
 * answer leaves: if sqlite's recovery later brings back a transaction
 * whose fsync failed, it is this one, which says what the agents were
 * told (its frames overwrite the failed one's in the WAL). Rows that
 * still cannot be written are owed; so are all of them when the store
 * was not asked (asked false: it is resting, see commit_batch). */
static void
settle(struct daemon *d, core_fx *fx, struct chain *out, bool asked)
{
	size_t n;
	json_t **events = fx_event_list(fx, &n);
	cs_err rv = n > 0 ? CS_ENOMEM : CS_OK;

	if (events != NULL && !asked) {
		rv = CS_EIO;
		free(events);
	} else if (events != NULL) {
		/* no second wait on a lock: a busy store wrote nothing */
		core_store_set_busy_ms(d->store, 0);
		rv = core_store_append(d->store, events, n, NULL);
		core_store_set_busy_ms(d->store, 5000);
		free(events);
	}
	if (rv != CS_OK)
		owe(d, fx);
	chain_add_fx(d, out, fx, rv == CS_OK && n > 0);
}

/* Commit a batch of jobs (and the rows owed) in one transaction, then
 * answer. Nothing is answered before its audit row is durable. Runs on
 * the thread that holds the commit (d->committing): the writer, or the
 * thread that queued into an idle writer (see enqueue). */
static size_t
commit_batch(struct daemon *d, struct job *batch)
{
	size_t jobs = 0;
	struct job *j, *next;
	struct chain out = { NULL, NULL };
	json_t **events = NULL;
	char **pre = NULL;
	size_t count = 0, cap = 0;
	cs_err rv = CS_OK;
	/* it failed a moment ago: fail closed without asking it again */
	bool resting = d->audit_down &&
	    cs_mono_ms() - d->down_mono_ms < DOWN_RETRY_MS;

	if (d->retry != NULL && !resting) {
		struct job *tail = d->retry;

		while (tail->next != NULL)
			tail = tail->next;
		tail->next = batch;
		batch = d->retry;
		d->retry = NULL;
		d->owed_rows = 0;
	}
	for (j = batch; j != NULL && rv == CS_OK; j = j->next) {
		size_t n = json_array_size(j->fx.events);

		if (count + n > cap) {
			json_t **e = realloc(events,
			    (count + n) * 2 * sizeof *events);
			char **p = e == NULL ? NULL : realloc(pre,
			    (count + n) * 2 * sizeof *pre);

			if (e != NULL)
				events = e;
			if (p == NULL) {
				rv = CS_ENOMEM;
				break;
			}
			pre = p;
			cap = (count + n) * 2;
		}
		for (size_t i = 0; i < n; i++) {
			pre[count] = i < j->pre_count ? j->pre[i] : NULL;
			events[count++] = json_array_get(j->fx.events, i);
		}
	}
	if (rv == CS_OK && count > 0 && resting) {
		rv = CS_EIO;
	} else if (rv == CS_OK && count > 0) {
		int64_t t0 = cs_mono_us();

		rv = core_store_append_pre(d->store, events, pre, count, NULL);
		d->commits++;
		d->rows += count;
		d->commit_us += (uint64_t) (cs_mono_us() - t0);
	}
	if (rv == CS_OK && count > 0)
		cs_crash_point("after_commit");
	free(events);
	free(pre);

	if (rv == CS_OK && count > 0 && d->audit_down) {
		d->audit_down = false;
		cs_log("audit store writable again");
		chain_add_health(d, &out, true);
		if (d->owed_lost > 0)
			owe_gap(d);
	}
	if (rv != CS_OK && !d->audit_down) {
		d->audit_down = true;
		cs_log("error: audit store unavailable (%s): denying every call "
		    "until it recovers", cs_strerror(rv));
		chain_add_health(d, &out, false);
	}
	if (rv != CS_OK && count > 0 && !resting)
		d->down_mono_ms = cs_mono_ms();
	if (rv == CS_OK) {
		/* one hold of the engine's lock for the whole batch: the
		 * threads deciding calls hold it too */
		size_t n = 0;
		core_fx **fxs;

		for (j = batch; j != NULL; j = j->next)
			n++;
		fxs = calloc(n > 0 ? n : 1, sizeof *fxs);
		n = 0;
		for (j = batch; j != NULL; j = j->next)
			if (fxs != NULL)
				fxs[n++] = &j->fx;
			else /* no memory: one job at a time */
				core_engine_committed(d->eng, &j->fx);
		if (fxs != NULL)
			core_engine_committed_many(d->eng, fxs, n);
		free(fxs);
	}
	for (j = batch; j != NULL; j = next) {
		next = j->next;
		jobs++;
		if (rv != CS_OK && !j->fx.fallback) {
			/* every answer in a failed batch fails closed, also
			 * one with no row of its own (a status read of a
			 * decision that was never written) */
			core_fx follow;

			core_fx_init(&follow);
			core_engine_audit_failed(d->eng, &j->fx, cs_now_ms(),
			    &follow);
			settle(d, &follow, &out, !resting);
		}
		if (rv != CS_OK && j->fx.fallback)
			owe(d, &j->fx); /* answers go now, rows later */
		if (rv != CS_OK) {
			/* no row was written: name none */
			for (size_t i = 0; i < j->fx.reply_count; i++) {
				if (j->fx.replies[i].durable)
					continue;
				j->fx.replies[i].event = NULL;
				json_object_del(j->fx.replies[i].msg,
				    "audit_seq");
			}
		}
		/* answers read from a decision not committed then: as it
		 * stands now that this batch is done */
		core_engine_settle_past(d->eng, &j->fx);
		j->log = rv == CS_OK && json_array_size(j->fx.events) > 0;
		chain_add(&out, j);
	}
	deliver_chain(d, &out);
	if (rv == CS_OK && cs_mono_ms() - d->head_mono_ms >= 200) {
		write_head(d); /* after the answers: it waits on the disk */
		d->head_mono_ms = cs_mono_ms();
	}
	return jobs;
}

/* Take everything queued (and the rows owed) and commit it: called with
 * q_mtx held and no commit under way; the lock is released during the
 * commit and held again on return. Notes whether the commit had company:
 * more than one job, or jobs queued while it ran. */
static void
commit_queued(struct daemon *d)
{
	struct job *batch = d->q_head;
	size_t jobs;
	bool company;

	d->q_head = d->q_tail = NULL;
	d->committing = true;
	pthread_mutex_unlock(&d->q_mtx);
	jobs = commit_batch(d, batch);
	pthread_mutex_lock(&d->q_mtx);
	company = jobs > 1 || d->q_head != NULL;
	d->committing = false;
	d->company += ((company ? 256 : 0) - d->company) / 8;
}

/* A deadline 200 ms from now, for pthread_cond_timedwait. */
static struct timespec
in_200ms(void)
{
	struct timespec until;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += 200 * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	return until;
}

/* Writer thread: whenever jobs are queued and no other thread holds the
 * commit, take them all and commit them as one batch; while idle, retry
 * owed rows and record the chain head. */
static void *
writer_main(void *arg)
{
	struct daemon *d = arg;

	(void) prctl(PR_SET_NAME, "cs-writer");
	for (;;) {
		struct job *j, *next;

		pthread_mutex_lock(&d->q_mtx);
		for (;;) {
			struct timespec until;

			if (d->committing) {
				/* another thread commits: it signals when done */
				d->writer_waits = true;
				pthread_cond_wait(&d->q_cond, &d->q_mtx);
				d->writer_waits = false;
				continue;
			}
			if (d->q_head != NULL || d->stopping)
				break;
			until = in_200ms();
			d->writer_idle = true;
			if (d->retry != NULL) {
				/* try the owed rows again shortly */
				(void) pthread_cond_timedwait(&d->q_cond,
				    &d->q_mtx, &until);
				d->writer_idle = false;
				if (d->committing || d->retry == NULL)
					continue; /* another thread took them */
				break;
			}
			if (core_store_last_seq(d->store) == d->head_seq) {
				pthread_cond_wait(&d->q_cond, &d->q_mtx);
				d->writer_idle = false;
				continue;
			}
			/* idle with an unrecorded head: record it soon */
			if (pthread_cond_timedwait(&d->q_cond, &d->q_mtx,
			    &until) != 0 && d->q_head == NULL &&
			    !d->committing) {
				d->writer_idle = false;
				pthread_mutex_unlock(&d->q_mtx);
				write_head(d);
				d->head_mono_ms = cs_mono_ms();
				pthread_mutex_lock(&d->q_mtx);
			}
			d->writer_idle = false;
		}
		if (d->q_head == NULL && d->stopping) {
			d->writer_done = true; /* stopping and drained */
			pthread_mutex_unlock(&d->q_mtx);
			for (j = d->retry; j != NULL; j = next) {
				next = j->next;
				cs_log("error: %zu audit row(s) of answers already "
				    "sent could not be written before exit",
				    json_array_size(j->fx.events));
				job_free(j);
			}
			break;
		}
		commit_queued(d);
		pthread_mutex_unlock(&d->q_mtx);
	}
	return NULL;
}

/* ---- engine entry points from nng threads ----------------------------- */

/* An agent frame arrived. */
static void
agent_cb(void *ud, uint64_t handle, const char *buf, size_t len,
    long long peer_uid)
{
	struct daemon *d = ud;
	core_fx fx;

	(void) peer_uid;
	atomic_fetch_add(&d->deciding, 1);
	core_fx_init(&fx);
	core_engine_agent_msg(d->eng, buf, len, handle, cs_now_ms(),
	    cs_mono_ms(), &fx);
	enqueue(d, &fx, true);
}

/* Start the notifier that pages operators through webhooks. */
static cs_err
open_webhooks(struct daemon *d, char **cause)
{
	tp_webhook_target targets[CORE_CFG_WEBHOOKS_MAX];
	char *home = realpath(d->home, NULL);
	cs_err rv;

	for (size_t i = 0; i < d->cfg.webhook_count; i++) {
		const core_cfg_webhook *w = &d->cfg.webhooks[i];

		targets[i] = (tp_webhook_target) {
			.url = w->url, .slack = w->slack,
			.after_ms = w->after_s * 1000,
			.before_deadline_ms = w->before_deadline_s * 1000,
			.timeout_ms = w->timeout_ms, .retries = w->retries,
		};
	}
	rv = tp_webhook_open(&(tp_webhook_opts) {
		.targets = targets, .target_count = d->cfg.webhook_count,
		.queue_max = d->cfg.webhook_queue_max,
		.track_max = d->cfg.max_pending,
		.home = home != NULL ? home : d->home,
	}, &d->webhook, cause);
	free(home);
	if (rv == CS_OK)
		cs_log("webhooks: %zu configured", d->cfg.webhook_count);
	return rv;
}

/* Calls waiting for an operator, for the HTTP /healthz. */
static size_t
http_pending(void *ud)
{
	return core_engine_pending_count(((struct daemon *) ud)->eng);
}

/* Map a peer uid to a user name. */
static void
uid_name(long long uid, char *out, size_t size)
{
	struct passwd pw, *res = NULL;
	char buf[1024];

	if (uid >= 0 && getpwuid_r((uid_t) uid, &pw, buf, sizeof buf, &res) ==
	    0 && res != NULL)
		snprintf(out, size, "%s", res->pw_name);
	else if (uid >= 0)
		snprintf(out, size, "uid:%lld", uid);
	else
		snprintf(out, size, "unknown");
}

/* An operator frame arrived. */
static void
control_cb(void *ud, uint64_t handle, const char *buf, size_t len,
    long long peer_uid)
{
	struct daemon *d = ud;
	char name[64];
	core_fx fx;

	uid_name(peer_uid, name, sizeof name);
	atomic_fetch_add(&d->deciding, 1);
	core_fx_init(&fx);
	core_engine_control_msg(d->eng, name, buf, len, handle, cs_now_ms(),
	    cs_mono_ms(), &fx);
	enqueue(d, &fx, true);
}

/* Timer thread: apply deadlines. */
static void *
timer_main(void *arg)
{
	struct daemon *d = arg;
	struct timespec ts = { 0, TICK_MS * 1000000L };

	int64_t next_checkpoint = 0;

	(void) prctl(PR_SET_NAME, "cs-timer");

	while (!d->timer_stop) {
		core_fx fx;
		int64_t now = cs_mono_ms();

		nanosleep(&ts, NULL);
		if (d->ckpt != NULL && now >= next_checkpoint) {
			/* keep the WAL short without stalling a commit */
			(void) core_store_checkpoint(d->ckpt, NULL);
			next_checkpoint = now + 500;
		}
		if (core_engine_next_wake(d->eng) > now)
			continue;
		core_fx_init(&fx);
		core_engine_tick(d->eng, cs_now_ms(), cs_mono_ms(), &fx);
		enqueue(d, &fx, false);
	}
	return NULL;
}

/* One listener's probe result; bad: it was already reported unusable. */
static void
guard_report(const char *what, int rv, char *cause, bool *bad)
{
	if (rv > 0)
		cs_log("warning: the %s socket stopped taking new connections "
		    "(a peer hung up during the handshake): listening on it "
		    "again; its peers reconnect", what);
	else if (rv < 0 && !*bad)
		cs_log("error: the %s socket takes no new connections: %s",
		    what, cause != NULL ? cause : "out of memory");
	else if (rv == 0 && *bad)
		cs_log("the %s socket takes new connections again", what);
	*bad = rv < 0;
	free(cause);
}

/* Descriptors this process has open (limit when not one is left to
 * look), or -1. */
static long
open_files(long limit)
{
	DIR *dir = opendir("/proc/self/fd");
	long n = 0;

	if (dir == NULL)
		return errno == EMFILE ? limit : -1;
	while (readdir(dir) != NULL)
		n++;
	closedir(dir);
	return n - 3; /* ".", ".." and the directory's own */
}

/* Watch the descriptors: stop the HTTP ingress when its connections take
 * those the agent and control sockets need (nng's HTTP server keeps a
 * connection that never finishes its request open for good; logged and
 * audited). True when descriptors are short: the listener probes then
 * pause, since a listener that cannot accept for want of descriptors is
 * not broken, and a new one could not be made. */
static bool
guard_files(struct daemon *d)
{
	struct rlimit rl;
	long n, reserve;
	core_fx fx;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return false;
	reserve = (long) rl.rlim_cur / FD_RESERVE_DIV;
	if (reserve < 16)
		reserve = 16;
	if ((n = open_files((long) rl.rlim_cur)) < 0 ||
	    n < (long) rl.rlim_cur - reserve) {
		d->files_short = false;
		return false;
	}
	if (d->http == NULL || d->http_stopped) {
		if (!d->files_short)
			cs_log("warning: %ld of %ld file descriptors open: "
			    "listener probes paused until some are closed", n,
			    (long) rl.rlim_cur);
		d->files_short = true;
		return true;
	}
	d->http_stopped = true;
	d->files_short = true;
	tp_http_stop(d->http);
	cs_log("error: %ld of %ld file descriptors open: HTTP ingress stopped "
	    "(connections that never finish a request?) so that the agent "
	    "and control sockets keep accepting; restart countersignd to "
	    "reopen it", n, (long) rl.rlim_cur);
	core_fx_init(&fx);
	(void) json_array_append_new(fx.events, json_pack("{s:s, s:I, s:s, "
	    "s:I, s:I, s:s}", "kind", "ingress", "ts", (json_int_t) cs_now_ms(),
	    "state", "stopped", "open_files", (json_int_t) n, "limit",
	    (json_int_t) rl.rlim_cur, "reason", "file descriptors nearly "
	    "exhausted"));
	enqueue(d, &fx, false);
	return true;
}

/* Guard thread: keep every listener accepting (see tp_server_check). */
static void *
guard_main(void *arg)
{
	struct daemon *d = arg;
	struct timespec ts = { 0, 100 * 1000000L };
	bool bad[3] = { false, false, false };

	(void) prctl(PR_SET_NAME, "cs-guard");
	while (!d->guard_stop) {
		char *cause = NULL;
		int rv;

		for (int i = 0; i < GUARD_MS / 100 && !d->guard_stop; i++)
			nanosleep(&ts, NULL);
		if (d->guard_stop)
			break;
		if (guard_files(d))
			continue; /* out of descriptors: no probe can tell */
		rv = tp_server_check(d->agent, &cause);
		guard_report("agent", rv, cause, &bad[0]);
		cause = NULL;
		rv = tp_server_check(d->control, &cause);
		guard_report("control", rv, cause, &bad[1]);
		cause = NULL;
		rv = tp_pub_check(d->pub, &cause);
		guard_report("events", rv, cause, &bad[2]);
	}
	return NULL;
}

/* Store lookup for status of requests the engine forgot. */
static json_t *
lookup_hook(void *ud, const char *request)
{
	struct daemon *d = ud;
	json_t *ev = NULL;
	char *cause = NULL;

	if (d->reader == NULL &&
	    core_store_open(d->db_path, CORE_STORE_RDONLY, &d->reader,
	    &cause) != CS_OK) {
		free(cause);
		return NULL;
	}
	if (core_store_find_decision(d->reader, request, &ev) != CS_OK)
		return NULL;
	return ev;
}

/* Compile the policy file again. */
static pol_set *
reload_hook(void *ud, char **cause)
{
	struct daemon *d = ud;
	pol_set *pol = NULL;

	struct stat before, after;

	if (stat(d->policy_path, &before) != 0) {
		cs_set_cause(cause, "%s: %s", d->policy_path, strerror(errno));
		return NULL;
	}
	if (pol_set_load(d->policy_path, &pol, cause) != CS_OK)
		return NULL;
	cs_crash_point("mid_policy_reload");
	if (stat(d->policy_path, &after) != 0 ||
	    before.st_ino != after.st_ino || before.st_size != after.st_size ||
	    before.st_mtim.tv_sec != after.st_mtim.tv_sec ||
	    before.st_mtim.tv_nsec != after.st_mtim.tv_nsec) {
		cs_set_cause(cause, "%s changed while it was being loaded",
		    d->policy_path);
		pol_set_free(pol);
		return NULL;
	}
	return pol;
}

/* SIGHUP: reload, keeping the old policy on any error. */
static void
reload(struct daemon *d)
{
	char *cause = NULL;
	pol_set *pol = reload_hook(d, &cause);
	core_fx fx;

	if (pol == NULL)
		cs_log("error: policy reload rejected, the old policy stays in "
		    "force: %s", cause != NULL ? cause : "unknown error");
	core_fx_init(&fx);
	if (pol != NULL)
		cs_log("policy %s loaded: in force once its audit row is "
		    "written", pol_set_version(pol));
	core_engine_policy_changed(d->eng, pol, cause, "SIGHUP", cs_now_ms(),
	    &fx);
	enqueue(d, &fx, false);
	free(cause);
}

/* ---- start and stop -------------------------------------------------- */

/* Collect calls a previous run left pending. */
static bool
stale_cb(void *ud, int64_t seq, const char *hash, json_t *event)
{
	core_fx *fx = ((void **) ud)[0];
	core_engine *eng = ((void **) ud)[1];

	(void) seq;
	(void) hash;
	core_engine_close_stale(eng, event, cs_now_ms(), fx);
	return true;
}

struct remember {
	json_t *events; /* newest first */
};

/* Collect a past decision. */
static bool
remember_cb(void *ud, int64_t seq, const char *hash, json_t *event)
{
	struct remember *r = ud;

	(void) seq;
	(void) hash;
	json_array_append(r->events, event);
	return true;
}

/* Load the newest decisions into the engine, oldest first: a call resent
 * across a restart gets its first answer, and token ids keep their uses. */
static void
remember_decisions(struct daemon *d)
{
	core_store_filter f = { .kind = "decision",
		.limit = (int64_t) d->cfg.recent_max };
	struct remember r = { json_array() };
	size_t n;

	if (r.events == NULL ||
	    core_store_history(d->store, &f, remember_cb, &r) != CS_OK) {
		json_decref(r.events);
		return;
	}
	for (n = json_array_size(r.events); n > 0; n--)
		core_engine_remember(d->eng, json_array_get(r.events, n - 1),
		    cs_now_ms());
	if (json_array_size(r.events) > 0)
		cs_log("remembered the last %zu decisions",
		    json_array_size(r.events));
	json_decref(r.events);
}

/* Close what the last run left open, synchronously, before serving. */
static cs_err
close_stale(struct daemon *d)
{
	core_fx fx;
	void *ud[2];
	size_t n;
	json_t **events;
	cs_err rv = CS_OK;

	core_fx_init(&fx);
	ud[0] = &fx;
	ud[1] = d->eng;
	if ((rv = core_store_open_requests(d->store, stale_cb, ud)) != CS_OK)
		goto done;
	if ((events = fx_event_list(&fx, &n)) == NULL) {
		rv = n > 0 ? CS_ENOMEM : CS_OK;
		goto done;
	}
	rv = core_store_append(d->store, events, n, NULL);
	free(events);
	if (rv == CS_OK) {
		cs_log("closed %zu call(s) left pending by the last run as deny "
		    "(restart)", n);
		core_engine_committed(d->eng, &fx);
	}
done:
	core_fx_fini(&fx);
	return rv;
}

/* On a clean stop, answer every waiting call with deny. */
static void
close_pending(struct daemon *d)
{
	core_fx fx;

	core_fx_init(&fx);
	core_engine_shutdown(d->eng, cs_now_ms(), &fx);
	enqueue(d, &fx, false);
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: countersignd [--home DIR] [--policy FILE] "
	    "[--foreground]\n");
}

/* Detach into the background, the parent exiting once we are ready. */
static int
daemonize(const char *home, int *ready_fd)
{
	int fds[2];
	pid_t pid;
	char *log_path;
	int fd;

	if (pipe(fds) != 0)
		return -1;
	if ((pid = fork()) < 0)
		return -1;
	if (pid > 0) {
		char c = 1;

		close(fds[1]);
		if (read(fds[0], &c, 1) != 1 || c != 0)
			_exit(1);
		_exit(0);
	}
	close(fds[0]);
	setsid();
	if ((log_path = cs_asprintf("%s/countersignd.log", home)) == NULL)
		return -1;
	fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	free(log_path);
	if (fd >= 0) {
		dup2(fd, STDERR_FILENO);
		dup2(fd, STDOUT_FILENO);
		close(fd);
	}
	if ((fd = open("/dev/null", O_RDONLY)) >= 0) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	}
	*ready_fd = fds[1];
	return 0;
}

int
main(int argc, char **argv)
{
	struct daemon d;
	const char *home_arg = NULL, *policy_arg = NULL;
	bool foreground = false;
	char *cause = NULL, *home = NULL, *path = NULL;
	unsigned char *key = NULL;
	size_t key_len = 0;
	pol_set *pol = NULL;
	sigset_t sigs;
	int sig, ready_fd = -1, status = 1;
	struct passwd *pw;

	memset(&d, 0, sizeof d);
	atomic_init(&d.deciding, 0);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--home") == 0 && i + 1 < argc)
			home_arg = argv[++i];
		else if (strcmp(argv[i], "--policy") == 0 && i + 1 < argc)
			policy_arg = argv[++i];
		else if (strcmp(argv[i], "--foreground") == 0)
			foreground = true;
		else if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "countersignd: unknown argument %s\n",
			    argv[i]);
			usage(stderr);
			return 64;
		}
	}
	if ((home = cs_home_resolve(home_arg, &cause)) == NULL)
		goto fail;
	d.home = home;
	if (cs_home_prepare(home, &cause) != CS_OK)
		goto fail;

	core_cfg_defaults(&d.cfg);
	path = cs_asprintf("%s/config.json", home);
	if (core_cfg_load(path, &d.cfg, &cause) != CS_OK)
		goto fail;
	free(path);
	path = NULL;
	d.self_uid = geteuid();
	if ((pw = getpwuid(d.self_uid)) != NULL)
		snprintf(d.self_name, sizeof d.self_name, "%s", pw->pw_name);
	else
		snprintf(d.self_name, sizeof d.self_name, "uid:%u",
		    (unsigned) d.self_uid);
	if (d.cfg.operator_count == 0) {
		d.cfg.operators = calloc(2, sizeof *d.cfg.operators);
		if (d.cfg.operators == NULL ||
		    (d.cfg.operators[0] = strdup(d.self_name)) == NULL)
			goto fail;
		d.cfg.operator_count = 1;
	}

	if (cs_home_key(home, true, &key, &key_len, &cause) != CS_OK)
		goto fail;
	d.policy_path = policy_arg != NULL ? strdup(policy_arg) :
	    cs_home_default_policy(home, CS_DEFAULT_POLICY);
	if (d.policy_path == NULL ||
	    pol_set_load(d.policy_path, &pol, &cause) != CS_OK)
		goto fail;

	d.db_path = cs_asprintf("%s/audit.db", home);
	if (core_store_open(d.db_path, CORE_STORE_CREATE, &d.store, &cause) !=
	    CS_OK) {
		char *why = cause;

		cause = cs_asprintf("refusing to start without a working audit "
		    "store: %s", why != NULL ? why : "unknown error");
		free(why);
		goto fail;
	}
	if (core_store_open(d.db_path, 0, &d.ckpt, &cause) != CS_OK) {
		cs_log("warning: no checkpoint handle (%s): the WAL will grow "
		    "until the next start", cause != NULL ? cause : "?");
		free(cause);
		cause = NULL;
		d.ckpt = NULL;
	}
	if (cs_home_check_pid(home, &cause) != CS_OK)
		goto fail;
	if ((d.eng = core_engine_new(&d.cfg, pol, key, key_len)) == NULL) {
		pol = NULL;
		cause = strdup("out of memory");
		goto fail;
	}
	pol = NULL;
	core_engine_set_hooks(d.eng, lookup_hook, reload_hook, &d);
	remember_decisions(&d);
	if (close_stale(&d) != CS_OK) {
		cause = strdup("could not close the calls left pending by the "
		    "last run: audit store not writable");
		goto fail;
	}

	if (!foreground && daemonize(home, &ready_fd) != 0) {
		cause = strdup("could not detach into the background");
		goto fail;
	}
	if (cs_home_write_pid(home, &cause) != CS_OK)
		goto fail;
	/* Signals go to the main thread only, through sigwait. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* a file size limit makes writes fail (audit_unavailable, deny)
	 * instead of killing the daemon */
	signal(SIGXFSZ, SIG_IGN);

	pthread_mutex_init(&d.q_mtx, NULL);
	pthread_cond_init(&d.q_cond, NULL);
	if (d.cfg.webhook_count > 0 && open_webhooks(&d, &cause) != CS_OK)
		goto fail;
	if (pthread_create(&d.writer, NULL, writer_main, &d) != 0) {
		cause = strdup("could not start the audit writer");
		goto fail;
	}
	d.writer_started = true;
	if (pthread_create(&d.timer, NULL, timer_main, &d) != 0) {
		cause = strdup("could not start the timer");
		goto stop;
	}
	d.timer_started = true;
	{
		char *agent_url = d.cfg.agent_url ? strdup(d.cfg.agent_url) :
		    cs_asprintf("ipc://%s/agent.ipc", home);
		char *control_url = d.cfg.control_url ?
		    strdup(d.cfg.control_url) :
		    cs_asprintf("ipc://%s/control.ipc", home);
		char *events_url = d.cfg.events_url ?
		    strdup(d.cfg.events_url) :
		    cs_asprintf("ipc://%s/events.ipc", home);
		tp_server_opts ao = {
			.url = agent_url, .contexts = d.cfg.agent_contexts,
			.recv_max = d.cfg.recv_max,
			.ipc_mode = d.cfg.socket_mode, .cb = agent_cb,
			.ud = &d,
		};
		tp_server_opts co = {
			.url = control_url,
			.contexts = d.cfg.control_contexts,
			.recv_max = d.cfg.recv_max,
			.ipc_mode = d.cfg.socket_mode,
			.handle_tag = CONTROL_TAG, .peer_uid = true,
			.cb = control_cb, .ud = &d,
		};
		cs_err rv = CS_ENOMEM;
		const char *const urls[] = { agent_url, control_url,
			events_url };

		for (size_t i = 0; i < CS_ARRAY_LEN(urls); i++) {
			if (urls[i] == NULL ||
			    strncmp(urls[i], "ipc://", 6) != 0)
				continue;
			if ((rv = cs_home_check_socket(urls[i] + 6, &cause)) !=
			    CS_OK) {
				free(agent_url);
				free(control_url);
				free(events_url);
				goto stop;
			}
		}
		rv = CS_ENOMEM;
		if (agent_url != NULL && control_url != NULL &&
		    events_url != NULL &&
		    (rv = tp_pub_open(events_url, d.cfg.socket_mode, &d.pub,
		    &cause)) == CS_OK &&
		    (rv = tp_server_open(&co, &d.control, &cause)) == CS_OK)
			rv = tp_server_open(&ao, &d.agent, &cause);
		free(agent_url);
		free(control_url);
		free(events_url);
		if (rv != CS_OK)
			goto stop;
	}
	if (d.cfg.http_listen != NULL) {
		/* HTTP calls are agent frames under handles of their own */
		tp_http_opts ho = {
			.url = d.cfg.http_listen,
			.max_body = d.cfg.http_max_body > 0 ?
			    d.cfg.http_max_body : d.cfg.recv_max,
			.max_inflight = d.cfg.agent_contexts,
			.bind_max = d.cfg.recent_max, .handle_tag = HTTP_TAG,
			.cb = agent_cb, .pending_count = http_pending,
			.ud = &d,
		};

		if (tp_http_open(&ho, &d.http, &cause) != CS_OK)
			goto stop;
		cs_log("HTTP ingress on %s", tp_http_url(d.http));
	}
	if (pthread_create(&d.guard, NULL, guard_main, &d) != 0) {
		cause = strdup("could not start the listener guard");
		goto stop;
	}
	d.guard_started = true;
	cs_log("countersignd ready: home %s, policy %s (%s), operators %s%s",
	    home, core_engine_policy_version(d.eng), d.policy_path,
	    d.cfg.operators[0], d.cfg.operator_count > 1 ? ", ..." : "");
	if (ready_fd >= 0) {
		char ok = 0;

		if (write(ready_fd, &ok, 1) != 1)
			cs_log("warning: could not signal readiness");
		close(ready_fd);
		ready_fd = -1;
	}

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			reload(&d);
			continue;
		}
		cs_log("stopping on signal %d", sig);
		break;
	}
	status = 0;
stop:
	/* answer every parked call, drain the writer, then stop intake */
	d.guard_stop = 1;
	if (d.guard_started)
		pthread_join(d.guard, NULL);
	d.timer_stop = 1;
	if (d.timer_started)
		pthread_join(d.timer, NULL);
	close_pending(&d);
	pthread_mutex_lock(&d.q_mtx);
	d.stopping = true;
	pthread_cond_signal(&d.q_cond);
	pthread_mutex_unlock(&d.q_mtx);
	if (d.writer_started)
		pthread_join(d.writer, NULL);
	jobs_free(d.spent);
	d.spent = NULL;
	if (d.commits > 0)
		cs_log("writer: %llu rows in %llu commits (%.1f rows "
		    "per commit, %.0f us per commit)",
		    (unsigned long long) d.rows,
		    (unsigned long long) d.commits,
		    (double) d.rows / (double) d.commits,
		    (double) d.commit_us / (double) d.commits);
	if (d.store != NULL) {
		char hash[65];

		write_head(&d);
		core_store_last_hash(d.store, hash);
		cs_log("audit head seq=%lld hash=%s",
		    (long long) core_store_last_seq(d.store), hash);
	}
	{
		struct timespec linger = { 0, 100 * 1000000L };

		nanosleep(&linger, NULL); /* let the last replies leave */
	}
	tp_http_close(d.http);
	tp_webhook_close(d.webhook);
	tp_server_close(d.agent);
	tp_server_close(d.control);
	tp_pub_close(d.pub);
	if (cause != NULL)
		cs_log("error: %s", cause);
	core_engine_free(d.eng);
	core_store_close(d.reader);
	core_store_close(d.ckpt);
	core_store_close(d.store);
	cs_home_unlock_pid(home);
	goto out;
fail:
	fprintf(stderr, "countersignd: %s\n", cause != NULL ? cause :
	    "start-up failed");
	if (ready_fd >= 0) {
		char bad = 1;

		if (write(ready_fd, &bad, 1) != 1)
			status = 1;
	}
	tp_webhook_close(d.webhook);
	core_engine_free(d.eng);
	core_store_close(d.ckpt);
	core_store_close(d.store);
	if (home != NULL)
		cs_home_unlock_pid(home);
out:
	pol_set_free(pol);
	core_cfg_fini(&d.cfg);
	free(d.policy_path);
	free(d.db_path);
	free(key);
	free(cause);
	free(path);
	free(home);
	nng_fini();
	return status;
}
