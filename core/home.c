/* home.c: the home folder: permissions, token key, pid file.
 * SPDX-License-Identifier: MIT */
#include "home.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *
cs_home_resolve(const char *arg, char **cause)
{
	const char *env;
	char *path;

	if (arg != NULL && *arg != '\0')
		path = strdup(arg);
	else if ((env = getenv("COUNTERSIGN_HOME")) != NULL && *env != '\0')
		path = strdup(env);
	else if ((env = getenv("XDG_STATE_HOME")) != NULL && *env != '\0')
		path = cs_asprintf("%s/countersign", env);
	else if ((env = getenv("HOME")) != NULL && *env != '\0')
		path = cs_asprintf("%s/.local/state/countersign", env);
	else {
		cs_set_cause(cause, "no home folder: pass --home DIR or set "
		    "COUNTERSIGN_HOME");
		return NULL;
	}
	if (path == NULL)
		cs_set_cause(cause, "out of memory");
	return path;
}

/* mkdir -p for the parents of a folder (they may be shared, e.g. ~/.local). */
static int
mkdir_parents(const char *path)
{
	char *copy = strdup(path), *p;

	if (copy == NULL)
		return -1;
	for (p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
			free(copy);
			return -1;
		}
		*p = '/';
	}
	free(copy);
	return 0;
}

cs_err
cs_home_prepare(const char *home, char **cause)
{
	struct stat st;

	if (mkdir_parents(home) != 0 ||
	    (mkdir(home, 0700) != 0 && errno != EEXIST)) {
		cs_set_cause(cause, "cannot create %s: %s", home,
		    strerror(errno));
		return CS_EIO;
	}
	if (lstat(home, &st) != 0) {
		cs_set_cause(cause, "%s: %s", home, strerror(errno));
		return CS_EIO;
	}
	if (!S_ISDIR(st.st_mode)) {
		cs_set_cause(cause, "%s is not a folder", home);
		return CS_EINVAL;
	}
	if (st.st_uid != geteuid()) {
		cs_set_cause(cause, "%s is owned by uid %u, not by this user: "
		    "refusing to use it", home, (unsigned) st.st_uid);
		return CS_EDENIED;
	}
	if ((st.st_mode & 0022) != 0) {
		cs_set_cause(cause, "%s is writable by group or others (mode "
		    "%03o): refusing to use it", home,
		    (unsigned) (st.st_mode & 0777));
		return CS_EDENIED;
	}
	return CS_OK;
}

/* Generate a new key file with O_EXCL so a racing start cannot clobber. */
static cs_err
home_key_create(const char *path, char **cause)
{
	char hex[65];
	int fd;

	if (cs_random_hex(hex, 32) != CS_OK) {
		cs_set_cause(cause, "no randomness for %s", path);
		return CS_EIO;
	}
	hex[64] = '\n';
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) <
	    0) {
		if (errno == EEXIST)
			return CS_OK;
		cs_set_cause(cause, "cannot create %s: %s", path,
		    strerror(errno));
		return CS_EIO;
	}
	if (write(fd, hex, sizeof hex) != (ssize_t) sizeof hex ||
	    fsync(fd) != 0) {
		cs_set_cause(cause, "cannot write %s: %s", path,
		    strerror(errno));
		close(fd);
		unlink(path);
		return CS_EIO;
	}
	close(fd);
	return CS_OK;
}

cs_err
cs_home_key(const char *home, bool create, unsigned char **key,
    size_t *key_len, char **cause)
{
	char *path = cs_asprintf("%s/token.key", home), *text = NULL;
	struct stat st;
	size_t len;
	cs_err rv;

	if (path == NULL)
		return CS_ENOMEM;
	if (create && (rv = home_key_create(path, cause)) != CS_OK)
		goto done;
	if (stat(path, &st) != 0) {
		cs_set_cause(cause, "cannot read the token key %s: %s%s", path,
		    strerror(errno), errno == ENOENT ? " (start countersignd "
		    "once to create it)" : "");
		rv = errno == ENOENT ? CS_ENOTFOUND : CS_EIO;
		goto done;
	}
	if (st.st_uid != geteuid()) {
		cs_set_cause(cause, "%s is owned by uid %u, not by this user: "
		    "refusing to use it", path, (unsigned) st.st_uid);
		rv = CS_EDENIED;
		goto done;
	}
	if ((st.st_mode & 0077) != 0) {
		cs_set_cause(cause, "%s is readable by group or others (mode "
		    "%03o): chmod 600 it", path, (unsigned) (st.st_mode & 0777));
		rv = CS_EDENIED;
		goto done;
	}
	if ((rv = cs_read_file(path, 4096, &text, &len, cause)) != CS_OK)
		goto done;
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
		text[--len] = '\0';
	if (len < 32) {
		cs_set_cause(cause, "%s holds fewer than 32 bytes", path);
		free(text);
		rv = CS_EINVAL;
		goto done;
	}
	*key = (unsigned char *) text;
	*key_len = len;
done:
	free(path);
	return rv;
}

char *
cs_home_default_policy(const char *home, const char *fallback)
{
	char *path = cs_asprintf("%s/policy.json", home);

	if (path != NULL && access(path, R_OK) == 0)
		return path;
	free(path);
	return strdup(fallback);
}

cs_err
cs_home_check_pid(const char *home, char **cause)
{
	char *path = cs_asprintf("%s/countersignd.pid", home), *text = NULL;
	long long pid;
	cs_err rv = CS_OK;

	if (path == NULL)
		return CS_ENOMEM;
	if (cs_read_file(path, 64, &text, NULL, NULL) == CS_OK) {
		text[strcspn(text, "\n")] = '\0';
		if (cs_parse_int(text, 1, 1 << 30, &pid) == CS_OK &&
		    (pid_t) pid != getpid() &&
		    (kill((pid_t) pid, 0) == 0 || errno == EPERM)) {
			cs_set_cause(cause, "countersignd is already running "
			    "for %s (pid %lld)", home, pid);
			rv = CS_EEXISTS;
		}
	}
	free(text);
	free(path);
	return rv;
}

cs_err
cs_home_write_pid(const char *home, char **cause)
{
	char *path = cs_asprintf("%s/countersignd.pid", home);
	FILE *f;

	if (path == NULL)
		return CS_ENOMEM;
	if ((f = fopen(path, "w")) == NULL) {
		cs_set_cause(cause, "cannot write %s: %s", path,
		    strerror(errno));
		free(path);
		return CS_EIO;
	}
	fprintf(f, "%ld\n", (long) getpid());
	fclose(f);
	free(path);
	return CS_OK;
}

void
cs_home_unlock_pid(const char *home)
{
	char *path = cs_asprintf("%s/countersignd.pid", home), *text = NULL;
	long long pid;

	if (path == NULL)
		return;
	if (cs_read_file(path, 64, &text, NULL, NULL) == CS_OK) {
		text[strcspn(text, "\n")] = '\0';
		if (cs_parse_int(text, 1, 1 << 30, &pid) == CS_OK &&
		    (pid_t) pid == getpid())
			unlink(path);
	}
	free(text);
	free(path);
}

char *
cs_home_url(const char *home, const char *name)
{
	return cs_asprintf("ipc://%s/%s", home, name);
}

cs_err
cs_home_check_socket(const char *path, char **cause)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? CS_OK : CS_EIO;
	if (!S_ISSOCK(st.st_mode)) {
		cs_set_cause(cause, "%s exists and is not a socket: refusing to "
		    "replace it", path);
		return CS_EDENIED;
	}
	if (st.st_uid != geteuid()) {
		cs_set_cause(cause, "%s is owned by uid %u, not by this user: "
		    "refusing to reuse it", path, (unsigned) st.st_uid);
		return CS_EDENIED;
	}
	return CS_OK;
}
