/*
 * libFuzzer target: the cluster map as a server or a client receives it (lib/map.c).
 * The input is a frame's msgpack payload (no length prefix): decoded with msg_decode,
 * checked as a MAP ([epoch, servers, owners]) and as a REGISTER_OK (node id, rank, then
 * the map, flags), then read with map_unpack. A map that unpacks must name a server for
 * every slot and come back the same through map_pack and map_unpack.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ps/map.h"
#include "ps/msg.h"
#include "ps/proto.h"

static void
same_map(const struct ps_map *a, const struct ps_map *b)
{
	uint32_t i;

	if (a->epoch != b->epoch || a->nservers != b->nservers)
		abort();
	for (i = 0; i < a->nservers; i++) {
		if (a->servers[i].id != b->servers[i].id ||
		    a->servers[i].port != b->servers[i].port ||
		    strcmp(a->servers[i].host, b->servers[i].host) != 0)
			abort();
	}
	if (memcmp(a->owner, b->owner, sizeof a->owner) != 0)
		abort();
}

/* map_pack, then map_unpack of the frame it made: the same map. */
static void
round_trip(const struct ps_map *map)
{
	struct ps_hdr h = msg_hdr(PS_MSG_MAP, 1, 0, map->epoch);
	struct ps_wbuf w;
	struct ps_msg m;
	struct ps_map back;
	char *cause = NULL;

	wbuf_init(&w);
	msg_begin(&w, &h, 3);
	map_pack(&w, map);
	msg_end(&w);
	if (msg_decode(&m, w.data + 4, w.len - 4, &cause) != 0 ||
	    msg_check(&m, PS_MAP_FMT, NULL) != 0)
		abort();
	map_init(&back);
	if (map_unpack(&back, &m, 0, &cause) != 0)
		abort();
	same_map(map, &back);
	map_free(&back);
	msg_free(&m);
	wbuf_free(&w);
}

static void
try_unpack(const struct ps_msg *m, const char *fmt, uint32_t first)
{
	struct ps_map map;
	char *cause = NULL;
	uint32_t i;

	if (msg_check(m, fmt, NULL) != 0)
		return;
	map_init(&map);
	/* Over a map already there, as a server's later maps arrive. */
	map_add_server(&map, 7, "old", 1);
	if (map_unpack(&map, m, first, &cause) != 0) {
		if (cause == NULL)
			abort();
		free(cause);
		if (map.nservers != 1 || strcmp(map.servers[0].host, "old") != 0)
			abort();	/* a bad map leaves the old one alone */
		map_free(&map);
		return;
	}
	for (i = 0; i < PS_NSLOTS; i++)
		if (map.owner[i] >= (map.nservers > 0 ? map.nservers : 1))
			abort();
	for (i = 0; i < map.nservers; i++)
		if (map_count_slots(&map, i) > PS_NSLOTS ||
		    map_find_server(&map, map.servers[i].id) < 0)
			abort();
	round_trip(&map);
	map_free(&map);
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ps_msg m;
	char *cause = NULL;

	if (msg_decode(&m, (const char *)data, size, &cause) != 0) {
		if (cause == NULL)
			abort();
		free(cause);
		return 0;
	}
	try_unpack(&m, PS_MAP_FMT, 0);
	try_unpack(&m, "uu" PS_MAP_FMT "u", 2);
	msg_free(&m);
	return 0;
}
