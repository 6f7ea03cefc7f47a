/* The record of applied pushes (lib/applied.c): per client ids, forgetting old ids and
 * clients heard from least recently. */
#include <stdint.h>
#include <stdlib.h>

#include "ps/applied.h"
#include "unit.h"

static void
test_empty(void)
{
	struct applied a;

	applied_init(&a);
	CHECK(a.n == 0 && a.c == NULL);
	CHECK(applied_has(&a, 1, 1) == APPLIED_NO);
	CHECK(applied_has(&a, 0, 0) == APPLIED_NO);
	CHECK(applied_has(&a, UINT32_MAX, UINT64_MAX) == APPLIED_NO);
	CHECK(a.n == 0);		/* asking does not make a client */
	applied_free(&a);
}

static void
test_add(void)
{
	struct applied a;

	applied_init(&a);
	applied_add(&a, 7, 5);
	applied_add(&a, 7, 6);
	applied_add(&a, 7, 100);
	applied_add(&a, 7, 3);		/* out of order is fine */
	CHECK(applied_has(&a, 7, 5) == APPLIED_YES);
	CHECK(applied_has(&a, 7, 6) == APPLIED_YES);
	CHECK(applied_has(&a, 7, 100) == APPLIED_YES);
	CHECK(applied_has(&a, 7, 3) == APPLIED_YES);
	CHECK(applied_has(&a, 7, 4) == APPLIED_NO);
	CHECK(applied_has(&a, 7, 7) == APPLIED_NO);
	CHECK(applied_has(&a, 7, 101) == APPLIED_NO);
	CHECK(applied_has(&a, 7, UINT64_MAX) == APPLIED_NO);
	applied_add(&a, 7, UINT64_MAX);
	CHECK(applied_has(&a, 7, UINT64_MAX) == APPLIED_YES);
	/* adding an id twice keeps it */
	applied_add(&a, 7, 5);
	CHECK(applied_has(&a, 7, 5) == APPLIED_YES);
	CHECK(a.n == 1);
	applied_free(&a);
}

/* Clients are independent: the same ids mean nothing for another. */
static void
test_clients_apart(void)
{
	struct applied a;
	uint64_t id;

	applied_init(&a);
	for (id = 1; id <= 10; id++)
		applied_add(&a, 1, id);
	for (id = 11; id <= 20; id++)
		applied_add(&a, 2, id);
	applied_add(&a, UINT32_MAX, 5);
	CHECK(a.n == 3);
	CHECK(applied_has(&a, 1, 5) == APPLIED_YES);
	CHECK(applied_has(&a, 2, 5) == APPLIED_NO);
	CHECK(applied_has(&a, 1, 15) == APPLIED_NO);
	CHECK(applied_has(&a, 2, 15) == APPLIED_YES);
	CHECK(applied_has(&a, UINT32_MAX, 5) == APPLIED_YES);
	CHECK(applied_has(&a, UINT32_MAX, 6) == APPLIED_NO);
	CHECK(applied_has(&a, 3, 5) == APPLIED_NO);
	/* one client's ring running over forgets nothing of another */
	for (id = 1000; id < 1000 + 2 * APPLIED_RING; id++)
		applied_add(&a, 2, id);
	CHECK(applied_has(&a, 2, 15) == APPLIED_UNKNOWN);
	CHECK(applied_has(&a, 1, 1) == APPLIED_YES);
	CHECK(applied_has(&a, 1, 10) == APPLIED_YES);
	CHECK(applied_has(&a, 1, 11) == APPLIED_NO);
	CHECK(applied_has(&a, UINT32_MAX, 5) == APPLIED_YES);
	applied_free(&a);
}

/* Past APPLIED_RING ids the oldest go; asking for one of those cannot be answered. */
static void
test_ring(void)
{
	struct applied a;
	uint64_t id, n = APPLIED_RING + 10;
	int yes = 1;

	applied_init(&a);
	/* even ids 2..2n: the first 10 (2..20) are pushed out */
	for (id = 1; id <= n; id++)
		applied_add(&a, 9, 2 * id);
	CHECK(applied_has(&a, 9, 2) == APPLIED_UNKNOWN);
	CHECK(applied_has(&a, 9, 20) == APPLIED_UNKNOWN);	/* the last forgotten */
	CHECK(applied_has(&a, 9, 19) == APPLIED_UNKNOWN);	/* never added, but old */
	CHECK(applied_has(&a, 9, 1) == APPLIED_UNKNOWN);
	CHECK(applied_has(&a, 9, 22) == APPLIED_YES);		/* the oldest kept */
	CHECK(applied_has(&a, 9, 21) == APPLIED_NO);	/* above every forgotten one */
	CHECK(applied_has(&a, 9, 23) == APPLIED_NO);
	CHECK(applied_has(&a, 9, 2 * n + 1) == APPLIED_NO);
	for (id = 11; id <= n; id++)
		yes &= applied_has(&a, 9, 2 * id) == APPLIED_YES;
	CHECK(yes);		/* exactly the last APPLIED_RING are kept */

	/* one more: 22 goes, and the line moves up to it */
	applied_add(&a, 9, 2 * n + 2);
	CHECK(applied_has(&a, 9, 22) == APPLIED_UNKNOWN);
	CHECK(applied_has(&a, 9, 21) == APPLIED_UNKNOWN);
	CHECK(applied_has(&a, 9, 23) == APPLIED_NO);
	CHECK(applied_has(&a, 9, 24) == APPLIED_YES);
	CHECK(applied_has(&a, 9, 2 * n + 2) == APPLIED_YES);

	/* the line is the highest id pushed out: a lower one after it does not lower it */
	applied_free(&a);
	applied_add(&a, 9, 50000);
	for (id = 1; id < APPLIED_RING; id++)
		applied_add(&a, 9, id);
	CHECK(applied_has(&a, 9, 40000) == APPLIED_NO);		/* nothing forgotten yet */
	applied_add(&a, 9, APPLIED_RING);	/* pushes 50000 out */
	CHECK(applied_has(&a, 9, 50000) == APPLIED_UNKNOWN);
	CHECK(applied_has(&a, 9, 40000) == APPLIED_UNKNOWN);
	CHECK(applied_has(&a, 9, 50001) == APPLIED_NO);
	CHECK(applied_has(&a, 9, 1) == APPLIED_YES);
	applied_add(&a, 9, APPLIED_RING + 1);	/* pushes 1 out */
	CHECK(applied_has(&a, 9, 1) == APPLIED_UNKNOWN);
	CHECK(applied_has(&a, 9, 50000) == APPLIED_UNKNOWN);	/* still */
	CHECK(applied_has(&a, 9, 40000) == APPLIED_UNKNOWN);
	CHECK(applied_has(&a, 9, 2) == APPLIED_YES);
	CHECK(applied_has(&a, 9, 50001) == APPLIED_NO);
	applied_free(&a);
}

/* Past APPLIED_CLIENTS clients, the one heard from least recently is forgotten. */
static void
test_clients_lru(void)
{
	struct applied a;
	uint32_t c;
	int yes = 1;

	applied_init(&a);
	for (c = 1; c <= APPLIED_CLIENTS; c++)
		applied_add(&a, c, 1000 + c);
	CHECK(a.n == APPLIED_CLIENTS);
	/* client 1, the oldest, is heard from again (an add) and 2 is asked about */
	applied_add(&a, 1, 5);
	CHECK(applied_has(&a, 2, 1002) == APPLIED_YES);
	/* a new client: 3 is now the least recently used */
	applied_add(&a, 5000, 77);
	CHECK(a.n == APPLIED_CLIENTS);
	CHECK(applied_has(&a, 3, 1003) == APPLIED_NO);	/* forgotten */
	CHECK(applied_has(&a, 1, 1001) == APPLIED_YES);
	CHECK(applied_has(&a, 1, 5) == APPLIED_YES);
	CHECK(applied_has(&a, 2, 1002) == APPLIED_YES);
	CHECK(applied_has(&a, 5000, 77) == APPLIED_YES);
	/* another: 4 goes next */
	applied_add(&a, 5001, 78);
	CHECK(applied_has(&a, 4, 1004) == APPLIED_NO);
	CHECK(applied_has(&a, 5, 1005) == APPLIED_YES);
	CHECK(applied_has(&a, 5001, 78) == APPLIED_YES);
	CHECK(a.n == APPLIED_CLIENTS);
	/* a forgotten client starts afresh, and 6 goes for it */
	applied_add(&a, 3, 9);
	CHECK(a.n == APPLIED_CLIENTS);
	CHECK(applied_has(&a, 3, 9) == APPLIED_YES);
	CHECK(applied_has(&a, 3, 1003) == APPLIED_NO);
	CHECK(applied_has(&a, 6, 1006) == APPLIED_NO);
	/* and the rest are all still there */
	for (c = 7; c <= APPLIED_CLIENTS; c++)
		yes &= applied_has(&a, c, 1000 + c) == APPLIED_YES;
	CHECK(yes);
	CHECK(applied_has(&a, 1, 1001) == APPLIED_YES && applied_has(&a, 2, 1002) == APPLIED_YES);
	CHECK(applied_has(&a, 5, 1005) == APPLIED_YES && applied_has(&a, 5001, 78) == APPLIED_YES);
	applied_free(&a);
}

static void
test_free(void)
{
	struct applied a;

	applied_init(&a);
	applied_free(&a);		/* never used */
	applied_add(&a, 1, 1);
	applied_add(&a, 2, 2);
	applied_free(&a);
	CHECK(a.n == 0 && a.c == NULL);
	applied_free(&a);		/* twice is harmless */
	CHECK(a.n == 0 && a.c == NULL);
	CHECK(applied_has(&a, 1, 1) == APPLIED_NO);
	applied_add(&a, 1, 1);		/* usable again */
	CHECK(applied_has(&a, 1, 1) == APPLIED_YES);
	applied_free(&a);
}

int
main(void)
{
	RUN(test_empty);
	RUN(test_add);
	RUN(test_clients_apart);
	RUN(test_ring);
	RUN(test_clients_lru);
	RUN(test_free);
	return UNIT_DONE();
}
