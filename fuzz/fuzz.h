/* fuzz.h: what every libFuzzer target shares: the entry points and a
 * property check that aborts, so libFuzzer saves the input and prints the
 * stack like for any other crash.
 * SPDX-License-Identifier: MIT */
#ifndef FUZZ_H
#define FUZZ_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz_fail reports a violated property (where, the failed expression and
 * a formatted detail) on stderr and aborts. */
static inline void __attribute__((noreturn, format(printf, 4, 5)))
fuzz_fail(const char *file, int line, const char *expr, const char *fmt,
    ...)
{
	va_list ap;

	fprintf(stderr, "\n%s:%d: property violated: %s\n  ", file, line,
	    expr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* FUZZ_CHECK(cond, fmt, ...) fails the run unless cond holds. Unlike
 * assert() it stays on in every build. */
#define FUZZ_CHECK(cond, ...)                                           \
	do {                                                            \
		if (!(cond))                                            \
			fuzz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__); \
	} while (0)

#endif
