/* The worker's example cache (lib/cache.c): exact round trips, blocks by count and by
 * size, file order and seeded shuffles, several passes, the temporary cache, and the
 * refusals: truncation, foreign files, other versions, flipped bytes. */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ps/cache.h"
#include "ps/libsvm.h"
#include "ps/xmalloc.h"
#include "unit.h"

#define NBIG	(3 * PS_CACHE_BLOCK_EXAMPLES + 1234)	/* 4 blocks */

static char tmpdir[] = "/tmp/test_cache.XXXXXX";
static int npath;

static const char *truncated =
    ": truncated ps-worker cache (no end record): delete it to write it again";

static char *
tmp_path(const char *what)
{
	char *p;

	xasprintf(&p, "%s/%d-%s", tmpdir, npath++, what);
	return p;
}

static uint64_t
test_mix(uint64_t i)
{
	i += 0x9e3779b97f4a7c15ULL;
	i = (i ^ (i >> 30)) * 0xbf58476d1ce4e5b9ULL;
	i = (i ^ (i >> 27)) * 0x94d049bb133111ebULL;
	return i ^ (i >> 31);
}

static float
bits_f32(uint32_t bits)
{
	float f;

	memcpy(&f, &bits, 4);
	return f;
}

static void
grow(struct ps_example *ex, size_t n)
{
	if (ex->cap >= n)
		return;
	ex->keys = xreallocarray(ex->keys, n, sizeof *ex->keys);
	ex->vals = xreallocarray(ex->vals, n, sizeof *ex->vals);
	ex->cap = n;
}

/*
 * Example i: no features every 17th, else up to 23; keys of any 64 bits (0 and
 * UINT64_MAX among them), values and labels of any 32 bits (NaNs, infinities, -0,
 * denormals): compared as bytes. nfeat > 0 forces that many features.
 */
static void
make_example(uint64_t i, size_t nfeat, struct ps_example *ex)
{
	static const uint32_t labels[] = {
		0x3f800000, 0x00000000, 0xbf800000, 0x3e800000, 0xd0826299, 0x7fc00001,
		0x80000000, 0x00000001, 0x7f800000,
	};
	size_t j, n;

	n = nfeat > 0 ? nfeat : i % 17 == 0 ? 0 : test_mix(i) % 24;
	grow(ex, n);
	ex->nfeat = n;
	ex->label = bits_f32(i % 3 == 0 ? labels[i / 3 % 9] : (uint32_t)test_mix(~i));
	for (j = 0; j < n; j++) {
		ex->keys[j] = test_mix(i * 1000003 + j);
		ex->vals[j] = bits_f32((uint32_t)(test_mix(i * 7919 + j) >> 16));
	}
	if (n > 2) {
		ex->keys[0] = UINT64_MAX;
		ex->keys[1] = 0;
	}
}

/* The line number of example i: not i, so that the two are told apart. */
static uint64_t
line_of(uint64_t i)
{
	return 3 * i + 1 + (i > 100 ? UINT64_C(1) << 40 : 0);
}

static uint64_t
index_of(uint64_t line)
{
	if (line >= UINT64_C(1) << 40)
		line -= UINT64_C(1) << 40;
	return (line - 1) / 3;
}

static int
same_example(const struct ps_example *a, const struct ps_example *b)
{
	return memcmp(&a->label, &b->label, 4) == 0 && a->nfeat == b->nfeat &&
	    (a->nfeat == 0 || (memcmp(a->keys, b->keys, a->nfeat * 8) == 0 &&
	    memcmp(a->vals, b->vals, a->nfeat * 4) == 0));
}

/* A sealed cache of n examples at path (NULL: temporary), left open. */
static struct ps_cache *
write_cache(const char *path, uint64_t n)
{
	struct ps_cache *c;
	struct ps_example ex;
	char *cause = NULL;
	uint64_t i;

	example_init(&ex);
	c = cache_create(path, &cause);
	CHECK(c != NULL);
	if (c == NULL) {
		fprintf(stderr, "%s\n", cause);
		exit(1);
	}
	for (i = 0; i < n; i++) {
		make_example(i, 0, &ex);
		CHECK(cache_append(c, &ex, line_of(i), &cause) == 0);
	}
	CHECK(cache_examples(c) == n);
	CHECK(cache_seal(c, &cause) == 0);
	example_free(&ex);
	return c;
}

/* One pass with seed: every example checked against its line; the lines in *out. */
static uint64_t
read_pass(struct ps_cache *c, uint64_t seed, uint64_t *out, uint64_t max)
{
	struct ps_example ex, want;
	char *cause = NULL;
	uint64_t n = 0, line;
	int rv, bad = 0;

	example_init(&ex);
	example_init(&want);
	CHECK(cache_pass(c, seed, &cause) == 0);
	while ((rv = cache_next(c, &ex, &line, &cause)) == 1) {
		make_example(index_of(line), 0, &want);
		if (!same_example(&ex, &want))
			bad++;
		if (n < max)
			out[n] = line;
		n++;
	}
	CHECK(rv == 0);
	CHECK(bad == 0);
	CHECK(cache_next(c, &ex, &line, &cause) == 0);	/* still the end */
	example_free(&ex);
	example_free(&want);
	return n;
}

/* Every example of n once, in file order. */
static void
check_file_order(struct ps_cache *c, uint64_t n)
{
	uint64_t *lines = xcalloc(n + 1, sizeof *lines), i;
	int bad = 0;

	CHECK(read_pass(c, 0, lines, n) == n);
	for (i = 0; i < n; i++)
		if (lines[i] != line_of(i))
			bad++;
	CHECK(bad == 0);
	free(lines);
}

static void
test_round_trip(void)
{
	char *path = tmp_path("round.cache");
	struct ps_cache *c = write_cache(path, NBIG);
	char *cause = NULL;

	CHECK(cache_blocks(c) == 4);
	CHECK(cache_examples(c) == NBIG);
	CHECK_STR(cache_path(c), path);
	check_file_order(c, NBIG);
	check_file_order(c, NBIG);	/* several passes in a row */
	cache_close(c);

	/* The next job's: opened, no parsing. */
	c = cache_open(path, &cause);
	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK(cache_blocks(c) == 4);
	CHECK(cache_examples(c) == NBIG);
	check_file_order(c, NBIG);
	check_file_order(c, NBIG);
	cache_close(c);
	free(path);
}

static void
test_block_sizes(void)
{
	/* 0: small; else that many features (12 bytes each). */
	static const size_t feats[] = {
		0, 0, 0, 100000, 0, 0, 100000, 100000, 0,	/* 1.2 MB: a block alone */
		30000, 30000, 30000, 30000, 30000,		/* 360 KB: two a block */
	};
	size_t n = sizeof feats / sizeof feats[0], i;
	char *path = tmp_path("sizes.cache"), *cause = NULL;
	struct ps_cache *c;
	struct ps_example ex, got;
	uint64_t line;

	example_init(&ex);
	example_init(&got);
	c = cache_create(path, &cause);
	CHECK(c != NULL);
	if (c == NULL)
		return;
	for (i = 0; i < n; i++) {
		make_example(i, feats[i], &ex);
		CHECK(cache_append(c, &ex, i, &cause) == 0);
	}
	CHECK(cache_seal(c, &cause) == 0);
	/* [3 small] [big] [2 small] [big] [big] [small, 30000] [30000 x2] [30000 x2] */
	CHECK(cache_blocks(c) == 8);
	cache_close(c);

	c = cache_open(path, &cause);
	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK(cache_blocks(c) == 8);
	CHECK(cache_pass(c, 0, &cause) == 0);
	for (i = 0; i < n; i++) {
		CHECK(cache_next(c, &got, &line, &cause) == 1);
		make_example(i, feats[i], &ex);
		CHECK(line == i);
		CHECK(same_example(&got, &ex));
	}
	CHECK(cache_next(c, &got, &line, &cause) == 0);
	cache_close(c);
	example_free(&ex);
	example_free(&got);
	free(path);
}

static void
test_shuffle(void)
{
	char *path = tmp_path("shuffle.cache");
	struct ps_cache *c = write_cache(path, NBIG);
	uint64_t *a = xcalloc(NBIG, sizeof *a), *b = xcalloc(NBIG, sizeof *b), i, k;
	uint64_t blk, first;
	unsigned char *seen = xcalloc(NBIG, 1);
	char *cause = NULL;
	int bad = 0, moved = 0, inner = 0;

	CHECK(read_pass(c, 42, a, NBIG) == NBIG);
	for (i = 0; i < NBIG; i++) {
		k = index_of(a[i]);
		if (k >= NBIG || seen[k]++)
			bad++;
		if (k != i)
			moved++;
	}
	CHECK(bad == 0);		/* each example exactly once */
	CHECK(moved > NBIG / 2);

	/* Whole blocks one after the other, each shuffled inside. */
	for (i = 0; i < NBIG; ) {
		blk = index_of(a[i]) / PS_CACHE_BLOCK_EXAMPLES;
		first = i;
		for (; i < NBIG && index_of(a[i]) / PS_CACHE_BLOCK_EXAMPLES == blk; i++)
			if (index_of(a[i]) != blk * PS_CACHE_BLOCK_EXAMPLES + (i - first))
				inner++;
		CHECK(i - first == (blk == 3 ? 1234 : PS_CACHE_BLOCK_EXAMPLES));
	}
	CHECK(inner > NBIG / 2);

	/* The same seed, the same order; again after another seed. */
	CHECK(read_pass(c, 42, b, NBIG) == NBIG);
	CHECK(memcmp(a, b, NBIG * sizeof *a) == 0);
	CHECK(read_pass(c, 43, b, NBIG) == NBIG);
	CHECK(memcmp(a, b, NBIG * sizeof *a) != 0);
	CHECK(read_pass(c, 0, b, NBIG) == NBIG);
	CHECK(memcmp(a, b, NBIG * sizeof *a) != 0);
	cache_close(c);

	/* Another process, another machine: the same order from the file. */
	c = cache_open(path, &cause);
	CHECK(c != NULL);
	if (c != NULL) {
		CHECK(read_pass(c, 42, b, NBIG) == NBIG);
		CHECK(memcmp(a, b, NBIG * sizeof *a) == 0);
		cache_close(c);
	}
	/*
	 * The shuffle is described in lib/cache.c, so that any machine gives the same
	 * order: pinned (computed again from that description alone). Seed 42 orders the
	 * blocks 2 0 3 1.
	 */
	CHECK(index_of(a[0]) == 10359);
	CHECK(index_of(a[1]) == 9485);
	CHECK(index_of(a[4096]) == 473);
	CHECK(index_of(a[2 * 4096]) / PS_CACHE_BLOCK_EXAMPLES == 3);
	CHECK(index_of(a[NBIG - 1]) == 7083);
	free(path);
	free(a);
	free(b);
	free(seen);
}

static void
test_temporary(void)
{
	char *dir = tmp_path("tmpdir"), *cause = NULL;
	struct ps_cache *c;
	struct dirent *de;
	DIR *d;
	int entries = 0;

	CHECK(mkdir(dir, 0755) == 0);
	setenv("TMPDIR", dir, 1);
	c = write_cache(NULL, 5000);
	CHECK_STR(cache_path(c), "a temporary file");
	CHECK(cache_blocks(c) == 2);
	/* Unlinked at once: nothing left to clean up. */
	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
				entries++;
		closedir(d);
	}
	CHECK(entries == 0);
	check_file_order(c, 5000);
	check_file_order(c, 5000);
	cache_close(c);

	/* A TMPDIR that is not there: named. */
	setenv("TMPDIR", "/nonexistent", 1);
	CHECK(cache_create(NULL, &cause) == NULL);
	CHECK_CONTAINS(cause, "/nonexistent/");
	CHECK_CONTAINS(cause, ": No such file or directory");
	free(cause);
	unsetenv("TMPDIR");
	free(dir);
}

static void
test_empty_and_misuse(void)
{
	char *path = tmp_path("empty.cache"), *cause = NULL;
	struct ps_cache *c;
	struct ps_example ex;
	uint64_t line;

	example_init(&ex);
	c = cache_create(path, &cause);
	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK(cache_pass(c, 0, &cause) == -1);
	CHECK_CONTAINS(cause, ": not sealed");
	free(cause);
	CHECK(cache_next(c, &ex, &line, &cause) == -1);
	free(cause);
	CHECK(cache_seal(c, &cause) == 0);
	CHECK(cache_blocks(c) == 0);
	CHECK(cache_next(c, &ex, &line, &cause) == -1);	/* no pass yet */
	CHECK_CONTAINS(cause, "no pass started");
	free(cause);
	CHECK(cache_pass(c, 7, &cause) == 0);
	CHECK(cache_next(c, &ex, &line, &cause) == 0);
	CHECK(cache_append(c, &ex, 1, &cause) == -1);
	CHECK_CONTAINS(cause, "sealed");
	free(cause);
	CHECK(cache_seal(c, &cause) == -1);
	free(cause);
	cache_close(c);

	c = cache_open(path, &cause);
	CHECK(c != NULL);
	if (c != NULL) {
		CHECK(cache_examples(c) == 0);
		CHECK(cache_blocks(c) == 0);
		CHECK(cache_pass(c, 0, &cause) == 0);
		CHECK(cache_next(c, &ex, &line, &cause) == 0);
		CHECK(cache_append(c, &ex, 1, &cause) == -1);
		free(cause);
		cache_close(c);
	}

	/* Creation and writing failures name the file. */
	CHECK(cache_create("/nonexistent/x.cache", &cause) == NULL);
	CHECK_STR(cause, "/nonexistent/x.cache: No such file or directory");
	free(cause);
	if (access("/dev/full", W_OK) == 0) {
		CHECK(cache_create("/dev/full", &cause) == NULL);
		CHECK_STR(cause, "/dev/full: write: No space left on device");
		free(cause);
	}
	example_free(&ex);
	free(path);
}

static unsigned char *
slurp(const char *path, size_t *len)
{
	struct stat sb;
	unsigned char *buf;
	int fd;

	*len = 0;
	if ((fd = open(path, O_RDONLY)) == -1 || fstat(fd, &sb) != 0)
		return NULL;
	buf = xmalloc((size_t)sb.st_size + 1);
	if (read(fd, buf, (size_t)sb.st_size) != sb.st_size) {
		close(fd);
		free(buf);
		return NULL;
	}
	close(fd);
	*len = (size_t)sb.st_size;
	return buf;
}

static void
spit(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	CHECK(fd != -1 && write(fd, buf, len) == (ssize_t)len);
	if (fd != -1)
		close(fd);
}

/* cache_open's cause for path, or NULL when it opens. */
static char *
open_cause(const char *path)
{
	struct ps_cache *c;
	char *cause = NULL;

	if ((c = cache_open(path, &cause)) != NULL) {
		cache_close(c);
		return NULL;
	}
	return cause;
}

static void
test_truncation(void)
{
	char *path = tmp_path("full.cache"), *cut = tmp_path("cut.cache"), *want, *cause;
	struct ps_cache *c = write_cache(path, PS_CACHE_BLOCK_EXAMPLES + 10);
	unsigned char *buf;
	size_t len, n;
	int fd, bad = 0, tried = 0;

	cache_close(c);
	buf = slurp(path, &len);
	CHECK(buf != NULL && len > 4096);
	if (buf == NULL)
		return;
	spit(cut, buf, len);
	CHECK(open_cause(cut) == NULL);
	xasprintf(&want, "%s%s", cut, truncated);

	/* Every length near the ends (header, end record, trailer), some in between. */
	fd = open(cut, O_WRONLY);
	for (n = len - 1; ; n--) {
		if (n < 64 || n > len - 400 || n % 997 == 0) {
			CHECK(ftruncate(fd, (off_t)n) == 0);
			cause = open_cause(cut);
			tried++;
			if (cause == NULL || strcmp(cause, want) != 0) {
				if (bad++ < 5)
					fprintf(stderr, "cut at %zu: %s\n", n,
					    cause ? cause : "opened");
			}
			free(cause);
		}
		if (n == 0)
			break;
	}
	close(fd);
	CHECK(bad == 0);
	CHECK(tried > 400);

	/* Something after the trailer: no trailer at the end. */
	spit(cut, buf, len);
	fd = open(cut, O_WRONLY | O_APPEND);
	CHECK(write(fd, "\n", 1) == 1);
	close(fd);
	cause = open_cause(cut);
	CHECK_STR(cause, want);
	free(cause);
	free(want);
	free(buf);
	free(path);
	free(cut);
}

static void
test_foreign(void)
{
	char *path = tmp_path("foreign"), *want, *cause;
	static const unsigned char ckpt[16] = { 0x89, 'P', 'S', 'C', 'K', 'P', 'T', '\n' };

	xasprintf(&want, "%s: not a ps-worker cache", path);
	spit(path, "1 3:1 5:0.5\n-1 2:1\n", 19);
	cause = open_cause(path);
	CHECK_STR(cause, want);
	free(cause);
	spit(path, "abc", 3);
	cause = open_cause(path);
	CHECK_STR(cause, want);
	free(cause);
	spit(path, ckpt, sizeof ckpt);
	cause = open_cause(path);
	CHECK_STR(cause, want);
	free(cause);
	spit(path, "PSCACHX\0\1\0\0\0\0\0\0\0", 16);
	cause = open_cause(path);
	CHECK_STR(cause, want);
	free(cause);
	free(want);

	cause = open_cause(tmpdir);
	CHECK_CONTAINS(cause, ": not a regular file");
	free(cause);
	cause = open_cause("/nonexistent.cache");
	CHECK_STR(cause, "/nonexistent.cache: No such file or directory");
	free(cause);
	free(path);
}

static void
test_version(void)
{
	char *path = tmp_path("version.cache"), *want, *cause;
	struct ps_cache *c = write_cache(path, 100);
	unsigned char *buf;
	size_t len;

	cache_close(c);
	buf = slurp(path, &len);
	if (buf == NULL)
		return;
	CHECK(buf[8] == PS_CACHE_VERSION && buf[9] == 0 && buf[10] == 0 && buf[11] == 0);
	buf[8] = 7;
	spit(path, buf, len);
	xasprintf(&want, "%s: a ps-worker cache of format version 7; this ps-worker reads "
	    "version 1: delete it to write it again", path);
	cause = open_cause(path);
	CHECK_STR(cause, want);
	free(cause);
	free(want);
	/* Read as little-endian, whatever the host. */
	buf[8] = 0;
	buf[11] = 1;
	spit(path, buf, 16);		/* a header alone: the version is told first */
	cause = open_cause(path);
	CHECK_CONTAINS(cause, "format version 16777216;");
	free(cause);
	free(buf);
	free(path);
}

/* The offset of block b's payload, walking the block headers. */
static size_t
block_payload(const unsigned char *buf, unsigned b)
{
	size_t off = 16;
	uint64_t bytes;
	unsigned i;

	for (i = 0; ; i++) {
		memcpy(&bytes, buf + off + 8, 8);	/* the test host is little-endian */
		if (i == b)
			return off + 24;
		off += 24 + (size_t)bytes;
	}
}

static void
test_checksum(void)
{
	char *path = tmp_path("flip.cache"), *want, *cause = NULL;
	struct ps_cache *c = write_cache(path, NBIG);
	struct ps_example ex;
	unsigned char *buf;
	size_t len, at;
	uint64_t seed, n, line;
	int rv;

	cache_close(c);
	buf = slurp(path, &len);
	if (buf == NULL)
		return;
	at = block_payload(buf, 2) + 1000;
	buf[at] ^= 0x10;
	spit(path, buf, len);
	xasprintf(&want, "%s: block 2: checksum mismatch", path);
	example_init(&ex);
	for (seed = 0; seed < 3; seed++) {
		c = cache_open(path, &cause);
		CHECK(c != NULL);	/* blocks are checked as they are read */
		if (c == NULL)
			break;
		CHECK(cache_pass(c, seed, &cause) == 0);
		n = 0;
		while ((rv = cache_next(c, &ex, &line, &cause)) == 1)
			n++;
		CHECK(rv == -1);
		CHECK_STR(cause, want);
		free(cause);
		if (seed == 0)
			CHECK(n == 2 * PS_CACHE_BLOCK_EXAMPLES);
		/* Sticky. */
		CHECK(cache_next(c, &ex, &line, &cause) == -1);
		CHECK_STR(cause, want);
		free(cause);
		CHECK(cache_pass(c, 0, &cause) == -1);
		free(cause);
		cache_close(c);
	}
	example_free(&ex);
	free(want);
	free(buf);
	free(path);
}

/* Every byte of a small cache flipped: refused at open or on the pass, never wrong data. */
static void
test_every_byte(void)
{
	char *path = tmp_path("small.cache"), *bad = tmp_path("bad.cache"), *cause = NULL;
	struct ps_cache *c = write_cache(path, 12);
	struct ps_example ex, want;
	unsigned char *buf;
	size_t len, at;
	uint64_t line, n;
	int rv, silent = 0, wrong = 0;

	cache_close(c);
	buf = slurp(path, &len);
	if (buf == NULL)
		return;
	example_init(&ex);
	example_init(&want);
	for (at = 0; at < len; at++) {
		buf[at] ^= 0x01;
		spit(bad, buf, len);
		buf[at] ^= 0x01;
		if ((c = cache_open(bad, &cause)) == NULL) {
			if (strncmp(cause, bad, strlen(bad)) != 0)
				wrong++;
			free(cause);
			continue;
		}
		CHECK(cache_pass(c, 0, &cause) == 0);
		n = 0;
		while ((rv = cache_next(c, &ex, &line, &cause)) == 1) {
			make_example(n, 0, &want);
			if (line != line_of(n) || !same_example(&ex, &want))
				wrong++;
			n++;
		}
		if (rv == -1)
			free(cause);
		else if (at < 12 || at >= 16)
			silent++;	/* only the header's reserved bytes are free */
		cache_close(c);
	}
	CHECK(silent == 0);
	CHECK(wrong == 0);
	example_free(&ex);
	example_free(&want);
	free(buf);
	free(path);
	free(bad);
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_round_trip);
	RUN(test_block_sizes);
	RUN(test_shuffle);
	RUN(test_temporary);
	RUN(test_empty_and_misuse);
	RUN(test_truncation);
	RUN(test_foreign);
	RUN(test_version);
	RUN(test_checksum);
	RUN(test_every_byte);
	if (nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		perror(tmpdir);
	return UNIT_DONE();
}
