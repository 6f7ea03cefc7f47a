/*
 * Frame codec. msgpack-c trusts declared lengths (an 8-byte frame can claim a 4 GiB
 * array), so msg_validate() walks every frame first and checks each declared count
 * against the bytes present; only then does msgpack_unpack_next() see it. bin and str
 * objects then point into the frame: bulk data is never copied by decoding.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ps/msg.h"
#include "ps/xmalloc.h"

static int
wbuf_write(void *data, const char *buf, size_t len)
{
	struct ps_wbuf *w = data;

	if (len == 0)		/* an empty bin's body, whose pointer may be NULL */
		return 0;
	wbuf_reserve(w, len);
	memcpy(w->data + w->len, buf, len);
	w->len += len;
	return 0;
}

void
wbuf_init(struct ps_wbuf *w)
{
	memset(w, 0, sizeof *w);
	msgpack_packer_init(&w->pk, w, wbuf_write);
}

void
wbuf_free(struct ps_wbuf *w)
{
	free(w->data);
	wbuf_init(w);
}

void
wbuf_reserve(struct ps_wbuf *w, size_t len)
{
	size_t cap;

	if (w->len + len <= w->cap)
		return;
	for (cap = w->cap ? w->cap : 4096; cap < w->len + len; cap *= 2)
		;
	w->data = xreallocarray(w->data, cap, 1);
	w->cap = cap;
}

void
wbuf_reset(struct ps_wbuf *w)
{
	w->len = 0;
}

void
msg_begin(struct ps_wbuf *w, const struct ps_hdr *h, uint32_t nargs)
{
	static const char zero[4];

	w->frame = w->len;
	w->type = h->type;
	w->id = h->id;
	wbuf_write(w, zero, sizeof zero);
	msgpack_pack_array(&w->pk, PS_HDR_FIELDS + nargs);
	msgpack_pack_uint32(&w->pk, h->version);
	msgpack_pack_uint32(&w->pk, h->type);
	msgpack_pack_uint64(&w->pk, h->id);
	msgpack_pack_uint32(&w->pk, h->sender);
	msgpack_pack_uint64(&w->pk, h->epoch);
	msgpack_pack_uint64(&w->pk, h->clock);
}

void msg_put_uint(struct ps_wbuf *w, uint64_t v) { msgpack_pack_uint64(&w->pk, v); }
void msg_put_int(struct ps_wbuf *w, int64_t v) { msgpack_pack_int64(&w->pk, v); }
void msg_put_float(struct ps_wbuf *w, double v) { msgpack_pack_double(&w->pk, v); }
void msg_put_array(struct ps_wbuf *w, uint32_t n) { msgpack_pack_array(&w->pk, n); }
void msg_put_map(struct ps_wbuf *w, uint32_t n) { msgpack_pack_map(&w->pk, n); }

void
msg_put_bool(struct ps_wbuf *w, int v)
{
	if (v)
		msgpack_pack_true(&w->pk);
	else
		msgpack_pack_false(&w->pk);
}

void
msg_put_str(struct ps_wbuf *w, const char *s)
{
	size_t len = strlen(s);

	msgpack_pack_str(&w->pk, len);
	msgpack_pack_str_body(&w->pk, s, len);
}

void
msg_put_bin(struct ps_wbuf *w, const void *p, size_t len)
{
	msgpack_pack_bin(&w->pk, len);
	msgpack_pack_bin_body(&w->pk, p, len);
}

void *
msg_put_bin_space(struct ps_wbuf *w, size_t len)
{
	msgpack_pack_bin(&w->pk, len);
	wbuf_reserve(w, len);
	w->len += len;
	return w->data + w->len - len;
}

void
msg_end(struct ps_wbuf *w)
{
	size_t n = w->len - w->frame - 4;
	unsigned char *p = (unsigned char *)w->data + w->frame;

	p[0] = n >> 24;
	p[1] = n >> 16;
	p[2] = n >> 8;
	p[3] = n;
}

void
msg_simple(struct ps_wbuf *w, const struct ps_hdr *h)
{
	msg_begin(w, h, 0);
	msg_end(w);
}

void
msg_error(struct ps_wbuf *w, const struct ps_hdr *h, unsigned int code, const char *text)
{
	struct ps_hdr eh = *h;

	eh.type = PS_MSG_ERROR;
	msg_begin(w, &eh, 2);
	msg_put_uint(w, code);
	msg_put_str(w, text);
	msg_end(w);
}

static uint64_t
be(const unsigned char *p, int n)
{
	uint64_t v = 0;

	while (n-- > 0)
		v = (v << 8) | *p++;
	return v;
}

static int
fail(char **cause, const char *fmt, ...)
{
	va_list ap;

	if (cause == NULL)
		return -1;
	va_start(ap, fmt);
	xvasprintf(cause, fmt, ap);
	va_end(ap);
	return -1;
}

int
msg_validate(const char *buf, size_t len, char **cause)
{
	const unsigned char *p = (const unsigned char *)buf;
	uint64_t	 left[PS_MAX_DEPTH + 1];	/* values still to read at each depth */
	uint64_t	 elements = 0;
	size_t		 off = 0;
	int		 depth = 0;

	left[0] = 1;
	while (depth >= 0) {
		uint64_t n = 0, skip = 0, children = 0;
		unsigned char b;

		if (left[depth] == 0) {
			depth--;
			continue;
		}
		left[depth]--;
		if (off >= len)
			return fail(cause, "truncated at byte %zu", off);
		b = p[off++];
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
			skip = 0;
		else if (b >= 0x80 && b <= 0x8f)
			children = 2 * (uint64_t)(b & 0x0f);
		else if (b >= 0x90 && b <= 0x9f)
			children = b & 0x0f;
		else if (b >= 0xa0 && b <= 0xbf)
			skip = b & 0x1f;
		else {
			int lenbytes = 0, fixed = -1, ext = 0, container = 0;

			switch (b) {
			case 0xc4: case 0xd9: lenbytes = 1; break;	/* bin8, str8 */
			case 0xc5: case 0xda: lenbytes = 2; break;	/* bin16, str16 */
			case 0xc6: case 0xdb: lenbytes = 4; break;	/* bin32, str32 */
			case 0xc7: lenbytes = 1; ext = 1; break;
			case 0xc8: lenbytes = 2; ext = 1; break;
			case 0xc9: lenbytes = 4; ext = 1; break;
			case 0xca: fixed = 4; break;
			case 0xcb: fixed = 8; break;
			case 0xcc: case 0xd0: fixed = 1; break;
			case 0xcd: case 0xd1: fixed = 2; break;
			case 0xce: case 0xd2: fixed = 4; break;
			case 0xcf: case 0xd3: fixed = 8; break;
			case 0xd4: fixed = 2; break;	/* fixext: type byte + data */
			case 0xd5: fixed = 3; break;
			case 0xd6: fixed = 5; break;
			case 0xd7: fixed = 9; break;
			case 0xd8: fixed = 17; break;
			case 0xdc: lenbytes = 2; container = 1; break;
			case 0xdd: lenbytes = 4; container = 1; break;
			case 0xde: lenbytes = 2; container = 2; break;
			case 0xdf: lenbytes = 4; container = 2; break;
			default:
				return fail(cause, "invalid msgpack byte 0x%02x at byte %zu",
				    b, off - 1);
			}
			if (fixed >= 0)
				skip = (uint64_t)fixed;
			else {
				if (len - off < (size_t)lenbytes)
					return fail(cause, "truncated length at byte %zu", off);
				n = be(p + off, lenbytes);
				off += lenbytes;
				if (container)
					children = n * (uint64_t)container;
				else
					skip = n + ext;
			}
		}
		if (skip > len - off)
			return fail(cause, "declared length %" PRIu64 " at byte %zu exceeds the "
			    "%zu bytes left", skip, off, len - off);
		off += skip;
		if (children > 0) {
			/* Each element takes at least one byte: a count beyond the
			 * bytes left is a lie, and must not reach the allocator. */
			if (children > len - off)
				return fail(cause, "declared %" PRIu64 " elements at byte %zu "
				    "but only %zu bytes left", children, off, len - off);
			elements += children;
			if (elements > PS_MAX_ELEMENTS)
				return fail(cause, "more than %d array or map elements",
				    PS_MAX_ELEMENTS);
			if (depth == PS_MAX_DEPTH)
				return fail(cause, "nested deeper than %d", PS_MAX_DEPTH);
			left[++depth] = children;
		}
	}
	if (off != len)
		return fail(cause, "%zu bytes of garbage after the message", len - off);
	return 0;
}

int
msg_decode(struct ps_msg *m, const char *buf, size_t len, char **cause)
{
	const msgpack_object *o;
	size_t off = 0;
	uint32_t i;

	memset(m, 0, sizeof *m);
	msgpack_unpacked_init(&m->up);
	if (msg_validate(buf, len, cause) != 0)
		return -1;
	if (msgpack_unpack_next(&m->up, buf, len, &off) != MSGPACK_UNPACK_SUCCESS) {
		msg_free(m);
		return fail(cause, "msgpack could not decode the frame");
	}
	o = &m->up.data;
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < PS_HDR_FIELDS) {
		msg_free(m);
		return fail(cause, "frame is not an array of at least %d header fields",
		    PS_HDR_FIELDS);
	}
	for (i = 0; i < PS_HDR_FIELDS; i++) {
		if (o->via.array.ptr[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
			msg_free(m);
			return fail(cause, "header field %u is not an unsigned integer", i);
		}
	}
	o = o->via.array.ptr;
	if (o[0].via.u64 > UINT32_MAX || o[1].via.u64 > UINT32_MAX ||
	    o[3].via.u64 > UINT32_MAX) {
		msg_free(m);
		return fail(cause, "header field out of range");
	}
	m->hdr.version = o[0].via.u64;
	m->hdr.type = o[1].via.u64;
	m->hdr.id = o[2].via.u64;
	m->hdr.sender = o[3].via.u64;
	m->hdr.epoch = o[4].via.u64;
	m->hdr.clock = o[5].via.u64;
	m->args = o + PS_HDR_FIELDS;
	m->nargs = m->up.data.via.array.size - PS_HDR_FIELDS;
	return 0;
}

void
msg_free(struct ps_msg *m)
{
	msgpack_unpacked_destroy(&m->up);
	m->args = NULL;
	m->nargs = 0;
}

static int
type_matches(const msgpack_object *o, char want)
{
	switch (want) {
	case 'u':
		return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
	case 'i':
		return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
	case 'f':
		return o->type == MSGPACK_OBJECT_FLOAT32 ||
		    o->type == MSGPACK_OBJECT_FLOAT64 ||
		    o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
	case 's':
		return o->type == MSGPACK_OBJECT_STR;
	case 'b':
		return o->type == MSGPACK_OBJECT_BIN;
	case 'a':
		return o->type == MSGPACK_OBJECT_ARRAY;
	case 'm':
		return o->type == MSGPACK_OBJECT_MAP;
	case 't':
		return o->type == MSGPACK_OBJECT_BOOLEAN;
	case '*':
		return 1;
	}
	return 0;
}

static const char *
type_word(char want)
{
	switch (want) {
	case 'u': return "an unsigned integer";
	case 'i': return "an integer";
	case 'f': return "a number";
	case 's': return "a string";
	case 'b': return "a bin";
	case 'a': return "an array";
	case 'm': return "a map";
	case 't': return "a boolean";
	}
	return "a value";
}

int
msg_check(const struct ps_msg *m, const char *fmt, char **cause)
{
	size_t want = strlen(fmt);
	int more = want > 0 && fmt[want - 1] == '.';
	uint32_t i;

	if (more)
		want--;
	if (m->nargs < want || (!more && m->nargs > want))
		return fail(cause, "%s has %u arguments, want %zu",
		    proto_type_name(m->hdr.type), m->nargs, want);
	for (i = 0; i < want; i++) {
		if (!type_matches(&m->args[i], fmt[i]))
			return fail(cause, "%s argument %u is not %s",
			    proto_type_name(m->hdr.type), i + 1, type_word(fmt[i]));
	}
	return 0;
}

uint64_t
msg_uint(const struct ps_msg *m, uint32_t i)
{
	return m->args[i].via.u64;
}

int64_t
msg_int(const struct ps_msg *m, uint32_t i)
{
	return m->args[i].via.i64;
}

double
msg_float(const struct ps_msg *m, uint32_t i)
{
	const msgpack_object *o = &m->args[i];

	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
		return (double)o->via.u64;
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		return (double)o->via.i64;
	return o->via.f64;
}

const char *
msg_bin(const struct ps_msg *m, uint32_t i, size_t *len)
{
	*len = m->args[i].via.bin.size;
	return m->args[i].via.bin.ptr;
}

char *
msg_strdup(const struct ps_msg *m, uint32_t i)
{
	return xstrndup(m->args[i].via.str.ptr, m->args[i].via.str.size);
}

const msgpack_object *
msg_map_get(const msgpack_object *o, const char *key)
{
	const msgpack_object_kv *kv;
	size_t len = strlen(key);
	uint32_t i;

	if (o == NULL || o->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (i = 0; i < o->via.map.size; i++) {
		kv = &o->via.map.ptr[i];
		if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == len &&
		    memcmp(kv->key.via.str.ptr, key, len) == 0)
			return &kv->val;
	}
	return NULL;
}

int
msg_obj_number(const msgpack_object *o, double *v)
{
	if (o == NULL)
		return 0;
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*v = (double)o->via.u64;
		return 1;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*v = (double)o->via.i64;
		return 1;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		*v = o->via.f64;
		return 1;
	default:
		return 0;
	}
}

struct ps_hdr
msg_hdr(uint32_t type, uint64_t id, uint32_t sender, uint64_t epoch)
{
	struct ps_hdr h = {
		.version = PS_PROTOCOL_VERSION,
		.type = type,
		.id = id,
		.sender = sender,
		.epoch = epoch,
		.clock = 0,
	};
	return h;
}

struct ps_hdr
msg_reply_hdr(const struct ps_msg *m, uint32_t type, uint32_t sender, uint64_t epoch)
{
	return msg_hdr(type, m->hdr.id, sender, epoch);
}
