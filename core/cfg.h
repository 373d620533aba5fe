/* cfg.h: DIR/config.json: every field optional, unknown keys refused.
 * SPDX-License-Identifier: MIT */
#ifndef CORE_CFG_H
#define CORE_CFG_H

#include "cs.h"

#define CORE_CFG_WEBHOOKS_MAX 16

/* One webhook that pages operators about calls nobody has decided. */
typedef struct core_cfg_webhook {
	char *url;                 /* http:// or https:// */
	bool slack;                /* "format": "slack"; else "generic" */
	int64_t after_s;           /* page when undecided this long (30) */
	int64_t before_deadline_s; /* page again this long before the
	                            * deadline (20); 0: no second page */
	int64_t timeout_ms;        /* per attempt (3000) */
	int retries;               /* attempts after the first (3) */
} core_cfg_webhook;

typedef struct core_cfg {
	char **operators;        /* names allowed to decide; empty: daemon user */
	size_t operator_count;
	int max_initial_trust;   /* cap on a token's trust claim (3) */
	int default_trust;       /* trust when the token has none (2) */
	size_t max_pending;      /* bound of the pending queue (1000) */
	size_t max_sessions;     /* bound of the session table (100000) */
	size_t max_sessions_per_delegation; /* sessions one user and agent
	                                     * may hold (10000; 0: no bound) */
	size_t recent_max;       /* decisions remembered for replays (20000) */
	int64_t leeway_s;        /* token clock skew (30) */
	char *issuer;            /* required iss, or NULL */
	char *audience;          /* required aud, or NULL */
	int64_t max_wait_ms;     /* cap on an agent's wait_ms (600000) */
	int64_t default_wait_ms; /* wait when the request has none (0) */
	int64_t max_grant_ttl_ms;/* cap on session grants (86400000) */
	int max_depth;           /* JSON nesting bound (32) */
	size_t max_token_len;    /* (8192) */
	size_t max_args_len;     /* canonical args bytes (32768) */
	size_t recv_max;         /* largest frame nng accepts (65536) */
	int agent_contexts;      /* concurrent agent requests (256) */
	int control_contexts;    /* concurrent control requests (16) */
	int socket_mode;         /* ipc socket file mode (0600) */
	char *agent_url;         /* NULL: ipc://DIR/agent.ipc */
	char *control_url;       /* NULL: ipc://DIR/control.ipc */
	char *events_url;        /* NULL: ipc://DIR/events.ipc */
	size_t jti_max_uses;     /* calls one token id may make; 0: no limit */
	char **mask_args;        /* "args.PATH" values shown as "***" in audit
	                          * events and on consoles */
	size_t mask_count;
	bool mask_defaults;      /* internal: defaults not yet applied */
	char *http_listen;       /* HTTP ingress as "http://HOST:PORT"; NULL:
	                          * off. Loopback only unless
	                          * http_allow_remote */
	bool http_allow_remote;  /* (false) */
	size_t http_max_body;    /* largest POST body; 0: recv_max */
	core_cfg_webhook *webhooks; /* pages for undecided calls */
	size_t webhook_count;
	size_t webhook_queue_max;/* pages waiting for delivery (256) */
} core_cfg;

/* core_cfg_defaults fills cfg with the defaults above. */
void core_cfg_defaults(core_cfg *cfg);

/* core_cfg_load fills cfg from the file at path over the defaults; a
 * missing file is not an error. Unknown keys, wrong types and
 * out-of-range values fail with CS_EPARSE and a located *cause. */
cs_err core_cfg_load(const char *path, core_cfg *cfg, char **cause);

/* core_cfg_fini frees what cfg owns. */
void core_cfg_fini(core_cfg *cfg);

/* core_cfg_listen_is_loopback reports whether an "http://HOST:PORT"
 * address names this host only: 127.0.0.0/8, [::1] or localhost. */
bool core_cfg_listen_is_loopback(const char *url);

/* core_cfg_is_operator reports whether name may decide. */
bool core_cfg_is_operator(const core_cfg *cfg, const char *name);

#endif
