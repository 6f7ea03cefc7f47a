/* ps-bench: push and pull timing against a running cluster, and the libsvm parse rate.
 * See ps-bench(1). */
#ifndef PS_BENCH_H
#define PS_BENCH_H

#include <stddef.h>

#include "ps/conf.h"

#define PS_BENCH_KEYS_MAX	1000000000.0	/* -k: each key count 1 to 1e9 */
#define PS_BENCH_ROUNDS_MAX	1000000L	/* -r: 1 to 1e6 */

struct bench_opts {
	size_t		*nkeys;		/* -k: key counts to run, in order */
	size_t		 nsizes;
	long		 rounds;	/* -r; 0: automatic */
	int		 json;		/* one JSON object per result line */
	int		 check_all;	/* --check-all: every key's values, exactly */
	const char	*parse;		/* --parse file */
};

/* Push then pull each key count of o against the cluster of conf and print the median
 * times on stdout; with o->check_all, a "check" line too, with the count of keys whose
 * values were checked. Exit status: 0, or 1 (cluster failure, wrong values pulled). */
int	bench_cluster(const struct bench_opts *o, const struct ps_conf *conf);
/* Time the libsvm parser over o->parse held in memory and print the median pass on
 * stdout. Exit status: 0, or 1 (unreadable file, a line that does not parse). */
int	bench_parse(const struct bench_opts *o);

#endif
