/* countersign-bench.c: load generator for countersignd (concurrent agents
 * over ipc:// or tcp://, every decision checked against the audit store)
 * and the floors it is compared with: a raw nng REQ/REP echo and the policy
 * evaluated in-process. Also drives the human loop with a scripted operator.
 * SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <sqlite3.h>

#include "cfg.h"
#include "cs.h"
#include "engine.h"
#include "home.h"
#include "pol.h"
#include "req.h"
#include "store.h"
#include "tok.h"

#ifndef CS_DEFAULT_POLICY
#define CS_DEFAULT_POLICY "policies/default.json"
#endif

#define FRAME_MAX 4096          /* bytes of one request frame */
#define SESSION_CALLS 25        /* calls per session: under the 30/min burst
                                 * rule of the shipped policy */
#define SESSION_DENIALS 4       /* denials per session: under the 5 of the
                                 * repeated-denials rule */
#define CALL_TIMEOUT_MS 30000   /* a reply slower than this is an error */
#define HUMAN_WAIT_MS 60000     /* wait_ms of a call parked on an operator */
#define PARKED_WAIT_MS 600000   /* wait_ms of the pending-queue filler */
#define TOKEN_TTL_S 3600
#define EVAL_SEQ_LEN 4096       /* pre-drawn sequence of evaluated inputs */

/* What a call should come back with. */
enum expect {
	EXP_ALLOW_POLICY,
	EXP_DENY_POLICY,
	EXP_DENY_ADMISSION,
	EXP_PENDING,
	EXP_ALLOW_OPERATOR,
	EXP_COUNT,
};

static const char *const expect_names[EXP_COUNT] = {
	[EXP_ALLOW_POLICY] = "allow_policy",
	[EXP_DENY_POLICY] = "deny_policy",
	[EXP_DENY_ADMISSION] = "deny_admission",
	[EXP_PENDING] = "pending",
	[EXP_ALLOW_OPERATOR] = "allow_operator",
};

/* One kind of call in the mix. */
struct kind {
	const char *name;
	unsigned weight;      /* in the default mix (sums to 100) */
	unsigned ask_weight;  /* in the mix with --asks (sums to 100) */
	const char *tool;
	const char *args;     /* JSON text */
	bool bad_token;       /* signed with the wrong key */
	enum expect expect;
};

/* The mix against policies/default.json: mostly auto-allowed reads, some
 * policy denials, some admission failures; asks only with --asks. */
static const struct kind kinds[] = {
	{ "fs.read", 40, 37, "fs.read",
	    "{\"path\":\"/workspace/src/main.c\"}", false, EXP_ALLOW_POLICY },
	{ "http.get", 20, 19, "http.get",
	    "{\"url\":\"https://api.example.com/v1/items?page=2\"}", false,
	    EXP_ALLOW_POLICY },
	{ "db.query", 20, 19, "db.query",
	    "{\"sql\":\"select id, name from users where id = 42\"}", false,
	    EXP_ALLOW_POLICY },
	{ "db.execute drop", 5, 5, "db.execute",
	    "{\"sql\":\"DROP TABLE users\"}", false, EXP_DENY_POLICY },
	{ "fs.write outside", 5, 5, "fs.write",
	    "{\"path\":\"/etc/passwd\",\"content\":\"x\"}", false,
	    EXP_DENY_POLICY },
	{ "bad signature", 5, 5, "fs.read",
	    "{\"path\":\"/workspace/README.md\"}", true, EXP_DENY_ADMISSION },
	{ "out of scope", 5, 5, "shell.exec", "{\"cmd\":\"ls -la\"}", false,
	    EXP_DENY_ADMISSION },
	{ "transfer ask", 0, 5, "payments.transfer",
	    "{\"amount\":500,\"currency\":\"EUR\","
	    "\"to\":\"DE89370400440532013000\"}",
	    false, EXP_PENDING },
};
#define KIND_COUNT CS_ARRAY_LEN(kinds)
#define KIND_FS_READ 0
#define KIND_TRANSFER 7

enum mode { MODE_DAEMON, MODE_ECHO, MODE_ECHO_SERVER, MODE_EVAL, MODE_HUMAN,
	MODE_ENGINE };

enum phase { PHASE_WARM, PHASE_MEASURE };

/* A growable array of nanosecond samples. */
struct samples {
	uint64_t *v;
	size_t count, cap;
};

struct bench;

/* One simulated agent: its own REQ socket (or context), one call in flight
 * at a time, driven by its aio callback on nng's threads. */
struct agent {
	struct bench *b;
	uint32_t index;
	nng_socket sock;      /* own socket, or the shared one */
	nng_ctx ctx;
	nng_aio *aio;
	bool receiving;       /* false: the send is in flight */
	uint64_t rng;
	uint64_t seq;         /* calls made in this phase */
	uint64_t sent_ns;
	size_t sent_len;
	int kind;             /* kind of the call in flight */
	uint64_t session_no;  /* current session of the mix */
	int session_calls, session_denials;
	struct samples lat;   /* round trips */
	struct samples decide_lat; /* human: operator decide -> reply */
	_Atomic uint64_t decide_sent_ns;
	_Atomic uint64_t call_sent_ns; /* human: read by the operator */
	uint64_t by_expect[EXP_COUNT];
	uint64_t replies, errors, mismatches;
	char frame[FRAME_MAX];
};

struct bench {
	enum mode mode;
	const char *url;
	const char *home;
	const char *policy_path;
	const char *label;
	int agents;
	double duration_s;
	uint64_t count;
	uint64_t seed;
	bool asks;
	bool shared_socket;
	uint64_t sessions;    /* sessions to pre-warm */
	uint64_t pending;     /* approvals to leave waiting */
	long daemon_pid;
	long rss_start_kib;   /* daemon VmRSS when the measured phase began */
	double cpu_start_us;  /* the daemon's CPU time then (-1: unknown) */
	double self_start_us; /* this process's */
	int rules;            /* --eval: generated policy size, 0: the file */
	long nonce;           /* makes session and call ids unique per run */

	char *good_token, *bad_token;
	unsigned cum_weight[KIND_COUNT];
	unsigned total_weight;

	struct agent *agent;
	nng_socket shared;
	enum phase phase;
	_Atomic uint64_t issued;
	_Atomic int active;
	_Atomic bool stop;
	uint64_t deadline_ns;
	uint64_t start_ns;
	_Atomic uint64_t last_ns;
	pthread_mutex_t mtx;
	pthread_cond_t done_cond;

	/* echo floor */
	nng_socket echo_sock;
	struct echo_slot *echo;
	int echo_count;

	/* pending-queue filler */
	nng_socket park_sock;
	nng_ctx *park_ctx;
	nng_aio **park_aio;
	_Atomic uint64_t parked_sent;

	/* human loop */
	struct samples esc_lat; /* call sent -> pending event seen */
	uint64_t op_errors;
	uint64_t op_decided;
};

/* ---- small helpers --------------------------------------------------- */

/* Monotonic clock in nanoseconds. */
static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* CPU time of the calling thread, ns. */
static uint64_t
cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

/* xorshift64*: fast, fixed-seed, good enough for picking a mix. */
static uint64_t
rng_next(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 2685821657736338717ULL;
}

/* Seed a generator so that no agent starts at zero. */
static uint64_t
rng_seed(uint64_t seed, uint64_t stream)
{
	uint64_t s = seed * 0x9E3779B97F4A7C15ULL +
	    stream * 0xBF58476D1CE4E5B9ULL + 1;

	for (int i = 0; i < 4; i++)
		(void) rng_next(&s);
	return s != 0 ? s : 1;
}

/* Append one sample; a failed growth drops the sample (reported). */
static bool
samples_add(struct samples *s, uint64_t v)
{
	if (s->count == s->cap) {
		size_t cap = s->cap != 0 ? s->cap * 2 : 4096;
		uint64_t *nv = realloc(s->v, cap * sizeof *nv);

		if (nv == NULL)
			return false;
		s->v = nv;
		s->cap = cap;
	}
	s->v[s->count++] = v;
	return true;
}

/* Free a sample array. */
static void
samples_fini(struct samples *s)
{
	free(s->v);
	memset(s, 0, sizeof *s);
}

/* Ascending order for qsort. */
static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

	return x < y ? -1 : x > y;
}

/* The p-quantile (0..1) of sorted samples, in microseconds. */
static double
quantile_us(const struct samples *s, double p)
{
	size_t i;

	if (s->count == 0)
		return 0;
	i = (size_t) (p * (double) s->count);
	if (i >= s->count)
		i = s->count - 1;
	return (double) s->v[i] / 1000.0;
}

/* Merge several sample arrays into one sorted array. */
static bool
samples_merge(struct samples *out, struct samples *const *parts,
    size_t count)
{
	size_t total = 0;

	memset(out, 0, sizeof *out);
	for (size_t i = 0; i < count; i++)
		total += parts[i]->count;
	if (total == 0)
		return true;
	if ((out->v = malloc(total * sizeof *out->v)) == NULL)
		return false;
	out->cap = total;
	for (size_t i = 0; i < count; i++) {
		memcpy(out->v + out->count, parts[i]->v,
		    parts[i]->count * sizeof *out->v);
		out->count += parts[i]->count;
	}
	qsort(out->v, out->count, sizeof *out->v, cmp_u64);
	return true;
}

/* Whether needle occurs in the len bytes at hay (not NUL-terminated). */
static bool
has_bytes(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	if (n == 0 || n > len)
		return n == 0;
	for (size_t i = 0; i + n <= len; i++)
		if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0)
			return true;
	return false;
}

/* A memory figure of a process in KiB ("VmHWM:" for the peak resident
 * set, "VmRSS:" for the current one), or -1. */
static long
status_kib(long pid, const char *key)
{
	char path[64], line[256];
	FILE *f;
	long kib = -1;

	snprintf(path, sizeof path, "/proc/%ld/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, key, strlen(key)) == 0) {
			kib = strtol(line + strlen(key), NULL, 10);
			break;
		}
	}
	fclose(f);
	return kib;
}

/* CPU time (user + system) a process has used, in µs, or -1. */
static double
proc_cpu_us(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long long utime, stime;
	long tick = sysconf(_SC_CLK_TCK);
	size_t n;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if (tick <= 0 || (f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* fields 14 and 15, after the command name in parentheses */
	if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 1, " %*c %*d %*d "
	    "%*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
		return -1;
	return (double) (utime + stime) * 1e6 / (double) tick;
}

/* CPU time this process has used, in µs. */
static double
self_cpu_us(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return -1;
	return (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
	    (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* Parse a non-negative integer option or exit. */
static uint64_t
opt_u64(const char *name, const char *text, uint64_t max)
{
	long long v;

	if (text == NULL || cs_parse_int(text, 0, (long long) max, &v) !=
	    CS_OK) {
		fprintf(stderr, "countersign-bench: %s needs an integer from "
		    "0 to %" PRIu64 "\n", name, max);
		exit(64);
	}
	return (uint64_t) v;
}

/* ---- the audit store ------------------------------------------------- */

/* Count audit rows of one kind, or -1 when the store cannot be read. */
static long long
audit_count(const char *home, const char *kind)
{
	char *path = cs_asprintf("%s/audit.db", home);
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	long long n = -1;

	if (path == NULL)
		return -1;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK)
		goto done;
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM audit WHERE kind = ?1",
	    -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC) != SQLITE_OK)
		goto done;
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
done:
	sqlite3_finalize(st);
	sqlite3_close(db);
	free(path);
	return n;
}

/* ---- tokens and frames ------------------------------------------------ */

/* Mint the good token with the daemon's key and a bad one (same claims,
 * another key). Without a home (echo floor) both use a local key. */
static int
make_tokens(struct bench *b)
{
	unsigned char *key = NULL, other[32];
	size_t key_len = 0;
	char *cause = NULL;
	core_tok_mint_opts o = {
		.user = "alice", .agent = "bench-agent",
		.scope = "tool:fs.* tool:http.* tool:db.* tool:payments.*",
		.ttl_s = TOKEN_TTL_S, .trust = -1,
		.purpose = "benchmark traffic",
	};
	int64_t now = time(NULL);

	memset(other, 0x5a, sizeof other);
	if (b->home != NULL && b->mode != MODE_ECHO) {
		if (cs_home_key(b->home, false, &key, &key_len, &cause) !=
		    CS_OK) {
			fprintf(stderr, "countersign-bench: %s\n",
			    cause != NULL ? cause : "cannot read token.key");
			free(cause);
			return -1;
		}
	} else {
		if ((key = malloc(32)) == NULL)
			return -1;
		memset(key, 0x33, 32);
		key_len = 32;
	}
	if (core_tok_mint(key, key_len, &o, now, &b->good_token, &cause) !=
	    CS_OK ||
	    core_tok_mint(other, sizeof other, &o, now, &b->bad_token,
	    &cause) != CS_OK) {
		fprintf(stderr, "countersign-bench: mint: %s\n",
		    cause != NULL ? cause : "failed");
		free(cause);
		free(key);
		return -1;
	}
	free(key);
	return 0;
}

/* The mix's cumulative weights. */
static void
set_weights(struct bench *b)
{
	b->total_weight = 0;
	for (size_t i = 0; i < KIND_COUNT; i++) {
		b->total_weight += b->asks ? kinds[i].ask_weight :
		    kinds[i].weight;
		b->cum_weight[i] = b->total_weight;
	}
}

/* Pick the next call of the mix. */
static int
pick_kind(struct bench *b, uint64_t *rng)
{
	unsigned r = (unsigned) (rng_next(rng) % b->total_weight);

	for (size_t i = 0; i < KIND_COUNT; i++)
		if (r < b->cum_weight[i])
			return (int) i;
	return KIND_FS_READ;
}

/* Write the next request of agent a into a->frame; returns its length. */
static size_t
next_frame(struct agent *a, uint64_t ticket)
{
	struct bench *b = a->b;
	const struct kind *k;
	char session[64], id[64];
	int wait_ms = 0;
	int n;

	if (b->phase == PHASE_WARM) {
		/* one allowed read per new session: sessions known */
		a->kind = KIND_FS_READ;
		snprintf(session, sizeof session, "w-%ld-%" PRIu64, b->nonce,
		    ticket);
		snprintf(id, sizeof id, "w-%ld-%" PRIu64, b->nonce, ticket);
	} else {
		a->kind = b->mode == MODE_HUMAN ? KIND_FS_READ :
		    pick_kind(b, &a->rng);
		if (a->session_calls >= SESSION_CALLS ||
		    a->session_denials >= SESSION_DENIALS) {
			a->session_no++;
			a->session_calls = a->session_denials = 0;
		}
		a->session_calls++;
		snprintf(session, sizeof session, "s-%ld-%u-%" PRIu64,
		    b->nonce, a->index, a->session_no);
		snprintf(id, sizeof id, "%s-%u-%" PRIu64 "-%ld",
		    b->mode == MODE_HUMAN ? "h" : "c", a->index, a->seq,
		    b->nonce);
		if (b->mode == MODE_HUMAN)
			wait_ms = HUMAN_WAIT_MS;
	}
	a->seq++;
	k = &kinds[a->kind];
	n = snprintf(a->frame, sizeof a->frame,
	    "{\"v\":1,\"type\":\"authorize\",\"id\":\"%s\",\"token\":\"%s\","
	    "\"session\":\"%s\",\"tool\":\"%s\",\"args\":%s,\"wait_ms\":%d}",
	    id, k->bad_token ? b->bad_token : b->good_token, session, k->tool,
	    k->args, wait_ms);
	if (n < 0 || (size_t) n >= sizeof a->frame)
		return 0;
	return (size_t) n;
}

/* What a reply says, against what the mix expected. */
static void
classify(struct agent *a, const char *body, size_t len)
{
	struct bench *b = a->b;
	enum expect want = b->mode == MODE_HUMAN ? EXP_ALLOW_OPERATOR :
	    kinds[a->kind].expect;
	enum expect got = EXP_COUNT;

	if (b->mode == MODE_ECHO) {
		if (len != a->sent_len)
			a->errors++;
		return;
	}
	if (!has_bytes(body, len, "\"type\":\"decision\"")) {
		a->errors++;
		return;
	}
	if (has_bytes(body, len, "\"decision\":\"allow\""))
		got = has_bytes(body, len, "\"by\":\"operator\"") ?
		    EXP_ALLOW_OPERATOR : EXP_ALLOW_POLICY;
	else if (has_bytes(body, len, "\"decision\":\"pending\""))
		got = EXP_PENDING;
	else if (has_bytes(body, len, "\"decision\":\"deny\""))
		got = has_bytes(body, len, "\"by\":\"admission\"") ?
		    EXP_DENY_ADMISSION : has_bytes(body, len,
		    "\"by\":\"policy\"") ? EXP_DENY_POLICY : EXP_COUNT;
	if (got == EXP_COUNT) {
		a->errors++;
		return;
	}
	a->by_expect[got]++;
	if (got == EXP_DENY_POLICY || got == EXP_DENY_ADMISSION)
		a->session_denials++;
	if (got != want)
		a->mismatches++;
}

/* ---- agents: one call in flight each ---------------------------------- */

/* This agent is finished with the phase. */
static void
agent_done(struct agent *a)
{
	struct bench *b = a->b;

	pthread_mutex_lock(&b->mtx);
	if (atomic_fetch_sub(&b->active, 1) == 1)
		pthread_cond_broadcast(&b->done_cond);
	pthread_mutex_unlock(&b->mtx);
}

/* Send the agent's next call, or finish when the phase is over. */
static void
agent_send(struct agent *a)
{
	struct bench *b = a->b;
	nng_msg *msg;
	size_t len;
	uint64_t ticket = 0;

	for (;;) {
		if (atomic_load(&b->stop)) {
			agent_done(a);
			return;
		}
		if (b->phase == PHASE_WARM || b->count > 0) {
			uint64_t limit = b->phase == PHASE_WARM ? b->sessions :
			    b->count;

			if ((ticket = atomic_fetch_add(&b->issued, 1)) >=
			    limit) {
				agent_done(a);
				return;
			}
		} else if (now_ns() >= b->deadline_ns) {
			agent_done(a);
			return;
		}
		if ((len = next_frame(a, ticket)) == 0 ||
		    nng_msg_alloc(&msg, 0) != 0) {
			a->errors++;
			continue;
		}
		if (nng_msg_append(msg, a->frame, len) != 0) {
			nng_msg_free(msg);
			a->errors++;
			continue;
		}
		break;
	}
	a->sent_len = len;
	a->receiving = false;
	nng_aio_set_msg(a->aio, msg);
	a->sent_ns = now_ns();
	atomic_store(&a->call_sent_ns, a->sent_ns);
	nng_ctx_send(a->ctx, a->aio);
}

/* Completion of an agent's send or receive. */
static void
agent_cb(void *arg)
{
	struct agent *a = arg;
	struct bench *b = a->b;
	int rv = nng_aio_result(a->aio);
	nng_msg *msg;
	uint64_t t;

	if (!a->receiving) {
		if (rv != 0) {
			if ((msg = nng_aio_get_msg(a->aio)) != NULL)
				nng_msg_free(msg);
			a->errors++;
			if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
				agent_done(a);
				return;
			}
			agent_send(a);
			return;
		}
		a->receiving = true;
		nng_ctx_recv(a->ctx, a->aio);
		return;
	}
	if (rv != 0) {
		a->errors++;
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED) {
			agent_done(a);
			return;
		}
		agent_send(a);
		return;
	}
	t = now_ns();
	msg = nng_aio_get_msg(a->aio);
	a->replies++;
	if (b->phase == PHASE_MEASURE) {
		if (!samples_add(&a->lat, t - a->sent_ns))
			a->errors++;
		if (b->mode == MODE_HUMAN) {
			uint64_t d = atomic_load(&a->decide_sent_ns);

			if (d != 0 && d < t)
				samples_add(&a->decide_lat, t - d);
			atomic_store(&a->decide_sent_ns, 0);
		}
		atomic_store(&b->last_ns, t);
	}
	classify(a, nng_msg_body(msg), nng_msg_len(msg));
	nng_msg_free(msg);
	agent_send(a);
}

/* Open every agent's socket (or context) and connect it. */
static int
agents_open(struct bench *b)
{
	int rv;

	if ((b->agent = calloc((size_t) b->agents, sizeof *b->agent)) == NULL)
		return -1;
	if (b->shared_socket) {
		if ((rv = nng_req0_open(&b->shared)) != 0 ||
		    (rv = nng_socket_set_ms(b->shared, NNG_OPT_REQ_RESENDTIME,
		    NNG_DURATION_INFINITE)) != 0 ||
		    (rv = nng_dial(b->shared, b->url, NULL, 0)) != 0)
			goto fail;
	}
	for (int i = 0; i < b->agents; i++) {
		struct agent *a = &b->agent[i];

		a->b = b;
		a->index = (uint32_t) i;
		a->rng = rng_seed(b->seed, (uint64_t) i);
		if (b->shared_socket)
			a->sock = b->shared;
		else if ((rv = nng_req0_open(&a->sock)) != 0 ||
		    (rv = nng_socket_set_ms(a->sock, NNG_OPT_REQ_RESENDTIME,
		    NNG_DURATION_INFINITE)) != 0 ||
		    (rv = nng_dial(a->sock, b->url, NULL, 0)) != 0)
			goto fail;
		if ((rv = nng_ctx_open(&a->ctx, a->sock)) != 0 ||
		    (rv = nng_aio_alloc(&a->aio, agent_cb, a)) != 0)
			goto fail;
		nng_aio_set_timeout(a->aio, CALL_TIMEOUT_MS);
	}
	return 0;
fail:
	fprintf(stderr, "countersign-bench: %s: %s\n", b->url,
	    nng_strerror(rv));
	return -1;
}

/* Close every agent: sockets first, then stop and free the aios. */
static void
agents_close(struct bench *b)
{
	if (b->agent == NULL)
		return;
	atomic_store(&b->stop, true);
	if (b->shared_socket)
		nng_close(b->shared);
	for (int i = 0; i < b->agents; i++)
		if (!b->shared_socket)
			nng_close(b->agent[i].sock);
	for (int i = 0; i < b->agents; i++)
		if (b->agent[i].aio != NULL)
			nng_aio_stop(b->agent[i].aio);
	for (int i = 0; i < b->agents; i++) {
		nng_aio_free(b->agent[i].aio);
		samples_fini(&b->agent[i].lat);
		samples_fini(&b->agent[i].decide_lat);
	}
	free(b->agent);
	b->agent = NULL;
}

/* Run one phase with every agent and wait until all are done. */
static void
run_phase(struct bench *b, enum phase phase, double duration_s)
{
	b->phase = phase;
	atomic_store(&b->issued, 0);
	atomic_store(&b->active, b->agents);
	for (int i = 0; i < b->agents; i++) {
		struct agent *a = &b->agent[i];

		a->lat.count = a->decide_lat.count = 0;
		memset(a->by_expect, 0, sizeof a->by_expect);
		a->replies = a->errors = a->mismatches = 0;
		a->seq = 0;
	}
	b->start_ns = now_ns();
	atomic_store(&b->last_ns, b->start_ns);
	b->deadline_ns = b->start_ns + (uint64_t) (duration_s * 1e9);
	for (int i = 0; i < b->agents; i++)
		agent_send(&b->agent[i]);
	pthread_mutex_lock(&b->mtx);
	while (atomic_load(&b->active) > 0)
		pthread_cond_wait(&b->done_cond, &b->mtx);
	pthread_mutex_unlock(&b->mtx);
}

/* ---- the echo floor: a REP server with one context per agent --------- */

struct echo_slot {
	nng_ctx ctx;
	nng_aio *aio;
	bool sending;
};

/* Echo each request back on the context it came in on. */
static void
echo_cb(void *arg)
{
	struct echo_slot *s = arg;
	int rv = nng_aio_result(s->aio);
	nng_msg *msg;

	if (s->sending) {
		if (rv != 0 && (msg = nng_aio_get_msg(s->aio)) != NULL)
			nng_msg_free(msg);
		s->sending = false;
		if (rv == NNG_ECLOSED)
			return;
		nng_ctx_recv(s->ctx, s->aio);
		return;
	}
	if (rv != 0) {
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED)
			return;
		nng_ctx_recv(s->ctx, s->aio);
		return;
	}
	s->sending = true;
	nng_ctx_send(s->ctx, s->aio); /* the received message goes back */
}

/* Listen on the bench url and serve echoes with count contexts. */
static int
echo_open(struct bench *b, int count)
{
	int rv;

	if ((b->echo = calloc((size_t) count, sizeof *b->echo)) == NULL)
		return -1;
	if ((rv = nng_rep0_open(&b->echo_sock)) != 0 ||
	    (rv = nng_socket_set_size(b->echo_sock, NNG_OPT_RECVMAXSZ,
	    65536)) != 0)
		goto fail;
	for (int i = 0; i < count; i++) {
		if ((rv = nng_ctx_open(&b->echo[i].ctx, b->echo_sock)) != 0 ||
		    (rv = nng_aio_alloc(&b->echo[i].aio, echo_cb,
		    &b->echo[i])) != 0)
			goto fail;
		b->echo_count = i + 1;
	}
	if ((rv = nng_listen(b->echo_sock, b->url, NULL, 0)) != 0)
		goto fail;
	for (int i = 0; i < count; i++)
		nng_ctx_recv(b->echo[i].ctx, b->echo[i].aio);
	return 0;
fail:
	fprintf(stderr, "countersign-bench: echo %s: %s\n", b->url,
	    nng_strerror(rv));
	return -1;
}

/* Stop the echo server. */
static void
echo_close(struct bench *b)
{
	if (b->echo == NULL)
		return;
	nng_close(b->echo_sock);
	for (int i = 0; i < b->echo_count; i++)
		nng_aio_stop(b->echo[i].aio);
	for (int i = 0; i < b->echo_count; i++)
		nng_aio_free(b->echo[i].aio);
	free(b->echo);
	b->echo = NULL;
}

/* The echo floor in a process of its own, as the daemon is: serve until
 * SIGINT or SIGTERM, so that a load run given its --pid can report the
 * server's CPU per round trip apart from the load generator's. */
static int
run_echo_server(struct bench *b)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0 ||
	    echo_open(b, b->agents) != 0)
		return 1;
	printf("echo server ready pid=%ld url=%s\n", (long) getpid(), b->url);
	fflush(stdout);
	(void) sigwait(&set, &sig);
	echo_close(b);
	return 0;
}

/* ---- the pending queue filler ----------------------------------------- */

/* Leave b->pending asks waiting for an operator, each parked on its own
 * context, and wait until the daemon has queued them all. */
static int
fill_pending(struct bench *b)
{
	long long before = audit_count(b->home, "pending");
	int rv;

	if (b->pending == 0)
		return 0;
	b->park_ctx = calloc(b->pending, sizeof *b->park_ctx);
	b->park_aio = calloc(b->pending, sizeof *b->park_aio);
	if (b->park_ctx == NULL || b->park_aio == NULL || before < 0)
		return -1;
	if ((rv = nng_req0_open(&b->park_sock)) != 0 ||
	    (rv = nng_socket_set_ms(b->park_sock, NNG_OPT_REQ_RESENDTIME,
	    NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_dial(b->park_sock, b->url, NULL, 0)) != 0) {
		fprintf(stderr, "countersign-bench: %s: %s\n", b->url,
		    nng_strerror(rv));
		return -1;
	}
	for (uint64_t i = 0; i < b->pending; i++) {
		char frame[FRAME_MAX];
		nng_msg *msg;
		int n;

		if (nng_ctx_open(&b->park_ctx[i], b->park_sock) != 0 ||
		    nng_aio_alloc(&b->park_aio[i], NULL, NULL) != 0)
			return -1;
		n = snprintf(frame, sizeof frame,
		    "{\"v\":1,\"type\":\"authorize\","
		    "\"id\":\"p-%ld-%" PRIu64 "\",\"token\":\"%s\","
		    "\"session\":\"p-%ld-%" PRIu64 "\",\"tool\":\"%s\","
		    "\"args\":%s,\"wait_ms\":%d}", b->nonce, i, b->good_token,
		    b->nonce, i,
		    kinds[KIND_TRANSFER].tool, kinds[KIND_TRANSFER].args,
		    PARKED_WAIT_MS);
		if (n < 0 || (size_t) n >= sizeof frame ||
		    nng_msg_alloc(&msg, 0) != 0)
			return -1;
		if (nng_msg_append(msg, frame, (size_t) n) != 0) {
			nng_msg_free(msg);
			return -1;
		}
		/* send, then leave the receive outstanding: the call stays
		 * parked on the operator until the bench ends */
		nng_aio_set_msg(b->park_aio[i], msg);
		nng_ctx_send(b->park_ctx[i], b->park_aio[i]);
		nng_aio_wait(b->park_aio[i]);
		if (nng_aio_result(b->park_aio[i]) != 0) {
			nng_msg_free(nng_aio_get_msg(b->park_aio[i]));
			return -1;
		}
		nng_ctx_recv(b->park_ctx[i], b->park_aio[i]);
	}
	for (int tries = 0; tries < 3000; tries++) {
		long long now = audit_count(b->home, "pending");

		if (now >= 0 && (uint64_t) (now - before) >= b->pending) {
			b->parked_sent = b->pending;
			return 0;
		}
		usleep(10000);
	}
	fprintf(stderr, "countersign-bench: only some of %" PRIu64 " asks "
	    "reached the pending queue\n", b->pending);
	return -1;
}

/* Drop the parked calls. */
static void
pending_close(struct bench *b)
{
	if (b->park_aio == NULL)
		return;
	nng_close(b->park_sock);
	for (uint64_t i = 0; i < b->pending; i++)
		if (b->park_aio[i] != NULL)
			nng_aio_stop(b->park_aio[i]);
	for (uint64_t i = 0; i < b->pending; i++) {
		if (b->park_aio[i] != NULL && nng_aio_result(b->park_aio[i]) ==
		    0 && nng_aio_get_msg(b->park_aio[i]) != NULL)
			nng_msg_free(nng_aio_get_msg(b->park_aio[i]));
		nng_aio_free(b->park_aio[i]);
	}
	free(b->park_aio);
	free(b->park_ctx);
	b->park_aio = NULL;
}

/* ---- the human loop: a scripted operator ------------------------------ */

struct operator {
	struct bench *b;
	nng_socket sub, ctl;
	pthread_t thread;
};

/* Approve every fresh pending event as soon as it arrives. */
static void *
operator_main(void *arg)
{
	struct operator *op = arg;
	struct bench *b = op->b;

	while (!atomic_load(&b->stop)) {
		nng_msg *msg, *reply;
		const char *body, *json, *id, *request;
		size_t len;
		json_t *ev;
		json_error_t jerr;
		unsigned agent_no;
		uint64_t t, call_seq;
		char decide[256];
		int n;

		if (nng_recvmsg(op->sub, &msg, 0) != 0)
			continue; /* receive timeout: look at stop */
		t = now_ns();
		body = nng_msg_body(msg);
		len = nng_msg_len(msg);
		json = memchr(body, ' ', len);
		ev = json != NULL ? json_loadb(json + 1, len - (size_t) (json +
		    1 - body), 0, &jerr) : NULL;
		nng_msg_free(msg);
		id = json_string_value(json_object_get(ev, "id"));
		request = json_string_value(json_object_get(ev, "request"));
		if (ev == NULL || id == NULL || request == NULL ||
		    json_array_size(json_object_get(ev, "approvals")) != 0 ||
		    sscanf(id, "h-%u-%" SCNu64, &agent_no, &call_seq) != 2 ||
		    agent_no >= (unsigned) b->agents) {
			json_decref(ev);
			continue;
		}
		if (b->phase == PHASE_MEASURE) {
			uint64_t sent = atomic_load(
			    &b->agent[agent_no].call_sent_ns);

			if (sent != 0 && sent < t)
				samples_add(&b->esc_lat, t - sent);
		}
		n = snprintf(decide, sizeof decide,
		    "{\"v\":1,\"type\":\"decide\",\"request\":\"%s\","
		    "\"verdict\":\"approve\"}", request);
		json_decref(ev);
		if (n < 0 || (size_t) n >= sizeof decide) {
			b->op_errors++;
			continue;
		}
		atomic_store(&b->agent[agent_no].decide_sent_ns, now_ns());
		if (nng_send(op->ctl, decide, (size_t) n, 0) != 0 ||
		    nng_recvmsg(op->ctl, &reply, 0) != 0) {
			b->op_errors++;
			continue;
		}
		if (!has_bytes(nng_msg_body(reply), nng_msg_len(reply),
		    "\"ok\":true"))
			b->op_errors++;
		else
			b->op_decided++;
		nng_msg_free(reply);
	}
	return NULL;
}

/* Subscribe to the event feed and connect to the control endpoint. */
static int
operator_open(struct bench *b, struct operator *op)
{
	char *events = cs_home_url(b->home, "events.ipc");
	char *control = cs_home_url(b->home, "control.ipc");
	int rv = NNG_ENOMEM;

	op->b = b;
	if (events == NULL || control == NULL)
		goto fail;
	if ((rv = nng_sub0_open(&op->sub)) != 0 ||
	    (rv = nng_socket_set(op->sub, NNG_OPT_SUB_SUBSCRIBE, "pending ",
	    8)) != 0 ||
	    (rv = nng_socket_set_ms(op->sub, NNG_OPT_RECVTIMEO, 100)) != 0 ||
	    (rv = nng_socket_set_size(op->sub, NNG_OPT_RECVMAXSZ,
	    1u << 20)) != 0 ||
	    (rv = nng_dial(op->sub, events, NULL, 0)) != 0 ||
	    (rv = nng_req0_open(&op->ctl)) != 0 ||
	    (rv = nng_socket_set_ms(op->ctl, NNG_OPT_RECVTIMEO, 10000)) != 0 ||
	    (rv = nng_dial(op->ctl, control, NULL, 0)) != 0)
		goto fail;
	free(events);
	free(control);
	usleep(100000); /* let the PUB side attach the new pipe */
	if (pthread_create(&op->thread, NULL, operator_main, op) != 0)
		return -1;
	return 0;
fail:
	fprintf(stderr, "countersign-bench: operator: %s\n", nng_strerror(rv));
	free(events);
	free(control);
	return -1;
}

/* ---- reporting -------------------------------------------------------- */

/* Print the result line of a load run; returns the exit status. */
static int
report_load(struct bench *b, long long rows_before)
{
	struct samples all = { 0 }, dec = { 0 }, **parts, **dparts;
	uint64_t replies = 0, errors = 0, mismatches = 0, by[EXP_COUNT] = { 0 };
	uint64_t expected_rows;
	double secs = (double) (atomic_load(&b->last_ns) - b->start_ns) / 1e9;
	long long rows = -1, rows_after;
	long rss = b->daemon_pid > 0 ?
	    status_kib(b->daemon_pid, "VmHWM:") : -1;
	bool audit_ok = true, merged;
	int status = 0;

	parts = calloc((size_t) b->agents, sizeof *parts);
	dparts = calloc((size_t) b->agents, sizeof *dparts);
	if (parts == NULL || dparts == NULL) {
		free(parts);
		free(dparts);
		fprintf(stderr, "countersign-bench: out of memory\n");
		return 1;
	}
	for (int i = 0; i < b->agents; i++) {
		struct agent *a = &b->agent[i];

		parts[i] = &a->lat;
		dparts[i] = &a->decide_lat;
		replies += a->replies;
		errors += a->errors;
		mismatches += a->mismatches;
		for (int e = 0; e < EXP_COUNT; e++)
			by[e] += a->by_expect[e];
	}
	errors += mismatches + b->op_errors;
	merged = samples_merge(&all, parts, (size_t) b->agents) &&
	    samples_merge(&dec, dparts, (size_t) b->agents);
	free(parts);
	free(dparts);
	if (!merged) {
		samples_fini(&all);
		samples_fini(&dec);
		fprintf(stderr, "countersign-bench: out of memory\n");
		return 1;
	}
	if (secs <= 0)
		secs = 1e-9;
	printf("decisions_per_s=%.0f p50_us=%.1f p99_us=%.1f p999_us=%.1f "
	    "max_us=%.1f errors=%" PRIu64, (double) replies / secs,
	    quantile_us(&all, 0.50), quantile_us(&all, 0.99),
	    quantile_us(&all, 0.999),
	    all.count ? (double) all.v[all.count - 1] / 1000.0 : 0.0, errors);
	expected_rows = by[EXP_ALLOW_POLICY] + by[EXP_DENY_POLICY] +
	    by[EXP_DENY_ADMISSION] + by[EXP_ALLOW_OPERATOR];
	if (b->mode == MODE_ECHO) {
		printf(" audit_rows=-");
	} else {
		rows_after = audit_count(b->home, "decision");
		rows = rows_after >= 0 && rows_before >= 0 ?
		    rows_after - rows_before : -1;
		audit_ok = rows >= 0 && (uint64_t) rows == expected_rows;
		printf(" audit_rows=%lld expected_rows=%" PRIu64
		    " audit_ok=%d", rows, expected_rows, audit_ok ? 1 : 0);
	}
	printf(" mode=%s label=%s agents=%d calls=%" PRIu64 " seconds=%.2f",
	    b->mode == MODE_ECHO ? "echo" : b->mode == MODE_HUMAN ? "human" :
	    "daemon", b->label, b->agents, replies, secs);
	if (b->mode != MODE_ECHO)
		for (int e = 0; e < EXP_COUNT; e++)
			printf(" %s=%" PRIu64, expect_names[e], by[e]);
	printf(" mismatches=%" PRIu64, mismatches);
	if (b->mode == MODE_HUMAN) {
		qsort(b->esc_lat.v, b->esc_lat.count, sizeof *b->esc_lat.v,
		    cmp_u64);
		printf(" escalation_p50_us=%.1f escalation_p99_us=%.1f "
		    "decide_p50_us=%.1f decide_p99_us=%.1f operator_decided=%"
		    PRIu64, quantile_us(&b->esc_lat, 0.50),
		    quantile_us(&b->esc_lat, 0.99), quantile_us(&dec, 0.50),
		    quantile_us(&dec, 0.99), b->op_decided);
	}
	if (b->sessions > 0)
		printf(" sessions_warmed=%" PRIu64, b->sessions);
	if (b->pending > 0)
		printf(" pending_waiting=%" PRIu64, b->parked_sent);
	if (rss >= 0)
		printf(" rss_start_kib=%ld rss_peak_kib=%ld", b->rss_start_kib,
		    rss);
	/* CPU per answered call: the daemon's, and this process's (the load
	 * generator; with --echo also the echo server) */
	if (replies > 0) {
		double d = b->daemon_pid > 0 ? proc_cpu_us(b->daemon_pid) : -1;
		double me = self_cpu_us();

		if (d >= 0 && b->cpu_start_us >= 0)
			printf(" daemon_cpu_us=%.1f",
			    (d - b->cpu_start_us) / (double) replies);
		if (me >= 0 && b->self_start_us >= 0)
			printf(" self_cpu_us=%.1f",
			    (me - b->self_start_us) / (double) replies);
	}
	printf("\n");
	fflush(stdout);
	samples_fini(&all);
	samples_fini(&dec);
	if (errors > 0 || !audit_ok)
		status = 1;
	return status;
}

/* ---- load runs: daemon, echo, human ----------------------------------- */

/* Drive the daemon (or the echo floor) and report. */
static int
run_load(struct bench *b)
{
	struct operator op;
	long long rows_before = -1;
	int status = 1;

	memset(&op, 0, sizeof op);
	set_weights(b);
	if (make_tokens(b) != 0)
		return 1;
	/* with --pid the echo server is that process (--echo-server) */
	if (b->mode == MODE_ECHO && b->daemon_pid <= 0 &&
	    echo_open(b, b->agents) != 0)
		goto done;
	if (agents_open(b) != 0)
		goto done;
	if (b->mode == MODE_DAEMON && b->sessions > 0) {
		fprintf(stderr, "countersign-bench: warming %" PRIu64
		    " sessions\n", b->sessions);
		run_phase(b, PHASE_WARM, 0);
	}
	if (b->mode == MODE_DAEMON && fill_pending(b) != 0) {
		fprintf(stderr, "countersign-bench: could not fill the pending "
		    "queue\n");
		goto done;
	}
	if (b->mode == MODE_HUMAN && operator_open(b, &op) != 0)
		goto done;
	if (b->mode != MODE_ECHO &&
	    (rows_before = audit_count(b->home, "decision")) < 0) {
		fprintf(stderr, "countersign-bench: cannot read %s/audit.db\n",
		    b->home);
		goto done;
	}
	if (b->daemon_pid > 0)
		b->rss_start_kib = status_kib(b->daemon_pid, "VmRSS:");
	b->cpu_start_us = b->daemon_pid > 0 ? proc_cpu_us(b->daemon_pid) : -1;
	b->self_start_us = self_cpu_us();
	run_phase(b, PHASE_MEASURE, b->duration_s);
	status = report_load(b, rows_before);
done:
	atomic_store(&b->stop, true);
	if (op.b != NULL) {
		pthread_join(op.thread, NULL);
		nng_close(op.sub);
		nng_close(op.ctl);
	}
	agents_close(b);
	pending_close(b);
	echo_close(b);
	samples_fini(&b->esc_lat);
	free(b->good_token);
	free(b->bad_token);
	return status;
}

/* ---- the engine floor: the policy in-process -------------------------- */

/* Write a policy with rule_count rules: five generic ones (like the
 * shipped policy's quarantine, burst, denials, chain and low-risk rules)
 * and the rest on exact tool names, four per tool, testing arguments with
 * regexes, numbers and lists. Returns a new string. */
static char *
gen_policy(int rule_count, int *tool_count)
{
	size_t cap = 1024 + (size_t) rule_count * 256;
	char *buf = malloc(cap);
	size_t len = 0;
	int tools, specific = rule_count > 5 ? rule_count - 5 : 0;

	tools = specific / 4 > 0 ? specific / 4 : 1;
	*tool_count = tools;
	if (buf == NULL)
		return NULL;
#define OUT(...) \
	do { \
		int n_ = snprintf(buf + len, cap - len, __VA_ARGS__); \
		if (n_ < 0 || (size_t) n_ >= cap - len) { \
			free(buf); \
			return NULL; \
		} \
		len += (size_t) n_; \
	} while (0)
	OUT("{\"policy\":\"generated-%d\",\"version\":\"1\",\"defaults\":"
	    "{\"decision\":\"ask\"},\"tools\":{", rule_count);
	for (int t = 0; t < tools; t++)
		OUT("%s\"svc%d.call\":{\"risk\":\"%s\"}", t ? "," : "", t,
		    t % 3 == 0 ? "low" : t % 3 == 1 ? "medium" : "high");
	OUT("},\"rules\":[");
	for (int i = 0; i < rule_count; i++) {
		int t = (i - 5) / 4 % tools;

		if (i > 0)
			OUT(",");
		switch (i < 5 ? i : 5 + (i - 5) % 4) {
		case 0:
			OUT("{\"id\":\"quarantine\",\"if\":{\"trust\":"
			    "{\"<=\":0}},\"then\":\"deny\"}");
			break;
		case 1:
			OUT("{\"id\":\"burst\",\"if\":"
			    "{\"rate.session_per_min\":{\">\":30}},"
			    "\"then\":\"ask\"}");
			break;
		case 2:
			OUT("{\"id\":\"denials\",\"if\":{\"session.denials\":"
			    "{\">=\":5}},\"then\":\"ask\"}");
			break;
		case 3:
			OUT("{\"id\":\"deep-chain\",\"if\":{\"chain_depth\":"
			    "{\">\":3}},\"then\":\"ask\"}");
			break;
		case 4:
			OUT("{\"id\":\"low-risk\",\"if\":{\"risk\":\"low\","
			    "\"trust\":{\">=\":2}},\"then\":\"allow\"}");
			break;
		case 5:
			OUT("{\"id\":\"r%d\",\"if\":{\"tool\":\"svc%d.call\","
			    "\"args.path\":{\"matches\":\"^/restricted/%d/\"}},"
			    "\"then\":\"deny\"}", i, t, i);
			break;
		case 6:
			OUT("{\"id\":\"r%d\",\"if\":{\"tool\":\"svc%d.call\","
			    "\"args.amount\":{\">\":%d}},\"then\":\"ask\"}",
			    i, t, 1000 + i);
			break;
		case 7:
			OUT("{\"id\":\"r%d\",\"if\":{\"tool\":\"svc%d.call\","
			    "\"action\":{\"in\":[\"delete\",\"purge\"]}},"
			    "\"then\":\"deny\"}", i, t);
			break;
		default:
			OUT("{\"id\":\"r%d\",\"if\":{\"tool\":\"svc%d.call\","
			    "\"args.path\":{\"matches\":\"^/data/\"},\"trust\":"
			    "{\">=\":2}},\"then\":\"allow\"}", i, t);
			break;
		}
	}
	OUT("]}");
#undef OUT
	return buf;
}

/* Evaluate the policy in-process: ns per decision, no sockets, no audit. */
static int
run_eval(struct bench *b)
{
	static const char *const scopes[] = { "fs.*", "http.*", "db.*",
		"payments.*" };
	pol_set *pol = NULL;
	char *cause = NULL, *text = NULL;
	json_t *args[KIND_COUNT] = { NULL }, **gen_args = NULL;
	pol_input in[EVAL_SEQ_LEN];
	enum expect want[EVAL_SEQ_LEN];
	char gen_tool[64][32];
	uint64_t rng = rng_seed(b->seed, 0), done = 0, t0, t1, mism = 0;
	uint64_t allow = 0, deny = 0, ask = 0;
	int tool_count = 0, status = 1, hour;
	unsigned total = 0, cum[KIND_COUNT];
	time_t tnow = time(NULL);
	struct tm tm;
	pol_result res;
	volatile int sink = 0;

	localtime_r(&tnow, &tm);
	hour = tm.tm_hour;
	if (b->rules > 0) {
		if ((text = gen_policy(b->rules, &tool_count)) == NULL ||
		    pol_set_compile(text, strlen(text), "generated", &pol,
		    &cause) != CS_OK)
			goto fail;
	} else if (pol_set_load(b->policy_path, &pol, &cause) != CS_OK)
		goto fail;

	/* the inputs: the load mix's calls that reach the policy */
	for (size_t i = 0; i < KIND_COUNT; i++) {
		unsigned w = kinds[i].expect == EXP_DENY_ADMISSION ? 0 :
		    b->asks ? kinds[i].ask_weight : kinds[i].weight;

		total += w;
		cum[i] = total;
		if ((args[i] = json_loads(kinds[i].args, 0, NULL)) == NULL)
			goto fail;
	}
	if (b->rules > 0) {
		int distinct = tool_count < 64 ? tool_count : 64;

		if ((gen_args = calloc((size_t) distinct, sizeof *gen_args)) ==
		    NULL)
			goto fail;
		for (int t = 0; t < distinct; t++) {
			/* spread the picked tools over the whole table */
			int tool = (int) ((long) t * tool_count / distinct);

			snprintf(gen_tool[t], sizeof gen_tool[t], "svc%d.call",
			    tool);
			gen_args[t] = json_pack("{s:s, s:i}", "path",
			    "/data/report.csv", "amount", 50);
			if (gen_args[t] == NULL)
				goto fail;
		}
		tool_count = distinct;
	}
	for (int i = 0; i < EVAL_SEQ_LEN; i++) {
		size_t k = 0;
		unsigned r = (unsigned) (rng_next(&rng) % total);

		while (k + 1 < KIND_COUNT && r >= cum[k])
			k++;
		in[i] = (pol_input) {
			.tool = kinds[k].tool, .action = NULL,
			.agent = "bench-agent", .user = "alice",
			.purpose = "benchmark traffic", .posture = "normal",
			.scopes = scopes, .scope_count = CS_ARRAY_LEN(scopes),
			.chain_depth = 1, .trust = 2, .hour = hour,
			.weekday = tm.tm_wday, .rate_per_min = 1 + i % 25,
			.denials = 0, .args = args[k],
		};
		want[i] = kinds[k].expect;
		if (b->rules > 0) {
			int t = (int) (rng_next(&rng) % (uint64_t) tool_count);

			in[i].tool = gen_tool[t];
			in[i].action = i % 8 == 7 ? "delete" : i % 2 ? "read" :
			    "write";
			in[i].args = gen_args[t];
		}
	}
	/* check once that the engine agrees with the mix, then warm up */
	for (int i = 0; i < EVAL_SEQ_LEN; i++) {
		pol_eval(pol, &in[i], &res);
		if (res.decision == POL_ALLOW)
			allow++;
		else if (res.decision == POL_DENY)
			deny++;
		else
			ask++;
		if (b->rules == 0 &&
		    ((want[i] == EXP_ALLOW_POLICY &&
		    res.decision != POL_ALLOW) ||
		    (want[i] == EXP_DENY_POLICY && res.decision != POL_DENY) ||
		    (want[i] == EXP_PENDING && res.decision != POL_ASK)))
			mism++;
	}
	t0 = now_ns();
	for (;;) {
		for (int i = 0; i < EVAL_SEQ_LEN; i++) {
			pol_eval(pol, &in[i], &res);
			sink += (int) res.decision;
		}
		done += EVAL_SEQ_LEN;
		t1 = now_ns();
		if (b->count > 0 ? done >= b->count :
		    (double) (t1 - t0) >= b->duration_s * 1e9)
			break;
	}
	(void) sink;
	printf("ns_per_decision=%.1f decisions_per_s=%.0f errors=%" PRIu64
	    " mode=eval label=%s rules=%zu policy=%s calls=%" PRIu64
	    " seconds=%.2f mix_allow=%" PRIu64 " mix_deny=%" PRIu64
	    " mix_ask=%" PRIu64 "\n", (double) (t1 - t0) / (double) done,
	    (double) done / ((double) (t1 - t0) / 1e9), mism, b->label,
	    pol_set_rule_count(pol), pol_set_version(pol), done,
	    (double) (t1 - t0) / 1e9, allow, deny, ask);
	fflush(stdout);
	status = mism == 0 ? 0 : 1;
	goto done;
fail:
	fprintf(stderr, "countersign-bench: eval: %s\n",
	    cause != NULL ? cause : "out of memory");
done:
	for (size_t i = 0; i < KIND_COUNT; i++)
		json_decref(args[i]);
	if (gen_args != NULL)
		for (int t = 0; t < tool_count; t++)
			json_decref(gen_args[t]);
	free(gen_args);
	pol_set_free(pol);
	free(text);
	free(cause);
	return status;
}

/* ---- the engine and audit floors ------------------------------------- */

/* The daemon's own work without sockets: each call of the mix goes through
 * the engine (parse, admission, policy, audit event, reply) and its reply
 * is rendered; every --agents calls, their rows' canonical JSON is rendered
 * and the rows are appended to a scratch audit store in one transaction
 * (synchronous=FULL, so the fsync is in it), as the daemon does. Prints the
 * engine's ns per decision, the row rendering's, the audit store's commit
 * time per batch and its CPU per row, and, as the floor of the engine, the
 * JSON parse of each frame alone (the same strict parse, timed apart). */
static int
run_engine(struct bench *b)
{
	core_cfg cfg;
	core_engine *eng = NULL;
	core_store *st = NULL;
	pol_set *pol = NULL;
	unsigned char key[32];
	char dir[] = "/tmp/cs-bench-engine.XXXXXX", *db = NULL, *cause = NULL;
	struct agent *a = NULL;
	core_fx *batch = NULL;
	json_t **events = NULL;
	struct samples commit = { 0 };
	char **pre = NULL;
	uint64_t done = 0, eng_ns = 0, commit_ns = 0, rows = 0, errors = 0;
	uint64_t parse_ns = 0, render_ns = 0, append_cpu_ns = 0;
	uint64_t t_start, t_end;
	size_t nb = 0, cap = 0, batch_max = (size_t) b->agents;
	int status = 1;

	core_cfg_defaults(&cfg);
	cfg.max_sessions = 10000000;
	memset(key, 0x33, sizeof key);
	if (mkdtemp(dir) == NULL || (db = cs_asprintf("%s/audit.db", dir)) ==
	    NULL)
		goto fail;
	if (pol_set_load(b->policy_path, &pol, &cause) != CS_OK ||
	    core_store_open(db, CORE_STORE_CREATE, &st, &cause) != CS_OK)
		goto fail;
	if ((eng = core_engine_new(&cfg, pol, key, sizeof key)) == NULL)
		goto fail;
	pol = NULL; /* the engine's */
	if (make_tokens(b) != 0 ||
	    (a = calloc(1, sizeof *a)) == NULL ||
	    (batch = calloc(batch_max, sizeof *batch)) == NULL)
		goto fail;
	a->b = b;
	a->rng = rng_seed(b->seed, 0);
	b->phase = PHASE_MEASURE;
	set_weights(b);
	t_start = now_ns();
	for (;;) {
		size_t len = next_frame(a, done);
		uint64_t t0 = now_ns(), t1;
		core_fx *fx = &batch[nb++];
		const char *code;
		json_t *alone;

		/* the JSON parse alone, on the same frame */
		alone = core_json_parse_strict(a->frame, len, cfg.max_depth,
		    &code, NULL);
		t1 = now_ns();
		parse_ns += t1 - t0;
		if (alone == NULL)
			errors++;
		json_decref(alone);
		t0 = now_ns();
		core_fx_init(fx);
		core_engine_agent_msg(eng, a->frame, len, 1 + done,
		    cs_now_ms(), cs_mono_ms(), fx);
		t1 = now_ns();
		eng_ns += t1 - t0;
		done++;
		if (fx->reply_count != 1 || json_array_size(fx->events) != 1)
			errors++;
		if (nb == batch_max) {
			size_t count = 0;

			for (size_t i = 0; i < nb; i++) {
				size_t n = json_array_size(batch[i].events);

				if (count + n > cap) {
					json_t **e;
					char **p;

					cap = (count + n) * 2;
					if ((e = realloc(events,
					    cap * sizeof *events)) == NULL)
						goto fail;
					events = e;
					if ((p = realloc(pre,
					    cap * sizeof *pre)) == NULL)
						goto fail;
					pre = p;
				}
				for (size_t k = 0; k < n; k++)
					events[count++] = json_array_get(
					    batch[i].events, k);
			}
			/* the rows' canonical JSON, as the daemon renders it
			 * before handing them to the writer */
			t0 = now_ns();
			for (size_t i = 0; i < count; i++)
				pre[i] = core_store_prerender(events[i]);
			render_ns += now_ns() - t0;
			{
				uint64_t c0 = cpu_ns();

				t0 = now_ns();
				if (core_store_append_pre(st, events, pre,
				    count, NULL) != CS_OK)
					errors++;
				t1 = now_ns();
				append_cpu_ns += cpu_ns() - c0;
			}
			for (size_t i = 0; i < count; i++)
				free(pre[i]);
			commit_ns += t1 - t0;
			samples_add(&commit, t1 - t0);
			rows += count;
			/* what the writer does once the rows are durable */
			t0 = now_ns();
			for (size_t i = 0; i < nb; i++) {
				core_engine_committed(eng, &batch[i]);
				for (size_t r = 0; r < batch[i].reply_count;
				    r++) {
					const core_reply *rp =
					    &batch[i].replies[r];
					/* as the daemon sends it */
					char *text = rp->text != NULL ?
					    cs_asprintf("%s,\"audit_seq\":1",
					    rp->text) : json_dumps(rp->msg,
					    JSON_COMPACT);

					if (text == NULL)
						errors++;
					free(text);
				}
				core_fx_fini(&batch[i]);
			}
			eng_ns += now_ns() - t0;
			nb = 0;
			t_end = now_ns();
			if (b->count > 0 ? done >= b->count :
			    (double) (t_end - t_start) >= b->duration_s * 1e9)
				break;
		}
	}
	printf("engine_ns_per_decision=%.1f parse_ns_per_frame=%.1f "
	    "render_ns_per_row=%.1f commit_us_p50=%.1f "
	    "commit_us_per_row=%.2f append_cpu_us_per_row=%.2f "
	    "audit_rows_per_s=%.0f errors=%" PRIu64
	    " mode=engine label=%s batch=%zu calls=%" PRIu64
	    " seconds=%.2f\n", (double) eng_ns / (double) done,
	    (double) parse_ns / (double) done,
	    (double) render_ns / (double) rows,
	    quantile_us(&commit, 0.50),
	    (double) commit_ns / 1e3 / (double) rows,
	    (double) append_cpu_ns / 1e3 / (double) rows,
	    (double) rows / ((double) commit_ns / 1e9), errors, b->label,
	    batch_max, done, (double) (t_end - t_start) / 1e9);
	fflush(stdout);
	status = errors == 0 ? 0 : 1;
	goto done;
fail:
	fprintf(stderr, "countersign-bench: engine: %s\n",
	    cause != NULL ? cause : "cannot set up (memory or /tmp)");
done:
	for (size_t i = 0; i < nb; i++)
		core_fx_fini(&batch[i]);
	free(batch);
	free(events);
	free(pre);
	free(a);
	samples_fini(&commit);
	core_engine_free(eng);
	pol_set_free(pol);
	core_store_close(st);
	if (db != NULL) {
		char *wal = cs_asprintf("%s-wal", db), *shm = cs_asprintf(
		    "%s-shm", db);

		if (wal != NULL)
			unlink(wal);
		if (shm != NULL)
			unlink(shm);
		unlink(db);
		free(wal);
		free(shm);
		rmdir(dir);
	}
	free(db);
	free(cause);
	return status;
}

/* ---- main ------------------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: countersign-bench [options]\n"
	    "  load the daemon:  --home DIR [--url URL] [--agents N]\n"
	    "                    [--duration S | --count N] [--asks]\n"
	    "                    [--sessions N] [--pending N] [--pid PID]\n"
	    "  transport floor:  --echo --url URL [--agents N] [...]\n"
	    "                    (with --pid PID, the echo server is PID:)\n"
	    "                    --echo-server --url URL [--agents N]\n"
	    "  policy floor:     --eval [--policy FILE | --rules N]\n"
	    "  engine floor:     --engine [--policy FILE] [--agents BATCH]\n"
	    "                    (engine, then BATCH rows per audit commit)\n"
	    "  human loop:       --human --home DIR [--agents N] [...]\n"
	    "common: --seed N (1), --label NAME, --shared-socket (one REQ\n"
	    "socket with a context per agent instead of a socket each)\n"
	    "Prints one line: decisions_per_s=... p50_us=... p99_us=...\n"
	    "p999_us=... max_us=... errors=... audit_rows=... Exits 1 on any\n"
	    "error or when the audit store did not gain exactly one decision\n"
	    "row per decision.\n");
}

int
main(int argc, char **argv)
{
	struct bench b;
	char *url = NULL;
	double dur;
	int status;

	memset(&b, 0, sizeof b);
	b.mode = MODE_DAEMON;
	b.agents = 1;
	b.duration_s = 5;
	b.seed = 1;
	b.label = "-";
	b.policy_path = CS_DEFAULT_POLICY;
	b.nonce = (long) getpid();
	pthread_mutex_init(&b.mtx, NULL);
	pthread_cond_init(&b.done_cond, NULL);
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(arg, "--echo") == 0)
			b.mode = MODE_ECHO;
		else if (strcmp(arg, "--echo-server") == 0)
			b.mode = MODE_ECHO_SERVER;
		else if (strcmp(arg, "--eval") == 0)
			b.mode = MODE_EVAL;
		else if (strcmp(arg, "--engine") == 0)
			b.mode = MODE_ENGINE;
		else if (strcmp(arg, "--human") == 0)
			b.mode = MODE_HUMAN;
		else if (strcmp(arg, "--asks") == 0)
			b.asks = true;
		else if (strcmp(arg, "--shared-socket") == 0)
			b.shared_socket = true;
		else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (val == NULL) {
			usage(stderr);
			return 64;
		} else if (strcmp(arg, "--home") == 0)
			b.home = argv[++i];
		else if (strcmp(arg, "--url") == 0)
			b.url = argv[++i];
		else if (strcmp(arg, "--policy") == 0)
			b.policy_path = argv[++i];
		else if (strcmp(arg, "--label") == 0)
			b.label = argv[++i];
		else if (strcmp(arg, "--agents") == 0)
			b.agents = (int) opt_u64(arg, argv[++i], 65536);
		else if (strcmp(arg, "--count") == 0)
			b.count = opt_u64(arg, argv[++i], 1000000000);
		else if (strcmp(arg, "--seed") == 0)
			b.seed = opt_u64(arg, argv[++i], UINT32_MAX);
		else if (strcmp(arg, "--sessions") == 0)
			b.sessions = opt_u64(arg, argv[++i], 10000000);
		else if (strcmp(arg, "--pending") == 0)
			b.pending = opt_u64(arg, argv[++i], 100000);
		else if (strcmp(arg, "--pid") == 0)
			b.daemon_pid = (long) opt_u64(arg, argv[++i], 1u << 30);
		else if (strcmp(arg, "--rules") == 0)
			b.rules = (int) opt_u64(arg, argv[++i], 9000);
		else if (strcmp(arg, "--duration") == 0) {
			char *end;

			errno = 0;
			dur = strtod(argv[++i], &end);
			if (errno != 0 || *end != '\0' || !(dur > 0) ||
			    dur > 86400) {
				fprintf(stderr, "countersign-bench: --duration "
				    "needs seconds, e.g. 5 or 0.5\n");
				return 64;
			}
			b.duration_s = dur;
		} else {
			fprintf(stderr, "countersign-bench: unknown argument "
			    "%s\n", arg);
			usage(stderr);
			return 64;
		}
	}
	if (b.agents < 1) {
		fprintf(stderr, "countersign-bench: --agents must be >= 1\n");
		return 64;
	}
	if (b.mode == MODE_EVAL)
		return run_eval(&b);
	if (b.mode == MODE_ENGINE)
		return run_engine(&b);
	if (b.mode != MODE_ECHO && b.mode != MODE_ECHO_SERVER &&
	    b.home == NULL) {
		fprintf(stderr, "countersign-bench: --home DIR is required "
		    "(the daemon's key and audit store)\n");
		return 64;
	}
	if ((b.mode == MODE_ECHO || b.mode == MODE_ECHO_SERVER) &&
	    b.url == NULL) {
		fprintf(stderr, "countersign-bench: --echo and --echo-server "
		    "need --url\n");
		return 64;
	}
	if (b.mode == MODE_ECHO_SERVER) {
		status = run_echo_server(&b);
		nng_fini();
		return status;
	}
	if (b.url == NULL) {
		if ((url = cs_home_url(b.home, "agent.ipc")) == NULL)
			return 1;
		b.url = url;
	}
	status = run_load(&b);
	free(url);
	nng_fini();
	return status;
}
