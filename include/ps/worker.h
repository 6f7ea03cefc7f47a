/* ps-worker: trains logistic or linear regression, or a factorization machine, from
 * libsvm on stdin, in one pass or several; predicts; evaluates. */
#ifndef PS_WORKER_H
#define PS_WORKER_H

#include <stdio.h>

#include "ps/conf.h"

struct worker_opts {
	int		 predict;	/* print P(y=1) per example; the model is read-only */
	const char	*test_path;	/* evaluate this file at the end, or NULL */
	int		 skip_bad;	/* count and skip malformed lines instead of failing */
	int		 json;		/* results as one JSON object */
	const char	*model;		/* a checkpoint to predict or evaluate from, with
					 * no cluster (see model_find), or NULL */
	FILE		*in;		/* training or prediction data */
	const char	*in_name;	/* "stdin", for errors */
	int		 progress;	/* a progress line on stderr, a terminal */
	const char	*progress_file;	/* rewritten each second, or NULL */
	const char	*cache_path;	/* --cache: read if it exists, else written in
					 * the first pass; NULL: a temporary file when
					 * worker.passes is above 1 */
	int		 early_stop;	/* stop after this many passes in a row with no
					 * better test loss (needs test_path); 0: never */
	int		 test_delay_ms;	/* tests only: sleep before each mini-batch */
};

/* Exit status: 0, or 1 (bad input, cluster failure, a diverged model), or 2 (the
 * model settings, optimizer sum without worker.allow_sum, an unreadable --test file,
 * a --cache that is not a sealed cache). SIGTERM or SIGINT ends the worker early with
 * 0, once it has registered. */
int	worker_run(const struct ps_conf *, const struct worker_opts *);

#endif
