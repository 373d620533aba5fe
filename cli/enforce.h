/* enforce.h: what the enforcement points (countersign-mcp and
 * `countersignctl hook`) share: turning a tool call into an authorize
 * request, asking the daemon, and reading its answer fail-closed.
 * SPDX-License-Identifier: MIT */
#ifndef ENFORCE_H
#define ENFORCE_H

#include "cs.h"

/* Largest canonical args an enforcement point sends. The daemon's default
 * max_args_len is 32 KiB and its frame limit 64 KiB including the token;
 * bigger arguments are summarized (enforce_args_fit). */
#define ENFORCE_ARGS_MAX (24u * 1024u)

/* The outcome of one authorization, as the tool side sees it: every
 * failure (daemon unreachable, error reply, timeout, out of memory) is a
 * deny with a reason saying why. */
typedef enum enforce_decision {
	ENFORCE_DENY = 0, /* the zero value: fail closed */
	ENFORCE_ALLOW,
	ENFORCE_PENDING /* still waiting for an operator when time ran out */
} enforce_decision;

typedef struct enforce_verdict {
	enforce_decision decision;
	char *reason;  /* owned, never NULL after enforce_authorize */
	char *request; /* owned "r-..." id, NULL when none was assigned */
	char *rule;    /* owned, may be NULL */
	char *by;      /* owned: policy, operator, grant, timeout, admission,
	                * error; "gateway" when the daemon never answered */
} enforce_verdict;

/* Called between waits while a call is pending: elapsed_ms since the
 * first request, request is the daemon's id (borrowed). */
typedef void (*enforce_wait_cb)(void *ud, int64_t elapsed_ms,
    const char *request);

/* One call to authorize. Every pointer is borrowed. */
typedef struct enforce_call {
	const char *url;     /* agent endpoint, e.g. ipc://DIR/agent.ipc */
	const char *token;   /* the agent's JWT */
	const char *id;      /* client request id ([A-Za-z0-9._:@/+-]) */
	const char *session; /* NULL: the token's sid or jti */
	const char *tool;    /* countersign tool name */
	json_t *args;        /* object or NULL; summarized when too large */
	json_t *context;     /* object of strings or NULL (purpose, ...) */
	int64_t wait_ms;     /* how long to wait for an operator in all */
	int64_t slice_ms;    /* re-ask every slice_ms (0: one wait), so that
	                      * on_wait can report progress */
	enforce_wait_cb on_wait;
	void *ud;
} enforce_call;

/* enforce_authorize asks countersignd about call and fills *out (which the
 * caller releases with enforce_verdict_fini). It never fails: anything but
 * an allow from the daemon is a deny (or pending when the wait ran out)
 * with a reason. A pending call is re-asked with the same id every
 * slice_ms; the daemon parks the repeat on the same pending request. */
void enforce_authorize(const enforce_call *call, enforce_verdict *out);

/* enforce_verdict_fini frees the strings of v. */
void enforce_verdict_fini(enforce_verdict *v);

/* enforce_message returns "LEAD: REASON (request R-ID)" for v, the
 * request part only when the daemon assigned one: a new string, or NULL
 * on OOM. */
char *enforce_message(const char *lead, const enforce_verdict *v);

/* enforce_args_fit returns args (a new reference) when its canonical JSON
 * is at most max_len bytes; otherwise a new copy in which long strings are
 * replaced by "HEAD... [N bytes, sha256:HEX]" until it fits. NULL with a
 * cause when even that does not fit or on OOM. */
json_t *enforce_args_fit(json_t *args, size_t max_len, char **cause);

/* enforce_read_token reads a token file (whitespace trimmed, at most
 * 16 KiB): a new string, NULL with a cause on failure. */
char *enforce_read_token(const char *path, char **cause);

/* enforce_token_claim returns the string claim name of a JWT's payload,
 * decoded WITHOUT verifying the signature (the daemon verifies): a new
 * string, or NULL when absent or unreadable. For choosing what to send,
 * never for deciding. */
char *enforce_token_claim(const char *jwt, const char *name);

/* enforce_agent_url returns a new agent endpoint url:
 * $COUNTERSIGN_AGENT_URL when set, else ipc://HOME/agent.ipc with HOME
 * resolved from home_arg (cs_home_resolve). NULL with a cause. */
char *enforce_agent_url(const char *home_arg, char **cause);

/* enforce_new_id writes "PREFIX-<16 hex>" into out (size bytes). */
cs_err enforce_new_id(const char *prefix, char *out, size_t size);

/* enforce_fmt_ms formats a duration for people ("90s", "10m", "1h30m")
 * into out. */
void enforce_fmt_ms(int64_t ms, char *out, size_t size);

#endif
