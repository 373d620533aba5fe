/* tp_http.c: the HTTP ingress on nng's HTTP server: one handler for the
 * whole tree (so every answer, 404 and 405 included, is JSON), a table of
 * slots (one per call in flight) addressed by handle, and a bounded memory
 * of which token made which request, so that a status query needs the
 * token that made the call.
 * SPDX-License-Identifier: MIT */
#include "tp_http.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nng/supplemental/http/http.h>

#include "map.h"
#include "req.h"

#define BODY_TIMEOUT_MS 10000 /* a client gets this long to send its body */
#define BEARER_MAX 16384
#define PATH_MAX_LEN 512
#define REQUESTS_PREFIX "/v1/requests/"

enum slot_state { SLOT_FREE, SLOT_READ, SLOT_WAIT };
enum slot_kind { KIND_AUTHORIZE, KIND_STATUS };

/* One HTTP call in flight. */
struct hslot {
	tp_http *h;
	uint32_t index;
	uint32_t gen;          /* bumped on every call: stale handles */
	enum slot_state state;
	enum slot_kind kind;
	nng_aio *uaio;         /* the server's handler aio while busy */
	nng_http_conn *conn;   /* borrowed from uaio while reading */
	nng_aio *rx;           /* ours: "100 Continue", then the body */
	bool continuing;       /* rx is writing "100 Continue" */
	int cancelled;         /* nng error that aborted the call, or 0 */
	char *body;            /* owned, body_len bytes */
	size_t body_len;
	char *bearer;          /* owned */
	char tok[65];          /* SHA-256 hex of the bearer token */
};

/* Which token made a request. */
struct bind {
	char request[64];
	char tok[65];
};

struct tp_http {
	pthread_mutex_t mtx;
	pthread_cond_t idle;
	nng_http_server *srv;
	char url[300];
	size_t max_body;
	uint64_t tag;
	tp_server_recv_cb cb;
	tp_http_pending_fn pending_count;
	void *ud;
	struct hslot *slots;
	int slot_count;
	int active;            /* handler and body callbacks running now */
	bool closing;
	bool stopped;          /* tp_http_stop: serves nothing any more */
	bool audit_ok;
	core_map *binds;       /* request -> struct bind in ring */
	struct bind *ring;
	size_t ring_len, ring_pos;
};

static char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* Complete the server's aio with a JSON response (body copied). */
static void
respond(nng_aio *aio, uint16_t status, const char *body, size_t len,
    bool close, const char *hname, const char *hval)
{
	nng_http_res *res;

	if (nng_http_res_alloc(&res) != 0) {
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	if (nng_http_res_set_status(res, status) != 0 ||
	    nng_http_res_set_header(res, "Content-Type",
	    "application/json") != 0 ||
	    nng_http_res_set_header(res, "Cache-Control", "no-store") != 0 ||
	    (close && nng_http_res_set_header(res, "Connection",
	    "close") != 0) ||
	    (hname != NULL && nng_http_res_set_header(res, hname,
	    hval) != 0) ||
	    nng_http_res_copy_data(res, body, len) != 0) {
		nng_http_res_free(res);
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	nng_aio_set_output(aio, 0, res);
	nng_aio_finish(aio, 0);
}

/* Complete the server's aio with a wire-style error object. */
static void
respond_error(nng_aio *aio, uint16_t status, const char *code,
    const char *message, bool close, const char *hname, const char *hval)
{
	json_t *o = json_pack("{s:i, s:s, s:s, s:s}", "v", 1, "type", "error",
	    "code", code, "message", message);
	char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	char *line = text != NULL ? cs_asprintf("%s\n", text) : NULL;

	json_decref(o);
	free(text);
	if (line == NULL) {
		nng_aio_finish(aio, NNG_ENOMEM);
		return;
	}
	respond(aio, status, line, strlen(line), close, hname, hval);
	free(line);
}

/* Whether the request carries a body nobody has read yet. */
static bool
has_body(nng_http_req *req)
{
	const char *cl = nng_http_req_get_header(req, "Content-Length");

	return nng_http_req_get_header(req, "Transfer-Encoding") != NULL ||
	    (cl != NULL && strspn(cl, "0 \t") != strlen(cl));
}

/* Whether a header that frames the body was sent with whitespace before
 * its colon ("Content-Length : 9"). RFC 9112 says to refuse that: nng
 * keeps the space in the name, so the length would go unread and the
 * body be taken for the next request, as a proxy in front would not. */
static bool
framing_ambiguous(nng_http_req *req)
{
	static const char *const names[] = { "Content-Length ",
		"Content-Length\t", "Transfer-Encoding ",
		"Transfer-Encoding\t" };

	for (size_t i = 0; i < CS_ARRAY_LEN(names); i++) {
		if (nng_http_req_get_header(req, names[i]) != NULL)
			return true;
	}
	return false;
}

/* Whether Content-Type is application/json (parameters allowed). */
static bool
is_json(nng_http_req *req)
{
	const char *v = nng_http_req_get_header(req, "Content-Type");

	if (v == NULL)
		return false;
	v += strspn(v, " \t");
	if (strncasecmp(v, "application/json", 16) != 0)
		return false;
	v += 16;
	v += strspn(v, " \t");
	return *v == '\0' || *v == ';';
}

/* Find the token of "Authorization: Bearer TOKEN": 1..BEARER_MAX visible
 * ASCII characters. */
static bool
bearer_of(nng_http_req *req, const char **tok, size_t *len)
{
	const char *v = nng_http_req_get_header(req, "Authorization");
	size_t n;

	if (v == NULL || strncasecmp(v, "Bearer", 6) != 0 ||
	    (v[6] != ' ' && v[6] != '\t'))
		return false;
	v += 6;
	v += strspn(v, " \t");
	for (n = 0; v[n] > 0x20 && v[n] < 0x7f; n++)
		;
	if (n == 0 || n > BEARER_MAX || v[n + strspn(v + n, " \t")] != '\0')
		return false;
	*tok = v;
	*len = n;
	return true;
}

/* The most slots one token may hold: three quarters, so that a client
 * that parks calls and hangs up (nng does not tell a handler its
 * connection went away) leaves room for the others. */
static int
token_share(const tp_http *h)
{
	int share = h->slot_count - h->slot_count / 4;

	return share < h->slot_count ? share : h->slot_count - 1;
}

/* Take a free slot for the token hashed as tok (lock held): NULL when all
 * are busy, or when that token holds its share already (*over set). */
static struct hslot *
slot_take(tp_http *h, const char *tok, bool *over)
{
	struct hslot *free_slot = NULL;
	int mine = 0;

	*over = false;
	for (int i = 0; i < h->slot_count; i++) {
		struct hslot *s = &h->slots[i];

		if (s->state == SLOT_FREE) {
			if (free_slot == NULL)
				free_slot = s;
		} else if (strcmp(s->tok, tok) == 0)
			mine++;
	}
	if (free_slot != NULL && h->slot_count > 1 &&
	    mine >= token_share(h)) {
		*over = true;
		return NULL;
	}
	if (free_slot != NULL) {
		free_slot->gen++;
		free_slot->cancelled = 0;
		free_slot->continuing = false;
		memcpy(free_slot->tok, tok, sizeof free_slot->tok);
	}
	return free_slot;
}

/* Answer a call refused a slot by slot_take. */
static void
respond_no_slot(nng_aio *aio, bool over, bool unread)
{
	if (over)
		respond_error(aio, 429, "busy", "this token has as many HTTP "
		    "calls in flight as one token may", unread, "Retry-After",
		    "1");
	else
		respond_error(aio, 503, "busy", "too many HTTP calls in "
		    "flight", unread, "Retry-After", "1");
}

/* Release a slot (lock held). */
static void
slot_free(struct hslot *s)
{
	free(s->body);
	free(s->bearer);
	s->body = NULL;
	s->bearer = NULL;
	s->body_len = 0;
	s->uaio = NULL;
	s->conn = NULL;
	s->state = SLOT_FREE;
}

/* The handle of a slot's current call. */
static uint64_t
slot_handle(const struct hslot *s)
{
	return s->h->tag | ((uint64_t) s->index << 32) | s->gen;
}

/* Mark one callback finished (lock not held). */
static void
leave(tp_http *h)
{
	pthread_mutex_lock(&h->mtx);
	if (--h->active == 0)
		pthread_cond_broadcast(&h->idle);
	pthread_mutex_unlock(&h->mtx);
}

/* Remember that the token hashed as tok made request (lock held); the
 * oldest memory goes first. */
static void
bind_put(tp_http *h, const char *request, const char *tok)
{
	struct bind *b;

	if (strlen(request) >= sizeof b->request ||
	    core_map_get(h->binds, request) != NULL)
		return;
	b = &h->ring[h->ring_pos];
	if (b->request[0] != '\0')
		core_map_del(h->binds, b->request);
	snprintf(b->request, sizeof b->request, "%s", request);
	memcpy(b->tok, tok, sizeof b->tok);
	if (core_map_put(h->binds, b->request, b, NULL) != CS_OK)
		b->request[0] = '\0';
	h->ring_pos = (h->ring_pos + 1) % h->ring_len;
}

/* Server's cancellation of a call in flight (server stopping). */
static void
cancel_cb(nng_aio *aio, void *arg, int rv)
{
	struct hslot *s = arg; /* slots live as long as the ingress */
	tp_http *h = s->h;

	pthread_mutex_lock(&h->mtx);
	if (s->uaio != aio || s->state == SLOT_FREE) {
		pthread_mutex_unlock(&h->mtx);
		return;
	}
	if (s->state == SLOT_READ) {
		/* the body callback finishes the call */
		s->cancelled = rv;
		pthread_mutex_unlock(&h->mtx);
		nng_aio_cancel(s->rx);
		return;
	}
	slot_free(s);
	pthread_mutex_unlock(&h->mtx);
	nng_aio_finish(aio, rv);
}

/* Hand a slot's frame to the engine (lock held on entry, released). */
static void
dispatch(tp_http *h, struct hslot *s, char *frame, size_t len)
{
	uint64_t handle;
	nng_aio *uaio = s->uaio;
	int cancelled = s->cancelled;

	if (h->closing || cancelled != 0) {
		slot_free(s);
		pthread_mutex_unlock(&h->mtx);
		free(frame);
		if (cancelled != 0)
			nng_aio_finish(uaio, cancelled);
		else
			respond_error(uaio, 503, "unavailable",
			    "countersignd is shutting down", true, NULL, NULL);
		return;
	}
	s->state = SLOT_WAIT;
	free(s->body);
	free(s->bearer);
	s->body = NULL;
	s->bearer = NULL;
	handle = slot_handle(s);
	pthread_mutex_unlock(&h->mtx);
	/* the reply may complete (and free) the slot before cb returns */
	h->cb(h->ud, handle, frame, len, -1);
	free(frame);
}

/* The agent frame of an authorize body: the caller's JSON with the bearer
 * token injected. A body that is not a JSON object goes to the engine as
 * it came, to be refused and audited there. NULL with *code set when the
 * body carries a token of its own, or on OOM. */
static char *
authorize_frame(const struct hslot *s, size_t *len, const char **code)
{
	json_t *root = json_loadb(s->body, s->body_len,
	    JSON_REJECT_DUPLICATES, NULL);
	char *frame;

	if (root == NULL || !json_is_object(root)) {
		json_decref(root);
		if ((frame = malloc(s->body_len + 1)) == NULL) {
			*code = "internal";
			return NULL;
		}
		if (s->body_len > 0)
			memcpy(frame, s->body, s->body_len);
		*len = s->body_len;
		return frame;
	}
	if (json_object_get(root, "token") != NULL) {
		json_decref(root);
		*code = "token_in_body";
		return NULL;
	}
	if (json_object_get(root, "v") == NULL)
		json_object_set_new(root, "v", json_integer(1));
	if (json_object_get(root, "type") == NULL)
		json_object_set_new(root, "type", json_string("authorize"));
	json_object_set_new(root, "token", json_string(s->bearer));
	frame = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (frame == NULL) {
		*code = "internal";
		return NULL;
	}
	*len = strlen(frame);
	return frame;
}

/* The body is in: build the frame and dispatch it (lock not held). */
static void
body_done(tp_http *h, struct hslot *s)
{
	const char *code = NULL;
	size_t len = 0;
	char *frame = authorize_frame(s, &len, &code);
	nng_aio *uaio;

	pthread_mutex_lock(&h->mtx);
	if (frame != NULL) {
		dispatch(h, s, frame, len);
		return;
	}
	uaio = s->uaio;
	slot_free(s);
	pthread_mutex_unlock(&h->mtx);
	if (strcmp(code, "token_in_body") == 0)
		respond_error(uaio, 400, code, "the token goes in the "
		    "Authorization header only, not in the body", false, NULL,
		    NULL);
	else
		respond_error(uaio, 503, code, "out of memory", true, NULL,
		    NULL);
}

/* Read the body into the slot's buffer. */
static void
start_read(struct hslot *s)
{
	nng_iov iov = { .iov_buf = s->body, .iov_len = s->body_len };

	nng_aio_set_iov(s->rx, 1, &iov);
	nng_aio_set_timeout(s->rx, BODY_TIMEOUT_MS);
	nng_http_conn_read_all(s->conn, s->rx);
}

/* Completion of "100 Continue" or of the body read. */
static void
rx_cb(void *arg)
{
	struct hslot *s = arg;
	tp_http *h = s->h;
	int rv = nng_aio_result(s->rx);
	nng_aio *uaio;
	bool closing;
	int cancelled;

	pthread_mutex_lock(&h->mtx);
	h->active++;
	if (rv == 0 && s->cancelled == 0 && !h->closing) {
		bool continuing = s->continuing;

		s->continuing = false;
		pthread_mutex_unlock(&h->mtx);
		if (continuing)
			start_read(s);
		else
			body_done(h, s);
		leave(h);
		return;
	}
	uaio = s->uaio;
	closing = h->closing;
	if ((cancelled = s->cancelled) != 0)
		rv = cancelled;
	slot_free(s);
	pthread_mutex_unlock(&h->mtx);
	if (closing && cancelled == 0)
		respond_error(uaio, 503, "unavailable",
		    "countersignd is shutting down", true, NULL, NULL);
	else if (rv == NNG_ETIMEDOUT)
		respond_error(uaio, 408, "timeout", "the request body did not "
		    "arrive in time", true, NULL, NULL);
	else
		nng_aio_finish(uaio, rv != 0 ? rv : NNG_ECLOSED);
	leave(h);
}

/* POST /v1/authorize. */
static void
route_authorize(tp_http *h, nng_aio *aio, nng_http_req *req,
    nng_http_conn *conn)
{
	const char *tok, *cl, *expect;
	char *end, msg[80], hash[65];
	size_t tok_len;
	unsigned long long body_len = 0;
	bool unread = has_body(req), over;
	struct hslot *s;

	if (!is_json(req)) {
		respond_error(aio, 415, "unsupported_media_type",
		    "Content-Type must be application/json", unread, NULL,
		    NULL);
		return;
	}
	if (!bearer_of(req, &tok, &tok_len)) {
		respond_error(aio, 401, "unauthorized", "missing or malformed "
		    "Authorization: Bearer header", unread, "WWW-Authenticate",
		    "Bearer realm=\"countersign\"");
		return;
	}
	if (nng_http_req_get_header(req, "Transfer-Encoding") != NULL) {
		respond_error(aio, 411, "length_required", "send the body with "
		    "a Content-Length", true, NULL, NULL);
		return;
	}
	if ((cl = nng_http_req_get_header(req, "Content-Length")) != NULL) {
		cl += strspn(cl, " \t");
		body_len = strtoull(cl, &end, 10);
		if (end == cl || *cl < '0' || *cl > '9' ||
		    end[strspn(end, " \t")] != '\0') {
			respond_error(aio, 400, "bad_request", "malformed "
			    "Content-Length", true, NULL, NULL);
			return;
		}
	}
	if (body_len > h->max_body) {
		snprintf(msg, sizeof msg, "body larger than %zu bytes",
		    h->max_body);
		respond_error(aio, 413, "too_large", msg, true, NULL, NULL);
		return;
	}
	cs_sha256_hex(tok, tok_len, hash);
	pthread_mutex_lock(&h->mtx);
	if ((s = slot_take(h, hash, &over)) == NULL) {
		pthread_mutex_unlock(&h->mtx);
		respond_no_slot(aio, over, unread);
		return;
	}
	s->state = SLOT_READ;
	s->kind = KIND_AUTHORIZE;
	s->uaio = aio;
	s->conn = conn;
	s->body_len = (size_t) body_len;
	s->body = malloc(s->body_len + 1);
	s->bearer = malloc(tok_len + 1);
	if (s->body == NULL || s->bearer == NULL) {
		slot_free(s);
		pthread_mutex_unlock(&h->mtx);
		respond_error(aio, 503, "internal", "out of memory", true, NULL,
		    NULL);
		return;
	}
	memcpy(s->bearer, tok, tok_len);
	s->bearer[tok_len] = '\0';
	expect = nng_http_req_get_header(req, "Expect");
	s->continuing = s->body_len > 0 && expect != NULL &&
	    strcasecmp(expect, "100-continue") == 0;
	pthread_mutex_unlock(&h->mtx);
	nng_aio_defer(aio, cancel_cb, s);
	if (s->body_len == 0) {
		body_done(h, s);
	} else if (s->continuing) {
		nng_iov iov = { .iov_buf = continue_line,
			.iov_len = sizeof continue_line - 1 };

		nng_aio_set_iov(s->rx, 1, &iov);
		nng_aio_set_timeout(s->rx, BODY_TIMEOUT_MS);
		nng_http_conn_write_all(conn, s->rx);
	} else
		start_read(s);
}

/* GET /v1/requests/{id}: the wire status query, for the token that made
 * the request only. */
static void
route_status(tp_http *h, nng_aio *aio, nng_http_req *req, const char *id)
{
	const char *tok;
	char hash[65];
	size_t tok_len, len;
	struct bind *b;
	struct hslot *s;
	json_t *o;
	char *frame;
	bool over;

	if (!bearer_of(req, &tok, &tok_len)) {
		respond_error(aio, 401, "unauthorized", "missing or malformed "
		    "Authorization: Bearer header", has_body(req),
		    "WWW-Authenticate", "Bearer realm=\"countersign\"");
		return;
	}
	cs_sha256_hex(tok, tok_len, hash);
	o = json_pack("{s:i, s:s, s:s}", "v", 1, "type", "status", "request",
	    id);
	frame = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (frame == NULL) {
		respond_error(aio, 503, "internal", "out of memory", true, NULL,
		    NULL);
		return;
	}
	len = strlen(frame);
	pthread_mutex_lock(&h->mtx);
	b = core_name_ok(id) ? core_map_get(h->binds, id) : NULL;
	if (b == NULL || strcmp(b->tok, hash) != 0) {
		pthread_mutex_unlock(&h->mtx);
		free(frame);
		respond_error(aio, 404, "not_found", "no such request for this "
		    "token", has_body(req), NULL, NULL);
		return;
	}
	if ((s = slot_take(h, hash, &over)) == NULL) {
		pthread_mutex_unlock(&h->mtx);
		free(frame);
		respond_no_slot(aio, over, has_body(req));
		return;
	}
	s->state = SLOT_READ; /* not answerable before dispatch */
	s->kind = KIND_STATUS;
	s->uaio = aio;
	pthread_mutex_unlock(&h->mtx);
	nng_aio_defer(aio, cancel_cb, s);
	pthread_mutex_lock(&h->mtx);
	dispatch(h, s, frame, len);
}

/* GET /healthz. */
static void
route_health(tp_http *h, nng_aio *aio)
{
	char body[160];
	bool ok;
	size_t pending = h->pending_count != NULL ?
	    h->pending_count(h->ud) : 0;
	int n;

	pthread_mutex_lock(&h->mtx);
	ok = h->audit_ok;
	pthread_mutex_unlock(&h->mtx);
	n = snprintf(body, sizeof body, "{\"status\":\"%s\",\"audit\":\"%s\","
	    "\"pending\":%zu}\n", ok ? "ok" : "unavailable",
	    ok ? "ok" : "unavailable", pending);
	respond(aio, ok ? 200 : 503, body, (size_t) n, false, NULL, NULL);
}

/* Route one request (the server's handler for the whole tree). */
static void
handler_cb(nng_aio *aio)
{
	nng_http_req *req = nng_aio_get_input(aio, 0);
	nng_http_handler *handler = nng_aio_get_input(aio, 1);
	nng_http_conn *conn = nng_aio_get_input(aio, 2);
	tp_http *h = nng_http_handler_get_data(handler);
	const char *method = nng_http_req_get_method(req);
	const char *uri = nng_http_req_get_uri(req);
	size_t path_len = strcspn(uri, "?#");
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	char path[PATH_MAX_LEN];

	pthread_mutex_lock(&h->mtx);
	if (h->closing) {
		pthread_mutex_unlock(&h->mtx);
		respond_error(aio, 503, "unavailable", "countersignd is "
		    "shutting down", true, NULL, NULL);
		return;
	}
	h->active++;
	pthread_mutex_unlock(&h->mtx);
	if (path_len >= sizeof path)
		path_len = 0;
	memcpy(path, uri, path_len);
	path[path_len] = '\0';
	if (framing_ambiguous(req)) {
		respond_error(aio, 400, "bad_request", "whitespace between a "
		    "header name and its colon", true, NULL, NULL);
	} else if (get && has_body(req)) {
		/* a body nobody reads would be taken for the next request
		 * on this connection: refuse it, and close */
		respond_error(aio, 400, "bad_request", "GET and HEAD take no "
		    "body", true, NULL, NULL);
	} else if (strcmp(path, "/v1/authorize") == 0) {
		if (strcmp(method, "POST") == 0)
			route_authorize(h, aio, req, conn);
		else
			respond_error(aio, 405, "method_not_allowed",
			    "use POST", has_body(req), "Allow", "POST");
	} else if (strcmp(path, "/healthz") == 0) {
		if (get)
			route_health(h, aio);
		else
			respond_error(aio, 405, "method_not_allowed", "use GET",
			    has_body(req), "Allow", "GET, HEAD");
	} else if (strncmp(path, REQUESTS_PREFIX,
	    strlen(REQUESTS_PREFIX)) == 0 &&
	    path[strlen(REQUESTS_PREFIX)] != '\0') {
		if (get)
			route_status(h, aio, req,
			    path + strlen(REQUESTS_PREFIX));
		else
			respond_error(aio, 405, "method_not_allowed", "use GET",
			    has_body(req), "Allow", "GET, HEAD");
	} else
		respond_error(aio, 404, "not_found", "no such path; see "
		    "/v1/authorize, /v1/requests/{id}, /healthz",
		    has_body(req), NULL, NULL);
	leave(h);
}

/* Map an agent reply to an HTTP status. */
static uint16_t
reply_status(const json_t *reply)
{
	const char *type = json_string_value(json_object_get(reply, "type"));
	const char *code = json_string_value(json_object_get(reply, "code"));

	if (type != NULL && strcmp(type, "decision") == 0)
		return 200;
	if (code == NULL)
		return 500;
	if (strcmp(code, "not_found") == 0)
		return 404;
	if (strcmp(code, "unavailable") == 0)
		return 503;
	if (strcmp(code, "internal") == 0)
		return 500;
	return 400;
}

cs_err
tp_http_reply(tp_http *h, uint64_t handle, const void *buf, size_t len)
{
	uint32_t index = (uint32_t) ((handle & ~h->tag) >> 32);
	uint32_t gen = (uint32_t) handle;
	struct hslot *s;
	enum slot_kind kind;
	nng_aio *uaio;
	char tok[65], *line;
	json_t *reply;
	const char *request;
	uint16_t status;

	if (index >= (uint32_t) h->slot_count)
		return CS_ENOTFOUND;
	s = &h->slots[index];
	pthread_mutex_lock(&h->mtx);
	if (s->state != SLOT_WAIT || s->gen != gen) {
		pthread_mutex_unlock(&h->mtx);
		return CS_ENOTFOUND;
	}
	uaio = s->uaio;
	kind = s->kind;
	memcpy(tok, s->tok, sizeof tok);
	slot_free(s);
	pthread_mutex_unlock(&h->mtx);

	reply = json_loadb(buf, len, 0, NULL);
	status = reply != NULL ? reply_status(reply) : 500;
	request = json_string_value(json_object_get(reply, "request"));
	if (kind == KIND_AUTHORIZE && status == 200 && request != NULL) {
		pthread_mutex_lock(&h->mtx);
		bind_put(h, request, tok);
		pthread_mutex_unlock(&h->mtx);
	}
	json_decref(reply);
	if ((line = malloc(len + 1)) == NULL) {
		nng_aio_finish(uaio, NNG_ENOMEM);
		return CS_ENOMEM;
	}
	memcpy(line, buf, len);
	line[len] = '\n';
	respond(uaio, status, line, len + 1, false, NULL, NULL);
	free(line);
	return CS_OK;
}

void
tp_http_set_health(tp_http *h, bool audit_ok)
{
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->mtx);
	h->audit_ok = audit_ok;
	pthread_mutex_unlock(&h->mtx);
}

const char *
tp_http_url(const tp_http *h)
{
	return h->url;
}

/* Free the ingress: the handler's destructor, run by nng once the server
 * is gone and no callback can reach it any more. */
static void
http_free(void *arg)
{
	tp_http *h = arg;

	for (int i = 0; i < h->slot_count; i++) {
		nng_aio_free(h->slots[i].rx);
		free(h->slots[i].body);
		free(h->slots[i].bearer);
	}
	free(h->slots);
	core_map_free(h->binds);
	free(h->ring);
	pthread_cond_destroy(&h->idle);
	pthread_mutex_destroy(&h->mtx);
	free(h);
}

/* Record the address served, with the port actually bound. */
static void
http_bound_url(tp_http *h, const nng_url *url)
{
	nng_sockaddr sa;
	int port = (int) strtol(url->u_port, NULL, 10);
	bool v6 = strchr(url->u_hostname, ':') != NULL;

	if (nng_http_server_get_addr(h->srv, &sa) == 0) {
		if (sa.s_family == NNG_AF_INET)
			port = ntohs(sa.s_in.sa_port);
		else if (sa.s_family == NNG_AF_INET6)
			port = ntohs(sa.s_in6.sa_port);
	}
	snprintf(h->url, sizeof h->url, "http://%s%s%s:%d", v6 ? "[" : "",
	    url->u_hostname, v6 ? "]" : "", port);
}

cs_err
tp_http_open(const tp_http_opts *o, tp_http **out, char **cause)
{
	tp_http *h;
	nng_url *url = NULL;
	nng_http_handler *handler = NULL;
	int rv = NNG_ENOMEM;

	if ((h = calloc(1, sizeof *h)) == NULL)
		return CS_ENOMEM;
	pthread_mutex_init(&h->mtx, NULL);
	pthread_cond_init(&h->idle, NULL);
	h->max_body = o->max_body;
	h->tag = o->handle_tag;
	h->cb = o->cb;
	h->pending_count = o->pending_count;
	h->ud = o->ud;
	h->audit_ok = true;
	h->ring_len = o->bind_max > 0 ? o->bind_max : 1;
	if ((h->slots = calloc((size_t) o->max_inflight,
	    sizeof *h->slots)) == NULL ||
	    (h->ring = calloc(h->ring_len, sizeof *h->ring)) == NULL ||
	    (h->binds = core_map_new()) == NULL)
		goto fail;
	for (int i = 0; i < o->max_inflight; i++) {
		struct hslot *s = &h->slots[i];

		s->h = h;
		s->index = (uint32_t) i;
		if ((rv = nng_aio_alloc(&s->rx, rx_cb, s)) != 0)
			goto fail;
		h->slot_count = i + 1;
	}
	if ((rv = nng_url_parse(&url, o->url)) != 0 ||
	    (rv = nng_http_handler_alloc(&handler, "/", handler_cb)) != 0)
		goto fail;
	if ((rv = nng_http_handler_set_method(handler, NULL)) != 0 ||
	    (rv = nng_http_handler_set_tree(handler)) != 0 ||
	    (rv = nng_http_handler_collect_body(handler, false, 0)) != 0 ||
	    (rv = nng_http_handler_set_data(handler, h, http_free)) != 0) {
		nng_http_handler_free(handler);
		goto fail;
	}
	/* from here on the handler owns h: http_free runs when it goes */
	if ((rv = nng_http_server_hold(&h->srv, url)) != 0) {
		nng_http_handler_free(handler);
		goto fail_owned;
	}
	if ((rv = nng_http_server_add_handler(h->srv, handler)) != 0) {
		nng_http_server_release(h->srv);
		nng_http_handler_free(handler);
		goto fail_owned;
	}
	if ((rv = nng_http_server_start(h->srv)) != 0) {
		nng_http_server_release(h->srv); /* frees handler, then h */
		goto fail_owned;
	}
	http_bound_url(h, url);
	nng_url_free(url);
	*out = h;
	return CS_OK;
fail:
	cs_set_cause(cause, "HTTP ingress %s: %s", o->url, nng_strerror(rv));
	nng_url_free(url);
	for (int i = 0; h->slots != NULL && i < h->slot_count; i++)
		nng_aio_free(h->slots[i].rx);
	h->slot_count = 0;
	http_free(h);
	return CS_ETRANSPORT;
fail_owned:
	cs_set_cause(cause, "HTTP ingress %s: %s", o->url, nng_strerror(rv));
	nng_url_free(url);
	return CS_ETRANSPORT;
}

void
tp_http_stop(tp_http *h)
{
	bool was;

	if (h == NULL)
		return;
	pthread_mutex_lock(&h->mtx);
	was = h->stopped;
	h->stopped = true;
	pthread_mutex_unlock(&h->mtx);
	if (!was)
		nng_http_server_stop(h->srv);
}

void
tp_http_close(tp_http *h)
{
	nng_aio **waiting;
	int count = 0;

	if (h == NULL)
		return;
	waiting = calloc((size_t) h->slot_count + 1, sizeof *waiting);
	pthread_mutex_lock(&h->mtx);
	h->closing = true;
	for (int i = 0; i < h->slot_count; i++) {
		struct hslot *s = &h->slots[i];

		if (s->state == SLOT_WAIT && waiting != NULL) {
			waiting[count++] = s->uaio;
			slot_free(s);
		}
	}
	pthread_mutex_unlock(&h->mtx);
	for (int i = 0; i < count; i++)
		respond_error(waiting[i], 503, "unavailable", "countersignd is "
		    "shutting down", true, NULL, NULL);
	free(waiting);
	/* bodies still arriving: their callbacks answer 503 */
	for (int i = 0; i < h->slot_count; i++)
		nng_aio_cancel(h->slots[i].rx);
	pthread_mutex_lock(&h->mtx);
	while (h->active > 0)
		pthread_cond_wait(&h->idle, &h->mtx);
	pthread_mutex_unlock(&h->mtx);
	for (int i = 0; i < h->slot_count; i++)
		nng_aio_stop(h->slots[i].rx);
	nng_http_server_stop(h->srv);
	nng_http_server_release(h->srv); /* h goes with the handler */
}
