/*
 * Slot moves ordered by ps-ctl. A plan (lib/plan.c) is a list of moves, each from one
 * server to another; they run one at a time, in three steps:
 *
 *   IMPORT to the destination: it expects the slots, and holds requests for them;
 *   MIGRATE to the source: it sends them, handing each over as it is copied
 *     (lib/migrate.c), and answers once the destination has confirmed them all;
 *   the map: the slots' owner changes under a new epoch, sent to every server.
 *
 * Workers need not wait for the map: a server that handed a slot over answers MOVED
 * with its new owner. The ps-ctl request is answered when the last move is done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ps/log.h"
#include "ps/net.h"
#include "ps/plan.h"
#include "ps/reshard.h"
#include "ps/snapshot.h"
#include "ps/xmalloc.h"

#define IMPORT_TIMEOUT	30.0

struct reshard {
	struct ps_defer	*d;		/* the ps-ctl request */
	uint32_t	 drain;		/* node being drained, or 0 */
	struct ps_move	*moves;		/* from and to are node ids here */
	size_t		 nmoves;
	size_t		 cur;
	size_t		 slots;
	uint64_t	 keys;
	double		 started;
	double		 step_started;
};

static void	reshard_step(struct sched *);

int
reshard_busy(const struct sched *s)
{
	return s->reshard != NULL;
}

int
reshard_draining(const struct sched *s, uint32_t id)
{
	return s->reshard != NULL && s->reshard->drain == id;
}

int
reshard_involves(const struct sched *s, uint32_t id)
{
	const struct reshard *r = s->reshard;

	return r != NULL && r->cur < r->nmoves &&
	    (r->moves[r->cur].from == id || r->moves[r->cur].to == id);
}

static void
reshard_end(struct sched *s)
{
	struct reshard *r = s->reshard;

	s->reshard = NULL;
	plan_free(r->moves, r->nmoves);
	free(r);
}

void
reshard_free(struct sched *s)
{
	if (s->reshard != NULL)
		reshard_end(s);
}

static void
reshard_fail(struct sched *s, const char *fmt, const char *why)
{
	struct reshard *r = s->reshard;
	const struct ps_move *mv = &r->moves[r->cur];
	char *text;

	s->moves_failed++;
	xasprintf(&text, fmt, why);
	log_warnx("move %zu of %zu (%zu slots, node %u to node %u) failed: %s",
	    r->cur + 1, r->nmoves, mv->n, mv->from, mv->to, text);
	defer_error(r->d, PS_ERR_SERVER, "move %zu of %zu failed: %s (%zu moves done, "
	    "%zu slots moved in all; map epoch %llu)", r->cur + 1, r->nmoves, text, r->cur,
	    r->slots, (unsigned long long)s->map.epoch);
	free(text);
	reshard_end(s);
}

/* "0-4095" or "0-10,20,30-31": the slots of a move, for the log. */
static void
reshard_ranges(const struct ps_move *mv, char *buf, size_t len)
{
	size_t i = 0, j, at = 0;

	buf[0] = '\0';
	while (i < mv->n && at + 24 < len) {
		for (j = i; j + 1 < mv->n && mv->slots[j + 1] == mv->slots[j] + 1; j++)
			;
		if (j == i)
			at += snprintf(buf + at, len - at, "%s%u", at ? "," : "",
			    mv->slots[i]);
		else
			at += snprintf(buf + at, len - at, "%s%u-%u", at ? "," : "",
			    mv->slots[i], mv->slots[j]);
		i = j + 1;
	}
	if (i < mv->n)
		snprintf(buf + at, len - at, ",...");
}

static void
reshard_done(struct sched *s)
{
	struct reshard *r = s->reshard;
	struct ps_hdr h = msg_hdr(PS_MSG_CTL_OK, defer_msg(r->d)->hdr.id, 0, s->map.epoch);

	msg_begin(&s->out, &h, 1);
	msg_put_map(&s->out, 5);
	msg_put_str(&s->out, "epoch");		msg_put_uint(&s->out, s->map.epoch);
	msg_put_str(&s->out, "moves");		msg_put_uint(&s->out, r->nmoves);
	msg_put_str(&s->out, "slots");		msg_put_uint(&s->out, r->slots);
	msg_put_str(&s->out, "keys");		msg_put_uint(&s->out, r->keys);
	msg_put_str(&s->out, "seconds");
	msg_put_float(&s->out, net_now() - r->started);
	msg_end(&s->out);
	if (r->drain != 0) {
		struct node *n = sched_find(s, r->drain);
		if (n != NULL)
			n->drained = 1;
		log_info("node %u drained: it holds no slots and may be stopped", r->drain);
	}
	defer_reply(r->d, &s->out);
	reshard_end(s);
}

/*
 * The source has answered: the first `moved` slots of the move are at the destination
 * now, whether or not the rest followed. The map says so under a new epoch before
 * anything else happens, so that no confirmed slot is ever served empty by its source.
 */
static void
reshard_migrated(struct ps_peer *p, struct ps_msg *m, const char *why, void *arg)
{
	struct sched *s = arg;
	struct reshard *r = s->reshard;
	struct ps_move *mv;
	char ranges[160], *text;
	uint64_t keys, moved;
	size_t i;
	int to;

	(void)p;
	if (r == NULL)
		return;
	if (m == NULL || why != NULL) {
		reshard_fail(s, "source: %s", why ? why : "no reply");
		return;
	}
	mv = &r->moves[r->cur];
	moved = msg_uint(m, 0);
	keys = msg_uint(m, 1);
	if (moved > mv->n)
		moved = mv->n;
	if (moved > 0) {
		if ((to = map_find_server(&s->map, mv->to)) == -1) {
			log_error("node %u confirmed %llu slots and left the map: their "
			    "keys are lost", mv->to, (unsigned long long)moved);
			reshard_fail(s, "%s", "the destination left");
			return;
		}
		for (i = 0; i < moved; i++)
			s->map.owner[mv->slots[i]] = (uint16_t)to;
		s->map.epoch++;
		sched_publish_map(s);
	}
	r->slots += moved;
	r->keys += keys;
	if (moved < mv->n) {
		text = msg_strdup(m, 2);
		log_warnx("node %u took %llu of %zu slots from node %u before: %s",
		    mv->to, (unsigned long long)moved, mv->n, mv->from, text);
		reshard_fail(s, "source: %s", text);
		free(text);
		return;
	}
	reshard_ranges(mv, ranges, sizeof ranges);
	log_info("moved %zu slots (%s) from node %u to node %u: %llu keys in %.3f s; "
	    "map epoch %llu", mv->n, ranges, mv->from, mv->to, (unsigned long long)keys,
	    net_now() - r->step_started, (unsigned long long)s->map.epoch);
	s->moves_done++;
	r->cur++;
	reshard_step(s);
}

static void
reshard_imported(struct ps_peer *p, struct ps_msg *m, const char *why, void *arg)
{
	struct sched *s = arg;
	struct reshard *r = s->reshard;
	struct ps_move *mv;
	struct node *from, *to;
	struct ps_hdr h;

	(void)p;
	if (r == NULL)
		return;
	if (m == NULL || why != NULL) {
		reshard_fail(s, "destination: %s", why ? why : "no reply");
		return;
	}
	mv = &r->moves[r->cur];
	from = sched_find(s, mv->from);
	to = sched_find(s, mv->to);
	if (from == NULL || from->peer == NULL || to == NULL) {
		reshard_fail(s, "%s", "the source server is gone");
		return;
	}
	h = msg_hdr(PS_MSG_MIGRATE, peer_next_id(from->peer), 0, s->map.epoch);
	msg_begin(&s->out, &h, 4);
	msg_put_uint(&s->out, to->id);
	msg_put_str(&s->out, to->host);
	msg_put_uint(&s->out, (uint64_t)to->port);
	msg_put_bin(&s->out, mv->slots, mv->n * 2);
	msg_end(&s->out);
	/* No deadline here: the source times out each frame it sends. */
	peer_call(from->peer, &s->out, 0, reshard_migrated, s);
}

/* Start the next move, or answer ps-ctl when there is none. */
static void
reshard_step(struct sched *s)
{
	struct reshard *r = s->reshard;
	struct ps_move *mv;
	struct node *from, *to;
	struct ps_hdr h;

	if (r->cur == r->nmoves) {
		reshard_done(s);
		return;
	}
	mv = &r->moves[r->cur];
	from = sched_find(s, mv->from);
	to = sched_find(s, mv->to);
	if (from == NULL || from->state != NODE_ALIVE || to == NULL ||
	    to->state != NODE_ALIVE || to->peer == NULL || from->peer == NULL) {
		reshard_fail(s, "%s", "a server of the move is not up");
		return;
	}
	r->step_started = net_now();
	log_info("moving %zu slots from node %u to node %u (move %zu of %zu)", mv->n,
	    mv->from, mv->to, r->cur + 1, r->nmoves);
	h = msg_hdr(PS_MSG_IMPORT, peer_next_id(to->peer), 0, s->map.epoch);
	msg_begin(&s->out, &h, 2);
	msg_put_uint(&s->out, from->id);
	/* Slots travel as uint16 little-endian, as in memory on the hosts we build for. */
	msg_put_bin(&s->out, mv->slots, mv->n * 2);
	msg_end(&s->out);
	peer_call(to->peer, &s->out, IMPORT_TIMEOUT, reshard_imported, s);
}

/* The map index of a live server with this node id, or -1 with an ERROR sent. */
static int
reshard_server(struct sched *s, struct ps_peer *p, struct ps_msg *m, uint64_t id)
{
	struct node *n = id <= UINT32_MAX ? sched_find(s, (uint32_t)id) : NULL;
	int i = n != NULL ? map_find_server(&s->map, n->id) : -1;

	if (n == NULL || n->role != PS_ROLE_SERVER || i == -1) {
		peer_error(p, m, PS_ERR_CLIENT, "node %llu is not a server of this job",
		    (unsigned long long)id);
		return -1;
	}
	if (n->state != NODE_ALIVE) {
		peer_error(p, m, PS_ERR_STATE, "server node %llu is not up",
		    (unsigned long long)id);
		return -1;
	}
	return i;
}

/* Which servers may hold slots after a rebalance: the live ones, not drained. */
static int
reshard_usable(struct sched *s, uint8_t *use, uint32_t skip)
{
	uint32_t i;
	int n = 0;

	for (i = 0; i < s->map.nservers; i++) {
		struct node *x = sched_find(s, s->map.servers[i].id);

		use[i] = x != NULL && x->state == NODE_ALIVE && !x->drained &&
		    x->id != skip;
		n += use[i];
	}
	return n;
}

void
reshard_request(struct sched *s, struct ps_peer *p, struct ps_msg *m)
{
	struct ps_move *moves = NULL;
	struct reshard *r;
	struct ps_hdr h;
	uint8_t use[PS_NSLOTS];
	uint32_t drain = 0;
	size_t n = 0, i;
	int to, from;

	if (s->reshard != NULL) {
		peer_error(p, m, PS_ERR_STATE, "slots are already being moved");
		return;
	}
	if (snapshot_busy(s)) {
		peer_error(p, m, PS_ERR_STATE, "a checkpoint is being written: move after it");
		return;
	}
	if (!s->map_live || s->ending) {
		peer_error(p, m, PS_ERR_STATE, "%s", s->ending ? "the job is ending" :
		    s->failover_at > 0 ? "a lost server's slots are being handed over: "
		    "try again in a moment" :
		    "the cluster has no map yet: not every server has registered");
		return;
	}
	if (s->map.nbackups > 0) {
		peer_error(p, m, PS_ERR_STATE, "cluster.replicas is %u: slots with "
		    "backups do not move between servers (not built yet)",
		    s->map.nbackups + 1);
		return;
	}
	switch (m->hdr.type) {
	case PS_MSG_RESHARD:
		if (msg_uint(m, 0) > msg_uint(m, 1) || msg_uint(m, 1) >= PS_NSLOTS) {
			peer_error(p, m, PS_ERR_CLIENT, "slots %llu-%llu: want A-B with "
			    "A <= B < %d", (unsigned long long)msg_uint(m, 0),
			    (unsigned long long)msg_uint(m, 1), PS_NSLOTS);
			return;
		}
		if ((to = reshard_server(s, p, m, msg_uint(m, 2))) == -1)
			return;
		n = plan_reshard(&s->map, (uint32_t)msg_uint(m, 0),
		    (uint32_t)msg_uint(m, 1), (uint32_t)to, &moves);
		sched_find(s, s->map.servers[to].id)->drained = 0;
		break;
	case PS_MSG_DRAIN:
		if ((from = reshard_server(s, p, m, msg_uint(m, 0))) == -1)
			return;
		drain = s->map.servers[from].id;
		if (reshard_usable(s, use, drain) == 0) {
			peer_error(p, m, PS_ERR_STATE, "no other server can take the slots "
			    "of node %u", drain);
			return;
		}
		n = plan_rebalance(&s->map, use, &moves);
		break;
	default:
		if (reshard_usable(s, use, 0) == 0) {
			peer_error(p, m, PS_ERR_STATE, "no server can take slots");
			return;
		}
		n = plan_rebalance(&s->map, use, &moves);
		break;
	}
	/* From here on a move names nodes, not map indices: the map may change. */
	for (i = 0; i < n; i++) {
		struct node *src = sched_find(s, s->map.servers[moves[i].from].id);

		if (src == NULL || src->state != NODE_ALIVE) {
			peer_error(p, m, PS_ERR_STATE, "server node %u is not up: its slots "
			    "cannot move", s->map.servers[moves[i].from].id);
			plan_free(moves, n);
			return;
		}
		moves[i].from = s->map.servers[moves[i].from].id;
		moves[i].to = s->map.servers[moves[i].to].id;
	}
	if (n == 0) {
		if (drain != 0)
			sched_find(s, drain)->drained = 1;
		h = msg_hdr(PS_MSG_CTL_OK, m->hdr.id, 0, s->map.epoch);
		msg_begin(&s->out, &h, 1);
		msg_put_map(&s->out, 5);
		msg_put_str(&s->out, "epoch");		msg_put_uint(&s->out, s->map.epoch);
		msg_put_str(&s->out, "moves");		msg_put_uint(&s->out, 0);
		msg_put_str(&s->out, "slots");		msg_put_uint(&s->out, 0);
		msg_put_str(&s->out, "keys");		msg_put_uint(&s->out, 0);
		msg_put_str(&s->out, "seconds");	msg_put_float(&s->out, 0);
		msg_end(&s->out);
		peer_send(p, &s->out);
		return;
	}
	r = xcalloc(1, sizeof *r);
	r->d = peer_defer(p, m, 0);
	r->drain = drain;
	r->moves = moves;
	r->nmoves = n;
	r->started = net_now();
	s->reshard = r;
	log_info("%s: %s: %zu moves", peer_info(p)->name, proto_type_name(m->hdr.type), n);
	reshard_step(s);
}
