/* msgpack -> JSON text: see include/ps/json.h for the mapping. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ps/json.h"
#include "ps/xmalloc.h"

void
json_init(struct json_buf *b)
{
	b->cap = 64;
	b->data = xmalloc(b->cap);
	b->data[0] = '\0';
	b->len = 0;
}

void
json_free(struct json_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof *b);
}

void
json_reset(struct json_buf *b)
{
	b->len = 0;
	b->data[0] = '\0';
}

/* Room for n more bytes and the NUL. */
static void
json_reserve(struct json_buf *b, size_t n)
{
	if (b->len + n + 1 <= b->cap)
		return;
	while (b->len + n + 1 > b->cap)
		b->cap *= 2;
	b->data = xreallocarray(b->data, b->cap, 1);
}

static void
json_put_bytes(struct json_buf *b, const char *p, size_t n)
{
	json_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
json_put_raw(struct json_buf *b, const char *s)
{
	json_put_bytes(b, s, strlen(s));
}

/* The length of the valid UTF-8 sequence at p (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF), or 0 if there is none. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	/* the second byte's range is narrower for these leads */
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

/* One ASCII byte, escaped if JSON requires it. */
static void
json_put_ascii(struct json_buf *b, unsigned char c)
{
	char esc[8];

	switch (c) {
	case '"':  json_put_raw(b, "\\\""); return;
	case '\\': json_put_raw(b, "\\\\"); return;
	case '\b': json_put_raw(b, "\\b"); return;
	case '\f': json_put_raw(b, "\\f"); return;
	case '\n': json_put_raw(b, "\\n"); return;
	case '\r': json_put_raw(b, "\\r"); return;
	case '\t': json_put_raw(b, "\\t"); return;
	}
	if (c < 0x20) {
		snprintf(esc, sizeof esc, "\\u%04x", c);
		json_put_raw(b, esc);
	} else
		json_put_bytes(b, (const char *)&c, 1);
}

void
json_put_str(struct json_buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, len;

	json_put_raw(b, "\"");
	while (i < n) {
		len = utf8_len(p + i, n - i);
		if (len == 1)
			json_put_ascii(b, p[i]);
		else if (len > 1)
			json_put_bytes(b, s + i, len);
		else
			json_put_raw(b, "\\ufffd");	/* keep the text valid UTF-8 */
		i += len > 0 ? len : 1;
	}
	json_put_raw(b, "\"");
}

/* Bytes as a string of lowercase hex. */
static void
json_put_hex(struct json_buf *b, const char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	json_reserve(b, 2 * n + 2);
	b->data[b->len++] = '"';
	for (i = 0; i < n; i++) {
		b->data[b->len++] = digits[(unsigned char)p[i] >> 4];
		b->data[b->len++] = digits[(unsigned char)p[i] & 0xf];
	}
	b->data[b->len++] = '"';
	b->data[b->len] = '\0';
}

void
json_put_uint(struct json_buf *b, uint64_t v)
{
	char num[32];

	snprintf(num, sizeof num, "%" PRIu64, v);
	json_put_raw(b, num);
}

void
json_put_int(struct json_buf *b, int64_t v)
{
	char num[32];

	snprintf(num, sizeof num, "%" PRId64, v);
	json_put_raw(b, num);
}

/*
 * Short but exact: "%.6g" keeps 0.1 as 0.1 where "%.17g" would print
 * 0.10000000000000001, and more digits are added only when six do not read back as
 * the same value. "%g" never writes a form JSON lacks ("1e+06", "-0" are valid);
 * only NaN and infinities are, and they become null.
 */
static void
json_put_number(struct json_buf *b, double v, int is_float)
{
	char num[40];
	int prec, max = is_float ? 9 : 17;

	if (!isfinite(v)) {
		json_put_raw(b, "null");
		return;
	}
	for (prec = 6; prec < max; prec++) {
		snprintf(num, sizeof num, "%.*g", prec, v);
		if (is_float ? (float)strtod(num, NULL) == (float)v :
		    strtod(num, NULL) == v)
			break;
	}
	snprintf(num, sizeof num, "%.*g", prec, v);
	json_put_raw(b, num);
}

void
json_put_double(struct json_buf *b, double v)
{
	json_put_number(b, v, 0);
}

void
json_put_float(struct json_buf *b, float v)
{
	json_put_number(b, v, 1);
}

/* A map key: JSON wants a string whatever msgpack had. */
static void
json_put_key(struct json_buf *b, const msgpack_object *k)
{
	char *text;

	switch (k->type) {
	case MSGPACK_OBJECT_STR:
		json_put_str(b, k->via.str.ptr, k->via.str.size);
		break;
	case MSGPACK_OBJECT_BIN:
		json_put_hex(b, k->via.bin.ptr, k->via.bin.size);
		break;
	default:
		text = json_text(k);
		json_put_str(b, text, strlen(text));
		free(text);
		break;
	}
}

static void
json_put_array(struct json_buf *b, const msgpack_object_array *a)
{
	uint32_t i;

	json_put_raw(b, "[");
	for (i = 0; i < a->size; i++) {
		if (i > 0)
			json_put_raw(b, ",");
		json_put_object(b, &a->ptr[i]);
	}
	json_put_raw(b, "]");
}

static void
json_put_map(struct json_buf *b, const msgpack_object_map *m)
{
	uint32_t i;

	json_put_raw(b, "{");
	for (i = 0; i < m->size; i++) {
		if (i > 0)
			json_put_raw(b, ",");
		json_put_key(b, &m->ptr[i].key);
		json_put_raw(b, ":");
		json_put_object(b, &m->ptr[i].val);
	}
	json_put_raw(b, "}");
}

void
json_put_object(struct json_buf *b, const msgpack_object *o)
{
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		json_put_raw(b, "null");
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		json_put_raw(b, o->via.boolean ? "true" : "false");
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		json_put_uint(b, o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		json_put_int(b, o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
		json_put_float(b, (float)o->via.f64);
		break;
	case MSGPACK_OBJECT_FLOAT64:
		json_put_double(b, o->via.f64);
		break;
	case MSGPACK_OBJECT_STR:
		json_put_str(b, o->via.str.ptr, o->via.str.size);
		break;
	case MSGPACK_OBJECT_BIN:
		json_put_hex(b, o->via.bin.ptr, o->via.bin.size);
		break;
	case MSGPACK_OBJECT_EXT:
		json_put_hex(b, o->via.ext.ptr, o->via.ext.size);
		break;
	case MSGPACK_OBJECT_ARRAY:
		json_put_array(b, &o->via.array);
		break;
	case MSGPACK_OBJECT_MAP:
		json_put_map(b, &o->via.map);
		break;
	default:
		json_put_raw(b, "null");	/* a type newer than this code */
		break;
	}
}

char *
json_text(const msgpack_object *o)
{
	struct json_buf b;

	json_init(&b);
	json_put_object(&b, o);
	return b.data;
}
