/*
 * One source of truth for a job: its model, optimizer and consistency settings (the
 * options marked as job settings in lib/conf.c) are the scheduler's. A node sends
 * the job settings it was given (YAML, -o) with REGISTER; the scheduler refuses it if
 * one differs from its own, by name, and hands every node all of them in
 * REGISTER_OK. On the wire: a msgpack map of option name to value as text, as
 * conf_get writes it.
 */
#ifndef PS_JOBCONF_H
#define PS_JOBCONF_H

#include <msgpack.h>

#include "ps/conf.h"
#include "ps/msg.h"

/* The job settings of conf as a map: all of them, or only those given. */
void	jobconf_put(struct ps_wbuf *, const struct ps_conf *, int given_only);
/* A node's given settings against the job's: 0, or -1 and a cause naming the first
 * that differs: "optimizer.name: this server has 'sum', the job 'ftrl'". */
int	jobconf_check(const struct ps_conf *job, const msgpack_object *theirs,
	    const char *who, char **cause);
/* Take the job's settings into conf. */
int	jobconf_apply(struct ps_conf *, const msgpack_object *job, char **cause);

#endif
