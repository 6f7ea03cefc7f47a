/*
 * Stable 64-bit hashes of feature names and keys.
 *
 * These values are a stable format: models, checkpoints and data files store keys made by
 * hash_name and place them by hash_key, so both must stay XXH3-64 with seed 0 of exactly the
 * bytes described below. Never change them; tests/unit/test_hash.c pins known values.
 */
#include <stddef.h>
#include <stdint.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ps/hash.h"

uint64_t
hash_name(const char *name, size_t len)
{
	return XXH3_64bits(name, len);
}

uint64_t
hash_key(uint64_t key)
{
	unsigned char	b[8];

	/*
	 * The key's 8 bytes, least significant first, whatever the host's byte order; the
	 * compiler merges these stores into one on little-endian hosts.
	 */
	b[0] = (unsigned char)key;
	b[1] = (unsigned char)(key >> 8);
	b[2] = (unsigned char)(key >> 16);
	b[3] = (unsigned char)(key >> 24);
	b[4] = (unsigned char)(key >> 32);
	b[5] = (unsigned char)(key >> 40);
	b[6] = (unsigned char)(key >> 48);
	b[7] = (unsigned char)(key >> 56);
	return XXH3_64bits(b, sizeof b);
}
