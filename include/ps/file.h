/* Whole small files: read one, or replace one atomically (a crash leaves the old one
 * or the new one, never half of either). */
#ifndef PS_FILE_H
#define PS_FILE_H

#include <stddef.h>

/* Write data to PATH.tmp, fsync it, rename it over path, fsync the folder. 0, or -1
 * and cause (PATH.tmp removed). */
int	 file_replace(const char *path, const void *data, size_t len, char **cause);
/* The whole file, at most max bytes (larger: an error), NUL-terminated after len.
 * NULL and cause, with errno kept (ENOENT: there is none). */
char	*file_read(const char *path, size_t max, size_t *len, char **cause);

#endif
