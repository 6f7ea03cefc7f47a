/* Model quality: hand-computed AUC (with ties), logloss and accuracy. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "ps/eval.h"
#include "unit.h"

static struct ps_eval_result
run(const double *p, const int *y, size_t n)
{
	struct ps_eval		ev;
	struct ps_eval_result	r;
	size_t			i;

	eval_init(&ev);
	for (i = 0; i < n; i++)
		eval_add(&ev, p[i], y[i]);
	eval_result(&ev, &r);
	eval_free(&ev);
	return r;
}

#define RUN_EVAL(p, y) run((p), (y), sizeof (p) / sizeof (p)[0])

static void
test_empty(void)
{
	struct ps_eval		ev;
	struct ps_eval_result	r;

	eval_init(&ev);
	eval_result(&ev, &r);
	CHECK(r.examples == 0);
	CHECK(r.auc == 0.5);
	CHECK(r.accuracy == 0);
	CHECK(r.logloss == 0);
	eval_free(&ev);
	CHECK(ev.scores == NULL && ev.labels == NULL && ev.n == 0);
}

static void
test_auc_hand(void)
{
	/* The textbook case: 3 of the 4 positive-negative pairs are ordered right. */
	const double	p1[] = { 0.1, 0.4, 0.35, 0.8 };
	const int	y1[] = { 0, 0, 1, 1 };
	/* Perfect and reversed rankings. */
	const double	p2[] = { 0.9, 0.1, 0.8, 0.2, 0.7 };
	const int	y2[] = { 1, 0, 1, 0, 1 };
	const int	y3[] = { 0, 1, 0, 1, 0 };
	/* One tie between a positive and a negative: (1 + 0.5 + 1 + 1) / 4. */
	const double	p4[] = { 0.2, 0.5, 0.5, 0.9 };
	const int	y4[] = { 0, 0, 1, 1 };
	/* All scores equal: every pair is a tie. */
	const double	p5[] = { 0.3, 0.3, 0.3, 0.3, 0.3 };
	const int	y5[] = { 1, 0, 0, 1, 0 };
	/*
	 * Groups: 0.1 {n}, 0.4 {p, n, n}, 0.7 {p, p, n}, 0.9 {p}. Pairs: P=4, N=4, 16.
	 * p@0.4: 1 below + 2 tied/2 = 2; each p@0.7: 3 below + 1/2 = 3.5; p@0.9: 4.
	 * (2 + 7 + 4) / 16 = 13/16.
	 */
	const double	p6[] = { 0.7, 0.4, 0.1, 0.9, 0.4, 0.7, 0.4, 0.7 };
	const int	y6[] = { 1, 0, 0, 1, 1, 0, 0, 1 };
	struct ps_eval_result r;

	r = RUN_EVAL(p1, y1);
	CHECK(r.examples == 4);
	CHECK_NEAR(r.auc, 0.75, 1e-12);
	r = RUN_EVAL(p2, y2);
	CHECK_NEAR(r.auc, 1.0, 1e-12);
	r = RUN_EVAL(p2, y3);
	CHECK_NEAR(r.auc, 0.0, 1e-12);
	r = RUN_EVAL(p4, y4);
	CHECK_NEAR(r.auc, 0.875, 1e-12);
	r = RUN_EVAL(p5, y5);
	CHECK_NEAR(r.auc, 0.5, 1e-12);
	r = RUN_EVAL(p6, y6);
	CHECK_NEAR(r.auc, 13.0 / 16, 1e-12);
}

static void
test_auc_one_class(void)
{
	const double	p[] = { 0.1, 0.9, 0.4 };
	const int	pos[] = { 1, 1, 1 };
	const int	neg[] = { 0, 0, 0 };
	struct ps_eval_result r;

	r = RUN_EVAL(p, pos);
	CHECK(r.auc == 0.5);
	r = RUN_EVAL(p, neg);
	CHECK(r.auc == 0.5);
}

static void
test_auc_signs_and_zeros(void)
{
	/* Negative scores sort below positive ones; -0 ties with +0. */
	const double	p1[] = { -2.0, -0.5, 0.25, 3.0 };
	const int	y1[] = { 0, 0, 1, 1 };
	const double	p2[] = { -0.5, 0.25, -3.0, -2.0 };
	const int	y2[] = { 1, 0, 1, 0 };	/* pairs: -0.5>-2, -0.5<0.25, -3<both: 1/4 */
	const double	p3[] = { -0.0, 0.0 };
	const int	y3[] = { 1, 0 };
	const double	p4[] = { INFINITY, -INFINITY, 1e300, -1e300 };
	const int	y4[] = { 1, 0, 1, 0 };
	struct ps_eval_result r;

	r = RUN_EVAL(p1, y1);
	CHECK_NEAR(r.auc, 1.0, 1e-12);
	r = RUN_EVAL(p2, y2);
	CHECK_NEAR(r.auc, 0.25, 1e-12);
	r = RUN_EVAL(p3, y3);
	CHECK_NEAR(r.auc, 0.5, 1e-12);
	r = RUN_EVAL(p4, y4);
	CHECK_NEAR(r.auc, 1.0, 1e-12);
}

static void
test_labels_plus_minus(void)
{
	/* +1/-1 labels mean the same as 1/0. */
	const double	p[] = { 0.1, 0.4, 0.35, 0.8 };
	const int	y[] = { -1, -1, 1, 1 };
	struct ps_eval_result r;

	r = RUN_EVAL(p, y);
	CHECK_NEAR(r.auc, 0.75, 1e-12);
	CHECK_NEAR(r.accuracy, 0.75, 1e-12);	/* 0.35 for a positive is the miss */
}

static void
test_logloss_hand(void)
{
	const double	p1[] = { 0.8, 0.3 };
	const int	y1[] = { 1, 0 };
	/* Clipping: log(0) would be infinite. */
	const double	p2[] = { 0.0, 1.0, 1.0, 0.0 };
	const int	y2[] = { 1, 0, 1, 0 };
	const double	p3[] = { 0.5, 0.5 };
	const int	y3[] = { 1, 0 };
	struct ps_eval_result r;

	r = RUN_EVAL(p1, y1);
	/* (-ln 0.8 - ln 0.7) / 2 = (0.22314355131 + 0.35667494394) / 2 */
	CHECK_NEAR(r.logloss, 0.289909247625, 1e-9);
	r = RUN_EVAL(p2, y2);
	/* Two wrong at -ln(1e-15) = 34.5387763949 each, two right at ~1e-15; mean of 4. */
	CHECK_NEAR(r.logloss, 34.5387763949107 / 2, 1e-9);
	CHECK(isfinite(r.logloss));
	r = RUN_EVAL(p3, y3);
	CHECK_NEAR(r.logloss, 0.69314718056, 1e-9);
}

static void
test_accuracy(void)
{
	/* p >= 0.5 predicts 1: 0.5 is right for a positive and wrong for a negative. */
	const double	p[] = { 0.5, 0.5, 0.49, 0.49, 0.99, 0.01 };
	const int	y[] = { 1, 0, 0, 1, 1, 1 };
	struct ps_eval_result r;

	r = RUN_EVAL(p, y);
	/* right: 0.5/1, 0.49/0, 0.99/1 -> 3 of 6 */
	CHECK_NEAR(r.accuracy, 0.5, 1e-12);
	CHECK(r.examples == 6);
}

static void
test_nan(void)
{
	/* A NaN prediction counts as 0.5: no NaN in the results. */
	const double	p[] = { NAN, 0.9, 0.1 };
	const int	y[] = { 0, 1, 0 };
	struct ps_eval_result r;

	r = RUN_EVAL(p, y);
	CHECK(isfinite(r.logloss));
	CHECK_NEAR(r.logloss, (0.69314718056 - log(0.9) - log(0.9)) / 3, 1e-9);
	CHECK_NEAR(r.auc, 1.0, 1e-12);
	CHECK_NEAR(r.accuracy, 2.0 / 3, 1e-12);
}

/* Brute force over all pairs, for comparison on random data with many ties. */
static double
auc_pairs(const float *s, const int *y, size_t n)
{
	double	sum = 0, np = 0, nn = 0;
	size_t	i, j;

	for (i = 0; i < n; i++) {
		if (y[i])
			np++;
		else
			nn++;
	}
	for (i = 0; i < n; i++) {
		if (!y[i])
			continue;
		for (j = 0; j < n; j++) {
			if (y[j])
				continue;
			sum += s[i] > s[j] ? 1 : s[i] == s[j] ? 0.5 : 0;
		}
	}
	return sum / (np * nn);
}

static void
test_auc_random(void)
{
	enum { N = 3000 };
	struct ps_eval		ev;
	struct ps_eval_result	r;
	static float		s[N];
	static int		y[N];
	uint64_t		x = 12345;
	size_t			i;
	int			round;

	for (round = 0; round < 4; round++) {
		eval_init(&ev);
		for (i = 0; i < N; i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			y[i] = (x >> 33) % 3 == 0;
			/* Round 0: few distinct scores (many ties); later: finer. */
			s[i] = (float)((double)((x >> 40) % (round == 0 ? 7 : 100000)) /
			    (round == 0 ? 7 : 100000));
			if (y[i] && round < 3)
				s[i] = s[i] * 0.5f + 0.25f;	/* some signal */
			eval_add(&ev, s[i], y[i]);
		}
		eval_result(&ev, &r);
		CHECK_NEAR(r.auc, auc_pairs(s, y, N), 1e-12);
		/* A second call gives the same answer. */
		CHECK_NEAR(r.auc, (eval_result(&ev, &r), r.auc), 0);
		eval_free(&ev);
	}
}

static void
test_many(void)
{
	struct ps_eval		ev;
	struct ps_eval_result	r;
	size_t			i;

	/* Growth past the first allocation; alternating classes ranked perfectly. */
	eval_init(&ev);
	for (i = 0; i < 100000; i++)
		eval_add(&ev, (i & 1) ? 0.75 : 0.25, (int)(i & 1));
	eval_result(&ev, &r);
	CHECK(r.examples == 100000);
	CHECK_NEAR(r.auc, 1.0, 1e-12);
	CHECK_NEAR(r.accuracy, 1.0, 1e-12);
	CHECK_NEAR(r.logloss, -log(0.75), 1e-9);
	eval_free(&ev);
}

/* The streaming mode: the same logloss and accuracy, no scores kept, AUC NaN. */
static void
test_streaming(void)
{
	struct ps_eval full, st;
	struct ps_eval_result a, b;
	double p[] = { 0.9, 0.2, 0.6, 0.4, 1.0, 0.0 };
	int y[] = { 1, 0, 0, 1, 1, 0 };
	size_t i;

	eval_init(&full);
	eval_init_streaming(&st);
	for (i = 0; i < 6; i++) {
		eval_add(&full, p[i], y[i]);
		eval_add(&st, p[i], y[i]);
	}
	eval_result(&full, &a);
	eval_result(&st, &b);
	CHECK(b.examples == 6);
	CHECK_NEAR(b.logloss, a.logloss, 1e-12);
	CHECK_NEAR(b.accuracy, a.accuracy, 1e-12);
	CHECK(isnan(b.auc));
	CHECK(st.scores == NULL && st.labels == NULL);
	eval_free(&full);
	eval_free(&st);
}

static void
test_squared(void)
{
	/* Errors 1, -2, 0.5, 0: squares 1 + 4 + 0.25 + 0 = 5.25 over 4. */
	const double	pred[] = { 2.0, -1.0, 0.5, 3.25 };
	const double	y[] = { 1.0, 1.0, 0.0, 3.25 };
	struct ps_eval		ev, full;
	struct ps_eval_result	r;
	size_t			i;

	eval_init_streaming(&ev);
	eval_init(&full);
	for (i = 0; i < 4; i++) {
		eval_add_squared(&ev, pred[i], y[i]);
		eval_add_squared(&full, pred[i], y[i]);
	}
	eval_result(&ev, &r);
	CHECK(r.examples == 4);
	CHECK_NEAR(r.rmse, sqrt(5.25 / 4), 1e-12);
	/* the mean loss a progress line shows is the mean squared error */
	CHECK_NEAR(r.logloss, 5.25 / 4, 1e-12);
	CHECK(r.accuracy == 0);
	CHECK(ev.scores == NULL);
	/* not streaming: the pairs are kept, and the AUC reads only those */
	eval_result(&full, &r);
	CHECK(r.examples == 4);
	CHECK_NEAR(r.rmse, sqrt(5.25 / 4), 1e-12);
	CHECK(r.auc >= 0 && r.auc <= 1);
	eval_free(&full);
	eval_free(&ev);

	/* none: 0, and a classifier's figures leave rmse at 0 */
	eval_init_streaming(&ev);
	eval_result(&ev, &r);
	CHECK(r.rmse == 0 && r.examples == 0);
	eval_add(&ev, 0.8, 1);
	eval_result(&ev, &r);
	CHECK(r.rmse == 0);
	eval_free(&ev);

	/* a large error: summed in a double, no overflow */
	eval_init_streaming(&ev);
	eval_add_squared(&ev, 3e38, -3e38);
	eval_result(&ev, &r);
	CHECK(isfinite(r.rmse));
	CHECK_NEAR(r.rmse / 6e38, 1, 1e-12);
	eval_free(&ev);
}

int
main(void)
{
	RUN(test_empty);
	RUN(test_auc_hand);
	RUN(test_auc_one_class);
	RUN(test_auc_signs_and_zeros);
	RUN(test_labels_plus_minus);
	RUN(test_logloss_hand);
	RUN(test_accuracy);
	RUN(test_nan);
	RUN(test_auc_random);
	RUN(test_many);
	RUN(test_streaming);
	RUN(test_squared);
	return UNIT_DONE();
}
