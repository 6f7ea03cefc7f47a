/* The libsvm line parser: good lines, every error, and exact numbers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ps/hash.h"
#include "ps/libsvm.h"
#include "unit.h"

static struct ps_example	ex;
static char			*cause;

/* Parses s from a heap copy of exactly strlen(s) bytes, so ASan sees any overread;
 * with real set, as a regression's line (libsvm_parse_real). */
static int	real;

static int
parse(const char *s)
{
	size_t	 len = strlen(s);
	char	*copy = malloc(len == 0 ? 1 : len);
	int	 r;

	if (copy == NULL)
		abort();
	memcpy(copy, s, len);
	free(cause);
	cause = NULL;
	r = real ? libsvm_parse_real(copy, len, &ex, &cause) :
	    libsvm_parse(copy, len, &ex, &cause);
	free(copy);
	return r;
}

static uint64_t
name(const char *s)
{
	return hash_name(s, strlen(s));
}

/* The error for s, or "" when it parsed. */
static const char *
err(const char *s)
{
	if (parse(s) != -1)
		return "";
	return cause;
}

static void
test_basic(void)
{
	CHECK(parse("+1 1:0.5 3:1e-3 7:-2.25") == 1);
	CHECK(ex.label == 1);
	CHECK(ex.nfeat == 3);
	CHECK(ex.keys[0] == 1 && ex.keys[1] == 3 && ex.keys[2] == 7);
	CHECK(ex.vals[0] == 0.5f);
	CHECK(ex.vals[1] == strtof("1e-3", NULL));
	CHECK(ex.vals[2] == -2.25f);

	CHECK(parse("-1 2:1") == 1);
	CHECK(ex.label == 0);
	CHECK(ex.nfeat == 1 && ex.keys[0] == 2 && ex.vals[0] == 1);

	/* Input order is kept; duplicates are not merged. */
	CHECK(parse("1 9:1 2:2 9:3") == 1);
	CHECK(ex.nfeat == 3);
	CHECK(ex.keys[0] == 9 && ex.keys[1] == 2 && ex.keys[2] == 9);
	CHECK(ex.vals[2] == 3);

	/* A label alone is an example with no features. */
	CHECK(parse("0") == 1);
	CHECK(ex.label == 0 && ex.nfeat == 0);
	CHECK(parse("1   ") == 1);
	CHECK(ex.label == 1 && ex.nfeat == 0);
}

static void
test_labels(void)
{
	const char	*pos[] = { "+1", "1", "1.0", "+1.0", "1e0", "1.", "01" };
	const char	*neg[] = { "-1", "0", "-1.0", "0.0", "-0", "+0", "-1e0", ".0" };
	char		 line[64];
	size_t		 i;

	for (i = 0; i < sizeof pos / sizeof pos[0]; i++) {
		snprintf(line, sizeof line, "%s 1:1", pos[i]);
		CHECK(parse(line) == 1);
		CHECK(ex.label == 1);
	}
	for (i = 0; i < sizeof neg / sizeof neg[0]; i++) {
		snprintf(line, sizeof line, "%s 1:1", neg[i]);
		CHECK(parse(line) == 1);
		CHECK(ex.label == 0);
	}
	CHECK(ex.label == 0);
}

static void
test_bad_labels(void)
{
	CHECK_STR(err("2 1:1"), "bad label '2' (want +1/-1 or 1/0)");
	CHECK_STR(err("abc 1:1"), "bad label 'abc' (want +1/-1 or 1/0)");
	CHECK_STR(err("0.5"), "bad label '0.5' (want +1/-1 or 1/0)");
	CHECK_STR(err("+2 1:1"), "bad label '+2' (want +1/-1 or 1/0)");
	CHECK_STR(err("-2"), "bad label '-2' (want +1/-1 or 1/0)");
	CHECK_STR(err("1x 1:1"), "bad label '1x' (want +1/-1 or 1/0)");
	CHECK_STR(err("+ 1:1"), "bad label '+' (want +1/-1 or 1/0)");
	CHECK_STR(err("nan 1:1"), "bad label 'nan' (want +1/-1 or 1/0)");
	CHECK_STR(err("inf 1:1"), "bad label 'inf' (want +1/-1 or 1/0)");
	/* A missing label: the first feature is read as one. */
	CHECK_STR(err("1:0.5 2:1"), "bad label '1:0.5' (want +1/-1 or 1/0)");
	CHECK_STR(err("\v 1:1"), "bad label '\v' (want +1/-1 or 1/0)");
	CHECK(ex.nfeat == 0);
}

static void
test_names(void)
{
	CHECK(parse("1 w_free:1 a1b2:2 68fd1e64:3") == 1);
	CHECK(ex.nfeat == 3);
	CHECK(ex.keys[0] == name("w_free"));
	CHECK(ex.keys[1] == name("a1b2"));
	CHECK(ex.keys[2] == name("68fd1e64"));
	CHECK(ex.vals[0] == 1 && ex.vals[1] == 2 && ex.vals[2] == 3);

	/* All decimal digits and fits uint64: the key itself. */
	CHECK(parse("1 0:1 007:1 18446744073709551615:1") == 1);
	CHECK(ex.keys[0] == 0);
	CHECK(ex.keys[1] == 7);
	CHECK(ex.keys[2] == UINT64_MAX);

	/* Too big for uint64, or signed, or with a dot: a name. */
	CHECK(parse("1 18446744073709551616:1 99999999999999999999999:1 -5:1 +5:1 1.5:1") == 1);
	CHECK(ex.nfeat == 5);
	CHECK(ex.keys[0] == name("18446744073709551616"));
	CHECK(ex.keys[1] == name("99999999999999999999999"));
	CHECK(ex.keys[2] == name("-5"));
	CHECK(ex.keys[3] == name("+5"));
	CHECK(ex.keys[4] == name("1.5"));

	/* Bytes past the name are not hashed with it. */
	CHECK(parse("1 ab:1 abc:1 b:1") == 1);
	CHECK(ex.keys[0] == name("ab") && ex.keys[1] == name("abc") &&
	    ex.keys[2] == name("b"));
}

static void
test_blank_and_comments(void)
{
	const char	*skip[] = { "", " ", "\t \t", "\n", "\r\n", "  \r\n", "#", "# a comment",
			    "   # indented 1:1", "\t#1 1:1", "#\r\n" };
	size_t		 i;

	for (i = 0; i < sizeof skip / sizeof skip[0]; i++) {
		ex.nfeat = 99;
		CHECK(parse(skip[i]) == 0);
		CHECK(ex.nfeat == 0);
		CHECK(cause == NULL);
	}

	CHECK(parse("1 1:1 2:2 # trailing 3:3") == 1);
	CHECK(ex.nfeat == 2 && ex.keys[1] == 2 && ex.vals[1] == 2);
	CHECK(parse("1 1:1 2:2#tight") == 1);
	CHECK(ex.nfeat == 2 && ex.vals[1] == 2);
	CHECK(parse("-1 # nothing else") == 1);
	CHECK(ex.label == 0 && ex.nfeat == 0);
	/* A comment hides what would be an error. */
	CHECK(parse("1 1:1 # bad:feature x") == 1);
}

static void
test_separators_and_endings(void)
{
	CHECK(parse("1\t1:0.5\t\t2:1") == 1);
	CHECK(ex.nfeat == 2 && ex.vals[0] == 0.5f && ex.keys[1] == 2);
	CHECK(parse("  \t1   1:1    2:2   ") == 1);
	CHECK(ex.nfeat == 2 && ex.label == 1);
	CHECK(parse("1 1:1 2:2\r\n") == 1);
	CHECK(ex.nfeat == 2 && ex.vals[1] == 2);
	CHECK(parse("1 1:1 2:2\n") == 1);
	CHECK(ex.nfeat == 2 && ex.vals[1] == 2);
	CHECK(parse("1 1:1 2:2\r") == 1);
	CHECK(ex.nfeat == 2 && ex.vals[1] == 2);
	CHECK(parse("1 1:1 2:2 \r\n") == 1);
	CHECK(ex.nfeat == 2);
	CHECK(parse("1\r\n") == 1);
	CHECK(ex.label == 1 && ex.nfeat == 0);
}

static void
test_not_nul_terminated(void)
{
	const char	 line[] = "1 1:0.5 2:0.25XXXX 3:7";
	char		*buf;

	/* Only the first 14 bytes: the value must end at len, not run into "XXXX". */
	CHECK(libsvm_parse(line, 14, &ex, &cause) == 1);
	CHECK(ex.nfeat == 2 && ex.vals[1] == 0.25f);
	CHECK(libsvm_parse(line, 13, &ex, &cause) == 1);
	CHECK(ex.nfeat == 2 && ex.vals[1] == 0.2f);
	CHECK(libsvm_parse(line, 1, &ex, &cause) == 1);
	CHECK(ex.nfeat == 0 && ex.label == 1);
	CHECK(libsvm_parse(line, 0, &ex, &cause) == 0);
	CHECK(libsvm_parse(NULL, 0, &ex, &cause) == 0);

	/* An exactly sized heap buffer with a long slow-path value at the very end. */
	buf = malloc(200);
	if (buf == NULL)
		abort();
	memcpy(buf, "1 5:0.", 6);
	memset(buf + 6, '1', 194);
	CHECK(libsvm_parse(buf, 200, &ex, &cause) == 1);
	CHECK(ex.nfeat == 1 && ex.vals[0] == strtof("0.11111111111111111111111111111111", NULL));
	free(buf);
}

static void
test_bad_features(void)
{
	CHECK_STR(err("1 abc"), "bad feature 'abc' (want index:value)");
	CHECK_STR(err("1 1:1 abc 2:2"), "bad feature 'abc' (want index:value)");
	CHECK_STR(err("1 17"), "bad feature '17' (want index:value)");
	CHECK_STR(err("1 :5"), "bad feature ':5' (want index:value)");
	CHECK_STR(err("1 :"), "bad feature ':' (want index:value)");
	CHECK_STR(err("1 1:1 x:abc"), "bad value in 'x:abc'");
	CHECK_STR(err("1 3:"), "bad value in '3:'");
	CHECK_STR(err("1 3: 4:1"), "bad value in '3:'");
	CHECK_STR(err("1 a:b:1"), "bad value in 'a:b:1'");
	CHECK_STR(err("1 3:1.5x"), "bad value in '3:1.5x'");
	CHECK_STR(err("1 3:1e"), "bad value in '3:1e'");
	CHECK_STR(err("1 3:1e+"), "bad value in '3:1e+'");
	CHECK_STR(err("1 3:."), "bad value in '3:.'");
	CHECK_STR(err("1 3:-"), "bad value in '3:-'");
	CHECK_STR(err("1 3:--1"), "bad value in '3:--1'");
	CHECK_STR(err("1 3:1..2"), "bad value in '3:1..2'");
	CHECK_STR(err("1 3:\v1"), "bad value in '3:\v1'");
	CHECK_STR(err("1 3:1,5"), "bad value in '3:1,5'");
	CHECK_STR(err("1 3:inf"), "feature '3:inf': value is not finite");
	CHECK_STR(err("1 3:-inf"), "feature '3:-inf': value is not finite");
	CHECK_STR(err("1 3:nan"), "feature '3:nan': value is not finite");
	CHECK_STR(err("1 w:Infinity"), "feature 'w:Infinity': value is not finite");
	CHECK_STR(err("1 3:1e39"), "feature '3:1e39': value is not finite");
	CHECK_STR(err("1 3:-1e300"), "feature '3:-1e300': value is not finite");
	CHECK_STR(err("1 3:1e99999999999"), "feature '3:1e99999999999': value is not finite");
	/* An error leaves no half-parsed features behind. */
	CHECK(err("1 1:1 2:2 3:x")[0] != '\0');
	CHECK(ex.nfeat == 0);

	/* Errors name the token, not the rest of the line. */
	CHECK_STR(err("1 1:1 2:x 3:3\r\n"), "bad value in '2:x'");
	CHECK_STR(err("1 1:1\tbad\t3:3"), "bad feature 'bad' (want index:value)");
}

static void
test_long_token_in_error(void)
{
	char	line[300];

	memcpy(line, "1 ", 2);
	memset(line + 2, 'z', 200);
	line[202] = '\0';
	CHECK(parse(line) == -1);
	CHECK_CONTAINS(cause, "bad feature 'zzzzzzzzzzzzzzzz");
	CHECK_CONTAINS(cause, "...' (want index:value)");
	CHECK(strlen(cause) < 120);
}

static void
test_numbers(void)
{
	CHECK(parse("1 1:0 2:-0 3:+3 4:.5 5:5. 6:1E2 7:1e+2 8:2.5e-1 9:0x10 10:00012") == 1);
	CHECK(ex.nfeat == 10);
	CHECK(ex.vals[0] == 0 && ex.vals[1] == 0);
	CHECK(ex.vals[2] == 3);
	CHECK(ex.vals[3] == 0.5f);
	CHECK(ex.vals[4] == 5);
	CHECK(ex.vals[5] == 100 && ex.vals[6] == 100);
	CHECK(ex.vals[7] == 0.25f);
	CHECK(ex.vals[8] == 16);	/* strtof's hex, via the slow path */
	CHECK(ex.vals[9] == 12);

	/* Very small and very large finite values, and many digits. */
	CHECK(parse("1 1:1e-45 2:1e-50 3:3.4028234e38 4:0.1000000000000000000000001 "
	    "5:123456789012345678901234567890 6:1e-40") == 1);
	CHECK(ex.vals[0] == strtof("1e-45", NULL) && ex.vals[0] > 0);
	CHECK(ex.vals[1] == 0);
	CHECK(ex.vals[2] == strtof("3.4028234e38", NULL));
	CHECK(ex.vals[3] == 0.1f);
	CHECK(ex.vals[4] == strtof("123456789012345678901234567890", NULL));
	CHECK(ex.vals[5] == strtof("1e-40", NULL));
}

/* A small deterministic generator for the comparison with strtof. */
static uint64_t rng = 88172645463325252ULL;

static uint64_t
next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
test_numbers_match_strtof(void)
{
	char		 line[128], num[64];
	int		 i, bad = 0, digits, point, e;
	float		 want;

	for (i = 0; i < 200000; i++) {
		uint64_t	m = next();
		int		len;

		/* Decimals of 1..19 digits, a dot somewhere, sometimes an exponent. */
		digits = 1 + (int)(next() % 19);
		len = snprintf(num, sizeof num, "%s%0*llu", (next() & 1) ? "-" : "",
		    digits, (unsigned long long)(m % 10000000000000000000ULL));
		point = (int)(next() % (unsigned)(digits + 1));
		if (point < digits) {
			memmove(num + len - point + 1, num + len - point, (size_t)point + 1);
			num[len - point] = '.';
			len++;
		}
		if (next() % 3 == 0) {
			e = (int)(next() % 60) - 30;
			snprintf(num + len, sizeof num - (size_t)len, "e%d", e);
		}
		snprintf(line, sizeof line, "1 1:%s", num);
		if (strcmp(num, ".") == 0 || strcmp(num, "-.") == 0)
			continue;
		want = strtof(num, NULL);
		if (!isfinite(want)) {
			if (parse(line) != -1)
				bad++;
			continue;
		}
		if (parse(line) != 1 || ex.nfeat != 1 || ex.vals[0] != want) {
			if (bad++ < 5)
				fprintf(stderr, "mismatch for %s: %.9g vs %.9g\n", num,
				    (double)ex.vals[0], (double)want);
		}
	}
	CHECK(bad == 0);

	/* Halfway cases between floats: 2^24 + 1 and friends, and a double-rounding trap. */
	CHECK(parse("1 1:16777217 2:16777219 3:1.00000005960464477539062500001 "
	    "4:0.500000029802322387695312") == 1);
	CHECK(ex.vals[0] == strtof("16777217", NULL));
	CHECK(ex.vals[1] == strtof("16777219", NULL));
	CHECK(ex.vals[2] == strtof("1.00000005960464477539062500001", NULL));
	CHECK(ex.vals[3] == strtof("0.500000029802322387695312", NULL));
}

static void
test_growth_and_reuse(void)
{
	static char	 line[20 * 5000];
	char		*p;
	size_t		 i, cap;

	p = line + snprintf(line, sizeof line, "1");
	for (i = 0; i < 5000; i++)
		p += snprintf(p, sizeof line - (size_t)(p - line), " %zu:%zu.5", i * 3, i);
	CHECK(libsvm_parse(line, (size_t)(p - line), &ex, &cause) == 1);
	CHECK(ex.nfeat == 5000);
	CHECK(ex.cap >= 5000);
	CHECK(ex.keys[4999] == 4999 * 3 && ex.vals[4999] == 4999.5f);
	cap = ex.cap;

	/* A shorter line reuses the arrays. */
	CHECK(parse("0 4:4") == 1);
	CHECK(ex.nfeat == 1 && ex.cap == cap && ex.keys[0] == 4);

	example_free(&ex);
	CHECK(ex.keys == NULL && ex.vals == NULL && ex.cap == 0 && ex.nfeat == 0);
	CHECK(parse("1 2:2") == 1);
	CHECK(ex.nfeat == 1 && ex.vals[0] == 2);
}

/* A regression's labels: any finite number, kept; the features parse the same. */
static void
test_real_labels(void)
{
	static const struct {
		const char	*line;
		float		 label;
	} good[] = {
		{ "3.25 1:1", 3.25f }, { "-1e3 1:1", -1e3f }, { "+1", 1 }, { "-1", -1 },
		{ "0", 0 }, { "1", 1 }, { "0.1 7:2", 0.1f }, { "-0.5\t2:1", -0.5f },
		{ "2 1:1", 2 }, { "1e-40", 1e-40f }, { "3.4e38", 3.4e38f },
	};
	size_t	i;

	real = 1;
	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		CHECK(parse(good[i].line) == 1);
		CHECK(ex.label == good[i].label);
	}
	CHECK(parse("2.5 1:0.5 w:2 # comment") == 1);
	CHECK(ex.label == 2.5f && ex.nfeat == 2 && ex.keys[0] == 1 && ex.vals[1] == 2);
	CHECK(ex.keys[1] == name("w"));
	CHECK(parse("# only a comment") == 0);
	CHECK_STR(err("abc 1:1"), "bad label 'abc' (want a number)");
	CHECK_STR(err("1:0.5 2:1"), "bad label '1:0.5' (want a number)");
	CHECK_STR(err("1x"), "bad label '1x' (want a number)");
	CHECK_STR(err("inf 1:1"), "bad label 'inf' (want a finite number)");
	CHECK_STR(err("nan 1:1"), "bad label 'nan' (want a finite number)");
	CHECK_STR(err("1e39 1:1"), "bad label '1e39' (want a finite number)");
	CHECK_STR(err("2 1:x"), "bad value in '1:x'");
	/* a label of 2 is still refused for a classifier */
	real = 0;
	CHECK_STR(err("2 1:1"), "bad label '2' (want +1/-1 or 1/0)");
	CHECK_STR(err("3.25 1:1"), "bad label '3.25' (want +1/-1 or 1/0)");
}

int
main(void)
{
	example_init(&ex);
	RUN(test_basic);
	RUN(test_labels);
	RUN(test_bad_labels);
	RUN(test_names);
	RUN(test_blank_and_comments);
	RUN(test_separators_and_endings);
	RUN(test_not_nul_terminated);
	RUN(test_bad_features);
	RUN(test_long_token_in_error);
	RUN(test_numbers);
	RUN(test_numbers_match_strtof);
	RUN(test_growth_and_reuse);
	RUN(test_real_labels);
	example_free(&ex);
	free(cause);
	return UNIT_DONE();
}
