/* Sorting 64-bit keys: an LSD radix sort, a byte a pass, that skips the bytes every
 * key shares (small indices, or scores packed in the high half). Pure, no I/O. */
#ifndef PS_SORT_H
#define PS_SORT_H

#include <stddef.h>
#include <stdint.h>

/* Sort a[0..n) ascending, using tmp[0..n) as scratch. Returns a or tmp, whichever
 * holds the result. */
uint64_t	*sort_u64(uint64_t *a, uint64_t *tmp, size_t n);
/* Sort a[0..n) ascending and drop repeats; the result is in a. Returns its length. */
size_t		 sort_u64_unique(uint64_t *a, uint64_t *tmp, size_t n);

#endif
