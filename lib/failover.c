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
	s->failovers++;
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
