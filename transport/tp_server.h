/* tp_server.h: a REP endpoint served by N nng contexts ("slots"), so that
 * calls parked on a human never block other callers.
 * SPDX-License-Identifier: MIT */
#ifndef TP_SERVER_H
#define TP_SERVER_H

#include <nng/nng.h>

#include "cs.h"

typedef struct tp_server tp_server;

/* Called on an nng thread for every request. handle identifies the slot
 * and must be answered exactly once with tp_server_reply. buf is valid
 * only during the call. peer_uid is the ipc peer's uid, or -1 (also when
 * the endpoint was opened without peer_uid). */
typedef void (*tp_server_recv_cb)(void *ud, uint64_t handle, const char *buf,
    size_t len, long long peer_uid);

/* Settings of one endpoint. */
typedef struct tp_server_opts {
	const char *url;     /* ipc:// or tcp:// */
	int contexts;        /* concurrent requests */
	size_t recv_max;     /* frames larger than this are dropped by nng */
	int ipc_mode;        /* file mode of an ipc socket, e.g. 0600 */
	uint64_t handle_tag; /* or'ed into every handle (bit 63 free) */
	bool peer_uid;       /* look up each frame's ipc peer uid (one more
	                      * system call per frame) */
	tp_server_recv_cb cb;
	void *ud;
} tp_server_opts;

/* tp_server_open listens on opts->url and starts receiving. */
cs_err tp_server_open(const tp_server_opts *opts, tp_server **out,
    char **cause);

/* tp_server_reply sends len bytes (copied) on the slot named by handle.
 * A stale handle (the slot moved on) is ignored and returns CS_ENOTFOUND. */
cs_err tp_server_reply(tp_server *srv, uint64_t handle, const void *buf,
    size_t len);

/* tp_server_close stops the endpoint: pending slots are dropped. NULL is a
 * no-op. */
void tp_server_close(tp_server *srv);

/* Probe the listener with a connection of the peer protocol (blocks up to
 * a few seconds) and replace it when that connection never reaches the
 * socket: 0 it accepts (or the scheme is not probed), 1 it was replaced
 * (its connections closed), -1 it is gone and could not be replaced
 * (*cause says why). One caller at a time. */
int tp_server_check(tp_server *srv, char **cause);

/* Publisher of console events: "topic JSON" frames. */
typedef struct tp_pub tp_pub;

/* tp_pub_open listens on url for subscribers. */
cs_err tp_pub_open(const char *url, int ipc_mode, tp_pub **out,
    char **cause);

/* tp_pub_send publishes one event; a slow subscriber loses events (they
 * are hints: consoles resynchronise with hello). */
void tp_pub_send(tp_pub *pub, const char *topic, const char *json,
    size_t len);

/* tp_pub_close closes the publisher; NULL is a no-op. */
void tp_pub_close(tp_pub *pub);

/* tp_server_check for the PUB listener. */
int tp_pub_check(tp_pub *pub, char **cause);

#endif
