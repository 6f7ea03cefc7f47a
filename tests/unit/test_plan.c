/* Planning slot moves (lib/plan.c): reshard a range, rebalance, drain, applying a plan. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ps/map.h"
#include "ps/plan.h"
#include "unit.h"

#define MAXSERVERS	8

/* A map of n servers, ids 100 + i, spread. */
static void
make_map(struct ps_map *m, uint32_t n)
{
	char host[32];
	uint32_t i;

	map_init(m);
	for (i = 0; i < n; i++) {
		snprintf(host, sizeof host, "10.0.0.%u", i);
		map_add_server(m, 100 + i, host, 7000 + (int)i);
	}
	map_spread(m);
	m->epoch = 1;
}

/* Give slots first..last to server i. */
static void
give(struct ps_map *m, uint32_t first, uint32_t last, uint32_t i)
{
	uint32_t s;

	for (s = first; s <= last; s++)
		m->owner[s] = (uint16_t)i;
}

/* xorshift64*, for maps of every shape */
static uint64_t
rnd(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 0x2545f4914f6cdd1dULL;
}

/*
 * What holds for any plan on m: each move has slots, strictly ascending, all owned by
 * its source, none in two moves; source and destination differ and are servers of the
 * map; no (source, destination) pair twice. Returns the slots moved, or -1.
 */
static long
check_moves(const struct ps_map *m, const struct ps_move *mv, size_t n)
{
	static uint8_t seen[PS_NSLOTS];
	size_t i, j;
	long moved = 0;
	int ok = 1;

	memset(seen, 0, sizeof seen);
	for (i = 0; i < n; i++) {
		ok &= mv[i].n > 0 && mv[i].slots != NULL;
		ok &= mv[i].from != mv[i].to;
		ok &= mv[i].from < m->nservers && mv[i].to < m->nservers;
		for (j = 0; j < mv[i].n; j++) {
			uint16_t s = mv[i].slots[j];

			ok &= s < PS_NSLOTS && m->owner[s] == mv[i].from && !seen[s];
			ok &= j == 0 || mv[i].slots[j - 1] < s;
			seen[s & (PS_NSLOTS - 1)] = 1;
		}
		for (j = 0; j < i; j++)
			ok &= mv[j].from != mv[i].from || mv[j].to != mv[i].to;
		moved += (long)mv[i].n;
	}
	CHECK(ok);
	return ok ? moved : -1;
}

/* Apply every move to a copy of m (which keeps its epoch). */
static void
apply_all(struct ps_map *dst, const struct ps_map *m, const struct ps_move *mv, size_t n)
{
	size_t i;

	map_init(dst);
	map_copy(dst, m);
	for (i = 0; i < n; i++)
		plan_apply(dst, &mv[i]);
	CHECK(dst->epoch == m->epoch);
}

/* The fewest slots a rebalance of m over use can move. */
static long
min_moves(const struct ps_map *m, const uint8_t *use)
{
	uint32_t i, nuse = 0, base, extra, big = 0;
	long need = 0;

	for (i = 0; i < m->nservers; i++)
		nuse += use[i] != 0;
	base = PS_NSLOTS / nuse;
	extra = PS_NSLOTS % nuse;
	for (i = 0; i < m->nservers; i++) {
		uint32_t have = map_count_slots(m, i);

		if (!use[i])
			need += have;
		else if (have > base) {
			need += have - base;
			big++;
		}
	}
	/* each of the extra slots that a server above base keeps is one that need not move */
	return need - (extra < big ? extra : big);
}

/*
 * Rebalance m over use and check everything: the invariants of any plan; only servers
 * in use receive; nobody both gives and receives; donors give their highest slots; the
 * number moved is the least possible; and after the plan each server in use has
 * NSLOTS/n or one more, the others none. Returns the slots moved.
 */
static long
check_rebalance(const struct ps_map *m, const uint8_t *use, struct ps_map *after)
{
	struct ps_move *mv;
	size_t n, i;
	uint32_t k, nuse = 0, c, lowest_given[MAXSERVERS];
	int32_t highest_kept[MAXSERVERS];
	uint8_t gives[MAXSERVERS] = { 0 }, takes[MAXSERVERS] = { 0 };
	long moved;
	int ok = 1;

	n = plan_rebalance(m, use, &mv);
	moved = check_moves(m, mv, n);
	for (i = 0; i < n; i++) {
		gives[mv[i].from] = 1;
		takes[mv[i].to] = 1;
		ok &= use[mv[i].to] != 0;
	}
	for (k = 0; k < m->nservers; k++)
		ok &= !(gives[k] && takes[k]);
	CHECK(ok);
	CHECK(moved == min_moves(m, use));
	if (moved != min_moves(m, use))
		fprintf(stderr, "    moved %ld, could have moved %ld\n", moved, min_moves(m, use));

	apply_all(after, m, mv, n);
	for (k = 0; k < m->nservers; k++)
		nuse += use[k] != 0;
	ok = 1;
	for (k = 0; k < m->nservers; k++) {
		c = map_count_slots(after, k);
		if (use[k])
			ok &= c == PS_NSLOTS / nuse || c == PS_NSLOTS / nuse + 1;
		else
			ok &= c == 0;
	}
	CHECK(ok);

	/* A donor keeps its lowest slots: all it gives lie above all it keeps. */
	for (k = 0; k < m->nservers; k++) {
		lowest_given[k] = PS_NSLOTS;
		highest_kept[k] = -1;		/* none kept */
	}
	for (i = 0; i < PS_NSLOTS; i++) {
		k = m->owner[i];
		if (after->owner[i] != k) {
			if (i < lowest_given[k])
				lowest_given[k] = (uint32_t)i;
		} else if ((int32_t)i > highest_kept[k])
			highest_kept[k] = (int32_t)i;
	}
	ok = 1;
	for (k = 0; k < m->nservers; k++)
		ok &= lowest_given[k] == PS_NSLOTS ||
		    highest_kept[k] < (int32_t)lowest_given[k];
	CHECK(ok);

	/* Balanced already: nothing more to do. */
	plan_free(mv, n);
	n = plan_rebalance(after, use, &mv);
	CHECK(n == 0 && mv == NULL);
	plan_free(mv, n);
	return moved;
}

static void
test_reshard(void)
{
	struct ps_map m, after;
	struct ps_move *mv;
	size_t n, i;
	uint32_t s;
	int ok;

	/* 3 servers spread: 0..5461, 5462..10922, 10923..16383 */
	make_map(&m, 3);
	CHECK(m.owner[5461] == 0 && m.owner[5462] == 1);
	CHECK(m.owner[10922] == 1 && m.owner[10923] == 2);

	/* 5000..11000 to server 2: from 0 and from 1, in that order; 2's own excluded */
	n = plan_reshard(&m, 5000, 11000, 2, &mv);
	CHECK(n == 2);
	CHECK(check_moves(&m, mv, n) == 462 + 5461);
	CHECK(mv[0].from == 0 && mv[0].to == 2 && mv[0].n == 462);
	CHECK(mv[0].slots[0] == 5000 && mv[0].slots[461] == 5461);
	CHECK(mv[1].from == 1 && mv[1].to == 2 && mv[1].n == 5461);
	CHECK(mv[1].slots[0] == 5462 && mv[1].slots[5460] == 10922);
	apply_all(&after, &m, mv, n);
	ok = 1;
	for (s = 0; s < PS_NSLOTS; s++)
		ok &= after.owner[s] == (s >= 5000 && s <= 11000 ? 2 : m.owner[s]);
	CHECK(ok);
	CHECK(map_count_slots(&after, 2) == 5461 + 462 + 5461);
	plan_free(mv, n);
	/* again on the result: nothing to move */
	n = plan_reshard(&after, 5000, 11000, 2, &mv);
	CHECK(n == 0 && mv == NULL);
	plan_free(mv, n);
	map_free(&after);

	/* a range wholly at the destination: an empty plan */
	n = plan_reshard(&m, 12000, 13000, 2, &mv);
	CHECK(n == 0 && mv == NULL);
	plan_free(mv, n);
	n = plan_reshard(&m, 0, 0, 0, &mv);
	CHECK(n == 0 && mv == NULL);
	plan_free(mv, n);

	/* one slot; the last slot; the whole map */
	n = plan_reshard(&m, 7000, 7000, 0, &mv);
	CHECK(n == 1 && mv[0].from == 1 && mv[0].to == 0 && mv[0].n == 1 &&
	    mv[0].slots[0] == 7000);
	plan_free(mv, n);
	n = plan_reshard(&m, PS_NSLOTS - 1, PS_NSLOTS - 1, 1, &mv);
	CHECK(n == 1 && mv[0].from == 2 && mv[0].n == 1 &&
	    mv[0].slots[0] == PS_NSLOTS - 1);
	plan_free(mv, n);
	n = plan_reshard(&m, 0, PS_NSLOTS - 1, 1, &mv);
	CHECK(n == 2 && check_moves(&m, mv, n) == PS_NSLOTS - 5461);
	CHECK(mv[0].from == 0 && mv[0].n == 5462 && mv[1].from == 2 && mv[1].n == 5461);
	plan_free(mv, n);
	/* a last beyond the map stops at its end */
	n = plan_reshard(&m, 16000, UINT32_MAX, 0, &mv);
	CHECK(n == 1 && mv[0].from == 2 && mv[0].n == 384 && mv[0].slots[383] == 16383);
	plan_free(mv, n);
	/* first > last: nothing */
	n = plan_reshard(&m, 9000, 8000, 0, &mv);
	CHECK(n == 0 && mv == NULL);
	plan_free(mv, n);
	map_free(&m);

	/* Interleaved owners (s % 4): moves grouped by source, each list ascending. */
	make_map(&m, 4);
	for (s = 0; s < PS_NSLOTS; s++)
		m.owner[s] = s % 4;
	n = plan_reshard(&m, 10, 109, 3, &mv);
	CHECK(n == 3);
	CHECK(check_moves(&m, mv, n) == 75);
	for (i = 0; i < n; i++) {
		CHECK(mv[i].to == 3 && mv[i].n == 25);
		CHECK(mv[i].slots[0] % 4 == mv[i].from);
	}
	/* first appearance order: slot 10 is 2's, 12 is 0's, 13 is 1's */
	CHECK(mv[0].from == 2 && mv[0].slots[0] == 10 && mv[0].slots[24] == 106);
	CHECK(mv[1].from == 0 && mv[1].slots[0] == 12 && mv[1].slots[24] == 108);
	CHECK(mv[2].from == 1 && mv[2].slots[0] == 13 && mv[2].slots[24] == 109);
	apply_all(&after, &m, mv, n);
	CHECK(map_count_slots(&after, 3) == PS_NSLOTS / 4 + 75);
	plan_free(mv, n);
	map_free(&after);
	map_free(&m);

	plan_free(NULL, 0);		/* harmless */
}

/* An uneven map of 3: only the excess moves, and the counts end even. */
static void
test_rebalance_uneven(void)
{
	static const uint8_t use3[] = { 1, 1, 1 };
	struct ps_map m, after;
	struct ps_move *mv;
	size_t n, i;
	long moved;

	/* 10000, 4000, 2384 */
	make_map(&m, 3);
	give(&m, 0, 9999, 0);
	give(&m, 10000, 13999, 1);
	give(&m, 14000, 16383, 2);
	moved = check_rebalance(&m, use3, &after);
	/* 0 keeps 5462 (the extra one: it is above 5461), gives 4538 */
	CHECK(moved == 4538);
	CHECK(map_count_slots(&after, 0) == 5462);
	CHECK(map_count_slots(&after, 1) == 5461);
	CHECK(map_count_slots(&after, 2) == 5461);
	/* from 0's top: 1 takes 1461 then 2 takes 3077 */
	n = plan_rebalance(&m, use3, &mv);
	CHECK(n == 2);
	for (i = 0; i < n; i++)
		CHECK(mv[i].from == 0);
	CHECK(mv[0].to == 1 && mv[0].n == 1461 && mv[0].slots[0] == 8539 &&
	    mv[0].slots[1460] == 9999);
	CHECK(mv[1].to == 2 && mv[1].n == 3077 && mv[1].slots[0] == 5462 &&
	    mv[1].slots[3076] == 8538);
	plan_free(mv, n);
	map_free(&after);

	/* Two donors, one receiver: 7000, 7000, 2384 */
	give(&m, 0, 6999, 0);
	give(&m, 7000, 13999, 1);
	moved = check_rebalance(&m, use3, &after);
	CHECK(moved == 7000 - 5462 + 7000 - 5461);
	n = plan_rebalance(&m, use3, &mv);
	CHECK(n == 2 && mv[0].to == 2 && mv[1].to == 2);
	plan_free(mv, n);
	map_free(&after);

	/* Balanced already, with the extra slot on any server: nothing moves. */
	map_spread(&m);
	CHECK(check_rebalance(&m, use3, &after) == 0);
	map_free(&after);
	m.owner[5461] = 1;			/* 5461, 5462, 5461 */
	CHECK(check_rebalance(&m, use3, &after) == 0);
	map_free(&after);
	m.owner[10922] = 2;			/* 5461, 5461, 5462 */
	CHECK(check_rebalance(&m, use3, &after) == 0);
	map_free(&after);
	map_free(&m);

	/* 5 servers (16384 = 5 * 3276 + 4): four extras; the one short server is filled */
	{
		static const uint8_t use5[] = { 1, 1, 1, 1, 1 };

		make_map(&m, 5);
		give(&m, 0, 3277, 0);		/* 3278 */
		give(&m, 3278, 6555, 1);	/* 3278 */
		give(&m, 6556, 9832, 2);	/* 3277 */
		give(&m, 9833, 13108, 3);	/* 3276 */
		give(&m, 13109, 16383, 4);	/* 3275 */
		moved = check_rebalance(&m, use5, &after);
		CHECK(moved == 2);	/* 0 and 1 give one each: 3277 x 4 + 3276 */
		map_free(&after);
		map_free(&m);
	}
}

/* Drain: a server not in use gives all its slots; the others end even. */
static void
test_drain(void)
{
	uint8_t use[4] = { 1, 1, 0, 1 };
	struct ps_map m, after, after2;
	struct ps_move *mv;
	size_t n, i;
	long moved;

	make_map(&m, 4);			/* 4096 each */
	moved = check_rebalance(&m, use, &after);
	CHECK(moved == 4096);
	CHECK(map_count_slots(&after, 2) == 0);
	CHECK(map_count_slots(&after, 0) == 5462);
	CHECK(map_count_slots(&after, 1) == 5461);
	CHECK(map_count_slots(&after, 3) == 5461);
	n = plan_rebalance(&m, use, &mv);
	CHECK(n == 3);
	for (i = 0; i < n; i++)
		CHECK(mv[i].from == 2 && mv[i].to != 2);
	plan_free(mv, n);
	map_free(&after);

	/* draining 0 of 3 even ones; then draining a second */
	map_free(&m);
	make_map(&m, 3);
	use[0] = 0;
	use[1] = use[2] = 1;
	moved = check_rebalance(&m, use, &after);
	CHECK(moved == 5462);
	CHECK(map_count_slots(&after, 1) == 8192 && map_count_slots(&after, 2) == 8192);
	use[1] = 0;
	moved = check_rebalance(&after, use, &after2);
	CHECK(moved == 8192);
	CHECK(map_count_slots(&after2, 2) == PS_NSLOTS);
	map_free(&after2);
	map_free(&after);

	/* draining a server that has nothing: nothing moves */
	map_free(&m);
	make_map(&m, 3);
	give(&m, 0, 8191, 0);
	give(&m, 8192, 16383, 1);
	use[0] = use[1] = 1;
	use[2] = 0;
	CHECK(check_rebalance(&m, use, &after) == 0);
	map_free(&after);

	/* no server in use: no plan */
	memset(use, 0, sizeof use);
	n = plan_rebalance(&m, use, &mv);
	CHECK(n == 0 && mv == NULL);
	map_free(&m);
}

/* A new server with no slots takes a third, half from each of the two others. */
static void
test_new_server(void)
{
	static const uint8_t use[] = { 1, 1, 1 };
	struct ps_map m, after;
	struct ps_move *mv;
	size_t n;
	long moved;

	make_map(&m, 2);			/* 0..8191, 8192..16383 */
	map_add_server(&m, 102, "10.0.0.2", 7002);
	CHECK(map_count_slots(&m, 2) == 0);
	moved = check_rebalance(&m, use, &after);
	CHECK(moved == 5461);
	CHECK(map_count_slots(&after, 2) == 5461);
	n = plan_rebalance(&m, use, &mv);
	CHECK(n == 2);
	CHECK(mv[0].to == 2 && mv[1].to == 2 && mv[0].from != mv[1].from);
	CHECK(mv[0].n + mv[1].n == 5461);
	CHECK(mv[0].n >= 2730 && mv[0].n <= 2731 && mv[1].n >= 2730 && mv[1].n <= 2731);
	/* each donor's top range, contiguous */
	CHECK((size_t)mv[0].slots[mv[0].n - 1] - mv[0].slots[0] == mv[0].n - 1);
	CHECK((size_t)mv[1].slots[mv[1].n - 1] - mv[1].slots[0] == mv[1].n - 1);
	CHECK(mv[0].slots[mv[0].n - 1] == (mv[0].from == 0 ? 8191 : 16383));
	CHECK(mv[1].slots[mv[1].n - 1] == (mv[1].from == 0 ? 8191 : 16383));
	plan_free(mv, n);
	map_free(&after);
	map_free(&m);

	/* one server of one: keeps everything */
	make_map(&m, 1);
	CHECK(check_rebalance(&m, use, &after) == 0);
	map_free(&after);
	map_free(&m);
}

/* Maps of every shape, random use: check_rebalance's invariants every time. */
static void
test_random(void)
{
	struct ps_map m, after;
	uint8_t use[MAXSERVERS];
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	uint32_t round, nserv, i, s, shape;

	for (round = 0; round < 300; round++) {
		nserv = 1 + (uint32_t)(rnd(&x) % MAXSERVERS);
		make_map(&m, nserv);
		shape = (uint32_t)(rnd(&x) % 4);
		switch (shape) {
		case 0:		/* every slot anywhere */
			for (s = 0; s < PS_NSLOTS; s++)
				m.owner[s] = (uint16_t)(rnd(&x) % nserv);
			break;
		case 1:		/* random ranges */
			for (i = 0; i < 20; i++) {
				uint32_t a = (uint32_t)(rnd(&x) % PS_NSLOTS);
				uint32_t b = a + (uint32_t)(rnd(&x) % 3000);

				give(&m, a, b < PS_NSLOTS ? b : PS_NSLOTS - 1,
				    (uint32_t)(rnd(&x) % nserv));
			}
			break;
		case 2:		/* nearly all on one */
			for (s = 0; s < PS_NSLOTS; s++)
				m.owner[s] = (uint16_t)(rnd(&x) % 50 ? 0 : rnd(&x) % nserv);
			break;
		case 3:		/* spread, then a few slots moved: nearly balanced */
			for (i = 0; i < 3; i++)
				m.owner[rnd(&x) % PS_NSLOTS] = (uint16_t)(rnd(&x) % nserv);
			break;
		}
		do {
			for (i = 0; i < nserv; i++)
				use[i] = rnd(&x) % 4 != 0;
			for (i = 0, s = 0; i < nserv; i++)
				s += use[i];
		} while (s == 0);
		check_rebalance(&m, use, &after);
		map_free(&after);
		map_free(&m);
	}
}

int
main(void)
{
	RUN(test_reshard);
	RUN(test_rebalance_uneven);
	RUN(test_drain);
	RUN(test_new_server);
	RUN(test_random);
	return UNIT_DONE();
}
