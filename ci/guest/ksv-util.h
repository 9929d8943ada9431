/* SPDX-License-Identifier: GPL-2.0 */
/* Helpers shared by the guest programs in ci/guest/. */
#ifndef KSV_UTIL_H
#define KSV_UTIL_H

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* Writes @val to the file @path (sysfs): 0, or -1 with errno set. */
static inline int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	int ok = fd >= 0 && write(fd, val, strlen(val)) == (ssize_t)strlen(val);

	if (fd >= 0)
		close(fd);
	return ok ? 0 : -1;
}

#endif
