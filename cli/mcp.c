/* mcp.c: countersign-mcp, an MCP stdio gateway: it starts the real MCP
 * server as a child and relays JSON-RPC both ways unchanged, except that
 * every tools/call is first authorized by countersignd and reaches the
 * server only when allowed.
 * SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "enforce.h"
#include "req.h"

/* Largest JSON-RPC message accepted from the client. */
#define MCP_LINE_MAX (16u << 20)
#define MCP_DEPTH_MAX 64 /* deepest message nesting looked into */
#define MCP_JOBS_MAX 256 /* messages being authorized at once */

/* While a call waits for an operator, report progress this often. */
#define MCP_PROGRESS_MS_DEFAULT 10000

/* Exit statuses of the gateway itself (the child's status otherwise). */
enum { EX_USAGE_ = 64, EX_NOINPUT_ = 66, EX_OSERR_ = 71, EX_EXEC_ = 127 };

/* JSON-RPC error codes. */
enum {
	RPC_PARSE_ERROR = -32700,
	RPC_INVALID_REQUEST = -32600,
	RPC_INVALID_PARAMS = -32602,
	RPC_INTERNAL_ERROR = -32603,
};

/* One configured tool name: server tool -> countersign tool. */
struct tool_map {
	char *from;
	char *to;
};

/* A tools/call waiting for its authorization (for cancellation). */
struct inflight {
	json_t *id;          /* the JSON-RPC id, own reference */
	bool cancelled;      /* notifications/cancelled arrived */
	struct inflight *next;
};

/* The gateway: options, the child, and the locks that keep each line
 * written to a pipe whole. */
static struct gw {
	/* options */
	const char *home;
	const char *token_file;  /* re-read for every call */
	const char *token;       /* --token or $COUNTERSIGN_TOKEN */
	const char *session;
	const char *purpose;
	char *server;            /* the <server> of mcp.<server>.<tool> */
	char *url;               /* agent endpoint */
	int64_t wait_ms;         /* longest wait for an operator */
	int64_t grace_ms;        /* child's time to exit after stdin closes */
	int64_t progress_ms;     /* progress report interval while waiting */
	struct tool_map *maps;
	size_t map_count;
	bool quiet;

	/* runtime */
	pid_t child;
	int child_in;            /* our end of the child's stdin, -1 closed */
	int child_out;           /* our end of the child's stdout */
	pthread_mutex_t out_lock; /* our stdout: one whole line at a time */
	pthread_mutex_t in_lock;  /* the child's stdin, and child_in */
	pthread_mutex_t lock;     /* everything below */
	pthread_cond_t cond;
	struct inflight *calls;
	int jobs;                 /* authorization threads running */
	bool closing;             /* the client went away */
	bool child_done;          /* waitpid returned */
	bool relay_done;          /* child's stdout reached EOF */
	bool client_gone;         /* our stdout failed */
} gw = {
	.child_in = -1,
	.child_out = -1,
	.wait_ms = 10 * 60 * 1000,
	.grace_ms = 2000,
	.progress_ms = MCP_PROGRESS_MS_DEFAULT,
	.out_lock = PTHREAD_MUTEX_INITIALIZER,
	.in_lock = PTHREAD_MUTEX_INITIALIZER,
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

/* One line on stderr with the program's name. */
static void
gw_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
gw_log(const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	fprintf(stderr, "countersign-mcp: %s\n", buf);
	fflush(stderr);
}

/* write(2) all of buf; false on error (errno set). */
static bool
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return false;
		}
		buf += n;
		len -= (size_t) n;
	}
	return true;
}

static void client_went_away(void);

/* Write one JSON value and a newline to the client, whole. */
static void
send_client(const json_t *msg)
{
	char *text = json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);
	bool ok;

	if (text == NULL) {
		gw_log("out of memory writing to the client");
		return;
	}
	pthread_mutex_lock(&gw.out_lock);
	ok = write_all(STDOUT_FILENO, text, strlen(text)) &&
	    write_all(STDOUT_FILENO, "\n", 1);
	pthread_mutex_unlock(&gw.out_lock);
	free(text);
	if (!ok)
		client_went_away();
}

/* Write one line (and a newline) to the server, whole. False when the
 * server's stdin is closed. */
static bool
send_server(const char *line, size_t len)
{
	bool ok = false;

	pthread_mutex_lock(&gw.in_lock);
	if (gw.child_in >= 0)
		ok = write_all(gw.child_in, line, len) &&
		    write_all(gw.child_in, "\n", 1);
	pthread_mutex_unlock(&gw.in_lock);
	return ok;
}

/* A JSON-RPC error response (new reference); id NULL means null. */
static json_t *
rpc_error(json_t *id, int code, const char *message)
{
	return json_pack("{s:s, s:O?, s:{s:i, s:s}}", "jsonrpc", "2.0", "id",
	    id != NULL ? id : json_null(), "error", "code", code, "message",
	    message);
}

/* A tools/call result that tells the agent why the call did not run
 * (new reference). */
static json_t *
rpc_denied(json_t *id, const char *text)
{
	return json_pack("{s:s, s:O, s:{s:[{s:s, s:s}], s:b}}", "jsonrpc",
	    "2.0", "id", id, "result", "content", "type", "text", "text", text,
	    "isError", 1);
}

/* Close the server's stdin once. */
static void
close_child_stdin(void)
{
	pthread_mutex_lock(&gw.in_lock);
	if (gw.child_in >= 0) {
		close(gw.child_in);
		gw.child_in = -1;
	}
	pthread_mutex_unlock(&gw.in_lock);
}

/* The absolute CLOCK_REALTIME time ms from now. */
static struct timespec
deadline_in(int64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t) (ms / 1000);
	ts.tv_nsec += (long) (ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

/* Sleep up to ms, returning early when the child has exited. True when
 * it has. */
static bool
wait_child_done(int64_t ms)
{
	struct timespec ts = deadline_in(ms);
	bool done;

	pthread_mutex_lock(&gw.lock);
	while (!gw.child_done &&
	    pthread_cond_timedwait(&gw.cond, &gw.lock, &ts) == 0)
		;
	done = gw.child_done;
	pthread_mutex_unlock(&gw.lock);
	return done;
}

/* Thread: the client is gone. Calls already being authorized get the
 * grace time to finish (an auto-decided call takes milliseconds; one
 * waiting for an operator is abandoned), then the server's stdin is
 * closed; it gets the grace time to exit, then SIGTERM, then SIGKILL (the
 * MCP stdio shutdown sequence). */
static void *
shutdown_main(void *arg)
{
	struct timespec ts = deadline_in(gw.grace_ms);

	(void) arg;
	pthread_mutex_lock(&gw.lock);
	while (gw.jobs > 0 && !gw.child_done &&
	    pthread_cond_timedwait(&gw.cond, &gw.lock, &ts) == 0)
		;
	if (gw.jobs > 0 && !gw.quiet)
		gw_log("input closed with %d tools/call still waiting for "
		    "countersign; they are not run", gw.jobs);
	pthread_mutex_unlock(&gw.lock);
	close_child_stdin();
	if (wait_child_done(gw.grace_ms))
		return NULL;
	kill(gw.child, SIGTERM);
	if (wait_child_done(gw.grace_ms))
		return NULL;
	gw_log("the server did not stop on SIGTERM; killing it");
	kill(gw.child, SIGKILL);
	return NULL;
}

/* Start the shutdown once: the client closed its end (stdin EOF) or
 * stopped reading (stdout EPIPE). */
static void
begin_shutdown(void)
{
	pthread_t t;
	bool first;

	pthread_mutex_lock(&gw.lock);
	first = !gw.closing;
	gw.closing = true;
	pthread_mutex_unlock(&gw.lock);
	if (!first)
		return;
	if (pthread_create(&t, NULL, shutdown_main, NULL) != 0) {
		close_child_stdin();
		kill(gw.child, SIGTERM);
		return;
	}
	pthread_detach(t);
}

/* Our stdout failed: nobody reads the answers any more. */
static void
client_went_away(void)
{
	bool first;

	pthread_mutex_lock(&gw.lock);
	first = !gw.client_gone;
	gw.client_gone = true;
	pthread_mutex_unlock(&gw.lock);
	if (first)
		gw_log("the client stopped reading (%s); stopping the server",
		    strerror(errno));
	begin_shutdown();
}

/* --- in-flight calls and cancellation ----------------------------------- */

/* Register a call waiting for authorization (id may be NULL). */
static struct inflight *
inflight_add(json_t *id)
{
	struct inflight *f = calloc(1, sizeof *f);

	if (f == NULL)
		return NULL;
	f->id = json_incref(id);
	pthread_mutex_lock(&gw.lock);
	f->next = gw.calls;
	gw.calls = f;
	pthread_mutex_unlock(&gw.lock);
	return f;
}

/* Unregister a call; reports whether the client cancelled it. */
static bool
inflight_remove(struct inflight *f)
{
	struct inflight **pp;
	bool cancelled;

	if (f == NULL)
		return false;
	pthread_mutex_lock(&gw.lock);
	for (pp = &gw.calls; *pp != NULL; pp = &(*pp)->next)
		if (*pp == f) {
			*pp = f->next;
			break;
		}
	cancelled = f->cancelled;
	pthread_mutex_unlock(&gw.lock);
	json_decref(f->id);
	free(f);
	return cancelled;
}

/* notifications/cancelled: mark the matching waiting call. */
static void
inflight_cancel(const json_t *msg)
{
	const json_t *rid = json_object_get(json_object_get(msg, "params"),
	    "requestId");
	struct inflight *f;

	if (rid == NULL)
		return;
	pthread_mutex_lock(&gw.lock);
	for (f = gw.calls; f != NULL; f = f->next)
		if (f->id != NULL && json_equal(f->id, rid))
			f->cancelled = true;
	pthread_mutex_unlock(&gw.lock);
}

/* --- authorization ------------------------------------------------------ */

/* The countersign tool name of a server tool (new string): a configured
 * mapping, else mcp.<server>.<tool>. */
static char *
tool_name_of(const char *name)
{
	for (size_t i = 0; i < gw.map_count; i++)
		if (strcmp(gw.maps[i].from, name) == 0)
			return strdup(gw.maps[i].to);
	return cs_asprintf("mcp.%s.%s", gw.server, name);
}

/* A parsed tools/call. */
struct tcall {
	json_t *msg;      /* the request object, own reference */
	json_t *id;       /* borrowed from msg, NULL for a notification */
	json_t *progress; /* borrowed params._meta.progressToken or NULL */
	json_t *args;     /* borrowed params.arguments or NULL */
	char *tool;       /* countersign tool name, owned */
	const char *name; /* borrowed params.name */
	char *bad;        /* owned: why the call is malformed, or NULL */
};

/* Parse a tools/call request object (msg is borrowed; the struct takes a
 * reference). A malformed call gets t->bad. */
static void
tcall_init(struct tcall *t, json_t *msg)
{
	json_t *params = json_object_get(msg, "params"), *name;

	memset(t, 0, sizeof *t);
	t->msg = json_incref(msg);
	t->id = json_object_get(msg, "id");
	name = json_object_get(params, "name");
	t->args = json_object_get(params, "arguments");
	t->progress = json_object_get(json_object_get(params, "_meta"),
	    "progressToken");
	if (!json_is_object(params) || !json_is_string(name) ||
	    json_string_length(name) != strlen(json_string_value(name))) {
		t->bad = strdup("tools/call needs params.name (a string)");
		return;
	}
	if (t->args != NULL && !json_is_object(t->args)) {
		t->bad = strdup("tools/call params.arguments must be an "
		    "object");
		return;
	}
	t->name = json_string_value(name);
	t->tool = tool_name_of(t->name);
	if (t->tool == NULL)
		t->bad = strdup("out of memory");
}

/* Release a tcall. */
static void
tcall_fini(struct tcall *t)
{
	json_decref(t->msg);
	free(t->tool);
	free(t->bad);
}

/* State of one wait, for progress notifications. */
struct progress {
	json_t *token; /* borrowed progressToken */
	const char *tool;
	int64_t count; /* notifications sent: MCP wants progress to rise */
};

/* enforce_wait_cb: tell the client the call still waits for an operator;
 * this also keeps clients that reset their timeout on progress waiting. */
static void
progress_cb(void *ud, int64_t elapsed_ms, const char *request)
{
	struct progress *p = ud;
	char *text;
	json_t *msg;

	(void) elapsed_ms; /* progress counts notifications: it must rise */

	if (!gw.quiet)
		gw_log("%s waits for an operator (request %s)", p->tool,
		    request != NULL ? request : "-");
	if (p->token == NULL)
		return;
	text = cs_asprintf("countersign: %s waits for an operator "
	    "(request %s)", p->tool, request != NULL ? request : "-");
	msg = json_pack("{s:s, s:s, s:{s:O, s:I, s:s}}", "jsonrpc", "2.0",
	    "method", "notifications/progress", "params", "progressToken",
	    p->token, "progress", (json_int_t) ++p->count,
	    "message", text != NULL ? text : "countersign: waiting");
	free(text);
	if (msg != NULL)
		send_client(msg);
	json_decref(msg);
}

/* Authorize one parsed call: true when it may go to the server. When
 * not, *reply is the response for the client (new reference; NULL for a
 * call without an id, which gets no response). */
static bool
authorize(struct tcall *t, json_t **reply)
{
	enforce_verdict v = { 0 };
	enforce_call call = { 0 };
	struct progress prog = { t->progress, t->tool, 0 };
	json_t *context = NULL, *args;
	char *token = NULL, *cause = NULL, *text, idbuf[64];

	*reply = NULL;
	if (t->bad != NULL) {
		gw_log("refused a malformed tools/call: %s", t->bad);
		if (t->id != NULL)
			*reply = rpc_error(t->id, RPC_INVALID_PARAMS, t->bad);
		return false;
	}
	if (!core_name_ok(t->tool)) {
		text = cs_asprintf("countersign denied: tool \"%.80s\" has no "
		    "valid countersign name (1-128 characters of "
		    "[A-Za-z0-9._:@/+-]); map it with --map", t->name);
		goto deny_text;
	}
	if (gw.token_file != NULL)
		token = enforce_read_token(gw.token_file, &cause);
	else if (gw.token != NULL)
		token = strdup(gw.token);
	if (token == NULL) {
		text = cs_asprintf("countersign denied: no token (%s)",
		    cause != NULL ? cause : "out of memory");
		goto deny_text;
	}
	if (enforce_new_id("mcp", idbuf, sizeof idbuf) != CS_OK) {
		text = strdup("countersign denied: no randomness for an id");
		goto deny_text;
	}
	args = t->args != NULL ? json_incref(t->args) : json_object();
	if (gw.purpose != NULL)
		context = json_pack("{s:s}", "purpose", gw.purpose);
	call = (enforce_call) { .url = gw.url, .token = token, .id = idbuf,
		.session = gw.session, .tool = t->tool, .args = args,
		.context = context, .wait_ms = gw.wait_ms,
		.slice_ms = gw.progress_ms, .on_wait = progress_cb,
		.ud = &prog };
	enforce_authorize(&call, &v);
	json_decref(args);
	json_decref(context);
	free(token);
	if (v.decision == ENFORCE_ALLOW) {
		if (!gw.quiet)
			gw_log("%s allowed by %s (request %s)", t->tool,
			    v.by != NULL ? v.by : "-",
			    v.request != NULL ? v.request : "-");
		enforce_verdict_fini(&v);
		return true;
	}
	text = enforce_message("countersign denied", &v);
	enforce_verdict_fini(&v);
deny_text:
	free(cause);
	if (!gw.quiet)
		gw_log("%s: %s", t->tool != NULL ? t->tool : "tools/call",
		    text != NULL ? text : "countersign denied");
	if (t->id != NULL)
		*reply = rpc_denied(t->id, text != NULL ? text :
		    "countersign denied");
	free(text);
	return false;
}

/* Whether v is a tools/call request object. */
static bool
is_tools_call(const json_t *v)
{
	const char *m = json_string_value(json_object_get(v, "method"));

	return m != NULL && strcmp(m, "tools/call") == 0;
}

/* An authorization thread is done (its line forwarded or answered). */
static void
job_done(void)
{
	pthread_mutex_lock(&gw.lock);
	gw.jobs--;
	pthread_cond_broadcast(&gw.cond);
	pthread_mutex_unlock(&gw.lock);
}

/* A message that holds tools/call: the line to forward when allowed. */
struct job {
	char *line;   /* the original bytes */
	size_t len;
	json_t *msg;  /* parsed: an object or an array (batch) */
	struct inflight **calls; /* each tools/call, registered by the
	                          * client's thread before the next line is
	                          * read: a cancel right after it finds it */
	size_t call_count;
};

/* Thread: authorize a single tools/call, then forward it or answer. */
static void *
single_main(void *arg)
{
	struct job *job = arg;
	struct tcall t;
	struct inflight *f;
	json_t *reply;
	bool allowed;

	tcall_init(&t, job->msg);
	f = job->call_count > 0 ? job->calls[0] : NULL;
	allowed = authorize(&t, &reply);
	if (inflight_remove(f)) {
		if (!gw.quiet)
			gw_log("%s was cancelled by the client while waiting; "
			    "not run", t.tool != NULL ? t.tool : "tools/call");
	} else if (!allowed) {
		if (reply != NULL)
			send_client(reply);
	} else if (!send_server(job->line, job->len))
		gw_log("the server's input is closed; %s not delivered",
		    t.tool);
	json_decref(reply);
	tcall_fini(&t);
	json_decref(job->msg);
	free(job->calls);
	free(job->line);
	free(job);
	job_done();
	return NULL;
}

/* Thread: a batch with tools/call in it. Each call is authorized; the
 * allowed part goes to the server as a batch (unchanged when nothing was
 * withheld) and the answers for withheld calls go to the client as one
 * batch response. */
static void *
batch_main(void *arg)
{
	struct job *job = arg;
	json_t *fwd = json_array(), *answers = json_array(), *item, *reply;
	size_t i, k = 0;
	char *text;
	bool allowed;

	json_array_foreach(job->msg, i, item) {
		struct tcall t;
		struct inflight *f;

		if (!is_tools_call(item)) {
			json_array_append(fwd, item);
			continue;
		}
		tcall_init(&t, item);
		f = k < job->call_count ? job->calls[k++] : NULL;
		allowed = authorize(&t, &reply);
		if (inflight_remove(f))
			json_decref(reply); /* cancelled: neither */
		else if (!allowed) {
			if (reply != NULL)
				json_array_append_new(answers, reply);
		} else
			json_array_append(fwd, item);
		tcall_fini(&t);
	}
	if (json_array_size(fwd) == json_array_size(job->msg))
		(void) send_server(job->line, job->len);
	else if (json_array_size(fwd) > 0 &&
	    (text = json_dumps(fwd, JSON_COMPACT)) != NULL) {
		(void) send_server(text, strlen(text));
		free(text);
	}
	if (json_array_size(answers) > 0)
		send_client(answers);
	json_decref(fwd);
	json_decref(answers);
	json_decref(job->msg);
	free(job->calls);
	free(job->line);
	free(job);
	job_done();
	return NULL;
}

/* Answer a message with tools/call that is not passed on: each call is
 * denied with why, and in a batch every other request gets an error, so
 * nothing the client sent goes unanswered. */
static void
refuse_message(json_t *msg, bool batch, const char *why)
{
	char text[256];
	json_t *out, *item, *e = NULL;
	size_t i;

	snprintf(text, sizeof text, "countersign denied: %s", why);
	if (!batch) {
		if (json_object_get(msg, "id") != NULL &&
		    (e = rpc_denied(json_object_get(msg, "id"), text)) != NULL)
			send_client(e);
		json_decref(e);
		return;
	}
	if ((out = json_array()) == NULL)
		return;
	json_array_foreach(msg, i, item) {
		json_t *id = json_object_get(item, "id");

		if (id == NULL)
			continue; /* a notification: no answer */
		e = is_tools_call(item) ? rpc_denied(id, text) :
		    rpc_error(id, RPC_INTERNAL_ERROR, "countersign-mcp: the "
		    "batch was not passed on (a tools/call in it could not be "
		    "authorized)");
		if (e != NULL)
			json_array_append_new(out, e);
	}
	if (json_array_size(out) > 0)
		send_client(out);
	json_decref(out);
}

/* Hand a message with tools/call to a thread of its own, so that a call
 * waiting for an operator does not hold up other messages. */
static void
start_job(const char *line, size_t len, json_t *msg, bool batch)
{
	struct job *job;
	pthread_attr_t attr;
	pthread_t t;
	int jobs;

	pthread_mutex_lock(&gw.lock);
	jobs = gw.jobs;
	pthread_mutex_unlock(&gw.lock);
	if (jobs >= MCP_JOBS_MAX) {
		/* the reader thread never waits: past the cap, refuse */
		gw_log("%d messages are being authorized; tools/call refused",
		    jobs);
		refuse_message(msg, batch, "too many calls are waiting for "
		    "authorization at once; try again");
		return;
	}
	job = calloc(1, sizeof *job);
	if (job == NULL || (job->line = malloc(len + 1)) == NULL) {
		free(job);
		goto oom;
	}
	memcpy(job->line, line, len);
	job->line[len] = '\0';
	job->len = len;
	job->msg = json_incref(msg);
	{
		size_t n = batch ? json_array_size(msg) : 1, i;
		json_t *item;

		if ((job->calls = calloc(n, sizeof *job->calls)) == NULL) {
			json_decref(job->msg);
			free(job->line);
			free(job);
			goto oom;
		}
		if (!batch) {
			job->calls[job->call_count++] = inflight_add(
			    json_object_get(msg, "id"));
		} else {
			json_array_foreach(msg, i, item)
				if (is_tools_call(item))
					job->calls[job->call_count++] =
					    inflight_add(json_object_get(item,
					    "id"));
		}
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	pthread_mutex_lock(&gw.lock);
	gw.jobs++;
	pthread_mutex_unlock(&gw.lock);
	if (pthread_create(&t, &attr, batch ? batch_main : single_main,
	    job) == 0) {
		pthread_attr_destroy(&attr);
		return;
	}
	pthread_attr_destroy(&attr);
	job_done();
	for (size_t i = 0; i < job->call_count; i++)
		(void) inflight_remove(job->calls[i]);
	free(job->calls);
	json_decref(job->msg);
	free(job->line);
	free(job);
oom:
	/* fail closed: the call is not forwarded */
	gw_log("cannot start an authorization thread; tools/call refused");
	refuse_message(msg, batch, "the gateway is out of resources");
}

/* One complete line from the client (CRs in it become spaces). */
static void
client_line(char *line, size_t len)
{
	json_error_t jerr;
	json_t *msg, *item;
	size_t i, calls = 0;
	char text[256];

	/* a CR can only be whitespace in JSON (inside a string it is not
	 * valid), but a server that reads lines may end a line at it and
	 * find a whole tools/call between two CRs of what was one message
	 * here: it goes on as a space, so both read one line */
	for (char *cr = memchr(line, '\r', len); cr != NULL;
	    cr = memchr(cr + 1, '\r', len - (size_t) (cr + 1 - line)))
		*cr = ' ';
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	if (len == 0)
		return;
	if (!cs_json_scan(line, len, MCP_DEPTH_MAX, NULL)) {
		json_t *e;

		snprintf(text, sizeof text, "Invalid request (countersign-mcp): "
		    "nested deeper than %d levels", MCP_DEPTH_MAX);
		gw_log("dropped a message nested deeper than %d levels",
		    MCP_DEPTH_MAX);
		if ((e = rpc_error(NULL, RPC_INVALID_REQUEST, text)) != NULL)
			send_client(e);
		json_decref(e);
		return;
	}
	/* Anything we cannot parse is not passed on: a server with a more
	 * lenient parser might read a tools/call into it. */
	msg = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
	    &jerr);
	if (msg == NULL) {
		json_t *e;

		snprintf(text, sizeof text, "Parse error (countersign-mcp): "
		    "%s", jerr.text);
		gw_log("dropped a message that is not valid JSON: %s",
		    jerr.text);
		if ((e = rpc_error(NULL, RPC_PARSE_ERROR, text)) != NULL)
			send_client(e);
		json_decref(e);
		return;
	}
	if (json_is_object(msg)) {
		const char *m = json_string_value(json_object_get(msg,
		    "method"));

		if (is_tools_call(msg))
			calls = 1;
		else if (m != NULL &&
		    strcmp(m, "notifications/cancelled") == 0)
			inflight_cancel(msg);
	} else if (json_is_array(msg)) {
		json_array_foreach(msg, i, item) {
			if (json_is_array(item)) {
				/* JSON-RPC has no batch in a batch; a server
				 * that flattened one would run the calls in it
				 * unasked */
				json_t *e = rpc_error(NULL, RPC_INVALID_REQUEST,
				    "Invalid request (countersign-mcp): a "
				    "batch inside a batch");

				gw_log("dropped a batch nested in a batch");
				if (e != NULL)
					send_client(e);
				json_decref(e);
				json_decref(msg);
				return;
			}
		}
		json_array_foreach(msg, i, item) {
			const char *m = json_string_value(json_object_get(item,
			    "method"));

			if (is_tools_call(item))
				calls++;
			else if (m != NULL &&
			    strcmp(m, "notifications/cancelled") == 0)
				inflight_cancel(item);
		}
	}
	if (calls > 0)
		start_job(line, len, msg, json_is_array(msg));
	else
		(void) send_server(line, len);
	json_decref(msg);
}

/* Thread: read the client's stdin line by line (no fixed line limit up to
 * MCP_LINE_MAX; longer messages are refused whole). */
static void *
client_main(void *arg)
{
	char chunk[65536], *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	bool skipping = false;
	ssize_t n;

	(void) arg;
	for (;;) {
		const char *p, *end, *nl;

		n = read(STDIN_FILENO, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (p = chunk, end = chunk + n; p < end; p = nl + 1) {
			size_t seg;

			nl = memchr(p, '\n', (size_t) (end - p));
			seg = (size_t) ((nl != NULL ? nl : end) - p);
			if (!skipping && len + seg > MCP_LINE_MAX) {
				skipping = true;
				len = 0;
			}
			if (!skipping && seg > 0) {
				if (len + seg > cap) {
					size_t ncap = cap ? cap : 65536;

					while (ncap < len + seg)
						ncap *= 2;
					if ((nb = realloc(buf, ncap)) == NULL) {
						skipping = true;
						len = 0;
						goto next;
					}
					buf = nb;
					cap = ncap;
				}
				memcpy(buf + len, p, seg);
				len += seg;
			}
next:
			if (nl == NULL)
				break;
			if (skipping) {
				json_t *e = rpc_error(NULL,
				    RPC_INVALID_REQUEST, "countersign-mcp: "
				    "message larger than 16 MiB refused");

				gw_log("refused a message larger than 16 MiB");
				if (e != NULL)
					send_client(e);
				json_decref(e);
				skipping = false;
			} else
				client_line(buf, len);
			len = 0;
		}
	}
	if (!skipping && len > 0)
		client_line(buf, len); /* last line without a newline */
	free(buf);
	begin_shutdown();
	return NULL;
}

/* Thread: copy the server's stdout to ours unchanged, holding the output
 * lock from the start of each line to its newline. */
static void *
relay_main(void *arg)
{
	char chunk[65536];
	char *part = NULL;   /* a line begun and not ended, kept aside */
	size_t part_len = 0, part_cap = 0;
	bool streaming = false, ok = true;
	ssize_t n;

	(void) arg;
	for (;;) {
		const char *p, *end, *nl;

		n = read(gw.child_out, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (p = chunk, end = chunk + n; p < end;) {
			size_t seg;

			nl = memchr(p, '\n', (size_t) (end - p));
			seg = (size_t) ((nl != NULL ? nl + 1 : end) - p);
			if (nl == NULL && !streaming &&
			    part_len + seg <= MCP_LINE_MAX) {
				/* the rest of the line may be slow to come:
				 * keep it aside, our stdout stays free for
				 * the gateway's own answers meanwhile */
				if (part_len + seg > part_cap) {
					size_t cap = part_cap != 0 ? part_cap :
					    65536;
					char *g;

					while (cap < part_len + seg)
						cap *= 2;
					if ((g = realloc(part, cap)) == NULL)
						goto stream;
					part = g;
					part_cap = cap;
				}
				memcpy(part + part_len, p, seg);
				part_len += seg;
				p += seg;
				continue;
			}
stream:
			/* a whole line (or one too long to keep aside, which
			 * goes out as it comes, stdout held) */
			if (!streaming) {
				pthread_mutex_lock(&gw.out_lock);
				streaming = true;
				if (ok && part_len > 0 &&
				    !write_all(STDOUT_FILENO, part, part_len))
					ok = false;
				part_len = 0;
			}
			if (ok && !write_all(STDOUT_FILENO, p, seg))
				ok = false;
			p += seg;
			if (nl != NULL) {
				pthread_mutex_unlock(&gw.out_lock);
				streaming = false;
			}
		}
		if (!ok)
			client_went_away(); /* keep draining the server */
	}
	if (!streaming && part_len > 0) {
		/* the server ended in the middle of a line: pass on what came */
		pthread_mutex_lock(&gw.out_lock);
		streaming = true;
		if (ok)
			(void) write_all(STDOUT_FILENO, part, part_len);
	}
	if (streaming)
		pthread_mutex_unlock(&gw.out_lock);
	free(part);
	pthread_mutex_lock(&gw.lock);
	gw.relay_done = true;
	pthread_cond_broadcast(&gw.cond);
	pthread_mutex_unlock(&gw.lock);
	return NULL;
}

/* Thread: forward SIGTERM, SIGINT, SIGHUP and SIGQUIT to the server; the
 * gateway exits when the server does. */
static void *
signal_main(void *arg)
{
	sigset_t *set = arg;
	int sig;

	for (;;) {
		if (sigwait(set, &sig) != 0)
			continue;
		pthread_mutex_lock(&gw.lock);
		if (!gw.child_done)
			kill(gw.child, sig);
		pthread_mutex_unlock(&gw.lock);
	}
	return NULL;
}

/* --- start-up ----------------------------------------------------------- */

/* Start the server with its stdin and stdout on pipes; stderr is ours. */
static bool
spawn_child(char **argv)
{
	int in[2], out[2];
	pid_t parent = getpid();

	/* single-threaded here, so FD_CLOEXEC after pipe() cannot race */
	if (pipe(in) != 0)
		return false;
	if (pipe(out) != 0) {
		close(in[0]);
		close(in[1]);
		return false;
	}
	for (int i = 0; i < 2; i++) {
		(void) fcntl(in[i], F_SETFD, FD_CLOEXEC);
		(void) fcntl(out[i], F_SETFD, FD_CLOEXEC);
	}
	gw.child = fork();
	if (gw.child < 0) {
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		return false;
	}
	if (gw.child == 0) {
		if (dup2(in[0], STDIN_FILENO) < 0 ||
		    dup2(out[1], STDOUT_FILENO) < 0)
			_exit(EX_OSERR_);
#ifdef __linux__
		/* the server goes when the gateway goes, even on SIGKILL */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(EX_OSERR_);
#else
		(void) parent;
#endif
		execvp(argv[0], argv);
		fprintf(stderr, "countersign-mcp: cannot run %s: %s\n",
		    argv[0], strerror(errno));
		_exit(EX_EXEC_);
	}
	close(in[0]);
	close(out[1]);
	gw.child_in = in[1];
	gw.child_out = out[0];
	return true;
}

/* Whether s is a launcher whose first argument names the real server. */
static bool
is_launcher(const char *s)
{
	static const char *const launchers[] = { "node", "nodejs", "npx",
		"bun", "bunx", "deno", "python", "python3", "uv", "uvx", "pipx",
		"pnpm", "yarn", "sh", "bash", "env", "java", "docker", "podman" };

	for (size_t i = 0; i < CS_ARRAY_LEN(launchers); i++)
		if (strcmp(s, launchers[i]) == 0)
			return true;
	return false;
}

/* Whether a path component is too generic to name a server. */
static bool
is_generic(const char *s)
{
	static const char *const generic[] = { "index", "main", "cli",
		"server", "__main__", "dist", "build", "src", "bin", "lib",
		"run", "x", "exec", "app" };

	for (size_t i = 0; i < CS_ARRAY_LEN(generic); i++)
		if (strcmp(s, generic[i]) == 0)
			return true;
	return false;
}

/* Derive the server name from its command line: the command's basename,
 * or for launchers (node, npx, python, uvx, ...) the first argument that
 * is not an option; package scopes, versions, extensions and generic
 * components (index.js, dist/) are skipped, then "mcp-server-",
 * "server-", "-mcp" and the like are trimmed. A new string of
 * [A-Za-z0-9_-]. */
static char *
derive_server(char **argv)
{
	static const char *const prefixes[] = { "mcp-server-", "mcp_server_",
		"server-", "mcp-" };
	static const char *const suffixes[] = { "-mcp-server", "-mcp",
		"_mcp", "-server" };
	char *copy, *seg, *name = NULL, *p, *s;
	const char *src = argv[0];
	size_t len;

	s = strrchr(argv[0], '/');
	if (is_launcher(s != NULL ? s + 1 : argv[0])) {
		for (int i = 1; argv[i] != NULL; i++)
			if (argv[i][0] != '-' && strcmp(argv[i], "run") != 0 &&
			    strcmp(argv[i], "exec") != 0) {
				src = argv[i];
				break;
			}
	}
	if ((copy = strdup(src)) == NULL)
		return NULL;
	/* drop a trailing @version of an npm spec (not a @scope/) */
	if ((p = strrchr(copy, '@')) != NULL && p != copy && p[-1] != '/' &&
	    strchr(p, '/') == NULL)
		*p = '\0';
	/* walk the path components from the end, skipping generic ones */
	for (;;) {
		len = strlen(copy);
		while (len > 0 && copy[len - 1] == '/')
			copy[--len] = '\0';
		seg = strrchr(copy, '/');
		seg = seg != NULL ? seg + 1 : copy;
		if ((p = strrchr(seg, '.')) != NULL && p != seg)
			*p = '\0';
		if (!is_generic(seg) || seg == copy)
			break;
		seg[-1] = '\0';
	}
	for (size_t i = 0; i < CS_ARRAY_LEN(prefixes); i++)
		if (strncmp(seg, prefixes[i], strlen(prefixes[i])) == 0 &&
		    seg[strlen(prefixes[i])] != '\0') {
			seg += strlen(prefixes[i]);
			break;
		}
	for (size_t i = 0; i < CS_ARRAY_LEN(suffixes); i++) {
		size_t sl = strlen(suffixes[i]), l = strlen(seg);

		if (l > sl && strcmp(seg + l - sl, suffixes[i]) == 0) {
			seg[l - sl] = '\0';
			break;
		}
	}
	if (*seg != '\0' && (name = strdup(seg)) != NULL) {
		for (p = name; *p != '\0'; p++)
			if (!((*p >= 'a' && *p <= 'z') ||
			    (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
				*p = '-';
	}
	free(copy);
	return name != NULL ? name : strdup("server");
}

/* Add one --map TOOL=NAME. */
static bool
add_map(const char *from, const char *to)
{
	struct tool_map *m;

	if (!core_name_ok(to) || *from == '\0')
		return false;
	m = realloc(gw.maps, (gw.map_count + 1) * sizeof *m);
	if (m == NULL)
		return false;
	gw.maps = m;
	m[gw.map_count].from = strdup(from);
	m[gw.map_count].to = strdup(to);
	if (m[gw.map_count].from == NULL || m[gw.map_count].to == NULL)
		return false;
	gw.map_count++;
	return true;
}

/* Read a --map-file: a JSON object {"server tool": "countersign.tool"}. */
static bool
load_map_file(const char *path)
{
	char *buf = NULL, *cause = NULL;
	size_t len = 0;
	json_error_t jerr;
	json_t *root, *v;
	const char *key;
	bool ok = true;

	if (cs_read_file(path, 1u << 20, &buf, &len, &cause) != CS_OK) {
		gw_log("--map-file: %s", cause != NULL ? cause : path);
		free(cause);
		return false;
	}
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (!json_is_object(root)) {
		gw_log("--map-file %s: %s", path, root == NULL ? jerr.text :
		    "must be a JSON object of tool names");
		json_decref(root);
		return false;
	}
	json_object_foreach(root, key, v) {
		if (!json_is_string(v) || !add_map(key, json_string_value(v))) {
			gw_log("--map-file %s: bad entry \"%s\" (the value must "
			    "be a countersign tool name)", path, key);
			ok = false;
			break;
		}
	}
	json_decref(root);
	return ok;
}

/* Print the usage text on f. */
static void
usage(FILE *f)
{
	fputs("usage: countersign-mcp [--home DIR] (--token-file FILE | "
	    "--token JWT)\n"
	    "           [--session ID] [--server NAME] [--purpose TEXT] "
	    "[--wait 10m]\n"
	    "           [--map TOOL=NAME]... [--map-file FILE] [--grace 2s] "
	    "[--progress 10s]\n"
	    "           [--quiet]\n"
	    "           [--] SERVER_COMMAND [ARGS...]\n"
	    "\n"
	    "Starts the MCP server SERVER_COMMAND and relays its stdio. Every "
	    "tools/call is\n"
	    "authorized by countersignd as mcp.NAME.TOOL (NAME: --server, "
	    "else derived from\n"
	    "the command) or as the name --map gives TOOL; denied calls get "
	    "an isError\n"
	    "result with the reason and never reach the server. When the "
	    "daemon cannot be\n"
	    "reached, calls are denied (fail closed). The token file is "
	    "re-read for every\n"
	    "call. Exit status: the server's (128+N when a signal N ended "
	    "it), 64 usage.\n", f);
}

/* Parse the command line; returns the index of the server command. */
static int
parse_args(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int64_t ms;

		if (strcmp(a, "--") == 0)
			return i + 1;
		if (a[0] != '-')
			return i;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(a, "--quiet") == 0) {
			gw.quiet = true;
			continue;
		}
		if (v == NULL) {
			gw_log("%s needs a value (see --help)", a);
			exit(EX_USAGE_);
		}
		i++;
		if (strcmp(a, "--home") == 0)
			gw.home = v;
		else if (strcmp(a, "--token-file") == 0)
			gw.token_file = v;
		else if (strcmp(a, "--token") == 0)
			gw.token = v;
		else if (strcmp(a, "--session") == 0)
			gw.session = v;
		else if (strcmp(a, "--purpose") == 0)
			gw.purpose = v;
		else if (strcmp(a, "--server") == 0) {
			free(gw.server);
			gw.server = strdup(v);
		} else if (strcmp(a, "--map") == 0) {
			const char *eq = strchr(v, '=');
			char *from;
			bool ok;

			if (eq == NULL || (from = strndup(v, (size_t) (eq -
			    v))) == NULL) {
				gw_log("--map wants TOOL=NAME, not \"%s\"", v);
				exit(EX_USAGE_);
			}
			ok = add_map(from, eq + 1);
			free(from);
			if (!ok) {
				gw_log("--map %s: NAME must be 1-128 characters "
				    "of [A-Za-z0-9._:@/+-]", v);
				exit(EX_USAGE_);
			}
		} else if (strcmp(a, "--map-file") == 0) {
			if (!load_map_file(v))
				exit(EX_USAGE_);
		} else if (strcmp(a, "--wait") == 0 ||
		    strcmp(a, "--grace") == 0 ||
		    strcmp(a, "--progress") == 0) {
			if (cs_parse_duration_ms(v, &ms) != CS_OK ||
			    (a[2] == 'p' && ms < 100)) {
				gw_log("%s: bad duration \"%s\" (try 30s, 10m)",
				    a, v);
				exit(EX_USAGE_);
			}
			if (strcmp(a, "--wait") == 0)
				gw.wait_ms = ms;
			else if (strcmp(a, "--grace") == 0)
				gw.grace_ms = ms;
			else
				gw.progress_ms = ms;
		} else {
			gw_log("unknown option %s (see --help)", a);
			exit(EX_USAGE_);
		}
	}
	return i;
}

int
main(int argc, char **argv)
{
	pthread_t client_t, relay_t, signal_t;
	static sigset_t sigs;
	char *cause = NULL, *token;
	int first, status = 0, rc;
	pid_t w;

	first = parse_args(argc, argv);
	if (first >= argc) {
		usage(stderr);
		return EX_USAGE_;
	}
	if (gw.token == NULL && gw.token_file == NULL)
		gw.token = getenv("COUNTERSIGN_TOKEN");
	if (gw.token == NULL && gw.token_file == NULL) {
		gw_log("needs --token-file FILE (or --token JWT, or "
		    "$COUNTERSIGN_TOKEN)");
		return EX_USAGE_;
	}
	if (gw.session != NULL && !core_name_ok(gw.session)) {
		gw_log("--session must be 1-128 characters of "
		    "[A-Za-z0-9._:@/+-]");
		return EX_USAGE_;
	}
	if (gw.server == NULL)
		gw.server = derive_server(argv + first);
	if (gw.server == NULL || gw.server[0] == '\0' ||
	    strchr(gw.server, '.') != NULL || !core_name_ok(gw.server)) {
		gw_log("--server must be a name of [A-Za-z0-9_:@/+-] without "
		    "dots");
		return EX_USAGE_;
	}
	if ((gw.url = enforce_agent_url(gw.home, &cause)) == NULL) {
		gw_log("%s", cause != NULL ? cause : "out of memory");
		return EX_USAGE_;
	}
	if (gw.token_file != NULL) {
		if ((token = enforce_read_token(gw.token_file, &cause)) ==
		    NULL) {
			gw_log("warning: %s; every tool call is denied until "
			    "the token file can be read", cause);
			free(cause);
			cause = NULL;
		}
		free(token);
	}
	/* fork before any thread exists (nng starts its own) */
	if (!spawn_child(argv + first)) {
		gw_log("cannot start %s: %s", argv[first], strerror(errno));
		return EX_OSERR_;
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (pthread_create(&signal_t, NULL, signal_main, &sigs) != 0 ||
	    pthread_create(&relay_t, NULL, relay_main, NULL) != 0 ||
	    pthread_create(&client_t, NULL, client_main, NULL) != 0) {
		gw_log("cannot start threads");
		kill(gw.child, SIGTERM);
		return EX_OSERR_;
	}
	if (!gw.quiet)
		gw_log("authorizing tools/call of %s as mcp.%s.TOOL at %s",
		    argv[first], gw.server, gw.url);
	while ((w = waitpid(gw.child, &status, 0)) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&gw.lock);
	gw.child_done = true;
	pthread_cond_broadcast(&gw.cond);
	pthread_mutex_unlock(&gw.lock);
	/* let the relay pass on what the server wrote last (bounded: a
	 * grandchild may hold the pipe open) */
	{
		struct timespec ts = deadline_in(2000);

		pthread_mutex_lock(&gw.lock);
		while (!gw.relay_done && pthread_cond_timedwait(&gw.cond,
		    &gw.lock, &ts) == 0)
			;
		pthread_mutex_unlock(&gw.lock);
	}
	if (w < 0)
		rc = EX_OSERR_;
	else if (WIFEXITED(status))
		rc = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		rc = 128 + WTERMSIG(status);
	else
		rc = EX_OSERR_;
	/* threads may still wait on the daemon: leave without unwinding */
	_exit(rc);
}
