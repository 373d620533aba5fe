/* cs.c: errors, time, hashing and small helpers shared by every module.
 * SPDX-License-Identifier: MIT */
#include "cs.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#include <signal.h>
#include <stdatomic.h>

#include <openssl/sha.h>

#include "json.h"

static const char *const cs_err_msgs[CS_ERR_COUNT] = {
	[CS_OK] = "success",
	[CS_ENOMEM] = "out of memory",
	[CS_EINVAL] = "invalid argument",
	[CS_EPARSE] = "parse error",
	[CS_ENOTFOUND] = "not found",
	[CS_EDB] = "audit store error",
	[CS_ETRANSPORT] = "transport error",
	[CS_ETIMEDOUT] = "timed out",
	[CS_ECLOSED] = "closed",
	[CS_EFULL] = "queue full",
	[CS_EDENIED] = "permission denied",
	[CS_EEXISTS] = "already exists",
	[CS_EIO] = "i/o error",
};

const char *
cs_strerror(cs_err err)
{
	if ((unsigned) err >= CS_ERR_COUNT || cs_err_msgs[err] == NULL)
		return "unknown error";
	return cs_err_msgs[err];
}

/* Format into a new string; shared by cs_asprintf and cs_set_cause. */
static char *cs_vasprintf(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));

static char *
cs_vasprintf(const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	char *s;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return NULL;
	if ((s = malloc((size_t) n + 1)) == NULL)
		return NULL;
	vsnprintf(s, (size_t) n + 1, fmt, ap);
	return s;
}

char *
cs_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = cs_vasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void
cs_set_cause(char **cause, const char *fmt, ...)
{
	va_list ap;

	if (cause == NULL || *cause != NULL)
		return;
	va_start(ap, fmt);
	*cause = cs_vasprintf(fmt, ap);
	va_end(ap);
	if (*cause != NULL)
		cs_utf8_scrub(*cause);
}

bool
cs_utf8_ok(const char *buf, size_t len)
{
	json_t *probe = json_stringn(buf, len); /* jansson's UTF-8 check */

	json_decref(probe);
	return probe != NULL;
}

void
cs_utf8_scrub(char *text)
{
	if (cs_utf8_ok(text, strlen(text)))
		return;
	for (unsigned char *p = (unsigned char *) text; *p != '\0'; p++)
		if (*p > 0x7f)
			*p = '?';
}

json_t *
cs_json_text(const char *text)
{
	json_t *v;
	char *copy;

	if (text == NULL)
		return NULL;
	if ((v = json_string(text)) != NULL ||
	    (copy = strdup(text)) == NULL)
		return v;
	cs_utf8_scrub(copy);
	v = json_string(copy);
	free(copy);
	return v;
}

int64_t
cs_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
cs_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
cs_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

cs_err
cs_parse_duration_ms(const char *text, int64_t *out_ms)
{
	static const struct {
		const char *suffix;
		int64_t ms;
	} units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "", 1000 }, { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 },
	};
	char *end;
	long long v;

	if (text == NULL || *text < '0' || *text > '9')
		return CS_EINVAL;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || v < 0)
		return CS_EINVAL;
	for (size_t i = 0; i < CS_ARRAY_LEN(units); i++) {
		if (strcmp(end, units[i].suffix) != 0)
			continue;
		if (v > INT64_MAX / units[i].ms)
			return CS_EINVAL;
		*out_ms = (int64_t) v * units[i].ms;
		return CS_OK;
	}
	return CS_EINVAL;
}

cs_err
cs_parse_int(const char *text, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (text == NULL || *text == '\0')
		return CS_EINVAL;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return CS_EINVAL;
	*out = v;
	return CS_OK;
}

void
cs_sha256_hex(const void *data, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(data, len, md);
	for (size_t i = 0; i < sizeof md; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[64] = '\0';
}

char *
cs_summary(const char *s, size_t len, size_t head)
{
	char hex[65];

	cs_sha256_hex(s, len, hex);
	return cs_asprintf("%.*s... [%zu bytes, sha256:%s]",
	    (int) (head < len ? head : len), s, len, hex);
}

bool
cs_is_summary(const char *s, size_t len)
{
	static const char mid[] = " bytes, sha256:";
	const size_t mid_len = sizeof mid - 1, hex_len = 64;
	size_t end, digits = 0;

	/* "... [" DIGITS " bytes, sha256:" 64 HEX "]", read from the end */
	if (len < 5 + 1 + mid_len + hex_len + 1 || s[len - 1] != ']')
		return false;
	end = len - 1 - hex_len;
	for (size_t i = end; i < len - 1; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	if (memcmp(s + end - mid_len, mid, mid_len) != 0)
		return false;
	end -= mid_len;
	while (digits < end && digits < 20 && s[end - 1 - digits] >= '0' &&
	    s[end - 1 - digits] <= '9')
		digits++;
	return digits > 0 && end - digits >= 5 &&
	    memcmp(s + end - digits - 5, "... [", 5) == 0;
}

char *
cs_json_canon(const json_t *value)
{
	if (value == NULL)
		return strdup("null");
	return cs_json_dump(value, CS_JSON_SORT, NULL);
}

cs_err
cs_args_digest(const json_t *args, char out[72])
{
	char *canon;

	if ((canon = cs_json_canon(args)) == NULL)
		return CS_ENOMEM;
	memcpy(out, "sha256:", 7);
	cs_sha256_hex(canon, strlen(canon), out + 7);
	free(canon);
	return CS_OK;
}

/* The UTF-16 code unit of the \u escape (four hex digits) at p, p[0]
 * being its backslash, or -1 when the text from p to end is not one. */
static long
escape_unit(const char *p, const char *end)
{
	long unit = 0;

	if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
		return -1;
	for (int k = 2; k < 6; k++) {
		int c = (unsigned char) p[k], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			d = (c | 0x20) - 'a' + 10;
		else
			return -1;
		unit = unit << 4 | d;
	}
	return unit;
}

bool
cs_json_scan(const char *buf, size_t len, int max_depth, const char **flaw)
{
	const char *end = buf + len, *first = NULL;
	int depth = 0;
	bool in_str = false;

	for (size_t i = 0; i < len; i++) {
		char c = buf[i];

		if (in_str) {
			if (c == '\\') {
				long u = escape_unit(buf + i, end), low;

				if (u >= 0xD800 && u <= 0xDBFF &&
				    (low = escape_unit(buf + i + 6, end)) >= 0xDC00 &&
				    low <= 0xDFFF)
					i += 11; /* a whole pair */
				else if (u >= 0xD800 && u <= 0xDFFF) {
					if (first == NULL)
						first = "a \\u escape of an "
						    "unpaired UTF-16 surrogate";
				} else
					i++;
			} else if (c == '"') {
				in_str = false;
			}
			continue;
		}
		if (c == '"')
			in_str = true;
		else if (c == '{' || c == '[') {
			if (++depth > max_depth)
				return false;
		} else if (c == '}' || c == ']')
			depth--;
		else if ((unsigned char) c < 0x20 && c != ' ' && c != '\t' &&
		    c != '\n' && c != '\r' && first == NULL)
			first = "a control character outside a string";
	}
	if (flaw != NULL)
		*flaw = first;
	return true;
}

bool
cs_glob_match(const char *p, const char *t)
{
	const char *star = NULL, *mark = NULL;

	/* Iterative matcher with single backtrack point: linear-ish, no
	 * recursion, so hostile patterns cannot blow the stack. */
	while (*t != '\0') {
		if (*p == '*') {
			star = p++;
			mark = t;
		} else if (*p == '?' || *p == *t) {
			p++;
			t++;
		} else if (star != NULL) {
			p = star + 1;
			t = ++mark;
		} else
			return false;
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

cs_err
cs_random_hex(char *out, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char buf[64];
	size_t got = 0;

	if (nbytes > sizeof buf)
		return CS_EINVAL;
	while (got < nbytes) {
		ssize_t n = getrandom(buf + got, nbytes - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return CS_EIO;
		}
		got += (size_t) n;
	}
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[buf[i] >> 4];
		out[2 * i + 1] = hex[buf[i] & 15];
	}
	out[2 * nbytes] = '\0';
	return CS_OK;
}

void
cs_log(const char *fmt, ...)
{
	char line[2048];
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	/* One fprintf per line keeps lines whole across threads. */
	fprintf(stderr, "%s.%03ldZ %s\n", stamp, ts.tv_nsec / 1000000, line);
}

cs_err
cs_read_file(const char *path, size_t max_len, char **out, size_t *out_len,
    char **cause)
{
	FILE *f;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	cs_err rv = CS_OK;

	if ((f = fopen(path, "rb")) == NULL) {
		int saved = errno;

		cs_set_cause(cause, "%s: %s", path, strerror(saved));
		return saved == ENOENT ? CS_ENOTFOUND : CS_EIO;
	}
	for (;;) {
		size_t n;

		if (len + 4096 + 1 > cap) {
			char *nb;

			cap = cap ? cap * 2 : 8192;
			if ((nb = realloc(buf, cap)) == NULL) {
				rv = CS_ENOMEM;
				goto fail;
			}
			buf = nb;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (len > max_len) {
			cs_set_cause(cause, "%s: larger than %zu bytes", path,
			    max_len);
			rv = CS_EINVAL;
			goto fail;
		}
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		cs_set_cause(cause, "%s: read error", path);
		rv = CS_EIO;
		goto fail;
	}
	fclose(f);
	buf[len] = '\0';
	*out = buf;
	if (out_len != NULL)
		*out_len = len;
	return CS_OK;
fail:
	fclose(f);
	free(buf);
	return rv;
}

/* Value of one base64url digit, -1 for anything outside the alphabet. */
static int
b64url_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

cs_err
cs_b64url_decode(const char *in, size_t len, unsigned char **out,
    size_t *out_len)
{
	unsigned char *buf;
	size_t n = 0;
	uint32_t acc = 0;
	unsigned bits = 0;

	if (len % 4 == 1)
		return CS_EPARSE;
	if ((buf = malloc(len / 4 * 3 + 3)) == NULL)
		return CS_ENOMEM;
	for (size_t i = 0; i < len; i++) {
		int d = b64url_val(in[i]);

		if (d < 0)
			goto fail;
		acc = (acc << 6) | (uint32_t) d;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[n++] = (unsigned char) (acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Leftover bits must be zero, so each byte string has one text. */
	if (acc != 0)
		goto fail;
	buf[n] = '\0';
	*out = buf;
	*out_len = n;
	return CS_OK;
fail:
	free(buf);
	return CS_EPARSE;
}

#ifdef CS_CRASH_POINTS
void
cs_crash_point(const char *name)
{
	static atomic_long hits;
	const char *at = getenv("COUNTERSIGN_CRASH_AT");
	size_t len = strlen(name);
	long want = 1;

	if (at == NULL || strncmp(at, name, len) != 0 ||
	    (at[len] != '\0' && at[len] != ':'))
		return;
	if (at[len] == ':')
		want = strtol(at + len + 1, NULL, 10);
	if (atomic_fetch_add(&hits, 1) + 1 >= want) {
		fprintf(stderr, "crash point %s reached: SIGKILL\n", name);
		raise(SIGKILL);
	}
}
#endif
