/* countersign.h: the client library agents and tools link to ask
 * countersignd for decisions (libcountersign.a, link with -lnng).
 *
 *   cs_client *c;
 *   if (cs_client_open("ipc:///home/me/.local/state/countersign/agent.ipc",
 *       &c, &cause) != CS_OK) ... // daemon unreachable: fail closed
 *   cs_client_call(c, json, strlen(json), 120000, &reply, &len, &cause);
 *   cs_client_close(c);
 *
 * SPDX-License-Identifier: MIT */
#ifndef COUNTERSIGN_H
#define COUNTERSIGN_H

#include "cs.h"

typedef struct cs_client cs_client;

/* cs_client_open connects a REQ socket to url (ipc:// or tcp://). It waits
 * for the connection, so an absent daemon fails here with CS_ETRANSPORT.
 * Requests are never resent: a call may wait for a human for minutes. */
cs_err cs_client_open(const char *url, cs_client **out, char **cause);

/* cs_client_call sends one request frame and waits up to timeout_ms for
 * the reply; *reply is a new NUL-terminated buffer the caller frees.
 * CS_ETIMEDOUT when no reply came in time, CS_ETRANSPORT when the
 * connection failed. */
cs_err cs_client_call(cs_client *c, const char *req, size_t len,
    int64_t timeout_ms, char **reply, size_t *reply_len, char **cause);

/* cs_client_call_json sends a JSON object and parses the reply: a new
 * reference in *reply. */
cs_err cs_client_call_json(cs_client *c, const json_t *req,
    int64_t timeout_ms, json_t **reply, char **cause);

/* cs_client_close closes the connection; NULL is a no-op. */
void cs_client_close(cs_client *c);

#endif
