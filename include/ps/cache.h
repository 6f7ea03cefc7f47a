/*
 * The worker's binary example cache, for ps-worker --passes N (as Vowpal Wabbit's): the
 * first pass appends every example it parses, later passes read the cache back, in a
 * seeded shuffled order of blocks and of the examples within each block, with no parsing.
 * A sealed cache file can be given to the next job. The format is lib/cache.c's; errors
 * come back as a one-line cause naming the file.
 */
#ifndef PS_CACHE_H
#define PS_CACHE_H

#include <stdint.h>

#include "ps/libsvm.h"

#define PS_CACHE_VERSION	1
#define PS_CACHE_BLOCK_EXAMPLES	4096		/* examples a block, at most */
#define PS_CACHE_BLOCK_BYTES	(1 << 20)	/* a block's payload, unless one example is larger */

struct ps_cache;

/*
 * A new cache to append to. path NULL: a temporary file in $TMPDIR (or /tmp), unlinked at
 * once so that it goes away at exit whatever happens; else path is created (truncated if
 * it exists) and written. NULL and *cause on error ("PATH: strerror").
 */
struct ps_cache	*cache_create(const char *path, char **cause);

/* Append one example (label, keys, vals) and its input line number. */
int		 cache_append(struct ps_cache *, const struct ps_example *ex, uint64_t line,
		     char **cause);

/*
 * Write the last block and the end record (index of blocks, counts), flush (fsync for a
 * named file); the cache can be read from now on (cache_pass).
 */
int		 cache_seal(struct ps_cache *, char **cause);

/*
 * An existing sealed cache file. Refused with a one-line cause naming the file:
 *   "PATH: not a ps-worker cache"
 *   "PATH: a ps-worker cache of format version 7; this ps-worker reads version 1: delete
 *    it to write it again"
 *   "PATH: truncated ps-worker cache (no end record): delete it to write it again"
 * and, found when a block is read by cache_next, "PATH: block 3: checksum mismatch"
 * (blocks numbered from 0 in file order).
 */
struct ps_cache	*cache_open(const char *path, char **cause);

/* Examples and blocks in the cache (so far, while it is written). */
uint64_t	 cache_examples(const struct ps_cache *);
uint64_t	 cache_blocks(const struct ps_cache *);

/*
 * Start a pass. seed 0: blocks and examples in file order; else a permutation of the
 * blocks, and of the examples within each block, drawn from seed alone (same seed: same
 * order, on any machine).
 */
int		 cache_pass(struct ps_cache *, uint64_t seed, char **cause);

/*
 * The next example of the pass into ex (keys/vals grown as libsvm_parse grows them, owned
 * by ex) and its line (line may be NULL): 1; 0 at the end of the pass; -1 and *cause.
 * Errors are sticky: once a call failed, every later call fails with the same cause.
 */
int		 cache_next(struct ps_cache *, struct ps_example *ex, uint64_t *line,
		     char **cause);

/* The name for messages: the path, or "a temporary file". */
const char	*cache_path(const struct ps_cache *);

void		 cache_close(struct ps_cache *);

#endif
