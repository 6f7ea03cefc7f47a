/* The scheduler's state, shared by lib/scheduler.c (membership, barriers, status)
 * and lib/reshard.c (slot moves). */
#ifndef PS_SCHED_H
#define PS_SCHED_H

#include "ps/conf.h"
#include "ps/map.h"
#include "ps/peer.h"
#include "ps/proc.h"

enum node_state { NODE_ALIVE, NODE_DONE, NODE_DEAD };

struct node {
	uint32_t	 id;
	uint32_t	 role;
	uint32_t	 rank;
	char		*host;		/* where a server listens */
	int		 port;
	char		 addr[80];	/* where the connection comes from */
	struct ps_peer	*peer;
	enum node_state	 state;
	double		 since;		/* registered at */
	double		 last_seen;
	int		 status;	/* exit status from DONE */
	uint64_t	 waiting;	/* request id of a REGISTER or GET_MAP held
					 * until the map is in force; 0: none */
	uint32_t	 waiting_type;
	uint64_t	 barrier_id;	/* request id of a pending BARRIER; 0: none */
	uint64_t	 clock;		/* worker: the clock it computes (ssp, bsp) */
	uint64_t	 clock_id;	/* request id of a pending CLOCK; 0: none */
	int		 drained;	/* emptied by ps-ctl drain: rebalance leaves it out */
	int		 taken_back;	/* came back to a resumed job (state file) */
	/* from heartbeats, for ps-ctl status and /metrics */
	uint64_t	 keys, memory, pushes, pulls, examples;
	uint64_t	 bytes_in, bytes_out;	/* on its connections, since it started */
	uint64_t	 pushes_at_ckpt;	/* pushes, at the job's last checkpoint */
	double		 push_rate, pull_rate, beat_at;
};

struct metrics;
struct recovery;
struct reshard;
struct snapshot;

struct sched {
	const struct ps_conf	*conf;
	struct ps_proc		 proc;
	struct ps_listener	*listener;
	struct event		*tick;
	struct event		*quit;
	struct node		 self;		/* the scheduler's own row in STATUS */
	struct node		**nodes;
	uint32_t		 nnodes;
	uint32_t		 next_id;
	uint32_t		 servers;	/* registered */
	uint32_t		 workers;
	struct ps_map		 map;
	int			 map_live;	/* every server acknowledged the first map */
	uint32_t		 acks;
	char			*barrier;	/* name of the open barrier, or NULL */
	int			 resumed;	/* from scheduler.state_file */
	int			 ending;
	int			 stopping;	/* ps-ctl shutdown */
	int			 lost_server;	/* one holding slots: the job ends, failed */
	int			 lingering;	/* cluster.linger, and no worker left */
	int			 failed;
	struct reshard		*reshard;	/* the slot moves under way, or NULL */
	struct snapshot		*snapshot;	/* the checkpoint being written, or NULL */
	struct metrics		*metrics;	/* the HTTP endpoint, or NULL */
	/* events since start, for STATUS and /metrics */
	uint64_t		 moves_done, moves_failed;
	uint64_t		 ckpts_done, ckpts_failed;
	uint64_t		 failovers_done, failovers_failed;	/* lost servers whose
						 * slots came back, and those that ended
						 * the job */
	char			*last_ckpt;	/* the folder of this job's last checkpoint */
	double			 last_ckpt_at;
	struct recovery		*recovery;	/* a lost server's slots being restored from
						 * it, or NULL */
	double			 failover_at;	/* a lost server's slots are being
						 * handed to their backups since */
	struct ps_wbuf		 out;
};

const char	*sched_node_name(const struct node *);
struct node	*sched_find(struct sched *, uint32_t id);
/* End the job if it is over (every worker done, or stopping): stop the servers,
 * exit once they are gone. */
void		 sched_check_end(struct sched *);
/* Send the map (its epoch already raised) to every live server. */
void		 sched_publish_map(struct sched *);

/* A lost server (index i in the map): hand its slots to their backups (lib/failover.c).
 * 0; -1 without replicas; -2 (said) if a slot has no copy left. */
int		 failover_server(struct sched *, struct node *, int i);
/* A server joined: give it the copies of slots that are missing, if any (the map is
 * published by the caller). */
void		 failover_spare(struct sched *);
/* A lost server (index i in the map) whose slots have no replica: restore them onto
 * the other servers from the job's last checkpoint. 0: under way; -1: not possible
 * (no checkpoint of this job, no other server, something else under way). */
int		 failover_restore(struct sched *, struct node *, int i);
void		 failover_free(struct sched *);

/* scheduler.state_file (lib/schedstate.c): load it at start (0: loaded, or there is
 * none; -1 and cause), write it after a change, remove it when the job ends. */
int		 sched_state_load(struct sched *, char **cause);
void		 sched_state_save(struct sched *);
void		 sched_state_remove(struct sched *);

/* Bounded staleness (lib/clock.c): the CLOCK handler, and the check of every
 * worker waiting at a clock, after any change to the clock group. */
void		 sched_clock(struct sched *, struct ps_peer *, struct node *,
		    struct ps_msg *);
void		 sched_check_clocks(struct sched *);

/* What STATUS and /metrics both show, so that they agree. */
const char	*sched_state(struct sched *, const struct node *, double now);
void		 sched_node_addr(const struct node *, char *buf, size_t len);
double		 sched_heartbeat_age(const struct node *, double now);
uint32_t	 sched_node_slots(const struct sched *, const struct node *);
uint64_t	 sched_examples(const struct sched *);
/* The scheduler's own row: its byte counts now. */
void		 sched_update_self(struct sched *);

#endif
