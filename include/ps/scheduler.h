/* ps-scheduler: node registry, cluster map, barriers, heartbeats, end of the job. */
#ifndef PS_SCHEDULER_H
#define PS_SCHEDULER_H

#include "ps/conf.h"

/* Serve until every worker has finished (or a signal). Prints "ready HOST:PORT" on
 * stdout once listening. Returns the exit status: 0 when every worker succeeded. */
int	scheduler_run(const struct ps_conf *);

#endif
