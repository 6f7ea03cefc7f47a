/* The libsvm line parser: pure, no I/O. */
#ifndef PS_LIBSVM_H
#define PS_LIBSVM_H

#include <stddef.h>
#include <stdint.h>

/* One parsed example. keys/vals are owned by the example and reused line after line. */
struct ps_example {
	float		 label;		/* 1 (positive: "+1", "1") or 0 ("-1", "0");
					 * libsvm_parse_real: the number itself */
	size_t		 nfeat;
	uint64_t	*keys;		/* in input order; not sorted or deduplicated */
	float		*vals;
	size_t		 cap;
};

void	example_init(struct ps_example *);
void	example_free(struct ps_example *);

/*
 * Parse one line (len bytes, no trailing newline needed; '\r' and '\n' at the end are
 * ignored). "label index:value index:value ... [# comment]".
 * An integer index (decimal, fits uint64) is the key itself; any other name is
 * hash_name()d. A value must be a finite number.
 * Returns 1 and fills ex for an example, 0 for a blank or comment-only line,
 * -1 with *cause (xmalloc'd, e.g. "bad label 'x'" or "bad feature 'a:b'") on error.
 */
int	libsvm_parse(const char *line, size_t len, struct ps_example *ex, char **cause);
/*
 * The same for a regression (model.loss squared): the label is any finite number, as
 * strtof reads it ("3.25", "-1e3"), kept as is; errors "bad label 'x' (want a number)"
 * and "bad label 'inf' (want a finite number)". The features parse as above.
 */
int	libsvm_parse_real(const char *line, size_t len, struct ps_example *ex,
	    char **cause);

#endif
