/* tp_webhook.h: pages operators about calls nobody has decided, through
 * HTTP webhooks (a generic JSON body or a Slack-compatible one). It runs
 * off the decision path: the daemon feeds it the "pending" and "resolved"
 * events it publishes after each commit, and one thread of its own keeps
 * a table of undecided calls with their timers and delivers the pages
 * with libcurl (timeouts, retries with exponential backoff, a bounded
 * queue). A slow or dead webhook never delays or changes a decision.
 * SPDX-License-Identifier: MIT */
#ifndef TP_WEBHOOK_H
#define TP_WEBHOOK_H

#include "cs.h"

typedef struct tp_webhook tp_webhook;

/* One webhook. */
typedef struct tp_webhook_target {
	const char *url;            /* http:// or https:// */
	bool slack;                 /* Slack incoming-webhook body */
	int64_t after_ms;           /* page when undecided this long */
	int64_t before_deadline_ms; /* page again this long before the
	                             * deadline; 0: no second page */
	int64_t timeout_ms;         /* per attempt, connect included */
	int retries;                /* attempts after the first */
} tp_webhook_target;

/* Settings of the notifier. */
typedef struct tp_webhook_opts {
	const tp_webhook_target *targets; /* copied */
	size_t target_count;
	size_t queue_max;    /* pages waiting for delivery; when full the
	                      * oldest is dropped (and counted in the log) */
	size_t track_max;    /* undecided calls followed at once */
	const char *home;    /* named in the decide command of each page */
	int64_t backoff_ms;  /* first retry delay, doubling (0: 1000) */
} tp_webhook_opts;

/* tp_webhook_open starts the notifier thread. */
cs_err tp_webhook_open(const tp_webhook_opts *opts, tp_webhook **out,
    char **cause);

/* tp_webhook_event feeds one published event (topic "pending" or
 * "resolved"; others are ignored). msg is borrowed; the fields a page
 * needs are copied. It never blocks on delivery: it takes the notifier's
 * lock for a table update and wakes the thread. */
void tp_webhook_event(tp_webhook *wh, const char *topic, const json_t *msg);

/* tp_webhook_close stops the thread; pages not yet delivered are dropped
 * (and counted in the log). NULL is a no-op. */
void tp_webhook_close(tp_webhook *wh);

#endif
