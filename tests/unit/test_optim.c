/*
 * Optimizer maths against values worked out by hand: each expected number below is derived
 * in the comment next to it from the update rule, not by calling the code under test.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ps/optim.h"
#include "unit.h"

static void
test_names(void)
{
	enum ps_optim_kind	kind;
	struct ps_optim		o;

	CHECK(optim_kind("sgd", &kind) == 0 && kind == PS_OPTIM_SGD);
	CHECK(optim_kind("adagrad", &kind) == 0 && kind == PS_OPTIM_ADAGRAD);
	CHECK(optim_kind("ftrl", &kind) == 0 && kind == PS_OPTIM_FTRL);
	CHECK(optim_kind("sum", &kind) == 0 && kind == PS_OPTIM_SUM);
	kind = PS_OPTIM_SUM;
	CHECK(optim_kind("adam", &kind) == -1);
	CHECK(optim_kind("", &kind) == -1);
	CHECK(optim_kind("FTRL", &kind) == -1);
	CHECK(optim_kind("sg", &kind) == -1);
	CHECK(kind == PS_OPTIM_SUM);		/* untouched on failure */

	CHECK_STR(optim_name(PS_OPTIM_SGD), "sgd");
	CHECK_STR(optim_name(PS_OPTIM_ADAGRAD), "adagrad");
	CHECK_STR(optim_name(PS_OPTIM_FTRL), "ftrl");
	CHECK_STR(optim_name(PS_OPTIM_SUM), "sum");

	memset(&o, 0, sizeof o);
	o.dim = 5;
	o.kind = PS_OPTIM_SUM;
	CHECK(optim_width(&o) == 5);
	o.kind = PS_OPTIM_SGD;
	CHECK(optim_width(&o) == 5);
	o.kind = PS_OPTIM_ADAGRAD;
	CHECK(optim_width(&o) == 10);
	o.kind = PS_OPTIM_FTRL;
	CHECK(optim_width(&o) == 10);
}

static void
test_sum(void)
{
	struct ps_optim	o;
	float		s[3] = { 0, 0, 0 }, w[3];
	const float	g[3] = { 1.0f, 0.25f, -0.5f };
	int		i;

	memset(&o, 0, sizeof o);
	o.kind = PS_OPTIM_SUM;
	o.dim = 3;
	o.lr = 0.5f;		/* sum ignores every hyperparameter */
	o.l2 = 1.0f;

	/* 100000 pushes of {1, 1/4, -1/2}: every partial sum is a float exactly. */
	for (i = 0; i < 100000; i++)
		optim_push(&o, s, g);
	CHECK(s[0] == 100000.0f);
	CHECK(s[1] == 25000.0f);
	CHECK(s[2] == -50000.0f);
	optim_pull(&o, s, w);
	CHECK(w[0] == 100000.0f && w[1] == 25000.0f && w[2] == -50000.0f);

	/* Counting up to 2^24 by ones loses nothing. */
	s[0] = 16777215.0f;
	optim_push(&o, s, g);
	CHECK(s[0] == 16777216.0f);
}

static void
test_sgd(void)
{
	struct ps_optim	o;
	float		s[1] = { 0 }, w[1];
	float		g;

	memset(&o, 0, sizeof o);
	o.kind = PS_OPTIM_SGD;
	o.dim = 1;
	o.lr = 0.1f;
	o.l2 = 0.5f;

	/* w = 0 - 0.1 * (1 + 0.5 * 0) = -0.1 */
	g = 1;
	optim_push(&o, s, &g);
	CHECK_NEAR(s[0], -0.1, 1e-7);
	/* w = -0.1 - 0.1 * (-2 + 0.5 * -0.1) = -0.1 - 0.1 * -2.05 = -0.1 + 0.205 = 0.105 */
	g = -2;
	optim_push(&o, s, &g);
	CHECK_NEAR(s[0], 0.105, 1e-7);
	/* g = 0, decay only: w = 0.105 - 0.1 * 0.5 * 0.105 = 0.105 - 0.00525 = 0.09975 */
	g = 0;
	optim_push(&o, s, &g);
	CHECK_NEAR(s[0], 0.09975, 1e-7);
	optim_pull(&o, s, w);
	CHECK(w[0] == s[0]);
}

static void
test_adagrad(void)
{
	struct ps_optim	o;
	float		s[2] = { 0, 0 }, w[1];
	float		g;

	memset(&o, 0, sizeof o);
	o.kind = PS_OPTIM_ADAGRAD;
	o.dim = 1;
	o.lr = 0.1f;
	o.eps = 0.5f;
	o.l2 = 0.1f;

	/*
	 * g = 1: g' = 1 + 0.1 * 0 = 1; g2 = 0 + 1 = 1;
	 * w = 0 - 0.1 * 1 / (sqrt(1) + 0.5) = -0.1 / 1.5 = -0.0666667
	 */
	g = 1;
	optim_push(&o, s, &g);
	CHECK_NEAR(s[0], -0.0666667, 1e-6);
	CHECK_NEAR(s[1], 1.0, 1e-7);
	/*
	 * g = 2: g' = 2 + 0.1 * -0.0666667 = 1.9933333;
	 * g2 = 1 + 1.9933333^2 = 1 + 3.9733778 = 4.9733778; sqrt(g2) = 2.2301071;
	 * w = -0.0666667 - 0.1 * 1.9933333 / 2.7301071 = -0.0666667 - 0.0730130 = -0.1396797
	 */
	g = 2;
	optim_push(&o, s, &g);
	CHECK_NEAR(s[0], -0.1396797, 1e-6);
	CHECK_NEAR(s[1], 4.9733778, 1e-6);
	/*
	 * g = -1: g' = -1 + 0.1 * -0.1396797 = -1.0139680;
	 * g2 = 4.9733778 + 1.0281311 = 6.0015089; sqrt(g2) = 2.4497977;
	 * w = -0.1396797 - 0.1 * -1.0139680 / 2.9497977 = -0.1396797 + 0.0343742 = -0.1053055
	 */
	g = -1;
	optim_push(&o, s, &g);
	CHECK_NEAR(s[0], -0.1053055, 1e-6);
	CHECK_NEAR(s[1], 6.0015089, 1e-5);
	optim_pull(&o, s, w);
	CHECK(w[0] == s[0]);

	/* eps = 0 and a zero gradient on a new key: no step, and no 0/0. */
	o.eps = 0;
	s[0] = s[1] = 0;
	g = 0;
	optim_push(&o, s, &g);
	CHECK(s[0] == 0 && s[1] == 0);
}

static void
test_ftrl(void)
{
	struct ps_optim	o;
	float		s[2] = { 0, 0 }, w[1];
	float		g;

	memset(&o, 0, sizeof o);
	o.kind = PS_OPTIM_FTRL;
	o.dim = 1;
	o.alpha = 0.1f;
	o.beta = 1.0f;
	o.l1 = 1.0f;
	o.l2 = 1.0f;

	/* New key: z = n = 0, so w = 0. */
	optim_pull(&o, s, w);
	CHECK(w[0] == 0);

	/*
	 * g = 0.5: w_old = 0 (|z| = 0 <= l1);
	 * sigma = (sqrt(0 + 0.25) - sqrt(0)) / 0.1 = 0.5 / 0.1 = 5;
	 * z = 0 + 0.5 - 5 * 0 = 0.5; n = 0.25;
	 * w = 0 since |0.5| <= 1.
	 */
	g = 0.5f;
	optim_push(&o, s, &g);
	CHECK_NEAR(s[0], 0.5, 1e-7);
	CHECK_NEAR(s[1], 0.25, 1e-7);
	optim_pull(&o, s, w);
	CHECK(w[0] == 0);

	/*
	 * g = -2: w_old = 0;
	 * sigma = (sqrt(0.25 + 4) - sqrt(0.25)) / 0.1 = (2.0615528 - 0.5) / 0.1 = 15.615528;
	 * z = 0.5 - 2 - 15.615528 * 0 = -1.5; n = 4.25;
	 * w = -(-1.5 - (-1) * 1) / ((1 + sqrt(4.25)) / 0.1 + 1)
	 *   = 0.5 / (3.0615528 / 0.1 + 1) = 0.5 / 31.615528 = 0.0158150
	 */
	g = -2;
	optim_push(&o, s, &g);
	CHECK_NEAR(s[0], -1.5, 1e-6);
	CHECK_NEAR(s[1], 4.25, 1e-6);
	optim_pull(&o, s, w);
	CHECK_NEAR(w[0], 0.0158150, 1e-7);

	/*
	 * g = -3: w_old = 0.0158150 (now nonzero, so sigma * w counts);
	 * sigma = (sqrt(4.25 + 9) - sqrt(4.25)) / 0.1 = (3.6400549 - 2.0615528) / 0.1 = 15.785021;
	 * z = -1.5 - 3 - 15.785021 * 0.0158150 = -4.5 - 0.2496403 = -4.7496403; n = 13.25;
	 * w = -(-4.7496403 + 1) / ((1 + 3.6400549) / 0.1 + 1) = 3.7496403 / 47.400549 = 0.0791054
	 */
	g = -3;
	optim_push(&o, s, &g);
	CHECK_NEAR(s[0], -4.7496403, 2e-6);
	CHECK_NEAR(s[1], 13.25, 1e-6);
	optim_pull(&o, s, w);
	CHECK_NEAR(w[0], 0.0791054, 1e-7);

	/*
	 * g = 4: w_old = 0.0791054;
	 * sigma = (sqrt(13.25 + 16) - sqrt(13.25)) / 0.1 = (5.4083269 - 3.6400549) / 0.1 = 17.682720;
	 * z = -4.7496403 + 4 - 17.682720 * 0.0791054 = -0.7496403 - 1.3987990 = -2.1484393;
	 * n = 29.25;
	 * w = -(-2.1484393 + 1) / ((1 + 5.4083269) / 0.1 + 1) = 1.1484393 / 65.083269 = 0.0176457
	 */
	g = 4;
	optim_push(&o, s, &g);
	CHECK_NEAR(s[0], -2.1484393, 2e-6);
	CHECK_NEAR(s[1], 29.25, 1e-6);
	optim_pull(&o, s, w);
	CHECK_NEAR(w[0], 0.0176457, 1e-7);

	/* g = 0: sigma = (sqrt(29.25) - sqrt(29.25)) / 0.1 = 0, so z and n stay. */
	g = 0;
	optim_push(&o, s, &g);
	CHECK_NEAR(s[0], -2.1484393, 2e-6);
	CHECK(s[1] == 29.25f);

	/* A zero gradient on a new key: sigma = 0 / 0.1 = 0, no NaN. */
	s[0] = s[1] = 0;
	optim_push(&o, s, &g);
	CHECK(s[0] == 0 && s[1] == 0);
}

/* dim = 2: the block is [state A of coords 0,1][state B of coords 0,1], coords independent. */
static void
test_layout(void)
{
	struct ps_optim	o;
	float		s[4], w[2];
	const float	g[2] = { 0.5f, -2 };

	memset(&o, 0, sizeof o);
	o.dim = 2;

	/*
	 * ftrl alpha 0.1 beta 1 l1 1 l2 1, new key, g = {0.5, -2}:
	 * z = g - sigma * 0 = {0.5, -2}; n = g^2 = {0.25, 4};
	 * w0 = 0 (|0.5| <= 1); w1 = -(-2 + 1) / ((1 + 2) / 0.1 + 1) = 1 / 31 = 0.0322581
	 */
	o.kind = PS_OPTIM_FTRL;
	o.alpha = 0.1f;
	o.beta = 1;
	o.l1 = 1;
	o.l2 = 1;
	memset(s, 0, sizeof s);
	optim_push(&o, s, g);
	CHECK_NEAR(s[0], 0.5, 1e-7);
	CHECK_NEAR(s[1], -2, 1e-7);
	CHECK_NEAR(s[2], 0.25, 1e-7);
	CHECK_NEAR(s[3], 4, 1e-7);
	optim_pull(&o, s, w);
	CHECK(w[0] == 0);
	CHECK_NEAR(w[1], 0.0322581, 1e-7);

	/*
	 * adagrad lr 0.1 eps 0.5 l2 0, new key, g = {0.5, -2}:
	 * g2 = {0.25, 4}; w = {-0.1 * 0.5 / (0.5 + 0.5), -0.1 * -2 / (2 + 0.5)} = {-0.05, 0.08}
	 */
	memset(&o, 0, sizeof o);
	o.dim = 2;
	o.kind = PS_OPTIM_ADAGRAD;
	o.lr = 0.1f;
	o.eps = 0.5f;
	memset(s, 0, sizeof s);
	optim_push(&o, s, g);
	CHECK_NEAR(s[0], -0.05, 1e-7);
	CHECK_NEAR(s[1], 0.08, 1e-7);
	CHECK_NEAR(s[2], 0.25, 1e-7);
	CHECK_NEAR(s[3], 4, 1e-7);
	optim_pull(&o, s, w);
	CHECK(w[0] == s[0] && w[1] == s[1]);

	/* sgd lr 0.1 l2 0: w = -0.1 * g = {-0.05, 0.2}; the block is w alone. */
	memset(&o, 0, sizeof o);
	o.dim = 2;
	o.kind = PS_OPTIM_SGD;
	o.lr = 0.1f;
	s[0] = s[1] = 0;
	s[2] = s[3] = 7;		/* past the block: must stay */
	optim_push(&o, s, g);
	CHECK_NEAR(s[0], -0.05, 1e-7);
	CHECK_NEAR(s[1], 0.2, 1e-7);
	CHECK(s[2] == 7 && s[3] == 7);
}

/* FTRL's L1 makes w exactly 0 when |z| <= l1, and only then. */
static void
test_l1(void)
{
	struct ps_optim	o;
	float		zs[] = { -3, -1.5f, 0, 0, 0.5f, -0.5f, 1, -1, 0, 0, 1.5f, 3 };
	float		s[2], w[1];
	size_t		i, nz = sizeof zs / sizeof zs[0];

	memset(&o, 0, sizeof o);
	o.kind = PS_OPTIM_FTRL;
	o.dim = 1;
	o.alpha = 0.1f;
	o.beta = 1;
	o.l1 = 1;
	o.l2 = 1;
	/* The floats either side of l1. */
	zs[2] = nextafterf(1, 2);
	zs[3] = nextafterf(-1, -2);
	zs[8] = nextafterf(1, 0);
	zs[9] = nextafterf(-1, 0);

	for (i = 0; i < nz; i++) {
		s[0] = zs[i];
		s[1] = 4;
		optim_pull(&o, s, w);
		if (fabsf(zs[i]) <= 1)
			CHECK(w[0] == 0);
		else {
			CHECK(w[0] != 0);
			CHECK((zs[i] < 0) == (w[0] > 0));	/* w has the sign of -z */
		}
	}

	/* z = -3, n = 4: w = -(-3 + 1) / ((1 + 2) / 0.1 + 1) = 2 / 31 = 0.0645161 */
	s[0] = -3;
	s[1] = 4;
	optim_pull(&o, s, w);
	CHECK_NEAR(w[0], 0.0645161, 1e-7);
	/* z = 3: the mirror image, -0.0645161 */
	s[0] = 3;
	optim_pull(&o, s, w);
	CHECK_NEAR(w[0], -0.0645161, 1e-7);

	/* l1 = 0: no sparsity; z = 0.5, n = 4: w = -0.5 / 31 = -0.0161290 */
	o.l1 = 0;
	s[0] = 0.5f;
	optim_pull(&o, s, w);
	CHECK_NEAR(w[0], -0.0161290, 1e-7);
	s[0] = 0;
	optim_pull(&o, s, w);
	CHECK(w[0] == 0);
}

/*
 * Finite gradients as large as a float holds (3e38), pushed again and again, in both
 * directions: every optimizer's state saturates at +-FLT_MAX, and every weight pulled
 * stays finite (the issue: FTRL's n reached infinity and every weight became NaN).
 */
static void
test_huge_gradients(void)
{
	static const enum ps_optim_kind kinds[] = { PS_OPTIM_SUM, PS_OPTIM_SGD,
	    PS_OPTIM_ADAGRAD, PS_OPTIM_FTRL };
	struct ps_optim	o;
	float		s[4], w[2], g[2];
	size_t		k, i, j;
	int		finite;

	for (k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		memset(&o, 0, sizeof o);
		o.kind = kinds[k];
		o.dim = 2;
		o.lr = 1e30f;	/* a rate nobody should use */
		o.eps = 1e-6f;
		o.alpha = 1e30f;
		o.beta = 0;
		o.l1 = 0;
		o.l2 = 1.0f;
		memset(s, 0, sizeof s);
		finite = 1;
		for (i = 0; i < 20; i++) {
			g[0] = 3e38f;
			g[1] = (i % 3) ? -3e38f : 3e38f;
			optim_push(&o, s, g);
			optim_pull(&o, s, w);
			for (j = 0; j < optim_width(&o); j++)
				finite &= isfinite(s[j]) != 0;
			finite &= isfinite(w[0]) && isfinite(w[1]);
		}
		CHECK(finite);
	}
	/* sum saturates, and is exact below that */
	o.kind = PS_OPTIM_SUM;
	o.dim = 1;
	s[0] = 3e38f;
	g[0] = 3e38f;
	optim_push(&o, s, g);
	CHECK(s[0] == FLT_MAX);
	s[0] = 1.5f;
	g[0] = 2.25f;
	optim_push(&o, s, g);
	CHECK(s[0] == 3.75f);
}

int
main(void)
{
	RUN(test_names);
	RUN(test_sum);
	RUN(test_sgd);
	RUN(test_adagrad);
	RUN(test_ftrl);
	RUN(test_layout);
	RUN(test_l1);
	RUN(test_huge_gradients);
	return UNIT_DONE();
}
