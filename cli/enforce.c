/* enforce.c: the part of an enforcement point that talks to countersignd:
 * build the authorize request, wait for operators in slices, and turn
 * every failure into a deny with a reason (fail closed).
 * SPDX-License-Identifier: MIT */
#include "enforce.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "countersign.h"
#include "home.h"

/* How much longer than the wait the transport waits for the reply. */
#define REPLY_MARGIN_MS 3000
#define PENDING_PAUSE_MS 100 /* least time between two asks of a call */

/* Set a verdict's reason from a format. */
static void
verdict_set(enforce_verdict *v, enforce_decision d, const char *by,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
verdict_set(enforce_verdict *v, enforce_decision d, const char *by,
    const char *fmt, ...)
{
	va_list ap;
	char buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	v->decision = d;
	free(v->reason);
	v->reason = strdup(buf);
	free(v->by);
	v->by = strdup(by);
}

/* Copy a string member of obj into *dst (replacing it), if present. */
static void
take_str(const json_t *obj, const char *key, char **dst)
{
	const char *s = json_string_value(json_object_get(obj, key));

	if (s == NULL)
		return;
	free(*dst);
	*dst = strdup(s);
}

/* Read a decision reply into v. Returns true when the call is decided
 * (allow or deny), false while it is pending. */
static bool
verdict_from_reply(enforce_verdict *v, const json_t *reply)
{
	const char *type = json_string_value(json_object_get(reply, "type"));
	const char *d = json_string_value(json_object_get(reply, "decision"));
	const char *by = json_string_value(json_object_get(reply, "by"));

	if (type != NULL && strcmp(type, "error") == 0) {
		const char *code = json_string_value(json_object_get(reply,
		    "code"));
		const char *msg = json_string_value(json_object_get(reply,
		    "message"));

		verdict_set(v, ENFORCE_DENY, "error", "countersignd refused "
		    "the request: %s: %s", code != NULL ? code : "error",
		    msg != NULL ? msg : "no message");
		return true;
	}
	take_str(reply, "request", &v->request);
	take_str(reply, "rule", &v->rule);
	if (d == NULL || (strcmp(d, "allow") != 0 && strcmp(d, "deny") != 0 &&
	    strcmp(d, "pending") != 0)) {
		verdict_set(v, ENFORCE_DENY, "error", "countersignd sent a "
		    "reply without a decision");
		return true;
	}
	free(v->by);
	v->by = strdup(by != NULL ? by : "policy");
	free(v->reason);
	v->reason = NULL;
	take_str(reply, "reason", &v->reason);
	if (strcmp(d, "pending") == 0) {
		v->decision = ENFORCE_PENDING;
		return false;
	}
	v->decision = strcmp(d, "allow") == 0 ? ENFORCE_ALLOW : ENFORCE_DENY;
	if (v->reason == NULL)
		v->reason = cs_asprintf("%s by %s%s%s", v->decision ==
		    ENFORCE_ALLOW ? "allowed" : "denied", v->by,
		    v->rule != NULL ? ", rule " : "",
		    v->rule != NULL ? v->rule : "");
	return true;
}

/* Build the authorize request of call (args already fitted). */
static json_t *
build_request(const enforce_call *call, json_t *args)
{
	json_t *req = json_pack("{s:i, s:s, s:s, s:s, s:s, s:I}", "v", 1,
	    "type", "authorize", "id", call->id, "token", call->token,
	    "tool", call->tool, "wait_ms", (json_int_t) 0);

	if (req == NULL)
		return NULL;
	if (call->session != NULL)
		json_object_set_new(req, "session", json_string(call->session));
	if (args != NULL)
		json_object_set(req, "args", args);
	if (call->context != NULL && json_object_size(call->context) > 0)
		json_object_set(req, "context", call->context);
	return req;
}

void
enforce_authorize(const enforce_call *call, enforce_verdict *out)
{
	enforce_verdict v = { 0 };
	json_t *args = NULL, *req = NULL, *reply = NULL;
	cs_client *c = NULL;
	char *cause = NULL, waited[32];
	int64_t start = cs_mono_ms(), elapsed, slice, asked;
	cs_err rv;

	if (call->args != NULL && (args = enforce_args_fit(call->args,
	    ENFORCE_ARGS_MAX, &cause)) == NULL) {
		verdict_set(&v, ENFORCE_DENY, "gateway", "%s", cause != NULL ?
		    cause : "out of memory");
		goto done;
	}
	if ((req = build_request(call, args)) == NULL) {
		verdict_set(&v, ENFORCE_DENY, "gateway", "out of memory");
		goto done;
	}
	if ((rv = cs_client_open(call->url, &c, &cause)) != CS_OK) {
		verdict_set(&v, ENFORCE_DENY, "gateway", "%s; denied because "
		    "countersign cannot be asked (fail closed)", cause != NULL ?
		    cause : cs_strerror(rv));
		goto done;
	}
	for (;;) {
		elapsed = cs_mono_ms() - start;
		slice = call->wait_ms - elapsed;
		if (slice < 0)
			slice = 0;
		if (call->slice_ms > 0 && slice > call->slice_ms)
			slice = call->slice_ms;
		json_object_set_new(req, "wait_ms", json_integer(slice));
		json_decref(reply);
		reply = NULL;
		free(cause);
		cause = NULL;
		asked = cs_mono_ms();
		rv = cs_client_call_json(c, req, slice + REPLY_MARGIN_MS,
		    &reply, &cause);
		if (rv != CS_OK) {
			verdict_set(&v, ENFORCE_DENY, "gateway", "%s; denied "
			    "(fail closed)", cause != NULL ? cause :
			    cs_strerror(rv));
			break;
		}
		if (verdict_from_reply(&v, reply))
			break;
		elapsed = cs_mono_ms() - start;
		if (elapsed >= call->wait_ms) {
			enforce_fmt_ms(call->wait_ms, waited, sizeof waited);
			free(v.reason);
			v.reason = cs_asprintf("no operator decided within %s",
			    waited);
			break;
		}
		if (call->on_wait != NULL)
			call->on_wait(call->ud, elapsed, v.request);
		if (slice > 0 && cs_mono_ms() - asked < PENDING_PAUSE_MS) {
			/* "pending" came back long before the wait asked
			 * for: pause rather than ask again at once */
			int64_t ms = call->wait_ms - elapsed;
			struct timespec ts;

			if (ms > PENDING_PAUSE_MS)
				ms = PENDING_PAUSE_MS;
			ts.tv_sec = 0;
			ts.tv_nsec = (long) ms * 1000000L;
			nanosleep(&ts, NULL);
		}
	}
done:
	if (v.reason == NULL)
		v.reason = strdup("out of memory");
	if (v.reason == NULL || v.by == NULL) {
		/* out of memory: still a deny, with static-free strings */
		v.decision = ENFORCE_DENY;
	}
	cs_client_close(c);
	json_decref(reply);
	json_decref(req);
	json_decref(args);
	free(cause);
	*out = v;
}

void
enforce_verdict_fini(enforce_verdict *v)
{
	if (v == NULL)
		return;
	free(v->reason);
	free(v->request);
	free(v->rule);
	free(v->by);
	memset(v, 0, sizeof *v);
}

char *
enforce_message(const char *lead, const enforce_verdict *v)
{
	return cs_asprintf("%s: %s%s%s%s", lead, v->reason != NULL ?
	    v->reason : "out of memory", v->request != NULL ? " (request " :
	    "", v->request != NULL ? v->request : "", v->request != NULL ?
	    ")" : "");
}

/* Length of the longest prefix of s (at most max bytes) that does not end
 * inside a UTF-8 sequence. */
static size_t
utf8_cut(const char *s, size_t len, size_t max)
{
	size_t cut = len < max ? len : max;

	while (cut > 0 && cut < len &&
	    ((unsigned char) s[cut] & 0xC0) == 0x80)
		cut--;
	return cut;
}

/* A short stand-in for a long string: its head, length and digest (new
 * reference, NULL on OOM). */
static json_t *
summary_of(const json_t *str, size_t limit)
{
	const char *s = json_string_value(str);
	size_t len = json_string_length(str);
	char *text = cs_summary(s, len, utf8_cut(s, len, limit / 2));
	json_t *out = text != NULL ? json_string(text) : NULL;

	free(text);
	return out;
}

/* A string longer than the limit, where it sits. */
struct long_str {
	json_t *parent;  /* object or array */
	const char *key; /* member name, or NULL in an array */
	size_t index;
	size_t len;
};

struct long_strs {
	struct long_str *v;
	size_t n, cap;
};

/* Note s when its string is longer than limit. False on OOM. */
static bool
note_long(struct long_strs *l, struct long_str s, const json_t *item,
    size_t limit)
{
	if ((s.len = json_string_length(item)) <= limit)
		return true;
	if (l->n == l->cap) {
		size_t cap = l->cap != 0 ? l->cap * 2 : 16;
		struct long_str *g = realloc(l->v, cap * sizeof *g);

		if (g == NULL)
			return false;
		l->v = g;
		l->cap = cap;
	}
	l->v[l->n++] = s;
	return true;
}

/* Collect every string longer than limit inside v (objects and arrays,
 * recursively). False on OOM. */
static bool
collect_long(json_t *v, size_t limit, struct long_strs *l)
{
	const char *key;
	json_t *item;
	size_t i;
	bool ok = true;

	if (json_is_object(v)) {
		json_object_foreach(v, key, item)
			ok = ok && (json_is_string(item) ? note_long(l,
			    (struct long_str) { v, key, 0, 0 }, item, limit) :
			    collect_long(item, limit, l));
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item)
			ok = ok && (json_is_string(item) ? note_long(l,
			    (struct long_str) { v, NULL, i, 0 }, item, limit) :
			    collect_long(item, limit, l));
	}
	return ok;
}

/* Longest first. */
static int
long_str_cmp(const void *a, const void *b)
{
	const struct long_str *x = a, *y = b;

	return x->len != y->len ? (x->len < y->len ? 1 : -1) : 0;
}

/* Replace one collected string with its summary; the bytes saved (an
 * estimate), or SIZE_MAX on OOM. */
static size_t
summarize_one(const struct long_str *s, size_t limit)
{
	json_t *item = s->key != NULL ? json_object_get(s->parent, s->key) :
	    json_array_get(s->parent, s->index);
	json_t *sum = summary_of(item, limit);
	size_t sum_len = sum != NULL ? json_string_length(sum) : 0;

	if (sum == NULL || (s->key != NULL ?
	    json_object_set_new(s->parent, s->key, sum) :
	    json_array_set_new(s->parent, s->index, sum)) != 0)
		return SIZE_MAX;
	return s->len > sum_len ? s->len - sum_len : 0;
}

/* Canonical length of v, or SIZE_MAX on OOM. */
static size_t
canon_len(const json_t *v)
{
	char *text = cs_json_canon(v);
	size_t len;

	if (text == NULL)
		return SIZE_MAX;
	len = strlen(text);
	free(text);
	return len;
}

json_t *
enforce_args_fit(json_t *args, size_t max_len, char **cause)
{
	static const size_t limits[] = { 1024, 256, 64 };
	size_t len = canon_len(args);

	if (len <= max_len)
		return json_incref(args);
	/* the longest strings are summarized first, and only until the
	 * arguments fit: a short field a policy reads (a path, a command)
	 * stays whole unless it is itself among the longest */
	for (size_t i = 0; i < CS_ARRAY_LEN(limits); i++) {
		json_t *copy = json_deep_copy(args);
		struct long_strs l = { NULL, 0, 0 };
		size_t est = len, j = 0;
		bool ok = copy != NULL && collect_long(copy, limits[i], &l);

		if (ok && l.n > 1)
			qsort(l.v, l.n, sizeof *l.v, long_str_cmp);
		while (ok && j < l.n) {
			size_t saved;

			if (est <= max_len) {
				/* the estimate says it fits: measure */
				if ((est = canon_len(copy)) <= max_len)
					break;
			}
			if ((saved = summarize_one(&l.v[j++], limits[i])) ==
			    SIZE_MAX)
				ok = false;
			else
				est = est > saved ? est - saved : 0;
		}
		free(l.v);
		if (!ok) {
			json_decref(copy);
			cs_set_cause(cause, "out of memory");
			return NULL;
		}
		if (canon_len(copy) <= max_len)
			return copy;
		json_decref(copy);
	}
	cs_set_cause(cause, "the arguments are too large to authorize "
	    "(%zu bytes of JSON, more than %zu even with long strings "
	    "summarized)", len, max_len);
	return NULL;
}

char *
enforce_read_token(const char *path, char **cause)
{
	char *buf = NULL, *start, *end;
	size_t len = 0;

	if (cs_read_file(path, 16384, &buf, &len, cause) != CS_OK)
		return NULL;
	if (strlen(buf) != len) {
		free(buf);
		cs_set_cause(cause, "%s: NUL byte in the token file", path);
		return NULL;
	}
	for (start = buf; isspace((unsigned char) *start); start++)
		;
	end = start + strlen(start);
	while (end > start && isspace((unsigned char) end[-1]))
		end--;
	*end = '\0';
	if (*start == '\0') {
		free(buf);
		cs_set_cause(cause, "%s: empty token file", path);
		return NULL;
	}
	memmove(buf, start, (size_t) (end - start) + 1);
	return buf;
}

char *
enforce_token_claim(const char *jwt, const char *name)
{
	const char *p = jwt != NULL ? strchr(jwt, '.') : NULL, *q;
	unsigned char *buf;
	size_t len;
	json_t *root;
	char *value = NULL;

	if (p == NULL || (q = strchr(++p, '.')) == NULL || q - p > 16384 ||
	    cs_b64url_decode(p, (size_t) (q - p), &buf, &len) != CS_OK)
		return NULL;
	root = json_loadb((const char *) buf, len, JSON_REJECT_DUPLICATES,
	    NULL);
	free(buf);
	if (json_is_string(json_object_get(root, name)))
		value = strdup(json_string_value(json_object_get(root, name)));
	json_decref(root);
	return value;
}

char *
enforce_agent_url(const char *home_arg, char **cause)
{
	const char *env = getenv("COUNTERSIGN_AGENT_URL");
	char *home, *url;

	if (env != NULL && *env != '\0')
		return strdup(env);
	if ((home = cs_home_resolve(home_arg, cause)) == NULL)
		return NULL;
	url = cs_home_url(home, "agent.ipc");
	free(home);
	if (url == NULL)
		cs_set_cause(cause, "out of memory");
	return url;
}

cs_err
enforce_new_id(const char *prefix, char *out, size_t size)
{
	char hex[17];
	cs_err rv;

	if ((rv = cs_random_hex(hex, 8)) != CS_OK)
		return rv;
	if ((size_t) snprintf(out, size, "%s-%s", prefix, hex) >= size)
		return CS_EINVAL;
	return CS_OK;
}

void
enforce_fmt_ms(int64_t ms, char *out, size_t size)
{
	long long s = (long long) (ms / 1000);

	if (ms % 1000 != 0 && s < 10)
		snprintf(out, size, "%lldms", (long long) ms);
	else if (s < 60 || s % 60 != 0)
		snprintf(out, size, "%llds", s);
	else if (s < 3600 || s % 3600 != 0)
		snprintf(out, size, "%lldm", s / 60);
	else
		snprintf(out, size, "%lldh", s / 3600);
}
