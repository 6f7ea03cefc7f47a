/*
 * The worker's binary example cache (ps/cache.h), after Vowpal Wabbit's: the first pass
 * appends each parsed example, later passes read blocks back with pread(2), in file order
 * or a seeded shuffle, one block in memory at a time, every block's checksum checked.
 *
 * The format, version 1. Every integer is little-endian, written and read byte by byte
 * whatever the host; an f32 is the IEEE 754 bits of a float as a u32, so labels and values
 * come back bit for bit (NaNs, -0, denormals included). Offsets are from the file's start.
 *
 *   header, 16 bytes, at 0:
 *	0	8	magic "PSCACHE\0" (50 53 43 41 43 48 45 00)
 *	8	u32	version, 1
 *	12	u32	reserved, written 0, ignored
 *
 *   blocks, one after the other from byte 16; block i (numbered from 0 in file order):
 *	0	u32	tag "PSBK" (50 53 42 4b)
 *	4	u32	examples in the block, 1 to 4096
 *	8	u64	payload bytes, P
 *	16	u64	XXH3-64 (seed 0) of the P payload bytes
 *	24	P	payload: the examples, each
 *		    0	f32	label
 *		    4	u64	input line number
 *		    12	u32	nfeat, N
 *		    16	8N	N u64 keys
 *		    16+8N 4N	N f32 values
 *	A block is closed before a 4097th example, or before an example that would take
 *	its payload past 1 MiB (a single larger example makes a block of its own).
 *
 *   end record, at offset E, 32 + 8B bytes:
 *	0	u32	tag "PSIX" (50 53 49 58)
 *	4	u32	reserved, written 0
 *	8	u64	blocks, B
 *	16	u64	examples in all
 *	24	8B	B u64: each block's offset, ascending
 *	24+8B	u64	XXH3-64 (seed 0) of the 24 + 8B bytes before
 *
 *   trailer, the last 16 bytes:
 *	0	8	magic "PSCEND\0\0" (50 53 43 45 4e 44 00 00)
 *	8	u64	E
 *
 * A reader reads the header (magic, then version), then the trailer with one pread,
 * then the end record. The end record must fill the bytes between E and the trailer
 * exactly, match its checksum, have its first block at 16, each block at least 40 bytes
 * (a header and an example without features) and the last one ending at E, and count
 * between B and 4096 B examples; otherwise, as when the trailer is missing, the file is
 * a truncated cache (a first pass that did not finish). Block i spans from its offset to
 * the next one's (or E): its header must say so, and its examples must fill its payload
 * exactly; the examples of all blocks must add up to the end record's count.
 *
 * A pass with seed 0 gives blocks and examples in file order. Any other seed shuffles
 * both with splitmix64 (state += 0x9e3779b97f4a7c15, output its finalizer of the
 * state): a number below n is the first output r >= 2^64 mod n, taken mod n; a shuffle
 * of n items is Fisher-Yates from the last (for i = n - 1 down to 1, swap i and a number
 * below i + 1). The blocks are shuffled with the state started at seed; the examples of
 * block i with the state started at seed XOR finalizer(i + 1), so that a block's order
 * does not depend on when it is read.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ps/cache.h"
#include "ps/le.h"
#include "ps/xmalloc.h"

static const unsigned char cache_magic[8] = { 'P', 'S', 'C', 'A', 'C', 'H', 'E', '\0' };
static const unsigned char cache_end_magic[8] = { 'P', 'S', 'C', 'E', 'N', 'D', '\0', '\0' };

#define HDR_LEN		16
#define BLK_TAG		0x4b425350u	/* "PSBK" */
#define BLK_HDR		24
#define EX_HDR		16		/* label, line, nfeat */
#define EX_FEAT		12		/* a key and a value */
#define END_TAG		0x58495350u	/* "PSIX" */
#define END_FIXED	32		/* tag, reserved, blocks, examples, checksum */
#define TRAILER_LEN	16
#define BUF_MIN		65536

#define TMP_NAME	"a temporary file"
#define TRUNCATED	"truncated ps-worker cache (no end record): delete it to write it again"

struct ps_cache {
	int		 fd;
	char		*path;		/* NULL: a temporary file */
	char		*error;		/* sticky, once something failed */
	int		 sealed;

	uint64_t	 examples;
	uint64_t	 nblocks;
	uint64_t	*index;		/* block offsets, then E once sealed */
	size_t		 indexcap;

	unsigned char	*buf;		/* the block being written or read */
	size_t		 bufsize;

	/* Writing. */
	uint64_t	 off;		/* where the next block goes */
	size_t		 len;		/* bytes in buf: block header, then payload */
	uint32_t	 count;		/* examples in buf */

	/* Reading: a pass. */
	int		 inpass;
	int		 done;
	uint64_t	 seed;
	uint64_t	*order;		/* block numbers in pass order */
	uint64_t	 pos;		/* next in order */
	uint64_t	 given;		/* examples given this pass */
	uint32_t	 bcount;	/* examples in the block in buf */
	uint32_t	 bnext;		/* next in perm */
	size_t		 exoff[PS_CACHE_BLOCK_EXAMPLES];
	uint32_t	 perm[PS_CACHE_BLOCK_EXAMPLES];
};

/* splitmix64. */
static uint64_t
cache_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t
cache_rand(uint64_t *state)
{
	*state += 0x9e3779b97f4a7c15ULL;
	return cache_mix(*state);
}

/* Uniform below n (n > 0), without modulo bias. */
static uint64_t
cache_below(uint64_t *state, uint64_t n)
{
	uint64_t threshold = -n % n, r;

	do
		r = cache_rand(state);
	while (r < threshold);
	return r % n;
}

const char *
cache_path(const struct ps_cache *c)
{
	return c->path != NULL ? c->path : TMP_NAME;
}

uint64_t
cache_examples(const struct ps_cache *c)
{
	return c->examples;
}

uint64_t
cache_blocks(const struct ps_cache *c)
{
	return c->nblocks + (c->count > 0);
}

/* Fail for good: the cause is kept and given again by every later call. */
static int
cache_fail(struct ps_cache *c, char **cause, const char *fmt, ...) PS_PRINTF(3, 4);

static int
cache_fail(struct ps_cache *c, char **cause, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	free(c->error);
	xasprintf(&c->error, "%s: %s", cache_path(c), s);
	free(s);
	*cause = xstrdup(c->error);
	return -1;
}

/* The kept failure, if any. */
static int
cache_failed(struct ps_cache *c, char **cause)
{
	if (c->error == NULL)
		return 0;
	*cause = xstrdup(c->error);
	return 1;
}

static void
cache_room(struct ps_cache *c, size_t need)
{
	size_t size = c->bufsize < BUF_MIN ? BUF_MIN : c->bufsize;

	if (need <= c->bufsize)
		return;
	while (size < need)
		size = size > SIZE_MAX / 2 ? need : size * 2;
	c->buf = xreallocarray(c->buf, 1, size);
	c->bufsize = size;
}

static void
cache_index_add(struct ps_cache *c, uint64_t off)
{
	if (c->nblocks + 1 >= c->indexcap) {
		c->indexcap = c->indexcap < 64 ? 64 : c->indexcap * 2;
		c->index = xreallocarray(c->index, c->indexcap, sizeof *c->index);
	}
	c->index[c->nblocks] = off;
}

static int
cache_write(struct ps_cache *c, const unsigned char *p, size_t n, char **cause)
{
	size_t done = 0;
	ssize_t got;

	while (done < n) {
		got = write(c->fd, p + done, n - done);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1)
			return cache_fail(c, cause, "write: %s", strerror(errno));
		if (got == 0)
			return cache_fail(c, cause, "write: %s", strerror(EIO));
		done += (size_t)got;
	}
	c->off += n;
	return 0;
}

/* Up to n bytes at off: how many there were before the end, or -1 with errno. */
static ssize_t
cache_pread(int fd, unsigned char *p, size_t n, uint64_t off)
{
	size_t done = 0;
	ssize_t got;

	while (done < n) {
		got = pread(fd, p + done, n - done, (off_t)(off + done));
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1)
			return -1;
		if (got == 0)
			break;
		done += (size_t)got;
	}
	return (ssize_t)done;
}

static struct ps_cache *
cache_new(int fd, const char *path)
{
	struct ps_cache *c = xcalloc(1, sizeof *c);

	c->fd = fd;
	c->path = path != NULL ? xstrdup(path) : NULL;
	return c;
}

/* Writing. */

struct ps_cache *
cache_create(const char *path, char **cause)
{
	struct ps_cache *c;
	unsigned char hdr[HDR_LEN];
	const char *dir;
	char *tmp;
	int fd;

	if (path != NULL) {
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd == -1) {
			xasprintf(cause, "%s: %s", path, strerror(errno));
			return NULL;
		}
	} else {
		if ((dir = getenv("TMPDIR")) == NULL || *dir == '\0')
			dir = "/tmp";
		xasprintf(&tmp, "%s/ps-worker-cache.XXXXXX", dir);
		if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
			xasprintf(cause, "%s: %s", tmp, strerror(errno));
			free(tmp);
			return NULL;
		}
		if (unlink(tmp) != 0) {
			xasprintf(cause, "%s: unlink: %s", tmp, strerror(errno));
			close(fd);
			free(tmp);
			return NULL;
		}
		free(tmp);
	}
	c = cache_new(fd, path);

	memcpy(hdr, cache_magic, sizeof cache_magic);
	put_u32(hdr + 8, PS_CACHE_VERSION);
	put_u32(hdr + 12, 0);
	if (cache_write(c, hdr, sizeof hdr, cause) != 0) {
		cache_close(c);
		return NULL;
	}
	cache_room(c, BUF_MIN);
	c->len = BLK_HDR;
	return c;
}

/* The block in buf to the file, if it has examples. */
static int
cache_flush(struct ps_cache *c, char **cause)
{
	size_t payload = c->len - BLK_HDR;

	if (c->count == 0)
		return 0;
	put_u32(c->buf, BLK_TAG);
	put_u32(c->buf + 4, c->count);
	put_u64(c->buf + 8, payload);
	put_u64(c->buf + 16, XXH3_64bits(c->buf + BLK_HDR, payload));
	cache_index_add(c, c->off);
	if (cache_write(c, c->buf, c->len, cause) != 0)
		return -1;
	c->nblocks++;
	c->len = BLK_HDR;
	c->count = 0;
	return 0;
}

int
cache_append(struct ps_cache *c, const struct ps_example *ex, uint64_t line,
    char **cause)
{
	unsigned char *p;
	size_t size, i, n = ex->nfeat;

	if (cache_failed(c, cause))
		return -1;
	if (c->sealed) {
		xasprintf(cause, "%s: sealed: no example can be added", cache_path(c));
		return -1;
	}
	if (n > UINT32_MAX || n > (SIZE_MAX - BLK_HDR - EX_HDR) / EX_FEAT) {
		xasprintf(cause, "%s: line %" PRIu64 ": %zu features, more than a cache "
		    "holds", cache_path(c), line, n);
		return -1;
	}
	size = EX_HDR + EX_FEAT * n;
	if (c->count == PS_CACHE_BLOCK_EXAMPLES ||
	    (c->count > 0 && c->len - BLK_HDR + size > PS_CACHE_BLOCK_BYTES)) {
		if (cache_flush(c, cause) != 0)
			return -1;
	}
	cache_room(c, c->len + size);
	p = c->buf + c->len;
	put_f32(p, ex->label);
	put_u64(p + 4, line);
	put_u32(p + 12, (uint32_t)n);
	p += EX_HDR;
	for (i = 0; i < n; i++)
		put_u64(p + 8 * i, ex->keys[i]);
	p += 8 * n;
	for (i = 0; i < n; i++)
		put_f32(p + 4 * i, ex->vals[i]);
	c->len += size;
	c->count++;
	c->examples++;
	return 0;
}

int
cache_seal(struct ps_cache *c, char **cause)
{
	unsigned char *p;
	size_t len;
	uint64_t i, end;

	if (cache_failed(c, cause))
		return -1;
	if (c->sealed) {
		xasprintf(cause, "%s: already sealed", cache_path(c));
		return -1;
	}
	if (cache_flush(c, cause) != 0)
		return -1;

	len = END_FIXED + 8 * c->nblocks;
	cache_room(c, len + TRAILER_LEN);
	p = c->buf;
	put_u32(p, END_TAG);
	put_u32(p + 4, 0);
	put_u64(p + 8, c->nblocks);
	put_u64(p + 16, c->examples);
	for (i = 0; i < c->nblocks; i++)
		put_u64(p + 24 + 8 * i, c->index[i]);
	put_u64(p + len - 8, XXH3_64bits(p, len - 8));
	end = c->off;
	memcpy(p + len, cache_end_magic, sizeof cache_end_magic);
	put_u64(p + len + 8, end);
	if (cache_write(c, p, len + TRAILER_LEN, cause) != 0)
		return -1;
	if (c->path != NULL && fsync(c->fd) != 0)
		return cache_fail(c, cause, "fsync: %s", strerror(errno));
	cache_index_add(c, end);
	c->len = 0;
	c->sealed = 1;
	return 0;
}

/* Reading. */

/* The end record of a file of size bytes, into the index; 0, or -1 if it has none. */
static int
cache_read_end(struct ps_cache *c, uint64_t size, char **cause)
{
	unsigned char trailer[TRAILER_LEN], *p;
	uint64_t end, len, nblocks, i, off, next;
	ssize_t got;

	if (size < HDR_LEN + END_FIXED + TRAILER_LEN)
		return -1;
	got = cache_pread(c->fd, trailer, sizeof trailer, size - TRAILER_LEN);
	if (got == -1)
		return cache_fail(c, cause, "read: %s", strerror(errno));
	if (got != TRAILER_LEN || memcmp(trailer, cache_end_magic, 8) != 0)
		return -1;
	end = get_u64(trailer + 8);
	if (end < HDR_LEN || end > size - TRAILER_LEN - END_FIXED)
		return -1;
	len = size - TRAILER_LEN - end;
	if ((len - END_FIXED) % 8 != 0)
		return -1;
	nblocks = (len - END_FIXED) / 8;
	if (len > SIZE_MAX)
		return -1;
	cache_room(c, (size_t)len);
	p = c->buf;
	got = cache_pread(c->fd, p, (size_t)len, end);
	if (got == -1)
		return cache_fail(c, cause, "read: %s", strerror(errno));
	if ((uint64_t)got != len || get_u32(p) != END_TAG ||
	    get_u64(p + len - 8) != XXH3_64bits(p, (size_t)len - 8) ||
	    get_u64(p + 8) != nblocks)
		return -1;
	c->examples = get_u64(p + 16);
	if (c->examples < nblocks ||
	    (c->examples > 0 && (c->examples - 1) / PS_CACHE_BLOCK_EXAMPLES >= nblocks))
		return -1;
	if (nblocks == 0 && end != HDR_LEN)
		return -1;
	for (i = 0; i < nblocks; i++) {
		off = get_u64(p + 24 + 8 * i);
		next = i + 1 < nblocks ? get_u64(p + 24 + 8 * (i + 1)) : end;
		if ((i == 0 && off != HDR_LEN) || off > next ||
		    next - off < BLK_HDR + EX_HDR)
			return -1;
		cache_index_add(c, off);
		c->nblocks++;
	}
	cache_index_add(c, end);
	return 0;
}

struct ps_cache *
cache_open(const char *path, char **cause)
{
	struct ps_cache *c;
	struct stat sb;
	unsigned char hdr[HDR_LEN];
	uint32_t version;
	ssize_t got;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) != 0) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	if (!S_ISREG(sb.st_mode)) {
		xasprintf(cause, "%s: not a regular file", path);
		close(fd);
		return NULL;
	}
	c = cache_new(fd, path);
	c->sealed = 1;

	/* The magic first, so that a stranger is told so, not "truncated". */
	if ((got = cache_pread(fd, hdr, sizeof hdr, 0)) == -1) {
		cache_fail(c, cause, "read: %s", strerror(errno));
		goto fail;
	}
	if (memcmp(hdr, cache_magic, got < 8 ? (size_t)got : 8) != 0) {
		cache_fail(c, cause, "not a ps-worker cache");
		goto fail;
	}
	if (got < HDR_LEN) {
		cache_fail(c, cause, TRUNCATED);
		goto fail;
	}
	if ((version = get_u32(hdr + 8)) != PS_CACHE_VERSION) {
		cache_fail(c, cause, "a ps-worker cache of format version %" PRIu32 "; this "
		    "ps-worker reads version %d: delete it to write it again", version,
		    PS_CACHE_VERSION);
		goto fail;
	}
	if (cache_read_end(c, (uint64_t)sb.st_size, cause) != 0) {
		if (c->error == NULL)
			cache_fail(c, cause, TRUNCATED);
		goto fail;
	}
	return c;

fail:
	cache_close(c);
	return NULL;
}

/* The next block of the pass into buf: its examples found and ordered. */
static int
cache_load(struct ps_cache *c, uint64_t b, char **cause)
{
	const unsigned char *p, *end;
	uint64_t span = c->index[b + 1] - c->index[b], payload, state;
	uint32_t count, i, j, t, nfeat;
	ssize_t got;

	if (span > SIZE_MAX)
		return cache_fail(c, cause, "block %" PRIu64 ": too large", b);
	cache_room(c, (size_t)span);
	if ((got = cache_pread(c->fd, c->buf, (size_t)span, c->index[b])) == -1)
		return cache_fail(c, cause, "read: %s", strerror(errno));
	if ((uint64_t)got != span)
		return cache_fail(c, cause, "block %" PRIu64 ": unexpected end of file", b);
	p = c->buf;
	count = get_u32(p + 4);
	payload = get_u64(p + 8);
	if (get_u32(p) != BLK_TAG || count == 0 || count > PS_CACHE_BLOCK_EXAMPLES ||
	    payload != span - BLK_HDR)
		return cache_fail(c, cause, "block %" PRIu64 ": bad block header", b);
	if (get_u64(p + 16) != XXH3_64bits(p + BLK_HDR, (size_t)payload))
		return cache_fail(c, cause, "block %" PRIu64 ": checksum mismatch", b);

	end = p + span;
	p += BLK_HDR;
	for (i = 0; i < count; i++) {
		if ((size_t)(end - p) < EX_HDR)
			break;
		nfeat = get_u32(p + 12);
		if ((uint64_t)(end - p - EX_HDR) / EX_FEAT < nfeat)
			break;
		c->exoff[i] = (size_t)(p - c->buf);
		p += EX_HDR + (size_t)EX_FEAT * nfeat;
	}
	if (i != count || p != end)
		return cache_fail(c, cause, "block %" PRIu64 ": its examples do not fill "
		    "its payload", b);

	for (i = 0; i < count; i++)
		c->perm[i] = i;
	if (c->seed != 0) {
		state = c->seed ^ cache_mix(b + 1);
		for (i = count - 1; i > 0; i--) {
			j = (uint32_t)cache_below(&state, (uint64_t)i + 1);
			t = c->perm[i];
			c->perm[i] = c->perm[j];
			c->perm[j] = t;
		}
	}
	c->bcount = count;
	c->bnext = 0;
	return 0;
}

int
cache_pass(struct ps_cache *c, uint64_t seed, char **cause)
{
	uint64_t i, j, t, state;

	if (cache_failed(c, cause))
		return -1;
	if (!c->sealed) {
		xasprintf(cause, "%s: not sealed: no pass yet", cache_path(c));
		return -1;
	}
	if (c->order == NULL && c->nblocks > 0)
		c->order = xreallocarray(NULL, c->nblocks, sizeof *c->order);
	for (i = 0; i < c->nblocks; i++)
		c->order[i] = i;
	if (seed != 0) {
		state = seed;
		for (i = c->nblocks; i > 1; i--) {
			j = cache_below(&state, i);
			t = c->order[i - 1];
			c->order[i - 1] = c->order[j];
			c->order[j] = t;
		}
	}
	c->seed = seed;
	c->pos = 0;
	c->given = 0;
	c->bcount = c->bnext = 0;
	c->inpass = 1;
	c->done = 0;
	return 0;
}

int
cache_next(struct ps_cache *c, struct ps_example *ex, uint64_t *line, char **cause)
{
	const unsigned char *p;
	uint32_t nfeat, i;
	size_t cap;

	if (cache_failed(c, cause))
		return -1;
	if (!c->inpass) {
		xasprintf(cause, "%s: no pass started", cache_path(c));
		return -1;
	}
	if (c->done)
		return 0;
	while (c->bnext == c->bcount) {
		if (c->pos == c->nblocks) {
			if (c->given != c->examples)
				return cache_fail(c, cause, "the blocks hold %" PRIu64
				    " examples, the end record says %" PRIu64, c->given,
				    c->examples);
			c->done = 1;
			return 0;
		}
		if (cache_load(c, c->order[c->pos], cause) != 0)
			return -1;
		c->pos++;
	}

	p = c->buf + c->exoff[c->perm[c->bnext++]];
	nfeat = get_u32(p + 12);
	if (ex->cap < nfeat) {
		for (cap = ex->cap; cap < nfeat; cap = cap < 16 ? 16 : cap * 2)
			;
		ex->keys = xreallocarray(ex->keys, cap, sizeof *ex->keys);
		ex->vals = xreallocarray(ex->vals, cap, sizeof *ex->vals);
		ex->cap = cap;
	}
	ex->label = get_f32(p);
	if (line != NULL)
		*line = get_u64(p + 4);
	ex->nfeat = nfeat;
	p += EX_HDR;
	for (i = 0; i < nfeat; i++)
		ex->keys[i] = get_u64(p + 8 * i);
	p += 8 * (size_t)nfeat;
	for (i = 0; i < nfeat; i++)
		ex->vals[i] = get_f32(p + 4 * i);
	c->given++;
	return 1;
}

void
cache_close(struct ps_cache *c)
{
	if (c == NULL)
		return;
	if (c->fd != -1)
		close(c->fd);
	free(c->path);
	free(c->error);
	free(c->index);
	free(c->buf);
	free(c->order);
	free(c);
}
