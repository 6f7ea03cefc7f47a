/*
 * ps-bench's measurements, see ps-bench(1). One client pushes then pulls N sorted random
 * keys of dim floats against a running cluster and prints the median time of each
 * operation; or the libsvm parser is timed over a file held in memory.
 *
 * Keys come from a fixed-seed splitmix64 stream (a different stream for each N, so the
 * key sets do not overlap), radix-sorted and deduplicated. Gradients are multiples of
 * 1/8 in [-16, 15.875], so with optimizer sum every partial sum is exact in a float and
 * the values pulled at the end can be compared exactly: a benchmark that measured a
 * broken system would be worse than none.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ps/bench.h"
#include "ps/sort.h"
#include "ps/cli.h"
#include "ps/client.h"
#include "ps/libsvm.h"
#include "ps/log.h"
#include "ps/xmalloc.h"

#define BENCH_SEED		UINT64_C(0x5053424e43480001)	/* "PSBNCH", 1 */
#define BENCH_AUTO_KEYS		2e7	/* automatic rounds move at least this many keys */
#define BENCH_AUTO_MIN		3
#define BENCH_AUTO_MAX		1000
#define BENCH_CHECK_KEYS	4096	/* keys whose values are checked, spread evenly */
#define BENCH_PARSE_MIN_SECS	1.0

static double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t
bench_splitmix64(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* n unique sorted random keys: draw, sort, dedupe, top up. */
static uint64_t *
bench_keys(size_t n, uint64_t seed)
{
	uint64_t *keys = xreallocarray(NULL, n, sizeof *keys);
	uint64_t *tmp = xreallocarray(NULL, n, sizeof *tmp);
	size_t have = 0, i;

	while (have < n) {
		for (i = have; i < n; i++)
			keys[i] = bench_splitmix64(&seed);
		have = sort_u64_unique(keys, tmp, n);
	}
	free(tmp);
	return keys;
}

static int
bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
bench_median(double *t, size_t n)
{
	qsort(t, n, sizeof *t, bench_cmp_double);
	return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static long
bench_rounds(const struct bench_opts *b, size_t n)
{
	double r;

	if (b->rounds > 0)
		return b->rounds;
	r = ceil(BENCH_AUTO_KEYS / (double)n);
	if (r < BENCH_AUTO_MIN)
		r = BENCH_AUTO_MIN;
	if (r > BENCH_AUTO_MAX)
		r = BENCH_AUTO_MAX;
	return (long)r;
}

static void
bench_report(const struct bench_opts *b, const char *op, size_t n, uint32_t dim,
    long rounds, double secs)
{
	if (b->json)
		printf("{\"op\":\"%s\",\"keys\":%zu,\"dim\":%u,\"rounds\":%ld,"
		    "\"ms\":%.4f,\"ns_per_key\":%.3f}\n", op, n, dim, rounds, secs * 1e3,
		    secs * 1e9 / (double)n);
	else
		printf("%s keys=%zu dim=%u rounds=%ld ms=%.3f ns_per_key=%.2f\n", op, n, dim,
		    rounds, secs * 1e3, secs * 1e9 / (double)n);
	fflush(stdout);
}

/* With --check-all: how many keys had every value checked, and found exact. */
static void
bench_report_check(const struct bench_opts *b, size_t n, uint32_t dim, long rounds,
    size_t checked)
{
	if (b->json)
		printf("{\"op\":\"check\",\"keys\":%zu,\"dim\":%u,\"rounds\":%ld,"
		    "\"checked\":%zu,\"values\":%zu}\n", n, dim, rounds, checked,
		    checked * dim);
	else
		printf("check keys=%zu dim=%u rounds=%ld checked=%zu values=%zu\n", n,
		    dim, rounds, checked, checked * dim);
	fflush(stdout);
}

/* The keys whose values are checked: up to BENCH_CHECK_KEYS spread evenly, and the
 * last one, since the end of a batch is where chunks are cut. Returns the count. */
static size_t
bench_sample(size_t n, size_t *idx)
{
	size_t step = (n + BENCH_CHECK_KEYS - 1) / BENCH_CHECK_KEYS, i, m = 0;

	for (i = 0; i < n; i += step)
		idx[m++] = i;
	if (idx[m - 1] != n - 1)
		idx[m++] = n - 1;
	return m;
}

/* Keep the checked keys' values of vals in out: those of idx, or all m if idx is NULL. */
static void
bench_keep(const size_t *idx, size_t m, uint32_t dim, const float *vals, float *out)
{
	size_t i;

	if (idx == NULL) {
		memcpy(out, vals, m * dim * sizeof *out);
		return;
	}
	for (i = 0; i < m; i++)
		memcpy(out + i * dim, vals + idx[i] * dim, dim * sizeof *out);
}

/*
 * Does the pulled value match base + times * g? Each partial sum is a multiple of 1/8
 * while base is: below 2^21 every one is a float, so with exact the sum must be met to
 * the bit. Otherwise (or past 2^21, where each add may round by half a float ulp) a
 * tolerance smaller than the smallest gradient step is allowed.
 */
static int
bench_match(double got, double b, double g, long times, int exact)
{
	double want = b + (double)times * g;

	if (exact && b * 8 == nearbyint(b * 8) &&
	    fabs(b) + (double)times * fabs(g) < 0x1p21)
		return got == want;
	return fabs(got - want) <= 1e-6 * fmax(1.0, fabs(want)) +
	    (double)times * fabs(want) * 0x1p-24;
}

/*
 * Compare the values pulled at the end with base + times * g, for the m keys of idx
 * (every key if idx is NULL): 0, or -1 with the first difference and the count of keys
 * that differ in *cause.
 */
static int
bench_check(const uint64_t *keys, const size_t *idx, size_t m, uint32_t dim,
    const float *base, const float *g, const float *got, long times, int exact,
    char **cause)
{
	size_t i, j, k, key, bad = 0, bad_i = 0, bad_j = 0;
	int differs;

	for (i = 0; i < m; i++) {
		key = idx != NULL ? idx[i] : i;
		differs = 0;
		for (j = 0; j < dim; j++) {
			k = key * dim + j;
			if (bench_match(got[k], base[i * dim + j], g[k], times, exact))
				continue;
			if (bad == 0 && !differs) {
				bad_i = i;
				bad_j = j;
			}
			differs = 1;
		}
		bad += differs;
	}
	if (bad == 0)
		return 0;
	key = idx != NULL ? idx[bad_i] : bad_i;
	k = key * dim + bad_j;
	xasprintf(cause, "key %llu value %zu: pulled %.9g, want %.9g (%.9g + %ld pushes "
	    "of %.9g); %zu of %zu keys checked differ: are the servers running "
	    "optimizer.name=sum with model.dim=%u, and is no other client pushing "
	    "these keys?", (unsigned long long)keys[key], bad_j, got[k],
	    (double)base[bad_i * dim + bad_j] + (double)times * g[k],
	    base[bad_i * dim + bad_j], times, g[k], bad, m, dim);
	return -1;
}

/* Gradients: multiples of 1/8 in [-16, 15.875], eight from each random number. */
static void
bench_grads(float *g, size_t nf, uint64_t seed)
{
	uint64_t r = 0;
	size_t i;

	for (i = 0; i < nf; i++) {
		if (i % 8 == 0)
			r = bench_splitmix64(&seed);
		g[i] = (float)(int8_t)(r >> (8 * (i % 8))) / 8.0f;
	}
}

/* One key count: warm up, then rounds of push and pull, then check. */
static int
bench_one(const struct bench_opts *b, struct ps_client *c, const struct ps_conf *conf,
    size_t n, uint64_t seed)
{
	uint32_t dim = conf->optim.dim;
	long rounds = bench_rounds(b, n), r;
	size_t nf = n * dim, idx[BENCH_CHECK_KEYS + 2], m = 0;
	size_t *which = idx;	/* the keys checked; NULL: every one */
	uint64_t *keys;
	float *grads, *vals, *base = NULL;
	double *tpush, *tpull, t0;
	char *cause = NULL;
	int check = conf->optim.kind == PS_OPTIM_SUM, status = -1;

	t0 = bench_now();
	keys = bench_keys(n, seed);
	grads = xreallocarray(NULL, nf, sizeof *grads);
	vals = xreallocarray(NULL, nf, sizeof *vals);
	tpush = xcalloc(rounds, sizeof *tpush);
	tpull = xcalloc(rounds, sizeof *tpull);
	bench_grads(grads, nf, seed ^ UINT64_C(0x6772616469656e74));
	log_debug("%zu keys of dim %u made in %.3f s", n, dim, bench_now() - t0);

	/* The keys may hold values from an earlier run against the same servers. */
	if (check) {
		if (b->check_all) {
			m = n;
			which = NULL;
		} else
			m = bench_sample(n, idx);
		base = xreallocarray(NULL, m * dim, sizeof *base);
		if (client_pull(c, keys, n, vals, &cause) != 0)
			goto out;
		bench_keep(which, m, dim, vals, base);
	}
	/* Warm-up: creates the keys on the servers and sizes every buffer. */
	t0 = bench_now();
	if (client_push(c, keys, n, grads, &cause) != 0)
		goto out;
	t0 = bench_now() - t0;
	log_info("%zu keys: creating them took %.3f s (%.1f ns/key)", n, t0,
	    t0 * 1e9 / (double)n);
	if (client_pull(c, keys, n, vals, &cause) != 0)
		goto out;

	for (r = 0; r < rounds; r++) {
		t0 = bench_now();
		if (client_push(c, keys, n, grads, &cause) != 0)
			goto out;
		tpush[r] = bench_now() - t0;
		t0 = bench_now();
		if (client_pull(c, keys, n, vals, &cause) != 0)
			goto out;
		tpull[r] = bench_now() - t0;
	}
	if (check && bench_check(keys, which, m, dim, base, grads, vals, rounds + 1,
	    b->check_all, &cause) != 0)
		goto out;
	bench_report(b, "push", n, dim, rounds, bench_median(tpush, rounds));
	bench_report(b, "pull", n, dim, rounds, bench_median(tpull, rounds));
	if (b->check_all)
		bench_report_check(b, n, dim, rounds, m);
	status = 0;
out:
	if (status != 0) {
		log_error("%zu keys: %s", n, cause);
		free(cause);
	}
	free(keys);
	free(grads);
	free(vals);
	free(base);
	free(tpush);
	free(tpull);
	return status;
}

int
bench_cluster(const struct bench_opts *b, const struct ps_conf *conf)
{
	struct ps_client c;
	char *cause;
	size_t i;
	int status = PS_EXIT_OK;

	if (client_open(&c, conf, PS_ROLE_CLIENT, "ps-bench", &cause) != 0) {
		log_error("scheduler %s:%d: %s", conf->scheduler_host, conf->scheduler_port,
		    cause);
		free(cause);
		return PS_EXIT_ERROR;
	}
	conf = c.conf;		/* the job's model and optimizer, from the scheduler */
	if (b->check_all && conf->optim.kind != PS_OPTIM_SUM) {
		log_error("--check-all needs optimizer.name=sum, and the job's is %s: "
		    "other optimizers' values cannot be predicted",
		    optim_name(conf->optim.kind));
		client_close(&c);
		return PS_EXIT_USAGE;
	}
	if (conf->optim.kind != PS_OPTIM_SUM)
		log_warnx("optimizer.name is %s, not sum: the values pulled are not "
		    "checked", optim_name(conf->optim.kind));
	log_info("connected: %u servers, dim %u", c.map.nservers, conf->optim.dim);
	for (i = 0; i < b->nsizes; i++) {
		if (bench_one(b, &c, conf, b->nkeys[i],
		    BENCH_SEED + UINT64_C(0x100000000) * (uint64_t)b->nkeys[i]) != 0) {
			status = PS_EXIT_ERROR;
			break;
		}
	}
	client_close(&c);
	return status;
}

/* Read all of path; NULL with errno set. */
static char *
bench_read(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	size_t have = 0, cap = 262144;
	ssize_t n;
	int fd, saved;

	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size >= cap)
		cap = (size_t)st.st_size + 1;
	buf = xmalloc(cap);
	for (;;) {
		if (have == cap) {
			cap *= 2;
			buf = xreallocarray(buf, cap, 1);
		}
		n = read(fd, buf + have, cap - have);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			saved = errno;
			free(buf);
			close(fd);
			errno = saved;
			return NULL;
		}
		if (n == 0)
			break;
		have += (size_t)n;
	}
	close(fd);
	*len = have;
	return buf;
}

/* One pass of the parser over every line; -1 and *cause at the first bad line. */
static int
bench_parse_pass(const char *buf, size_t len, struct ps_example *ex, size_t *lines,
    size_t *examples, size_t *features, char **cause)
{
	const char *p = buf, *end = buf + len, *nl;
	char *why;
	int r;

	*lines = *examples = *features = 0;
	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		++*lines;
		if ((r = libsvm_parse(p, (size_t)(nl - p), ex, &why)) == -1) {
			xasprintf(cause, "line %zu: %s", *lines, why);
			free(why);
			return -1;
		}
		if (r == 1) {
			++*examples;
			*features += ex->nfeat;
		}
		p = nl + 1;
	}
	return 0;
}

int
bench_parse(const struct bench_opts *b)
{
	struct ps_example ex;
	size_t len, lines, examples, features, cap = 16, npass = 0;
	double *t = xcalloc(cap, sizeof *t), t0, total = 0, secs;
	char *buf, *cause;
	int status = PS_EXIT_OK;

	if ((buf = bench_read(b->parse, &len)) == NULL) {
		log_error("%s: %s", b->parse, strerror(errno));
		free(t);
		return PS_EXIT_ERROR;
	}
	example_init(&ex);
	/* A first pass, untimed, warms the page cache's copy and the example's arrays. */
	if (bench_parse_pass(buf, len, &ex, &lines, &examples, &features, &cause) != 0)
		goto bad;
	while (b->rounds > 0 ? npass < (size_t)b->rounds : total < BENCH_PARSE_MIN_SECS) {
		t0 = bench_now();
		if (bench_parse_pass(buf, len, &ex, &lines, &examples, &features,
		    &cause) != 0)
			goto bad;
		if (npass == cap) {
			cap *= 2;
			t = xreallocarray(t, cap, sizeof *t);
		}
		t[npass] = bench_now() - t0;
		total += t[npass++];
	}
	secs = bench_median(t, npass);
	if (b->json)
		printf("{\"op\":\"parse\",\"file\":\"%s\",\"bytes\":%zu,\"lines\":%zu,"
		    "\"features\":%zu,\"rounds\":%zu,\"ms\":%.4f,\"MB_per_s\":%.2f,"
		    "\"ns_per_feature\":%.3f}\n", b->parse, len, lines, features, npass,
		    secs * 1e3, len / secs / 1e6, features ? secs * 1e9 / features : 0.0);
	else
		printf("parse file=%s bytes=%zu lines=%zu features=%zu rounds=%zu ms=%.3f "
		    "MB_per_s=%.1f ns_per_feature=%.2f\n", b->parse, len, lines, features,
		    npass, secs * 1e3, len / secs / 1e6,
		    features ? secs * 1e9 / features : 0.0);
	goto out;
bad:
	log_error("%s: %s", b->parse, cause);
	free(cause);
	status = PS_EXIT_ERROR;
out:
	example_free(&ex);
	free(buf);
	free(t);
	return status;
}
