/* tp_client.c: the client library: one REQ socket, no resends; each
 * authorize or status call runs on an nng context of its own, so several
 * can be in flight on one client. It depends on nng and jansson only, so
 * that agents link libcountersign.a alone.
 * SPDX-License-Identifier: MIT */
#include "countersign.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

#define EXTRA_WAIT_MS 30000 /* default timeout beyond the daemon's wait */
#define CONNECT_MS 3000     /* longest wait for the daemon's handshake */

struct cs_call;

struct cs_client {
	nng_socket sock;
	pthread_mutex_t mtx;
	pthread_cond_t idle;
	int calls;              /* asynchronous calls in flight */
	bool closing;
};

/* One asynchronous call. */
struct cs_call {
	cs_client *c;
	nng_ctx ctx;
	nng_aio *aio;
	bool sent;
	int64_t timeout_ms;
	int64_t start;          /* monotonic ms */
	cs_client_cb cb;
	void *ud;
};

/* Store a formatted cause when the caller wants one and has none yet. */
static void
set_cause(char **cause, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_cause(char **cause, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (cause == NULL || *cause != NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (*cause = malloc((size_t) n + 1)) == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(*cause, (size_t) n + 1, fmt, ap);
	va_end(ap);
}

/* Translate an nng error. */
static cs_err
nng_to_cs(int rv)
{
	switch (rv) {
	case NNG_ETIMEDOUT:
		return CS_ETIMEDOUT;
	case NNG_ECLOSED:
	case NNG_ECANCELED:
		return CS_ECLOSED;
	case NNG_ENOMEM:
		return CS_ENOMEM;
	default:
		return CS_ETRANSPORT;
	}
}

/* One nng_dial on a thread of its own, so that its wait can be bounded. */
struct dial_job {
	nng_socket sock;
	const char *url;
	pthread_mutex_t mtx;
	pthread_cond_t done_cv;
	bool done;
	int rv;
};

static void *
dial_main(void *arg)
{
	struct dial_job *j = arg;
	int rv = nng_dial(j->sock, j->url, NULL, 0);

	pthread_mutex_lock(&j->mtx);
	j->rv = rv;
	j->done = true;
	pthread_cond_signal(&j->done_cv);
	pthread_mutex_unlock(&j->mtx);
	return NULL;
}

/* nng_dial, given up after ms: a daemon that is stopped still has its
 * socket accept, but never answers the handshake, and nng waits longer
 * than a caller's budget. On the timeout the socket is closed. */
static int
dial_within(nng_socket sock, const char *url, int64_t ms)
{
	struct dial_job j = { .sock = sock, .url = url };
	pthread_condattr_t attr;
	struct timespec deadline;
	pthread_t thread;
	bool timed_out;

	if (pthread_condattr_init(&attr) != 0)
		return NNG_ENOMEM;
	(void) pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	if (pthread_cond_init(&j.done_cv, &attr) != 0) {
		pthread_condattr_destroy(&attr);
		return NNG_ENOMEM;
	}
	pthread_condattr_destroy(&attr);
	pthread_mutex_init(&j.mtx, NULL);
	if (pthread_create(&thread, NULL, dial_main, &j) != 0) {
		pthread_cond_destroy(&j.done_cv);
		pthread_mutex_destroy(&j.mtx);
		return NNG_ENOMEM;
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += (time_t) (ms / 1000);
	deadline.tv_nsec += (long) (ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&j.mtx);
	while (!j.done && pthread_cond_timedwait(&j.done_cv, &j.mtx,
	    &deadline) == 0)
		;
	timed_out = !j.done;
	pthread_mutex_unlock(&j.mtx);
	if (timed_out)
		nng_close(sock); /* ends the dial */
	pthread_join(thread, NULL);
	pthread_cond_destroy(&j.done_cv);
	pthread_mutex_destroy(&j.mtx);
	return timed_out ? NNG_ETIMEDOUT : j.rv;
}

cs_err
cs_client_open(const char *url, cs_client **out, char **cause)
{
	cs_client *c;
	int rv;

	if ((c = calloc(1, sizeof *c)) == NULL)
		return CS_ENOMEM;
	if ((rv = nng_req0_open(&c->sock)) != 0) {
		free(c);
		set_cause(cause, "cannot reach countersignd at %s: %s", url,
		    nng_strerror(rv));
		return CS_ETRANSPORT;
	}
	if ((rv = nng_socket_set_ms(c->sock, NNG_OPT_REQ_RESENDTIME,
	    NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_size(c->sock, NNG_OPT_RECVMAXSZ,
	    16u << 20)) != 0)
		goto fail;
	if ((rv = dial_within(c->sock, url, CONNECT_MS)) != 0)
		goto fail;
	pthread_mutex_init(&c->mtx, NULL);
	pthread_cond_init(&c->idle, NULL);
	*out = c;
	return CS_OK;
fail:
	if (rv == NNG_ETIMEDOUT)
		set_cause(cause, "countersignd at %s did not take the "
		    "connection within %d ms", url, CONNECT_MS);
	set_cause(cause, "cannot reach countersignd at %s: %s", url,
	    nng_strerror(rv));
	nng_close(c->sock); /* ECLOSED when dial_within closed it */
	free(c);
	return rv == NNG_ETIMEDOUT ? CS_ETIMEDOUT : CS_ETRANSPORT;
}

cs_err
cs_client_call(cs_client *c, const char *req, size_t len, int64_t timeout_ms,
    char **reply, size_t *reply_len, char **cause)
{
	nng_msg *msg;
	char *buf;
	int rv;

	if (timeout_ms > INT32_MAX)
		timeout_ms = INT32_MAX;
	/* the timeout also bounds the wait for a connection: after a reset
	 * the request waits for the dialer to connect again */
	if ((rv = nng_socket_set_ms(c->sock, NNG_OPT_RECVTIMEO,
	    (nng_duration) timeout_ms)) != 0 ||
	    (rv = nng_socket_set_ms(c->sock, NNG_OPT_SENDTIMEO,
	    (nng_duration) timeout_ms)) != 0)
		goto fail;
	if ((rv = nng_msg_alloc(&msg, 0)) != 0)
		goto fail;
	if ((rv = nng_msg_append(msg, req, len)) != 0 ||
	    (rv = nng_sendmsg(c->sock, msg, 0)) != 0) {
		nng_msg_free(msg);
		goto fail;
	}
	if ((rv = nng_recvmsg(c->sock, &msg, 0)) != 0)
		goto fail;
	if ((buf = malloc(nng_msg_len(msg) + 1)) == NULL) {
		nng_msg_free(msg);
		return CS_ENOMEM;
	}
	memcpy(buf, nng_msg_body(msg), nng_msg_len(msg));
	buf[nng_msg_len(msg)] = '\0';
	if (reply_len != NULL)
		*reply_len = nng_msg_len(msg);
	nng_msg_free(msg);
	*reply = buf;
	return CS_OK;
fail:
	set_cause(cause, "countersignd: %s", nng_strerror(rv));
	return rv == NNG_ETIMEDOUT ? CS_ETIMEDOUT : CS_ETRANSPORT;
}

cs_err
cs_client_call_json(cs_client *c, const json_t *req, int64_t timeout_ms,
    json_t **reply, char **cause)
{
	char *text, *buf = NULL;
	size_t len = 0;
	json_error_t jerr;
	json_t *root;
	cs_err rv;

	if ((text = json_dumps(req, JSON_COMPACT)) == NULL)
		return CS_ENOMEM;
	rv = cs_client_call(c, text, strlen(text), timeout_ms, &buf, &len,
	    cause);
	free(text);
	if (rv != CS_OK)
		return rv;
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (root == NULL || !json_is_object(root)) {
		json_decref(root);
		set_cause(cause, "countersignd sent an unreadable reply");
		return CS_EPARSE;
	}
	*reply = root;
	return CS_OK;
}

void
cs_decision_fini(cs_decision *dec)
{
	if (dec == NULL)
		return;
	json_decref(dec->json);
	memset(dec, 0, sizeof *dec);
	dec->audit_seq = -1;
}

/* Set a string member when value is not NULL. */
static void
set_opt(json_t *o, const char *key, const char *value)
{
	if (value != NULL)
		json_object_set_new(o, key, json_string(value));
}

/* The authorize frame of a: a new message, or NULL with a cause. */
static nng_msg *
authorize_msg(const cs_authz *a, cs_err *err, char **cause)
{
	json_t *o = NULL, *args = NULL;
	json_error_t jerr;
	char *text = NULL;
	nng_msg *msg = NULL;

	*err = CS_EINVAL;
	if (a == NULL || a->token == NULL || a->tool == NULL) {
		set_cause(cause, "a token and a tool are required");
		return NULL;
	}
	if (a->wait_ms < 0) {
		set_cause(cause, "wait_ms must not be negative");
		return NULL;
	}
	if (a->args_json != NULL &&
	    ((args = json_loads(a->args_json, JSON_REJECT_DUPLICATES,
	    &jerr)) == NULL || !json_is_object(args))) {
		set_cause(cause, "args_json must be a JSON object%s%s",
		    args == NULL ? ": " : "", args == NULL ? jerr.text : "");
		json_decref(args);
		return NULL;
	}
	*err = CS_ENOMEM;
	if ((o = json_pack("{s:i, s:s, s:s, s:s, s:I}", "v", 1, "type",
	    "authorize", "token", a->token, "tool", a->tool, "wait_ms",
	    (json_int_t) a->wait_ms)) == NULL)
		goto done;
	set_opt(o, "id", a->id);
	set_opt(o, "session", a->session);
	set_opt(o, "action", a->action);
	set_opt(o, "resource", a->resource);
	if (args != NULL)
		json_object_set(o, "args", args);
	if (a->purpose != NULL)
		json_object_set_new(o, "context", json_pack("{s:s}", "purpose",
		    a->purpose));
	if ((text = json_dumps(o, JSON_COMPACT)) == NULL ||
	    nng_msg_alloc(&msg, 0) != 0)
		goto done;
	if (nng_msg_append(msg, text, strlen(text)) != 0) {
		nng_msg_free(msg);
		msg = NULL;
		goto done;
	}
	*err = CS_OK;
done:
	json_decref(o);
	json_decref(args);
	free(text);
	return msg;
}

/* The status frame of request: a new message, or NULL. */
static nng_msg *
status_msg(const char *request)
{
	json_t *o = json_pack("{s:i, s:s, s:s}", "v", 1, "type", "status",
	    "request", request);
	char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	nng_msg *msg = NULL;

	json_decref(o);
	if (text != NULL && nng_msg_alloc(&msg, 0) == 0 &&
	    nng_msg_append(msg, text, strlen(text)) != 0) {
		nng_msg_free(msg);
		msg = NULL;
	}
	free(text);
	return msg;
}

/* A string member, or NULL. */
static const char *
get_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* Read a reply into a decision (takes msg). */
static cs_err
decode(nng_msg *msg, cs_decision *out, char **cause)
{
	json_error_t jerr;
	json_t *root, *seq;
	const char *type, *verdict, *code;
	cs_err rv;

	root = json_loadb(nng_msg_body(msg), nng_msg_len(msg),
	    JSON_REJECT_DUPLICATES, &jerr);
	nng_msg_free(msg);
	if (root == NULL || !json_is_object(root)) {
		json_decref(root);
		set_cause(cause, "countersignd sent an unreadable reply");
		return CS_EPARSE;
	}
	type = get_str(root, "type");
	if (type != NULL && strcmp(type, "error") == 0) {
		code = get_str(root, "code");
		set_cause(cause, "countersignd refused the request: %s: %s",
		    code != NULL ? code : "error",
		    get_str(root, "message") != NULL ?
		    get_str(root, "message") : "no message");
		rv = code != NULL && strcmp(code, "not_found") == 0 ?
		    CS_ENOTFOUND : code != NULL &&
		    strcmp(code, "unavailable") == 0 ? CS_ETRANSPORT :
		    CS_EINVAL;
		json_decref(root);
		return rv;
	}
	if (type == NULL || strcmp(type, "decision") != 0) {
		json_decref(root);
		set_cause(cause, "countersignd sent an unexpected reply");
		return CS_EPARSE;
	}
	memset(out, 0, sizeof *out);
	verdict = get_str(root, "decision");
	out->verdict = verdict == NULL ? CS_VERDICT_DENY :
	    strcmp(verdict, "allow") == 0 ? CS_VERDICT_ALLOW :
	    strcmp(verdict, "pending") == 0 ? CS_VERDICT_PENDING :
	    CS_VERDICT_DENY;
	out->request = get_str(root, "request");
	out->by = get_str(root, "by");
	out->rule = get_str(root, "rule");
	out->reason = get_str(root, "reason");
	out->args_digest = get_str(root, "args_digest");
	seq = json_object_get(root, "audit_seq");
	out->audit_seq = json_is_integer(seq) ? json_integer_value(seq) : -1;
	out->json = root;
	return CS_OK;
}

/* CLOCK_MONOTONIC in milliseconds. */
static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Clamp a timeout for nng. */
static nng_duration
duration(int64_t ms)
{
	if (ms <= 0)
		return 1;
	return ms > INT32_MAX ? INT32_MAX : (nng_duration) ms;
}

/* Send msg (taken) on a context of its own and wait for the reply. */
static cs_err
call_sync(cs_client *c, nng_msg *msg, int64_t timeout_ms, cs_decision *out,
    char **cause)
{
	nng_ctx ctx;
	nng_aio *aio = NULL;
	int64_t start = mono_ms();
	int rv;

	if ((rv = nng_ctx_open(&ctx, c->sock)) != 0) {
		nng_msg_free(msg);
		goto fail;
	}
	if ((rv = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
		nng_msg_free(msg);
		nng_ctx_close(ctx);
		goto fail;
	}
	nng_aio_set_timeout(aio, duration(timeout_ms));
	nng_aio_set_msg(aio, msg);
	nng_ctx_send(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0) {
		nng_msg_free(nng_aio_get_msg(aio)); /* not sent: still ours */
		goto done;
	}
	nng_aio_set_timeout(aio, duration(timeout_ms - (mono_ms() - start)));
	nng_ctx_recv(ctx, aio);
	nng_aio_wait(aio);
	if ((rv = nng_aio_result(aio)) != 0)
		goto done;
	msg = nng_aio_get_msg(aio);
	nng_aio_free(aio);
	nng_ctx_close(ctx);
	return decode(msg, out, cause);
done:
	nng_aio_free(aio);
	nng_ctx_close(ctx);
fail:
	set_cause(cause, "countersignd: %s", nng_strerror(rv));
	return nng_to_cs(rv);
}

cs_err
cs_client_authorize(cs_client *c, const cs_authz *a, int64_t timeout_ms,
    cs_decision *out, char **cause)
{
	cs_err rv;
	nng_msg *msg;

	cs_decision_fini(out);
	if ((msg = authorize_msg(a, &rv, cause)) == NULL)
		return rv;
	if (timeout_ms <= 0)
		timeout_ms = a->wait_ms + EXTRA_WAIT_MS;
	return call_sync(c, msg, timeout_ms, out, cause);
}

cs_err
cs_client_status(cs_client *c, const char *request, int64_t timeout_ms,
    cs_decision *out, char **cause)
{
	nng_msg *msg;

	cs_decision_fini(out);
	if (request == NULL || *request == '\0') {
		set_cause(cause, "a request id is required");
		return CS_EINVAL;
	}
	if ((msg = status_msg(request)) == NULL)
		return CS_ENOMEM;
	return call_sync(c, msg, timeout_ms > 0 ? timeout_ms : EXTRA_WAIT_MS,
	    out, cause);
}

/* Finish an asynchronous call: report, then release it. */
static void
call_finish(struct cs_call *call, cs_err rv, nng_msg *msg, const char *why)
{
	cs_client *c = call->c;
	cs_decision dec = { .audit_seq = -1 };
	char *cause = NULL;

	if (rv == CS_OK)
		rv = decode(msg, &dec, &cause);
	else if (why != NULL)
		set_cause(&cause, "countersignd: %s", why);
	call->cb(call->ud, rv, rv == CS_OK ? &dec : NULL, cause);
	cs_decision_fini(&dec);
	free(cause);
	nng_aio_reap(call->aio); /* we run in its callback */
	pthread_mutex_lock(&c->mtx);
	/* once the client closes, closing the socket closes every context:
	 * nng 1.5.2 can abort on a context closed by both at once */
	if (!c->closing)
		nng_ctx_close(call->ctx);
	free(call);
	if (--c->calls == 0)
		pthread_cond_broadcast(&c->idle);
	pthread_mutex_unlock(&c->mtx);
}

/* Completion of an asynchronous call's send, then of its receive. */
static void
call_cb(void *arg)
{
	struct cs_call *call = arg;
	int rv = nng_aio_result(call->aio);

	if (rv != 0) {
		cs_client *c = call->c;
		bool closing;

		if (!call->sent)
			nng_msg_free(nng_aio_get_msg(call->aio));
		pthread_mutex_lock(&c->mtx);
		closing = c->closing; /* nng reports it in more than one way */
		pthread_mutex_unlock(&c->mtx);
		call_finish(call, closing ? CS_ECLOSED : nng_to_cs(rv), NULL,
		    closing ? "the client closed" : nng_strerror(rv));
		return;
	}
	if (!call->sent) {
		call->sent = true;
		nng_aio_set_timeout(call->aio, duration(call->timeout_ms -
		    (mono_ms() - call->start)));
		nng_ctx_recv(call->ctx, call->aio);
		return;
	}
	call_finish(call, CS_OK, nng_aio_get_msg(call->aio), NULL);
}

cs_err
cs_client_authorize_async(cs_client *c, const cs_authz *a,
    int64_t timeout_ms, cs_client_cb cb, void *ud, char **cause)
{
	struct cs_call *call;
	nng_msg *msg;
	cs_err err;
	int rv;

	if (cb == NULL) {
		set_cause(cause, "a callback is required");
		return CS_EINVAL;
	}
	if ((msg = authorize_msg(a, &err, cause)) == NULL)
		return err;
	if ((call = calloc(1, sizeof *call)) == NULL) {
		nng_msg_free(msg);
		return CS_ENOMEM;
	}
	call->c = c;
	call->cb = cb;
	call->ud = ud;
	call->timeout_ms = timeout_ms > 0 ? timeout_ms :
	    a->wait_ms + EXTRA_WAIT_MS;
	if ((rv = nng_ctx_open(&call->ctx, c->sock)) != 0) {
		nng_msg_free(msg);
		free(call);
		set_cause(cause, "countersignd: %s", nng_strerror(rv));
		return nng_to_cs(rv);
	}
	if ((rv = nng_aio_alloc(&call->aio, call_cb, call)) != 0) {
		nng_ctx_close(call->ctx);
		nng_msg_free(msg);
		free(call);
		set_cause(cause, "countersignd: %s", nng_strerror(rv));
		return nng_to_cs(rv);
	}
	pthread_mutex_lock(&c->mtx);
	if (c->closing) {
		pthread_mutex_unlock(&c->mtx);
		nng_aio_free(call->aio);
		nng_ctx_close(call->ctx);
		nng_msg_free(msg);
		free(call);
		set_cause(cause, "the client is closing");
		return CS_ECLOSED;
	}
	c->calls++;
	pthread_mutex_unlock(&c->mtx);
	/* the whole call, send and receive, gets timeout_ms */
	call->start = mono_ms();
	nng_aio_set_timeout(call->aio, duration(call->timeout_ms));
	nng_aio_set_msg(call->aio, msg);
	nng_ctx_send(call->ctx, call->aio);
	return CS_OK;
}

void
cs_client_close(cs_client *c)
{
	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mtx);
	c->closing = true;
	pthread_mutex_unlock(&c->mtx);
	nng_close(c->sock); /* calls in flight complete with NNG_ECLOSED */
	pthread_mutex_lock(&c->mtx);
	while (c->calls > 0)
		pthread_cond_wait(&c->idle, &c->mtx);
	pthread_mutex_unlock(&c->mtx);
	pthread_cond_destroy(&c->idle);
	pthread_mutex_destroy(&c->mtx);
	free(c);
}
