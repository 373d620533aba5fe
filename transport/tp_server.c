/* tp_server.c: REP endpoint with one nng context and aio per slot, and the
 * PUB endpoint for console events, each on a listener that keeps
 * accepting.
 * SPDX-License-Identifier: MIT */
#include "tp_server.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

/* How long a probe waits for its connection to reach the socket; a
 * probe still waiting then is kept open, and checked again by later
 * checks, until PROBE_GRACE_MS more have passed before the listener is
 * called broken. */
#define PROBE_WAIT_MS 2000
#define PROBE_GRACE_MS 3000

/* SP protocol number of SUB (nng 1.5's sub.h names none). */
#define PROTO_SUB0 0x21

/* ---- listeners that keep accepting --------------------------------------
 * nng 1.5.2 (Debian 12) stops accepting on a listener for good when a peer
 * hangs up while the SP handshake is still under way (nng issue 1518,
 * fixed in 1.6.0): one local process that connects and closes at the
 * wrong moment, or an agent killed while it reconnects, would shut every
 * new agent out while the daemon looks healthy. So a listener can be
 * probed: tp_listen_check dials it with a socket of the peer protocol and
 * waits for that connection to reach the socket. A listener that no
 * longer hands connections over is replaced; its pipes close with it, and
 * their peers see the connection reset before any answer. The probe is a
 * plain socket that sends the SP header, not an nng socket: nng 1.5.2's
 * nng_close of a SUB socket can block for good while the PUB it dialled
 * is publishing, which stopped the guard and the daemon's shutdown. A
 * probe is never closed while its handshake may still be under way (that
 * would break the listener it tests): it is closed once its own
 * connection reached the socket (told apart from the others by its peer
 * pid, the daemon's own, on ipc, and by its address on tcp). On a daemon
 * too busy to finish it in PROBE_WAIT_MS, it stays open while the socket
 * takes other connections (the listener was only slow), and the listener
 * is called broken when it took none for PROBE_GRACE_MS more. */
struct tp_listen {
	nng_socket sock;
	nng_listener l;
	bool have_l;
	char *url;                  /* as configured */
	char *probe_url;            /* where the probe dials; NULL: no probe */
	int ipc_mode;
	uint16_t peer_proto;        /* SP protocol number a probe speaks */
	int probe_fd;               /* a probe still waiting, or -1 */
	struct sockaddr_storage probe_addr; /* tcp: the probe's own address */
	uint64_t probe_before;      /* probes taken before it */
	uint64_t added_before;      /* connections taken at the last check */
	int64_t probe_until_ms;     /* CLOCK_MONOTONIC: when it gives up */
	pthread_mutex_t mtx;
	pthread_cond_t cond;
	uint64_t added;             /* connections the socket took */
	uint64_t probes_in;         /* of which probes of this listener */
};

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
	bool peer_uid;
	volatile int closing;
	struct tp_listen lis;
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
	    srv->peer_uid ? slot_peer_uid(msg) : -1);
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
listen_url(nng_socket sock, const char *url, int ipc_mode, nng_listener *out)
{
	nng_listener l;
	int rv;

	if ((rv = nng_listener_create(&l, sock, url)) != 0)
		return rv;
	if ((strncmp(url, "ipc://", 6) == 0 &&
	    (rv = nng_listener_set_int(l, NNG_OPT_IPC_PERMISSIONS,
	    ipc_mode)) != 0) ||
	    (rv = nng_listener_start(l, 0)) != 0) {
		nng_listener_close(l);
		return rv;
	}
	*out = l;
	return 0;
}

/* Whether pipe p is the connection of g's probe (g->mtx held): on ipc the
 * peer is this process, on tcp the peer address is the probe's. */
static bool
pipe_is_probe(struct tp_listen *g, nng_pipe p)
{
	nng_sockaddr sa;
	uint64_t pid;

	if (g->probe_url == NULL)
		return false;
	if (strncmp(g->probe_url, "ipc://", 6) == 0)
		return nng_pipe_get_uint64(p, NNG_OPT_IPC_PEER_PID, &pid) == 0 &&
		    pid == (uint64_t) getpid();
	if (nng_pipe_get_addr(p, NNG_OPT_REMADDR, &sa) != 0)
		return false;
	if (sa.s_family == NNG_AF_INET &&
	    g->probe_addr.ss_family == AF_INET) {
		const struct sockaddr_in *in =
		    (const struct sockaddr_in *) &g->probe_addr;

		return sa.s_in.sa_port == in->sin_port &&
		    sa.s_in.sa_addr == in->sin_addr.s_addr;
	}
	if (sa.s_family == NNG_AF_INET6 &&
	    g->probe_addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
		    (const struct sockaddr_in6 *) &g->probe_addr;

		return sa.s_in6.sa_port == in6->sin6_port &&
		    memcmp(sa.s_in6.sa_addr, &in6->sin6_addr, 16) == 0;
	}
	return false;
}

static void
pipe_added(nng_pipe p, nng_pipe_ev ev, void *arg)
{
	struct tp_listen *g = arg;

	(void) ev;
	pthread_mutex_lock(&g->mtx);
	g->added++;
	if (pipe_is_probe(g, p))
		g->probes_in++;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->mtx);
}

/* The URL a probe dials to reach listener l on url: ipc as is, tcp on
 * loopback when it listens on every address; NULL for other schemes. */
static char *
probe_url_of(const char *url, nng_listener l)
{
	nng_url *u;
	char *out = NULL;
	const char *host;
	int port = 0;

	if (strncmp(url, "ipc://", 6) == 0)
		return strdup(url);
	if (strncmp(url, "tcp://", 6) != 0 && strncmp(url, "tcp4://", 7) != 0 &&
	    strncmp(url, "tcp6://", 7) != 0)
		return NULL;
	if (nng_url_parse(&u, url) != 0)
		return NULL;
	if (nng_listener_get_int(l, NNG_OPT_TCP_BOUND_PORT, &port) != 0) {
		long long p;

		if (cs_parse_int(u->u_port, 1, 65535, &p) != CS_OK) {
			nng_url_free(u);
			return NULL;
		}
		port = (int) p;
	}
	host = u->u_hostname;
	if (host[0] == '\0' || strcmp(host, "*") == 0 ||
	    strcmp(host, "0.0.0.0") == 0)
		host = "127.0.0.1";
	else if (strcmp(host, "::") == 0)
		host = "[::1]";
	else if (strchr(host, ':') != NULL) {
		out = cs_asprintf("tcp://[%s]:%d", host, port);
		nng_url_free(u);
		return out;
	}
	out = cs_asprintf("tcp://%s:%d", host, port);
	nng_url_free(u);
	return out;
}

static void
tp_listen_init(struct tp_listen *g)
{
	pthread_condattr_t ca;

	g->probe_fd = -1;
	pthread_mutex_init(&g->mtx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cond, &ca);
	pthread_condattr_destroy(&ca);
}

/* Listen on url with sock; probes speak the peer protocol peer_proto. */
static int
tp_listen_open(struct tp_listen *g, nng_socket sock, const char *url,
    int ipc_mode, uint16_t peer_proto)
{
	int rv;

	g->sock = sock;
	g->ipc_mode = ipc_mode;
	g->peer_proto = peer_proto;
	if ((g->url = strdup(url)) == NULL)
		return NNG_ENOMEM;
	if ((rv = nng_pipe_notify(sock, NNG_PIPE_EV_ADD_POST, pipe_added,
	    g)) != 0 || (rv = listen_url(sock, url, ipc_mode, &g->l)) != 0)
		return rv;
	g->have_l = true;
	g->probe_url = probe_url_of(url, g->l);
	return 0;
}

/* A socket that gives up on connect and write after a second (a listener
 * whose backlog is full would block a plain connect), or -1. */
static int
probe_socket(int family, int type, int protocol)
{
	struct timeval tv = { 1, 0 };
	int fd = socket(family, type | SOCK_CLOEXEC, protocol);

	if (fd >= 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Close a probe whose connect failed; what probe_connect returns for it. */
static int
probe_failed(int fd)
{
	int err = errno; /* before close() can change it */

	close(fd);
	return err == EAGAIN || err == EINPROGRESS || err == ETIMEDOUT ||
	    err == EINTR ? -2 : -1;
}

/* Connect a plain socket to the probe URL (ipc:// path or tcp://
 * numeric host and port); -1 when nothing listens there (or the URL is
 * unusable), -2 when the connect timed out (a backlog that is full for a
 * second means a busy listener, not a broken one) or no socket could be
 * made (out of descriptors: a new listener could not be made either). */
static int
probe_connect(const char *url)
{
	int fd = -1;

	if (strncmp(url, "ipc://", 6) == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		size_t len = strlen(url + 6);

		if (len >= sizeof sa.sun_path)
			return -1;
		memcpy(sa.sun_path, url + 6, len + 1);
		if ((fd = probe_socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
			return -2; /* no descriptor to probe with: cannot tell */
		if (connect(fd, (struct sockaddr *) &sa, sizeof sa) != 0)
			fd = probe_failed(fd);
	} else {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
			.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
		struct addrinfo *ai = NULL;
		nng_url *u;

		if (nng_url_parse(&u, url) != 0)
			return -1;
		if (getaddrinfo(u->u_hostname, u->u_port, &hints, &ai) == 0) {
			if ((fd = probe_socket(ai->ai_family, ai->ai_socktype,
			    ai->ai_protocol)) < 0)
				fd = -2; /* no descriptor: cannot tell */
			else if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
				fd = probe_failed(fd);
		}
		if (ai != NULL)
			freeaddrinfo(ai);
		nng_url_free(u);
	}
	return fd;
}

/* Probe connections the socket has taken so far, and all of them. */
static void
added_counts(struct tp_listen *g, uint64_t *probes, uint64_t *all)
{
	pthread_mutex_lock(&g->mtx);
	*probes = g->probes_in;
	*all = g->added;
	pthread_mutex_unlock(&g->mtx);
}

/* 1: the probe's connection reached the socket; 0: the probe connected
 * and sent its SP header but is still waiting (kept in g->probe_fd), or
 * could not connect within a second (a busy listener); -1: nothing
 * listens there (the socket file is gone, say). */
static int
probe(struct tp_listen *g)
{
	const unsigned char head[8] = { 0, 'S', 'P', 0,
		(unsigned char) (g->peer_proto >> 8),
		(unsigned char) (g->peer_proto & 0xff), 0, 0 };
	struct sockaddr_storage self;
	socklen_t self_len = sizeof self;
	uint64_t before, all;
	struct timespec until;
	bool reached;
	int fd;

	added_counts(g, &before, &all);
	if ((fd = probe_connect(g->probe_url)) < 0)
		return fd == -2 ? 0 : -1;
	/* known before the listener can see the header: see pipe_is_probe */
	memset(&self, 0, sizeof self);
	if (getsockname(fd, (struct sockaddr *) &self, &self_len) != 0)
		self.ss_family = AF_UNSPEC;
	pthread_mutex_lock(&g->mtx);
	g->probe_addr = self;
	pthread_mutex_unlock(&g->mtx);
	if (write(fd, head, sizeof head) != (ssize_t) sizeof head) {
		close(fd);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += PROBE_WAIT_MS / 1000;
	until.tv_nsec += (PROBE_WAIT_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&g->mtx);
	while (g->probes_in == before &&
	    pthread_cond_timedwait(&g->cond, &g->mtx, &until) != ETIMEDOUT)
		;
	reached = g->probes_in != before;
	pthread_mutex_unlock(&g->mtx);
	if (!reached) {
		g->probe_fd = fd;
		g->probe_before = before;
		g->added_before = all;
		g->probe_until_ms = cs_mono_ms() + PROBE_GRACE_MS;
		return 0;
	}
	close(fd);
	return 1;
}

/* 0: the listener hands connections over (or is not probed, or a probe
 * is still waiting); 1: it did not and was replaced; -1: it could not be
 * replaced (*cause says why). */
static int
tp_listen_check(struct tp_listen *g, char **cause)
{
	int rv;

	if (g->probe_url == NULL)
		return 0;
	if (g->probe_fd >= 0) {
		uint64_t probes, all;

		added_counts(g, &probes, &all);
		if (probes != g->probe_before) {
			/* the probe's own connection arrived: safe to close */
			close(g->probe_fd);
			g->probe_fd = -1;
			return 0;
		}
		if (all != g->added_before) {
			/* others arrive: the listener works, only slowly;
			 * the probe may still be in its handshake, keep it */
			g->added_before = all;
			g->probe_until_ms = cs_mono_ms() + PROBE_GRACE_MS;
			return 0;
		}
		if (cs_mono_ms() < g->probe_until_ms)
			return 0;
		close(g->probe_fd);
		g->probe_fd = -1;
	} else if (g->have_l && probe(g) >= 0) {
		return 0;
	}
	if (g->have_l)
		nng_listener_close(g->l);
	g->have_l = false;
	if ((rv = listen_url(g->sock, g->url, g->ipc_mode, &g->l)) != 0) {
		cs_set_cause(cause, "%s: cannot listen again: %s", g->url,
		    nng_strerror(rv));
		return -1;
	}
	g->have_l = true;
	return 1;
}

/* After the socket is closed (or was never opened). */
static void
tp_listen_fini(struct tp_listen *g)
{
	if (g->probe_fd >= 0)
		close(g->probe_fd);
	free(g->url);
	free(g->probe_url);
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->mtx);
}

cs_err
tp_server_open(const tp_server_opts *o, tp_server **out, char **cause)
{
	tp_server *srv;
	int rv;

	if ((srv = calloc(1, sizeof *srv)) == NULL)
		return CS_ENOMEM;
	tp_listen_init(&srv->lis);
	srv->tag = o->handle_tag;
	srv->cb = o->cb;
	srv->ud = o->ud;
	srv->peer_uid = o->peer_uid;
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
	if ((rv = tp_listen_open(&srv->lis, srv->sock, o->url, o->ipc_mode,
	    NNG_REQ0_SELF)) != 0)
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
	tp_listen_fini(&srv->lis);
	free(srv);
}

int
tp_server_check(tp_server *srv, char **cause)
{
	return srv == NULL ? 0 : tp_listen_check(&srv->lis, cause);
}

struct tp_pub {
	nng_socket sock;
	struct tp_listen lis;
};

cs_err
tp_pub_open(const char *url, int ipc_mode, tp_pub **out, char **cause)
{
	tp_pub *pub;
	int rv;

	if ((pub = calloc(1, sizeof *pub)) == NULL)
		return CS_ENOMEM;
	tp_listen_init(&pub->lis);
	if ((rv = nng_pub0_open(&pub->sock)) != 0) {
		tp_listen_fini(&pub->lis);
		free(pub);
		cs_set_cause(cause, "%s: %s", url, nng_strerror(rv));
		return CS_ETRANSPORT;
	}
	if ((rv = tp_listen_open(&pub->lis, pub->sock, url, ipc_mode,
	    PROTO_SUB0)) != 0) {
		cs_set_cause(cause, "%s: %s", url, nng_strerror(rv));
		nng_close(pub->sock);
		tp_listen_fini(&pub->lis);
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
	tp_listen_fini(&pub->lis);
	free(pub);
}

int
tp_pub_check(tp_pub *pub, char **cause)
{
	return pub == NULL ? 0 : tp_listen_check(&pub->lis, cause);
}
