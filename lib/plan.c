/*
 * Slot moves. Moves are grouped by (source, destination), so a plan is a few large
 * transfers rather than many small ones, and slots keep to contiguous ranges where
 * they can: a server gives away its highest slots and a receiver fills its deficit
 * from one donor before the next.
 */
#include <stdlib.h>
#include <string.h>

#include "ps/plan.h"
#include "ps/xmalloc.h"

/* The move from -> to in the list, added if new. */
static struct ps_move *
plan_get(struct ps_move **moves, size_t *n, uint32_t from, uint32_t to)
{
	size_t i;

	for (i = 0; i < *n; i++)
		if ((*moves)[i].from == from && (*moves)[i].to == to)
			return &(*moves)[i];
	*moves = xreallocarray(*moves, *n + 1, sizeof **moves);
	memset(&(*moves)[*n], 0, sizeof **moves);
	(*moves)[*n].from = from;
	(*moves)[*n].to = to;
	(*moves)[*n].slots = xreallocarray(NULL, PS_NSLOTS, sizeof (*moves)[*n].slots[0]);
	return &(*moves)[(*n)++];
}

static void
plan_add(struct ps_move **moves, size_t *n, uint32_t from, uint32_t to, uint32_t slot)
{
	struct ps_move *mv = plan_get(moves, n, from, to);

	mv->slots[mv->n++] = (uint16_t)slot;
}

size_t
plan_reshard(const struct ps_map *m, uint32_t first, uint32_t last, uint32_t to,
    struct ps_move **moves)
{
	size_t n = 0;
	uint32_t s;

	*moves = NULL;
	for (s = first; s <= last && s < PS_NSLOTS; s++)
		if (m->owner[s] != to)
			plan_add(moves, &n, m->owner[s], to, s);
	return n;
}

size_t
plan_rebalance(const struct ps_map *m, const uint8_t *use, struct ps_move **moves)
{
	uint32_t i, s, k = 0, nuse = 0, *have, *target;
	size_t n = 0;

	*moves = NULL;
	for (i = 0; i < m->nservers; i++)
		nuse += use[i] != 0;
	if (nuse == 0)
		return 0;
	have = xcalloc(m->nservers, sizeof *have);
	target = xcalloc(m->nservers, sizeof *target);
	for (s = 0; s < PS_NSLOTS; s++)
		have[m->owner[s]]++;
	/* Servers in use share the slots, NSLOTS % nuse of them one more: those that have
	 * more than their share already first, so that their extra slot stays put, then
	 * the others in server order. */
	for (i = 0; i < m->nservers; i++)
		if (use[i])
			target[i] = PS_NSLOTS / nuse;
	for (i = 0; i < m->nservers && k < PS_NSLOTS % nuse; i++)
		if (use[i] && have[i] > target[i]) {
			target[i]++;
			k++;
		}
	for (i = 0; i < m->nservers && k < PS_NSLOTS % nuse; i++)
		if (use[i] && have[i] <= PS_NSLOTS / nuse) {
			target[i]++;
			k++;
		}
	/* Donors give their highest slots; receivers take in server order. */
	for (s = PS_NSLOTS; s-- > 0;) {
		uint32_t from = m->owner[s], to;

		if (have[from] <= target[from])
			continue;
		for (to = 0; to < m->nservers && have[to] >= target[to]; to++)
			;
		if (to == m->nservers)
			break;
		plan_add(moves, &n, from, to, s);
		have[from]--;
		have[to]++;
	}
	/* Slots were taken from the top down: put each move's list in order. */
	for (i = 0; i < n; i++) {
		struct ps_move *mv = &(*moves)[i];
		size_t a, b;

		for (a = 0, b = mv->n; a + 1 < b; a++, b--) {
			uint16_t t = mv->slots[a];
			mv->slots[a] = mv->slots[b - 1];
			mv->slots[b - 1] = t;
		}
	}
	free(have);
	free(target);
	return n;
}

void
plan_free(struct ps_move *moves, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(moves[i].slots);
	free(moves);
}

void
plan_apply(struct ps_map *m, const struct ps_move *mv)
{
	size_t i;

	for (i = 0; i < mv->n; i++)
		m->owner[mv->slots[i]] = (uint16_t)mv->to;
}
