/*
 * The msgpack -> JSON writer (lib/json.c): each kind of value, string escapes and
 * UTF-8 repair, exact integers, short exact floats, non-string keys; and random
 * values, whose text must always pass a strict JSON checker.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "ps/json.h"
#include "unit.h"

#define FUZZ_ROUNDS	20000

/* Unpack the one value in sb and return its JSON text (malloc'd). */
static char *
text_of(const msgpack_sbuffer *sb)
{
	msgpack_unpacked up;
	size_t off = 0;
	char *text;

	msgpack_unpacked_init(&up);
	if (msgpack_unpack_next(&up, sb->data, sb->size, &off) != MSGPACK_UNPACK_SUCCESS)
		abort();
	text = json_text(&up.data);
	msgpack_unpacked_destroy(&up);
	return text;
}

/* A packer writing to a fresh buffer. */
struct packed {
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
};

static msgpack_packer *
pack_begin(struct packed *p)
{
	msgpack_sbuffer_init(&p->sb);
	msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
	return &p->pk;
}

/* The JSON text of what was packed, compared with want; the buffer is freed. */
static void
pack_check(struct packed *p, const char *want, int line)
{
	char *text = text_of(&p->sb);

	unit_checks++;
	if (strcmp(text, want) != 0) {
		unit_failures++;
		fprintf(stderr, "%s:%d: JSON \"%s\", want \"%s\"\n", __FILE__, line, text,
		    want);
	}
	free(text);
	msgpack_sbuffer_destroy(&p->sb);
}
#define PACK_CHECK(p, want) pack_check((p), (want), __LINE__)

static void
pack_cstr(msgpack_packer *pk, const char *s, size_t n)
{
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

static void
test_scalars(void)
{
	struct packed p;

	msgpack_pack_nil(pack_begin(&p));
	PACK_CHECK(&p, "null");
	msgpack_pack_true(pack_begin(&p));
	PACK_CHECK(&p, "true");
	msgpack_pack_false(pack_begin(&p));
	PACK_CHECK(&p, "false");
	msgpack_pack_uint64(pack_begin(&p), 0);
	PACK_CHECK(&p, "0");
	/* all 64 bits, which a double would round */
	msgpack_pack_uint64(pack_begin(&p), UINT64_MAX);
	PACK_CHECK(&p, "18446744073709551615");
	msgpack_pack_uint64(pack_begin(&p), (1ULL << 53) + 1);
	PACK_CHECK(&p, "9007199254740993");
	msgpack_pack_int64(pack_begin(&p), -1);
	PACK_CHECK(&p, "-1");
	msgpack_pack_int64(pack_begin(&p), INT64_MIN);
	PACK_CHECK(&p, "-9223372036854775808");
}

static void
test_floats(void)
{
	struct packed p;

	msgpack_pack_double(pack_begin(&p), 0.1);
	PACK_CHECK(&p, "0.1");
	msgpack_pack_double(pack_begin(&p), 1.5);
	PACK_CHECK(&p, "1.5");
	msgpack_pack_double(pack_begin(&p), 0);
	PACK_CHECK(&p, "0");
	msgpack_pack_double(pack_begin(&p), -0.0);
	PACK_CHECK(&p, "-0");
	msgpack_pack_double(pack_begin(&p), 1e6);
	PACK_CHECK(&p, "1e+06");
	msgpack_pack_double(pack_begin(&p), 2.5e-7);
	PACK_CHECK(&p, "2.5e-07");
	/* more than six digits only when six do not read back */
	msgpack_pack_double(pack_begin(&p), 123456.7);
	PACK_CHECK(&p, "123456.7");
	msgpack_pack_double(pack_begin(&p), 1.0 / 3);
	PACK_CHECK(&p, "0.3333333333333333");
	msgpack_pack_double(pack_begin(&p), DBL_MAX);
	PACK_CHECK(&p, "1.7976931348623157e+308");
	/* JSON has no NaN or infinity */
	msgpack_pack_double(pack_begin(&p), NAN);
	PACK_CHECK(&p, "null");
	msgpack_pack_double(pack_begin(&p), INFINITY);
	PACK_CHECK(&p, "null");
	msgpack_pack_double(pack_begin(&p), -INFINITY);
	PACK_CHECK(&p, "null");
	/* float32: shortest for the float, not for its widened double */
	msgpack_pack_float(pack_begin(&p), 0.1f);
	PACK_CHECK(&p, "0.1");
	msgpack_pack_float(pack_begin(&p), 16777216.0f);
	PACK_CHECK(&p, "16777216");
	msgpack_pack_float(pack_begin(&p), 1.0f / 3);
	PACK_CHECK(&p, "0.33333334");
	msgpack_pack_float(pack_begin(&p), NAN);
	PACK_CHECK(&p, "null");
}

static void
test_put_numbers(void)
{
	struct json_buf b;

	json_init(&b);
	json_put_float(&b, 0.25f);
	json_put_raw(&b, ",");
	json_put_double(&b, -2);
	json_put_raw(&b, ",");
	json_put_uint(&b, 42);
	json_put_raw(&b, ",");
	json_put_int(&b, -42);
	CHECK_STR(b.data, "0.25,-2,42,-42");
	json_reset(&b);
	CHECK_STR(b.data, "");
	json_put_str(&b, "k", 1);
	CHECK_STR(b.data, "\"k\"");
	json_free(&b);
}

static void
test_strings(void)
{
	struct packed p;

	pack_cstr(pack_begin(&p), "", 0);
	PACK_CHECK(&p, "\"\"");
	pack_cstr(pack_begin(&p), "plain text", 10);
	PACK_CHECK(&p, "\"plain text\"");
	pack_cstr(pack_begin(&p), "a\"b\\c/d", 7);
	PACK_CHECK(&p, "\"a\\\"b\\\\c/d\"");
	pack_cstr(pack_begin(&p), "\b\f\n\r\t", 5);
	PACK_CHECK(&p, "\"\\b\\f\\n\\r\\t\"");
	/* other control characters, NUL included, as \u00XX; DEL is allowed as it is */
	pack_cstr(pack_begin(&p), "\x01\x1f\0\x7f", 4);
	PACK_CHECK(&p, "\"\\u0001\\u001f\\u0000\x7f\"");
	/* valid UTF-8 passes through: 2, 3 and 4 bytes */
	pack_cstr(pack_begin(&p), "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9);
	PACK_CHECK(&p, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
}

static void
test_bad_utf8(void)
{
	struct packed p;

	pack_cstr(pack_begin(&p), "a\xff" "b", 3);
	PACK_CHECK(&p, "\"a\\ufffdb\"");
	/* truncated at the end of the string */
	pack_cstr(pack_begin(&p), "x\xc3", 2);
	PACK_CHECK(&p, "\"x\\ufffd\"");
	pack_cstr(pack_begin(&p), "\xe2\x82", 2);
	PACK_CHECK(&p, "\"\\ufffd\\ufffd\"");
	/* overlong NUL, a surrogate, above U+10FFFF: each byte replaced */
	pack_cstr(pack_begin(&p), "\xc0\x80", 2);
	PACK_CHECK(&p, "\"\\ufffd\\ufffd\"");
	pack_cstr(pack_begin(&p), "\xed\xa0\x80", 3);
	PACK_CHECK(&p, "\"\\ufffd\\ufffd\\ufffd\"");
	pack_cstr(pack_begin(&p), "\xf4\x90\x80\x80", 4);
	PACK_CHECK(&p, "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
	/* a lone continuation byte, then a good character */
	pack_cstr(pack_begin(&p), "\x80\xc3\xa9", 3);
	PACK_CHECK(&p, "\"\\ufffd\xc3\xa9\"");
}

static void
test_bin(void)
{
	struct packed p;
	msgpack_packer *pk;

	pk = pack_begin(&p);
	msgpack_pack_bin(pk, 4);
	msgpack_pack_bin_body(pk, "\x00\xab\xff\x10", 4);
	PACK_CHECK(&p, "\"00abff10\"");
	pk = pack_begin(&p);
	msgpack_pack_bin(pk, 0);
	PACK_CHECK(&p, "\"\"");
	pk = pack_begin(&p);
	msgpack_pack_ext(pk, 2, 7);
	msgpack_pack_ext_body(pk, "\x01\x02", 2);
	PACK_CHECK(&p, "\"0102\"");
}

static void
test_containers(void)
{
	struct packed p;
	msgpack_packer *pk;

	msgpack_pack_array(pack_begin(&p), 0);
	PACK_CHECK(&p, "[]");
	msgpack_pack_map(pack_begin(&p), 0);
	PACK_CHECK(&p, "{}");
	pk = pack_begin(&p);
	msgpack_pack_array(pk, 3);
	msgpack_pack_uint64(pk, 1);
	msgpack_pack_array(pk, 1);
	msgpack_pack_nil(pk);
	pack_cstr(pk, "x", 1);
	PACK_CHECK(&p, "[1,[null],\"x\"]");
}

static void
test_keys(void)
{
	struct packed p;
	msgpack_packer *pk;

	pk = pack_begin(&p);
	msgpack_pack_map(pk, 6);
	pack_cstr(pk, "a\"", 2);
	msgpack_pack_uint64(pk, 1);
	msgpack_pack_uint64(pk, 7);
	msgpack_pack_true(pk);
	msgpack_pack_int64(pk, -3);
	msgpack_pack_nil(pk);
	msgpack_pack_bin(pk, 1);
	msgpack_pack_bin_body(pk, "\x0f", 1);
	msgpack_pack_double(pk, 0);
	msgpack_pack_false(pk);
	msgpack_pack_double(pk, 2.5);
	/* a key that is itself a container becomes its text, quoted */
	msgpack_pack_array(pk, 1);
	pack_cstr(pk, "k", 1);
	msgpack_pack_uint64(pk, 2);
	PACK_CHECK(&p, "{\"a\\\"\":1,\"7\":true,\"-3\":null,\"0f\":0,\"false\":2.5,"
	    "\"[\\\"k\\\"]\":2}");
}

/* A STATUS_OK map as the scheduler sends it: every field of ps-ctl(1). */
static void
test_status_map(void)
{
	struct packed p;
	msgpack_packer *pk;

	pk = pack_begin(&p);
	msgpack_pack_map(pk, 4);
	pack_cstr(pk, "epoch", 5);
	msgpack_pack_uint64(pk, 3);
	pack_cstr(pk, "servers", 7);
	msgpack_pack_uint64(pk, 2);
	pack_cstr(pk, "workers", 7);
	msgpack_pack_uint64(pk, 1);
	pack_cstr(pk, "nodes", 5);
	msgpack_pack_array(pk, 1);
	msgpack_pack_map(pk, 5);
	pack_cstr(pk, "id", 2);
	msgpack_pack_uint64(pk, 0);
	pack_cstr(pk, "role", 4);
	pack_cstr(pk, "scheduler", 9);
	pack_cstr(pk, "addr", 4);
	pack_cstr(pk, "127.0.0.1:7070", 14);
	pack_cstr(pk, "uptime", 6);
	msgpack_pack_double(pk, 12.25);
	pack_cstr(pk, "pushes_per_s", 12);
	msgpack_pack_float(pk, 1000.5f);
	PACK_CHECK(&p, "{\"epoch\":3,\"servers\":2,\"workers\":1,\"nodes\":[{\"id\":0,"
	    "\"role\":\"scheduler\",\"addr\":\"127.0.0.1:7070\",\"uptime\":12.25,"
	    "\"pushes_per_s\":1000.5}]}");
}

/* A strict JSON checker (RFC 8259) for the random values below: each returns the
 * position after a valid value, or NULL. */
static const char *check_value(const char *, int depth);

static const char *
skip_digits(const char *s)
{
	if (*s < '0' || *s > '9')
		return NULL;
	while (*s >= '0' && *s <= '9')
		s++;
	return s;
}

static const char *
check_number(const char *s)
{
	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if ((s = skip_digits(s)) == NULL)
		return NULL;
	if (*s == '.' && (s = skip_digits(s + 1)) == NULL)
		return NULL;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		s = skip_digits(s);
	}
	return s;
}

static const char *
check_string(const char *s)
{
	const unsigned char *u;
	int i;

	if (*s++ != '"')
		return NULL;
	for (u = (const unsigned char *)s; *u != '"'; u++) {
		if (*u < 0x20)
			return NULL;
		if (*u != '\\')
			continue;
		u++;
		if (*u == 'u') {
			for (i = 1; i <= 4; i++)
				if (!strchr("0123456789abcdefABCDEF", u[i]) || u[i] == '\0')
					return NULL;
			u += 4;
		} else if (*u == '\0' || !strchr("\"\\/bfnrt", *u))
			return NULL;
	}
	return (const char *)u + 1;
}

static const char *
check_members(const char *s, char close, int depth, int keyed)
{
	s++;
	if (*s == close)
		return s + 1;
	for (;;) {
		if (keyed) {
			if ((s = check_string(s)) == NULL || *s++ != ':')
				return NULL;
		}
		if ((s = check_value(s, depth + 1)) == NULL)
			return NULL;
		if (*s == close)
			return s + 1;
		if (*s++ != ',')
			return NULL;
	}
}

static const char *
check_value(const char *s, int depth)
{
	if (depth > 64)
		return NULL;
	switch (*s) {
	case '{': return check_members(s, '}', depth, 1);
	case '[': return check_members(s, ']', depth, 0);
	case '"': return check_string(s);
	case 't': return strncmp(s, "true", 4) == 0 ? s + 4 : NULL;
	case 'f': return strncmp(s, "false", 5) == 0 ? s + 5 : NULL;
	case 'n': return strncmp(s, "null", 4) == 0 ? s + 4 : NULL;
	}
	return check_number(s);
}

static int
valid_json(const char *s)
{
	const char *end = check_value(s, 0);

	return end != NULL && *end == '\0';
}

static uint64_t fuzz_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
fuzz_next(void)
{
	/* xorshift64*: reproducible, no libc rand() state */
	fuzz_state ^= fuzz_state >> 12;
	fuzz_state ^= fuzz_state << 25;
	fuzz_state ^= fuzz_state >> 27;
	return fuzz_state * 0x2545f4914f6cdd1dULL;
}

/* Random bytes, biased towards the awkward ones. */
static void
fuzz_bytes(char *buf, size_t n)
{
	static const char awkward[] = "\"\\\x01\x7f\xc3\xa9\xed\xa0\xf4\x90\xff\n/";
	size_t i;

	for (i = 0; i < n; i++) {
		if (fuzz_next() % 2)
			buf[i] = awkward[fuzz_next() % (sizeof awkward - 1)];
		else
			buf[i] = (char)fuzz_next();
	}
}

static void
fuzz_pack(msgpack_packer *pk, int depth)
{
	uint64_t r = fuzz_next(), bits;
	char buf[16];
	double d;
	uint32_t i, n = (uint32_t)(fuzz_next() % 4);

	switch (depth > 4 ? r % 7 : r % 9) {
	case 0: msgpack_pack_nil(pk); break;
	case 1: msgpack_pack_uint64(pk, fuzz_next()); break;
	case 2: msgpack_pack_int64(pk, (int64_t)fuzz_next()); break;
	case 3:
		/* any bit pattern: NaNs, infinities, subnormals */
		bits = fuzz_next();
		memcpy(&d, &bits, sizeof d);
		msgpack_pack_double(pk, d);
		break;
	case 4: msgpack_pack_float(pk, (float)(int64_t)fuzz_next() / 1e9f); break;
	case 5:
		fuzz_bytes(buf, n * 4);
		pack_cstr(pk, buf, n * 4);
		break;
	case 6:
		fuzz_bytes(buf, n);
		msgpack_pack_bin(pk, n);
		msgpack_pack_bin_body(pk, buf, n);
		break;
	case 7:
		msgpack_pack_array(pk, n);
		for (i = 0; i < n; i++)
			fuzz_pack(pk, depth + 1);
		break;
	case 8:
		msgpack_pack_map(pk, n);
		for (i = 0; i < 2 * n; i++)
			fuzz_pack(pk, depth + 1);
		break;
	}
}

static void
test_fuzz(void)
{
	struct packed p;
	char *text;
	int round, bad = 0;

	for (round = 0; round < FUZZ_ROUNDS; round++) {
		fuzz_pack(pack_begin(&p), 0);
		text = text_of(&p.sb);
		if (!valid_json(text) && bad++ < 5)
			fprintf(stderr, "invalid JSON: %s\n", text);
		free(text);
		msgpack_sbuffer_destroy(&p.sb);
	}
	CHECK(bad == 0);
	/* the checker itself rejects what it should */
	CHECK(!valid_json("nan"));
	CHECK(!valid_json("\"a\x01\""));
	CHECK(!valid_json("{1:2}"));
	CHECK(!valid_json("[1,]"));
	CHECK(valid_json("{\"a\":[1,-0.5e+3,\"\\u00e9\"]}"));
}

int
main(void)
{
	RUN(test_scalars);
	RUN(test_floats);
	RUN(test_put_numbers);
	RUN(test_strings);
	RUN(test_bad_utf8);
	RUN(test_bin);
	RUN(test_containers);
	RUN(test_keys);
	RUN(test_status_map);
	RUN(test_fuzz);
	return UNIT_DONE();
}
