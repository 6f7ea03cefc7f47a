/* ps-server: holds parameter shards and applies pushed gradients. The struct is
 * shared by lib/server.c (requests) and lib/migrate.c (sending slots away). */
#ifndef PS_SERVER_H
#define PS_SERVER_H

#include "ps/applied.h"
#include "ps/conf.h"
#include "ps/map.h"
#include "ps/peer.h"
#include "ps/proc.h"
#include "ps/store.h"

/* A request waiting for an arriving slot. */
struct parked {
	struct ps_defer		*d;
	double			 since;
	struct parked		*next;
};

struct migration;
struct bgsave;
struct replication;

struct server {
	const struct ps_conf	*conf;		/* job: the scheduler's settings once
						 * registered */
	struct ps_conf		 job;
	struct ps_proc		 proc;
	struct ps_listener	*listener;
	struct ps_peer		*sched;
	struct event		*beat;
	struct event		*retry;		/* connect to the scheduler again */
	double			 started;
	int			 sched_tries;	/* retries in a row to reach the scheduler */
	int			 exiting;	/* told to end: a closed scheduler is no news */
	int			 registered;
	int			 status;	/* exit status */
	uint32_t		 id;
	int			 port;
	const char		*host;		/* where it listens (ps/auth.h) */
	uint32_t		*fenced;	/* node ids declared dead (FENCE) */
	uint32_t		 nfenced;
	char			 advertised[64];	/* what the map gives workers */
	struct ps_map		 map;
	struct ps_store		 store;
	uint32_t		 moved_to[PS_NSLOTS];	/* node a slot was handed to */
	struct ps_node		*dests;		/* addresses of those nodes */
	uint32_t		 ndests;
	struct parked		*parked;
	double			 retry_since;	/* of the parked request being retried */
	struct migration	*mig;		/* the one outgoing move, or NULL */
	struct bgsave		*save;		/* the checkpoint being written, or NULL */
	struct replication	*repl;		/* connections to backups, or NULL */
	struct applied		 applied;	/* pushes applied here (with backups) */
	char			*restore;	/* --restore: the checkpoint, until loaded */
	uint32_t		 dim;
	uint32_t		 width;
	struct ps_wbuf		 out;
	/* scratch, reused by every request */
	uint16_t		*slot_of;
	float			*fbuf;
	size_t			 slot_cap;
	size_t			 fbuf_cap;
	/* counters for STATUS and heartbeats */
	uint64_t		 pulls, pushes, keys_pulled, keys_pushed;
	uint64_t		 keys_in, keys_out, slots_in, slots_out;
};

/* Make room in the scratch arrays for a request of nkeys keys. */
void	server_grow(struct server *, size_t nkeys);
/*
 * A request's floats (per of them for each of n keys) into s->fbuf, checked: the
 * size, and that every value is finite. 0, or -1 once the request was answered with
 * ERROR (what names the argument, unit the floats per key).
 */
int	server_floats(struct server *, struct ps_peer *, struct ps_msg *,
	    struct ps_defer *, const char *what, const char *bin, size_t blen, size_t n,
	    uint32_t per, const char *unit);

/* Register with the scheduler, serve until SHUTDOWN or a signal. With restore (a
 * checkpoint's name, folder or "latest"), the slots the first map gives this server
 * start with their entries from it. Exit status. */
int	server_run(const struct ps_conf *, const char *restore);

#endif
