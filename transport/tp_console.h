/* tp_console.h: the operator console's two connections to countersignd
 * (tui/ reaches the daemon only through this file), never blocking the
 * screen: a SUB socket for events (its receive fd goes into
 * the main loop's poll) and a REQ socket driven by one nng_aio with a
 * timeout, whose completion wakes the loop through a pipe. Both dial in
 * the background and redial by themselves when the daemon restarts.
 * SPDX-License-Identifier: MIT */
#ifndef TP_CONSOLE_H
#define TP_CONSOLE_H

#include "cs.h"

typedef struct tp_console tp_console;

/* What a control request was for, so its reply can be routed. */
enum tp_console_req_kind {
	TP_CONSOLE_REQ_HELLO,
	TP_CONSOLE_REQ_SESSIONS,
	TP_CONSOLE_REQ_DECIDE,
	TP_CONSOLE_REQ_TRUST,
	TP_CONSOLE_REQ_POSTURE,
	TP_CONSOLE_REQ_REVOKE,
};

/* A finished control request. */
typedef struct tp_console_reply {
	enum tp_console_req_kind kind;
	char tag[128];  /* the caller's label (request or session id) */
	json_t *msg;    /* new reference: the reply, or NULL on failure */
	cs_err err;     /* CS_OK, CS_ETIMEDOUT, CS_ETRANSPORT, CS_EPARSE */
	char cause[160];/* what failed, when err != CS_OK */
} tp_console_reply;

/* tp_console_open starts dialing control_url (REQ) and events_url (SUB). It
 * does not wait for the daemon. */
cs_err tp_console_open(const char *control_url, const char *events_url,
    tp_console **out, char **cause);

/* tp_console_close closes both sockets; NULL is a no-op. */
void tp_console_close(tp_console *n);

/* tp_console_event_fd returns the SUB socket's receive fd (readable when an
 * event waits); tp_console_wake_fd returns the fd that becomes readable when
 * a control request finishes or a connection comes or goes. */
int tp_console_event_fd(tp_console *n);
int tp_console_wake_fd(tp_console *n);

/* tp_console_event_take receives one waiting event without blocking: a new
 * buffer in *frame (not NUL-terminated; free it). false when none. */
bool tp_console_event_take(tp_console *n, char **frame, size_t *len);

/* tp_console_request queues a control request (req is stolen) that fails
 * after timeout_ms. Requests go out one at a time, in order. CS_EFULL when
 * too many are queued. */
cs_err tp_console_request(tp_console *n, enum tp_console_req_kind kind,
    const char *tag, json_t *req, int64_t timeout_ms);

/* tp_console_queued reports whether a request of kind is queued or in
 * flight. */
bool tp_console_queued(const tp_console *n, enum tp_console_req_kind kind);

/* tp_console_reply_take hands over the next finished request, if any (the
 * caller decrefs out->msg). Also drains the wake fd. */
bool tp_console_reply_take(tp_console *n, tp_console_reply *out);

/* tp_console_control_up reports whether the control socket has a live
 * connection; tp_console_connects counts connections made so far (it
 * changes when the daemon comes back). */
bool tp_console_control_up(tp_console *n);
unsigned tp_console_connects(tp_console *n);

/* tp_console_drop_queue fails every queued request that is not in flight
 * (used when the connection is lost). */
void tp_console_drop_queue(tp_console *n);

#endif
