/* The scheduler's part of a checkpoint: every server writes its file (lib/snapshot.c). */
#ifndef PS_SNAPSHOT_H
#define PS_SNAPSHOT_H

#include "ps/sched.h"

/* CKPT_SAVE from ps-ckpt: SAVE to every server holding slots; CTL_OK once all have
 * written their files, ERROR if any failed. */
void	snapshot_request(struct sched *, struct ps_peer *, struct ps_msg *);
int	snapshot_busy(const struct sched *);
void	snapshot_free(struct sched *);

#endif
