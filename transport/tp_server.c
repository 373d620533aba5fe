/* tp_server.c: REP endpoint with one nng context and aio per slot, and the
 * PUB endpoint for console events.
 * SPDX-License-Identifier: MIT */
#include "tp_server.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/reqrep0/rep.h>

enum slot_state { SLOT_RECV, SLOT_BUSY, SLOT_SEND, SLOT_CLOSED };

struct tp_slot {
	tp_server *srv;
	uint32_t index;
	uint32_t gen;          /* bumped on every request: stale handles */
	enum slot_state state;
	nng_ctx ctx;
	nng_aio *aio;
	pthread_mutex_t mtx;
};

struct tp_server {
	nng_socket sock;
	struct tp_slot *slots;
	int slot_count;
	uint64_t tag;
	tp_server_recv_cb cb;
	void *ud;
	volatile int closing;
};

/* Read the ipc peer's uid from the pipe a message came in on. */
static long long
slot_peer_uid(nng_msg *msg)
{
	uint64_t uid;
	nng_pipe p = nng_msg_get_pipe(msg);

	if (nng_pipe_id(p) < 0 ||
	    nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_UID, &uid) != 0)
		return -1;
	return (long long) uid;
}

/* Completion of a slot's receive or send. */
static void
slot_cb(void *arg)
{
	struct tp_slot *slot = arg;
	tp_server *srv = slot->srv;
	nng_msg *msg;
	uint64_t handle;
	int rv = nng_aio_result(slot->aio);

	pthread_mutex_lock(&slot->mtx);
	if (slot->state == SLOT_SEND) {
		if (rv != 0 && (msg = nng_aio_get_msg(slot->aio)) != NULL)
			nng_msg_free(msg); /* send failed: still ours */
		slot->state = SLOT_RECV;
		pthread_mutex_unlock(&slot->mtx);
		if (!srv->closing)
			nng_ctx_recv(slot->ctx, slot->aio);
		return;
	}
	if (rv != 0) {
		pthread_mutex_unlock(&slot->mtx);
		if (rv == NNG_ECLOSED || rv == NNG_ECANCELED || srv->closing)
			return;
		nng_ctx_recv(slot->ctx, slot->aio);
		return;
	}
	msg = nng_aio_get_msg(slot->aio);
	slot->gen++;
	slot->state = SLOT_BUSY;
	handle = srv->tag | ((uint64_t) slot->index << 32) | slot->gen;
	pthread_mutex_unlock(&slot->mtx);
	srv->cb(srv->ud, handle, nng_msg_body(msg), nng_msg_len(msg),
	    slot_peer_uid(msg));
	nng_msg_free(msg);
}

cs_err
tp_server_reply(tp_server *srv, uint64_t handle, const void *buf, size_t len)
{
	uint32_t index = (uint32_t) ((handle & ~srv->tag) >> 32);
	uint32_t gen = (uint32_t) handle;
	struct tp_slot *slot;
	nng_msg *msg;

	if (index >= (uint32_t) srv->slot_count)
		return CS_ENOTFOUND;
	slot = &srv->slots[index];
	pthread_mutex_lock(&slot->mtx);
	if (slot->state != SLOT_BUSY || slot->gen != gen || srv->closing) {
		pthread_mutex_unlock(&slot->mtx);
		return CS_ENOTFOUND;
	}
	if (nng_msg_alloc(&msg, 0) != 0 || nng_msg_append(msg, buf, len) != 0) {
		/* cannot answer: drop the request and serve the next one */
		slot->state = SLOT_RECV;
		pthread_mutex_unlock(&slot->mtx);
		nng_ctx_recv(slot->ctx, slot->aio);
		return CS_ENOMEM;
	}
	slot->state = SLOT_SEND;
	nng_aio_set_msg(slot->aio, msg);
	pthread_mutex_unlock(&slot->mtx);
	nng_ctx_send(slot->ctx, slot->aio);
	return CS_OK;
}

/* Create and start a listener with ipc permissions where they apply. */
static int
listen_url(nng_socket sock, const char *url, int ipc_mode)
{
	nng_listener l;
	int rv;

	if ((rv = nng_listener_create(&l, sock, url)) != 0)
		return rv;
	if (strncmp(url, "ipc://", 6) == 0 &&
	    (rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS,
	    ipc_mode)) != 0)
		return rv;
	return nng_listener_start(l, 0);
}

cs_err
tp_server_open(const tp_server_opts *o, tp_server **out, char **cause)
{
	tp_server *srv;
	int rv;

	if ((srv = calloc(1, sizeof *srv)) == NULL)
		return CS_ENOMEM;
	srv->tag = o->handle_tag;
	srv->cb = o->cb;
	srv->ud = o->ud;
	if ((rv = nng_rep0_open(&srv->sock)) != 0)
		goto fail;
	if ((rv = nng_socket_set_size(srv->sock, NNG_OPT_RECVMAXSZ,
	    o->recv_max)) != 0)
		goto fail;
	if ((srv->slots = calloc((size_t) o->contexts, sizeof *srv->slots)) ==
	    NULL) {
		rv = NNG_ENOMEM;
		goto fail;
	}
	for (int i = 0; i < o->contexts; i++) {
		struct tp_slot *slot = &srv->slots[i];

		slot->srv = srv;
		slot->index = (uint32_t) i;
		pthread_mutex_init(&slot->mtx, NULL);
		srv->slot_count = i + 1;
		if ((rv = nng_aio_alloc(&slot->aio, slot_cb, slot)) != 0 ||
		    (rv = nng_ctx_open(&slot->ctx, srv->sock)) != 0)
			goto fail;
	}
	if ((rv = listen_url(srv->sock, o->url, o->ipc_mode)) != 0)
		goto fail;
	for (int i = 0; i < srv->slot_count; i++)
		nng_ctx_recv(srv->slots[i].ctx, srv->slots[i].aio);
	*out = srv;
	return CS_OK;
fail:
	cs_set_cause(cause, "%s: %s", o->url, nng_strerror(rv));
	tp_server_close(srv);
	return CS_ETRANSPORT;
}

void
tp_server_close(tp_server *srv)
{
	if (srv == NULL)
		return;
	srv->closing = 1;
	nng_close(srv->sock);
	for (int i = 0; i < srv->slot_count; i++)
		if (srv->slots[i].aio != NULL)
			nng_aio_stop(srv->slots[i].aio);
	for (int i = 0; i < srv->slot_count; i++) {
		nng_aio_free(srv->slots[i].aio);
		pthread_mutex_destroy(&srv->slots[i].mtx);
	}
	free(srv->slots);
	free(srv);
}

struct tp_pub {
	nng_socket sock;
};

cs_err
tp_pub_open(const char *url, int ipc_mode, tp_pub **out, char **cause)
{
	tp_pub *pub;
	int rv;

	if ((pub = calloc(1, sizeof *pub)) == NULL)
		return CS_ENOMEM;
	if ((rv = nng_pub0_open(&pub->sock)) != 0) {
		free(pub);
		cs_set_cause(cause, "%s: %s", url, nng_strerror(rv));
		return CS_ETRANSPORT;
	}
	if ((rv = listen_url(pub->sock, url, ipc_mode)) != 0) {
		cs_set_cause(cause, "%s: %s", url, nng_strerror(rv));
		nng_close(pub->sock);
		free(pub);
		return CS_ETRANSPORT;
	}
	*out = pub;
	return CS_OK;
}

void
tp_pub_send(tp_pub *pub, const char *topic, const char *json, size_t len)
{
	nng_msg *msg;
	size_t tlen = strlen(topic);

	if (nng_msg_alloc(&msg, 0) != 0)
		return;
	if (nng_msg_append(msg, topic, tlen) != 0 ||
	    nng_msg_append(msg, " ", 1) != 0 ||
	    nng_msg_append(msg, json, len) != 0 ||
	    nng_sendmsg(pub->sock, msg, NNG_FLAG_NONBLOCK) != 0)
		nng_msg_free(msg);
}

void
tp_pub_close(tp_pub *pub)
{
	if (pub == NULL)
		return;
	nng_close(pub->sock);
	free(pub);
}
