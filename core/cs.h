/* cs.h: errors, time, hashing and small helpers shared by every module.
 * SPDX-License-Identifier: MIT */
#ifndef CS_H
#define CS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

typedef enum cs_err {
	CS_OK = 0,
	CS_ENOMEM,
	CS_EINVAL,
	CS_EPARSE,
	CS_ENOTFOUND,
	CS_EDB,
	CS_ETRANSPORT,
	CS_ETIMEDOUT,
	CS_ECLOSED,
	CS_EFULL,
	CS_EDENIED,
	CS_EEXISTS,
	CS_EIO,
	CS_ERR_COUNT /* keep last; append only, numbers appear in the audit db */
} cs_err;

/* cs_strerror returns a static, human-readable text for err. */
const char *cs_strerror(cs_err err);

/* cs_asprintf formats into a new malloc'd string (NULL on OOM). */
char *cs_asprintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* cs_set_cause stores a new formatted string in *cause when cause is not
 * NULL and *cause is still NULL (the first cause wins). The string is
 * always valid UTF-8 (see cs_utf8_scrub): a cause quotes hostile input, cut
 * at a byte count, and must still go into a JSON reply and audit row. */
void cs_set_cause(char **cause, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* cs_utf8_ok reports whether the len bytes at buf are valid UTF-8, by
 * jansson's check (no overlong forms, surrogates or code points above
 * U+10FFFF); false as well when out of memory. */
bool cs_utf8_ok(const char *buf, size_t len);

/* cs_utf8_scrub leaves text alone when it is valid UTF-8, and otherwise
 * replaces each of its bytes above 0x7f with '?'. */
void cs_utf8_scrub(char *text);

/* cs_json_text makes a JSON string of text, scrubbed (cs_utf8_scrub) when
 * it is not valid UTF-8; NULL only when text is NULL or out of memory. */
json_t *cs_json_text(const char *text);

/* cs_now_ms returns wall-clock Unix time in milliseconds. */
int64_t cs_now_ms(void);

/* cs_mono_ms returns CLOCK_MONOTONIC in milliseconds: deadlines and TTLs. */
int64_t cs_mono_ms(void);

/* cs_mono_us returns CLOCK_MONOTONIC in microseconds. */
int64_t cs_mono_us(void);

/* cs_parse_duration_ms parses "250ms", "30s", "15m", "2h", "1d" or a bare
 * number of seconds into milliseconds. Rejects negatives and overflow. */
cs_err cs_parse_duration_ms(const char *text, int64_t *out_ms);

/* cs_parse_int parses a whole decimal integer within [min, max]. */
cs_err cs_parse_int(const char *text, long long min, long long max,
    long long *out);

/* cs_sha256_hex writes the lowercase hex SHA-256 of data (65 bytes with
 * the terminating NUL) into out. */
void cs_sha256_hex(const void *data, size_t len, char out[65]);

/* cs_summary returns the short stand-in an enforcement point sends for a
 * string too long to send whole: its first head bytes, then
 * "... [LEN bytes, sha256:HEX]" (a new string, NULL on OOM). */
char *cs_summary(const char *s, size_t len, size_t head);

/* cs_is_summary reports whether the len bytes at s end the way a
 * cs_summary does, so that a policy test on such a value can refuse
 * rather than judge a string it cannot see whole. */
bool cs_is_summary(const char *s, size_t len);

/* cs_json_canon returns the canonical text of a JSON value (sorted keys,
 * compact, UTF-8 as is): a new string, caller frees. NULL on OOM. */
char *cs_json_canon(const json_t *value);

/* cs_args_digest writes "sha256:<hex>" of the canonical JSON of args
 * (JSON null when args is NULL) into out (72 bytes). */
cs_err cs_args_digest(const json_t *args, char out[72]);

/* cs_json_scan walks JSON text once without parsing it, so it is safe to
 * run before parsing hostile input: it reports whether arrays and objects
 * nest no deeper than max_depth and, when they do and flaw is not NULL,
 * sets *flaw to what is wrong with the text that some lexers let through
 * (a \u escape of an unpaired UTF-16 surrogate, a control character other
 * than JSON's whitespace outside strings), or NULL. */
bool cs_json_scan(const char *buf, size_t len, int max_depth,
    const char **flaw);

/* cs_glob_match matches text against a pattern where '*' matches any run
 * of characters (including none) and '?' one character. */
bool cs_glob_match(const char *pattern, const char *text);

/* cs_random_hex fills out with 2*nbytes hex characters from the OS CSPRNG
 * and a NUL. */
cs_err cs_random_hex(char *out, size_t nbytes);

/* cs_b64url_decode decodes strict base64url (RFC 4648 section 5,
 * unpadded, canonical: leftover bits must be zero) into a new buffer with a
 * NUL after *out_len bytes; CS_EPARSE on any other input. */
cs_err cs_b64url_decode(const char *in, size_t len, unsigned char **out,
    size_t *out_len);

/* cs_log writes one line to stderr with a timestamp prefix. */
void cs_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* cs_read_file reads a whole file (capped at max_len) into a new buffer
 * with a NUL terminator after len bytes. */
cs_err cs_read_file(const char *path, size_t max_len, char **out,
    size_t *out_len, char **cause);

/* cs_crash_point kills the process with SIGKILL at the named point when
 * the build has CS_CRASH_POINTS and $COUNTERSIGN_CRASH_AT names it
 * (optionally "name:N" for the N-th time it is reached). Fault tests use
 * it to stop the daemon at its worst moments; other builds compile it to
 * nothing. */
#ifdef CS_CRASH_POINTS
void cs_crash_point(const char *name);
#else
#define cs_crash_point(name) ((void) 0)
#endif

#define CS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
