/* The token rule of ps-tokenize(1): which bytes make tokens, lowercasing, the 256-byte
 * cap, and index = hash_name(token) mod 2^bits + 1, sorted and unique. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ps/hash.h"
#include "ps/tokenize.h"
#include "unit.h"

static uint32_t
index_of(const char *tok, size_t len, int bits)
{
	return (uint32_t)(hash_name(tok, len) % (UINT64_C(1) << bits)) + 1;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t	x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* 1 if tokenizing text (len bytes) gives exactly the sorted unique indices of the
 * NULL-terminated tokens, and ntokens tokens in all. */
static int
same(struct ps_tokenize *t, const char *text, size_t len, size_t ntokens, ...)
{
	uint32_t	 want[64];
	size_t		 n = 0, i, j;
	const char	*tok;
	va_list		 ap;

	va_start(ap, ntokens);
	while ((tok = va_arg(ap, const char *)) != NULL && n < 64) {
		want[n] = index_of(tok, strlen(tok), t->bits);
		n++;
	}
	va_end(ap);
	qsort(want, n, sizeof *want, cmp_u32);
	for (i = j = 0; i < n; i++) {
		if (j == 0 || want[i] != want[j - 1])
			want[j++] = want[i];
	}
	if (tokenize_text(t, text, len) != j || t->nidx != j || t->ntokens != ntokens)
		return 0;
	for (i = 0; i < j; i++) {
		if (t->idx[i] != want[i])
			return 0;
	}
	return 1;
}

#define SAME(t, text, ntokens, ...) \
	same((t), (text), sizeof (text) - 1, (ntokens), __VA_ARGS__, (const char *)NULL)

static void
test_word_bytes(void)
{
	int	c, want;

	for (c = 0; c < 256; c++) {
		want = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '$' || c == '!' || c == '\'' ||
		    c == '_' || c == '-' || c >= 0x80;
		if (tokenize_is_word((unsigned char)c) != want)
			fprintf(stderr, "  byte 0x%02x: %d, want %d\n", c,
			    tokenize_is_word((unsigned char)c), want);
		CHECK(tokenize_is_word((unsigned char)c) == want);
	}
}

static void
test_index_pinned(void)
{
	struct ps_tokenize	t;

	/* hash_name("hello") is 0x9555e8555c62dcfd, "a" 0xe6c632b61e964e1f. */
	tokenize_init(&t, 20);
	CHECK(tokenize_text(&t, "hello", 5) == 1);
	CHECK(t.idx[0] == 0x2dcfd + 1);
	CHECK(tokenize_text(&t, "a", 1) == 1);
	CHECK(t.idx[0] == 0x64e1f + 1);
	tokenize_free(&t);

	tokenize_init(&t, 31);
	CHECK(tokenize_text(&t, "hello", 5) == 1);
	CHECK(t.idx[0] == UINT32_C(0x5c62dcfd) + 1);
	tokenize_free(&t);

	tokenize_init(&t, 1);
	CHECK(tokenize_text(&t, "hello", 5) == 1);
	CHECK(t.idx[0] == 2);
	tokenize_free(&t);

	tokenize_init(&t, PS_TOKENIZE_BITS);
	CHECK(t.bits == 20);
	CHECK(SAME(&t, "hello world", 2, "hello", "world"));
	tokenize_free(&t);
}

static void
test_lowercase(void)
{
	struct ps_tokenize	t;

	tokenize_init(&t, 20);
	CHECK(SAME(&t, "Hello WORLD hElLo", 3, "hello", "world"));
	CHECK(SAME(&t, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 1, "abcdefghijklmnopqrstuvwxyz"));
	/* Digits and the punctuation are kept as they are. */
	CHECK(SAME(&t, "MP3 $Free! DON'T Snake_Case E-Mail", 5,
	    "mp3", "$free!", "don't", "snake_case", "e-mail"));
	tokenize_free(&t);
}

static void
test_punctuation(void)
{
	struct ps_tokenize	t;

	tokenize_init(&t, 20);
	/* The five characters $ ! ' _ - are inside tokens, even alone. */
	CHECK(SAME(&t, "$5 free!!! don't snake_case e-mail", 5,
	    "$5", "free!!!", "don't", "snake_case", "e-mail"));
	CHECK(SAME(&t, "- $ ! ' _", 5, "-", "$", "!", "'", "_"));
	CHECK(SAME(&t, "--", 1, "--"));
	/* Every other ASCII byte separates. */
	CHECK(SAME(&t, "a.b,c;d:e@f#g%h&i*j(k)l[m]n{o}p<q>r/s\\t|u\"v`w~x^y+z=0?1", 28,
	    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p",
	    "q", "r", "s", "t", "u", "v", "w", "x", "y", "z", "0", "1"));
	CHECK(SAME(&t, "a b\tc\nd\re\vf\fg\001h\037i\177j", 10,
	    "a", "b", "c", "d", "e", "f", "g", "h", "i", "j"));
	/* A NUL is a separator like any other byte, not the end of the text. */
	CHECK(SAME(&t, "one\0two", 2, "one", "two"));
	tokenize_free(&t);
}

static void
test_high_bytes(void)
{
	struct ps_tokenize	t;

	tokenize_init(&t, 20);
	/* UTF-8 letters stay inside words. */
	CHECK(SAME(&t, "caf\xc3\xa9 na\xc3\xafve", 2, "caf\xc3\xa9", "na\xc3\xafve"));
	/* Only ASCII letters are lowercased: \xc3\x89 (E acute) is kept. */
	CHECK(SAME(&t, "\xc3\x89T\xc3\x89", 1, "\xc3\x89t\xc3\x89"));
	CHECK(!SAME(&t, "\xc3\x89T\xc3\x89", 1, "\xc3\xa9t\xc3\xa9"));
	/* Every byte from 0x80 to 0xff, alone, is a token. */
	CHECK(SAME(&t, "x\x80y\xffz", 1, "x\x80y\xffz"));
	CHECK(SAME(&t, " \x80 \xff ", 2, "\x80", "\xff"));
	tokenize_free(&t);
}

static void
test_cap(void)
{
	struct ps_tokenize	t;
	char			text[600], want[PS_TOKENIZE_TOKEN_MAX];
	uint32_t		first;

	CHECK(PS_TOKENIZE_TOKEN_MAX == 256);
	tokenize_init(&t, 31);
	memset(want, 'a', sizeof want);

	/* 256 bytes: the whole run. */
	memset(text, 'a', 256);
	CHECK(tokenize_text(&t, text, 256) == 1);
	CHECK(t.idx[0] == index_of(want, 256, 31));
	first = t.idx[0];
	/* 255 bytes differ from 256. */
	CHECK(tokenize_text(&t, text, 255) == 1);
	CHECK(t.idx[0] == index_of(want, 255, 31));
	CHECK(t.idx[0] != first);
	/* 257 and 600 bytes count as their first 256, uppercase lowercased. */
	CHECK(tokenize_text(&t, text, 257) == 1);
	CHECK(t.idx[0] == first);
	memset(text, 'A', sizeof text);
	CHECK(tokenize_text(&t, text, sizeof text) == 1);
	CHECK(t.ntokens == 1);
	CHECK(t.idx[0] == first);
	/* Whatever follows byte 256 of the run is ignored... */
	memset(text, 'a', sizeof text);
	text[256] = 'b';
	text[400] = 'Z';
	CHECK(tokenize_text(&t, text, 500) == 1);
	CHECK(t.idx[0] == first);
	/* ...but a separator after it starts the next token. */
	text[300] = ' ';
	memcpy(text + 301, "next", 4);
	text[305] = '.';
	CHECK(tokenize_text(&t, text, 306) == 2);
	CHECK(t.ntokens == 2);
	CHECK(t.idx[0] == (first < index_of("next", 4, 31) ? first :
	    index_of("next", 4, 31)));
	tokenize_free(&t);
}

static void
test_sorted_unique(void)
{
	struct ps_tokenize	t;
	char			text[32768];
	size_t			i, len = 0;

	tokenize_init(&t, 20);
	CHECK(SAME(&t, "b a c a b a", 6, "a", "b", "c"));
	CHECK(t.nidx == 3);
	CHECK(t.idx[0] < t.idx[1] && t.idx[1] < t.idx[2]);

	tokenize_free(&t);

	/* Many tokens, past the first allocation of 4096 indices. */
	tokenize_init(&t, 31);
	for (i = 0; i < 5000; i++)
		len += (size_t)snprintf(text + len, sizeof text - len, "w%zu ", i % 700);
	CHECK(len < sizeof text);
	CHECK(tokenize_text(&t, text, len) == 700);
	CHECK(t.ntokens == 5000);
	for (i = 1; i < t.nidx; i++)
		CHECK(t.idx[i - 1] < t.idx[i]);
	tokenize_free(&t);

	/* Two bits: tokens share indices and count once, all within 1 to 4. */
	tokenize_init(&t, 2);
	CHECK(tokenize_text(&t, text, len) == 4);
	CHECK(t.ntokens == 5000);
	for (i = 0; i < t.nidx; i++)
		CHECK(t.idx[i] == i + 1);
	tokenize_free(&t);
}

static void
test_empty(void)
{
	struct ps_tokenize	t;

	tokenize_init(&t, 20);
	CHECK(tokenize_text(&t, "", 0) == 0);
	CHECK(t.ntokens == 0);
	CHECK(SAME(&t, " .,;\n\t\r\n\0", 0, (const char *)NULL));
	/* A document after a full one starts afresh. */
	CHECK(tokenize_text(&t, "a b c", 5) == 3);
	CHECK(tokenize_text(&t, "...", 3) == 0);
	CHECK(t.nidx == 0);
	tokenize_free(&t);
}

static void
test_write(void)
{
	struct ps_tokenize	t;
	char			*buf = NULL, want[64];
	size_t			 len = 0;
	uint32_t		 a = index_of("a", 1, 20), b = index_of("b", 1, 20);
	FILE			*f;

	tokenize_init(&t, 20);
	f = open_memstream(&buf, &len);
	CHECK(f != NULL);
	if (f == NULL)
		return;
	tokenize_text(&t, "B a b", 5);
	tokenize_write(&t, "-1", f);
	tokenize_text(&t, "", 0);
	tokenize_write(&t, "+1", f);
	CHECK(fclose(f) == 0);
	snprintf(want, sizeof want, "-1 %u:1 %u:1\n+1\n", a < b ? a : b, a < b ? b : a);
	CHECK_STR(buf, want);
	free(buf);
	tokenize_free(&t);
}

static void
test_file(void)
{
	struct ps_tokenize	t;
	char			 path[] = "/tmp/test_tokenize.XXXXXX";
	char			*buf = NULL, want[64];
	size_t			 len = 0;
	FILE			*f;
	int			 fd;

	tokenize_init(&t, 20);
	fd = mkstemp(path);
	CHECK(fd != -1);
	if (fd == -1)
		return;
	CHECK(write(fd, "Hello\n", 6) == 6);
	close(fd);
	f = open_memstream(&buf, &len);
	CHECK(f != NULL);
	if (f == NULL)
		return;
	CHECK(tokenize_file(&t, path, "+1", f) == 0);
	CHECK(t.textlen == 6);
	unlink(path);
	errno = 0;
	CHECK(tokenize_file(&t, path, "+1", f) == -1);
	CHECK(errno == ENOENT);
	CHECK(fclose(f) == 0);
	snprintf(want, sizeof want, "+1 %u:1\n", index_of("hello", 5, 20));
	CHECK_STR(buf, want);
	free(buf);
	tokenize_free(&t);
}

int
main(void)
{
	RUN(test_word_bytes);
	RUN(test_index_pinned);
	RUN(test_lowercase);
	RUN(test_punctuation);
	RUN(test_high_bytes);
	RUN(test_cap);
	RUN(test_sorted_unique);
	RUN(test_empty);
	RUN(test_write);
	RUN(test_file);
	return UNIT_DONE();
}
