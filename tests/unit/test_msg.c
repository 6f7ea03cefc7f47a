/*
 * The frame codec (lib/msg.c): building frames, checking and decoding them.
 *
 * Every buffer handed to msg_validate or msg_decode here is a malloc'd copy of exactly
 * the bytes under test, so that under ASan (make sanitize) a read one byte past the end
 * is an error, not a silent read of the rest of a larger buffer.
 */
#include <float.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ps/msg.h"
#include "ps/proto.h"
#include "unit.h"

#define FUZZ_ROUNDS	200000

/* An exact-size heap copy of len bytes. */
static char *
dup_exact(const void *p, size_t len)
{
	char *q = malloc(len ? len : 1);

	if (q == NULL)
		abort();
	if (len > 0)
		memcpy(q, p, len);
	return q;
}

/* msg_validate on an exact copy; the cause is kept for the caller (or NULL). */
static int
validate(const void *p, size_t len, char **cause)
{
	char *q = dup_exact(p, len), *why = NULL;
	int r = msg_validate(q, len, &why);

	free(q);
	if (r != 0 && why == NULL)
		why = strdup("(no cause)");
	if (cause != NULL)
		*cause = why;
	else
		free(why);
	return r;
}

static uint32_t
frame_len(const char *p)
{
	const unsigned char *u = (const unsigned char *)p;

	return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 | u[3];
}

static const struct ps_hdr test_hdr = {
	.version = PS_PROTOCOL_VERSION,
	.type = PS_MSG_PUSH,
	.id = UINT64_MAX,
	.sender = UINT32_MAX,
	.epoch = UINT64_C(1) << 40,
	.clock = 12345,
};

/* A frame with one argument of every kind msg_put_* makes. */
#define RICH_NARGS	22
static void
build_rich(struct ps_wbuf *w, char *big, size_t bigl)
{
	static const char bytes[] = { 0, 1, 2, (char)0xff };
	unsigned char *sp;
	size_t i;

	msg_begin(w, &test_hdr, RICH_NARGS);
	msg_put_uint(w, 0);			/* 0 */
	msg_put_uint(w, 127);
	msg_put_uint(w, 128);
	msg_put_uint(w, UINT64_C(1) << 32);
	msg_put_uint(w, UINT64_MAX);
	msg_put_int(w, -1);			/* 5 */
	msg_put_int(w, -33);
	msg_put_int(w, INT64_MIN);
	msg_put_int(w, 5);
	msg_put_float(w, 1.5);
	msg_put_float(w, -1e300);		/* 10 */
	msg_put_bool(w, 1);
	msg_put_bool(w, 0);
	msg_put_str(w, "");
	msg_put_str(w, "h\xc3\xa9llo");
	msg_put_str(w, big);			/* 15: str16 */
	msg_put_bin(w, bytes, 0);
	msg_put_bin(w, bytes, sizeof bytes);
	sp = msg_put_bin_space(w, bigl);	/* 18: bin16, filled in place */
	for (i = 0; i < bigl; i++)
		sp[i] = (unsigned char)(i * 7);
	msg_put_array(w, 2);			/* 19: [1, [true]] */
	msg_put_uint(w, 1);
	msg_put_array(w, 1);
	msg_put_bool(w, 1);
	msg_put_map(w, 2);			/* 20: {"a": 1, "b": "c"} */
	msg_put_str(w, "a");
	msg_put_uint(w, 1);
	msg_put_str(w, "b");
	msg_put_str(w, "c");
	msg_put_array(w, 0);			/* 21 */
	msg_end(w);
}

static void
test_round_trip(void)
{
	struct ps_wbuf w;
	struct ps_msg m;
	char big[301], *cause = NULL, *s;
	const char *b;
	size_t len, i;
	int same;

	memset(big, 'x', 300);
	big[300] = '\0';
	wbuf_init(&w);
	build_rich(&w, big, 5000);
	CHECK(w.len > 4 && frame_len(w.data) == w.len - 4);
	CHECK(msg_decode(&m, w.data + 4, w.len - 4, &cause) == 0);
	CHECK(cause == NULL);
	CHECK(m.hdr.version == PS_PROTOCOL_VERSION);
	CHECK(m.hdr.type == PS_MSG_PUSH);
	CHECK(m.hdr.id == UINT64_MAX);
	CHECK(m.hdr.sender == UINT32_MAX);
	CHECK(m.hdr.epoch == UINT64_C(1) << 40);
	CHECK(m.hdr.clock == 12345);
	CHECK(m.nargs == RICH_NARGS);
	CHECK(msg_check(&m, "uuuuuiiiiffttssssbbbama", &cause) == -1);	/* one too many */
	free(cause);
	cause = NULL;
	CHECK(msg_check(&m, "uuuuuiiiiffttsssbbbama", &cause) == 0);
	CHECK(cause == NULL);

	CHECK(msg_uint(&m, 0) == 0);
	CHECK(msg_uint(&m, 1) == 127);
	CHECK(msg_uint(&m, 2) == 128);
	CHECK(msg_uint(&m, 3) == UINT64_C(1) << 32);
	CHECK(msg_uint(&m, 4) == UINT64_MAX);
	CHECK(msg_int(&m, 5) == -1);
	CHECK(msg_int(&m, 6) == -33);
	CHECK(msg_int(&m, 7) == INT64_MIN);
	CHECK(msg_int(&m, 8) == 5);
	CHECK(m.args[8].type == MSGPACK_OBJECT_POSITIVE_INTEGER);
	CHECK(msg_float(&m, 9) == 1.5);
	CHECK(msg_float(&m, 10) == -1e300);
	CHECK(msg_float(&m, 4) == (double)UINT64_MAX);	/* integers read as numbers */
	CHECK(msg_float(&m, 6) == -33.0);
	CHECK(m.args[11].type == MSGPACK_OBJECT_BOOLEAN && m.args[11].via.boolean);
	CHECK(m.args[12].type == MSGPACK_OBJECT_BOOLEAN && !m.args[12].via.boolean);
	s = msg_strdup(&m, 13);
	CHECK_STR(s, "");
	free(s);
	s = msg_strdup(&m, 14);
	CHECK_STR(s, "h\xc3\xa9llo");
	free(s);
	s = msg_strdup(&m, 15);
	CHECK_STR(s, big);
	free(s);
	b = msg_bin(&m, 16, &len);
	CHECK(len == 0);
	b = msg_bin(&m, 17, &len);
	CHECK(len == 4 && memcmp(b, "\0\1\2\xff", 4) == 0);
	/* bin points into the frame: decoding copies no bulk data */
	CHECK(b > w.data && b + len <= w.data + w.len);
	b = msg_bin(&m, 18, &len);
	CHECK(len == 5000);
	for (i = 0, same = 1; i < len; i++)
		same &= (unsigned char)b[i] == (unsigned char)(i * 7);
	CHECK(same);
	CHECK(m.args[19].via.array.size == 2);
	CHECK(m.args[19].via.array.ptr[1].type == MSGPACK_OBJECT_ARRAY);
	CHECK(m.args[19].via.array.ptr[1].via.array.size == 1);
	CHECK(m.args[20].via.map.size == 2);
	CHECK(m.args[20].via.map.ptr[1].val.type == MSGPACK_OBJECT_STR);
	CHECK(m.args[21].type == MSGPACK_OBJECT_ARRAY && m.args[21].via.array.size == 0);
	msg_free(&m);
	msg_free(&m);		/* twice is harmless */
	wbuf_free(&w);
}

/* Several frames in one buffer; reset; msg_simple, msg_error, msg_reply_hdr. */
static void
test_frames(void)
{
	struct ps_wbuf w;
	struct ps_msg m;
	struct ps_hdr h = { .version = PS_PROTOCOL_VERSION, .type = PS_MSG_PULL, .id = 7,
			    .sender = 3, .epoch = 2, .clock = 9 }, r;
	char *cause = NULL, *text;
	size_t off, l1;

	wbuf_init(&w);
	CHECK(w.len == 0 && w.data == NULL);
	msg_begin(&w, &h, 1);
	msg_put_uint(&w, 42);
	msg_end(&w);
	l1 = w.len;
	msg_error(&w, &h, PS_ERR_CLIENT, "bad keys");
	msg_simple(&w, &h);

	/* first */
	CHECK(frame_len(w.data) == l1 - 4);
	CHECK(msg_decode(&m, w.data + 4, l1 - 4, &cause) == 0);
	CHECK(m.hdr.type == PS_MSG_PULL && m.nargs == 1 && msg_uint(&m, 0) == 42);
	r = msg_reply_hdr(&m, PS_MSG_PULL_OK, 11, 5);
	CHECK(r.version == PS_PROTOCOL_VERSION && r.type == PS_MSG_PULL_OK);
	CHECK(r.id == 7 && r.sender == 11 && r.epoch == 5 && r.clock == 0);
	msg_free(&m);

	/* the ERROR: same id, type ERROR, [code, text] */
	off = l1;
	CHECK(msg_decode(&m, w.data + off + 4, frame_len(w.data + off), &cause) == 0);
	CHECK(m.hdr.type == PS_MSG_ERROR && m.hdr.id == 7 && m.hdr.sender == 3);
	CHECK(msg_check(&m, "us", &cause) == 0);
	CHECK(msg_uint(&m, 0) == PS_ERR_CLIENT);
	text = msg_strdup(&m, 1);
	CHECK_STR(text, "bad keys");
	free(text);
	off += 4 + frame_len(w.data + off);
	msg_free(&m);

	/* the simple reply: no arguments, and the buffer ends with it */
	CHECK(msg_decode(&m, w.data + off + 4, frame_len(w.data + off), &cause) == 0);
	CHECK(m.hdr.type == PS_MSG_PULL && m.nargs == 0 && m.hdr.clock == 9);
	CHECK(msg_check(&m, "", &cause) == 0);
	off += 4 + frame_len(w.data + off);
	CHECK(off == w.len);
	msg_free(&m);

	/* reset keeps the memory, starts over */
	wbuf_reset(&w);
	CHECK(w.len == 0);
	msg_simple(&w, &h);
	CHECK(frame_len(w.data) == w.len - 4);
	CHECK(msg_decode(&m, w.data + 4, w.len - 4, &cause) == 0);
	msg_free(&m);
	CHECK(cause == NULL);
	wbuf_free(&w);
	CHECK(w.data == NULL && w.len == 0);
}

/* A big bin grows the buffer in place, and the frame length covers it. */
static void
test_big_bin(void)
{
	struct ps_wbuf w;
	struct ps_msg m;
	size_t n = 3 << 20, len;
	char *p, *cause = NULL;
	const char *b;

	wbuf_init(&w);
	msg_begin(&w, &test_hdr, 2);
	msg_put_uint(&w, 1);
	p = msg_put_bin_space(&w, n);
	memset(p, 0xab, n);
	msg_end(&w);
	CHECK(frame_len(w.data) == w.len - 4);
	CHECK(msg_decode(&m, w.data + 4, w.len - 4, &cause) == 0);
	CHECK(msg_check(&m, "ub", &cause) == 0);
	b = msg_bin(&m, 1, &len);
	CHECK(len == n && (unsigned char)b[0] == 0xab && (unsigned char)b[n - 1] == 0xab);
	msg_free(&m);
	wbuf_free(&w);
}

static void
expect_check(const struct ps_msg *m, const char *fmt, const char *want)
{
	char *cause = NULL;

	if (want == NULL) {
		CHECK(msg_check(m, fmt, &cause) == 0);
		if (cause != NULL)
			fprintf(stderr, "    fmt \"%s\": %s\n", fmt, cause);
	} else {
		CHECK(msg_check(m, fmt, &cause) == -1);
		CHECK_STR(cause, want);
	}
	free(cause);
}

static void
test_check(void)
{
	struct ps_wbuf w;
	struct ps_msg m;
	struct ps_hdr h = { .version = PS_PROTOCOL_VERSION, .type = PS_MSG_PUSH };
	char *cause = NULL;

	wbuf_init(&w);
	msg_begin(&w, &h, 9);
	msg_put_uint(&w, 3);		/* 1 u */
	msg_put_int(&w, -3);		/* 2 i */
	msg_put_float(&w, 0.25);	/* 3 f */
	msg_put_str(&w, "s");		/* 4 s */
	msg_put_bin(&w, "b", 1);	/* 5 b */
	msg_put_array(&w, 0);		/* 6 a */
	msg_put_map(&w, 0);		/* 7 m */
	msg_put_bool(&w, 1);		/* 8 t */
	msg_put_str(&w, "any");		/* 9 * */
	msg_end(&w);
	CHECK(msg_decode(&m, w.data + 4, w.len - 4, &cause) == 0);

	expect_check(&m, "uifsbamt*", NULL);
	expect_check(&m, "*********", NULL);
	expect_check(&m, "ii", "PUSH has 9 arguments, want 2");
	expect_check(&m, "uifsbamt*.", NULL);		/* '.': extra allowed, none there */
	expect_check(&m, "uif.", NULL);
	expect_check(&m, ".", NULL);
	expect_check(&m, "uifsbamt*u", "PUSH has 9 arguments, want 10");
	expect_check(&m, "uifsbamt*u.", "PUSH has 9 arguments, want 10");
	expect_check(&m, "", "PUSH has 9 arguments, want 0");
	/* each letter refuses what it does not name, and says what it wanted */
	expect_check(&m, "i.", NULL);			/* an unsigned is an integer */
	expect_check(&m, "f.", NULL);			/* and a number */
	expect_check(&m, "ui.", NULL);
	expect_check(&m, "uf.", NULL);
	expect_check(&m, "uu.", "PUSH argument 2 is not an unsigned integer");
	expect_check(&m, "uis.", "PUSH argument 3 is not a string");
	expect_check(&m, "uifs.", NULL);
	expect_check(&m, "uii.", "PUSH argument 3 is not an integer");
	expect_check(&m, "uifb.", "PUSH argument 4 is not a bin");
	expect_check(&m, "uifsf.", "PUSH argument 5 is not a number");
	expect_check(&m, "uifss.", "PUSH argument 5 is not a string");
	expect_check(&m, "uifsbm.", "PUSH argument 6 is not a map");
	expect_check(&m, "uifsba.", NULL);
	expect_check(&m, "uifsbaa.", "PUSH argument 7 is not an array");
	expect_check(&m, "uifsbamu.", "PUSH argument 8 is not an unsigned integer");
	expect_check(&m, "uifsbamt.", NULL);
	expect_check(&m, "uifsbamtt", "PUSH argument 9 is not a boolean");
	msg_free(&m);

	/* the message type is named, or called unknown */
	wbuf_reset(&w);
	h.type = PS_MSG_HELLO;
	msg_begin(&w, &h, 1);
	msg_put_uint(&w, 2);
	msg_end(&w);
	CHECK(msg_decode(&m, w.data + 4, w.len - 4, &cause) == 0);
	expect_check(&m, "uus", "HELLO has 1 arguments, want 3");
	expect_check(&m, "uus.", "HELLO has 1 arguments, want 3");
	expect_check(&m, "s", "HELLO argument 1 is not a string");
	msg_free(&m);
	wbuf_reset(&w);
	h.type = 0x7777;
	msg_simple(&w, &h);
	CHECK(msg_decode(&m, w.data + 4, w.len - 4, &cause) == 0);
	CHECK(m.hdr.type == 0x7777);
	expect_check(&m, "u", "unknown message has 0 arguments, want 1");
	msg_free(&m);
	wbuf_free(&w);
}

/*
 * One value of every msgpack format family, some in non-minimal encodings (a str32
 * holding 2 bytes) so that every length width is walked.
 */
static const unsigned char every_kind[] = {
	0xdc, 0x00, 0x25,			/* array16 of 37 */
	0x00, 0x7f, 0xe0, 0xff,			/* positive and negative fixint */
	0xc0, 0xc2, 0xc3,			/* nil false true */
	0xcc, 0xff, 0xcd, 0x01, 0x00,		/* uint8 uint16 */
	0xce, 0, 0, 1, 0, 0xcf, 0, 0, 0, 1, 0, 0, 0, 0,	/* uint32 uint64 */
	0xd0, 0x80, 0xd1, 0x80, 0,		/* int8 int16 */
	0xd2, 0x80, 0, 0, 0, 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0,	/* int32 int64 */
	0xca, 0x3f, 0xc0, 0, 0,			/* float32 1.5 */
	0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0,	/* float64 1.5 */
	0xa2, 'h', 'i',				/* fixstr */
	0xd9, 2, 'h', 'i',			/* str8 */
	0xda, 0, 2, 'h', 'i',			/* str16 */
	0xdb, 0, 0, 0, 2, 'h', 'i',		/* str32 */
	0xc4, 1, 'x',				/* bin8 */
	0xc5, 0, 1, 'x',			/* bin16 */
	0xc6, 0, 0, 0, 1, 'x',			/* bin32 */
	0xd4, 1, 'a',				/* fixext1: type, 1 byte */
	0xd5, 1, 'a', 'b',			/* fixext2 */
	0xd6, 1, 'a', 'b', 'c', 'd',		/* fixext4 */
	0xd7, 1, 1, 2, 3, 4, 5, 6, 7, 8,	/* fixext8 */
	0xd8, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, /* fixext16 */
	0xc7, 2, 1, 'a', 'b',			/* ext8 of 2: type, 2 bytes */
	0xc8, 0, 2, 1, 'a', 'b',		/* ext16 */
	0xc9, 0, 0, 0, 2, 1, 'a', 'b',		/* ext32 */
	0x92, 0x01, 0x90,			/* fixarray [1, []] */
	0xdd, 0, 0, 0, 1, 0xc0,			/* array32 [nil] */
	0x81, 0xa1, 'k', 0x01,			/* fixmap {"k": 1} */
	0xde, 0, 1, 0x01, 0x02,			/* map16 {1: 2} */
	0xdf, 0, 0, 0, 1, 0x80, 0x90,		/* map32 {{}: []} */
};

/* Every format family is accepted, and msgpack-c reads it the same way. */
static void
test_validate_every_kind(void)
{
	msgpack_unpacked up;
	char *cause = NULL, *q;
	size_t off = 0;

	CHECK(validate(every_kind, sizeof every_kind, &cause) == 0);
	if (cause != NULL)
		fprintf(stderr, "    every_kind: %s\n", cause);
	free(cause);
	q = dup_exact(every_kind, sizeof every_kind);
	msgpack_unpacked_init(&up);
	CHECK(msgpack_unpack_next(&up, q, sizeof every_kind, &off) ==
	    MSGPACK_UNPACK_SUCCESS);
	CHECK(off == sizeof every_kind);
	CHECK(up.data.type == MSGPACK_OBJECT_ARRAY && up.data.via.array.size == 37);
	msgpack_unpacked_destroy(&up);
	free(q);
}

/* Every proper prefix of a valid message is refused as truncated, never read past. */
static void
check_prefixes(const char *what, const void *p, size_t len)
{
	size_t k, bad = 0;
	char *cause;

	for (k = 0; k < len; k++) {
		if (validate(p, k, &cause) != -1 || (strstr(cause, "truncated") == NULL &&
		    strstr(cause, "exceeds") == NULL && strstr(cause, "elements") == NULL)) {
			if (bad++ < 3)
				fprintf(stderr, "    %s: prefix of %zu bytes: %s\n", what, k,
				    cause ? cause : "accepted");
		}
		free(cause);
	}
	CHECK(bad == 0);
	CHECK(validate(p, len, NULL) == 0);
}

static void
test_truncation(void)
{
	struct ps_wbuf w;
	struct ps_msg m;
	char big[301], *cause = NULL;
	size_t k, bad = 0;

	check_prefixes("every_kind", every_kind, sizeof every_kind);

	memset(big, 'y', 300);
	big[300] = '\0';
	wbuf_init(&w);
	build_rich(&w, big, 300);
	check_prefixes("rich frame", w.data + 4, w.len - 4);
	/* and through msg_decode, which must refuse each prefix before msgpack sees it */
	for (k = 0; k < w.len - 4; k++) {
		char *q = dup_exact(w.data + 4, k);

		if (msg_decode(&m, q, k, &cause) != -1 || cause == NULL ||
		    strstr(cause, "could not decode") != NULL)
			bad++;
		free(cause);
		cause = NULL;
		free(q);
	}
	CHECK(bad == 0);
	wbuf_free(&w);

	CHECK(validate("", 0, &cause) == -1);
	CHECK_STR(cause, "truncated at byte 0");
	free(cause);
	/* a length whose own bytes are cut */
	CHECK(validate("\xdb\x00\x00", 3, &cause) == -1);
	CHECK_STR(cause, "truncated length at byte 1");
	free(cause);
	CHECK(validate("\x92\x01", 2, &cause) == -1);
	CHECK_STR(cause, "declared 2 elements at byte 1 but only 1 bytes left");
	free(cause);
	CHECK(validate("\x93\x01\x02", 3, &cause) == -1);
	CHECK_STR(cause, "declared 3 elements at byte 1 but only 2 bytes left");
	free(cause);
	/* 3 elements in 3 bytes: the count is plausible, but the third is cut */
	CHECK(validate("\x93\xcc\x01\x02", 4, &cause) == -1);
	CHECK_STR(cause, "truncated at byte 4");
	free(cause);
}

/* Declared lengths and counts beyond the bytes present are refused before any allocation. */
static void
test_lying_lengths(void)
{
	static const struct {
		const char	*what;
		const char	*bytes;
		size_t		 len;
		const char	*cause;
	} lies[] = {
		{ "array32 of 2^32-1 in 8 bytes", "\xdd\xff\xff\xff\xff\xc0\xc0\xc0", 8,
		  "declared 4294967295 elements at byte 5 but only 3 bytes left" },
		{ "array16 of 65535", "\xdc\xff\xff\x01\x02", 5,
		  "declared 65535 elements at byte 3 but only 2 bytes left" },
		{ "fixarray of 15", "\x9f\x01", 2,
		  "declared 15 elements at byte 1 but only 1 bytes left" },
		{ "map32 of 2^32-1 pairs", "\xdf\xff\xff\xff\xff\x01\x02", 7,
		  "declared 8589934590 elements at byte 5 but only 2 bytes left" },
		{ "map16 of 2 pairs in 3 bytes", "\xde\x00\x02\x01\x02\x03", 6,
		  "declared 4 elements at byte 3 but only 3 bytes left" },
		{ "fixmap of 1 pair, 1 byte", "\x81\x01", 2,
		  "declared 2 elements at byte 1 but only 1 bytes left" },
		{ "bin32 of 4 GiB - 1", "\xc6\xff\xff\xff\xff" "abc", 8,
		  "declared length 4294967295 at byte 5 exceeds the 3 bytes left" },
		{ "bin16", "\xc5\x01\x00" "abc", 6,
		  "declared length 256 at byte 3 exceeds the 3 bytes left" },
		{ "bin8 one short", "\xc4\x04" "abc", 5,
		  "declared length 4 at byte 2 exceeds the 3 bytes left" },
		{ "str32 of 4 GiB - 1", "\xdb\xff\xff\xff\xff" "abc", 8,
		  "declared length 4294967295 at byte 5 exceeds the 3 bytes left" },
		{ "str16", "\xda\xff\xff" "a", 4,
		  "declared length 65535 at byte 3 exceeds the 1 bytes left" },
		{ "str8", "\xd9\xc8" "0123456789", 12,
		  "declared length 200 at byte 2 exceeds the 10 bytes left" },
		{ "fixstr one short", "\xa4" "abc", 4,
		  "declared length 4 at byte 1 exceeds the 3 bytes left" },
		{ "ext32 of 4 GiB - 1", "\xc9\xff\xff\xff\xff\x01" "ab", 8,
		  "declared length 4294967296 at byte 5 exceeds the 3 bytes left" },
		{ "ext16", "\xc8\x10\x00\x01" "ab", 6,
		  "declared length 4097 at byte 3 exceeds the 3 bytes left" },
		/* ext8 of 2 needs a type byte and 2 data bytes */
		{ "ext8 without room for its type", "\xc7\x02" "ab", 4,
		  "declared length 3 at byte 2 exceeds the 2 bytes left" },
		{ "fixext16 one short", "\xd8\x01" "0123456789abcde", 17,
		  "declared length 17 at byte 1 exceeds the 16 bytes left" },
		{ "fixext1 without data", "\xd4\x01", 2,
		  "declared length 2 at byte 1 exceeds the 1 bytes left" },
		{ "float64 cut", "\xcb\x00\x00\x00", 4,
		  "declared length 8 at byte 1 exceeds the 3 bytes left" },
		{ "uint32 cut", "\xce\x00", 2,
		  "declared length 4 at byte 1 exceeds the 1 bytes left" },
		/* a lie deep inside a frame-like array */
		{ "bin32 lie in a PULL", "\x97\x01\xcd\x02\x00\x01\x00\x00\x00"
		  "\xc6\x7f\xff\xff\xff\x00", 15,
		  "declared length 2147483647 at byte 14 exceeds the 1 bytes left" },
	};
	size_t i;
	char *cause;

	for (i = 0; i < sizeof lies / sizeof lies[0]; i++) {
		cause = NULL;
		CHECK(validate(lies[i].bytes, lies[i].len, &cause) == -1);
		if (cause == NULL || strcmp(cause, lies[i].cause) != 0)
			fprintf(stderr, "    %s: \"%s\"\n", lies[i].what,
			    cause ? cause : "accepted");
		CHECK_STR(cause, lies[i].cause);
		free(cause);
	}
	/* the exact lengths are fine */
	CHECK(validate("\xc7\x02\x01" "ab", 5, NULL) == 0);
	CHECK(validate("\xd8\x01" "0123456789abcdef", 18, NULL) == 0);
	CHECK(validate("\xc4\x03" "abc", 5, NULL) == 0);
	CHECK(validate("\xde\x00\x02\x01\x02\x03\x04", 7, NULL) == 0);
}

/* n nested arrays around one integer: 0x91 ... 0x91 0x01 */
static unsigned char *
nested(size_t n, size_t *len)
{
	unsigned char *p = malloc(n + 1);

	if (p == NULL)
		abort();
	memset(p, 0x91, n);
	p[n] = 0x01;
	*len = n + 1;
	return p;
}

static void
test_depth(void)
{
	unsigned char *p;
	char *cause = NULL, want[64];
	size_t len;

	p = nested(PS_MAX_DEPTH, &len);
	CHECK(validate(p, len, NULL) == 0);
	free(p);
	snprintf(want, sizeof want, "nested deeper than %d", PS_MAX_DEPTH);
	p = nested(PS_MAX_DEPTH + 1, &len);
	CHECK(validate(p, len, &cause) == -1);
	CHECK_STR(cause, want);
	free(cause);
	free(p);
	/* far deeper than msgpack-c's own stack (32): still a clean refusal */
	p = nested(100000, &len);
	CHECK(validate(p, len, &cause) == -1);
	CHECK_STR(cause, want);
	free(cause);
	free(p);
	/* maps count as nesting too: {1: {1: ... {1: 1}}} */
	{
		unsigned char m[2 * (PS_MAX_DEPTH + 1) + 1];
		size_t i;

		for (i = 0; i < PS_MAX_DEPTH + 1; i++) {
			m[2 * i] = 0x81;
			m[2 * i + 1] = 0x01;
		}
		m[sizeof m - 1] = 0x01;
		CHECK(validate(m, sizeof m, &cause) == -1);
		CHECK_STR(cause, want);
		free(cause);
		CHECK(validate(m + 2, sizeof m - 2, NULL) == 0);
	}
}

/* An array32 of n nils: 0xdd, count, n bytes of 0xc0. */
static unsigned char *
nils(uint32_t n, size_t *len)
{
	unsigned char *p = malloc(5 + (size_t)n);

	if (p == NULL)
		abort();
	p[0] = 0xdd;
	p[1] = n >> 24;
	p[2] = n >> 16;
	p[3] = n >> 8;
	p[4] = n;
	memset(p + 5, 0xc0, n);
	*len = 5 + (size_t)n;
	return p;
}

static void
test_elements(void)
{
	unsigned char *p;
	char *cause = NULL, want[64];
	size_t len;

	snprintf(want, sizeof want, "more than %d array or map elements", PS_MAX_ELEMENTS);
	p = nils(PS_MAX_ELEMENTS, &len);
	CHECK(validate(p, len, NULL) == 0);
	free(p);
	p = nils(PS_MAX_ELEMENTS + 1, &len);
	CHECK(validate(p, len, &cause) == -1);
	CHECK_STR(cause, want);
	free(cause);
	free(p);

	/*
	 * Elements add up over the whole message: [[nil x 32768], [nil x k]] has
	 * 2 + 32768 + k, within the limit for k = 32766 and one over for k = 32767.
	 */
	{
		size_t half = PS_MAX_ELEMENTS / 2, k = half - 1, n = 1 + 3 + half + 3 + k;
		unsigned char *q = malloc(n);

		if (q == NULL)
			abort();
		q[0] = 0x92;
		q[1] = 0xdc;
		q[2] = half >> 8;
		q[3] = half & 0xff;
		memset(q + 4, 0xc0, half);
		q[4 + half] = 0xdc;
		q[5 + half] = (k - 1) >> 8;
		q[6 + half] = (k - 1) & 0xff;
		memset(q + 7 + half, 0xc0, k);
		CHECK(validate(q, n - 1, NULL) == 0);
		q[5 + half] = k >> 8;
		q[6 + half] = k & 0xff;
		CHECK(validate(q, n, &cause) == -1);
		CHECK_STR(cause, want);
		free(cause);
		free(q);
	}

	/* a map's pairs count twice: map16 of 32768 pairs is 65536 elements */
	{
		size_t pairs = PS_MAX_ELEMENTS / 2, n = 3 + 2 * (pairs + 1);
		unsigned char *q = malloc(n);

		if (q == NULL)
			abort();
		q[0] = 0xde;
		q[1] = pairs >> 8;
		q[2] = pairs & 0xff;
		memset(q + 3, 0x01, n - 3);
		CHECK(validate(q, 3 + 2 * pairs, NULL) == 0);
		q[1] = (pairs + 1) >> 8;
		q[2] = (pairs + 1) & 0xff;
		CHECK(validate(q, n, &cause) == -1);
		CHECK_STR(cause, want);
		free(cause);
		free(q);
	}
}

static void
test_bad_bytes(void)
{
	char *cause = NULL;

	CHECK(validate("\xc1", 1, &cause) == -1);
	CHECK_STR(cause, "invalid msgpack byte 0xc1 at byte 0");
	free(cause);
	CHECK(validate("\x93\x01\xc1\x02", 4, &cause) == -1);
	CHECK_STR(cause, "invalid msgpack byte 0xc1 at byte 2");
	free(cause);
	/* trailing garbage */
	CHECK(validate("\x91\x01\x00", 3, &cause) == -1);
	CHECK_STR(cause, "1 bytes of garbage after the message");
	free(cause);
	CHECK(validate("\x01\x02\x03", 3, &cause) == -1);
	CHECK_STR(cause, "2 bytes of garbage after the message");
	free(cause);
	/* garbage that would itself be invalid is still garbage first: the walk stops */
	CHECK(validate("\xc0\xc1", 2, &cause) == -1);
	CHECK_STR(cause, "1 bytes of garbage after the message");
	free(cause);
}

/* msg_decode's own checks: the header. */
static void
test_decode_header(void)
{
	static const struct {
		const char	*bytes;
		size_t		 len;
		const char	*cause;
	} bad[] = {
		{ "\x01", 1, "frame is not an array of at least 6 header fields" },
		{ "\xa1x", 2, "frame is not an array of at least 6 header fields" },
		{ "\x95\x01\x01\x00\x00\x00", 6,
		  "frame is not an array of at least 6 header fields" },
		{ "\x96\x01\x01\xff\x00\x00\x00", 7, "header field 2 is not an unsigned integer" },
		{ "\x96\x01\xa1x\x00\x00\x00\x00", 8, "header field 1 is not an unsigned integer" },
		{ "\x96\x01\x01\x00\x00\x00\xc0", 7, "header field 5 is not an unsigned integer" },
		{ "\x96\xcf\x00\x00\x00\x01\x00\x00\x00\x00\x01\x00\x00\x00\x00", 15,
		  "header field out of range" },
		{ "\x96\x01\xcf\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00", 15,
		  "header field out of range" },
		{ "\x96\x01\x01\x00\xcf\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00", 15,
		  "header field out of range" },
		{ "\x96\x01\x01\x00\x00\x00\xc1", 7, "invalid msgpack byte 0xc1 at byte 6" },
	};
	struct ps_msg m;
	char *cause, *q;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cause = NULL;
		q = dup_exact(bad[i].bytes, bad[i].len);
		CHECK(msg_decode(&m, q, bad[i].len, &cause) == -1);
		CHECK_STR(cause, bad[i].cause);
		free(cause);
		free(q);
	}
	/* the widest fields fit: id, epoch, clock 64 bits; version, type, sender 32 */
	q = dup_exact("\x96\xce\xff\xff\xff\xff\xce\xff\xff\xff\xff"
	    "\xcf\xff\xff\xff\xff\xff\xff\xff\xff\xce\xff\xff\xff\xff"
	    "\xcf\xff\xff\xff\xff\xff\xff\xff\xff\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 43);
	cause = NULL;
	CHECK(msg_decode(&m, q, 43, &cause) == 0);
	CHECK(m.hdr.version == UINT32_MAX && m.hdr.type == UINT32_MAX &&
	    m.hdr.sender == UINT32_MAX);
	CHECK(m.hdr.id == UINT64_MAX && m.hdr.epoch == UINT64_MAX &&
	    m.hdr.clock == UINT64_MAX);
	CHECK(m.nargs == 0);
	msg_free(&m);
	free(q);
	free(cause);
}

/* xorshift64*: the fuzz loop is the same on every run */
static uint64_t fuzz_state = UINT64_C(0x9e3779b97f4a7c15);

static uint64_t
fuzz_next(void)
{
	fuzz_state ^= fuzz_state >> 12;
	fuzz_state ^= fuzz_state << 25;
	fuzz_state ^= fuzz_state >> 27;
	return fuzz_state * UINT64_C(0x2545f4914f6cdd1d);
}

static size_t
fuzz_below(size_t n)
{
	return n ? (size_t)(fuzz_next() % n) : 0;
}

/* Read every byte a decoded object points at, so ASan sees any pointer out of bounds. */
static unsigned
touch(const msgpack_object *o, int depth)
{
	unsigned sum = 0;
	uint32_t i;

	if (depth > 64)
		abort();		/* the validator allows 16 */
	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		for (i = 0; i < o->via.str.size; i++)
			sum += (unsigned char)o->via.str.ptr[i];
		break;
	case MSGPACK_OBJECT_BIN:
		for (i = 0; i < o->via.bin.size; i++)
			sum += (unsigned char)o->via.bin.ptr[i];
		break;
	case MSGPACK_OBJECT_EXT:
		for (i = 0; i < o->via.ext.size; i++)
			sum += (unsigned char)o->via.ext.ptr[i];
		break;
	case MSGPACK_OBJECT_ARRAY:
		for (i = 0; i < o->via.array.size; i++)
			sum += touch(&o->via.array.ptr[i], depth + 1);
		break;
	case MSGPACK_OBJECT_MAP:
		for (i = 0; i < o->via.map.size; i++) {
			sum += touch(&o->via.map.ptr[i].key, depth + 1);
			sum += touch(&o->via.map.ptr[i].val, depth + 1);
		}
		break;
	default:
		break;
	}
	return sum;
}

static void
test_fuzz(void)
{
	static const unsigned char interesting[] = {
		0x00, 0x01, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc4,
		0xc6, 0xc7, 0xc9, 0xcf, 0xd8, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff,
	};
	static const char *fmts[] = { "uus", "b", "bb", "us", "uab", "uu.", "*", "" };
	struct ps_wbuf w;
	struct ps_hdr h = { .version = PS_PROTOCOL_VERSION };
	size_t starts[8], lens[8], nseeds = 0, i, k, len;
	unsigned char buf[2048];
	uint64_t keys[3] = { 1, 2, UINT64_MAX };
	float vals[3] = { 0.5f, -1.0f, 2.0f };
	char big[201], *cause, *q;
	unsigned long accepted = 0, refused = 0, sum = 0, disagree = 0;
	struct ps_msg m;

	memset(big, 'z', 200);
	big[200] = '\0';
	wbuf_init(&w);
#define SEED() do { starts[nseeds] = w.frame + 4; lens[nseeds] = w.len - w.frame - 4; \
	nseeds++; } while (0)
	h.type = PS_MSG_HELLO;
	msg_begin(&w, &h, 3);
	msg_put_uint(&w, PS_ROLE_WORKER);
	msg_put_uint(&w, 0);
	msg_put_str(&w, "ps-worker");
	msg_end(&w);
	SEED();
	h.type = PS_MSG_PULL;
	h.id = 77;
	msg_begin(&w, &h, 1);
	msg_put_bin(&w, keys, sizeof keys);
	msg_end(&w);
	SEED();
	h.type = PS_MSG_PUSH;
	msg_begin(&w, &h, 2);
	msg_put_bin(&w, keys, sizeof keys);
	msg_put_bin(&w, vals, sizeof vals);
	msg_end(&w);
	SEED();
	msg_error(&w, &h, PS_ERR_VERSION, "protocol version 2 is not supported");
	SEED();
	build_rich(&w, big, 100);
	SEED();
	h.type = PS_MSG_STATUS_OK;
	msg_begin(&w, &h, 1);
	msg_put_map(&w, 3);
	msg_put_str(&w, "a"); msg_put_array(&w, 2); msg_put_uint(&w, 1); msg_put_map(&w, 0);
	msg_put_str(&w, "b"); msg_put_float(&w, 0.5);
	msg_put_str(&w, "c"); msg_put_int(&w, -7);
	msg_end(&w);
	SEED();
#undef SEED

	for (i = 0; i < FUZZ_ROUNDS; i++) {
		size_t s = fuzz_below(nseeds + 1), nmut = 1 + fuzz_below(4);
		const unsigned char *src = s < nseeds ?
		    (const unsigned char *)w.data + starts[s] : every_kind;

		len = s < nseeds ? lens[s] : sizeof every_kind;
		if (len > sizeof buf - 16)
			abort();
		memcpy(buf, src, len);
		for (k = 0; k < nmut; k++) {
			size_t at = fuzz_below(len);

			switch (fuzz_below(7)) {
			case 0:		/* flip a bit */
				if (len > 0)
					buf[at] ^= 1u << fuzz_below(8);
				break;
			case 1:		/* a random byte */
				if (len > 0)
					buf[at] = (unsigned char)fuzz_next();
				break;
			case 2:		/* a byte that starts something */
				if (len > 0)
					buf[at] = interesting[fuzz_below(sizeof interesting)];
				break;
			case 3:		/* cut */
				len = fuzz_below(len + 1);
				break;
			case 4:		/* insert */
				if (len < sizeof buf - 16) {
					memmove(buf + at + 1, buf + at, len - at);
					buf[at] = interesting[fuzz_below(sizeof interesting)];
					len++;
				}
				break;
			case 5:		/* delete */
				if (len > 0) {
					memmove(buf + at, buf + at + 1, len - at - 1);
					len--;
				}
				break;
			case 6:		/* a big length after a byte */
				if (at + 5 <= len)
					memset(buf + at + 1, 0xff, fuzz_below(4) + 1);
				break;
			}
		}
		q = dup_exact(buf, len);
		cause = NULL;
		if (msg_decode(&m, q, len, &cause) == 0) {
			accepted++;
			sum += touch(&m.up.data, 0);
			/* what the handlers do: check, then read */
			for (k = 0; k < sizeof fmts / sizeof fmts[0]; k++) {
				char *why = NULL;

				if (msg_check(&m, fmts[k], &why) == 0 && m.nargs > 0 &&
				    m.args[0].type == MSGPACK_OBJECT_BIN) {
					size_t bl;
					const char *b = msg_bin(&m, 0, &bl);

					if (bl > 0)
						sum += (unsigned char)b[bl - 1];
				}
				free(why);
			}
			msg_free(&m);
		} else {
			refused++;
			if (cause == NULL || strstr(cause, "could not decode") != NULL)
				disagree++;	/* validated, yet msgpack-c refused */
		}
		free(cause);
		free(q);
	}
	printf("  fuzz: %d rounds, %lu accepted, %lu refused (%lx)\n", FUZZ_ROUNDS,
	    accepted, refused, sum & 0xff);
	CHECK(accepted > FUZZ_ROUNDS / 100);
	CHECK(refused > FUZZ_ROUNDS / 2);
	CHECK(disagree == 0);
	wbuf_free(&w);
}

static void
test_load_store(void)
{
	static const uint64_t vals[] = {
		0, 1, 0xff, 0x0102030405060708ULL, UINT64_MAX, UINT64_C(1) << 63,
	};
	unsigned char buf[32];
	size_t i, off, b;
	int bytes_ok, others_ok;

	for (i = 0; i < sizeof vals / sizeof vals[0]; i++) {
		for (off = 0; off < 16; off++) {
			memset(buf, 0xee, sizeof buf);
			store_u64(buf + off, vals[i]);
			CHECK(load_u64(buf + off) == vals[i]);
			/* little-endian, least significant byte first, whatever the host */
			bytes_ok = others_ok = 1;
			for (b = 0; b < 8; b++)
				bytes_ok &= buf[off + b] == (unsigned char)(vals[i] >> (8 * b));
			for (b = 0; b < sizeof buf; b++)
				if (b < off || b >= off + 8)
					others_ok &= buf[b] == 0xee;
			CHECK(bytes_ok);
			CHECK(others_ok);
		}
	}
	/* known bytes read as a known value at an odd address */
	memcpy(buf + 3, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
	CHECK(load_u64(buf + 3) == 0x0102030405060708ULL);
}

/*
 * Empty str and bin arguments. msgpack-c gives an empty str (fixstr a0) a NULL pointer
 * when nothing before it in the frame had a body, as in this ERROR whose header fields
 * are all fixints: msg_strdup must not memcpy from it (UBSan's nonnull report, found
 * by tests/fuzz/fuzz_frame.c). And an empty bin may be put from a NULL pointer, as a
 * server answers an empty PULL before it has allocated its value buffer.
 */
static void
test_empty(void)
{
	/* [3, ERROR, 5, 1, 1, 0, 2, ""] */
	static const unsigned char error[] = { 0x98, 0x03, 0x03, 0x05, 0x01, 0x01, 0x00,
	    0x02, 0xa0 };
	/* [3, PUSH, 5, 1, 1, 0, "", bin 0] */
	static const unsigned char push[] = { 0x98, 0x03, 0xcd, 0x02, 0x02, 0x05, 0x01,
	    0x01, 0x00, 0xa0, 0xc4, 0x00 };
	struct ps_hdr h = msg_hdr(PS_MSG_PUSH_OK, 5, 1, 1);
	struct ps_wbuf w;
	struct ps_msg m;
	char *buf, *s;
	size_t len = 1;

	buf = dup_exact(error, sizeof error);
	CHECK(msg_decode(&m, buf, sizeof error, NULL) == 0);
	CHECK(msg_check(&m, "us", NULL) == 0);
	s = msg_strdup(&m, 1);
	CHECK_STR(s, "");
	free(s);
	msg_free(&m);
	free(buf);

	buf = dup_exact(push, sizeof push);
	CHECK(msg_decode(&m, buf, sizeof push, NULL) == 0);
	CHECK(msg_check(&m, "sb", NULL) == 0);
	s = msg_strdup(&m, 0);
	CHECK_STR(s, "");
	free(s);
	(void)msg_bin(&m, 1, &len);
	CHECK(len == 0);
	msg_free(&m);
	free(buf);

	/* an empty str and an empty bin from a NULL pointer, into an empty buffer */
	wbuf_init(&w);
	msg_begin(&w, &h, 2);
	msg_put_bin(&w, NULL, 0);
	msg_put_str(&w, "");
	msg_end(&w);
	CHECK(w.len == 4 + frame_len(w.data));
	CHECK(msg_decode(&m, w.data + 4, w.len - 4, NULL) == 0);
	CHECK(msg_check(&m, "bs", NULL) == 0);
	(void)msg_bin(&m, 0, &len);
	CHECK(len == 0);
	s = msg_strdup(&m, 1);
	CHECK_STR(s, "");
	free(s);
	msg_free(&m);
	wbuf_free(&w);
}

int
main(void)
{
	RUN(test_round_trip);
	RUN(test_frames);
	RUN(test_big_bin);
	RUN(test_check);
	RUN(test_validate_every_kind);
	RUN(test_truncation);
	RUN(test_lying_lengths);
	RUN(test_depth);
	RUN(test_elements);
	RUN(test_bad_bytes);
	RUN(test_decode_header);
	RUN(test_fuzz);
	RUN(test_load_store);
	RUN(test_empty);
	return UNIT_DONE();
}
