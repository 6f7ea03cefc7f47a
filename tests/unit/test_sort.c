/* lib/sort.c: the radix sort against qsort, and the dedupe. */
#include <stdint.h>
#include <stdlib.h>

#include "ps/sort.h"
#include "unit.h"

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static uint64_t
next(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Sort n keys made by gen and compare with qsort's order. */
static void
check_against_qsort(size_t n, uint64_t mask, uint64_t seed)
{
	uint64_t *a = malloc(n * sizeof *a), *tmp = malloc(n * sizeof *tmp);
	uint64_t *want = malloc(n * sizeof *want), *got;
	size_t i, bad = 0;

	for (i = 0; i < n; i++)
		a[i] = want[i] = next(&seed) & mask;
	qsort(want, n, sizeof *want, cmp_u64);
	got = sort_u64(a, tmp, n);
	CHECK(got == a || got == tmp);
	for (i = 0; i < n; i++)
		bad += got[i] != want[i];
	CHECK(bad == 0);
	free(a);
	free(tmp);
	free(want);
}

static void
test_sort(void)
{
	uint64_t one = 7, tmp[1];

	CHECK(sort_u64(&one, tmp, 1) == &one && one == 7);
	CHECK(sort_u64(NULL, NULL, 0) == NULL);
	check_against_qsort(1000, UINT64_MAX, 1);	/* every byte differs */
	check_against_qsort(100000, UINT64_MAX, 2);
	check_against_qsort(5000, 0xff, 3);		/* one byte: seven passes skipped */
	check_against_qsort(5000, 0xffff00000000ULL, 4);	/* bytes in the middle */
	check_against_qsort(5000, 0, 5);		/* all equal */
}

static void
test_unique(void)
{
	uint64_t a[] = { 5, 1, 5, UINT64_MAX, 0, 1, 0, UINT64_MAX, 3 }, tmp[9];
	uint64_t want[] = { 0, 1, 3, 5, UINT64_MAX };
	size_t n = sort_u64_unique(a, tmp, 9), i;

	CHECK(n == 5);
	for (i = 0; i < 5 && i < n; i++)
		CHECK(a[i] == want[i]);
	CHECK(sort_u64_unique(a, tmp, 0) == 0);
}

int
main(void)
{
	printf("test_sort\n");
	RUN(test_sort);
	RUN(test_unique);
	return UNIT_DONE();
}
