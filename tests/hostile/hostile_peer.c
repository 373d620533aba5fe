/* hostile_peer.c: peers countersignd never expects, for the hostile
 * harness: sockets of the wrong nng protocol, raw bytes on the ipc socket
 * file, hand-made SP frames with lying lengths, stalled connections, and a
 * stray socket file to squat an endpoint path.
 *
 *   hostile_peer nng PROTO URL [-f FILE] [-t MS]
 *       dial URL with an nng socket of PROTO (pub sub pair0 pair1 push pull
 *       bus req rep surveyor respondent), send FILE when PROTO can send,
 *       wait MS for anything back; prints "sent=yes|no received=N"
 *   hostile_peer raw PATH [-f FILE] [-t MS]
 *       connect to the unix socket PATH and write FILE as is (no SP
 *       handshake); prints "received=N closed=yes|no"
 *   hostile_peer sp PATH PROTO_NUM [-f FILE] [-L LEN] [-r] [-t MS]
 *       SP handshake claiming protocol PROTO_NUM (decimal or 0x..), then
 *       one ipc frame carrying FILE; -L claims LEN bytes in the frame
 *       header whatever FILE holds; -r prefixes a REQ request id; prints
 *       "handshake=ok|refused reply=N" and the reply body on a second line
 *   hostile_peer hold PATH COUNT [-t MS]
 *       open COUNT connections that send half an SP header and stall for
 *       MS, then close them; prints "held=N"
 *   hostile_peer hangup PATH COUNT
 *       COUNT connections that hang up at once, or after part of the SP
 *       handshake (in turn): nng 1.5.2 listeners stop accepting after
 *       one that lands mid-handshake; prints "hung_up=N"
 *   hostile_peer bind PATH
 *       leave a unix socket file at PATH (nothing listens on it)
 *   hostile_peer render CASE OUT [NAME=VALUE]...
 *       write the frame of a corpus case file to OUT: the bytes after the
 *       first line "--", without the final newline, with every @NAME@
 *       replaced by VALUE and by the "# fill: NAME COUNT TEXT" lines of
 *       the header (TEXT repeated COUNT times; \xHH escapes allowed)
 *
 * Exit status: 0 done (the output says what happened), 1 error, 64 usage.
 * SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>
#include <nng/protocol/bus0/bus.h>
#include <nng/protocol/pair0/pair.h>
#include <nng/protocol/pair1/pair.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/pubsub0/pub.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>
#include <nng/protocol/survey0/respond.h>
#include <nng/protocol/survey0/survey.h>

enum { PEER_OK = 0, PEER_ERR = 1, PEER_USAGE = 64 };

static void
usage(void)
{
	fputs("usage: hostile_peer nng PROTO URL [-f FILE] [-t MS]\n"
	    "       hostile_peer raw PATH [-f FILE] [-t MS]\n"
	    "       hostile_peer sp PATH PROTO_NUM [-f FILE] [-L LEN] [-r] "
	    "[-t MS]\n"
	    "       hostile_peer hold PATH COUNT [-t MS]\n"
	    "       hostile_peer hangup PATH COUNT\n"
	    "       hostile_peer bind PATH\n"
	    "       hostile_peer render CASE OUT [NAME=VALUE]...\n", stderr);
}

/* Read a whole file into a new buffer. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 4096, n = 0, got;
	char *buf, *grown;

	if (f == NULL)
		return NULL;
	if ((buf = malloc(cap)) == NULL) {
		fclose(f);
		return NULL;
	}
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			cap *= 2;
			if ((grown = realloc(buf, cap)) == NULL) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = grown;
		}
	}
	fclose(f);
	*len = n;
	return buf;
}

/* Open an nng socket by protocol name. */
static int
open_proto(const char *name, nng_socket *s, bool *can_send, bool *can_recv)
{
	static const struct {
		const char *name;
		int (*open)(nng_socket *);
		bool send, recv;
	} protos[] = {
		{ "pub", nng_pub0_open, true, false },
		{ "sub", nng_sub0_open, false, true },
		{ "pair0", nng_pair0_open, true, true },
		{ "pair1", nng_pair1_open, true, true },
		{ "push", nng_push0_open, true, false },
		{ "pull", nng_pull0_open, false, true },
		{ "bus", nng_bus0_open, true, true },
		{ "req", nng_req0_open, true, true },
		{ "rep", nng_rep0_open, false, true },
		{ "surveyor", nng_surveyor0_open, true, true },
		{ "respondent", nng_respondent0_open, false, true },
	};

	for (size_t i = 0; i < sizeof protos / sizeof protos[0]; i++) {
		if (strcmp(name, protos[i].name) != 0)
			continue;
		*can_send = protos[i].send;
		*can_recv = protos[i].recv;
		return protos[i].open(s);
	}
	return NNG_ENOTSUP;
}

/* nng mode: a socket of the wrong protocol dials a countersign endpoint. */
static int
peer_nng(const char *proto, const char *url, const char *buf, size_t len,
    int timeout_ms)
{
	nng_socket s;
	bool can_send, can_recv, sent = false;
	size_t received = 0;
	char *reply = NULL;
	int rv;

	if ((rv = open_proto(proto, &s, &can_send, &can_recv)) != 0) {
		fprintf(stderr, "hostile_peer: %s: %s\n", proto,
		    nng_strerror(rv));
		return PEER_USAGE;
	}
	if (strcmp(proto, "sub") == 0)
		nng_socket_set(s, NNG_OPT_SUB_SUBSCRIBE, "", 0);
	nng_socket_set_ms(s, NNG_OPT_SENDTIMEO, timeout_ms);
	nng_socket_set_ms(s, NNG_OPT_RECVTIMEO, timeout_ms);
	if ((rv = nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		fprintf(stderr, "hostile_peer: dial %s: %s\n", url,
		    nng_strerror(rv));
		nng_close(s);
		return PEER_ERR;
	}
	/* give the handshake a moment: a refused pipe is what we expect */
	nng_msleep(100);
	if (can_send && buf != NULL) {
		char *copy = malloc(len ? len : 1);

		if (copy != NULL) {
			memcpy(copy, buf, len);
			sent = nng_send(s, copy, len, 0) == 0;
			free(copy);
		}
	}
	if (can_recv && nng_recv(s, &reply, &received, NNG_FLAG_ALLOC) == 0) {
		fwrite(reply, 1, received, stdout);
		putchar('\n');
		nng_free(reply, received);
	} else
		received = 0;
	printf("sent=%s received=%zu\n", sent ? "yes" : "no", received);
	nng_close(s);
	return PEER_OK;
}

/* Connect a stream socket to a unix socket path; -1 on error. */
static int
unix_connect(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa.sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *) &sa, sizeof sa) != 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Write all of buf, ignoring a peer that closed on us. */
static void
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return;
		}
		p += n;
		len -= (size_t) n;
	}
}

/* Read what arrives within timeout_ms into buf (up to cap); sets *closed
 * when the peer closed. Returns the byte count. */
static size_t
read_for(int fd, char *buf, size_t cap, int timeout_ms, bool *closed)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t n = 0;

	*closed = false;
	while (n < cap && poll(&p, 1, timeout_ms) > 0) {
		ssize_t got = recv(fd, buf + n, cap - n, 0);

		if (got <= 0) {
			*closed = true;
			break;
		}
		n += (size_t) got;
	}
	return n;
}

/* raw mode: bytes without any handshake. */
static int
peer_raw(const char *path, const char *buf, size_t len, int timeout_ms)
{
	char in[4096];
	bool closed;
	size_t n;
	int fd;

	if ((fd = unix_connect(path)) < 0) {
		fprintf(stderr, "hostile_peer: connect %s: %s\n", path,
		    strerror(errno));
		return PEER_ERR;
	}
	if (buf != NULL)
		write_all(fd, buf, len);
	n = read_for(fd, in, sizeof in, timeout_ms, &closed);
	printf("received=%zu closed=%s\n", n, closed ? "yes" : "no");
	close(fd);
	return PEER_OK;
}

/* Store v big-endian in n bytes. */
static void
put_be(unsigned char *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (unsigned char) (v & 0xff);
		v >>= 8;
	}
}

/* sp mode: a hand-made SP peer. */
static int
peer_sp(const char *path, unsigned proto, const char *buf, size_t len,
    long long claim_len, bool req_id, int timeout_ms)
{
	unsigned char hdr[8] = { 0, 'S', 'P', 0, 0, 0, 0, 0 };
	unsigned char frame[13], peer_hdr[8];
	char *in;
	size_t body_len = len + (req_id ? 4 : 0), n;
	bool closed;
	int fd;

	if ((fd = unix_connect(path)) < 0) {
		fprintf(stderr, "hostile_peer: connect %s: %s\n", path,
		    strerror(errno));
		return PEER_ERR;
	}
	put_be(hdr + 4, proto, 2);
	write_all(fd, hdr, sizeof hdr);
	n = read_for(fd, (char *) peer_hdr, sizeof peer_hdr, timeout_ms,
	    &closed);
	if (n != sizeof peer_hdr || peer_hdr[1] != 'S' ||
	    peer_hdr[2] != 'P') {
		printf("handshake=refused reply=0\n");
		close(fd);
		return PEER_OK;
	}
	frame[0] = 1;
	put_be(frame + 1, claim_len >= 0 ? (uint64_t) claim_len :
	    (uint64_t) body_len, 8);
	if (req_id)
		put_be(frame + 9, 0x80000001u, 4);
	write_all(fd, frame, req_id ? 13 : 9);
	if (buf != NULL)
		write_all(fd, buf, len);
	if ((in = malloc(1 << 20)) == NULL) {
		close(fd);
		return PEER_ERR;
	}
	n = read_for(fd, in, 1 << 20, timeout_ms, &closed);
	/* a reply frame: type byte, 8-byte length, request id, body */
	printf("handshake=ok reply=%zu closed=%s\n", n, closed ? "yes" :
	    "no");
	if (n > 13) {
		fwrite(in + 13, 1, n - 13, stdout);
		putchar('\n');
	}
	free(in);
	close(fd);
	return PEER_OK;
}

/* hold mode: many stalled half-handshakes. */
static int
peer_hold(const char *path, long count, int timeout_ms)
{
	static const unsigned char half[4] = { 0, 'S', 'P', 0 };
	int *fds = calloc((size_t) count, sizeof *fds);
	long held = 0;

	if (fds == NULL)
		return PEER_ERR;
	for (long i = 0; i < count; i++) {
		if ((fds[i] = unix_connect(path)) < 0)
			continue;
		write_all(fds[i], half, sizeof half);
		held++;
	}
	printf("held=%ld\n", held);
	fflush(stdout);
	nng_msleep(timeout_ms);
	for (long i = 0; i < count; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	return PEER_OK;
}

/* hangup mode: connections that close during the handshake. */
static int
peer_hangup(const char *path, long count)
{
	static const unsigned char head[8] = { 0, 'S', 'P', 0, 0, 0x30, 0, 0 };
	long done = 0;
	int fd;

	for (long i = 0; i < count; i++) {
		if ((fd = unix_connect(path)) < 0)
			continue;
		/* nothing, half the header, all of it */
		if (i % 3 != 0)
			write_all(fd, head, i % 3 == 1 ? 3 : sizeof head);
		close(fd);
		done++;
	}
	printf("hung_up=%ld\n", done);
	return PEER_OK;
}

/* bind mode: leave a socket file behind at path. */
static int
peer_bind(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sa.sun_path)
		return PEER_USAGE;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(fd, (struct sockaddr *) &sa, sizeof sa) != 0) {
		fprintf(stderr, "hostile_peer: bind %s: %s\n", path,
		    strerror(errno));
		return PEER_ERR;
	}
	close(fd);
	return PEER_OK;
}

/* One @NAME@ substitution of a rendered case. */
struct subst {
	char name[64];
	char *value; /* owned */
	size_t len;
};

/* Decode \xHH escapes of text into a new buffer. */
static char *
unescape(const char *text, size_t *len)
{
	size_t n = strlen(text), j = 0;
	char *out = malloc(n + 1);

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (text[i] == '\\' && text[i + 1] == 'x' &&
		    sscanf(text + i + 2, "%2x", &v) == 1) {
			out[j++] = (char) v;
			i += 3;
		} else
			out[j++] = text[i];
	}
	*len = j;
	return out;
}

/* Parse the "# fill: NAME COUNT TEXT" lines of a case header. */
static int
parse_fills(const char *head, size_t head_len, struct subst *subs,
    int count, int max)
{
	const char *p = head, *end = head + head_len;

	while (p < end && count < max) {
		const char *nl = memchr(p, '\n', (size_t) (end - p));
		size_t line_len = nl != NULL ? (size_t) (nl - p) :
		    (size_t) (end - p);
		char line[512], name[64], text[256];
		long reps;

		if (line_len < sizeof line) {
			memcpy(line, p, line_len);
			line[line_len] = '\0';
			if (sscanf(line, "# fill: %63s %ld %255s", name, &reps,
			    text) == 3 && reps > 0 && reps <= (1L << 26)) {
				size_t unit_len;
				char *unit = unescape(text, &unit_len);
				struct subst *s = &subs[count];

				if (unit == NULL || unit_len == 0 ||
				    (s->value = malloc(unit_len *
				    (size_t) reps)) == NULL) {
					free(unit);
					return -1;
				}
				for (long i = 0; i < reps; i++)
					memcpy(s->value + (size_t) i * unit_len,
					    unit, unit_len);
				s->len = unit_len * (size_t) reps;
				snprintf(s->name, sizeof s->name, "%s", name);
				free(unit);
				count++;
			}
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return count;
}

/* render mode: a corpus case's frame with its substitutions. */
static int
peer_render(const char *case_path, const char *out_path, int nsubs,
    char **defs)
{
	struct subst subs[64];
	size_t len, body_len, head_len;
	char *buf = slurp(case_path, &len), *body;
	FILE *out;
	int count = 0, rv = PEER_ERR;

	memset(subs, 0, sizeof subs);
	if (buf == NULL) {
		fprintf(stderr, "hostile_peer: %s: %s\n", case_path,
		    strerror(errno));
		return PEER_ERR;
	}
	if (len >= 3 && memcmp(buf, "--\n", 3) == 0) {
		head_len = 0;
		body = buf + 3;
	} else {
		char *sep = NULL;

		for (size_t i = 0; i + 4 <= len; i++)
			if (memcmp(buf + i, "\n--\n", 4) == 0) {
				sep = buf + i;
				break;
			}
		if (sep == NULL) {
			fprintf(stderr, "hostile_peer: %s: no \"--\" line\n",
			    case_path);
			free(buf);
			return PEER_ERR;
		}
		head_len = (size_t) (sep - buf);
		body = sep + 4;
	}
	body_len = len - (size_t) (body - buf);
	if (body_len > 0 && body[body_len - 1] == '\n')
		body_len--;
	for (int i = 0; i < nsubs && count < 32; i++) {
		const char *eq = strchr(defs[i], '=');

		if (eq == NULL || (size_t) (eq - defs[i]) >= 64)
			goto done;
		memcpy(subs[count].name, defs[i], (size_t) (eq - defs[i]));
		subs[count].name[eq - defs[i]] = '\0';
		if ((subs[count].value = strdup(eq + 1)) == NULL)
			goto done;
		subs[count].len = strlen(eq + 1);
		count++;
	}
	if ((count = parse_fills(buf, head_len, subs, count, 64)) < 0)
		goto done;
	if ((out = fopen(out_path, "wb")) == NULL) {
		fprintf(stderr, "hostile_peer: %s: %s\n", out_path,
		    strerror(errno));
		goto done;
	}
	for (size_t i = 0; i < body_len;) {
		bool done_one = false;

		if (body[i] == '@') {
			for (int k = 0; k < count; k++) {
				size_t nl = strlen(subs[k].name);

				if (i + nl + 2 <= body_len &&
				    memcmp(body + i + 1, subs[k].name, nl) ==
				    0 && body[i + 1 + nl] == '@') {
					fwrite(subs[k].value, 1, subs[k].len,
					    out);
					i += nl + 2;
					done_one = true;
					break;
				}
			}
		}
		if (!done_one)
			fputc(body[i++], out);
	}
	rv = fclose(out) == 0 ? PEER_OK : PEER_ERR;
done:
	for (int k = 0; k < 64; k++)
		free(subs[k].value);
	free(buf);
	return rv;
}

/* Parse a number (decimal or 0x hex) within [0, max]. */
static bool
num(const char *s, long long max, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 0);
	if (errno != 0 || *s == '\0' || *end != '\0' || v < 0 || v > max)
		return false;
	*out = v;
	return true;
}

int
main(int argc, char **argv)
{
	const char *mode, *file = NULL;
	char *buf = NULL;
	size_t len = 0;
	long long timeout_ms = 2000, claim = -1, v;
	bool req_id = false;
	int opt, rv = PEER_USAGE, nargs;

	if (argc < 3) {
		usage();
		return PEER_USAGE;
	}
	mode = argv[1];
	if (strcmp(mode, "render") == 0) {
		if (argc < 4) {
			usage();
			return PEER_USAGE;
		}
		return peer_render(argv[2], argv[3], argc - 4, argv + 4);
	}
	nargs = strcmp(mode, "nng") == 0 || strcmp(mode, "hold") == 0 ||
	    strcmp(mode, "hangup") == 0 ||
	    strcmp(mode, "sp") == 0 ? 3 : 2;
	if (argc < 1 + nargs) {
		usage();
		return PEER_USAGE;
	}
	optind = 1 + nargs;
	while ((opt = getopt(argc, argv, "f:t:L:r")) != -1) {
		switch (opt) {
		case 'f':
			file = optarg;
			break;
		case 't':
			if (!num(optarg, 1 << 30, &timeout_ms)) {
				usage();
				return PEER_USAGE;
			}
			break;
		case 'L':
			if (!num(optarg, INT64_MAX, &claim)) {
				usage();
				return PEER_USAGE;
			}
			break;
		case 'r':
			req_id = true;
			break;
		default:
			usage();
			return PEER_USAGE;
		}
	}
	if (optind != argc) {
		usage();
		return PEER_USAGE;
	}
	if (file != NULL && (buf = slurp(file, &len)) == NULL) {
		fprintf(stderr, "hostile_peer: %s: %s\n", file,
		    strerror(errno));
		return PEER_ERR;
	}
	if (strcmp(mode, "nng") == 0)
		rv = peer_nng(argv[2], argv[3], buf, len, (int) timeout_ms);
	else if (strcmp(mode, "raw") == 0)
		rv = peer_raw(argv[2], buf, len, (int) timeout_ms);
	else if (strcmp(mode, "sp") == 0) {
		if (num(argv[3], 0xffff, &v))
			rv = peer_sp(argv[2], (unsigned) v, buf, len, claim,
			    req_id, (int) timeout_ms);
		else
			usage();
	} else if (strcmp(mode, "hold") == 0) {
		if (num(argv[3], 100000, &v))
			rv = peer_hold(argv[2], (long) v, (int) timeout_ms);
		else
			usage();
	} else if (strcmp(mode, "hangup") == 0) {
		if (num(argv[3], 1000000, &v))
			rv = peer_hangup(argv[2], (long) v);
		else
			usage();
	} else if (strcmp(mode, "bind") == 0)
		rv = peer_bind(argv[2]);
	else
		usage();
	free(buf);
	fflush(stdout);
	nng_fini();
	return rv;
}
