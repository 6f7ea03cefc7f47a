/* Slot moves ordered by ps-ctl: reshard, rebalance, drain (see lib/reshard.c). */
#ifndef PS_RESHARD_H
#define PS_RESHARD_H

#include "ps/sched.h"

/* A RESHARD, REBALANCE or DRAIN request: answered with CTL_OK once every move is
 * done, or ERROR. */
void	reshard_request(struct sched *, struct ps_peer *, struct ps_msg *);
int	reshard_busy(const struct sched *);
/* Is this server being drained, or part of a move under way? */
int	reshard_draining(const struct sched *, uint32_t id);
int	reshard_involves(const struct sched *, uint32_t id);
void	reshard_free(struct sched *);

#endif
