/*
 * The libsvm line parser: "label name:value name:value ... [# comment]".
 *
 * This is the hot path of every reader, so it makes one pass over the line, allocates
 * nothing once the example's arrays have grown, and converts the usual short decimals
 * ("0.5", "1e-3", "-2.25") itself, correctly rounded; anything longer or unusual goes to
 * strtof on a bounded copy, so every result equals strtof's.
 */
#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ps/hash.h"
#include "ps/libsvm.h"
#include "ps/xmalloc.h"

/* Tokens longer than this are shortened in error messages. */
#define LIBSVM_SHOW_MAX	64

/* Powers of ten that are exact in a double. */
static const double libsvm_pow10[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

void
example_init(struct ps_example *ex)
{
	memset(ex, 0, sizeof *ex);
}

void
example_free(struct ps_example *ex)
{
	free(ex->keys);
	free(ex->vals);
	memset(ex, 0, sizeof *ex);
}

static inline int
libsvm_blank(char c)
{
	return c == ' ' || c == '\t';
}

static void
libsvm_grow(struct ps_example *ex)
{
	size_t	cap = ex->cap < 16 ? 16 : ex->cap * 2;

	ex->keys = xreallocarray(ex->keys, cap, sizeof *ex->keys);
	ex->vals = xreallocarray(ex->vals, cap, sizeof *ex->vals);
	ex->cap = cap;
}

/* The slow path: strtof on a NUL-terminated copy; 0 when all n bytes are a number. */
static int
libsvm_strtof(const char *s, size_t n, float *out)
{
	char	 buf[128], *copy, *end;
	float	 f;
	int	 ok;

	/* strtof would skip leading white space; a token never has any. */
	if (n == 0 || isspace((unsigned char)s[0]))
		return -1;
	if (n < sizeof buf) {
		memcpy(buf, s, n);
		buf[n] = '\0';
		copy = buf;
	} else
		copy = xstrndup(s, n);
	f = strtof(copy, &end);
	ok = (end == copy + n);
	if (copy != buf)
		free(copy);
	if (!ok)
		return -1;
	*out = f;
	return 0;
}

/*
 * A number of n bytes, as strtof would read it. The fast path takes
 * [+-]digits[.digits][(e|E)[+-]digits] when the digits, read as one integer m, are at most
 * 2^53 and the decimal exponent e is within 22: the double m * 10^e (or m / 10^-e) is then
 * correctly rounded because both operands are exact, and rounding it again to float is
 * exact unless the double falls exactly halfway between two floats, which goes to strtof.
 */
static int
libsvm_number(const char *s, size_t n, float *out)
{
	const char	*p = s, *end = s + n;
	uint64_t	 m = 0, bits;
	unsigned	 d;
	int		 neg = 0, e10 = 0, ndig = 0, big = 0, expo = 0, eneg = 0, edig = 0;
	double		 x;
	float		 f;

	if (p < end && (*p == '+' || *p == '-'))
		neg = (*p++ == '-');
	for (; p < end && (d = (unsigned)(*p - '0')) <= 9; p++, ndig++) {
		if (m > (UINT64_MAX - 9) / 10)
			big = 1;
		else
			m = m * 10 + d;
	}
	if (p < end && *p == '.') {
		for (p++; p < end && (d = (unsigned)(*p - '0')) <= 9; p++, ndig++) {
			if (m > (UINT64_MAX - 9) / 10)
				big = 1;
			else {
				m = m * 10 + d;
				e10--;
			}
		}
	}
	if (ndig == 0)
		goto slow;
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			eneg = (*p++ == '-');
		for (; p < end && (d = (unsigned)(*p - '0')) <= 9; p++, edig++) {
			if (expo < 100000)
				expo = expo * 10 + (int)d;
		}
		if (edig == 0)
			goto slow;
		e10 += eneg ? -expo : expo;
	}
	if (p != end || big || m > (UINT64_C(1) << 53) || e10 < -22 || e10 > 22)
		goto slow;

	x = (double)m;
	if (e10 < 0)
		x /= libsvm_pow10[-e10];
	else
		x *= libsvm_pow10[e10];
	if (x != 0) {
		if (x < FLT_MIN || x > FLT_MAX)
			goto slow;
		memcpy(&bits, &x, sizeof bits);
		if ((bits & 0x1fffffff) == 0x10000000)
			goto slow;	/* a float midpoint: rounding twice may be wrong */
	}
	f = (float)x;
	*out = neg ? -f : f;
	return 0;

slow:
	return libsvm_strtof(s, n, out);
}

/* How much of a token an error message shows, and what follows it. */
static int
libsvm_shown(size_t n)
{
	return n > LIBSVM_SHOW_MAX ? LIBSVM_SHOW_MAX : (int)n;
}

static const char *
libsvm_more(size_t n)
{
	return n > LIBSVM_SHOW_MAX ? "..." : "";
}

static int
libsvm_label(const char *s, size_t n, float *label)
{
	float	v;

	/* The usual spellings first, then any number equal to 1, -1 or 0. */
	if (n == 1 && (s[0] == '1' || s[0] == '0')) {
		*label = (s[0] == '1');
		return 0;
	}
	if (n == 2 && (s[0] == '+' || s[0] == '-') && s[1] == '1') {
		*label = (s[0] == '+');
		return 0;
	}
	if (libsvm_number(s, n, &v) != 0)
		return -1;
	if (v == 1)
		*label = 1;
	else if (v == -1 || v == 0)
		*label = 0;
	else
		return -1;
	return 0;
}

/* A regression's label: any finite number, kept as the float nearest to it. */
static int
libsvm_real_label(const char *s, size_t n, float *label, char **cause)
{
	float	v;

	if (libsvm_number(s, n, &v) != 0) {
		xasprintf(cause, "bad label '%.*s%s' (want a number)", libsvm_shown(n), s,
		    libsvm_more(n));
		return -1;
	}
	if (!isfinite(v)) {
		xasprintf(cause, "bad label '%.*s%s' (want a finite number)",
		    libsvm_shown(n), s, libsvm_more(n));
		return -1;
	}
	*label = v;
	return 0;
}

static int	libsvm_parse_as(const char *, size_t, struct ps_example *, int real,
		    char **);

int
libsvm_parse(const char *line, size_t len, struct ps_example *ex, char **cause)
{
	return libsvm_parse_as(line, len, ex, 0, cause);
}

int
libsvm_parse_real(const char *line, size_t len, struct ps_example *ex, char **cause)
{
	return libsvm_parse_as(line, len, ex, 1, cause);
}

static int
libsvm_parse_as(const char *line, size_t len, struct ps_example *ex, int real,
    char **cause)
{
	const char	*p = line, *end = line + len, *hash, *tok, *val;
	uint64_t	 key;
	size_t		 n;
	unsigned	 d;
	int		 integer;
	float		 v;

	ex->nfeat = 0;
	while (end > p && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	if (end > p && (hash = memchr(p, '#', (size_t)(end - p))) != NULL)
		end = hash;
	while (p < end && libsvm_blank(*p))
		p++;
	if (p == end)
		return 0;

	tok = p;
	while (p < end && !libsvm_blank(*p))
		p++;
	if (real) {
		if (libsvm_real_label(tok, (size_t)(p - tok), &ex->label, cause) != 0)
			return -1;
	} else if (libsvm_label(tok, (size_t)(p - tok), &ex->label) != 0) {
		n = (size_t)(p - tok);
		xasprintf(cause, "bad label '%.*s%s' (want +1/-1 or 1/0)",
		    libsvm_shown(n), tok, libsvm_more(n));
		return -1;
	}

	for (;;) {
		while (p < end && libsvm_blank(*p))
			p++;
		if (p == end)
			break;

		/* The name, read as a decimal key on the way. */
		tok = p;
		key = 0;
		integer = 1;
		for (; p < end && *p != ':' && !libsvm_blank(*p); p++) {
			d = (unsigned)(*p - '0');
			if (d > 9)
				integer = 0;
			else if (integer) {
				if (key > (UINT64_MAX - d) / 10)
					integer = 0;
				else
					key = key * 10 + d;
			}
		}
		if (p == tok || p == end || *p != ':') {
			while (p < end && !libsvm_blank(*p))
				p++;
			n = (size_t)(p - tok);
			xasprintf(cause, "bad feature '%.*s%s' (want index:value)",
			    libsvm_shown(n), tok, libsvm_more(n));
			ex->nfeat = 0;
			return -1;
		}
		if (!integer)
			key = hash_name(tok, (size_t)(p - tok));

		val = ++p;
		while (p < end && !libsvm_blank(*p))
			p++;
		if (libsvm_number(val, (size_t)(p - val), &v) != 0) {
			n = (size_t)(p - tok);
			xasprintf(cause, "bad value in '%.*s%s'", libsvm_shown(n), tok,
			    libsvm_more(n));
			ex->nfeat = 0;
			return -1;
		}
		if (!isfinite(v)) {
			n = (size_t)(p - tok);
			xasprintf(cause, "feature '%.*s%s': value is not finite",
			    libsvm_shown(n), tok, libsvm_more(n));
			ex->nfeat = 0;
			return -1;
		}

		if (ex->nfeat == ex->cap)
			libsvm_grow(ex);
		ex->keys[ex->nfeat] = key;
		ex->vals[ex->nfeat] = v;
		ex->nfeat++;
	}
	return 1;
}
