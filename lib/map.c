/* The cluster map. Slots go to servers in contiguous ranges, as in Redis Cluster,
 * so that a map is easy to read in `ps-ctl status` and a reshard moves ranges. */
#include <stdlib.h>
#include <string.h>

#include "ps/map.h"
#include "ps/xmalloc.h"

void
map_init(struct ps_map *m)
{
	memset(m, 0, sizeof *m);
}

void
map_free(struct ps_map *m)
{
	uint32_t i;

	for (i = 0; i < m->nservers; i++)
		free(m->servers[i].host);
	free(m->servers);
	map_init(m);
}

void
map_copy(struct ps_map *dst, const struct ps_map *src)
{
	uint32_t i;

	map_free(dst);
	*dst = *src;
	dst->servers = xcalloc(src->nservers ? src->nservers : 1, sizeof *dst->servers);
	for (i = 0; i < src->nservers; i++) {
		dst->servers[i] = src->servers[i];
		dst->servers[i].host = xstrdup(src->servers[i].host);
	}
}

void
map_add_server(struct ps_map *m, uint32_t id, const char *host, int port)
{
	m->servers = xreallocarray(m->servers, m->nservers + 1, sizeof *m->servers);
	m->servers[m->nservers].id = id;
	m->servers[m->nservers].host = xstrdup(host);
	m->servers[m->nservers].port = port;
	m->nservers++;
}

void
map_remove_server(struct ps_map *m, uint32_t i)
{
	uint32_t s;

	free(m->servers[i].host);
	memmove(&m->servers[i], &m->servers[i + 1],
	    (m->nservers - i - 1) * sizeof *m->servers);
	m->nservers--;
	for (s = 0; s < PS_NSLOTS; s++)
		if (m->owner[s] > i)
			m->owner[s]--;
}

int
map_find_server(const struct ps_map *m, uint32_t id)
{
	uint32_t i;

	for (i = 0; i < m->nservers; i++)
		if (m->servers[i].id == id)
			return (int)i;
	return -1;
}

void
map_spread(struct ps_map *m)
{
	uint32_t s;

	for (s = 0; s < PS_NSLOTS; s++)
		m->owner[s] = m->nservers ? (uint16_t)((uint64_t)s * m->nservers / PS_NSLOTS) : 0;
}

uint32_t
map_count_slots(const struct ps_map *m, uint32_t i)
{
	uint32_t s, n = 0;

	for (s = 0; s < PS_NSLOTS; s++)
		n += m->owner[s] == i;
	return n;
}

void
map_pack(struct ps_wbuf *w, const struct ps_map *m)
{
	unsigned char *p;
	uint32_t i;

	msg_put_uint(w, m->epoch);
	msg_put_array(w, m->nservers);
	for (i = 0; i < m->nservers; i++) {
		msg_put_array(w, 3);
		msg_put_uint(w, m->servers[i].id);
		msg_put_str(w, m->servers[i].host);
		msg_put_uint(w, (uint64_t)m->servers[i].port);
	}
	p = msg_put_bin_space(w, 2 * PS_NSLOTS);
	for (i = 0; i < PS_NSLOTS; i++) {
		p[2 * i] = m->owner[i] & 0xff;
		p[2 * i + 1] = m->owner[i] >> 8;
	}
}

int
map_unpack(struct ps_map *m, const struct ps_msg *msg, uint32_t first, char **cause)
{
	const msgpack_object *list = &msg->args[first + 1];
	const unsigned char *p;
	struct ps_map new;
	size_t len;
	uint32_t i;

	map_init(&new);
	new.epoch = msg_uint(msg, first);
	for (i = 0; i < list->via.array.size; i++) {
		const msgpack_object *n = &list->via.array.ptr[i];
		char *host;

		if (n->type != MSGPACK_OBJECT_ARRAY || n->via.array.size != 3 ||
		    n->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    n->via.array.ptr[1].type != MSGPACK_OBJECT_STR ||
		    n->via.array.ptr[2].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    n->via.array.ptr[2].via.u64 > 65535) {
			map_free(&new);
			xasprintf(cause, "map: server %u is not [id, host, port]", i);
			return -1;
		}
		host = xstrndup(n->via.array.ptr[1].via.str.ptr, n->via.array.ptr[1].via.str.size);
		map_add_server(&new, n->via.array.ptr[0].via.u64, host,
		    (int)n->via.array.ptr[2].via.u64);
		free(host);
	}
	p = (const unsigned char *)msg_bin(msg, first + 2, &len);
	if (len != 2 * PS_NSLOTS) {
		map_free(&new);
		xasprintf(cause, "map: slot table has %zu bytes, want %d", len, 2 * PS_NSLOTS);
		return -1;
	}
	for (i = 0; i < PS_NSLOTS; i++) {
		new.owner[i] = p[2 * i] | (p[2 * i + 1] << 8);
		/* The map before the first has no servers, and every owner 0. */
		if (new.owner[i] >= (new.nservers > 0 ? new.nservers : 1)) {
			xasprintf(cause, "map: slot %u names server %u of %u", i,
			    new.owner[i], new.nservers);
			map_free(&new);
			return -1;
		}
	}
	map_free(m);
	*m = new;
	return 0;
}
