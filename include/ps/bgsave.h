/* A server's part of a checkpoint: its slots written by a fork()ed child while the
 * parent keeps serving (lib/bgsave.c). */
#ifndef PS_BGSAVE_H
#define PS_BGSAVE_H

#include "ps/server.h"

/* SAVE from the scheduler: fork a child that writes this server's owned slots into
 * the folder; the reply (SAVE_OK or ERROR) goes when the child has exited. */
void	bgsave_request(struct server *, struct ps_peer *, struct ps_msg *);
/* SIGCHLD: reap the child, answer the SAVE. */
void	bgsave_reap(struct server *);
/* Is a save under way? Slots must not move meanwhile. */
int	bgsave_busy(const struct server *);
void	bgsave_free(struct server *);

#endif
