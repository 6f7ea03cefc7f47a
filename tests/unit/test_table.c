/* The open-addressing table: insert, find, growth, zeroed blocks, iteration. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ps/table.h"
#include "unit.h"

#define NKEYS	1000000

/* A bijection on uint64 (splitmix64's finalizer), so distinct i give distinct keys. */
static uint64_t
test_key(uint64_t i)
{
	i = (i ^ (i >> 30)) * 0xbf58476d1ce4e5b9ULL;
	i = (i ^ (i >> 27)) * 0x94d049bb133111ebULL;
	return i ^ (i >> 31);
}

/* Check the table's shape: power-of-two capacity, load within bounds, bytes. */
static void
check_shape(const struct ps_table *t)
{
	CHECK(t->cap != 0 && (t->cap & (t->cap - 1)) == 0);
	CHECK(t->count * 10 <= t->cap * 7);
	CHECK(table_bytes(t) == t->cap * (8 + 4 * (size_t)t->width + 1));
}

static void
test_empty(void)
{
	struct ps_table	 t;
	size_t		 it = 0;
	uint64_t	 key;
	float		*v;

	table_init(&t, 2);
	CHECK(t.count == 0 && t.cap == 0 && t.width == 2);
	CHECK(table_find(&t, 0) == NULL);
	CHECK(table_find(&t, 42) == NULL);
	table_prefetch(&t, 42);		/* harmless on an empty table */
	CHECK(table_next(&t, &it, &key, &v) == 0);
	CHECK(table_bytes(&t) == 0);
	table_free(&t);
	table_free(&t);		/* twice is harmless */
	CHECK(t.width == 2 && t.cap == 0);
}

static void
test_basic(void)
{
	struct ps_table	 t;
	float		*v, *v2;
	int		 created = -1;

	table_init(&t, 3);
	v = table_insert(&t, 7, &created);
	CHECK(v != NULL && created == 1);
	CHECK(v[0] == 0 && v[1] == 0 && v[2] == 0);
	v[0] = 1;
	v[1] = 2;
	v[2] = 3;
	CHECK(t.count == 1);
	check_shape(&t);

	created = -1;
	v2 = table_insert(&t, 7, &created);
	CHECK(v2 == v && created == 0);
	CHECK(table_find(&t, 7) == v);
	CHECK(table_find(&t, 8) == NULL);
	CHECK(t.count == 1);

	/* created may be NULL. */
	v = table_insert(&t, 0, NULL);
	CHECK(v != NULL && v[0] == 0 && v[1] == 0 && v[2] == 0);
	v[1] = 5;
	v = table_insert(&t, UINT64_MAX, NULL);
	CHECK(v != NULL && v[0] == 0 && v[1] == 0 && v[2] == 0);
	v[2] = 6;
	CHECK(t.count == 3);
	CHECK(table_find(&t, 0) != NULL && table_find(&t, 0)[1] == 5);
	CHECK(table_find(&t, UINT64_MAX) != NULL && table_find(&t, UINT64_MAX)[2] == 6);
	CHECK(table_find(&t, 7)[2] == 3);
	table_free(&t);
	CHECK(t.count == 0 && table_find(&t, 7) == NULL);
}

/*
 * 1e6 keys through many doublings, width 2: small consecutive keys (0, 1, 2, ...), scattered
 * 64-bit keys, UINT64_MAX and keys that differ only in their high bits. Each block holds its
 * key's fingerprint; every key must keep its block across every rehash.
 */
static void
test_many(void)
{
	struct ps_table	 t;
	float		*v;
	uint64_t	 i, key, nfail, ncreated;
	size_t		 caps = 0, last_cap = 0;
	int		 created;

	table_init(&t, 2);
	nfail = ncreated = 0;
	for (i = 0; i < NKEYS; i++) {
		if (i < NKEYS / 4)
			key = i;			/* 0, 1, 2, ... */
		else if (i < NKEYS / 4 + 4096)
			key = (i - NKEYS / 4 + 1) << 48;	/* high bits only */
		else if (i == NKEYS - 1)
			key = UINT64_MAX;
		else
			key = test_key(i) | (1ULL << 63);	/* disjoint from the others */
		v = table_insert(&t, key, &created);
		if (!created || v[0] != 0 || v[1] != 0)
			nfail++;
		ncreated += created;
		v[0] = (float)(key & 0xffff);
		v[1] = (float)(key >> 48);
		if (t.cap != last_cap) {
			caps++;
			last_cap = t.cap;
		}
	}
	CHECK(nfail == 0);
	CHECK(ncreated == NKEYS);
	CHECK(t.count == NKEYS);
	CHECK(caps >= 15);		/* 16 -> 2^21: many rehashes */
	check_shape(&t);

	/* Every key is found with its own block; inserting it again creates nothing. */
	nfail = 0;
	for (i = 0; i < NKEYS; i++) {
		if (i < NKEYS / 4)
			key = i;
		else if (i < NKEYS / 4 + 4096)
			key = (i - NKEYS / 4 + 1) << 48;
		else if (i == NKEYS - 1)
			key = UINT64_MAX;
		else
			key = test_key(i) | (1ULL << 63);
		table_prefetch(&t, key ^ 1);	/* a hint only, present key or not */
		v = table_find(&t, key);
		if (v == NULL || v[0] != (float)(key & 0xffff) ||
		    v[1] != (float)(key >> 48)) {
			nfail++;
			continue;
		}
		if (table_insert(&t, key, &created) != v || created)
			nfail++;
	}
	CHECK(nfail == 0);
	CHECK(t.count == NKEYS);
	CHECK(table_find(&t, 0) != NULL);
	CHECK(table_find(&t, UINT64_MAX) != NULL);

	/* Keys never inserted are absent. */
	nfail = 0;
	for (i = NKEYS / 4; i < NKEYS / 2; i++) {
		if (table_find(&t, i) != NULL)		/* past the consecutive run */
			nfail++;
		if (table_find(&t, test_key(i) & ~(1ULL << 63)) != NULL)
			nfail++;
	}
	CHECK(nfail == 0);
	CHECK(table_find(&t, UINT64_MAX - 1) == NULL);
	table_free(&t);
}

/* New blocks are zero even after growth moved everything, at every width. */
static void
test_zeroed(void)
{
	struct ps_table	 t;
	float		*v;
	uint32_t	 width, j;
	uint64_t	 i, nfail;
	int		 created;

	for (width = 1; width <= 9; width += 4) {
		table_init(&t, width);
		nfail = 0;
		for (i = 0; i < 50000; i++) {
			v = table_insert(&t, test_key(i), &created);
			if (!created)
				nfail++;
			for (j = 0; j < width; j++) {
				if (v[j] != 0)
					nfail++;
				v[j] = -1.0f - (float)j;	/* dirty it */
			}
		}
		CHECK(nfail == 0);
		for (i = 0; i < 50000; i++) {
			v = table_find(&t, test_key(i));
			for (j = 0; j < width && v != NULL; j++) {
				if (v[j] != -1.0f - (float)j)
					nfail++;
			}
			if (v == NULL)
				nfail++;
		}
		CHECK(nfail == 0);
		check_shape(&t);
		table_free(&t);
	}
}

/* Iteration visits every key exactly once and hands out the key's own block. */
static void
test_iterate(void)
{
	struct ps_table	 t;
	float		*v;
	uint64_t	 i, key, n, nfail;
	size_t		 it;

	table_init(&t, 2);
	for (i = 0; i < NKEYS; i++) {
		v = table_insert(&t, i == 0 ? UINT64_MAX : test_key(i), NULL);
		v[0] = (float)i;
	}
	/* Key 0 too: test_key(0) is 0. */
	v = table_insert(&t, test_key(0), NULL);
	v[0] = -1;
	CHECK(t.count == NKEYS + 1);

	n = nfail = 0;
	it = 0;
	while (table_next(&t, &it, &key, &v)) {
		n++;
		if (v != table_find(&t, key))
			nfail++;
		v[1] += 1;		/* visit count */
	}
	CHECK(n == NKEYS + 1);
	CHECK(nfail == 0);
	CHECK(table_next(&t, &it, &key, &v) == 0);	/* stays finished */

	nfail = 0;
	for (i = 0; i < NKEYS; i++) {
		v = table_find(&t, i == 0 ? UINT64_MAX : test_key(i));
		if (v == NULL || v[0] != (float)i || v[1] != 1)
			nfail++;
	}
	CHECK(nfail == 0);
	v = table_find(&t, 0);
	CHECK(v != NULL && v[0] == -1 && v[1] == 1);

	/* NULL key and vals are allowed. */
	n = 0;
	it = 0;
	while (table_next(&t, &it, NULL, NULL))
		n++;
	CHECK(n == NKEYS + 1);
	table_free(&t);
}

/* Memory per key at 1e6 keys of width 2 (LR + FTRL: z, n). */
static void
test_bytes(void)
{
	struct ps_table	t;
	uint64_t	i;

	table_init(&t, 2);
	for (i = 0; i < NKEYS; i++)
		table_insert(&t, test_key(i), NULL);
	check_shape(&t);
	/* 1e6 keys need 1e6 / 0.7 slots: 2^21; 17 bytes each. */
	CHECK(t.cap == 1 << 21);
	CHECK(table_bytes(&t) == (size_t)17 << 21);
	printf("  width 2, %u keys: %zu slots, %.1f bytes/key\n", NKEYS, t.cap,
	    (double)table_bytes(&t) / (double)t.count);
	table_free(&t);
}

int
main(void)
{
	RUN(test_empty);
	RUN(test_basic);
	RUN(test_many);
	RUN(test_zeroed);
	RUN(test_iterate);
	RUN(test_bytes);
	return UNIT_DONE();
}
