/*
 * libFuzzer target: the libsvm line parser (lib/libsvm.c), line after line with one
 * example reused, as ps-worker reads its stdin. Each example it accepts is checked
 * against a plain reading of the same line: as many features, the same keys (a decimal
 * name that fits 64 bits is the key, any other name is hash_name()d), and every value
 * and the label exactly what strtof gives for their text, as the parser promises.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ps/hash.h"
#include "ps/libsvm.h"

/* strtof of exactly n bytes; 0 if they are all one number. */
static int
plain_float(const char *s, size_t n, float *out)
{
	char *copy, *end;
	int ok;

	if (n == 0 || s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\v' ||
	    s[0] == '\f' || s[0] == '\r')
		return -1;
	if ((copy = malloc(n + 1)) == NULL)
		abort();
	memcpy(copy, s, n);
	copy[n] = '\0';
	*out = strtof(copy, &end);
	ok = end == copy + n;
	free(copy);
	return ok ? 0 : -1;
}

static uint64_t
plain_key(const char *s, size_t n)
{
	uint64_t key = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || key > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return hash_name(s, n);
		key = key * 10 + (uint64_t)(s[i] - '0');
	}
	return key;
}

static int
blank(char c)
{
	return c == ' ' || c == '\t';
}

/* An example the parser accepted, against the line read plainly; real: read by
 * libsvm_parse_real, whose label is any finite number, kept as is. */
static void
check_example(const char *line, size_t len, const struct ps_example *ex, int real)
{
	const char *p = line, *end = line + len, *tok, *colon, *hash;
	size_t i = 0;
	float v;

	while (end > p && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	if ((hash = memchr(p, '#', (size_t)(end - p))) != NULL)
		end = hash;
	while (p < end && blank(*p))
		p++;
	tok = p;
	while (p < end && !blank(*p))
		p++;
	if (plain_float(tok, (size_t)(p - tok), &v) != 0)
		abort();
	if (real ? !isfinite(v) || memcmp(&v, &ex->label, sizeof v) != 0 :
	    !(v == 1 || v == -1 || v == 0) || ex->label != (v == 1))
		abort();
	for (;;) {
		while (p < end && blank(*p))
			p++;
		if (p == end)
			break;
		tok = p;
		while (p < end && !blank(*p))
			p++;
		if ((colon = memchr(tok, ':', (size_t)(p - tok))) == NULL || colon == tok)
			abort();
		if (i >= ex->nfeat || ex->keys[i] != plain_key(tok, (size_t)(colon - tok)))
			abort();
		if (plain_float(colon + 1, (size_t)(p - colon - 1), &v) != 0 || !isfinite(v) ||
		    memcmp(&v, &ex->vals[i], sizeof v) != 0)
			abort();
		i++;
	}
	if (i != ex->nfeat || ex->nfeat > ex->cap)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size, *nl;
	struct ps_example ex;
	char *cause;
	size_t len;
	int r, real;

	example_init(&ex);
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		len = nl != NULL ? (size_t)(nl - p) + 1 : (size_t)(end - p);
		/* each line both ways: classification and regression labels */
		for (real = 0; real < 2; real++) {
			cause = NULL;
			r = real ? libsvm_parse_real(p, len, &ex, &cause) :
			    libsvm_parse(p, len, &ex, &cause);
			if (r == 1)
				check_example(p, len, &ex, real);
			else if (r == -1) {
				if (cause == NULL || ex.nfeat != 0)
					abort();
				free(cause);
			} else if (r != 0)
				abort();
		}
		p += len;
	}
	example_free(&ex);
	return 0;
}
