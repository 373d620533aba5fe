/* countersign.h: the client library agents and tools link to ask
 * countersignd for decisions (libcountersign.a; link with -lnng -ljansson
 * -lpthread, nothing else of countersign).
 *
 *   cs_client *c;
 *   cs_decision dec;
 *   cs_authz a = { .token = jwt, .tool = "payments.transfer",
 *       .args_json = "{\"amount\":250}", .wait_ms = 120000 };
 *
 *   if (cs_client_open("ipc:///home/me/.local/state/countersign/agent.ipc",
 *       &c, &cause) != CS_OK) ... // daemon unreachable: do not run the tool
 *   if (cs_client_authorize(c, &a, 0, &dec, &cause) == CS_OK &&
 *       dec.verdict == CS_VERDICT_ALLOW)
 *           run_the_tool();       // anything else: do not run it
 *   cs_decision_fini(&dec);       // safe after a failed call too
 *   cs_client_close(c);
 *
 * Every failure means "do not run the tool": a call that could not be
 * asked, timed out or was refused is never an allow.
 *
 * Threads: one cs_client may be shared by threads for cs_client_authorize,
 * cs_client_status and cs_client_authorize_async (each call has an nng
 * context of its own); cs_client_call and cs_client_call_json use the
 * socket itself and must not run concurrently on one client.
 *
 * SPDX-License-Identifier: MIT */
#ifndef COUNTERSIGN_H
#define COUNTERSIGN_H

#include "cs.h"

typedef struct cs_client cs_client;

/* cs_client_open connects a REQ socket to url (ipc:// or tcp://). It waits
 * for the connection, so an absent daemon fails here with CS_ETRANSPORT,
 * and one that does not finish the handshake within 3 s (stopped, or
 * overwhelmed) with CS_ETIMEDOUT.
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

/* One authorization request. Every string is borrowed for the duration of
 * the call only (the library copies what it keeps). */
typedef struct cs_authz {
	const char *token;     /* the agent's scoped token (JWT); required */
	const char *tool;      /* e.g. "payments.transfer"; required */
	const char *id;        /* your id for this call: a repeat of the same
	                        * id and call gets the first decision; NULL:
	                        * none */
	const char *session;   /* NULL: the token's session */
	const char *action;    /* NULL: none */
	const char *resource;  /* NULL: none */
	const char *args_json; /* the call's arguments, a JSON object text;
	                        * NULL: none */
	const char *purpose;   /* why (context.purpose); NULL: the token's */
	int64_t wait_ms;       /* how long the daemon may hold the call for
	                        * an operator; 0: answer "pending" at once
	                        * (then poll cs_client_status) */
} cs_authz;

/* The outcome of a call. Anything but CS_VERDICT_ALLOW means "do not run
 * the tool" (a reply the library does not understand reads as deny). */
typedef enum cs_verdict {
	CS_VERDICT_DENY = 0,
	CS_VERDICT_ALLOW,
	CS_VERDICT_PENDING,    /* an operator has not decided yet */
} cs_verdict;

/* A decision. The strings are borrowed from json and live until
 * cs_decision_fini. */
typedef struct cs_decision {
	cs_verdict verdict;
	const char *request;   /* the daemon's request id ("r-..."), for
	                        * cs_client_status; NULL when absent */
	const char *by;        /* policy operator grant timeout admission
	                        * error; NULL when absent */
	const char *rule;      /* the deciding rule, or NULL */
	const char *reason;    /* why, for the agent to read, or NULL */
	const char *args_digest; /* "sha256:..." the decision is bound to */
	int64_t audit_seq;     /* the decision's audit row, or -1 */
	json_t *json;          /* the whole reply: a reference owned by the
	                        * decision */
} cs_decision;

/* cs_decision_fini releases what dec owns and zeroes it; safe on a zeroed
 * or already finished decision. */
void cs_decision_fini(cs_decision *dec);

/* cs_client_authorize asks for a decision and waits for it: up to
 * timeout_ms in all (0 or less: a->wait_ms plus 30 s). On CS_OK *out is
 * filled (the caller finishes it with cs_decision_fini); on failure *out
 * is zeroed. Errors: CS_EINVAL for a bad request (missing token or tool,
 * args_json not a JSON object) or one the daemon refused (the cause holds
 * its error code and message), CS_ETIMEDOUT, CS_ETRANSPORT, CS_ECLOSED
 * when the client is closing, CS_EPARSE for an unreadable reply,
 * CS_ENOMEM. */
cs_err cs_client_authorize(cs_client *c, const cs_authz *a,
    int64_t timeout_ms, cs_decision *out, char **cause);

/* cs_client_status asks for the decision of a request made earlier
 * (CS_VERDICT_PENDING while operators have not decided). CS_ENOTFOUND when
 * the daemon knows no such request; otherwise as cs_client_authorize
 * (timeout_ms 0 or less: 30 s). */
cs_err cs_client_status(cs_client *c, const char *request,
    int64_t timeout_ms, cs_decision *out, char **cause);

/* Called once per asynchronous call, on an nng thread, when the decision
 * arrives or the call fails. rv is as for cs_client_authorize; dec is
 * filled only when rv is CS_OK and is borrowed: valid until the callback
 * returns (json_incref(dec->json) to keep the reply). cause may be NULL.
 * The callback must not block for long and must not call
 * cs_client_close; it may start other calls. */
typedef void (*cs_client_cb)(void *ud, cs_err rv, const cs_decision *dec,
    const char *cause);

/* cs_client_authorize_async sends the request and returns at once; cb
 * gets the outcome (exactly once) when it arrives or after timeout_ms (0
 * or less: a->wait_ms plus 30 s). Several calls may be in flight on one
 * client. On a non-CS_OK return nothing was sent and cb is never called. */
cs_err cs_client_authorize_async(cs_client *c, const cs_authz *a,
    int64_t timeout_ms, cs_client_cb cb, void *ud, char **cause);

/* cs_client_close closes the connection: asynchronous calls still in
 * flight complete with CS_ECLOSED before it returns. Call it after every
 * blocking call on other threads has returned, and never from a callback.
 * NULL is a no-op. */
void cs_client_close(cs_client *c);

#endif
