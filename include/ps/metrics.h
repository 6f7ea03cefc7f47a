/* The scheduler's figures over HTTP, in the Prometheus text format (0.0.4), at
 * /metrics on scheduler.host:scheduler.metrics_port; see ps-scheduler(1), METRICS. */
#ifndef PS_METRICS_H
#define PS_METRICS_H

#include <event2/buffer.h>

struct metrics;
struct sched;

/* Serve /metrics from the scheduler's loop. NULL and cause if the port cannot be
 * bound. */
struct metrics	*metrics_start(struct sched *, char **cause);
/* Close the endpoint and its connections; NULL is fine. */
void		 metrics_free(struct metrics *);
/* Append the exposition of the scheduler's figures now to b. */
void		 metrics_write(struct sched *, struct evbuffer *b);

#endif
