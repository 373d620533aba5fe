/* hostile_load.c: load generator with a client ledger, for the kill -9
 * loop of the hostile harness. Each thread sends authorize calls with its
 * own ids over its own REQ socket and appends one line per decision it
 * received to the ledger:
 *
 *   ID REQUEST DECISION ARGS_DIGEST AUDIT_SEQ
 *
 * (an error reply is logged as "ID REQUEST error:CODE - -"). The ledger is
 * opened O_APPEND and each line is one write(2), so lines from threads do
 * not interleave; nothing is fsync'ed: the daemon is the one being killed.
 * SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>
#include <nng/protocol/reqrep0/req.h>

enum { LOAD_USAGE = 64 };

struct load_opts {
	const char *url;
	const char *token;
	const char *prefix;
	const char *stop_file;
	int threads;
	long max_calls;      /* per thread; 0: until stopped */
	long duration_ms;    /* 0: until stopped */
	int timeout_ms;      /* wait for one reply */
	int pending_pct;     /* share of calls escalated (wait_ms 0) */
	bool retry;          /* resend an unanswered call with the same id */
	int ledger_fd;
};

static struct load_opts opts;
static atomic_long sent, decided, errors, noreply, retried;
static volatile sig_atomic_t stopping;

/* Milliseconds on the monotonic clock. */
static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Whether the run should end. */
static bool
should_stop(int64_t started)
{
	if (stopping)
		return true;
	if (opts.duration_ms > 0 && mono_ms() - started >= opts.duration_ms)
		return true;
	return opts.stop_file != NULL && access(opts.stop_file, F_OK) == 0;
}

/* Append one ledger line with a single write. */
static void
ledger_line(const char *id, const char *request, const char *decision,
    const char *digest, long long seq)
{
	char line[512];
	int n;

	if (seq >= 0)
		n = snprintf(line, sizeof line, "%s %s %s %s %lld\n", id,
		    request, decision, digest, seq);
	else
		n = snprintf(line, sizeof line, "%s %s %s %s -\n", id, request,
		    decision, digest);
	if (n > 0 && (size_t) n < sizeof line &&
	    write(opts.ledger_fd, line, (size_t) n) != n)
		fprintf(stderr, "hostile_load: ledger write: %s\n",
		    strerror(errno));
}

/* Build the n-th call of thread t: a mix of allowed reads, denied
 * writes and escalated mail. Returns a new string. */
static char *
make_call(int t, long n, char *id, size_t id_size)
{
	json_t *req, *args;
	const char *tool;
	long wait_ms = 0;
	char session[96], path[96];
	char *text;
	long pick = (n * 7 + t) % 100;

	snprintf(id, id_size, "%s-%d-%ld", opts.prefix, t, n);
	/* one session per call keeps the burst and denial rules quiet */
	snprintf(session, sizeof session, "%s-s%d-%ld", opts.prefix, t, n);
	if (pick < opts.pending_pct) {
		tool = "email.send";
		snprintf(path, sizeof path, "x%ld@elsewhere.org", n);
		args = json_pack("{s:s, s:s}", "to", path, "subject", id);
	} else if (pick < opts.pending_pct + 30) {
		tool = "fs.write";
		snprintf(path, sizeof path, "/etc/hostile-%d-%ld", t, n);
		args = json_pack("{s:s, s:s}", "path", path, "content", "x");
	} else {
		tool = "fs.read";
		snprintf(path, sizeof path, "/workspace/%d/%ld", t, n);
		args = json_pack("{s:s}", "path", path);
	}
	req = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:o, s:I}", "v", 1,
	    "type", "authorize", "id", id, "token", opts.token, "tool", tool,
	    "session", session, "args", args, "wait_ms", (json_int_t) wait_ms);
	text = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	return text;
}

/* Record a reply in the ledger. */
static void
record(const char *id, const char *buf, size_t len)
{
	json_error_t jerr;
	json_t *r = json_loadb(buf, len, 0, &jerr);
	const char *type, *request, *decision, *digest, *code;
	json_t *seq;

	if (r == NULL) {
		ledger_line(id, "-", "error:unparsable_reply", "-", -1);
		atomic_fetch_add(&errors, 1);
		return;
	}
	type = json_string_value(json_object_get(r, "type"));
	request = json_string_value(json_object_get(r, "request"));
	if (request == NULL)
		request = "-";
	if (type != NULL && strcmp(type, "decision") == 0) {
		decision = json_string_value(json_object_get(r, "decision"));
		digest = json_string_value(json_object_get(r, "args_digest"));
		seq = json_object_get(r, "audit_seq");
		ledger_line(id, request, decision != NULL ? decision : "-",
		    digest != NULL ? digest : "-",
		    json_is_integer(seq) ? (long long) json_integer_value(seq) :
		    -1);
		atomic_fetch_add(&decided, 1);
	} else {
		char what[96];

		code = json_string_value(json_object_get(r, "code"));
		snprintf(what, sizeof what, "error:%s",
		    code != NULL ? code : "unknown");
		ledger_line(id, request, what, "-", -1);
		atomic_fetch_add(&errors, 1);
	}
	json_decref(r);
}

/* One client thread. */
static void *
load_thread(void *arg)
{
	int t = (int) (intptr_t) arg;
	nng_socket sock;
	int64_t started = mono_ms();
	int rv, stop_attempts = 0;

	if ((rv = nng_req0_open(&sock)) != 0 ||
	    (rv = nng_socket_set_ms(sock, NNG_OPT_REQ_RESENDTIME,
	    NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO,
	    opts.timeout_ms)) != 0 ||
	    (rv = nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO,
	    opts.timeout_ms)) != 0 ||
	    (rv = nng_socket_set_ms(sock, NNG_OPT_RECONNMINT, 20)) != 0 ||
	    (rv = nng_socket_set_ms(sock, NNG_OPT_RECONNMAXT, 100)) != 0 ||
	    (rv = nng_dial(sock, opts.url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		fprintf(stderr, "hostile_load: %s: %s\n", opts.url,
		    nng_strerror(rv));
		return NULL;
	}
	for (long n = 1; opts.max_calls == 0 || n <= opts.max_calls; n++) {
		char id[96], *call, *reply = NULL;
		size_t reply_len = 0;

		if (should_stop(started))
			break;
		if ((call = make_call(t, n, id, sizeof id)) == NULL)
			break;
		atomic_fetch_add(&sent, 1);
		for (int attempt = 1;; attempt++) {
			rv = nng_send(sock, call, strlen(call), 0);
			if (rv == 0)
				rv = nng_recv(sock, &reply, &reply_len,
				    NNG_FLAG_ALLOC);
			if (rv == 0 || !opts.retry)
				break;
			/* no answer (the daemon died): a careful agent asks
			 * again with the same id once it is back, until the
			 * run ends */
			if (should_stop(started) && ++stop_attempts > 2)
				break;
			atomic_fetch_add(&retried, 1);
			nng_msleep(20);
		}
		free(call);
		if (rv != 0) {
			/* nothing was received for this id */
			atomic_fetch_add(&noreply, 1);
			continue;
		}
		record(id, reply, reply_len);
		nng_free(reply, reply_len);
	}
	nng_close(sock);
	return NULL;
}

/* SIGTERM/SIGINT: finish the calls in flight, then exit. */
static void
on_signal(int sig)
{
	(void) sig;
	stopping = 1;
}

static void
usage(void)
{
	fputs("usage: hostile_load -u URL -T TOKEN -l LEDGER [-c THREADS]\n"
	    "         [-p ID_PREFIX] [-s STOP_FILE] [-n CALLS_PER_THREAD]\n"
	    "         [-d DURATION_MS] [-t REPLY_TIMEOUT_MS] [-P PENDING_PCT] [-R]\n"
	    "  sends authorize calls until stopped (STOP_FILE exists,\n"
	    "  SIGTERM, -n or -d) and appends every reply to LEDGER; -R\n"
	    "  resends an unanswered call with the same id\n",
	    stderr);
}

/* Parse a bounded non-negative number. */
static bool
num(const char *s, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < 0 || v > max)
		return false;
	*out = v;
	return true;
}

int
main(int argc, char **argv)
{
	const char *ledger = NULL;
	pthread_t *tids;
	struct sigaction sa;
	long v;
	int opt;

	opts.threads = 8;
	opts.timeout_ms = 10000;
	opts.prefix = "c";
	opts.pending_pct = 10;
	while ((opt = getopt(argc, argv, "u:T:l:c:p:s:n:d:t:P:R")) != -1) {
		switch (opt) {
		case 'R': opts.retry = true; break;
		case 'u': opts.url = optarg; break;
		case 'T': opts.token = optarg; break;
		case 'l': ledger = optarg; break;
		case 'p': opts.prefix = optarg; break;
		case 's': opts.stop_file = optarg; break;
		case 'c':
			if (!num(optarg, 1024, &v) || v == 0)
				goto bad;
			opts.threads = (int) v;
			break;
		case 'n':
			if (!num(optarg, 1L << 30, &opts.max_calls))
				goto bad;
			break;
		case 'd':
			if (!num(optarg, 1L << 30, &opts.duration_ms))
				goto bad;
			break;
		case 't':
			if (!num(optarg, 1L << 30, &v))
				goto bad;
			opts.timeout_ms = (int) v;
			break;
		case 'P':
			if (!num(optarg, 70, &v))
				goto bad;
			opts.pending_pct = (int) v;
			break;
		default:
			goto bad;
		}
	}
	if (opts.url == NULL || opts.token == NULL || ledger == NULL ||
	    optind != argc)
		goto bad;
	if ((opts.ledger_fd = open(ledger, O_WRONLY | O_CREAT | O_APPEND |
	    O_CLOEXEC, 0600)) < 0) {
		fprintf(stderr, "hostile_load: %s: %s\n", ledger,
		    strerror(errno));
		return 1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((tids = calloc((size_t) opts.threads, sizeof *tids)) == NULL)
		return 1;
	for (int i = 0; i < opts.threads; i++)
		if (pthread_create(&tids[i], NULL, load_thread,
		    (void *) (intptr_t) i) != 0) {
			fprintf(stderr, "hostile_load: cannot start thread\n");
			return 1;
		}
	for (int i = 0; i < opts.threads; i++)
		pthread_join(tids[i], NULL);
	free(tids);
	close(opts.ledger_fd);
	fprintf(stderr, "hostile_load: sent %ld decided %ld errors %ld "
	    "noreply %ld retried %ld\n", atomic_load(&sent),
	    atomic_load(&decided), atomic_load(&errors), atomic_load(&noreply),
	    atomic_load(&retried));
	nng_fini();
	return 0;
bad:
	usage();
	return LOAD_USAGE;
}
