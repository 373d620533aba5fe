/* tp_console.c: the console's asynchronous control requests (REQ, one
 * nng_aio) and its event feed (SUB, NNG_OPT_RECVFD).
 * SPDX-License-Identifier: MIT */
#include "tp_console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/req.h>

#define QUEUE_MAX 32

enum { IDLE, SENDING, RECEIVING, DONE };

/* A request waiting for its turn (or in flight). */
struct queued {
	enum tp_console_req_kind kind;
	char tag[128];
	char *text;          /* owned JSON text */
	int64_t timeout_ms;
};

struct tp_console {
	nng_socket req, sub;
	bool req_open, sub_open;
	nng_aio *aio;
	int wake[2];
	atomic_int state;     /* IDLE SENDING RECEIVING DONE */
	atomic_int pipes;     /* live control connections */
	atomic_uint connects; /* control connections made so far */
	int result;           /* nng result, written before state = DONE */
	nng_msg *reply;       /* written before state = DONE */
	struct queued cur;    /* in flight when state != IDLE */
	struct queued q[QUEUE_MAX];
	size_t q_head, q_len;
};

/* Wake the main loop (any thread). */
static void
wake(tp_console *n)
{
	char c = 1;
	ssize_t rv = write(n->wake[1], &c, 1);

	(void) rv; /* a full pipe already wakes the loop */
}

/* Completion of the send, then of the receive (an nng thread). */
static void
aio_cb(void *arg)
{
	tp_console *n = arg;
	int rv = nng_aio_result(n->aio);

	if (atomic_load(&n->state) == SENDING) {
		if (rv != 0) {
			nng_msg_free(nng_aio_get_msg(n->aio));
			nng_aio_set_msg(n->aio, NULL);
			n->result = rv;
			atomic_store(&n->state, DONE);
			wake(n);
			return;
		}
		atomic_store(&n->state, RECEIVING);
		nng_aio_set_timeout(n->aio, (nng_duration) n->cur.timeout_ms);
		nng_recv_aio(n->req, n->aio);
		return;
	}
	n->result = rv;
	n->reply = rv == 0 ? nng_aio_get_msg(n->aio) : NULL;
	atomic_store(&n->state, DONE);
	wake(n);
}

/* A control connection came or went (an nng thread). */
static void
pipe_cb(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	tp_console *n = arg;

	(void) p;
	if (ev == NNG_PIPE_EV_ADD_POST) {
		atomic_fetch_add(&n->pipes, 1);
		atomic_fetch_add(&n->connects, 1);
	} else if (ev == NNG_PIPE_EV_REM_POST) {
		atomic_fetch_sub(&n->pipes, 1);
	}
	wake(n);
}

/* Set a socket to redial quickly after the daemon went away, then dial in
 * the background. */
static int
dial(nng_socket s, const char *url)
{
	int rv;

	if ((rv = nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 100)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 1000)) != 0)
		return rv;
	return nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK);
}

cs_err
tp_console_open(const char *control_url, const char *events_url,
    tp_console **out, char **cause)
{
	tp_console *n;
	const char *what = control_url;
	int rv;

	if ((n = calloc(1, sizeof *n)) == NULL)
		return CS_ENOMEM;
	n->wake[0] = n->wake[1] = -1;
	atomic_init(&n->state, IDLE);
	atomic_init(&n->pipes, 0);
	atomic_init(&n->connects, 0);
	if (pipe(n->wake) != 0) {
		cs_set_cause(cause, "pipe: %s", strerror(errno));
		free(n);
		return CS_EIO;
	}
	for (int i = 0; i < 2; i++) {
		fcntl(n->wake[i], F_SETFL, fcntl(n->wake[i], F_GETFL) |
		    O_NONBLOCK);
		fcntl(n->wake[i], F_SETFD, FD_CLOEXEC);
	}
	if ((rv = nng_req0_open(&n->req)) != 0)
		goto fail;
	n->req_open = true;
	if ((rv = nng_socket_set_ms(n->req, NNG_OPT_REQ_RESENDTIME,
	    NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_size(n->req, NNG_OPT_RECVMAXSZ,
	    16u << 20)) != 0 ||
	    (rv = nng_pipe_notify(n->req, NNG_PIPE_EV_ADD_POST, pipe_cb,
	    n)) != 0 ||
	    (rv = nng_pipe_notify(n->req, NNG_PIPE_EV_REM_POST, pipe_cb,
	    n)) != 0 ||
	    (rv = nng_aio_alloc(&n->aio, aio_cb, n)) != 0 ||
	    (rv = dial(n->req, control_url)) != 0)
		goto fail;
	what = events_url;
	if ((rv = nng_sub0_open(&n->sub)) != 0)
		goto fail;
	n->sub_open = true;
	if ((rv = nng_socket_set(n->sub, NNG_OPT_SUB_SUBSCRIBE, "", 0)) != 0 ||
	    (rv = nng_socket_set_size(n->sub, NNG_OPT_RECVMAXSZ,
	    16u << 20)) != 0 ||
	    (rv = nng_socket_set_int(n->sub, NNG_OPT_RECVBUF, 1024)) != 0 ||
	    (rv = dial(n->sub, events_url)) != 0)
		goto fail;
	*out = n;
	return CS_OK;
fail:
	cs_set_cause(cause, "%s: %s", what, nng_strerror(rv));
	tp_console_close(n);
	return CS_ETRANSPORT;
}

void
tp_console_close(tp_console *n)
{
	if (n == NULL)
		return;
	if (n->req_open)
		nng_close(n->req);
	if (n->sub_open)
		nng_close(n->sub);
	if (n->aio != NULL) {
		nng_aio_stop(n->aio);
		if (atomic_load(&n->state) == SENDING)
			nng_msg_free(nng_aio_get_msg(n->aio));
		nng_aio_free(n->aio);
	}
	if (n->reply != NULL)
		nng_msg_free(n->reply);
	free(n->cur.text);
	for (size_t i = 0; i < n->q_len; i++)
		free(n->q[(n->q_head + i) % QUEUE_MAX].text);
	if (n->wake[0] >= 0)
		close(n->wake[0]);
	if (n->wake[1] >= 0)
		close(n->wake[1]);
	free(n);
}

int
tp_console_event_fd(tp_console *n)
{
	int fd = -1;

	if (nng_socket_get_int(n->sub, NNG_OPT_RECVFD, &fd) != 0)
		return -1;
	return fd;
}

int
tp_console_wake_fd(tp_console *n)
{
	return n->wake[0];
}

bool
tp_console_event_take(tp_console *n, char **frame, size_t *len)
{
	nng_msg *msg;
	char *buf;

	if (nng_recvmsg(n->sub, &msg, NNG_FLAG_NONBLOCK) != 0)
		return false;
	if ((buf = malloc(nng_msg_len(msg) + 1)) == NULL)
		abort();
	memcpy(buf, nng_msg_body(msg), nng_msg_len(msg));
	buf[nng_msg_len(msg)] = '\0';
	*len = nng_msg_len(msg);
	*frame = buf;
	nng_msg_free(msg);
	return true;
}

/* Start the next queued request when none is in flight. */
static void
start_next(tp_console *n)
{
	nng_msg *msg;
	int rv;

	while (atomic_load(&n->state) == IDLE && n->q_len > 0) {
		n->cur = n->q[n->q_head];
		n->q_head = (n->q_head + 1) % QUEUE_MAX;
		n->q_len--;
		if ((rv = nng_msg_alloc(&msg, 0)) != 0 ||
		    (rv = nng_msg_append(msg, n->cur.text,
		    strlen(n->cur.text))) != 0) {
			abort();
		}
		nng_aio_set_msg(n->aio, msg);
		nng_aio_set_timeout(n->aio, (nng_duration) n->cur.timeout_ms);
		atomic_store(&n->state, SENDING);
		nng_send_aio(n->req, n->aio);
	}
}

cs_err
tp_console_request(tp_console *n, enum tp_console_req_kind kind,
    const char *tag, json_t *req, int64_t timeout_ms)
{
	struct queued *q;
	char *text;

	if (n->q_len == QUEUE_MAX) {
		json_decref(req);
		return CS_EFULL;
	}
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (text == NULL)
		return CS_ENOMEM;
	q = &n->q[(n->q_head + n->q_len) % QUEUE_MAX];
	memset(q, 0, sizeof *q);
	q->kind = kind;
	snprintf(q->tag, sizeof q->tag, "%s", tag != NULL ? tag : "");
	q->text = text;
	q->timeout_ms = timeout_ms > INT32_MAX ? INT32_MAX : timeout_ms;
	n->q_len++;
	start_next(n);
	return CS_OK;
}

bool
tp_console_queued(const tp_console *n, enum tp_console_req_kind kind)
{
	if (atomic_load(&n->state) != IDLE && n->cur.kind == kind)
		return true;
	for (size_t i = 0; i < n->q_len; i++)
		if (n->q[(n->q_head + i) % QUEUE_MAX].kind == kind)
			return true;
	return false;
}

bool
tp_console_reply_take(tp_console *n, tp_console_reply *out)
{
	char buf[64];
	json_error_t jerr;

	while (read(n->wake[0], buf, sizeof buf) > 0)
		;
	if (atomic_load(&n->state) != DONE) {
		start_next(n);
		return false;
	}
	memset(out, 0, sizeof *out);
	out->kind = n->cur.kind;
	snprintf(out->tag, sizeof out->tag, "%s", n->cur.tag);
	if (n->result == 0 && n->reply != NULL) {
		out->msg = json_loadb(nng_msg_body(n->reply),
		    nng_msg_len(n->reply), JSON_REJECT_DUPLICATES, &jerr);
		if (out->msg == NULL || !json_is_object(out->msg)) {
			json_decref(out->msg);
			out->msg = NULL;
			out->err = CS_EPARSE;
			snprintf(out->cause, sizeof out->cause,
			    "unreadable reply from countersignd");
		}
	} else {
		out->err = n->result == NNG_ETIMEDOUT ? CS_ETIMEDOUT :
		    CS_ETRANSPORT;
		snprintf(out->cause, sizeof out->cause, "%s",
		    n->result == NNG_ETIMEDOUT ? "countersignd did not answer "
		    "in time" : nng_strerror(n->result));
	}
	if (n->reply != NULL)
		nng_msg_free(n->reply);
	n->reply = NULL;
	free(n->cur.text);
	memset(&n->cur, 0, sizeof n->cur);
	atomic_store(&n->state, IDLE);
	start_next(n);
	return true;
}

bool
tp_console_control_up(tp_console *n)
{
	return atomic_load(&n->pipes) > 0;
}

unsigned
tp_console_connects(tp_console *n)
{
	return atomic_load(&n->connects);
}

void
tp_console_drop_queue(tp_console *n)
{
	for (size_t i = 0; i < n->q_len; i++)
		free(n->q[(n->q_head + i) % QUEUE_MAX].text);
	n->q_head = n->q_len = 0;
}
