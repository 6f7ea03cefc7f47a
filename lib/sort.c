/* One radix sort for the keys of a mini-batch, the scores of an evaluation and the
 * keys of a benchmark: linear time, where qsort pays a comparison call per step. */
#include <string.h>

#include "ps/sort.h"

uint64_t *
sort_u64(uint64_t *a, uint64_t *tmp, size_t n)
{
	size_t		 count[8][256], at, c, i;
	uint64_t	*swap;
	int		 pass, shift;

	if (n < 2)
		return a;
	/* One read of the data counts all eight bytes. */
	memset(count, 0, sizeof count);
	for (i = 0; i < n; i++)
		for (pass = 0; pass < 8; pass++)
			count[pass][(a[i] >> (8 * pass)) & 0xff]++;
	for (pass = 0; pass < 8; pass++) {
		shift = 8 * pass;
		if (count[pass][(a[0] >> shift) & 0xff] == n)
			continue;	/* every key has the same byte here */
		for (c = 0, at = 0; c < 256; c++) {
			i = count[pass][c];
			count[pass][c] = at;
			at += i;
		}
		for (i = 0; i < n; i++)
			tmp[count[pass][(a[i] >> shift) & 0xff]++] = a[i];
		swap = a;
		a = tmp;
		tmp = swap;
	}
	return a;
}

size_t
sort_u64_unique(uint64_t *a, uint64_t *tmp, size_t n)
{
	uint64_t	*s = sort_u64(a, tmp, n);
	size_t		 i, out = 0;

	for (i = 0; i < n; i++)
		if (out == 0 || s[i] != a[out - 1])
			a[out++] = s[i];
	return out;
}
