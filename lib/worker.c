/*
 * ps-worker. Input is read as a stream, one mini-batch at a time, so memory stays
 * constant whatever the input size. Per batch: the keys are sorted and deduplicated
 * once, pulled from every owning server at once, the logistic-loss gradient is
 * summed per key, and pushed back. Training quality is measured progressively: each
 * example is scored with the weights pulled before its own update.
 *
 * SIGTERM (or SIGINT) ends a worker early and cleanly: it stops reading, even from
 * an input that sends nothing, tells the scheduler it is done and exits 0.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	float		*w;		/* pulled weights, per unique key */
	float		*g;		/* summed gradients, per unique key */
	size_t		 cap_u;
};

struct worker {
	const struct ps_conf		*conf;
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
	memcpy(b->keys + b->nf, ex->keys, ex->nfeat * sizeof *b->keys);
	memcpy(b->vals + b->nf, ex->vals, ex->nfeat * sizeof *b->vals);
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
batch_index(struct batch *b, int bias)
{
	size_t i, nu, need = b->nf + 1;

	if (need > b->cap_u) {
		b->cap_u = need;
		b->ukeys = xreallocarray(b->ukeys, need, sizeof *b->ukeys);
		b->sort_tmp = xreallocarray(b->sort_tmp, need, sizeof *b->sort_tmp);
		b->w = xreallocarray(b->w, need, sizeof *b->w);
		b->g = xreallocarray(b->g, need, sizeof *b->g);
	}
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

static int
batch_run(struct worker *wk, enum batch_mode mode, char **cause)
{
	struct batch *b = &wk->b;
	int bias = wk->conf->bias;
	uint32_t bias_pos = 0;
	size_t i, j, from = 0;

	if (b->n == 0)
		return 0;
	batch_index(b, bias);
	if (bias)
		bias_pos = (uint32_t)find_key(b->ukeys, b->nu, BIAS_KEY);
	if (wk->offline)
		model_pull(&wk->model, b->ukeys, b->nu, b->w);
	else if (client_pull(&wk->client, b->ukeys, b->nu, b->w, cause) != 0)
		return -1;
	if (mode == MODE_TRAIN)
		memset(b->g, 0, b->nu * sizeof *b->g);
	for (i = 0; i < b->n; i++) {
		double z = bias ? b->w[bias_pos] : 0.0, p, d;
		int y = b->labels[i] > 0.5f;

		for (j = from; j < b->end[i]; j++)
			z += (double)b->w[b->pos[j]] * b->vals[j];
		p = sigmoid(z);
		switch (mode) {
		case MODE_TRAIN:
			eval_add(&wk->train, p, y);
			d = p - y;	/* d logloss / d z */
			for (j = from; j < b->end[i]; j++) {
				b->g[b->pos[j]] += (float)(d * b->vals[j]);
				/* Huge feature values overflow a float: say where,
				 * rather than push what a server must refuse. */
				if (!isfinite(b->g[b->pos[j]])) {
					xasprintf(cause, "%s:%" PRIu64 ": the gradient of "
					    "its feature %u (value %g) overflows a float "
					    "in this batch: scale the feature values down",
					    b->input, b->lines[i],
					    (unsigned)(j - from + 1), (double)b->vals[j]);
					return -1;
				}
			}
			if (bias)
				b->g[bias_pos] += (float)d;
			break;
		case MODE_PREDICT:
			printf("%.6f\n", p);
			wk->predicted++;
			break;
		case MODE_EVAL:
			eval_add(&wk->test, p, y);
			break;
		}
		from = b->end[i];
	}
	if (mode == MODE_TRAIN) {
		if (client_push(&wk->client, b->ukeys, b->nu, b->g, cause) != 0)
			return -1;
		client_add_examples(&wk->client, b->n);
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

/* Stream a libsvm file through batch_run, batch_size examples at a time. */
static int
worker_stream(struct worker *wk, FILE *in, const char *name, enum batch_mode mode,
    char **cause)
{
	uint64_t lineno = 0;
	ssize_t len;
	char *why;
	int r;

	while (!worker_signal && (len = getline(&wk->line, &wk->linecap, in)) != -1) {
		lineno++;
		r = libsvm_parse(wk->line, (size_t)len, &wk->ex, &why);
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
		wk->b.input = name;
		batch_add(&wk->b, &wk->ex, lineno);
		progress_add(&wk->progress, 1);
		if (wk->b.n == (size_t)wk->conf->batch_size &&
		    batch_run(wk, mode, cause) != 0)
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

static int
worker_test(struct worker *wk, char **cause)
{
	FILE *f;
	int r;

	if ((f = fopen(wk->opts->test_path, "r")) == NULL) {
		xasprintf(cause, "%s: %s", wk->opts->test_path, strerror(errno));
		return -1;
	}
	progress_stage(&wk->progress, "test", &wk->test, 0);
	r = worker_stream(wk, f, wk->opts->test_path, MODE_EVAL, cause);
	fclose(f);
	if (r == 0)
		progress_flush(&wk->progress);
	return r;
}

static void
worker_report(struct worker *wk)
{
	const struct worker_opts *o = wk->opts;
	struct ps_eval_result res, tr;

	eval_result(&wk->train, &tr);
	if (o->test_path != NULL)
		eval_result(&wk->test, &res);
	if (o->json) {
		printf("{");
		if (!o->predict && !wk->offline)
			printf("\"train_examples\":%" PRIu64 ",\"train_logloss\":%.6f,"
			    "\"train_accuracy\":%.6f,\"skipped\":%" PRIu64 "%s",
			    tr.examples, tr.logloss, tr.accuracy, wk->bad,
			    o->test_path ? "," : "");
		if (o->test_path != NULL)
			printf("\"examples\":%" PRIu64 ",\"logloss\":%.6f,"
			    "\"accuracy\":%.6f,\"auc\":%.6f", res.examples, res.logloss,
			    res.accuracy, res.auc);
		printf("}\n");
		return;
	}
	if (!o->predict && !wk->offline)
		printf("train examples=%" PRIu64 " logloss=%.6f accuracy=%.6f skipped=%"
		    PRIu64 "\n", tr.examples, tr.logloss, tr.accuracy, wk->bad);
	if (o->test_path != NULL)
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
		log_info("terminated (%s): %" PRIu64 " examples trained", name, wk->train.n);
}

/* --model: read the checkpoint, and predict or evaluate from it alone. */
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
	if (wk->model.optim.dim != 1) {
		xasprintf(cause, "%s: model.dim %u: ps-worker reads dim 1 models", dir,
		    wk->model.optim.dim);
		model_free(&wk->model);
		free(dir);
		return -1;
	}
	log_info("model %s: %llu keys (%s)", dir, (unsigned long long)wk->model.keys,
	    optim_name(wk->model.optim.kind));
	free(dir);
	wk->offline = 1;
	return 0;
}

int
worker_run(const struct ps_conf *conf, const struct worker_opts *opts)
{
	struct worker wk;
	char *cause = NULL;
	int r, status = 1;

	memset(&wk, 0, sizeof wk);
	wk.conf = conf;
	wk.opts = opts;
	example_init(&wk.ex);
	eval_init_streaming(&wk.train);
	eval_init(&wk.test);
	progress_init(&wk.progress, "ps-worker", opts->progress, opts->progress_file);
	if (conf->optim.dim != 1) {
		log_error("ps-worker trains logistic regression: model.dim must be 1, not %u",
		    conf->optim.dim);
		progress_free(&wk.progress);
		return PS_EXIT_USAGE;
	}
	/* Find an unreadable test file now, not after training. */
	if (opts->test_path != NULL && access(opts->test_path, R_OK) != 0) {
		log_error("%s: %s", opts->test_path, strerror(errno));
		progress_free(&wk.progress);
		return PS_EXIT_USAGE;
	}
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
	}
	/* Registered: from now on a signal ends the worker the clean way. */
	worker_signals();
	if (!opts->predict && !wk.offline)
		log_info("worker %u of %d training from %s", wk.client.rank,
		    conf->num_workers, opts->in_name);

	/* Offline, without --predict, the model is only evaluated: stdin is not read. */
	if (!wk.offline || opts->predict) {
		progress_stage(&wk.progress, opts->predict ? "predict" : "train",
		    opts->predict ? NULL : &wk.train, 1);
		worker_in_fd = fileno(opts->in);
		r = worker_stream(&wk, opts->in, opts->in_name, opts->predict ?
		    MODE_PREDICT : MODE_TRAIN, &cause);
		worker_in_fd = -1;
		if (r != 0 || worker_signal)
			goto out;
		/* The final figures stay in view while the worker waits for the others. */
		progress_flush(&wk.progress);
	}
	if (wk.bad > 0) {
		progress_clear(&wk.progress);
		log_warnx("%s: skipped %" PRIu64 " malformed lines", opts->in_name, wk.bad);
	}
	/* Evaluate the model every worker trained, not a part of it. */
	if (!opts->predict && !wk.offline) {
		worker_sched_fd = wk.client.sched.fd;
		/* (a signal from now on ends the wait; one before, the call) */
		r = worker_signal ? -1 : client_barrier(&wk.client, "trained", &cause);
		worker_sched_fd = -1;
		if (r != 0 || worker_signal)
			goto out;
	}
	if (opts->test_path != NULL && (worker_test(&wk, &cause) != 0 || worker_signal))
		goto out;
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
	if (wk.offline)
		model_free(&wk.model);
	batch_free(&wk.b);
	example_free(&wk.ex);
	eval_free(&wk.train);
	eval_free(&wk.test);
	progress_free(&wk.progress);
	free(wk.line);
	return status;
}
