/* ps-server: holds parameter shards and applies pushed gradients. */
#ifndef PS_SERVER_H
#define PS_SERVER_H

#include "ps/conf.h"

/* Register with the scheduler, serve until SHUTDOWN or a signal. Exit status. */
int	server_run(const struct ps_conf *);

#endif
