/*
 * Writes the seed corpora of the frame and map targets (tests/fuzz/corpus/frame, map):
 * one frame of every message type as the programs build them (msg_begin, map_pack),
 * a whole connection's start, and the hand-made frames of tests/server.bats. Run by
 * `make fuzz-seeds` after a change to the protocol; the other corpora are plain files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ps/conf.h"
#include "ps/jobconf.h"
#include "ps/map.h"
#include "ps/msg.h"
#include "ps/proto.h"

static const char *dir;

static void
put(const char *target, const char *name, const void *p, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s/%s", dir, target, name);
	if ((f = fopen(path, "wb")) == NULL || fwrite(p, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static struct ps_hdr
hdr(uint32_t type)
{
	return msg_hdr(type, 5, 1, 1);
}

/* A frame of the frame corpus: written, and the buffer emptied. */
static void
frame(struct ps_wbuf *w, const char *name)
{
	msg_end(w);
	put("frame", name, w->data, w->len);
	wbuf_reset(w);
}

static void
empty(struct ps_wbuf *w, uint32_t type, const char *name)
{
	struct ps_hdr h = hdr(type);

	msg_simple(w, &h);
	frame(w, name);
}

static void
one_uint(struct ps_wbuf *w, uint32_t type, uint64_t v, const char *name)
{
	struct ps_hdr h = hdr(type);

	msg_begin(w, &h, 1);
	msg_put_uint(w, v);
	frame(w, name);
}

static void
one_str(struct ps_wbuf *w, uint32_t type, const char *s, const char *name)
{
	struct ps_hdr h = hdr(type);

	msg_begin(w, &h, 1);
	msg_put_str(w, s);
	frame(w, name);
}

/* Bytes given in hex, with a length prefix, as tests/server.bats' frame(). */
static void
hex(const char *name, const char *text)
{
	unsigned char buf[256];
	size_t n = 4;
	unsigned int b;
	int used;

	while (sscanf(text, " %2x%n", &b, &used) == 1) {
		buf[n++] = (unsigned char)b;
		text += used;
	}
	buf[0] = (n - 4) >> 24;
	buf[1] = (n - 4) >> 16;
	buf[2] = (n - 4) >> 8;
	buf[3] = n - 4;
	put("frame", name, buf, n);
}

static void
map_frames(struct ps_wbuf *w)
{
	struct ps_map map;
	struct ps_hdr h;
	struct ps_conf conf;

	map_init(&map);
	h = hdr(PS_MSG_MAP);
	msg_begin(w, &h, 3);
	map_pack(w, &map);		/* the map before the first: no servers */
	msg_end(w);
	put("map", "map-empty", w->data + 4, w->len - 4);
	wbuf_reset(w);

	map.epoch = 2;
	map_add_server(&map, 1, "127.0.0.1", 40791);
	map_add_server(&map, 2, "10.0.0.3", 40792);
	map_spread(&map);
	msg_begin(w, &h, 3);
	map_pack(w, &map);
	msg_end(w);
	put("map", "map-2", w->data + 4, w->len - 4);
	wbuf_reset(w);

	h = hdr(PS_MSG_REGISTER_OK);
	msg_begin(w, &h, 7);
	msg_put_uint(w, 3);
	msg_put_uint(w, 0);
	map_pack(w, &map);
	msg_put_uint(w, PS_REGISTER_RESUMABLE | PS_REGISTER_TAKEN_BACK);
	conf_init(&conf);
	jobconf_put(w, &conf, 0);	/* every job setting */
	conf_free(&conf);
	msg_end(w);
	put("map", "register-ok", w->data + 4, w->len - 4);
	wbuf_reset(w);

	/* three servers, two backups a slot; then one lost, a place left empty */
	map_add_server(&map, 3, "127.0.0.1", 40793);
	map_spread(&map);
	map_chain_backups(&map, 2);
	h = hdr(PS_MSG_MAP);
	msg_begin(w, &h, 3);
	map_pack(w, &map);
	msg_end(w);
	put("map", "map-backups", w->data + 4, w->len - 4);
	wbuf_reset(w);
	{
		uint32_t promoted;

		map_fail_server(&map, 1, &promoted);
		map_remove_server(&map, 1);
		map.epoch++;
	}
	msg_begin(w, &h, 3);
	map_pack(w, &map);
	msg_end(w);
	put("map", "map-failover", w->data + 4, w->len - 4);
	wbuf_reset(w);
	map_free(&map);
}

int
main(int argc, char **argv)
{
	static const unsigned char nonce[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
	    12, 13, 14, 15 };
	unsigned char keys[16] = { 1 }, slots[4], counts[4] = { 2 }, skeys[16], pairs[4];
	float vals[2] = { 0.5f, -0.25f };
	struct ps_wbuf w;
	struct ps_hdr h;
	uint64_t k2;
	uint32_t s;

	if (argc != 2) {
		fprintf(stderr, "usage: seeds DIR (tests/fuzz/corpus)\n");
		return 2;
	}
	dir = argv[1];
	wbuf_init(&w);
	keys[8] = 2;

	h = hdr(PS_MSG_HELLO);
	msg_begin(&w, &h, 4);
	msg_put_uint(&w, PS_ROLE_WORKER);
	msg_put_uint(&w, 0);
	msg_put_str(&w, "ps-worker");
	msg_put_bin(&w, nonce, sizeof nonce);
	frame(&w, "hello");
	h = hdr(PS_MSG_HELLO_OK);
	msg_begin(&w, &h, 4);
	msg_put_uint(&w, PS_ROLE_SERVER);
	msg_put_uint(&w, 3);
	msg_put_bin(&w, nonce, sizeof nonce);
	msg_put_bin(&w, NULL, 0);
	frame(&w, "hello-ok");
	h = hdr(PS_MSG_ERROR);
	msg_error(&w, &h, PS_ERR_CLIENT, "PULL argument 1 is not a bin");
	frame(&w, "error");
	msg_error(&w, &h, PS_ERR_SERVER, "");
	frame(&w, "error-empty");
	h = hdr(PS_MSG_AUTH);
	msg_begin(&w, &h, 1);
	msg_put_bin(&w, nonce, sizeof nonce);
	frame(&w, "auth");
	empty(&w, PS_MSG_AUTH_OK, "auth-ok");

	h = hdr(PS_MSG_REGISTER);
	msg_begin(&w, &h, 3);
	msg_put_uint(&w, PS_ROLE_SERVER);
	msg_put_str(&w, "127.0.0.1");
	msg_put_uint(&w, 40791);
	frame(&w, "register");
	h = hdr(PS_MSG_REGISTER);
	msg_begin(&w, &h, 5);
	msg_put_uint(&w, PS_ROLE_WORKER);
	msg_put_str(&w, "");
	msg_put_uint(&w, 0);
	msg_put_uint(&w, 0);
	msg_put_map(&w, 2);		/* the settings it was given */
	msg_put_str(&w, "optimizer.name");
	msg_put_str(&w, "adam");
	msg_put_str(&w, "model.factors");
	msg_put_str(&w, "8");
	frame(&w, "register-settings");
	one_uint(&w, PS_MSG_CLOCK, 3, "clock");
	one_uint(&w, PS_MSG_CLOCK_OK, 1, "clock-ok");
	one_uint(&w, PS_MSG_MAP_ACK, 1, "map-ack");
	empty(&w, PS_MSG_GET_MAP, "get-map");
	h = hdr(PS_MSG_HEARTBEAT);
	msg_begin(&w, &h, 1);
	msg_put_map(&w, 4);
	msg_put_str(&w, "keys");
	msg_put_uint(&w, 10);
	msg_put_str(&w, "slots");
	msg_put_uint(&w, 16384);
	msg_put_str(&w, "memory");
	msg_put_float(&w, 1e6);
	msg_put_str(&w, "examples");
	msg_put_int(&w, -1);
	frame(&w, "heartbeat");
	one_str(&w, PS_MSG_BARRIER, "end", "barrier");
	one_str(&w, PS_MSG_BARRIER_OK, "end", "barrier-ok");
	one_uint(&w, PS_MSG_DONE, 0, "done");
	empty(&w, PS_MSG_SHUTDOWN, "shutdown");

	h = hdr(PS_MSG_PULL);
	msg_begin(&w, &h, 1);
	msg_put_bin(&w, keys, sizeof keys);
	frame(&w, "pull");
	h = hdr(PS_MSG_PULL_OK);
	msg_begin(&w, &h, 1);
	msg_put_bin(&w, vals, sizeof vals);
	frame(&w, "pull-ok");
	h = hdr(PS_MSG_PUSH);
	msg_begin(&w, &h, 2);
	msg_put_bin(&w, keys, sizeof keys);
	msg_put_bin(&w, vals, sizeof vals);
	frame(&w, "push");
	h = hdr(PS_MSG_PUSH);
	msg_begin(&w, &h, 3);
	msg_put_bin(&w, keys, sizeof keys);
	msg_put_bin(&w, vals, sizeof vals);
	msg_put_bool(&w, 1);
	frame(&w, "push-retry");
	one_uint(&w, PS_MSG_PUSH_OK, 2, "push-ok");
	s = map_slot(1);
	pairs[0] = s & 0xff;
	pairs[1] = s >> 8;
	pairs[2] = pairs[3] = 0;
	h = hdr(PS_MSG_MOVED);
	msg_begin(&w, &h, 3);
	msg_put_uint(&w, 2);
	msg_put_array(&w, 1);
	msg_put_array(&w, 3);
	msg_put_uint(&w, 2);
	msg_put_str(&w, "127.0.0.1");
	msg_put_uint(&w, 40792);
	msg_put_bin(&w, pairs, sizeof pairs);
	frame(&w, "moved");

	empty(&w, PS_MSG_STATUS, "status");
	h = hdr(PS_MSG_STATUS_OK);
	msg_begin(&w, &h, 1);
	msg_put_map(&w, 2);
	msg_put_str(&w, "epoch");
	msg_put_uint(&w, 1);
	msg_put_str(&w, "nodes");
	msg_put_array(&w, 1);
	msg_put_map(&w, 4);
	msg_put_str(&w, "id");
	msg_put_uint(&w, 1);
	msg_put_str(&w, "role");
	msg_put_str(&w, "server");
	msg_put_str(&w, "state");
	msg_put_str(&w, "up");
	msg_put_str(&w, "keys");
	msg_put_float(&w, 12.5);
	frame(&w, "status-ok");
	h = hdr(PS_MSG_RESHARD);
	msg_begin(&w, &h, 3);
	msg_put_uint(&w, 0);
	msg_put_uint(&w, 4095);
	msg_put_uint(&w, 2);
	frame(&w, "reshard");
	empty(&w, PS_MSG_REBALANCE, "rebalance");
	one_uint(&w, PS_MSG_DRAIN, 1, "drain");
	empty(&w, PS_MSG_STOP, "stop");
	h = hdr(PS_MSG_CTL_OK);
	msg_begin(&w, &h, 1);
	msg_put_map(&w, 3);
	msg_put_str(&w, "moves");
	msg_put_uint(&w, 1);
	msg_put_str(&w, "seconds");
	msg_put_float(&w, 0.25);
	msg_put_str(&w, "epoch");
	msg_put_uint(&w, 2);
	frame(&w, "ctl-ok");

	slots[0] = pairs[0];
	slots[1] = pairs[1];
	h = hdr(PS_MSG_IMPORT);
	msg_begin(&w, &h, 2);
	msg_put_uint(&w, 1);
	msg_put_bin(&w, slots, 2);
	frame(&w, "import");
	empty(&w, PS_MSG_IMPORT_OK, "import-ok");
	h = hdr(PS_MSG_MIGRATE);
	msg_begin(&w, &h, 4);
	msg_put_uint(&w, 2);
	msg_put_str(&w, "127.0.0.1");
	msg_put_uint(&w, 40792);
	msg_put_bin(&w, slots, 2);
	frame(&w, "migrate");
	h = hdr(PS_MSG_MIGRATE_OK);
	msg_begin(&w, &h, 3);
	msg_put_uint(&w, 1);
	msg_put_uint(&w, 2);
	msg_put_str(&w, "");
	frame(&w, "migrate-ok");
	/* two keys of one slot */
	for (k2 = 2; map_slot(k2) != s; k2++)
		;
	store_u64(skeys, 1);
	store_u64(skeys + 8, k2);
	h = hdr(PS_MSG_SLOT_DATA);
	msg_begin(&w, &h, 6);
	msg_put_uint(&w, 1);
	msg_put_bin(&w, slots, 2);
	msg_put_bin(&w, counts, 4);
	msg_put_bin(&w, skeys, sizeof skeys);
	msg_put_bin(&w, vals, sizeof vals);
	msg_put_bin(&w, slots, 2);
	frame(&w, "slot-data");
	one_uint(&w, PS_MSG_SLOT_DATA_OK, 2, "slot-data-ok");
	h = hdr(PS_MSG_REPLICA_SYNC);
	msg_begin(&w, &h, 7);
	msg_put_uint(&w, 1);
	msg_put_bin(&w, slots, 2);
	msg_put_bin(&w, slots, 2);
	msg_put_bin(&w, counts, 4);
	msg_put_bin(&w, skeys, sizeof skeys);
	msg_put_bin(&w, vals, sizeof vals);
	msg_put_bin(&w, slots, 2);
	frame(&w, "replica-sync");
	h = hdr(PS_MSG_REPLICATE);
	msg_begin(&w, &h, 4);
	msg_put_uint(&w, 4);
	msg_put_uint(&w, 77);
	msg_put_bin(&w, skeys, sizeof skeys);
	msg_put_bin(&w, vals, sizeof vals);
	frame(&w, "replicate");
	one_uint(&w, PS_MSG_REPLICATE_OK, 2, "replicate-ok");

	one_str(&w, PS_MSG_SAVE, "/srv/ps/ckpt/20261129T081500Z", "save");
	h = hdr(PS_MSG_SAVE_OK);
	msg_begin(&w, &h, 3);
	msg_put_str(&w, "server-1.slots");
	msg_put_uint(&w, 2);
	msg_put_float(&w, 0.000862);
	frame(&w, "save-ok");
	one_str(&w, PS_MSG_CKPT_SAVE, "/srv/ps/ckpt/20261129T081500Z", "ckpt-save");
	h = hdr(PS_MSG_LOAD);
	msg_begin(&w, &h, 2);
	msg_put_bin(&w, keys, sizeof keys);
	msg_put_bin(&w, vals, sizeof vals);
	frame(&w, "load");
	one_uint(&w, PS_MSG_LOAD_OK, 2, "load-ok");
	h = hdr(PS_MSG_RESTORE);
	msg_begin(&w, &h, 2);
	msg_put_str(&w, "/srv/ps/ckpt/20261129T081500Z");
	msg_put_bin(&w, slots, 2);
	frame(&w, "restore");
	one_uint(&w, PS_MSG_RESTORE_OK, 2, "restore-ok");

	/* A worker's connection: HELLO, AUTH, a PULL and a PUSH, in one read. */
	h = hdr(PS_MSG_HELLO);
	msg_begin(&w, &h, 4);
	msg_put_uint(&w, PS_ROLE_WORKER);
	msg_put_uint(&w, 0);
	msg_put_str(&w, "x");
	msg_put_bin(&w, nonce, sizeof nonce);
	msg_end(&w);
	h = hdr(PS_MSG_AUTH);
	msg_begin(&w, &h, 1);
	msg_put_bin(&w, NULL, 0);
	msg_end(&w);
	h = hdr(PS_MSG_PULL);
	msg_begin(&w, &h, 1);
	msg_put_bin(&w, keys, sizeof keys);
	msg_end(&w);
	h = hdr(PS_MSG_PUSH);
	msg_begin(&w, &h, 2);
	msg_put_bin(&w, keys, sizeof keys);
	msg_put_bin(&w, vals, sizeof vals);
	frame(&w, "connection");

	/* tests/server.bats, by hand */
	hex("bats-hello-v2", "99 02 01 00 00 00 00 02 00 a1 78");
	hex("bats-pull-key1", "97 04 cd 02 00 05 00 00 00 c4 08 01 00 00 00 00 00 00 00");
	hex("bats-bin-lie", "97 04 cd 02 00 05 00 00 00 c6 7f ff ff ff 00");
	hex("bats-array-lie", "dd ff ff ff ff c0 c0 c0");
	hex("bats-str-lie", "9a 04 01 00 00 00 00 02 00 db ff ff ff f0 78");
	hex("bats-map-lie", "9a 04 01 00 00 00 00 02 00 df 7f ff ff ff 00");
	hex("bats-push-nan", "98 04 cd 02 02 07 00 00 00 c4 08 01 00 00 00 00 00 00 00 "
	    "c4 04 00 00 c0 7f");
	hex("bats-pull-str", "97 04 cd 02 00 08 00 00 00 a1 78");
	hex("bats-map-short", "99 04 cd 01 02 0b 00 00 00 63 90 c4 00");
	hex("bats-unknown", "96 04 cd 09 99 0a 00 00 00");

	map_frames(&w);
	wbuf_free(&w);
	return 0;
}
