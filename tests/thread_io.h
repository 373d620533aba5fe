/* thread_io.h: the write system calls of the calling thread, for suites
 * that check how many writes an operation makes.
 * SPDX-License-Identifier: MIT */
#ifndef TESTS_THREAD_IO_H
#define TESTS_THREAD_IO_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Write system calls this thread has made (syscw of /proc/thread-self/io),
 * or -1 where the kernel does not count them, or under valgrind, whose
 * scheduler writes a byte to a pipe at every thread switch. Check's own
 * assertions write to its runner, so assert nothing between two counts. */
static inline long long
thread_writes(void)
{
	const char *preload = getenv("LD_PRELOAD");
	FILE *f;
	char line[128];
	long long n = -1;

	if ((preload != NULL && strstr(preload, "vgpreload") != NULL) ||
	    (f = fopen("/proc/thread-self/io", "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "syscw: %lld", &n) == 1)
			break;
	fclose(f);
	return n;
}

#endif
