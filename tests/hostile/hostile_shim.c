/* hostile_shim.c: LD_PRELOAD fault injection for the hostile harness.
 *
 * HOSTILE_FSYNC_FLAG=PATH   while PATH exists, fsync(2) and fdatasync(2)
 *                           fail with EIO (the data written before stays
 *                           in the page cache, as after a failed flush);
 *                           the first failure creates PATH.hit
 * HOSTILE_CLOCK_FILE=PATH   PATH holds a signed number of seconds added
 *                           to the wall clock (CLOCK_REALTIME, time(),
 *                           gettimeofday()); the monotonic clock is left
 *                           alone
 *
 * Without those variables every call goes straight to libc.
 * SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*sync_fn)(int);
typedef int (*clock_fn)(clockid_t, struct timespec *);

/* The next definition of name, as a function pointer. */
static void *
next_sym(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

/* Whether the fsync fault is on now; notes the first hit. */
static bool
fsync_fault(void)
{
	static int hit_noted;
	const char *flag = getenv("HOSTILE_FSYNC_FLAG");
	char hit[4096];
	int fd;

	if (flag == NULL || access(flag, F_OK) != 0)
		return false;
	if (!hit_noted && strlen(flag) + 5 < sizeof hit) {
		memcpy(hit, flag, strlen(flag));
		memcpy(hit + strlen(flag), ".hit", 5);
		if ((fd = open(hit, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) >= 0)
			close(fd);
		hit_noted = 1;
	}
	return true;
}

/* Call the real sync function name on fd. */
static int
real_sync(const char *name, int fd)
{
	void *p = next_sym(name);
	sync_fn fn;

	if (p == NULL) {
		errno = ENOSYS;
		return -1;
	}
	memcpy(&fn, &p, sizeof fn);
	return fn(fd);
}

int
fsync(int fd)
{
	if (fsync_fault()) {
		errno = EIO;
		return -1;
	}
	return real_sync("fsync", fd);
}

int
fdatasync(int fd)
{
	if (fsync_fault()) {
		errno = EIO;
		return -1;
	}
	return real_sync("fdatasync", fd);
}

/* The configured wall clock offset in seconds (0 without one). */
static long long
clock_offset(void)
{
	const char *path = getenv("HOSTILE_CLOCK_FILE");
	char buf[32];
	ssize_t n;
	int fd;

	if (path == NULL || (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtoll(buf, NULL, 10);
}

int
clock_gettime(clockid_t id, struct timespec *ts)
{
	void *p = next_sym("clock_gettime");
	clock_fn fn;
	int rv;

	if (p == NULL) {
		errno = ENOSYS;
		return -1;
	}
	memcpy(&fn, &p, sizeof fn);
	rv = fn(id, ts);
	if (rv == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
		ts->tv_sec += (time_t) clock_offset();
	return rv;
}

int
gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
	struct timespec ts;

	(void) tz;
	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return -1;
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

time_t
time(time_t *out)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return (time_t) -1;
	if (out != NULL)
		*out = ts.tv_sec;
	return ts.tv_sec;
}
