/*
 * libFuzzer target: bytes from a hostile peer, taken as lib/peer.c and lib/conn.c take
 * them. The input is what a connection delivered: frames are cut with rbuf_frame (the
 * 4-byte length, net.max_frame), decoded with msg_decode (msg_validate first), then
 * checked against every row of the protocol table, and each row whose format matches
 * is read as its handler reads it: msg_uint, msg_int, msg_float, msg_strdup, msg_bin
 * (every byte touched), msg_map_get and msg_obj_number on maps, map_unpack for the map
 * formats, store_load for SLOT_DATA and REPLICA_SYNC, and json_text (ps-ctl --json)
 * on the whole frame.
 * A bad frame ends the connection, as in peer_dispatch.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ps/json.h"
#include "ps/map.h"
#include "ps/msg.h"
#include "ps/proto.h"
#include "ps/rbuf.h"
#include "ps/store.h"

#define FUZZ_MAX_FRAME	((size_t)1 << 20)

/* The keys the daemons and ps-ctl look up in map arguments. */
static const char *map_keys[] = {
	"epoch", "files", "id", "keys", "moves", "nodes", "pause", "role", "seconds",
	"servers", "state", "workers", "slots", "examples", "memory", "pushes", "pulls",
	"host", "port", "bytes_in", "bytes_out", "",
};

static const struct ps_proto *rows[256];
static size_t nrows;

/* Keep the compiler from dropping reads whose value is not used. */
static volatile uint64_t sink;

static void
init_rows(void)
{
	const struct ps_proto *row;
	uint32_t type;

	for (type = 0; type < 0x1000 && nrows < sizeof rows / sizeof rows[0]; type++)
		if ((row = proto_lookup(type)) != NULL)
			rows[nrows++] = row;
	if (nrows == 0)
		abort();
}

static void
touch(const char *p, size_t len)
{
	uint64_t sum = 0;
	size_t i;

	for (i = 0; i < len; i++)
		sum += (unsigned char)p[i];
	sink += sum;
}

/* Walk a value as the daemons walk theirs: strings copied, numbers read. */
static void
walk(const msgpack_object *o, int depth)
{
	const msgpack_object *v;
	double d;
	uint32_t i;
	size_t k;

	if (depth > PS_MAX_DEPTH + 1)
		abort();	/* msg_validate bounds the depth */
	if (msg_obj_number(o, &d))
		sink += (uint64_t)(d == d);
	switch (o->type) {
	case MSGPACK_OBJECT_STR:
		touch(o->via.str.ptr, o->via.str.size);
		break;
	case MSGPACK_OBJECT_BIN:
		touch(o->via.bin.ptr, o->via.bin.size);
		break;
	case MSGPACK_OBJECT_ARRAY:
		for (i = 0; i < o->via.array.size; i++)
			walk(&o->via.array.ptr[i], depth + 1);
		break;
	case MSGPACK_OBJECT_MAP:
		for (k = 0; k < sizeof map_keys / sizeof map_keys[0]; k++) {
			if ((v = msg_map_get(o, map_keys[k])) != NULL &&
			    msg_obj_number(v, &d))
				sink += (uint64_t)(d == d);
		}
		for (i = 0; i < o->via.map.size; i++) {
			walk(&o->via.map.ptr[i].key, depth + 1);
			walk(&o->via.map.ptr[i].val, depth + 1);
		}
		break;
	default:
		break;
	}
}

/* SLOT_DATA into a store importing the slots it names, as server_slot_data does;
 * REPLICA_SYNC (its lists one argument later) into backup copies, as
 * replicate_sync does. */
static void
slot_data(const struct ps_msg *m, uint32_t first, enum ps_slot_state into)
{
	struct ps_store st;
	const unsigned char *slots;
	size_t len, i;
	char *cause = NULL;
	uint64_t width = msg_uint(m, 0);

	if (width == 0 || width > 8)
		return;			/* the server refuses another width first */
	store_init(&st, (uint32_t)width);
	slots = (const unsigned char *)msg_bin(m, first, &len);
	for (i = 0; i + 1 < len; i += 2)
		store_set(&st, (slots[i] | slots[i + 1] << 8) % PS_NSLOTS,
		    into == SLOT_OWNED ? SLOT_IMPORTING : SLOT_REPLICA, 1);
	if (store_load(&st, m, first, 2, into, &cause) == -1) {
		if (cause == NULL)
			abort();
		free(cause);
	}
	store_free(&st);
}

static void
read_args(const struct ps_msg *m, const struct ps_proto *row)
{
	struct ps_map map;
	const char *fmt = row->fmt, *mf;
	char *s, *cause = NULL;
	size_t len;
	uint32_t i;

	for (i = 0; fmt[i] != '\0' && fmt[i] != '.'; i++) {
		switch (fmt[i]) {
		case 'u':
			sink += msg_uint(m, i);
			break;
		case 'i':
			sink += (uint64_t)msg_int(m, i);
			break;
		case 'f':
			sink += (uint64_t)(msg_float(m, i) != 0);
			break;
		case 's':
			s = msg_strdup(m, i);
			if (strlen(s) > m->args[i].via.str.size)
				abort();
			free(s);
			break;
		case 'b':
			touch(msg_bin(m, i, &len), len);
			break;
		case 'a':
		case 'm':
		case '*':
			walk(&m->args[i], 1);
			break;
		case 't':
			sink += m->args[i].via.boolean;
			break;
		}
	}
	/* A map's three arguments, wherever the row has them. */
	if ((row->type == PS_MSG_MAP || row->type == PS_MSG_REGISTER_OK) &&
	    (mf = strstr(fmt, PS_MAP_FMT)) != NULL) {
		map_init(&map);
		if (map_unpack(&map, m, (uint32_t)(mf - fmt), &cause) != 0) {
			if (cause == NULL)
				abort();
			free(cause);
		} else {
			for (i = 0; i < PS_NSLOTS; i++)
				if (map.nservers > 0 && map.owner[i] >= map.nservers)
					abort();
		}
		map_free(&map);
	}
	if (row->type == PS_MSG_SLOT_DATA)
		slot_data(m, 1, SLOT_OWNED);
	if (row->type == PS_MSG_REPLICA_SYNC)
		slot_data(m, 2, SLOT_REPLICA);
}

static void
handle(const struct ps_msg *m)
{
	char *cause, *text;
	size_t i;

	sink += (uint64_t)strlen(proto_type_name(m->hdr.type));
	for (i = 0; i < nrows; i++) {
		cause = NULL;
		if (msg_check(m, rows[i]->fmt, &cause) != 0) {
			if (cause == NULL || *cause == '\0')
				abort();
			free(cause);
			continue;
		}
		if (msg_check(m, rows[i]->fmt, NULL) != 0)
			abort();	/* the answer must not depend on the cause */
		read_args(m, rows[i]);
	}
	text = json_text(&m->up.data);
	sink += strlen(text);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ps_rbuf in;
	struct ps_msg m;
	const char *payload;
	size_t flen, want;
	char *cause;
	int r;

	if (nrows == 0)
		init_rows();
	/* The connection's buffer, as if one read brought all of it. */
	rbuf_init(&in);
	in.data = size > 0 ? (char *)data : NULL;
	in.end = size;
	in.cap = size;
	for (;;) {
		cause = NULL;
		r = rbuf_frame(&in, FUZZ_MAX_FRAME, &payload, &flen, &want, &cause);
		if (r == 0) {
			if (want <= in.end - in.start)
				abort();	/* "not yet" must want more than is there */
			break;
		}
		if (r == -1) {
			if (cause == NULL)
				abort();
			free(cause);
			break;
		}
		if (msg_decode(&m, payload, flen, &cause) != 0) {
			if (cause == NULL)
				abort();
			free(cause);
			break;		/* as peer_dispatch: nothing to free */
		}
		if (m.nargs + PS_HDR_FIELDS != m.up.data.via.array.size)
			abort();
		handle(&m);
		msg_free(&m);
		rbuf_consume(&in, 4 + flen);
	}
	return 0;
}
