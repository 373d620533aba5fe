/* hostile_sub.c: a minimal event consumer for the hostile harness: it
 * subscribes to countersignd's event feed and writes every frame to a file
 * as one line "WALL_MS TOPIC JSON", flushed at once, so a test can wait
 * for a health or resolved event. -s makes it a slow consumer; the
 * harness also freezes it (SIGSTOP) or kills it while calls are pending.
 *
 *   hostile_sub -u URL -o FILE [-s SLOW_MS]
 *
 * It runs until killed. SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/util/platform.h>
#include <nng/protocol/pubsub0/sub.h>

/* Wall clock milliseconds. */
static long long
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
main(int argc, char **argv)
{
	const char *url = NULL, *out = NULL;
	long slow_ms = 0;
	nng_socket s;
	FILE *f;
	int opt, rv;

	while ((opt = getopt(argc, argv, "u:o:s:")) != -1) {
		switch (opt) {
		case 'u':
			url = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 's':
			slow_ms = strtol(optarg, NULL, 10);
			break;
		default:
			url = NULL;
			break;
		}
	}
	if (url == NULL || out == NULL || optind != argc) {
		fputs("usage: hostile_sub -u URL -o FILE [-s SLOW_MS]\n",
		    stderr);
		return 64;
	}
	if ((f = fopen(out, "a")) == NULL) {
		fprintf(stderr, "hostile_sub: %s: %s\n", out, strerror(errno));
		return 1;
	}
	if ((rv = nng_sub0_open(&s)) != 0 ||
	    (rv = nng_socket_set(s, NNG_OPT_SUB_SUBSCRIBE, "", 0)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_RECONNMINT, 20)) != 0 ||
	    (rv = nng_socket_set_ms(s, NNG_OPT_RECONNMAXT, 100)) != 0 ||
	    (rv = nng_dial(s, url, NULL, NNG_FLAG_NONBLOCK)) != 0) {
		fprintf(stderr, "hostile_sub: %s: %s\n", url, nng_strerror(rv));
		return 1;
	}
	/* tell the harness we are subscribed */
	fprintf(f, "%lld - {\"subscribed\":true}\n", wall_ms());
	fflush(f);
	for (;;) {
		char *buf = NULL;
		size_t len = 0;

		if ((rv = nng_recv(s, &buf, &len, NNG_FLAG_ALLOC)) != 0) {
			if (rv == NNG_ECLOSED)
				break;
			continue;
		}
		fprintf(f, "%lld ", wall_ms());
		for (size_t i = 0; i < len; i++)
			fputc(buf[i] == '\n' ? ' ' : buf[i], f);
		fputc('\n', f);
		fflush(f);
		nng_free(buf, len);
		if (slow_ms > 0)
			nng_msleep((nng_duration) slow_ms);
	}
	fclose(f);
	return 0;
}
