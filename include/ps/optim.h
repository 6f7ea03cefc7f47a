/* Server-side optimizers: the maths of one key's update, on a block of floats.
 * Pure, no I/O. A key's block holds optim_width() floats: its state, laid out as
 *   sum, sgd:  w[dim]
 *   adagrad:   w[dim], g2[dim]	(sum of squared gradients)
 *   ftrl:      z[dim], n[dim]	(w is computed from z and n at pull time)
 * A new key's block is all zeros, which is w = 0 for every optimizer. */
#ifndef PS_OPTIM_H
#define PS_OPTIM_H

#include <stdint.h>

enum ps_optim_kind { PS_OPTIM_SGD, PS_OPTIM_ADAGRAD, PS_OPTIM_FTRL, PS_OPTIM_SUM };

struct ps_optim {
	enum ps_optim_kind kind;
	uint32_t	dim;		/* floats of w per key */
	float		lr;		/* sgd, adagrad: learning rate */
	float		eps;		/* adagrad: added to sqrt(g2) */
	float		alpha;		/* ftrl: per-coordinate learning rate alpha */
	float		beta;		/* ftrl: beta */
	float		l1;		/* ftrl: L1 strength */
	float		l2;		/* ftrl: L2 strength; sgd, adagrad: weight decay */
};

/* "sgd", "adagrad", "ftrl", "sum" -> kind; -1 if unknown. */
int		 optim_kind(const char *name, enum ps_optim_kind *kind);
const char	*optim_name(enum ps_optim_kind);
uint32_t	 optim_width(const struct ps_optim *);
/* Apply one key's gradient g[dim] to its state. For sum, g is added to w. */
void		 optim_push(const struct ps_optim *, float *restrict state,
		    const float *restrict g);
/* Write one key's weights w[dim] from its state. */
void		 optim_pull(const struct ps_optim *, const float *state, float *w);

#endif
