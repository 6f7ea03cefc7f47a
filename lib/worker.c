/*
 * ps-worker. Input is read as a stream, one mini-batch at a time, so memory stays
 * constant whatever the input size. Per batch: the keys are sorted and deduplicated
 * once, pulled from every owning server at once, the loss's gradient is summed per
 * key, and pushed back. Training quality is measured progressively: each example is
 * scored with the weights pulled before its own update.
 *
 * The model is the job's (model.loss, model.factors): logistic or linear regression,
 * or with k factors a factorization machine (Rendle 2010), whose key holds w and its
 * k factors v; its score is
 *
 *   z = w_bias + sum_j w_j x_j + 1/2 sum_f ((sum_j v_jf x_j)^2 - sum_j v_jf^2 x_j^2)
 *
 * With worker.passes above 1 the first pass appends every example to a cache
 * (ps/cache.h), which the later passes read back in a seeded shuffled order; the
 * workers meet at a barrier after each pass, so that --test sees the model all of
 * them trained.
 *
 * SIGTERM (or SIGINT) ends a worker early and cleanly: it stops reading, even from
 * an input that sends nothing, tells the scheduler it is done and exits 0.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ps/cache.h"
#include "ps/cli.h"
#include "ps/client.h"
#include "ps/eval.h"
#include "ps/libsvm.h"
#include "ps/log.h"
#include "ps/model.h"
#include "ps/progress.h"
#include "ps/proto.h"
#include "ps/sort.h"
#include "ps/worker.h"
#include "ps/xmalloc.h"

#define BIAS_KEY	0	/* libsvm indices start at 1, so key 0 is free */
#define MAX_BAD_LOGGED	5

enum batch_mode { MODE_TRAIN, MODE_PREDICT, MODE_EVAL };

struct batch {
	size_t		 n;		/* examples */
	size_t		 cap_n;
	float		*labels;
	uint64_t	*lines;		/* each example's line in its input */
	const char	*input;		/* the input's name, for messages */
	size_t		*end;		/* end of each example's features in keys[] */
	uint64_t	*keys;		/* every feature of every example */
	float		*vals;
	size_t		 nf;
	size_t		 cap_f;
	uint64_t	*ukeys;		/* sorted unique keys of the batch */
	uint64_t	*sort_tmp;	/* scratch for sorting them */
	size_t		 nu;
	uint32_t	*pos;		/* feature -> index in ukeys */
	float		*w;		/* pulled weights, dim per unique key */
	float		*g;		/* summed gradients, dim per unique key */
	size_t		 cap_u;		/* keys w and g have room for */
};

/* One pass's figures, for its log line and --json's "passes". */
struct pass_result {
	unsigned		pass;
	struct ps_eval_result	train;
	struct ps_eval_result	test;
	int			tested;
};

#define RUNAWAY_BATCHES	10		/* batch_runaway's window */
#define RUNAWAY_LOSS	(10 * M_LN2)

struct worker {
	const struct ps_conf		*conf;		/* the command line's */
	const struct ps_conf		*job;		/* the job's model, optimizer and
							 * consistency: the scheduler's
							 * once connected */
	const struct worker_opts	*opts;
	struct ps_client		 client;
	int				 connected;
	struct ps_model			 model;		/* --model: no cluster */
	int				 offline;
	int				 closed;	/* stdout's reader went away */
	struct batch			 b;
	struct ps_example		 ex;
	char				*line;
	size_t				 linecap;
	uint64_t			 bad;
	uint64_t			 predicted;
	struct ps_eval			 train;		/* progressive: streaming */
	struct ps_eval			 test;
	struct ps_progress		 progress;
	/* the model */
	uint32_t			 dim;		/* floats a key: 1 + k */
	uint32_t			 k;		/* factors (0: linear) */
	int				 squared;	/* model.loss squared */
	int				 bias;
	const struct ps_optim		*optim;		/* for the divergence hint */
	double				*fm_s;		/* an example's k sums S_f */
	/* passes */
	unsigned			 passes;
	unsigned			 pass;		/* 1..passes */
	uint64_t			 pass_batches;	/* mini-batches of this pass */
	uint64_t			 batches;	/* trained in all: the clock */
	double				 runaway[RUNAWAY_BATCHES];	/* the last
						 * batches' mean training logloss */
	struct ps_cache			*cache;
	int				 cache_reused;	/* --cache named one that exists */
	int				 cache_ours;	/* --cache's file, created here */
	int				 sealed;
	char				 stage[48];	/* the progress line's */
	struct pass_result		*results;
	size_t				 nresults;
	/* --early-stop */
	double				 best;
	unsigned			 best_pass;
	unsigned			 since_best;
	unsigned			 stopped;	/* the pass it stopped after */
};

/* What the signal handler sees: the signal that ends the worker, the input to cut
 * off, and the scheduler's socket while the worker waits at the barrier. */
static volatile sig_atomic_t	 worker_signal;
static volatile sig_atomic_t	 worker_in_fd = -1;
static volatile sig_atomic_t	 worker_sched_fd = -1;
static pthread_t		 worker_main;

static void
worker_on_signal(int sig)
{
	int fd, saved = errno;

	/* The heartbeat thread may get it, but the main thread is the one to wake. */
	if (!pthread_equal(pthread_self(), worker_main)) {
		pthread_kill(worker_main, sig);
		errno = saved;
		return;
	}
	/* A second one ends the worker at once, in case the clean way is stuck. */
	if (worker_signal != 0) {
		signal(sig, SIG_DFL);
		raise(sig);
	}
	worker_signal = sig;
	/* A read under way fails with EINTR (no SA_RESTART); one about to start would
	 * block, so the input becomes /dev/null: it finds the end at once. */
	if (worker_in_fd != -1 && (fd = open("/dev/null", O_RDONLY)) != -1) {
		dup2(fd, worker_in_fd);
		close(fd);
	}
	/* The barrier's reply comes only when the others are done: stop reading for
	 * it. The socket still sends, so DONE goes out (the scheduler then no longer
	 * counts this worker at the barrier). */
	if (worker_sched_fd != -1)
		shutdown(worker_sched_fd, SHUT_RD);
	errno = saved;
}

static void
worker_signals(void)
{
	static const int sigs[] = { SIGTERM, SIGINT };
	struct sigaction sa, old;
	size_t i;

	worker_main = pthread_self();
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = worker_on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: a blocked read of stdin returns */
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		/* Ignored when started (as a shell's background job is to Ctrl-C):
		 * keep it so. */
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaction(sigs[i], &sa, NULL);
	}
}

static void
batch_free(struct batch *b)
{
	free(b->labels);
	free(b->lines);
	free(b->end);
	free(b->keys);
	free(b->vals);
	free(b->ukeys);
	free(b->sort_tmp);
	free(b->pos);
	free(b->w);
	free(b->g);
	memset(b, 0, sizeof *b);
}

static void
batch_add(struct batch *b, const struct ps_example *ex, uint64_t line)
{
	if (b->n == b->cap_n) {
		b->cap_n = b->cap_n ? 2 * b->cap_n : 256;
		b->labels = xreallocarray(b->labels, b->cap_n, sizeof *b->labels);
		b->lines = xreallocarray(b->lines, b->cap_n, sizeof *b->lines);
		b->end = xreallocarray(b->end, b->cap_n, sizeof *b->end);
	}
	if (b->nf + ex->nfeat > b->cap_f) {
		while (b->nf + ex->nfeat > b->cap_f)
			b->cap_f = b->cap_f ? 2 * b->cap_f : 4096;
		b->keys = xreallocarray(b->keys, b->cap_f, sizeof *b->keys);
		b->vals = xreallocarray(b->vals, b->cap_f, sizeof *b->vals);
		b->pos = xreallocarray(b->pos, b->cap_f, sizeof *b->pos);
	}
	if (ex->nfeat > 0) {
		memcpy(b->keys + b->nf, ex->keys, ex->nfeat * sizeof *b->keys);
		memcpy(b->vals + b->nf, ex->vals, ex->nfeat * sizeof *b->vals);
	}
	b->nf += ex->nfeat;
	b->labels[b->n] = ex->label;
	b->lines[b->n] = line;
	b->end[b->n] = b->nf;
	b->n++;
}

static size_t
find_key(const uint64_t *keys, size_t n, uint64_t k)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (keys[mid] < k)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Sorted unique keys of the batch (and the bias key), and each feature's index. */
static void
batch_index(struct batch *b, int bias, uint32_t dim)
{
	size_t i, nu, need = b->nf + 1;

	if (need > b->cap_u) {
		b->cap_u = need;
		b->ukeys = xreallocarray(b->ukeys, need, sizeof *b->ukeys);
		b->sort_tmp = xreallocarray(b->sort_tmp, need, sizeof *b->sort_tmp);
		b->w = xreallocarray(b->w, need, dim * sizeof *b->w);
		b->g = xreallocarray(b->g, need, dim * sizeof *b->g);
	}
	if (b->nf > 0)
		memcpy(b->ukeys, b->keys, b->nf * sizeof *b->keys);
	nu = b->nf;
	if (bias)
		b->ukeys[nu++] = BIAS_KEY;
	nu = sort_u64_unique(b->ukeys, b->sort_tmp, nu);
	b->nu = nu;
	for (i = 0; i < b->nf; i++)
		b->pos[i] = (uint32_t)find_key(b->ukeys, nu, b->keys[i]);
}

static double
sigmoid(double z)
{
	if (z >= 0)
		return 1.0 / (1.0 + exp(-z));
	return exp(z) / (1.0 + exp(z));
}

/* What to lower when the weights blow up: the optimizer's step size, by its name. */
static void
worker_hint(const struct ps_optim *o, char *buf, size_t len)
{
	switch (o->kind) {
	case PS_OPTIM_FTRL:
		snprintf(buf, len, "lower optimizer.alpha (%g now)", (double)o->alpha);
		break;
	case PS_OPTIM_SUM:
		snprintf(buf, len, "optimizer.name is sum, which only adds the gradients "
		    "up: use sgd, adagrad, adam or ftrl");
		break;
	default:
		snprintf(buf, len, "lower optimizer.learning_rate (%g now)", (double)o->lr);
		break;
	}
}

/* "stdin:1201-1300 (batch 13, pass 1)": where a batch came from, its lines as the
 * smallest and the largest (a shuffled pass's batch is not a run of lines). */
static void
worker_where(const struct worker *wk, enum batch_mode mode, size_t from, size_t to,
    char *buf, size_t len)
{
	const struct batch *b = &wk->b;
	uint64_t lo = UINT64_MAX, hi = 0;
	size_t i;
	int n;

	for (i = from; i < to; i++) {
		lo = b->lines[i] < lo ? b->lines[i] : lo;
		hi = b->lines[i] > hi ? b->lines[i] : hi;
	}
	if (lo == hi)
		n = snprintf(buf, len, "%s:%" PRIu64, b->input, lo);
	else
		n = snprintf(buf, len, "%s:%" PRIu64 "-%" PRIu64, b->input, lo, hi);
	if (n < 0 || (size_t)n >= len)
		return;
	if (mode == MODE_TRAIN)
		snprintf(buf + n, len - (size_t)n, " (batch %" PRIu64 ", pass %u)",
		    wk->pass_batches, wk->pass);
	else
		snprintf(buf + n, len - (size_t)n, " (%s)", mode == MODE_EVAL ? "testing" :
		    "predicting");
}

/* The one line a diverged model stops the worker with. */
static void
worker_diverged(const struct worker *wk, enum batch_mode mode, size_t from, size_t to,
    const char *what, char **cause)
{
	char where[256], hint[128];

	worker_where(wk, mode, from, to, where, sizeof where);
	worker_hint(wk->optim, hint, sizeof hint);
	xasprintf(cause, "%s: %s: training diverged: %s", where, what, hint);
}

/* A server saturates a weight at +-FLT_MAX rather than store an infinity: either
 * means the training diverged. */
static int
batch_check_weights(const struct worker *wk, enum batch_mode mode, char **cause)
{
	const struct batch *b = &wk->b;
	size_t i, n = b->nu * wk->dim;
	char what[128];

	for (i = 0; i < n; i++) {
		float w = b->w[i];
		uint32_t f = (uint32_t)(i % wk->dim);

		if (isfinite(w) && fabsf(w) < FLT_MAX)
			continue;
		if (f == 0)
			snprintf(what, sizeof what, "key %" PRIu64 " has weight %.2g "
			    "(not finite)",
			    b->ukeys[i / wk->dim], (double)w);
		else
			snprintf(what, sizeof what, "key %" PRIu64 " has factor %u at %.2g "
			    "(not finite)",
			    b->ukeys[i / wk->dim], f, (double)w);
		worker_diverged(wk, mode, 0, b->n, what, cause);
		return -1;
	}
	return 0;
}

static void
worker_sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (!worker_signal && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * Before a mini-batch is trained: --test-delay, and the consistency model's clock. The
 * batches trained so far, over every pass, make the clock: the first batch of clock c
 * (c = batches / cluster.clock) waits, under ssp and bsp, for the slowest worker.
 */
static int
worker_before_batch(struct worker *wk, char **cause)
{
	uint64_t c, slowest = 0;
	int r;

	if (wk->opts->test_delay_ms > 0)
		worker_sleep_ms(wk->opts->test_delay_ms);
	if (wk->batches == 0 || wk->batches % (uint64_t)wk->job->clock != 0)
		return 0;
	c = wk->batches / (uint64_t)wk->job->clock;
	if (wk->job->consistency == PS_ASP) {
		log_debug("clock %" PRIu64, c);
		return 0;
	}
	worker_sched_fd = wk->client.sched.fd;
	/* (a signal from now on ends the wait; one before, the call) */
	r = worker_signal ? -1 : client_clock(&wk->client, c, &slowest, cause);
	worker_sched_fd = -1;
	if (r != 0) {
		if (worker_signal && *cause == NULL)
			xasprintf(cause, "clock %" PRIu64 ": stopped by a signal", c);
		return -1;
	}
	log_debug("clock %" PRIu64 ": slowest worker at clock %" PRIu64, c, slowest);
	return 0;
}

/*
 * A model can run away without a weight becoming infinite (sgd's inv_sqrt schedule
 * slows the growth down): its logloss then shows it. Over the last RUNAWAY_BATCHES
 * batches trained, a mean logloss above RUNAWAY_LOSS, ten times that of a constant
 * 0.5 (ln 2), is many confident mistakes: no model on its way to learning does that.
 */
static int
batch_runaway(struct worker *wk, double loss, char **cause)
{
	double sum = 0;
	size_t i;
	char what[160];

	wk->runaway[wk->batches % RUNAWAY_BATCHES] = loss;
	if (wk->batches + 1 < RUNAWAY_BATCHES)
		return 0;
	for (i = 0; i < RUNAWAY_BATCHES; i++)
		sum += wk->runaway[i];
	if (sum / RUNAWAY_BATCHES <= RUNAWAY_LOSS)
		return 0;
	snprintf(what, sizeof what, "the mean logloss of its last %d batches is %.3g, "
	    "ten times a constant 0.5's (%.3f) and more", RUNAWAY_BATCHES,
	    sum / RUNAWAY_BATCHES, M_LN2);
	worker_diverged(wk, MODE_TRAIN, 0, wk->b.n, what, cause);
	return -1;
}

/* A feature's gradient overflowed a float: say where, rather than push what a server
 * must refuse. */
static int
batch_overflow(const struct batch *b, size_t i, size_t j, size_t from, char **cause)
{
	xasprintf(cause, "%s:%" PRIu64 ": the gradient of its feature %u (value %g) "
	    "overflows a float in this batch: scale the feature values down", b->input,
	    b->lines[i], (unsigned)(j - from + 1), (double)b->vals[j]);
	return -1;
}

static int
batch_run(struct worker *wk, enum batch_mode mode, char **cause)
{
	struct batch *b = &wk->b;
	uint32_t dim = wk->dim, k = wk->k, f;
	int bias = wk->bias;
	size_t bias_at = 0, i, j, from = 0;
	double *s = wk->fm_s, loss_before = wk->train.loss_sum;
	char what[96];

	if (b->n == 0)
		return 0;
	if (mode == MODE_TRAIN) {
		if (worker_before_batch(wk, cause) != 0)
			return -1;
		wk->pass_batches++;
	}
	batch_index(b, bias, dim);
	if (bias)
		bias_at = find_key(b->ukeys, b->nu, BIAS_KEY) * dim;
	if (wk->offline)
		model_pull(&wk->model, b->ukeys, b->nu, b->w);
	else if (client_pull(&wk->client, b->ukeys, b->nu, b->w, cause) != 0)
		return -1;
	if (batch_check_weights(wk, mode, cause) != 0)
		return -1;
	if (mode == MODE_TRAIN)
		memset(b->g, 0, b->nu * dim * sizeof *b->g);
	for (i = 0; i < b->n; i++) {
		double z = bias ? b->w[bias_at] : 0.0, q = 0, p, d, y = b->labels[i];

		for (f = 0; f < k; f++)
			s[f] = 0;
		for (j = from; j < b->end[i]; j++) {
			const float *v = b->w + (size_t)b->pos[j] * dim;
			double x = b->vals[j];

			z += (double)v[0] * x;
			for (f = 0; f < k; f++) {
				double vx = (double)v[1 + f] * x;

				s[f] += vx;
				q += vx * vx;
			}
		}
		if (k > 0) {
			double ss = 0;

			for (f = 0; f < k; f++)
				ss += s[f] * s[f];
			z += 0.5 * (ss - q);
		}
		if (!isfinite(z)) {
			snprintf(what, sizeof what, "its score z is %g (not finite)", z);
			worker_diverged(wk, mode, i, i + 1, what, cause);
			return -1;
		}
		p = wk->squared ? z : sigmoid(z);
		switch (mode) {
		case MODE_TRAIN:
			if (wk->squared) {
				d = z - y;	/* d (1/2 (z - y)^2) / d z */
				if (!isfinite(d * d)) {
					snprintf(what, sizeof what, "its squared error "
					    "is %g (not finite)", d * d);
					worker_diverged(wk, mode, i, i + 1, what, cause);
					return -1;
				}
				eval_add_squared(&wk->train, z, y);
			} else {
				int pos = y > 0.5;

				eval_add(&wk->train, p, pos);
				d = p - pos;	/* d logloss / d z */
			}
			for (j = from; j < b->end[i]; j++) {
				size_t at = (size_t)b->pos[j] * dim;
				const float *v = b->w + at;
				float *g = b->g + at;
				double x = b->vals[j];

				g[0] += (float)(d * x);
				/* Huge feature values overflow a float. */
				if (!isfinite(g[0]))
					return batch_overflow(b, i, j, from, cause);
				/* d z / d v_jf = x_j (S_f - v_jf x_j) */
				for (f = 0; f < k; f++) {
					g[1 + f] += (float)(d * x * (s[f] -
					    (double)v[1 + f] * x));
					if (!isfinite(g[1 + f]))
						return batch_overflow(b, i, j, from, cause);
				}
			}
			/* the bias key's w only: its factors have no part in z */
			if (bias)
				b->g[bias_at] += (float)d;
			break;
		case MODE_PREDICT:
			if (wk->squared)
				printf("%.7g\n", z);
			else
				printf("%.6f\n", p);
			wk->predicted++;
			break;
		case MODE_EVAL:
			if (wk->squared)
				eval_add_squared(&wk->test, z, y);
			else
				eval_add(&wk->test, p, y > 0.5);
			break;
		}
		from = b->end[i];
	}
	if (mode == MODE_TRAIN) {
		/* (the batch's logloss: what eval_add summed for it) */
		if (!wk->squared && batch_runaway(wk, (wk->train.loss_sum - loss_before) /
		    (double)b->n, cause) != 0)
			return -1;
		if (client_push(&wk->client, b->ukeys, b->nu, b->g, cause) != 0)
			return -1;
		client_add_examples(&wk->client, b->n);
		wk->batches++;
	}
	if (mode == MODE_PREDICT && fflush(stdout) == EOF) {
		/* A reader that has had enough (| head): stop, quietly. */
		if (errno == EPIPE)
			wk->closed = 1;
		else
			xasprintf(cause, "stdout: %s", strerror(errno));
		return -1;
	}
	b->n = 0;
	b->nf = 0;
	return 0;
}

/* Add one example to the batch, and run the batch when it is full. */
static int
worker_example(struct worker *wk, const char *name, uint64_t line, enum batch_mode mode,
    char **cause)
{
	wk->b.input = name;
	batch_add(&wk->b, &wk->ex, line);
	progress_add(&wk->progress, 1);
	if (wk->b.n == (size_t)wk->conf->batch_size)
		return batch_run(wk, mode, cause);
	return 0;
}

/* Stream a libsvm file through batch_run, batch_size examples at a time; append each
 * example to cache too, if not NULL. */
static int
worker_stream(struct worker *wk, FILE *in, const char *name, enum batch_mode mode,
    struct ps_cache *cache, char **cause)
{
	uint64_t lineno = 0;
	ssize_t len;
	char *why;
	int r;

	while (!worker_signal && (len = getline(&wk->line, &wk->linecap, in)) != -1) {
		lineno++;
		r = wk->squared ? libsvm_parse_real(wk->line, (size_t)len, &wk->ex, &why) :
		    libsvm_parse(wk->line, (size_t)len, &wk->ex, &why);
		if (r == 0)
			continue;
		if (r == -1) {
			/* Keep the error on one line: cut the text at the newline. */
			wk->line[strcspn(wk->line, "\r\n")] = '\0';
			if (!wk->opts->skip_bad) {
				xasprintf(cause, "%s:%" PRIu64 ": %s: '%.80s'", name, lineno,
				    why, wk->line);
				free(why);
				return -1;
			}
			if (++wk->bad <= MAX_BAD_LOGGED) {
				progress_clear(&wk->progress);
				log_warnx("%s:%" PRIu64 ": %s; skipped", name, lineno, why);
			}
			free(why);
			continue;
		}
		if (cache != NULL && cache_append(cache, &wk->ex, lineno, cause) != 0)
			return -1;
		if (worker_example(wk, name, lineno, mode, cause) != 0)
			return -1;
	}
	/* Stopped by a signal: the examples not yet in a batch are dropped. */
	if (worker_signal)
		return 0;
	if (ferror(in)) {
		xasprintf(cause, "%s: read error", name);
		return -1;
	}
	return batch_run(wk, mode, cause);
}

/* One pass over the cache, in the order of seed (0: as written). */
static int
worker_cache_pass(struct worker *wk, uint64_t seed, char **cause)
{
	const char *name = wk->opts->in_name;
	uint64_t line;
	int r;

	if (cache_pass(wk->cache, seed, cause) != 0)
		return -1;
	while (!worker_signal && (r = cache_next(wk->cache, &wk->ex, &line, cause)) == 1) {
		/* A classifier's labels are 0 or 1: not so in a regression's cache. */
		if (!wk->squared && wk->ex.label != 0 && wk->ex.label != 1) {
			xasprintf(cause, "%s: the example of line %" PRIu64 " has label %g: "
			    "a cache written with model.loss squared, not logistic",
			    cache_path(wk->cache), line, (double)wk->ex.label);
			return -1;
		}
		if (worker_example(wk, name, line, MODE_TRAIN, cause) != 0)
			return -1;
	}
	if (worker_signal)
		return 0;
	if (r == -1)
		return -1;
	return batch_run(wk, MODE_TRAIN, cause);
}

static int
worker_test(struct worker *wk, char **cause)
{
	FILE *f;
	int r;

	eval_free(&wk->test);
	if (wk->squared)
		eval_init_streaming(&wk->test);
	else
		eval_init(&wk->test);
	if ((f = fopen(wk->opts->test_path, "r")) == NULL) {
		xasprintf(cause, "%s: %s", wk->opts->test_path, strerror(errno));
		return -1;
	}
	progress_stage(&wk->progress, "test", &wk->test, 0);
	r = worker_stream(wk, f, wk->opts->test_path, MODE_EVAL, NULL, cause);
	fclose(f);
	if (r == 0)
		progress_flush(&wk->progress);
	return r;
}

/* Wait at the barrier of this name; a signal ends the wait. */
static int
worker_barrier(struct worker *wk, const char *name, char **cause)
{
	int r;

	worker_sched_fd = wk->client.sched.fd;
	/* (a signal from now on ends the wait; one before, the call) */
	r = worker_signal ? -1 : client_barrier(&wk->client, name, cause);
	worker_sched_fd = -1;
	return r;
}

/* The seed of pass p's order: the worker's seed, the pass and the rank mixed
 * (splitmix64's finalizer), so that workers and passes each have their own; never 0,
 * which is the file's order. */
static uint64_t
worker_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t
worker_pass_seed(const struct worker *wk, unsigned pass)
{
	uint64_t z;

	z = worker_mix(wk->conf->seed + UINT64_C(0x9e3779b97f4a7c15));
	z = worker_mix(z ^ pass);
	z = worker_mix(z ^ ((uint64_t)wk->client.rank << 32));
	return z != 0 ? z : 1;
}

/* The figures of a pass, on one line of its own: "train logloss=L test logloss=...". */
static void
worker_pass_line(struct worker *wk, const struct pass_result *pr)
{
	char test[160] = "";

	if (pr->tested && wk->squared)
		snprintf(test, sizeof test, " test rmse=%.6f", pr->test.rmse);
	else if (pr->tested)
		snprintf(test, sizeof test, " test logloss=%.6f accuracy=%.6f auc=%.6f",
		    pr->test.logloss, pr->test.accuracy, pr->test.auc);
	progress_clear(&wk->progress);
	if (wk->squared)
		log_info("pass %u/%u: train rmse=%.6f%s", pr->pass, wk->passes,
		    pr->train.rmse, test);
	else
		log_info("pass %u/%u: train logloss=%.6f%s", pr->pass, wk->passes,
		    pr->train.logloss, test);
}

static struct pass_result *
worker_pass_result(struct worker *wk)
{
	struct pass_result *pr;

	wk->results = xreallocarray(wk->results, wk->nresults + 1, sizeof *wk->results);
	pr = &wk->results[wk->nresults++];
	memset(pr, 0, sizeof *pr);
	pr->pass = wk->pass;
	eval_result(&wk->train, &pr->train);
	return pr;
}

/* --early-stop: after a pass's test, is this the K-th pass in a row with no better
 * test loss than the best so far? */
static void
worker_early_stop(struct worker *wk, const struct pass_result *pr)
{
	const char *metric = wk->squared ? "rmse" : "logloss";
	double m = wk->squared ? pr->test.rmse : pr->test.logloss;

	if (wk->best_pass == 0 || m < wk->best) {
		wk->best = m;
		wk->best_pass = pr->pass;
		wk->since_best = 0;
		return;
	}
	if (++wk->since_best < (unsigned)wk->opts->early_stop)
		return;
	wk->stopped = pr->pass;
	log_info("early stop after pass %u: test %s has not improved for %u passes "
	    "(best %.6f at pass %u)", pr->pass, metric, wk->since_best, wk->best,
	    wk->best_pass);
}

/*
 * Between two passes every worker meets the others at the barrier "pass N": the
 * model is then what all of them trained in N passes, and --test measures it. A
 * second barrier, "pass N tested", keeps the others from training on while a test
 * runs, so that every worker tests the same model, and, given the same test file,
 * comes to the same --early-stop decision.
 */
static int
worker_between_passes(struct worker *wk, char **cause)
{
	struct pass_result *pr;
	char name[64];

	snprintf(name, sizeof name, "pass %u", wk->pass);
	if (worker_barrier(wk, name, cause) != 0 || worker_signal)
		return -1;
	pr = worker_pass_result(wk);
	if (wk->opts->test_path != NULL) {
		if (worker_test(wk, cause) != 0 || worker_signal)
			return -1;
		eval_result(&wk->test, &pr->test);
		pr->tested = 1;
	}
	worker_pass_line(wk, pr);
	snprintf(name, sizeof name, "pass %u tested", wk->pass);
	if (worker_barrier(wk, name, cause) != 0 || worker_signal)
		return -1;
	if (wk->opts->early_stop > 0 && pr->tested)
		worker_early_stop(wk, pr);
	return 0;
}

/* Every pass: the first from stdin (appending to the cache) unless the cache came
 * made, the others from the cache. */
static int
worker_train(struct worker *wk, char **cause)
{
	const struct worker_opts *o = wk->opts;
	int r;

	for (wk->pass = 1; wk->pass <= wk->passes; wk->pass++) {
		wk->pass_batches = 0;
		eval_free(&wk->train);
		eval_init_streaming(&wk->train);
		if (wk->passes == 1)
			snprintf(wk->stage, sizeof wk->stage, "train");
		else
			snprintf(wk->stage, sizeof wk->stage, "train %u/%u", wk->pass,
			    wk->passes);
		progress_stage(&wk->progress, wk->stage, &wk->train, 1);
		if (wk->pass == 1 && !wk->cache_reused) {
			worker_in_fd = fileno(o->in);
			r = worker_stream(wk, o->in, o->in_name, MODE_TRAIN, wk->cache, cause);
			worker_in_fd = -1;
			if (r != 0 || worker_signal)
				return r;
			if (wk->bad > 0) {
				progress_clear(&wk->progress);
				log_warnx("%s: skipped %" PRIu64 " malformed lines", o->in_name,
				    wk->bad);
			}
			if (wk->cache != NULL) {
				if (cache_seal(wk->cache, cause) != 0)
					return -1;
				wk->sealed = 1;
				progress_clear(&wk->progress);
				log_info("cache %s: %" PRIu64 " examples in %" PRIu64
				    " blocks", cache_path(wk->cache),
				    cache_examples(wk->cache), cache_blocks(wk->cache));
			}
		} else {
			/* A made cache's first pass is in its file's order, as the
			 * input was: the run that wrote it trained the same. */
			r = worker_cache_pass(wk, wk->pass == 1 ? 0 :
			    worker_pass_seed(wk, wk->pass), cause);
			if (r != 0 || worker_signal)
				return r;
		}
		/* The final figures stay in view while the worker waits. */
		progress_flush(&wk->progress);
		if (wk->pass == wk->passes)
			break;
		if (worker_between_passes(wk, cause) != 0 || worker_signal)
			return -1;
		if (wk->stopped)
			break;
	}
	/* The last pass's figures (its test is the final one). */
	if (wk->passes > 1 && !wk->stopped)
		worker_pass_result(wk);
	return 0;
}

/* --json's "passes": one object a pass, its train figures and, with --test, its
 * test figures. */
static void
worker_report_passes(const struct worker *wk)
{
	size_t i;

	printf(",\"passes\":[");
	for (i = 0; i < wk->nresults; i++) {
		const struct pass_result *pr = &wk->results[i];

		printf("%s{\"pass\":%u,", i ? "," : "", pr->pass);
		if (wk->squared)
			printf("\"train_rmse\":%.6f", pr->train.rmse);
		else
			printf("\"train_logloss\":%.6f", pr->train.logloss);
		if (pr->tested && wk->squared)
			printf(",\"rmse\":%.6f", pr->test.rmse);
		else if (pr->tested)
			printf(",\"logloss\":%.6f,\"accuracy\":%.6f,\"auc\":%.6f",
			    pr->test.logloss, pr->test.accuracy, pr->test.auc);
		printf("}");
	}
	printf("]");
	if (wk->stopped)
		printf(",\"early_stop\":{\"after_pass\":%u,\"best_pass\":%u,\"best\":%.6f}",
		    wk->stopped, wk->best_pass, wk->best);
}

static void
worker_report(struct worker *wk)
{
	const struct worker_opts *o = wk->opts;
	struct ps_eval_result res, tr;
	int training = !o->predict && !wk->offline;

	eval_result(&wk->train, &tr);
	if (o->test_path != NULL)
		eval_result(&wk->test, &res);
	if (o->json) {
		printf("{");
		if (training && wk->squared)
			printf("\"train_examples\":%" PRIu64 ",\"train_rmse\":%.6f,"
			    "\"skipped\":%" PRIu64 "%s", tr.examples, tr.rmse, wk->bad,
			    o->test_path ? "," : "");
		else if (training)
			printf("\"train_examples\":%" PRIu64 ",\"train_logloss\":%.6f,"
			    "\"train_accuracy\":%.6f,\"skipped\":%" PRIu64 "%s",
			    tr.examples, tr.logloss, tr.accuracy, wk->bad,
			    o->test_path ? "," : "");
		if (o->test_path != NULL && wk->squared)
			printf("\"examples\":%" PRIu64 ",\"rmse\":%.6f", res.examples,
			    res.rmse);
		else if (o->test_path != NULL)
			printf("\"examples\":%" PRIu64 ",\"logloss\":%.6f,"
			    "\"accuracy\":%.6f,\"auc\":%.6f", res.examples, res.logloss,
			    res.accuracy, res.auc);
		if (training && wk->passes > 1)
			worker_report_passes(wk);
		printf("}\n");
		return;
	}
	if (training && wk->squared)
		printf("train examples=%" PRIu64 " rmse=%.6f skipped=%" PRIu64 "\n",
		    tr.examples, tr.rmse, wk->bad);
	else if (training)
		printf("train examples=%" PRIu64 " logloss=%.6f accuracy=%.6f skipped=%"
		    PRIu64 "\n", tr.examples, tr.logloss, tr.accuracy, wk->bad);
	if (o->test_path != NULL && wk->squared)
		printf("test examples=%" PRIu64 " rmse=%.6f\n", res.examples, res.rmse);
	else if (o->test_path != NULL)
		printf("test examples=%" PRIu64 " logloss=%.6f accuracy=%.6f auc=%.6f\n",
		    res.examples, res.logloss, res.accuracy, res.auc);
}

static void
worker_terminated(struct worker *wk)
{
	const char *name = worker_signal == SIGINT ? "SIGINT" : "SIGTERM";

	if (wk->opts->predict)
		log_info("terminated (%s): %" PRIu64 " examples predicted", name,
		    wk->predicted);
	else if (wk->offline)
		log_info("terminated (%s): %" PRIu64 " examples tested", name, wk->test.n);
	else
		log_info("terminated (%s): %" PRIu64 " examples trained", name,
		    wk->train.n);
}

/* --model: read the checkpoint, and predict or evaluate from it alone. Its dim says
 * what it is: 1, a linear model; 1 + k, a factorization machine of k factors. */
static int
worker_offline(struct worker *wk, char **cause)
{
	const struct worker_opts *o = wk->opts;
	char *dir;

	if (!o->predict && o->test_path == NULL) {
		xasprintf(cause, "--model %s: a model is read-only: give --predict or --test",
		    o->model);
		return -1;
	}
	if ((dir = model_find(wk->conf->ckpt_dir, o->model, cause)) == NULL)
		return -1;
	if (model_open(&wk->model, dir, cause) != 0) {
		free(dir);
		return -1;
	}
	/* A checkpoint keeps the weights, not how a factorization machine's factors
	 * start: a key it does not hold pulls the values the servers would have
	 * drawn, from this job's settings. */
	if (wk->model.optim.dim > 1) {
		wk->model.optim.factors = wk->model.optim.dim - 1;
		wk->model.optim.init_scale = wk->conf->optim.init_scale;
		wk->model.optim.seed = wk->conf->optim.seed;
	}
	if (wk->model.optim.dim > 1)
		log_info("model %s: %llu keys (%s, a factorization machine of %u factors)",
		    dir, (unsigned long long)wk->model.keys,
		    optim_name(wk->model.optim.kind), wk->model.optim.dim - 1);
	else
		log_info("model %s: %llu keys (%s)", dir,
		    (unsigned long long)wk->model.keys, optim_name(wk->model.optim.kind));
	free(dir);
	wk->offline = 1;
	return 0;
}

/*
 * The settings that decide what is trained, checked: the command line's before
 * connecting, the job's once connected (the scheduler's may differ from what this
 * worker was given). 0, or -1 with the cause of an exit 2.
 */
static int
worker_check_job(const struct worker *wk, const struct ps_conf *c, char **cause)
{
	const struct worker_opts *o = wk->opts;

	if (c->optim.dim != 1 + c->optim.factors) {
		xasprintf(cause, "ps-worker trains a linear model, or a factorization machine "
		    "with model.factors: model.dim must be 1 + model.factors (%u), not %u",
		    1 + c->optim.factors, c->optim.dim);
		return -1;
	}
	if (!o->predict && o->model == NULL && c->optim.kind == PS_OPTIM_SUM &&
	    !wk->conf->allow_sum) {
		xasprintf(cause, "optimizer.name is sum: servers add the gradients up, which "
		    "does not train a model: give --allow-sum (worker.allow_sum) to do it "
		    "anyway");
		return -1;
	}
	return 0;
}

/* The job's model, from its settings (or, offline, from the checkpoint's dim). */
static void
worker_model(struct worker *wk)
{
	if (wk->offline) {
		wk->dim = wk->model.optim.dim;
		wk->optim = &wk->model.optim;
		/* what a checkpoint does not record: the command line's */
		wk->squared = wk->conf->loss == PS_LOSS_SQUARED;
		wk->bias = wk->conf->bias;
	} else {
		wk->dim = wk->job->optim.dim;
		wk->optim = &wk->job->optim;
		wk->squared = wk->job->loss == PS_LOSS_SQUARED;
		wk->bias = wk->job->bias;
	}
	wk->k = wk->dim - 1;
	wk->fm_s = xreallocarray(NULL, wk->k + 1, sizeof *wk->fm_s);
}

/* What is trained, for the first log line, unless it is one pass of logistic
 * regression: "a factorization machine of 8 factors (squared loss), 3 passes". */
static void
worker_describe(const struct worker *wk, char *buf, size_t len)
{
	int n = 0;

	buf[0] = '\0';
	if (wk->k > 0)
		n = snprintf(buf, len, "a factorization machine of %u factors%s", wk->k,
		    wk->squared ? " (squared loss)" : "");
	else if (wk->squared)
		n = snprintf(buf, len, "linear regression");
	if (n >= 0 && (size_t)n < len && wk->passes > 1)
		snprintf(buf + n, len - (size_t)n, "%s%u passes", n > 0 ? ", " : "",
		    wk->passes);
}

/* --cache FILE: an existing file is read (and must be a sealed cache), a missing one
 * written in the first pass; without it, a temporary file when there are passes to
 * come. 0, or -1 with the cause and the exit status. */
static int
worker_open_cache(struct worker *wk, char **cause, int *status)
{
	const struct worker_opts *o = wk->opts;
	struct stat st;

	*status = PS_EXIT_USAGE;
	if (o->cache_path != NULL && stat(o->cache_path, &st) == 0) {
		if ((wk->cache = cache_open(o->cache_path, cause)) == NULL)
			return -1;
		wk->cache_reused = 1;
		log_info("cache %s: %" PRIu64 " examples in %" PRIu64 " blocks; %s is not "
		    "read", cache_path(wk->cache), cache_examples(wk->cache),
		    cache_blocks(wk->cache), o->in_name);
		return 0;
	}
	if (o->cache_path != NULL && errno != ENOENT) {
		xasprintf(cause, "%s: %s", o->cache_path, strerror(errno));
		return -1;
	}
	if (o->cache_path != NULL) {
		if ((wk->cache = cache_create(o->cache_path, cause)) == NULL)
			return -1;
		wk->cache_ours = 1;
		return 0;
	}
	if (wk->passes > 1 && (wk->cache = cache_create(NULL, cause)) == NULL) {
		*status = PS_EXIT_ERROR;
		return -1;
	}
	return 0;
}

int
worker_run(const struct ps_conf *conf, const struct worker_opts *opts)
{
	struct worker wk;
	char *cause = NULL;
	int r, status = 1, training = !opts->predict && opts->model == NULL;

	memset(&wk, 0, sizeof wk);
	wk.conf = conf;
	wk.job = conf;
	wk.opts = opts;
	wk.passes = training ? (unsigned)conf->passes : 1;
	example_init(&wk.ex);
	eval_init_streaming(&wk.train);
	eval_init(&wk.test);
	progress_init(&wk.progress, "ps-worker", opts->progress, opts->progress_file);
	if (worker_check_job(&wk, conf, &cause) != 0) {
		status = PS_EXIT_USAGE;
		goto out;
	}
	/* Find an unreadable test file now, not after training. */
	if (opts->test_path != NULL && access(opts->test_path, R_OK) != 0) {
		xasprintf(&cause, "%s: %s", opts->test_path, strerror(errno));
		status = PS_EXIT_USAGE;
		goto out;
	}
	/* And a cache that is not one. */
	if (training && worker_open_cache(&wk, &cause, &status) != 0)
		goto out;
	status = PS_EXIT_ERROR;
	signal(SIGPIPE, SIG_IGN);
	if (opts->model != NULL) {
		if (worker_offline(&wk, &cause) != 0)
			goto out;
	} else if (client_open(&wk.client, conf, opts->predict ? PS_ROLE_CLIENT :
	    PS_ROLE_WORKER, "ps-worker", &cause) != 0) {
		char *why = cause;

		xasprintf(&cause, "scheduler: %s", why);	/* logged at out */
		free(why);
		goto out;
	} else {
		wk.connected = 1;
		/* A signal's way out is not a lost scheduler to reach again. */
		wk.client.stop = &worker_signal;
		/* From now on the job's settings are the scheduler's. */
		wk.job = wk.client.conf;
		if (worker_check_job(&wk, wk.job, &cause) != 0) {
			status = PS_EXIT_USAGE;
			goto out;
		}
	}
	worker_model(&wk);
	if (wk.squared) {
		eval_free(&wk.test);
		eval_init_streaming(&wk.test);
	}
	/* Registered: from now on a signal ends the worker the clean way. */
	worker_signals();
	if (training) {
		char what[128];

		worker_describe(&wk, what, sizeof what);
		log_info("worker %u of %d training from %s%s%s", wk.client.rank,
		    conf->num_workers, wk.cache_reused ? cache_path(wk.cache) :
		    opts->in_name, what[0] ? ": " : "", what);
		if (worker_train(&wk, &cause) != 0 || worker_signal)
			goto out;
	} else if (opts->predict) {
		/* Offline, without --predict, the model is only evaluated: stdin is
		 * not read. */
		progress_stage(&wk.progress, "predict", NULL, 1);
		worker_in_fd = fileno(opts->in);
		r = worker_stream(&wk, opts->in, opts->in_name, MODE_PREDICT, NULL, &cause);
		worker_in_fd = -1;
		if (r != 0 || worker_signal)
			goto out;
		progress_flush(&wk.progress);
		if (wk.bad > 0) {
			progress_clear(&wk.progress);
			log_warnx("%s: skipped %" PRIu64 " malformed lines", opts->in_name,
			    wk.bad);
		}
	}
	/* Evaluate the model every worker trained, not a part of it. */
	if (training && (worker_barrier(&wk, "trained", &cause) != 0 || worker_signal))
		goto out;
	if (opts->test_path != NULL && (worker_test(&wk, &cause) != 0 || worker_signal))
		goto out;
	/* The last pass's line: its test is the final one. */
	if (training && wk.passes > 1 && !wk.stopped && wk.nresults > 0) {
		struct pass_result *pr = &wk.results[wk.nresults - 1];

		if (opts->test_path != NULL) {
			eval_result(&wk.test, &pr->test);
			pr->tested = 1;
		}
		worker_pass_line(&wk, pr);
	}
	progress_clear(&wk.progress);
	worker_report(&wk);
	if (fflush(stdout) == EOF) {
		if (errno == EPIPE)
			wk.closed = 1;
		else
			xasprintf(&cause, "stdout: %s", strerror(errno));
		goto out;
	}
	status = 0;
out:
	progress_clear(&wk.progress);
	if (wk.closed && cause == NULL) {
		log_debug("stdout closed by its reader: stopping");
		status = 0;
	}
	if (worker_signal && status != 0) {
		/* Whatever failed was cut short by the signal. */
		if (cause != NULL)
			log_debug("%s", cause);
		free(cause);
		cause = NULL;
		worker_terminated(&wk);
		status = 0;
	}
	if (cause != NULL) {
		log_error("%s", cause);
		free(cause);
		cause = NULL;
	}
	if (wk.connected) {
		if (!opts->predict && client_done(&wk.client, status, &cause) != 0) {
			log_warnx("%s", cause);
			free(cause);
		}
		client_close(&wk.client);
	}
	/* A cache this worker began and did not finish is no cache: it goes. */
	if (wk.cache_ours && !wk.sealed && unlink(opts->cache_path) == 0)
		log_info("%s: removed: the first pass did not finish", opts->cache_path);
	if (wk.cache != NULL)
		cache_close(wk.cache);
	if (wk.offline)
		model_free(&wk.model);
	batch_free(&wk.b);
	example_free(&wk.ex);
	eval_free(&wk.train);
	eval_free(&wk.test);
	progress_free(&wk.progress);
	free(wk.results);
	free(wk.fm_s);
	free(wk.line);
	return status;
}
