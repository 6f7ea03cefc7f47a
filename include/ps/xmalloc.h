/* Allocation that never returns NULL: out of memory is fatal, so callers never check. */
#ifndef PS_XMALLOC_H
#define PS_XMALLOC_H

#include <stddef.h>
#include "ps/log.h"

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...) PS_PRINTF(2, 3);
int	 xvasprintf(char **, const char *, va_list);

#endif
