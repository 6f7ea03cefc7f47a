/* Model quality: logloss, accuracy at 0.5, and exact ROC AUC. Pure, no I/O. */
#ifndef PS_EVAL_H
#define PS_EVAL_H

#include <stddef.h>
#include <stdint.h>

struct ps_eval {
	uint64_t	 n;
	uint64_t	 correct;
	double		 loss_sum;
	int		 streaming;	/* keep no scores: constant memory, no AUC */
	float		*scores;	/* kept for AUC: 5 bytes an example */
	uint8_t		*labels;
	size_t		 cap;
};

struct ps_eval_result {
	uint64_t	 examples;
	double		 logloss;	/* mean, with p clipped to [1e-15, 1-1e-15] */
	double		 accuracy;	/* fraction with (p >= 0.5) == label */
	double		 auc;		/* ties count one half; 0.5 when one class is absent */
};

void	eval_init(struct ps_eval *);
/* Logloss and accuracy only, in constant memory (for a training stream); AUC is NaN. */
void	eval_init_streaming(struct ps_eval *);
void	eval_free(struct ps_eval *);
void	eval_add(struct ps_eval *, double p, int label);	/* p = predicted P(label=1) */
void	eval_result(struct ps_eval *, struct ps_eval_result *);	/* may reorder the kept scores */

#endif
