/*
 * Optimizer maths against values worked out by hand: each expected number below is derived
 * in the comment next to it from the update rule, not by calling the code under test.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

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
	CHECK(optim_kind("adam", &kind) == 0 && kind == PS_OPTIM_ADAM);
	kind = PS_OPTIM_SUM;
	CHECK(optim_kind("Adam", &kind) == -1);
	CHECK(optim_kind("adamw", &kind) == -1);
	CHECK(optim_kind("", &kind) == -1);
	CHECK(optim_kind("FTRL", &kind) == -1);
	CHECK(optim_kind("sg", &kind) == -1);
	CHECK(kind == PS_OPTIM_SUM);		/* untouched on failure */

	CHECK_STR(optim_name(PS_OPTIM_SGD), "sgd");
	CHECK_STR(optim_name(PS_OPTIM_ADAGRAD), "adagrad");
	CHECK_STR(optim_name(PS_OPTIM_FTRL), "ftrl");
	CHECK_STR(optim_name(PS_OPTIM_SUM), "sum");
	CHECK_STR(optim_name(PS_OPTIM_ADAM), "adam");
	/* Numbers are kept in checkpoints: adam came last. */
	CHECK(PS_OPTIM_SGD == 0 && PS_OPTIM_ADAGRAD == 1 && PS_OPTIM_FTRL == 2 &&
	    PS_OPTIM_SUM == 3 && PS_OPTIM_ADAM == 4 && PS_OPTIM_LAST == PS_OPTIM_ADAM);

	memset(&o, 0, sizeof o);
	o.dim = 5;
	o.kind = PS_OPTIM_SUM;
	CHECK(optim_width(&o) == 5);
	o.kind = PS_OPTIM_SGD;
	CHECK(optim_width(&o) == 5);		/* schedule constant: w */
	o.schedule = PS_SCHEDULE_INV_SQRT;
	CHECK(optim_width(&o) == 10);		/* w t */
	o.kind = PS_OPTIM_SUM;
	CHECK(optim_width(&o) == 5);		/* the schedule is sgd's alone */
	o.kind = PS_OPTIM_ADAGRAD;
	CHECK(optim_width(&o) == 10);
	o.kind = PS_OPTIM_FTRL;
	CHECK(optim_width(&o) == 10);
	o.kind = PS_OPTIM_ADAM;
	CHECK(optim_width(&o) == 20);		/* w m v t */
	o.schedule = PS_SCHEDULE_CONSTANT;
	CHECK(optim_width(&o) == 20);
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

/* sgd with schedule inv_sqrt: the block is w, t; update t runs at lr / sqrt(1 + t). */
static void
test_sgd_inv_sqrt(void)
{
	struct ps_optim	o;
	float		s[2] = { 0, 0 }, w[1];
	float		g;

	memset(&o, 0, sizeof o);
	o.kind = PS_OPTIM_SGD;
	o.schedule = PS_SCHEDULE_INV_SQRT;
	o.dim = 1;
	o.lr = 0.1f;
	o.l2 = 0.5f;

	/* t = 0: rate 0.1 / sqrt(1) = 0.1; w = 0 - 0.1 * (1 + 0.5 * 0) = -0.1; t = 1 */
	g = 1;
	optim_push(&o, s, &g);
	CHECK_NEAR(s[0], -0.1, 1e-7);
	CHECK(s[1] == 1);
	/*
	 * t = 1: rate 0.1 / sqrt(2) = 0.0707107; g' = -2 + 0.5 * -0.1 = -2.05;
	 * w = -0.1 - 0.0707107 * -2.05 = -0.1 + 0.1449569 = 0.0449569; t = 2
	 */
	g = -2;
	optim_push(&o, s, &g);
	CHECK_NEAR(s[0], 0.0449569, 1e-7);
	CHECK(s[1] == 2);
	/*
	 * g = 0, decay only, t = 2: rate 0.1 / sqrt(3) = 0.0577350;
	 * g' = 0.5 * 0.0449569 = 0.0224784;
	 * w = 0.0449569 - 0.0577350 * 0.0224784 = 0.0449569 - 0.0012978 = 0.0436591; t = 3
	 */
	g = 0;
	optim_push(&o, s, &g);
	CHECK_NEAR(s[0], 0.0436591, 1e-7);
	CHECK(s[1] == 3);
	optim_pull(&o, s, w);
	CHECK(w[0] == s[0]);

	/* The count stops at 2^24, where a float's ones stop: the rate with it. */
	s[0] = 0;
	s[1] = 16777216.0f;
	g = 1;
	optim_push(&o, s, &g);
	CHECK(s[1] == 16777216.0f);
	/* w = -0.1 / sqrt(1 + 2^24) = -0.1 / 4096.0001221 = -2.4414062e-5 */
	CHECK_NEAR(s[0], -2.4414062e-5, 1e-12);

	/* Schedule constant, the same pushes: the old rule, and w alone. */
	o.schedule = PS_SCHEDULE_CONSTANT;
	s[0] = 0;
	s[1] = 7;			/* past the block: must stay */
	g = 1;
	optim_push(&o, s, &g);
	CHECK_NEAR(s[0], -0.1, 1e-7);
	CHECK(s[1] == 7);
}

/*
 * Adam with betas that are floats exactly (0.5, 0.75), so that each number below
 * can be worked out by hand: the block is w, m, v, t.
 */
static void
test_adam(void)
{
	struct ps_optim	o;
	float		s[4] = { 0, 0, 0, 0 }, w[1];
	float		g;

	memset(&o, 0, sizeof o);
	o.kind = PS_OPTIM_ADAM;
	o.dim = 1;
	o.lr = 0.1f;
	o.beta1 = 0.5f;
	o.beta2 = 0.75f;
	o.eps = 0.5f;

	/*
	 * g = 1: t = 1; m = 0.5 * 0 + 0.5 * 1 = 0.5; v = 0.75 * 0 + 0.25 * 1 = 0.25;
	 * m^ = 0.5 / (1 - 0.5) = 1; v^ = 0.25 / (1 - 0.75) = 1;
	 * w = 0 - 0.1 * 1 / (sqrt(1) + 0.5) = -0.1 / 1.5 = -0.0666667
	 */
	g = 1;
	optim_push(&o, s, &g);
	CHECK_NEAR(s[0], -0.0666667, 1e-7);
	CHECK(s[1] == 0.5f);
	CHECK(s[2] == 0.25f);
	CHECK(s[3] == 1);
	/*
	 * g = -2: t = 2; m = 0.5 * 0.5 + 0.5 * -2 = 0.25 - 1 = -0.75;
	 * v = 0.75 * 0.25 + 0.25 * 4 = 0.1875 + 1 = 1.1875;
	 * m^ = -0.75 / (1 - 0.25) = -1; v^ = 1.1875 / (1 - 0.5625) = 1.1875 / 0.4375 = 2.7142857;
	 * sqrt(v^) = 1.6475089;
	 * w = -0.0666667 - 0.1 * -1 / (1.6475089 + 0.5) = -0.0666667 + 0.1 / 2.1475089
	 *   = -0.0666667 + 0.0465656 = -0.0201011
	 */
	g = -2;
	optim_push(&o, s, &g);
	CHECK_NEAR(s[0], -0.0201011, 1e-7);
	CHECK(s[1] == -0.75f);
	CHECK(s[2] == 1.1875f);
	CHECK(s[3] == 2);
	optim_pull(&o, s, w);
	CHECK(w[0] == s[0]);

	/*
	 * Weight decay, l2 = 0.5, on a new coordinate at w = 0.2 and g = 0:
	 * g' = 0 + 0.5 * 0.2 = 0.1; t = 1; m = 0.5 * 0.1 = 0.05; v = 0.25 * 0.01 = 0.0025;
	 * m^ = 0.05 / 0.5 = 0.1; v^ = 0.0025 / 0.25 = 0.01; sqrt(v^) = 0.1;
	 * w = 0.2 - 0.1 * 0.1 / (0.1 + 0.5) = 0.2 - 0.0166667 = 0.1833333
	 */
	o.l2 = 0.5f;
	s[0] = 0.2f;
	s[1] = s[2] = s[3] = 0;
	g = 0;
	optim_push(&o, s, &g);
	CHECK_NEAR(s[0], 0.1833333, 1e-7);
	CHECK_NEAR(s[1], 0.05, 1e-8);
	CHECK_NEAR(s[2], 0.0025, 1e-9);

	/*
	 * The usual betas 0.9, 0.999 and eps 1e-8: the bias correction makes the first
	 * step lr g / (|g| + eps), about lr whatever the size of g:
	 * g = 1e-3: w = -0.1 * 1e-3 / (1e-3 + 1e-8) = -0.1 / 1.00001 = -0.0999990
	 */
	o.l2 = 0;
	o.beta1 = 0.9f;
	o.beta2 = 0.999f;
	o.eps = 1e-8f;
	memset(s, 0, sizeof s);
	g = 1e-3f;
	optim_push(&o, s, &g);
	CHECK_NEAR(s[0], -0.0999990, 1e-7);
	CHECK(s[3] == 1);

	/* beta1 = beta2 = 1 and eps = 0: m and v never leave 0, so the corrections
	 * (1 - 1^t = 0) are left out and the step (0 / 0) is not taken: no NaN. */
	o.beta1 = 1;
	o.beta2 = 1;
	o.eps = 0;
	memset(s, 0, sizeof s);
	g = 1;
	optim_push(&o, s, &g);
	optim_push(&o, s, &g);
	CHECK(s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 2);

	/* beta1 = 0.5, beta2 = 1, eps = 0: v stays 0 while m moves, 1 / 0 is no step. */
	o.beta1 = 0.5f;
	memset(s, 0, sizeof s);
	optim_push(&o, s, &g);
	CHECK(s[0] == 0 && s[1] == 0.5f && s[2] == 0 && s[3] == 1);
}

/* dim 2 adam: the block is [w0 w1][m0 m1][v0 v1][t0 t1], coordinates independent. */
static void
test_adam_layout(void)
{
	struct ps_optim	o;
	float		s[9];
	const float	g[2] = { 1, -2 };

	memset(&o, 0, sizeof o);
	o.kind = PS_OPTIM_ADAM;
	o.dim = 2;
	o.lr = 0.1f;
	o.beta1 = 0.5f;
	o.beta2 = 0.75f;
	o.eps = 0.5f;
	memset(s, 0, sizeof s);
	s[8] = 7;			/* past the block: must stay */

	/*
	 * First step: m^ = g, v^ = g^2, so w = -0.1 g / (|g| + 0.5):
	 * w0 = -0.1 / 1.5 = -0.0666667, w1 = 0.2 / 2.5 = 0.08;
	 * m = 0.5 g = {0.5, -1}; v = 0.25 g^2 = {0.25, 1}; t = {1, 1}
	 */
	optim_push(&o, s, g);
	CHECK_NEAR(s[0], -0.0666667, 1e-7);
	CHECK_NEAR(s[1], 0.08, 1e-7);
	CHECK(s[2] == 0.5f && s[3] == -1);
	CHECK(s[4] == 0.25f && s[5] == 1);
	CHECK(s[6] == 1 && s[7] == 1);
	CHECK(s[8] == 7);
}

/*
 * A factorization machine's initial factor i of key, worked out from the rule
 * optim.h states, not from the code under test: XXH3-64 with the seed of the key and
 * i, 8 bytes each least significant first; the top 53 bits as u in [0, 1);
 * init_scale (2u - 1).
 */
static float
draw(uint64_t key, uint32_t i, uint32_t seed, float scale)
{
	unsigned char	b[16];
	uint64_t	h;
	int		j;

	for (j = 0; j < 8; j++) {
		b[j] = (unsigned char)(key >> (8 * j));
		b[8 + j] = (unsigned char)((uint64_t)i >> (8 * j));
	}
	h = XXH3_64bits_withSeed(b, 16, seed);
	return (float)(scale * (2 * ((double)(h >> 11) / 9007199254740992.0) - 1));
}

static void
test_init_zero(void)
{
	static const enum ps_optim_kind kinds[] = { PS_OPTIM_SUM, PS_OPTIM_SGD,
	    PS_OPTIM_ADAGRAD, PS_OPTIM_FTRL, PS_OPTIM_ADAM };
	struct ps_optim	o;
	float		s[21], w[5];
	size_t		k, j;
	int		zero;

	/* factors = 0: every state all zeros, as before factors existed, dim 5 or 1. */
	for (k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		memset(&o, 0, sizeof o);
		o.kind = kinds[k];
		o.dim = 5;
		o.schedule = PS_SCHEDULE_INV_SQRT;
		o.alpha = 0.1f;
		o.beta = 1;
		o.l1 = 1;
		o.l2 = 1;
		o.init_scale = 0.5f;
		o.seed = 7;
		for (j = 0; j < 21; j++)
			s[j] = 9;
		optim_init(&o, 42, s);
		zero = 1;
		for (j = 0; j < optim_width(&o); j++)
			zero &= s[j] == 0;
		CHECK(zero);
		CHECK(s[optim_width(&o)] == 9);		/* past the block: must stay */
		for (j = 0; j < 5; j++)
			w[j] = 9;
		optim_init_pull(&o, 42, w);
		CHECK(w[0] == 0 && w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0);
	}

	/* sum adds gradients up: its keys start at zero, factors or not. */
	o.kind = PS_OPTIM_SUM;
	o.factors = 4;
	for (j = 0; j < 5; j++)
		s[j] = w[j] = 9;
	optim_init(&o, 42, s);
	optim_init_pull(&o, 42, w);
	CHECK(s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0);
	CHECK(w[0] == 0 && w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0);
}

/* factors = 4, dim 5: w[0] = 0, w[1..4] the draws, the rest of the state zero. */
static void
test_init_factors(void)
{
	struct ps_optim	o;
	float		s[20], s2[20], w[5], w2[5], d[5];
	float		lo = 0, hi = 0;
	double		sum = 0;
	uint64_t	key;
	uint32_t	i;
	int		inrange = 1, same = 1, differ = 0, seeded = 0, all = 1;

	memset(&o, 0, sizeof o);
	o.kind = PS_OPTIM_SGD;
	o.dim = 5;
	o.factors = 4;
	o.init_scale = 0.01f;
	o.seed = 1;

	/* The rule, worked out apart, for key 42 and seed 1. */
	optim_init(&o, 42, s);
	CHECK(s[0] == 0);
	for (i = 1; i < 5; i++) {
		d[i] = draw(42, i, 1, 0.01f);
		CHECK(s[i] == d[i]);
	}
	/* Pinned, so that a change of the rule (which every server, backup and restore
	 * must agree on) is seen: factor 1 of key 42, seed 1. */
	CHECK(s[1] == 0.00897405203f);

	/* The same key, the same numbers; another key or seed, others. */
	optim_init(&o, 42, s2);
	for (i = 0; i < 5; i++)
		same &= s2[i] == s[i];
	CHECK(same);
	optim_init(&o, 43, s2);
	for (i = 1; i < 5; i++)
		differ |= s2[i] != s[i];
	CHECK(differ);
	o.seed = 2;
	optim_init(&o, 42, s2);
	for (i = 1; i < 5; i++)
		seeded |= s2[i] != s[i];
	CHECK(seeded);
	o.seed = 1;
	/* ... and the factors of a key differ from each other. */
	CHECK(s[1] != s[2] && s[2] != s[3] && s[3] != s[4]);

	/*
	 * 4000 draws: all in [-0.01, 0.01], spread over it (a uniform draw misses the
	 * outer 5% on one side 4000 times with probability 0.95^4000, about 1e-89), mean
	 * near 0 (its standard deviation is 0.01 / sqrt(3 * 4000) = 9e-5).
	 */
	for (key = 1; key <= 1000; key++) {
		optim_init(&o, key * 0x9e3779b97f4a7c15ULL, s2);
		for (i = 1; i < 5; i++) {
			inrange &= s2[i] >= -0.01f && s2[i] <= 0.01f;
			lo = s2[i] < lo ? s2[i] : lo;
			hi = s2[i] > hi ? s2[i] : hi;
			sum += s2[i];
		}
		inrange &= s2[0] == 0;
	}
	CHECK(inrange);
	CHECK(lo < -0.0095f && hi > 0.0095f);
	CHECK(fabs(sum / 4000) < 5e-4);

	/*
	 * sgd (both schedules), adagrad, adam: w is the first group, so the state is
	 * the draws then zeros, and a pull gives the draws; so does optim_init_pull.
	 */
	for (i = 0; i < 4; i++) {
		static const enum ps_optim_kind kinds[] = { PS_OPTIM_SGD, PS_OPTIM_SGD,
		    PS_OPTIM_ADAGRAD, PS_OPTIM_ADAM };
		uint32_t j;

		o.kind = kinds[i];
		o.schedule = i == 1 ? PS_SCHEDULE_INV_SQRT : PS_SCHEDULE_CONSTANT;
		for (j = 0; j < 20; j++)
			s2[j] = 9;
		optim_init(&o, 42, s2);
		optim_pull(&o, s2, w);
		optim_init_pull(&o, 42, w2);
		CHECK(w[0] == 0 && w2[0] == 0);
		for (j = 1; j < 5; j++)
			all &= w[j] == d[j] && w2[j] == d[j];
		for (j = 5; j < optim_width(&o); j++)
			all &= s2[j] == 0;
	}
	CHECK(all);
}

/*
 * FTRL's initial factors: z solved from the wanted w with n = 0. For w != 0,
 * w = -(z - sgn(z) l1) alpha / (beta + alpha l2) with sgn(z) = -sgn(w), so
 * z = -w (beta + alpha l2) / alpha - sgn(w) l1.
 */
static void
test_init_ftrl(void)
{
	struct ps_optim	o;
	float		s[10], w[5], w2[5], d;
	uint32_t	i;
	int		same = 1;

	memset(&o, 0, sizeof o);
	o.kind = PS_OPTIM_FTRL;
	o.dim = 5;
	o.factors = 4;
	o.init_scale = 0.01f;
	o.seed = 1;
	o.alpha = 0.1f;
	o.beta = 1;
	o.l1 = 1;
	o.l2 = 1;

	/*
	 * alpha 0.1, beta 1, l1 1, l2 1: z = -w (1 + 0.1) / 0.1 - sgn(w) = -11 w - sgn(w),
	 * so |z| > l1 for any w != 0 and w comes back; n = 0.
	 */
	optim_init(&o, 42, s);
	CHECK(s[0] == 0 && s[5] == 0);
	for (i = 1; i < 5; i++) {
		d = draw(42, i, 1, 0.01f);
		CHECK_NEAR(s[i], -11.0 * d - (d < 0 ? -1 : 1), 1e-6);
		CHECK(s[5 + i] == 0);
	}
	/*
	 * The pull gives the draws back, up to z's rounding to a float (|z| about 1, its
	 * ulp 1.2e-7, times dw/dz = alpha / (beta + alpha l2) = 1 / 11: 1e-8); the pull of
	 * a key that does not exist gives the same floats as the pull of its init state.
	 */
	optim_pull(&o, s, w);
	optim_init_pull(&o, 42, w2);
	CHECK(w[0] == 0);
	for (i = 1; i < 5; i++) {
		CHECK_NEAR(w[i], draw(42, i, 1, 0.01f), 1e-8);
		same &= w[i] == w2[i];
	}
	CHECK(same && w2[0] == 0);

	/* l1 = 0, l2 = 0.5, alpha 0.5, beta 2: z = -w (2 + 0.25) / 0.5 = -4.5 w. */
	o.l1 = 0;
	o.l2 = 0.5f;
	o.alpha = 0.5f;
	o.beta = 2;
	optim_init(&o, 42, s);
	optim_pull(&o, s, w);
	optim_init_pull(&o, 42, w2);
	same = 1;
	for (i = 1; i < 5; i++) {
		d = draw(42, i, 1, 0.01f);
		CHECK_NEAR(s[i], -4.5 * d, 1e-9);
		CHECK_NEAR(w[i], d, 1e-9);
		same &= w[i] == w2[i];
	}
	CHECK(same);

	/* A first push from the init state: z, n move from there as from any state.
	 * g = 0 leaves z (sigma = 0) and n; the weights stay the draws. */
	memset(w2, 0, sizeof w2);
	optim_push(&o, s, w2);
	optim_pull(&o, s, w2);
	for (i = 1; i < 5; i++)
		CHECK_NEAR(w2[i], w[i], 1e-12);
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
	    PS_OPTIM_ADAGRAD, PS_OPTIM_FTRL, PS_OPTIM_ADAM, PS_OPTIM_SGD };
	struct ps_optim	o;
	float		s[8], w[2], g[2];
	size_t		k, i, j;
	int		finite;

	for (k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
		memset(&o, 0, sizeof o);
		o.kind = kinds[k];
		o.schedule = k == 5 ? PS_SCHEDULE_INV_SQRT : PS_SCHEDULE_CONSTANT;
		o.beta1 = 0.9f;
		o.beta2 = 0.999f;
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
	RUN(test_sgd_inv_sqrt);
	RUN(test_adam);
	RUN(test_adam_layout);
	RUN(test_init_zero);
	RUN(test_init_factors);
	RUN(test_init_ftrl);
	RUN(test_adagrad);
	RUN(test_ftrl);
	RUN(test_layout);
	RUN(test_l1);
	RUN(test_huge_gradients);
	return UNIT_DONE();
}
