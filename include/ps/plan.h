/* Planning slot moves on a cluster map: reshard a range, rebalance, drain. Pure: the
 * scheduler carries the plans out (lib/scheduler.c). */
#ifndef PS_PLAN_H
#define PS_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "ps/map.h"

/* Slots to move from one server to another (indices into map.servers). */
struct ps_move {
	uint32_t	 from;
	uint32_t	 to;
	uint16_t	*slots;		/* ascending */
	size_t		 n;
};

/* Slots first..last to server to. */
size_t	plan_reshard(const struct ps_map *, uint32_t first, uint32_t last, uint32_t to,
	    struct ps_move **moves);
/* Even out the slots over the servers marked in use[] (the others give all theirs
 * away): each ends with NSLOTS/n or one more, and as few slots move as can. */
size_t	plan_rebalance(const struct ps_map *, const uint8_t *use, struct ps_move **moves);
void	plan_free(struct ps_move *, size_t n);
/* Apply a move to the map's owner table (the epoch is the caller's). */
void	plan_apply(struct ps_map *, const struct ps_move *);

#endif
