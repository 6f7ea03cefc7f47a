/* Configuration: one table of options drives the YAML loader, -o overrides,
 * ps-ctl and the documentation (ps.conf(5)). */
#ifndef PS_CONF_H
#define PS_CONF_H

#include <stdint.h>
#include <stdio.h>

#include "ps/optim.h"

struct ps_conf {
	/* scheduler: where the scheduler listens and everyone else finds it */
	char		*scheduler_host;	/* scheduler.host, "127.0.0.1" */
	int		 scheduler_port;	/* scheduler.port, 7070 (0: any free port) */
	int		 metrics_port;		/* scheduler.metrics_port, 0 (none): HTTP
						 * /metrics on scheduler.host */
	char		*state_file;		/* scheduler.state_file, "": none */
	/* server: where a server listens for workers */
	char		*server_host;		/* server.host, "127.0.0.1" */
	int		 server_port;		/* server.port, 0 (any free port) */
	char		*server_advertise;	/* server.advertise, "auto": what the map
						 * tells workers */
	/* cluster */
	int		 num_servers;		/* cluster.servers, 1 */
	int		 num_workers;		/* cluster.workers, 1 */
	int		 replicas;		/* cluster.replicas, 1: copies of each slot */
	int		 linger;		/* cluster.linger, false: the job goes on
						 * after its last worker, until ps-ctl
						 * shutdown */
	int		 consistency;		/* cluster.consistency, asp */
	int		 staleness;		/* cluster.staleness, 2 (ssp) */
	int		 clock;			/* cluster.clock, 1 mini-batch per clock */
	/* model and optimizer */
	struct ps_optim	 optim;			/* optimizer.name "ftrl", .learning_rate 0.1,
						 * .epsilon 1e-6, .alpha 0.1, .beta 1, .l1 1, .l2 1;
						 * model.dim 1 -> optim.dim */
	int		 bias;			/* model.bias, true: add a constant feature, key 0 */
	int		 loss;			/* model.loss, logistic */
	/* worker */
	int		 batch_size;		/* worker.batch_size, 100 examples */
	int		 passes;		/* worker.passes, 1 */
	uint32_t	 seed;			/* worker.seed, 1: the cache's block order */
	int		 allow_sum;		/* worker.allow_sum, false */
	/* network */
	int64_t		 max_frame;		/* net.max_frame, 64 MiB; bytes, accepts K/M/G suffixes */
	double		 heartbeat_interval;	/* net.heartbeat_interval, 1 (seconds) */
	double		 heartbeat_timeout;	/* net.heartbeat_timeout, 10 (seconds) */
	int		 connect_retries;	/* net.connect_retries, 10: to the scheduler, with
						 * a doubling delay, 0.1 s up to 5 s */
	double		 request_timeout;	/* net.request_timeout, 60 (seconds): a client
						 * waiting for a server's reply */
	char		*secret_file;		/* net.secret_file, "": the shared secret's
						 * file (ps/auth.h); empty: none */
	int		 max_connections;	/* net.max_connections, 1024: accepted
						 * connections at once (ps/peer.h) */
	double		 handshake_timeout;	/* net.handshake_timeout, 10 (seconds):
						 * accept to AUTH_OK */
	double		 idle_timeout;		/* net.idle_timeout, 300 (seconds, 0: never) */
	double		 frame_timeout;		/* net.frame_timeout, 30 (seconds): a
						 * message's first byte to its last */
	/* checkpoints */
	char		*ckpt_dir;		/* ckpt.dir, "ckpt": ps-ckpt's folder of
						 * checkpoints, relative to its working
						 * directory */
	uint64_t	 set[2];		/* options given (YAML, -o), by table index */
};

enum ps_loss { PS_LOSS_LOGISTIC, PS_LOSS_SQUARED };
enum ps_consistency { PS_ASP, PS_SSP, PS_BSP };

/* Fill every field with its default. */
void	conf_init(struct ps_conf *);
void	conf_free(struct ps_conf *);
/* Load a YAML file over the current values. Errors name the file, line and key:
 * "x.yaml:3: unknown key 'optimizer.alhpa'", "x.yaml:5: optimizer.l1: 'abc' is not a number". */
int	conf_load(struct ps_conf *, const char *path, char **cause);
/* Set one option from "name=value" (a -o override); same checks and wording as the loader. */
int	conf_set(struct ps_conf *, const char *assignment, char **cause);
/* Derive what follows from the options given: model.dim from model.factors, and
 * each optimizer's own defaults for options not given (optim_defaults); then check
 * cross-option constraints (e.g. l1 >= 0, beta > 0). Called after loading. */
int	conf_finish(struct ps_conf *, char **cause);
int	conf_check(const struct ps_conf *, char **cause);
/* A copy with strings of its own. */
void	conf_copy(struct ps_conf *dst, const struct ps_conf *src);
/* Print every option as "name: value" YAML, e.g. for ps-ctl or -n -v. */
void	conf_print(const struct ps_conf *, FILE *);
/* Print the option table (name, type, default, help) for documentation. */
void	conf_print_table(FILE *);
/* The current value of one option as text, as conf_print writes it ("64M",
 * "true", "0.1"); *value is xmalloc'd. -1 and "option 'x': unknown key". */
int	conf_get(const struct ps_conf *, const char *name, char **value, char **cause);
/* The name of option idx in table order, NULL past the last: for completion. */
const char *conf_option_name(unsigned int idx);
/* Is option idx a job setting (model.*, optimizer.*, cluster.consistency, ...): one
 * value for every node, the scheduler's (ps/jobconf.h)? */
int	conf_option_is_job(unsigned int idx);
/* Was option idx (or name) given (YAML, -o), not left at its default? */
int	conf_option_given(const struct ps_conf *, unsigned int idx);
int	conf_given(const struct ps_conf *, const char *name);

#endif
