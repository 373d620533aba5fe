/* tui_net.h: the console's two connections to countersignd, never
 * blocking the screen: a SUB socket for events (its receive fd goes into
 * the main loop's poll) and a REQ socket driven by one nng_aio with a
 * timeout, whose completion wakes the loop through a pipe. Both dial in
 * the background and redial by themselves when the daemon restarts.
 * SPDX-License-Identifier: MIT */
#ifndef TUI_NET_H
#define TUI_NET_H

#include "cs.h"

typedef struct tui_net tui_net;

/* What a control request was for, so its reply can be routed. */
enum tui_req_kind {
	TUI_REQ_HELLO,
	TUI_REQ_SESSIONS,
	TUI_REQ_DECIDE,
	TUI_REQ_TRUST,
	TUI_REQ_POSTURE,
	TUI_REQ_REVOKE,
};

/* A finished control request. */
typedef struct tui_reply {
	enum tui_req_kind kind;
	char tag[128];  /* the caller's label (request or session id) */
	json_t *msg;    /* new reference: the reply, or NULL on failure */
	cs_err err;     /* CS_OK, CS_ETIMEDOUT, CS_ETRANSPORT, CS_EPARSE */
	char cause[160];/* what failed, when err != CS_OK */
} tui_reply;

/* tui_net_open starts dialing control_url (REQ) and events_url (SUB). It
 * does not wait for the daemon. */
cs_err tui_net_open(const char *control_url, const char *events_url,
    tui_net **out, char **cause);

/* tui_net_close closes both sockets; NULL is a no-op. */
void tui_net_close(tui_net *n);

/* tui_net_event_fd returns the SUB socket's receive fd (readable when an
 * event waits); tui_net_wake_fd returns the fd that becomes readable when
 * a control request finishes or a connection comes or goes. */
int tui_net_event_fd(tui_net *n);
int tui_net_wake_fd(tui_net *n);

/* tui_net_event_take receives one waiting event without blocking: a new
 * buffer in *frame (not NUL-terminated; free it). false when none. */
bool tui_net_event_take(tui_net *n, char **frame, size_t *len);

/* tui_net_request queues a control request (req is stolen) that fails
 * after timeout_ms. Requests go out one at a time, in order. CS_EFULL when
 * too many are queued. */
cs_err tui_net_request(tui_net *n, enum tui_req_kind kind, const char *tag,
    json_t *req, int64_t timeout_ms);

/* tui_net_queued reports whether a request of kind is queued or in
 * flight. */
bool tui_net_queued(const tui_net *n, enum tui_req_kind kind);

/* tui_net_reply_take hands over the next finished request, if any (the
 * caller decrefs out->msg). Also drains the wake fd. */
bool tui_net_reply_take(tui_net *n, tui_reply *out);

/* tui_net_control_up reports whether the control socket has a live
 * connection; tui_net_connects counts connections made so far (it
 * changes when the daemon comes back). */
bool tui_net_control_up(tui_net *n);
unsigned tui_net_connects(tui_net *n);

/* tui_net_drop_queue fails every queued request that is not in flight
 * (used when the connection is lost). */
void tui_net_drop_queue(tui_net *n);

#endif
