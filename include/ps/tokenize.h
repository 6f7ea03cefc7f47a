/*
 * ps-tokenize's tokenizer: a text document to the sorted unique indices of its hashed
 * word features, see ps-tokenize(1). tokenize_text is pure, no I/O; tokenize_file reads
 * a document and writes its libsvm line.
 *
 * A token is a maximal run of ASCII letters and digits, the characters $ ! ' _ -, and
 * bytes 0x80 and above, with ASCII letters lowercased; a run longer than
 * PS_TOKENIZE_TOKEN_MAX bytes counts as its first PS_TOKENIZE_TOKEN_MAX. Its index is
 * hash_name(token) mod 2^bits, plus one.
 */
#ifndef PS_TOKENIZE_H
#define PS_TOKENIZE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define PS_TOKENIZE_BITS	20	/* the default: indices 1 to 2^20 */
#define PS_TOKENIZE_BITS_MAX	31
#define PS_TOKENIZE_TOKEN_MAX	256

/* One document's indices and text, reused document after document. */
struct ps_tokenize {
	int		 bits;		/* 1 to PS_TOKENIZE_BITS_MAX */
	uint32_t	*idx;		/* ascending, unique */
	size_t		 nidx;
	size_t		 ntokens;	/* tokens found, repeats included */
	size_t		 idxcap;
	char		 tok[PS_TOKENIZE_TOKEN_MAX];
	char		*text;		/* the last file read */
	size_t		 textlen;
	size_t		 textcap;
};

void	tokenize_init(struct ps_tokenize *, int bits);
void	tokenize_free(struct ps_tokenize *);
/* 1 if byte c is part of tokens, 0 if it separates them. */
int	tokenize_is_word(unsigned char c);
/* Split len bytes of text into tokens and set t->idx to their indices, ascending and
 * unique, and t->ntokens. Returns t->nidx. Pure. */
size_t	tokenize_text(struct ps_tokenize *t, const char *text, size_t len);
/* Write "label index:1 index:1 ...\n" for t->idx to f; errors are left to ferror(f). */
void	tokenize_write(const struct ps_tokenize *t, const char *label, FILE *f);
/* Read all of path, tokenize it, log its size and token count (debug) and write its
 * line to f. 0, or -1 with errno set when path cannot be read. */
int	tokenize_file(struct ps_tokenize *t, const char *path, const char *label, FILE *f);

#endif
