/* tp_webhook.c: the webhook notifier: a table of undecided calls fed by
 * published events, a bounded queue of pages, and one thread driving
 * libcurl's multi interface, so that several deliveries and their
 * timeouts run at once without ever blocking the daemon.
 * SPDX-License-Identifier: MIT */
#include "tp_webhook.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "map.h"

#define INFLIGHT_MAX 8        /* deliveries at once */
#define INFLIGHT_TARGET 4     /* of them to one webhook: a receiver that
                               * stalls holds up no other's pages */
#define BACKOFF_CAP_MS 60000
#define IDLE_WAKE_MS 1000
#define STALE_MS 60000        /* forget a call this long past its deadline */

enum { STAGE_UNDECIDED, STAGE_DEADLINE };

static const char *const stage_names[] = { "undecided", "deadline" };

/* A call waiting for an operator. */
struct watch {
	struct watch *prev, *next; /* oldest first */
	char request[64];
	json_t *info;              /* owned: the fields a page shows */
	int64_t received_mono;     /* when it started waiting */
	int64_t deadline_mono;
	int64_t deadline_ms;       /* wall clock, shown in the page */
	uint32_t sent;             /* bit 2t: first page of target t queued;
	                            * bit 2t+1: second page */
};

/* One page, waiting in the queue or in flight. */
struct page {
	struct page *prev, *next;  /* queue order, oldest first */
	size_t target;
	int stage;
	int attempt;               /* attempts made so far */
	int64_t not_before;        /* monotonic ms */
	int64_t started;           /* monotonic ms of the current attempt */
	char request[64];
	CURL *easy;
	struct curl_slist *headers;
	char *body;
	char error[CURL_ERROR_SIZE];
};

/* One configured webhook. */
struct target {
	tp_webhook_target t;       /* url owned */
	char label[200];           /* "webhook 1 (http://host:port)": the
	                            * path may hold a secret, so it is never
	                            * logged */
	int inflight;              /* its deliveries under way */
};

struct tp_webhook {
	pthread_mutex_t mtx;
	pthread_t thread;
	bool thread_started;
	CURLM *multi;
	bool stop;
	struct target *targets;
	size_t target_count;
	size_t queue_max, track_max;
	int64_t backoff_ms;
	char *decide;              /* "countersignctl --home DIR decide" */
	core_map *watches;         /* request -> struct watch */
	struct watch *w_head, *w_tail;
	size_t watch_count;
	struct page *q_head, *q_tail;
	size_t queue_len;
	struct page *f_head;       /* in flight (thread only) */
	int inflight;
	uint64_t dropped, evicted; /* not yet logged */
	uint64_t dropped_total, evicted_total;
};

/* Unlink a watch from the age list. */
static void
watch_unlink(tp_webhook *wh, struct watch *w)
{
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		wh->w_head = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		wh->w_tail = w->prev;
	wh->watch_count--;
}

/* Forget a watch (lock held). */
static void
watch_drop(tp_webhook *wh, struct watch *w)
{
	core_map_del(wh->watches, w->request);
	watch_unlink(wh, w);
	json_decref(w->info);
	free(w);
}

/* Append a page to the queue (lock held). */
static void
queue_append(tp_webhook *wh, struct page *p)
{
	p->next = NULL;
	p->prev = wh->q_tail;
	if (wh->q_tail != NULL)
		wh->q_tail->next = p;
	else
		wh->q_head = p;
	wh->q_tail = p;
	wh->queue_len++;
}

/* Unlink a page from the queue (lock held). */
static void
queue_unlink(tp_webhook *wh, struct page *p)
{
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		wh->q_head = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	else
		wh->q_tail = p->prev;
	wh->queue_len--;
}

/* Free a page and its transfer. */
static void
page_free(struct page *p)
{
	if (p == NULL)
		return;
	if (p->easy != NULL)
		curl_easy_cleanup(p->easy);
	curl_slist_free_all(p->headers);
	free(p->body);
	free(p);
}

/* Queue a page, dropping the oldest waiting one when full (lock held). */
static void
queue_put(tp_webhook *wh, struct page *p)
{
	while (wh->queue_len >= wh->queue_max && wh->q_head != NULL) {
		struct page *old = wh->q_head;

		queue_unlink(wh, old);
		page_free(old);
		wh->dropped++;
	}
	queue_append(wh, p);
}

/* Copy a string member of msg into info. */
static void
copy_str(json_t *info, const json_t *msg, const char *key)
{
	const char *v = json_string_value(json_object_get(msg, key));

	if (v != NULL)
		json_object_set_new(info, key, json_string(v));
}

/* An integer member of msg, or dflt. */
static int64_t
get_int(const json_t *msg, const char *key, int64_t dflt)
{
	const json_t *v = json_object_get(msg, key);

	return json_is_integer(v) ? (int64_t) json_integer_value(v) : dflt;
}

/* Start following a call that waits for an operator (lock held). */
static void
watch_pending(tp_webhook *wh, const json_t *msg)
{
	static const char *const keys[] = { "request", "tool", "action",
		"resource", "agent", "user", "session", "risk", "rule",
		"reason", "purpose" };
	const char *request = json_string_value(json_object_get(msg,
	    "request"));
	int64_t now_ms = cs_now_ms(), now_mono = cs_mono_ms();
	int64_t received, deadline;
	struct watch *w;

	if (request == NULL || strlen(request) >= sizeof w->request ||
	    core_map_get(wh->watches, request) != NULL)
		return; /* unusable, or an update of a call already followed */
	deadline = get_int(msg, "deadline", 0);
	if (deadline <= now_ms)
		return;
	received = get_int(msg, "received", now_ms);
	if (received > now_ms)
		received = now_ms;
	while (wh->watch_count >= wh->track_max && wh->w_head != NULL) {
		watch_drop(wh, wh->w_head);
		wh->evicted++;
	}
	if ((w = calloc(1, sizeof *w)) == NULL)
		return;
	if ((w->info = json_object()) == NULL) {
		free(w);
		return;
	}
	for (size_t i = 0; i < CS_ARRAY_LEN(keys); i++)
		copy_str(w->info, msg, keys[i]);
	json_object_set_new(w->info, "approvers",
	    json_integer(get_int(msg, "approvers", 1)));
	snprintf(w->request, sizeof w->request, "%s", request);
	w->received_mono = now_mono - (now_ms - received);
	w->deadline_mono = now_mono + (deadline - now_ms);
	w->deadline_ms = deadline;
	if (core_map_put(wh->watches, w->request, w, NULL) != CS_OK) {
		json_decref(w->info);
		free(w);
		return;
	}
	w->prev = wh->w_tail;
	if (wh->w_tail != NULL)
		wh->w_tail->next = w;
	else
		wh->w_head = w;
	wh->w_tail = w;
	wh->watch_count++;
}

void
tp_webhook_event(tp_webhook *wh, const char *topic, const json_t *msg)
{
	bool pending = strcmp(topic, "pending") == 0;
	struct watch *w;

	if (wh == NULL || (!pending && strcmp(topic, "resolved") != 0))
		return;
	const char *request = json_string_value(json_object_get(msg,
	    "request"));

	pthread_mutex_lock(&wh->mtx);
	if (pending)
		watch_pending(wh, msg);
	else if (request != NULL &&
	    (w = core_map_get(wh->watches, request)) != NULL)
		watch_drop(wh, w); /* decided: no page from now on */
	pthread_mutex_unlock(&wh->mtx);
	curl_multi_wakeup(wh->multi);
}

/* Queue the pages that fell due, and forget calls long past their
 * deadline; returns the next time one falls due (lock held). */
static int64_t
schedule(tp_webhook *wh, int64_t now)
{
	int64_t next = INT64_MAX;
	struct watch *w, *after;

	for (w = wh->w_head; w != NULL; w = after) {
		after = w->next;
		if (now >= w->deadline_mono + STALE_MS) {
			watch_drop(wh, w);
			continue;
		}
		for (size_t t = 0; t < wh->target_count; t++) {
			const tp_webhook_target *tg = &wh->targets[t].t;
			int64_t due[2];
			bool valid[2];
			int stage = -1;
			struct page *p;

			due[0] = w->received_mono + tg->after_ms;
			due[1] = w->deadline_mono - tg->before_deadline_ms;
			valid[0] = due[0] < w->deadline_mono;
			valid[1] = tg->before_deadline_ms > 0 &&
			    due[1] < w->deadline_mono &&
			    (!valid[0] || due[1] > due[0]);
			for (int s = 0; s < 2; s++) {
				uint32_t bit = 1u << (2 * t + (size_t) s);

				if (!valid[s] || (w->sent & bit) != 0)
					continue;
				if (due[s] > now) {
					if (due[s] < next)
						next = due[s];
					continue;
				}
				w->sent |= bit;
				stage = s; /* the later stage wins when both
				            * fell due together */
			}
			if (stage < 0 || now >= w->deadline_mono ||
			    (p = calloc(1, sizeof *p)) == NULL)
				continue;
			p->target = t;
			p->stage = stage;
			p->not_before = now;
			snprintf(p->request, sizeof p->request, "%s",
			    w->request);
			queue_put(wh, p);
		}
	}
	return next;
}

/* Append s to a growing string, escaping what Slack's mrkdwn treats as
 * markup (& < >) and turning control characters into spaces; at most max
 * bytes of s, cut on a character boundary. */
static void
slack_escape(FILE *f, const char *s, size_t max)
{
	size_t len = strlen(s);

	if (len > max) {
		len = max;
		while (len > 0 && ((unsigned char) s[len] & 0xc0) == 0x80)
			len--;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) s[i];

		if (c == '&')
			fputs("&amp;", f);
		else if (c == '<')
			fputs("&lt;", f);
		else if (c == '>')
			fputs("&gt;", f);
		else if (c < 0x20 || c == 0x7f)
			fputc(' ', f);
		else
			fputc(c, f);
	}
	if (len < strlen(s))
		fputs("...", f);
}

/* slack_escape into a new string. */
static char *
slack_str(const char *s, size_t max)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	slack_escape(f, s != NULL ? s : "-", max);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* A string field of a watch, or "-". */
static const char *
info_str(const struct watch *w, const char *key)
{
	const char *v = json_string_value(json_object_get(w->info, key));

	return v != NULL ? v : "-";
}

/* Whole seconds until the deadline, rounded up. */
static int64_t
seconds_left(const struct watch *w, int64_t now)
{
	return (w->deadline_mono - now + 999) / 1000;
}

/* The generic JSON body of a page: a new string. */
static char *
generic_body(const tp_webhook *wh, const struct watch *w, int stage,
    int64_t now)
{
	json_t *o = json_deep_copy(w->info);
	char *decide = cs_asprintf("%s %s approve|deny", wh->decide,
	    w->request);
	char *text = NULL;

	if (o != NULL && decide != NULL) {
		json_object_set_new(o, "event",
		    json_string("pending_escalation"));
		json_object_set_new(o, "stage",
		    json_string(stage_names[stage]));
		json_object_set_new(o, "deadline",
		    json_integer(w->deadline_ms));
		json_object_set_new(o, "waited_s",
		    json_integer((now - w->received_mono) / 1000));
		json_object_set_new(o, "seconds_left",
		    json_integer(seconds_left(w, now)));
		json_object_set_new(o, "decide", json_string(decide));
		text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	}
	json_decref(o);
	free(decide);
	return text;
}

/* A Slack mrkdwn field ("*Title*\nvalue"). */
static json_t *
slack_field(const char *title, const char *value)
{
	char *v = slack_str(value, 300);
	char *text = v != NULL ? cs_asprintf("*%s*\n%s", title, v) : NULL;
	json_t *o = text != NULL ? json_pack("{s:s, s:s}", "type", "mrkdwn",
	    "text", text) : NULL;

	free(v);
	free(text);
	return o;
}

/* The Slack incoming-webhook body of a page: a new string. */
static char *
slack_body(const tp_webhook *wh, const struct watch *w, int stage,
    int64_t now)
{
	char *tool = slack_str(info_str(w, "tool"), 100);
	char *agent = slack_str(info_str(w, "agent"), 100);
	char *user = slack_str(info_str(w, "user"), 100);
	char *reason = slack_str(info_str(w, "reason"), 500);
	char *decide = cs_asprintf("%s %s", wh->decide, w->request);
	char *cmd = NULL, *summary = NULL, *header = NULL, *context = NULL;
	char *text = NULL;
	int64_t left = seconds_left(w, now);
	int64_t waited = (now - w->received_mono) / 1000;
	json_t *o = NULL;

	if (tool == NULL || agent == NULL || user == NULL || reason == NULL ||
	    decide == NULL)
		goto done;
	cmd = cs_asprintf("```%s approve```\n```%s deny```", decide, decide);
	summary = cs_asprintf("%s%s by agent %s for %s waits for an operator: "
	    "%lld s left. Decide with: %s approve|deny",
	    stage == STAGE_DEADLINE ? "Deadline near: " : "", tool, agent,
	    user, (long long) left, decide);
	header = cs_asprintf("%s: %.100s", stage == STAGE_DEADLINE ?
	    "Deadline near" : "Approval needed", info_str(w, "tool"));
	context = cs_asprintf("request %s, waiting %lld s, deadline in %lld s",
	    w->request, (long long) waited, (long long) left);
	if (cmd == NULL || summary == NULL || header == NULL ||
	    context == NULL)
		goto done;
	for (char *c = header; *c != '\0'; c++)
		if ((unsigned char) *c < 0x20 || *c == 0x7f)
			*c = ' ';
	o = json_pack("{s:s, s:[{s:s, s:{s:s, s:s}}, {s:s, s:[o,o,o,o,o,o]},"
	    " {s:s, s:{s:s, s:s}}, {s:s, s:{s:s, s:s}}, {s:s, s:[{s:s, s:s}]}"
	    "]}",
	    "text", summary,
	    "blocks",
	    "type", "header", "text", "type", "plain_text", "text", header,
	    "type", "section", "fields",
	    slack_field("Tool", info_str(w, "tool")),
	    slack_field("Risk", info_str(w, "risk")),
	    slack_field("Agent", info_str(w, "agent")),
	    slack_field("Human", info_str(w, "user")),
	    slack_field("Rule", info_str(w, "rule")),
	    slack_field("Session", info_str(w, "session")),
	    "type", "section", "text", "type", "mrkdwn", "text", reason,
	    "type", "section", "text", "type", "mrkdwn", "text", cmd,
	    "type", "context", "elements", "type", "mrkdwn", "text", context);
	if (o != NULL)
		text = json_dumps(o, JSON_COMPACT);
done:
	json_decref(o);
	free(tool);
	free(agent);
	free(user);
	free(reason);
	free(decide);
	free(cmd);
	free(summary);
	free(header);
	free(context);
	return text;
}

/* Throw away the receiver's answer. */
static size_t
discard_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	(void) ptr;
	(void) ud;
	return size * nmemb;
}

/* Start the waiting pages that may go now (lock held). Returns the next
 * time a waiting page may go. */
static int64_t
start_pages(tp_webhook *wh, int64_t now)
{
	int64_t next = INT64_MAX;
	struct page *p, *after;

	for (p = wh->q_head; p != NULL; p = after) {
		struct target *tg;
		struct watch *w;

		after = p->next;
		if (p->not_before > now) {
			if (p->not_before < next)
				next = p->not_before;
			continue;
		}
		if (wh->inflight >= INFLIGHT_MAX)
			break;
		tg = &wh->targets[p->target];
		if (tg->inflight >= INFLIGHT_TARGET)
			continue; /* its turn comes when one of them ends */
		queue_unlink(wh, p);
		w = core_map_get(wh->watches, p->request);
		if (w == NULL || now >= w->deadline_mono) {
			cs_log("%s: %s page for %s not sent: %s", tg->label,
			    stage_names[p->stage], p->request,
			    w == NULL ? "decided" : "past its deadline");
			page_free(p);
			continue;
		}
		p->body = tg->t.slack ? slack_body(wh, w, p->stage, now) :
		    generic_body(wh, w, p->stage, now);
		if (p->body == NULL || (p->easy = curl_easy_init()) == NULL ||
		    (p->headers = curl_slist_append(NULL,
		    "Content-Type: application/json")) == NULL ||
		    curl_slist_append(p->headers, "Expect:") == NULL) {
			cs_log("%s: %s page for %s not sent: out of memory",
			    tg->label, stage_names[p->stage], p->request);
			page_free(p);
			continue;
		}
		p->attempt++;
		p->started = now;
		p->error[0] = '\0';
		curl_easy_setopt(p->easy, CURLOPT_URL, tg->t.url);
		curl_easy_setopt(p->easy, CURLOPT_PROTOCOLS_STR, "http,https");
		curl_easy_setopt(p->easy, CURLOPT_HTTPHEADER, p->headers);
		curl_easy_setopt(p->easy, CURLOPT_POSTFIELDS, p->body);
		curl_easy_setopt(p->easy, CURLOPT_POSTFIELDSIZE,
		    (long) strlen(p->body));
		curl_easy_setopt(p->easy, CURLOPT_USERAGENT, "countersignd");
		curl_easy_setopt(p->easy, CURLOPT_TIMEOUT_MS,
		    (long) tg->t.timeout_ms);
		curl_easy_setopt(p->easy, CURLOPT_CONNECTTIMEOUT_MS,
		    (long) tg->t.timeout_ms);
		curl_easy_setopt(p->easy, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(p->easy, CURLOPT_WRITEFUNCTION, discard_cb);
		curl_easy_setopt(p->easy, CURLOPT_ERRORBUFFER, p->error);
		curl_easy_setopt(p->easy, CURLOPT_PRIVATE, p);
		if (curl_multi_add_handle(wh->multi, p->easy) != CURLM_OK) {
			cs_log("%s: %s page for %s not sent: libcurl refused "
			    "the transfer", tg->label, stage_names[p->stage],
			    p->request);
			page_free(p);
			continue;
		}
		p->prev = NULL;
		p->next = wh->f_head;
		if (wh->f_head != NULL)
			wh->f_head->prev = p;
		wh->f_head = p;
		wh->inflight++;
		tg->inflight++;
	}
	return next;
}

/* An attempt ended: log it, and queue a retry when it may help. */
static void
attempt_done(tp_webhook *wh, struct page *p, CURLcode res)
{
	struct target *tg = &wh->targets[p->target];
	long code = 0;
	int64_t now = cs_mono_ms(), delay;
	bool ok, retry;
	char what[CURL_ERROR_SIZE + 64];

	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		wh->f_head = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	wh->inflight--;
	tg->inflight--;
	curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_multi_remove_handle(wh->multi, p->easy);
	curl_easy_cleanup(p->easy);
	p->easy = NULL;
	curl_slist_free_all(p->headers);
	p->headers = NULL;
	free(p->body);
	p->body = NULL;
	ok = res == CURLE_OK && code >= 200 && code < 300;
	retry = !ok && p->attempt <= tg->t.retries &&
	    (res != CURLE_OK || code >= 500 || code == 408 || code == 429);
	if (res != CURLE_OK)
		snprintf(what, sizeof what, "%s", p->error[0] != '\0' ?
		    p->error : curl_easy_strerror(res));
	else
		snprintf(what, sizeof what, "HTTP %ld", code);
	if (ok) {
		cs_log("%s: %s page for %s delivered (%s, attempt %d, %lld ms)",
		    tg->label, stage_names[p->stage], p->request, what,
		    p->attempt, (long long) (now - p->started));
		page_free(p);
		return;
	}
	if (!retry) {
		cs_log("%s: %s page for %s failed (%s, attempt %d of %d, "
		    "%lld ms): giving up", tg->label, stage_names[p->stage],
		    p->request, what, p->attempt, tg->t.retries + 1,
		    (long long) (now - p->started));
		page_free(p);
		return;
	}
	delay = wh->backoff_ms;
	for (int i = 1; i < p->attempt && delay < BACKOFF_CAP_MS; i++)
		delay *= 2;
	if (delay > BACKOFF_CAP_MS)
		delay = BACKOFF_CAP_MS;
	cs_log("%s: %s page for %s failed (%s, attempt %d of %d, %lld ms): "
	    "retry in %lld ms", tg->label, stage_names[p->stage], p->request,
	    what, p->attempt, tg->t.retries + 1,
	    (long long) (now - p->started), (long long) delay);
	p->not_before = now + delay;
	pthread_mutex_lock(&wh->mtx);
	queue_put(wh, p);
	pthread_mutex_unlock(&wh->mtx);
}

/* The notifier thread. */
static void *
notifier_main(void *arg)
{
	tp_webhook *wh = arg;

	for (;;) {
		int64_t now, next, wake;
		uint64_t dropped, evicted;
		int running = 0, left;
		CURLMsg *m;

		pthread_mutex_lock(&wh->mtx);
		if (wh->stop) {
			pthread_mutex_unlock(&wh->mtx);
			break;
		}
		now = cs_mono_ms();
		next = schedule(wh, now);
		wake = start_pages(wh, now);
		if (wake < next)
			next = wake;
		dropped = wh->dropped;
		evicted = wh->evicted;
		wh->dropped = wh->evicted = 0;
		wh->dropped_total += dropped;
		wh->evicted_total += evicted;
		pthread_mutex_unlock(&wh->mtx);
		if (dropped > 0)
			cs_log("webhooks: queue full (%zu pages): dropped the "
			    "%llu oldest (%llu in all)", wh->queue_max,
			    (unsigned long long) dropped,
			    (unsigned long long) wh->dropped_total);
		if (evicted > 0)
			cs_log("webhooks: following %zu undecided calls at "
			    "most: stopped following the %llu oldest (%llu in "
			    "all)",
			    wh->track_max, (unsigned long long) evicted,
			    (unsigned long long) wh->evicted_total);

		curl_multi_perform(wh->multi, &running);
		while ((m = curl_multi_info_read(wh->multi, &left)) != NULL) {
			struct page *p = NULL;

			if (m->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
			    (char **) &p);
			attempt_done(wh, p, m->data.result);
			next = now; /* a retry or a free slot: look again */
		}
		wake = next == INT64_MAX ? IDLE_WAKE_MS : next - cs_mono_ms();
		if (wake > IDLE_WAKE_MS)
			wake = IDLE_WAKE_MS;
		if (wake > 0)
			curl_multi_poll(wh->multi, NULL, 0, (int) wake, NULL);
	}
	return NULL;
}

/* "http://host:port" of a URL, without path, query or user info. */
static void
url_origin(const char *url, char *out, size_t size)
{
	const char *sep = strstr(url, "://");
	const char *host = sep != NULL ? sep + 3 : url;
	size_t len = strcspn(host, "/?#");
	const char *at = memchr(host, '@', len);

	if (at != NULL) {
		len -= (size_t) (at + 1 - host);
		host = at + 1;
	}
	snprintf(out, size, "%.*s%.*s", (int) (sep != NULL ? sep + 3 - url :
	    0), url, (int) len, host);
}

/* A shell-safe spelling of a path (quoted when it must be). */
static char *
shell_quote(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789/._-+:@") == strlen(s))
		return strdup(s);
	if ((f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	fputc('\'', f);
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			fputs("'\\''", f);
		else
			fputc(*s, f);
	}
	fputc('\'', f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Free everything the notifier owns (the thread has stopped). */
static void
webhook_free(tp_webhook *wh)
{
	struct page *p, *next;
	struct watch *w;

	for (p = wh->f_head; p != NULL; p = next) {
		next = p->next;
		curl_multi_remove_handle(wh->multi, p->easy);
		page_free(p);
	}
	if (wh->multi != NULL)
		curl_multi_cleanup(wh->multi);
	for (p = wh->q_head; p != NULL; p = next) {
		next = p->next;
		page_free(p);
	}
	while ((w = wh->w_head) != NULL)
		watch_drop(wh, w);
	core_map_free(wh->watches);
	for (size_t i = 0; i < wh->target_count; i++)
		free((char *) (uintptr_t) wh->targets[i].t.url);
	free(wh->targets);
	free(wh->decide);
	pthread_mutex_destroy(&wh->mtx);
	free(wh);
	curl_global_cleanup();
}

cs_err
tp_webhook_open(const tp_webhook_opts *o, tp_webhook **out, char **cause)
{
	tp_webhook *wh;
	char *home = NULL;

	if (o->target_count == 0 || o->target_count > 16) {
		cs_set_cause(cause, "webhooks: 1 to 16 targets");
		return CS_EINVAL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		cs_set_cause(cause, "webhooks: libcurl did not initialize");
		return CS_ETRANSPORT;
	}
	if ((wh = calloc(1, sizeof *wh)) == NULL) {
		curl_global_cleanup();
		return CS_ENOMEM;
	}
	pthread_mutex_init(&wh->mtx, NULL);
	wh->queue_max = o->queue_max > 0 ? o->queue_max : 1;
	wh->track_max = o->track_max > 0 ? o->track_max : 1;
	wh->backoff_ms = o->backoff_ms > 0 ? o->backoff_ms : 1000;
	if ((wh->targets = calloc(o->target_count, sizeof *wh->targets)) ==
	    NULL || (wh->watches = core_map_new()) == NULL ||
	    (wh->multi = curl_multi_init()) == NULL ||
	    (home = shell_quote(o->home)) == NULL ||
	    (wh->decide = cs_asprintf("countersignctl --home %s decide",
	    home)) == NULL)
		goto oom;
	for (size_t i = 0; i < o->target_count; i++) {
		struct target *tg = &wh->targets[i];
		char origin[160];

		tg->t = o->targets[i];
		if ((tg->t.url = strdup(o->targets[i].url)) == NULL)
			goto oom;
		wh->target_count = i + 1;
		url_origin(tg->t.url, origin, sizeof origin);
		snprintf(tg->label, sizeof tg->label, "webhook %zu (%s)", i + 1,
		    origin);
	}
	free(home);
	if (pthread_create(&wh->thread, NULL, notifier_main, wh) != 0) {
		cs_set_cause(cause, "webhooks: could not start the thread");
		webhook_free(wh);
		return CS_ENOMEM;
	}
	wh->thread_started = true;
	*out = wh;
	return CS_OK;
oom:
	free(home);
	webhook_free(wh);
	return CS_ENOMEM;
}

void
tp_webhook_close(tp_webhook *wh)
{
	size_t waiting;

	if (wh == NULL)
		return;
	pthread_mutex_lock(&wh->mtx);
	wh->stop = true;
	pthread_mutex_unlock(&wh->mtx);
	curl_multi_wakeup(wh->multi);
	if (wh->thread_started)
		pthread_join(wh->thread, NULL);
	waiting = wh->queue_len + (size_t) wh->inflight;
	if (waiting > 0)
		cs_log("webhooks: stopping with %zu pages undelivered",
		    waiting);
	webhook_free(wh);
}
