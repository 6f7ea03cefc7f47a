/*
 * A server holding slots is lost (its connection closed, or it was silent past
 * net.heartbeat_timeout). With cluster.replicas, each slot it owned passes to its
 * first backup under a new map epoch, and the empty backup places are given to the
 * servers with the fewest copies (a spare first): the owners send them their copy.
 * Requests and registrations that ask for the map wait until every server has the
 * new one; the time from the loss to then is logged when it is in force.
 */
#include <stdlib.h>

#include "ps/log.h"
#include "ps/net.h"
#include "ps/sched.h"
#include "ps/xmalloc.h"

int
failover_server(struct sched *s, struct node *n, int i)
{
	struct ps_map m;
	uint32_t lost, promoted, filled, missing;

	if (s->map.nbackups == 0 || i < 0)
		return -1;
	map_init(&m);
	map_copy(&m, &s->map);
	if ((lost = map_fail_server(&m, (uint32_t)i, &promoted)) > 0) {
		log_error("a server is lost: %s at %s:%d owned %u slots whose backups "
		    "were lost too; ending the job", sched_node_name(n), n->host, n->port,
		    lost);
		map_free(&m);
		return -2;
	}
	map_remove_server(&m, (uint32_t)i);
	filled = map_fill_backups(&m, NULL);
	missing = map_missing_backups(&m);
	m.epoch = s->map.epoch + 1;
	map_free(&s->map);
	s->map = m;
	s->map_live = 0;
	s->failover_at = net_now();
	log_warnx("%s at %s:%d lost: its backups serve its %u slots from map epoch %llu",
	    sched_node_name(n), n->host, n->port, promoted,
	    (unsigned long long)s->map.epoch);
	if (filled > 0)
		log_info("%u new backup copies of slots, made by their owners", filled);
	if (missing > 0)
		log_warnx("%u copies of slots are missing: too few servers left for "
		    "cluster.replicas %d (a server that joins takes them)", missing,
		    s->conf->replicas);
	sched_publish_map(s);
	return 0;
}

void
failover_spare(struct sched *s)
{
	uint32_t filled;

	if (s->map.nbackups == 0 || map_missing_backups(&s->map) == 0)
		return;
	if ((filled = map_fill_backups(&s->map, NULL)) == 0)
		return;
	log_info("%u missing copies of slots given to the new server", filled);
}

/*
 * Without replicas: a lost server's slots come back from the job's last checkpoint,
 * spread over the servers left, and the job says what was lost (the updates the
 * server applied after the checkpoint, as its last heartbeat counted them). Each
 * server loads its share (RESTORE), then the map that gives it those slots is
 * published; meanwhile, requests for the map wait.
 */
struct recovery {
	uint32_t	 lost;		/* the lost server's node id */
	char		 name[64];
	uint64_t	 lost_pushes;
	uint32_t	*to;		/* slot -> receiving node id, 0: not moved */
	uint32_t	 slots;
	uint32_t	 waiting;
	uint64_t	 keys;
	char		*why;		/* the first failure */
};

void
failover_free(struct sched *s)
{
	if (s->recovery == NULL)
		return;
	free(s->recovery->to);
	free(s->recovery->why);
	free(s->recovery);
	s->recovery = NULL;
}

static void
failover_restored(struct ps_peer *p, struct ps_msg *m, const char *why, void *arg)
{
	struct sched *s = arg;
	struct recovery *rc = s->recovery;
	uint32_t slot;
	int i, j;

	if (rc == NULL)
		return;
	if (m == NULL || why != NULL) {
		if (rc->why == NULL)
			xasprintf(&rc->why, "%s: %s", peer_info(p)->name,
			    why != NULL ? why : "no answer");
	} else
		rc->keys += msg_uint(m, 0);
	if (--rc->waiting > 0)
		return;
	if (rc->why != NULL) {
		log_error("a server is lost: %s held %u slots, which have no replica, "
		    "and restoring them from checkpoint %s failed: %s; ending the job",
		    rc->name, rc->slots, s->last_ckpt, rc->why);
		failover_free(s);
		s->failed++;
		s->failovers_failed++;
		s->lost_server = 1;
		s->stopping = 1;
		s->map_live = 1;
		sched_check_end(s);
		return;
	}
	/* The map of now (a spare may have joined meanwhile): the slots go to
	 * the servers that loaded them, and the lost one leaves it. */
	for (slot = 0; slot < PS_NSLOTS; slot++)
		if (rc->to[slot] != 0 && (j = map_find_server(&s->map, rc->to[slot])) >= 0)
			s->map.owner[slot] = (uint16_t)j;
	if ((i = map_find_server(&s->map, rc->lost)) >= 0 &&
	    map_count_slots(&s->map, (uint32_t)i) == 0)
		map_remove_server(&s->map, (uint32_t)i);
	s->map.epoch++;
	log_warnx("restored the %u slots of %s (%llu keys) from checkpoint %s, taken "
	    "%.0f s before it was lost: the updates it applied since are lost (about "
	    "%llu pushes, as of its last heartbeat)", rc->slots, rc->name,
	    (unsigned long long)rc->keys, s->last_ckpt, s->failover_at - s->last_ckpt_at,
	    (unsigned long long)rc->lost_pushes);
	failover_free(s);
	sched_publish_map(s);
}

int
failover_restore(struct sched *s, struct node *n, int i)
{
	struct recovery *rc;
	uint32_t *live, nlive = 0, slot, k, per, at = 0, j;
	uint16_t *mine;
	struct ps_hdr h;

	if (s->last_ckpt == NULL || s->recovery != NULL || i < 0 || s->reshard != NULL ||
	    s->snapshot != NULL)
		return -1;
	live = xcalloc(s->map.nservers, sizeof *live);
	for (j = 0; j < s->map.nservers; j++) {
		struct node *o = sched_find(s, s->map.servers[j].id);

		if ((int)j != i && o != NULL && o->state == NODE_ALIVE && o->peer != NULL)
			live[nlive++] = j;
	}
	if (nlive == 0) {
		free(live);
		return -1;
	}
	rc = xcalloc(1, sizeof *rc);
	rc->lost = n->id;
	snprintf(rc->name, sizeof rc->name, "%s", sched_node_name(n));
	rc->lost_pushes = n->pushes - n->pushes_at_ckpt;
	rc->to = xcalloc(PS_NSLOTS, sizeof *rc->to);
	rc->slots = map_count_slots(&s->map, (uint32_t)i);
	/* Contiguous shares, one a server left, so the map stays readable. */
	per = (rc->slots + nlive - 1) / nlive;
	mine = xreallocarray(NULL, PS_NSLOTS, sizeof *mine);
	for (k = 0; k < nlive; k++) {
		struct node *o = sched_find(s, s->map.servers[live[k]].id);
		uint32_t cnt = 0;

		for (slot = 0; slot < PS_NSLOTS && cnt < per; slot++) {
			if (s->map.owner[slot] != (uint32_t)i || rc->to[slot] != 0)
				continue;
			rc->to[slot] = o->id;
			mine[cnt++] = (uint16_t)slot;
		}
		if (cnt == 0)
			continue;
		h = msg_hdr(PS_MSG_RESTORE, peer_next_id(o->peer), 0, s->map.epoch);
		msg_begin(&s->out, &h, 2);
		msg_put_str(&s->out, s->last_ckpt);
		msg_put_bin(&s->out, mine, 2 * cnt);	/* as reshard.c sends slots */
		msg_end(&s->out);
		rc->waiting++;
		at += cnt;
		peer_call(o->peer, &s->out, 0, failover_restored, s);
	}
	free(mine);
	free(live);
	s->recovery = rc;
	s->map_live = 0;
	s->failover_at = net_now();
	log_warnx("a server is lost: %s at %s:%d held %u slots, which have no replica: "
	    "restoring them from checkpoint %s onto %u servers", rc->name, n->host,
	    n->port, at, s->last_ckpt, rc->waiting);
	return 0;
}
