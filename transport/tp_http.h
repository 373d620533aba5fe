/* tp_http.h: HTTP ingress for agents in any language, served by nng's own
 * HTTP server: POST /v1/authorize, GET /v1/requests/{id}, GET /healthz.
 * Each call becomes an agent frame handed to the same callback as the
 * agent endpoint, under a handle of its own; the answer comes back through
 * tp_http_reply, after the audit commit, like any other reply.
 * SPDX-License-Identifier: MIT */
#ifndef TP_HTTP_H
#define TP_HTTP_H

#include "tp_server.h"

typedef struct tp_http tp_http;

/* Returns the number of calls waiting for an operator (for /healthz). */
typedef size_t (*tp_http_pending_fn)(void *ud);

/* Settings of the HTTP ingress. */
typedef struct tp_http_opts {
	const char *url;      /* "http://HOST:PORT"; port 0 picks a free one */
	size_t max_body;      /* larger POST bodies get 413 */
	int max_inflight;     /* concurrent HTTP calls (parked ones too);
	                       * beyond it: 503 */
	size_t bind_max;      /* request ids remembered with the token that
	                       * made them, for GET /v1/requests/{id} */
	uint64_t handle_tag;  /* or'ed into every handle */
	tp_server_recv_cb cb; /* gets each call as an agent frame; peer_uid
	                       * is -1; answer with tp_http_reply */
	tp_http_pending_fn pending_count; /* may be NULL */
	void *ud;
} tp_http_opts;

/* tp_http_open starts serving opts->url. Fails with CS_ETRANSPORT (and a
 * cause naming the address) when it cannot listen. */
cs_err tp_http_open(const tp_http_opts *opts, tp_http **out, char **cause);

/* tp_http_url returns the address actually served ("http://HOST:PORT",
 * with the bound port when the configured one was 0); borrowed. */
const char *tp_http_url(const tp_http *h);

/* tp_http_reply answers the HTTP call named by handle with the agent reply
 * buf (a JSON decision or error, copied): 200 for a decision (allow, deny
 * or pending alike), 404 for an unknown request, 503 when the daemon is
 * stopping, 400 for any other error. A stale handle (the client went
 * away, or the ingress closed) is ignored and returns CS_ENOTFOUND. */
cs_err tp_http_reply(tp_http *h, uint64_t handle, const void *buf,
    size_t len);

/* tp_http_set_health records whether the audit store is writable; /healthz
 * answers 503 while it is not. */
void tp_http_set_health(tp_http *h, bool audit_ok);

/* tp_http_stop closes the listener and every connection for good (calls
 * in flight are dropped; their decisions stand): the way out when
 * connections that never finish a request hold the daemon's descriptors,
 * since nng's HTTP server has no header timeout. Later calls are no-ops;
 * tp_http_close is still needed. */
void tp_http_stop(tp_http *h);

/* tp_http_close stops serving: calls still waiting get 503, and the
 * callback is never called again once this returns. NULL is a no-op. */
void tp_http_close(tp_http *h);

#endif
