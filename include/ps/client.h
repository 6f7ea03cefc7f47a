/* A cluster client: registers with the scheduler, holds the map, and pulls and
 * pushes sorted key batches to all owning servers at once. Used by ps-worker,
 * ps-bench and ps-ctl; blocking I/O, a few chunks per server in flight. A MOVED reply
 * names the slots' new owners: the client fixes those slots in its map and connects
 * to a server only when it first needs it, so a reshard never makes it wait for the
 * scheduler. */
#ifndef PS_CLIENT_H
#define PS_CLIENT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ps/conf.h"
#include "ps/conn.h"
#include "ps/map.h"
#include "ps/msg.h"

struct ps_client {
	const struct ps_conf	*conf;		/* once open: the job's settings (job) */
	struct ps_conf		 job;		/* the caller's, with the scheduler's
						 * job settings (ps/jobconf.h) */
	int			 has_job;
	const char		*progname;
	uint32_t		 role;
	uint32_t		 id;		/* node id from the scheduler */
	uint32_t		 rank;		/* worker rank, 0..W-1 */
	struct ps_conn		 sched;
	struct ps_map		 map;
	struct ps_conn		*servers;	/* one per map.servers entry, opened when
						 * first needed (fd -1 until then) */
	uint64_t		 next_id;
	struct ps_wbuf		 w;
	struct ps_wbuf		 rw;		/* for registering again */
	/* heartbeats come from a thread, so a worker waiting on a slow stdin or a long
	 * batch still looks alive; sched_lock keeps its frames whole on the socket */
	pthread_t		 beat_thread;
	pthread_mutex_t		 sched_lock;
	pthread_cond_t		 beat_cond;
	int			 beat_running;
	int			 beat_stop;
	int			 resumable;	/* the scheduler keeps a state file */
	int			 sched_gone;	/* connecting again failed: no more tries */
	volatile sig_atomic_t	*stop;		/* set (by a signal handler): the
						 * scheduler is not to be reached again */
	/* what the heartbeat thread reads while the main thread works */
	_Atomic uint64_t	 epoch;		/* map.epoch */
	_Atomic uint64_t	 examples;	/* trained on so far */
	/* scratch, reused across calls */
	uint32_t		*order;		/* key indices grouped by server */
	uint32_t		*todo;		/* key indices still to send */
	uint32_t		*retry;
	size_t			 scratch_cap;
	size_t			*count;		/* keys per server */
	size_t			*first;		/* start of each server's run in order[] */
	size_t			*acked;		/* chunks of each server's run answered */
	size_t			*nsent;		/* chunks of each server's run sent */
	uint64_t		*sent_id;	/* request ids of the chunks in flight:
						 * CLIENT_WINDOW per server */
	uint64_t		*ktag;		/* per key index: 0, or the id of a push
						 * that may have been applied, to send it
						 * again with (see client_resend) */
	uint32_t		*tagged;	/* key indices with a tag, to send again */
	uint8_t			*down;		/* connection lost in this attempt */
	uint32_t		 lost;		/* node id of the last server lost */
	char			*lost_cause;	/* and why, for the message if all else fails */
	uint32_t		 fpk;		/* floats per key of the call under way */
	int			 stale;		/* a slot's owner is unknown: fetch the map */
	int			 in_order;	/* order[] is 0, 1, 2, ...: copy in bulk */
};

int	client_open(struct ps_client *, const struct ps_conf *, uint32_t role,
	    const char *progname, char **cause);
void	client_close(struct ps_client *);
/* keys: n sorted unique keys. vals: n * dim floats, filled from the servers. */
int	client_pull(struct ps_client *, const uint64_t *keys, size_t n, float *vals,
	    char **cause);
/* grads: n * dim floats, applied on the servers by their optimizer. */
int	client_push(struct ps_client *, const uint64_t *keys, size_t n, const float *grads,
	    char **cause);
/* states: n * width floats, each key's whole optimizer state, which replaces the
 * servers' (restoring a checkpoint). width must be the servers' own. */
int	client_load(struct ps_client *, const uint64_t *keys, size_t n, const float *states,
	    uint32_t width, char **cause);
/* Wait until every live worker reached the barrier of this name. */
int	client_barrier(struct ps_client *, const char *name, char **cause);
/* The worker finished clock c - 1 and is about to compute clock c (cluster.clock
 * mini-batches each). Under ssp and bsp (cluster.consistency) it returns once the
 * slowest live worker has reached clock c - staleness (bsp: c), that is, finished
 * the clock before it; under asp at once.
 * *slowest: the slowest live worker's clock when it returned (asp: c). */
int	client_clock(struct ps_client *, uint64_t c, uint64_t *slowest, char **cause);
/* Count examples trained on, for the scheduler's status (sent with heartbeats). */
void	client_add_examples(struct ps_client *, uint64_t n);
/* Tell the scheduler this worker finished, with its exit status. */
int	client_done(struct ps_client *, int status, char **cause);

#endif
