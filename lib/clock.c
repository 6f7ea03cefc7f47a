/*
 * Bounded staleness at the scheduler (cluster.consistency). A worker sends CLOCK c
 * before it computes clock c (c * cluster.clock mini-batches done); the reply is
 * deferred until the slowest live worker's clock is at least c - staleness (ssp),
 * or c (bsp: staleness 0). Under asp workers send no CLOCK at all.
 *
 * "Live" means in the clock group: alive, and not waiting at a barrier (a worker at a
 * barrier computes nothing until everyone is there, so others must not wait for its
 * clock: they would never reach the barrier). A worker that finishes (DONE) or is
 * lost leaves the group; each of these calls sched_check_clocks.
 */
#include <inttypes.h>

#include "ps/log.h"
#include "ps/net.h"
#include "ps/msg.h"
#include "ps/proto.h"
#include "ps/sched.h"

/* The slowest clock of the group; UINT64_MAX if it is empty. */
static uint64_t
clock_slowest(const struct sched *s)
{
	uint64_t min = UINT64_MAX;
	uint32_t i;

	for (i = 0; i < s->nnodes; i++) {
		const struct node *n = s->nodes[i];

		if (n->role != PS_ROLE_WORKER || n->state != NODE_ALIVE ||
		    n->barrier_id != 0)
			continue;
		if (n->clock < min)
			min = n->clock;
	}
	return min;
}

static uint64_t
clock_staleness(const struct sched *s)
{
	return s->conf->consistency == PS_BSP ? 0 : (uint64_t)s->conf->staleness;
}

void
sched_check_clocks(struct sched *s)
{
	uint64_t slowest, stale = clock_staleness(s);
	struct ps_hdr h;
	uint32_t i;

	/* Until every worker has registered, a late one would start at clock 0. */
	if (s->workers < (uint32_t)s->conf->num_workers)
		return;
	slowest = clock_slowest(s);
	for (i = 0; i < s->nnodes; i++) {
		struct node *n = s->nodes[i];

		if (n->clock_id == 0 || n->peer == NULL)
			continue;
		if (slowest != UINT64_MAX && slowest + stale < n->clock)
			continue;
		h = msg_hdr(PS_MSG_CLOCK_OK, n->clock_id, 0, s->map.epoch);
		msg_begin(&s->out, &h, 1);
		msg_put_uint(&s->out, slowest == UINT64_MAX ? n->clock : slowest);
		msg_end(&s->out);
		peer_send(n->peer, &s->out);
		n->clock_id = 0;
		/* Its heartbeats waited with it: its silence starts now. */
		n->last_seen = net_now();
	}
}

void
sched_clock(struct sched *s, struct ps_peer *p, struct node *n, struct ps_msg *m)
{
	uint64_t c = msg_uint(m, 0);

	if (s->conf->consistency == PS_ASP) {
		peer_error(p, m, PS_ERR_CLIENT, "CLOCK under cluster.consistency asp");
		return;
	}
	if (n->clock_id != 0 || n->barrier_id != 0) {
		peer_error(p, m, PS_ERR_CLIENT, "CLOCK while waiting");
		return;
	}
	if (c < n->clock) {
		peer_error(p, m, PS_ERR_CLIENT, "clock %" PRIu64 " after clock %" PRIu64,
		    c, n->clock);
		return;
	}
	n->clock = c;
	n->clock_id = m->hdr.id;
	log_debug("%s at clock %" PRIu64, sched_node_name(n), c);
	/* Its clock may be what others wait for: check them all. */
	sched_check_clocks(s);
}
