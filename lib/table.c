/*
 * Open-addressing hash table: uint64 key -> a fixed-width block of floats.
 *
 * Three flat arrays of cap slots (keys, vals, used), cap a power of two, linear probing.
 * The probe starts at the high bits of the key times a 64-bit odd constant (Fibonacci
 * hashing) after folding the high half of the key into the low half: callers pass keys that
 * are already hashed as well as small consecutive feature indices, and both must spread.
 * The table doubles when an insert would take it past a load factor of 0.7, so a lookup
 * probes few slots; that costs memory, as the table holds between 0.35 and 0.7 keys per
 * slot. There is no deletion, so a probe stops at the first unused slot.
 *
 * A lookup in a large table costs a cache miss or two (used, keys, vals); table_prefetch
 * lets a caller walking a batch of keys start those misses some keys ahead.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ps/table.h"
#include "ps/xmalloc.h"

#define TABLE_MIN_CAP	16

/* Grow when count would pass cap * 7/10. */
#define TABLE_FULL(count, cap)	((count) * 10 > (cap) * 7)

static inline size_t
table_slot(uint64_t key, size_t cap)
{
	uint64_t	h;

	h = key ^ (key >> 32);
	h *= 0x9e3779b97f4a7c15ULL;
	/* cap is a power of two of at least TABLE_MIN_CAP, so the shift is below 64. */
	return (size_t)(h >> (64 - __builtin_ctzll(cap)));
}

static void
table_alloc(struct ps_table *t, size_t cap)
{
	t->cap = cap;
	t->keys = xreallocarray(NULL, cap, sizeof *t->keys);
	t->vals = xcalloc(cap, (size_t)t->width * sizeof *t->vals);
	t->used = xcalloc(cap, sizeof *t->used);
}

static void
table_grow(struct ps_table *t)
{
	struct ps_table	 old = *t;
	size_t		 i, j, mask, bsz;

	if (old.cap == 0) {
		table_alloc(t, TABLE_MIN_CAP);
		return;
	}
	if (old.cap > SIZE_MAX / 2)
		fatalx("table: too many keys (%zu)", old.count);
	table_alloc(t, old.cap * 2);

	mask = t->cap - 1;
	bsz = (size_t)t->width * sizeof *t->vals;
	for (i = 0; i < old.cap; i++) {
		if (!old.used[i])
			continue;
		j = table_slot(old.keys[i], t->cap);
		while (t->used[j])
			j = (j + 1) & mask;
		t->keys[j] = old.keys[i];
		t->used[j] = 1;
		if (bsz != 0)
			memcpy(t->vals + j * t->width, old.vals + i * old.width, bsz);
	}
	free(old.keys);
	free(old.vals);
	free(old.used);
}

void
table_init(struct ps_table *t, uint32_t width)
{
	memset(t, 0, sizeof *t);
	t->width = width;
}

void
table_free(struct ps_table *t)
{
	free(t->keys);
	free(t->vals);
	free(t->used);
	table_init(t, t->width);
}

float *
table_find(const struct ps_table *t, uint64_t key)
{
	size_t	i, mask;

	if (t->cap == 0)
		return NULL;
	mask = t->cap - 1;
	for (i = table_slot(key, t->cap); t->used[i]; i = (i + 1) & mask) {
		if (t->keys[i] == key)
			return t->vals + i * t->width;
	}
	return NULL;
}

void
table_prefetch(const struct ps_table *t, uint64_t key)
{
	size_t	i;

	if (t->cap == 0)
		return;
	i = table_slot(key, t->cap);
	__builtin_prefetch(&t->used[i]);
	__builtin_prefetch(&t->keys[i]);
	__builtin_prefetch(&t->vals[i * t->width], 1);
}

float *
table_insert(struct ps_table *t, uint64_t key, int *created)
{
	size_t	i, mask;

	if (t->cap != 0) {
		mask = t->cap - 1;
		for (i = table_slot(key, t->cap); t->used[i]; i = (i + 1) & mask) {
			if (t->keys[i] == key) {
				if (created != NULL)
					*created = 0;
				return t->vals + i * t->width;
			}
		}
		if (!TABLE_FULL(t->count + 1, t->cap))
			goto place;
	}

	/* A new key that would overfill the table: grow and find its free slot again. */
	table_grow(t);
	mask = t->cap - 1;
	for (i = table_slot(key, t->cap); t->used[i]; i = (i + 1) & mask)
		;

place:
	/* The slot was never used, so its block is still zero from calloc. */
	t->keys[i] = key;
	t->used[i] = 1;
	t->count++;
	if (created != NULL)
		*created = 1;
	return t->vals + i * t->width;
}

int
table_next(const struct ps_table *t, size_t *it, uint64_t *key, float **vals)
{
	size_t	i;

	for (i = *it; i < t->cap; i++) {
		if (t->used[i]) {
			*it = i + 1;
			if (key != NULL)
				*key = t->keys[i];
			if (vals != NULL)
				*vals = t->vals + i * t->width;
			return 1;
		}
	}
	*it = t->cap;
	return 0;
}

size_t
table_bytes(const struct ps_table *t)
{
	return t->cap * (sizeof *t->keys + (size_t)t->width * sizeof *t->vals +
	    sizeof *t->used);
}
