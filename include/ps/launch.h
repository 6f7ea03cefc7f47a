/* What ps-launch runs on each host: an ssh command line whose remote shell script
 * writes the job's YAML, starts one program and stops it when ps-launch goes away. */
#ifndef PS_LAUNCH_H
#define PS_LAUNCH_H

#include "ps/hosts.h"

enum launch_role { LAUNCH_SCHEDULER, LAUNCH_SERVER, LAUNCH_WORKER };

/* The POSIX sh script for one node: role, rank (servers, workers: from 0), the
 * job's YAML, the programs' verbosity (-1 -q, 0, 1+ -v). To free. */
char	 *launch_script(const struct ps_host *, enum launch_role, int rank,
	     const char *yaml, int verbose);
/* ssh's argv (NULL-terminated, to free with launch_argv_free) running script. */
char	**launch_argv(const struct ps_host *, const char *script);
void	  launch_argv_free(char **);
/* s quoted for a POSIX shell (as is when it needs no quotes). To free. */
char	 *launch_quote(const char *s);

#endif
