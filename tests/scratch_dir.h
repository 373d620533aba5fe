/* scratch_dir.h: removing a suite's scratch directory (a flat one, as
 * the store suites make with mkdtemp) and every file in it.
 * SPDX-License-Identifier: MIT */
#ifndef TESTS_SCRATCH_DIR_H
#define TESTS_SCRATCH_DIR_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static inline void
scratch_dir_remove(const char *dir_path)
{
	DIR *dir = opendir(dir_path);
	struct dirent *de;
	char path[512];

	if (dir == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir_path, de->d_name);
		unlink(path);
	}
	closedir(dir);
	rmdir(dir_path);
}

#endif
