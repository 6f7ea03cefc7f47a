/* Server-side optimizers: the maths of one key's update, on a block of floats.
 * Pure, no I/O. A key's block holds optim_width() floats: its state, laid out as
 *   sum, sgd:  w[dim]			(sgd with schedule constant)
 *   sgd:       w[dim], t[dim]		(schedule inv_sqrt; t: the coordinate's updates)
 *   adagrad:   w[dim], g2[dim]	(sum of squared gradients)
 *   ftrl:      z[dim], n[dim]	(w is computed from z and n at pull time)
 *   adam:      w[dim], m[dim], v[dim], t[dim]	(means of g and g^2, updates)
 * A new key's block is optim_init's: all zeros, which is w = 0 for every optimizer,
 * but for a factorization machine's factors (model.factors > 0). */
#ifndef PS_OPTIM_H
#define PS_OPTIM_H

#include <stdint.h>

/* Numbers are kept in checkpoints: new kinds go at the end. */
enum ps_optim_kind { PS_OPTIM_SGD, PS_OPTIM_ADAGRAD, PS_OPTIM_FTRL, PS_OPTIM_SUM,
    PS_OPTIM_ADAM };
#define PS_OPTIM_LAST	PS_OPTIM_ADAM

/* sgd's learning rate over a key's updates t = 0, 1, ...: lr, or lr / sqrt(1 + t). */
enum ps_schedule { PS_SCHEDULE_CONSTANT, PS_SCHEDULE_INV_SQRT };

struct ps_optim {
	enum ps_optim_kind kind;
	uint32_t	dim;		/* floats of w per key */
	float		lr;		/* sgd, adagrad: learning rate */
	float		eps;		/* adagrad: added to sqrt(g2) */
	float		alpha;		/* ftrl: per-coordinate learning rate alpha */
	float		beta;		/* ftrl: beta */
	float		l1;		/* ftrl: L1 strength */
	float		l2;		/* ftrl: L2 strength; sgd, adagrad, adam:
					 * weight decay */
	int		schedule;	/* sgd: enum ps_schedule */
	float		beta1;		/* adam: decay of the mean of gradients */
	float		beta2;		/* adam: decay of the mean of their squares */
	/* model.factors, .init_scale, .seed: a factorization machine's keys hold
	 * w[0] and factors[1..dim-1], which start at small random values drawn from
	 * the key and the seed, so that every server, backup and restore agrees */
	uint32_t	factors;
	float		init_scale;
	uint32_t	seed;
};

/* "sgd", "adagrad", "ftrl", "sum", "adam" -> kind; -1 if unknown. */
int		 optim_kind(const char *name, enum ps_optim_kind *kind);
const char	*optim_name(enum ps_optim_kind);
uint32_t	 optim_width(const struct ps_optim *);
/* The safe defaults of this kind, for a linear model or a factorization machine
 * (factors > 0), of what depends on them: lr, alpha, l1, l2 in *d. */
void		 optim_defaults(enum ps_optim_kind, uint32_t factors, struct ps_optim *d);
/* Apply one key's gradient g[dim] to its state. For sum, g is added to w. */
void		 optim_push(const struct ps_optim *, float *restrict state,
		    const float *restrict g);
/* Write one key's weights w[dim] from its state. */
void		 optim_pull(const struct ps_optim *, const float *state, float *w);
/*
 * A new key's state, optim_width() floats: zeros, but with factors > 0 (dim = 1 +
 * factors, sum excepted) the state whose weights are w[0] = 0 and w[1..dim-1] drawn
 * uniform in [-init_scale, init_scale] from (key, i, seed), the same on every host.
 */
void		 optim_init(const struct ps_optim *, uint64_t key, float *state);
/* The weights of optim_init's state, w[dim], as optim_pull would give them, without
 * a state: what a pull of a key that does not exist answers. */
void		 optim_init_pull(const struct ps_optim *, uint64_t key, float *w);

#endif
