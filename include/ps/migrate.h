/* Sending slots to another server while serving (see lib/migrate.c). */
#ifndef PS_MIGRATE_H
#define PS_MIGRATE_H

#include "ps/server.h"

/* MIGRATE from the scheduler: move these slots to the node id at host:port, then
 * answer d with MIGRATE_OK (slots confirmed, keys, why not all). 0, or -1 and cause if it cannot
 * start (d is then untouched). */
int	migrate_start(struct server *, struct ps_defer *d, uint32_t to, const char *host,
	    int port, const uint16_t *slots, size_t n, char **cause);
/* Stop at exit. */
void	migrate_free(struct server *);

#endif
