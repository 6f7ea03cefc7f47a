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

#include "ps/optim.h"

static const struct {
	const char		*name;
	enum ps_optim_kind	 kind;
} optim_names[] = {
	{ "sgd",	PS_OPTIM_SGD },
	{ "adagrad",	PS_OPTIM_ADAGRAD },
	{ "ftrl",	PS_OPTIM_FTRL },
	{ "sum",	PS_OPTIM_SUM },
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

uint32_t
optim_width(const struct ps_optim *o)
{
	switch (o->kind) {
	case PS_OPTIM_ADAGRAD:
	case PS_OPTIM_FTRL:
		return 2 * o->dim;
	case PS_OPTIM_SGD:
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
		memcpy(w, state, (size_t)o->dim * sizeof *w);
		break;
	case PS_OPTIM_FTRL:
		for (i = 0; i < o->dim; i++)
			w[i] = sat(ftrl_w(o, state[i], sqrt(state[o->dim + i])));
		break;
	}
}
