/* Hash values are a stable format: these constants were computed once and are frozen. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ps/hash.h"
#include "unit.h"

static uint64_t
name(const char *s)
{
	return hash_name(s, strlen(s));
}

static void
test_name_pinned(void)
{
	/* XXH3-64 of "" with seed 0 is the published 0x2d06800538d394c2. */
	CHECK(name("") == UINT64_C(0x2d06800538d394c2));
	CHECK(name("a") == UINT64_C(0xe6c632b61e964e1f));
	CHECK(name("hello") == UINT64_C(0x9555e8555c62dcfd));
	CHECK(name("w_free") == UINT64_C(0x6556bd04a779ad3d));
	CHECK(name("68fd1e64") == UINT64_C(0x00b0431058060b4d));
	CHECK(name("the quick brown fox jumps over the lazy dog, twice over") ==
	    UINT64_C(0x5a4c1b3ada804b0c));
}

static void
test_name_bytes(void)
{
	const char	buf[] = "hello world";

	/* Only len bytes count: no NUL needed, nothing past len read. */
	CHECK(hash_name(buf, 5) == name("hello"));
	CHECK(hash_name(buf, 0) == name(""));
	CHECK(name("hello") != name("Hello"));
	CHECK(name("ab") != name("ba"));
	/* An embedded NUL is just a byte. */
	CHECK(hash_name("a\0b", 3) != hash_name("a\0c", 3));
	CHECK(hash_name("a\0b", 3) != name("a"));
}

static void
test_key_pinned(void)
{
	CHECK(hash_key(0) == UINT64_C(0xc77b3abb6f87acd9));
	CHECK(hash_key(1) == UINT64_C(0x2fbc593564db792e));
	CHECK(hash_key(2) == UINT64_C(0x2086c65c91eee243));
	CHECK(hash_key(16383) == UINT64_C(0x855cd0192ddd78fd));
	CHECK(hash_key(1000000) == UINT64_C(0x2c27ac0713086960));
	CHECK(hash_key(UINT64_MAX) == UINT64_C(0x5111c7e47d784413));
	CHECK(hash_key(UINT64_C(0x0123456789abcdef)) == UINT64_C(0xb78df414284277a6));
}

static void
test_key_is_le_bytes(void)
{
	const char	one[8] = { 1, 0, 0, 0, 0, 0, 0, 0 };
	const char	big[8] = { (char)0xef, (char)0xcd, (char)0xab, (char)0x89,
			    0x67, 0x45, 0x23, 0x01 };

	CHECK(hash_key(1) == hash_name(one, 8));
	CHECK(hash_key(UINT64_C(0x0123456789abcdef)) == hash_name(big, 8));
	CHECK(hash_key(0) == hash_name("\0\0\0\0\0\0\0\0", 8));
}

static void
test_key_spread(void)
{
	enum { SLOTS = 16384, KEYS = 1000000 };
	unsigned	*count;
	unsigned	 max, min, i;
	double		 mean = (double)KEYS / SLOTS;
	int		 distinct;

	count = calloc(SLOTS, sizeof *count);
	CHECK(count != NULL);
	if (count == NULL)
		return;
	for (i = 0; i < KEYS; i++)
		count[hash_key(i) % SLOTS]++;
	max = 0;
	min = KEYS;
	for (i = 0; i < SLOTS; i++) {
		if (count[i] > max)
			max = count[i];
		if (count[i] < min)
			min = count[i];
	}
	CHECK(max <= 2 * mean);
	CHECK(min >= mean / 2);

	/* The first 16384 keys fill most slots, as random placement would (~63%). */
	memset(count, 0, SLOTS * sizeof *count);
	for (i = 0; i < SLOTS; i++)
		count[hash_key(i) % SLOTS]++;
	distinct = 0;
	max = 0;
	for (i = 0; i < SLOTS; i++) {
		distinct += count[i] != 0;
		if (count[i] > max)
			max = count[i];
	}
	CHECK(distinct > SLOTS * 6 / 10);
	CHECK(max <= 12);
	free(count);
}

int
main(void)
{
	RUN(test_name_pinned);
	RUN(test_name_bytes);
	RUN(test_key_pinned);
	RUN(test_key_is_le_bytes);
	RUN(test_key_spread);
	return UNIT_DONE();
}
