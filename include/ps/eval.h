/* Model quality: logloss, accuracy at 0.5 and exact ROC AUC for a classifier; the root
 * mean squared error for a regression. Pure, no I/O. */
#ifndef PS_EVAL_H
#define PS_EVAL_H

#include <stddef.h>
#include <stdint.h>

struct ps_eval {
	uint64_t	 n;
	uint64_t	 correct;
	double		 loss_sum;	/* the loss summed: logloss (eval_add), or
					 * squared error (eval_add_squared), so that a
					 * progress line shows the mean loss of either */
	double		 sq_sum;	/* squared errors summed (eval_add_squared) */
	int		 squared;	/* a regression's: eval_add_squared was used */
	int		 streaming;	/* keep no scores: constant memory, no AUC */
	float		*scores;	/* kept for AUC: 5 bytes an example */
	uint8_t		*labels;
	size_t		 cap;
};

struct ps_eval_result {
	uint64_t	 examples;
	double		 logloss;	/* mean, with p clipped to [1e-15, 1-1e-15] (for
					 * eval_add_squared: the mean squared error) */
	double		 accuracy;	/* fraction with (p >= 0.5) == label */
	double		 auc;		/* ties count one half; 0.5 when one class is absent */
	double		 rmse;		/* sqrt(mean squared error), eval_add_squared's;
					 * 0 with none */
};

void	eval_init(struct ps_eval *);
/* Logloss and accuracy only, in constant memory (for a training stream); AUC is NaN. */
void	eval_init_streaming(struct ps_eval *);
void	eval_free(struct ps_eval *);
void	eval_add(struct ps_eval *, double p, int label);	/* p = predicted P(label=1) */
/* A regression's prediction and its real label: (pred - y)^2 to sq_sum and loss_sum.
 * Meant for an eval_init_streaming one (no AUC); otherwise the pair is kept as eval_add
 * keeps it, y > 0 a positive. */
void	eval_add_squared(struct ps_eval *, double pred, double y);
void	eval_result(struct ps_eval *, struct ps_eval_result *);	/* may reorder the kept scores */

#endif
