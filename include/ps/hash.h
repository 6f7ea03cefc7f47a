/* Stable 64-bit hashes: both are XXH3-64 (libxxhash, seed 0) and will never change,
 * since models and data files depend on them. */
#ifndef PS_HASH_H
#define PS_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Key of a non-integer feature name ("w_free", a Criteo hex string): XXH3-64 of its bytes. */
uint64_t hash_name(const char *name, size_t len);

/* Mixes a key before it picks a slot, so small consecutive indices spread evenly:
 * XXH3-64 of the key's 8 little-endian bytes. */
uint64_t hash_key(uint64_t key);

#endif
