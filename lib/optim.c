/*
 * Server-side optimizers: one key's update on its block of floats (layout in optim.h).
 *
 * State is stored as float to keep memory per key small; the arithmetic of one update is
 * done in double and rounded once when stored. The cost is a few cycles per coordinate,
 * far below the cache miss that fetched the block.
 */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ps/optim.h"

static const struct {
	const char		*name;
	enum ps_optim_kind	 kind;
} optim_names[] = {
	{ "sgd",	PS_OPTIM_SGD },
	{ "adagrad",	PS_OPTIM_ADAGRAD },
	{ "ftrl",	PS_OPTIM_FTRL },
	{ "sum",	PS_OPTIM_SUM },
	{ "adam",	PS_OPTIM_ADAM },
};

int
optim_kind(const char *name, enum ps_optim_kind *kind)
{
	size_t	i;

	for (i = 0; i < sizeof optim_names / sizeof optim_names[0]; i++) {
		if (strcmp(name, optim_names[i].name) == 0) {
			*kind = optim_names[i].kind;
			return 0;
		}
	}
	return -1;
}

const char *
optim_name(enum ps_optim_kind kind)
{
	size_t	i;

	for (i = 0; i < sizeof optim_names / sizeof optim_names[0]; i++) {
		if (optim_names[i].kind == kind)
			return optim_names[i].name;
	}
	return "unknown";
}

/*
 * Defaults that train a sparse logistic regression without diverging: ftrl keeps
 * its L1 and L2 (sparse weights); the others start with no weight decay, since an
 * L2 of 1 next to a learning rate of 0.1 or more shrinks every weight each step.
 * The rates were measured on SpamAssassin (make data; 2 servers, 2 workers, one
 * pass, batches of 100, whose gradients are summed, not averaged): sgd (inv_sqrt)
 * at 0.1 took steps so large that its running logloss was above log 2 (0.75, up
 * to 1.6), at 0.02 it is 0.39 and the test logloss 0.048 (accuracy 0.970 to 0.987
 * over runs: asynchronous sgd's spread); adagrad 0.1 (0.995 to 0.997) and adam
 * 0.01 (0.989 to 0.993) had the lowest test logloss of 0.03, 0.1, 0.3 and 0.003,
 * 0.01, 0.03, 0.1. A factorization machine's pairwise term grows with the square
 * of an example's features (a mail of 300 words has 45,000 pairs): at these rates
 * its loss runs away; 3 passes over SpamAssassin at sgd 0.002, adagrad 0.003, adam
 * 0.001 and ftrl alpha 0.003 gave test accuracy 0.988, 0.993, 0.995 and 0.990.
 */
void
optim_defaults(enum ps_optim_kind kind, uint32_t factors, struct ps_optim *d)
{
	int fm = factors > 0;

	memset(d, 0, sizeof *d);
	d->kind = kind;
	d->alpha = 0.1f;
	switch (kind) {
	case PS_OPTIM_FTRL:
		d->lr = 0.1f;
		d->alpha = fm ? 0.003f : 0.1f;
		d->l1 = 1;
		d->l2 = 1;
		break;
	case PS_OPTIM_SGD:
		d->lr = fm ? 0.002f : 0.02f;
		break;
	case PS_OPTIM_ADAGRAD:
		d->lr = fm ? 0.003f : 0.1f;
		break;
	case PS_OPTIM_ADAM:
		d->lr = fm ? 0.001f : 0.01f;
		break;
	case PS_OPTIM_SUM:
		d->lr = 0.1f;
		break;
	}
}

uint32_t
optim_width(const struct ps_optim *o)
{
	switch (o->kind) {
	case PS_OPTIM_ADAGRAD:
	case PS_OPTIM_FTRL:
		return 2 * o->dim;
	case PS_OPTIM_SGD:
		return o->schedule == PS_SCHEDULE_INV_SQRT ? 2 * o->dim : o->dim;
	case PS_OPTIM_ADAM:
		return 4 * o->dim;
	case PS_OPTIM_SUM:
		break;
	}
	return o->dim;
}

/*
 * FTRL-Proximal weight of one coordinate from its z and sqrt(n):
 *   w = 0						if |z| <= l1
 *   w = -(z - sgn(z) l1) / ((beta + sqrt(n)) / alpha + l2)	otherwise
 * computed with one division as -(z - sgn(z) l1) alpha / (beta + sqrt(n) + alpha l2).
 */
static inline double
ftrl_w(const struct ps_optim *o, double z, double sqrt_n)
{
	double	l1 = o->l1, alpha = o->alpha;

	if (fabs(z) <= l1)
		return 0;
	return -(z - (z < 0 ? -l1 : l1)) * alpha /
	    (o->beta + sqrt_n + alpha * o->l2);
}

/*
 * A new value of the state, as a float. Finite gradients can still overflow a float
 * (3e38 pushed twice, or squared for AdaGrad and FTRL): the state saturates at
 * +-FLT_MAX instead, so no sequence of finite gradients makes a weight infinite or
 * NaN. The maths is in double, where these values are finite.
 */
static inline float
sat(double v)
{
	if (v > FLT_MAX)
		return FLT_MAX;
	if (v < -FLT_MAX)
		return -FLT_MAX;
	return (float)v;
}

/* The same for a sum made in float (sum's push), which overflows to +-inf and never
 * to NaN (both terms are finite): two selects, not a round trip through double, which
 * cost the sum loop four times its time. */
static inline float
satf(float v)
{
	v = v > FLT_MAX ? FLT_MAX : v;
	return v < -FLT_MAX ? -FLT_MAX : v;
}

static void
ftrl_push(const struct ps_optim *o, float *state, const float *g)
{
	float		*z = state, *n = state + o->dim;
	double		 gi, g2, n_old, sq_old, sq_new, w, sigma;
	uint32_t	 i;

	for (i = 0; i < o->dim; i++) {
		gi = g[i];
		g2 = gi * gi;
		n_old = n[i];
		sq_old = sqrt(n_old);
		sq_new = sqrt(n_old + g2);
		w = ftrl_w(o, z[i], sq_old);
		/*
		 * sigma = (sqrt(n + g^2) - sqrt(n)) / alpha, written as
		 * g^2 / ((sqrt(n + g^2) + sqrt(n)) alpha): the same number without the
		 * cancellation of the difference when g^2 is small next to n.
		 */
		sigma = sq_new > 0 ? g2 / ((sq_new + sq_old) * o->alpha) : 0;
		z[i] = sat(z[i] + gi - sigma * w);
		n[i] = sat(n_old + g2);
	}
}

static void
adagrad_push(const struct ps_optim *o, float *state, const float *g)
{
	float		*w = state, *s = state + o->dim;
	double		 gi, s_new;
	uint32_t	 i;

	for (i = 0; i < o->dim; i++) {
		gi = (double)g[i] + (double)o->l2 * w[i];
		if (gi == 0)
			continue;	/* no step; also keeps 0/0 away when eps is 0 */
		s_new = s[i] + gi * gi;
		s[i] = sat(s_new);
		w[i] = sat(w[i] - o->lr * gi / (sqrt(s_new) + o->eps));
	}
}

/*
 * sgd with optimizer.schedule inv_sqrt: the block is w[dim], t[dim], t the updates
 * the coordinate has had; update t runs at lr / sqrt(1 + t). t is a float: exact up
 * to 2^24 updates of a key, where it stays (and the rate with it, at lr / 4096).
 */
static void
sgd_inv_sqrt_push(const struct ps_optim *o, float *state, const float *g)
{
	float		*w = state, *t = state + o->dim;
	double		 gi;
	uint32_t	 i;

	for (i = 0; i < o->dim; i++) {
		gi = (double)g[i] + (double)o->l2 * w[i];
		w[i] = sat(w[i] - o->lr / sqrt(1.0 + t[i]) * gi);
		t[i] = sat((double)t[i] + 1);
	}
}

/*
 * Adam (Kingma and Ba), bias-corrected, on w[dim], m[dim], v[dim], t[dim]:
 *   t += 1; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
 *   w -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
 * with g = gradient + l2 w. A correction 1 - b^t of 0 (b = 1, where m or v never
 * moves from 0) is left out rather than divided by, and a step whose denominator is
 * 0 (v = 0 with eps = 0) is not taken: no 0/0. In double, everything here is finite
 * for finite floats in the state and the gradient; sat() keeps the state so.
 */
static void
adam_push(const struct ps_optim *o, float *state, const float *g)
{
	float		*w = state, *m = state + o->dim, *v = state + 2 * (size_t)o->dim;
	float		*t = state + 3 * (size_t)o->dim;
	double		 b1 = o->beta1, b2 = o->beta2, gi, mi, vi, ti, c1, c2, den;
	uint32_t	 i;

	for (i = 0; i < o->dim; i++) {
		gi = (double)g[i] + (double)o->l2 * w[i];
		ti = (double)t[i] + 1;
		mi = b1 * m[i] + (1 - b1) * gi;
		vi = b2 * v[i] + (1 - b2) * gi * gi;
		c1 = 1 - pow(b1, ti);
		c2 = 1 - pow(b2, ti);
		den = sqrt(c2 > 0 ? vi / c2 : vi) + o->eps;
		if (den > 0)
			w[i] = sat(w[i] - o->lr * (c1 > 0 ? mi / c1 : mi) / den);
		m[i] = sat(mi);
		v[i] = sat(vi);
		t[i] = sat(ti);
	}
}

void
optim_push(const struct ps_optim *o, float *restrict state, const float *restrict g)
{
	uint32_t	i;

	switch (o->kind) {
	case PS_OPTIM_SUM:
		for (i = 0; i < o->dim; i++)
			state[i] = satf(state[i] + g[i]);
		break;
	case PS_OPTIM_SGD:
		if (o->schedule == PS_SCHEDULE_INV_SQRT) {
			sgd_inv_sqrt_push(o, state, g);
			break;
		}
		for (i = 0; i < o->dim; i++) {
			state[i] = sat(state[i] -
			    o->lr * ((double)g[i] + (double)o->l2 * state[i]));
		}
		break;
	case PS_OPTIM_ADAGRAD:
		adagrad_push(o, state, g);
		break;
	case PS_OPTIM_FTRL:
		ftrl_push(o, state, g);
		break;
	case PS_OPTIM_ADAM:
		adam_push(o, state, g);
		break;
	}
}

void
optim_pull(const struct ps_optim *o, const float *state, float *w)
{
	uint32_t	i;

	switch (o->kind) {
	case PS_OPTIM_SUM:
	case PS_OPTIM_SGD:
	case PS_OPTIM_ADAGRAD:
	case PS_OPTIM_ADAM:
		memcpy(w, state, (size_t)o->dim * sizeof *w);
		break;
	case PS_OPTIM_FTRL:
		for (i = 0; i < o->dim; i++)
			w[i] = sat(ftrl_w(o, state[i], sqrt(state[o->dim + i])));
		break;
	}
}

/*
 * A factorization machine's initial factor i (1 <= i < dim) of key: uniform in
 * [-init_scale, init_scale], from XXH3-64 with the seed of the key and i, 8 bytes each,
 * least significant first, whatever the host: the top 53 bits of the hash as a double
 * u in [0, 1), then init_scale (2u - 1) rounded to a float. Every server, backup,
 * restore and offline model draws the same numbers.
 */
static float
optim_draw(const struct ps_optim *o, uint64_t key, uint32_t i)
{
	unsigned char	b[16];
	uint64_t	h;
	double		u;
	int		j;

	for (j = 0; j < 8; j++) {
		b[j] = (unsigned char)(key >> (8 * j));
		b[8 + j] = (unsigned char)((uint64_t)i >> (8 * j));
	}
	h = XXH3_64bits_withSeed(b, sizeof b, o->seed);
	u = (double)(h >> 11) * 0x1p-53;
	return (float)((double)o->init_scale * (2 * u - 1));
}

/*
 * FTRL's z for a wanted weight w with n = 0, the inverse of ftrl_w: for w != 0,
 * w = -(z - sgn(z) l1) alpha / (beta + alpha l2) with sgn(z) = -sgn(w), so
 * z = -w (beta + alpha l2) / alpha - sgn(w) l1; w = 0 gives z = 0.
 */
static float
ftrl_z(const struct ps_optim *o, double w)
{
	if (w == 0)
		return 0;
	return sat(-w * (o->beta + (double)o->alpha * o->l2) / o->alpha -
	    (w < 0 ? -1.0 : 1.0) * o->l1);
}

void
optim_init(const struct ps_optim *o, uint64_t key, float *state)
{
	uint32_t	i;

	memset(state, 0, (size_t)optim_width(o) * sizeof *state);
	if (o->factors == 0 || o->kind == PS_OPTIM_SUM)
		return;
	/* w[0] = 0 and every other part of the state 0: only factors 1.. are set. */
	for (i = 1; i < o->dim; i++) {
		switch (o->kind) {
		case PS_OPTIM_FTRL:
			state[i] = ftrl_z(o, optim_draw(o, key, i));
			break;
		case PS_OPTIM_SGD:
		case PS_OPTIM_ADAGRAD:
		case PS_OPTIM_ADAM:
		case PS_OPTIM_SUM:
			state[i] = optim_draw(o, key, i);
			break;
		}
	}
}

void
optim_init_pull(const struct ps_optim *o, uint64_t key, float *w)
{
	uint32_t	i;

	memset(w, 0, (size_t)o->dim * sizeof *w);
	if (o->factors == 0 || o->kind == PS_OPTIM_SUM)
		return;
	for (i = 1; i < o->dim; i++) {
		/* What optim_pull gives from optim_init's state, float for float. */
		if (o->kind == PS_OPTIM_FTRL)
			w[i] = sat(ftrl_w(o, ftrl_z(o, optim_draw(o, key, i)), 0));
		else
			w[i] = optim_draw(o, key, i);
	}
}
