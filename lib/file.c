/* Whole small files (ps/file.h): a checkpoint's MANIFEST, the scheduler's state. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ps/file.h"
#include "ps/xmalloc.h"

static int
file_sync_dir(const char *path, char **cause)
{
	char *copy = xstrdup(path), *dir = dirname(copy);
	int fd, rv = -1;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		xasprintf(cause, "%s: %s", dir, strerror(errno));
	else if (fsync(fd) != 0)
		xasprintf(cause, "%s: fsync: %s", dir, strerror(errno));
	else
		rv = 0;
	if (fd != -1)
		close(fd);
	free(copy);
	return rv;
}

int
file_replace(const char *path, const void *data, size_t len, char **cause)
{
	const char *p = data;
	char *tmp;
	size_t done = 0;
	ssize_t n;
	int fd, rv = -1;

	xasprintf(&tmp, "%s.tmp", path);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) == -1) {
		xasprintf(cause, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	while (done < len) {
		n = write(fd, p + done, len - done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(cause, "%s: write: %s", tmp, strerror(errno));
			goto out;
		}
		done += (size_t)n;
	}
	if (fsync(fd) != 0) {
		xasprintf(cause, "%s: fsync: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		xasprintf(cause, "%s: close: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		xasprintf(cause, "%s: rename to %s: %s", tmp, path, strerror(errno));
		goto out;
	}
	rv = file_sync_dir(path, cause);
out:
	if (fd != -1)
		close(fd);
	if (rv != 0)
		unlink(tmp);
	free(tmp);
	return rv;
}

char *
file_read(const char *path, size_t max, size_t *len, char **cause)
{
	char *text = NULL;
	size_t cap = 0;
	ssize_t n;
	int fd, saved;

	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		saved = errno;
		xasprintf(cause, "%s: %s", path, strerror(errno));
		errno = saved;
		return NULL;
	}
	for (;;) {
		if (*len + 1 >= cap) {
			if (cap > max) {
				xasprintf(cause, "%s: larger than %zu bytes", path, max);
				goto fail;
			}
			cap = cap == 0 ? 4096 : 2 * cap;
			text = xreallocarray(text, 1, cap);
		}
		n = read(fd, text + *len, cap - 1 - *len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(cause, "%s: read: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		*len += (size_t)n;
	}
	if (*len > max) {
		xasprintf(cause, "%s: larger than %zu bytes", path, max);
		goto fail;
	}
	close(fd);
	text[*len] = '\0';
	return text;
fail:
	saved = errno;
	close(fd);
	free(text);
	errno = saved;
	return NULL;
}
