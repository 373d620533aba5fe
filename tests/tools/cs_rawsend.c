/* cs_rawsend.c: integration-test tool: send one raw frame to a countersign
 * REP endpoint and print the reply, so tests can feed the daemon bytes that
 * countersignctl would never produce (malformed JSON, oversize frames).
 * SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/req.h>

/* Exit codes: 0 reply printed, 3 no reply (timeout or connection
 * dropped), 1 error, 64 usage. */
enum { RS_OK = 0, RS_ERR = 1, RS_NOREPLY = 3, RS_USAGE = 64 };

static void
usage(void)
{
	fputs("usage: cs_rawsend [-t TIMEOUT_MS] [-g BYTES | -f FILE] URL\n"
	    "  sends stdin, FILE or BYTES of garbage as one request frame to\n"
	    "  URL and prints the reply; exit 0 reply, 3 no reply (timeout,\n"
	    "  default 5000 ms, or connection dropped), 1 error, 64 usage\n",
	    stderr);
}

/* Read all of f into a new buffer; NULL on error. */
static char *
slurp(FILE *f, size_t *len)
{
	size_t cap = 65536, n = 0, got;
	char *buf = malloc(cap), *grown;

	while (buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			cap *= 2;
			if ((grown = realloc(buf, cap)) == NULL) {
				free(buf);
				return NULL;
			}
			buf = grown;
		}
	}
	if (buf != NULL && ferror(f)) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

/* A buffer of len bytes that is neither JSON nor text. */
static char *
garbage(size_t len)
{
	char *buf = malloc(len ? len : 1);
	uint32_t x = 2463534242u;

	if (buf == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		buf[i] = (char) (x & 0xff);
	}
	return buf;
}

/* Parse a non-negative decimal number; false when s is not one. */
static bool
parse_size(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	if (*s < '0' || *s > '9')
		return false;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return false;
	*out = v;
	return true;
}

int
main(int argc, char **argv)
{
	unsigned long long timeout_ms = 5000, garbage_len = 0;
	const char *file = NULL, *url;
	bool use_garbage = false;
	nng_socket sock;
	char *buf, *reply = NULL;
	size_t len = 0, reply_len = 0;
	FILE *in;
	int opt, rv, status = RS_ERR;

	while ((opt = getopt(argc, argv, "t:g:f:")) != -1) {
		switch (opt) {
		case 't':
			if (!parse_size(optarg, INT32_MAX, &timeout_ms)) {
				usage();
				return RS_USAGE;
			}
			break;
		case 'g':
			if (!parse_size(optarg, 1ULL << 30, &garbage_len)) {
				usage();
				return RS_USAGE;
			}
			use_garbage = true;
			break;
		case 'f':
			file = optarg;
			break;
		default:
			usage();
			return RS_USAGE;
		}
	}
	if (optind != argc - 1 || (use_garbage && file != NULL)) {
		usage();
		return RS_USAGE;
	}
	url = argv[optind];

	if (use_garbage) {
		buf = garbage((size_t) garbage_len);
		len = (size_t) garbage_len;
	} else {
		if ((in = file != NULL ? fopen(file, "rb") : stdin) == NULL) {
			fprintf(stderr, "cs_rawsend: %s: %s\n", file,
			    strerror(errno));
			return RS_ERR;
		}
		buf = slurp(in, &len);
		if (in != stdin)
			fclose(in);
	}
	if (buf == NULL) {
		fprintf(stderr, "cs_rawsend: cannot read the frame\n");
		return RS_ERR;
	}

	if ((rv = nng_req0_open(&sock)) != 0) {
		fprintf(stderr, "cs_rawsend: %s\n", nng_strerror(rv));
		free(buf);
		return RS_ERR;
	}
	/* one attempt only: no resend, bounded waits both ways */
	if ((rv = nng_socket_set_ms(sock, NNG_OPT_REQ_RESENDTIME,
	    NNG_DURATION_INFINITE)) != 0 ||
	    (rv = nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO,
	    (nng_duration) timeout_ms)) != 0 ||
	    (rv = nng_socket_set_ms(sock, NNG_OPT_SENDTIMEO,
	    (nng_duration) timeout_ms)) != 0 ||
	    (rv = nng_socket_set_size(sock, NNG_OPT_RECVMAXSZ, 0)) != 0 ||
	    (rv = nng_dial(sock, url, NULL, 0)) != 0) {
		fprintf(stderr, "cs_rawsend: %s: %s\n", url, nng_strerror(rv));
		goto done;
	}
	if ((rv = nng_send(sock, buf, len, 0)) != 0) {
		fprintf(stderr, "cs_rawsend: send: %s\n", nng_strerror(rv));
		status = rv == NNG_ETIMEDOUT ? RS_NOREPLY : RS_ERR;
		goto done;
	}
	if ((rv = nng_recv(sock, &reply, &reply_len, NNG_FLAG_ALLOC)) != 0) {
		/* a timeout, or the peer dropped the connection (nng does
		 * that to a frame above its receive limit) */
		fprintf(stderr, "cs_rawsend: no reply: %s\n",
		    nng_strerror(rv));
		status = RS_NOREPLY;
		goto done;
	}
	if (fwrite(reply, 1, reply_len, stdout) != reply_len ||
	    putchar('\n') == EOF || fflush(stdout) != 0)
		fprintf(stderr, "cs_rawsend: cannot write the reply\n");
	else
		status = RS_OK;
	nng_free(reply, reply_len);
done:
	free(buf);
	if (status == RS_NOREPLY) {
		/* nng 1.5.2 can hang closing a socket whose large frame the
		 * peer dropped unread: a one-shot tool just leaves */
		fflush(NULL);
		_exit(status);
	}
	nng_close(sock);
	nng_fini();
	return status;
}
