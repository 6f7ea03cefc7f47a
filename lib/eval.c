/*
 * Model quality: mean logloss, accuracy at 0.5 and exact ROC AUC; for a regression, the
 * root mean squared error.
 *
 * The AUC is the probability that a random positive scores above a random negative, ties
 * counting one half. eval_result radix-sorts a copy of the kept (score, label) pairs by
 * the float's bits and walks the groups of equal scores once; the kept pairs stay as added.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ps/eval.h"
#include "ps/sort.h"
#include "ps/xmalloc.h"

#define EVAL_CLIP	1e-15

void
eval_init(struct ps_eval *ev)
{
	memset(ev, 0, sizeof *ev);
}

void
eval_init_streaming(struct ps_eval *ev)
{
	eval_init(ev);
	ev->streaming = 1;
}

void
eval_free(struct ps_eval *ev)
{
	free(ev->scores);
	free(ev->labels);
	memset(ev, 0, sizeof *ev);
}

/* Keep (score, label) for the AUC. */
static void
eval_keep(struct ps_eval *ev, double p, int pos)
{
	float	s;

	if (ev->n == ev->cap) {
		ev->cap = ev->cap < 1024 ? 1024 : ev->cap * 2;
		ev->scores = xreallocarray(ev->scores, ev->cap, sizeof *ev->scores);
		ev->labels = xreallocarray(ev->labels, ev->cap, sizeof *ev->labels);
	}
	s = p > FLT_MAX ? INFINITY : p < -FLT_MAX ? -INFINITY : (float)p;
	if (s == 0)
		s = 0;		/* -0 and +0 must tie */
	ev->scores[ev->n] = s;
	ev->labels[ev->n] = (uint8_t)pos;
}

/* p is P(label = 1); a label above 0 is positive, so both 1/0 and +1/-1 work. */
void
eval_add(struct ps_eval *ev, double p, int label)
{
	double	pc;
	int	pos = label > 0;

	if (isnan(p))
		p = 0.5;	/* no opinion, rather than poisoning the sums */
	if (!ev->streaming)
		eval_keep(ev, p, pos);
	ev->n++;
	if ((p >= 0.5) == pos)
		ev->correct++;
	/* Clip the probability given to the true label, so p = 0 and p = 1 cost the same. */
	pc = pos ? p : 1 - p;
	pc = pc < EVAL_CLIP ? EVAL_CLIP : pc > 1 - EVAL_CLIP ? 1 - EVAL_CLIP : pc;
	ev->loss_sum -= log(pc);
}

/* A regression: the error's square, summed in a double (1e308 is room enough for any
 * float's square). A non-finite error stays so: the worker stops before it gets here.
 * Not streaming, the pair is kept as eval_add keeps it (y > 0 a positive), for an AUC
 * that means little but reads only what was kept. */
void
eval_add_squared(struct ps_eval *ev, double pred, double y)
{
	double	e = pred - y;

	/* Kept all the same, so that eval_result's AUC reads what it counts. */
	if (!ev->streaming)
		eval_keep(ev, pred, y > 0);
	ev->n++;
	ev->squared = 1;
	ev->sq_sum += e * e;
	ev->loss_sum += e * e;
}

/* The float's bits as an unsigned key that sorts in the float's order. */
static inline uint32_t
eval_key(float f)
{
	uint32_t	u;

	memcpy(&u, &f, sizeof u);
	return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static double
eval_auc(struct ps_eval *ev)
{
	uint64_t	*a, *tmp, *sorted, npos, nneg, negbelow, gpos, gneg;
	uint32_t	 k;
	double		 sum;
	size_t		 i, j, n = (size_t)ev->n;

	npos = 0;
	for (i = 0; i < n; i++)
		npos += ev->labels[i];
	nneg = n - npos;
	if (npos == 0 || nneg == 0)
		return 0.5;

	a = xreallocarray(NULL, n, sizeof *a);
	tmp = xreallocarray(NULL, n, sizeof *tmp);
	for (i = 0; i < n; i++)
		a[i] = (uint64_t)eval_key(ev->scores[i]) << 32 | ev->labels[i];
	sorted = sort_u64(a, tmp, n);

	/* Ascending scores: each positive beats the negatives below its group, ties half. */
	sum = 0;
	negbelow = 0;
	for (i = 0; i < n; i = j) {
		k = (uint32_t)(sorted[i] >> 32);
		gpos = 0;
		for (j = i; j < n && (uint32_t)(sorted[j] >> 32) == k; j++)
			gpos += sorted[j] & 1;
		gneg = (j - i) - gpos;
		sum += (double)gpos * ((double)negbelow + (double)gneg / 2);
		negbelow += gneg;
	}

	free(a);
	free(tmp);
	return sum / ((double)npos * (double)nneg);
}

void
eval_result(struct ps_eval *ev, struct ps_eval_result *r)
{
	memset(r, 0, sizeof *r);
	r->examples = ev->n;
	r->auc = 0.5;
	if (ev->n == 0)
		return;
	r->logloss = ev->loss_sum / (double)ev->n;
	r->accuracy = (double)ev->correct / (double)ev->n;
	r->rmse = sqrt(ev->sq_sum / (double)ev->n);
	r->auc = ev->streaming ? NAN : eval_auc(ev);
}
