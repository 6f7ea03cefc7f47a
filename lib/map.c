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
	memset(m->backup, 0xff, sizeof m->backup);
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
	for (s = 0; s < PS_NSLOTS; s++) {
		uint32_t j;

		if (m->owner[s] > i)
			m->owner[s]--;
		for (j = 0; j < m->nbackups; j++)
			if (m->backup[j][s] != PS_NO_SERVER && m->backup[j][s] > i)
				m->backup[j][s]--;
	}
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

int
map_holds(const struct ps_map *m, uint32_t slot, uint32_t i)
{
	uint32_t j;

	if (m->owner[slot] == i)
		return 1;
	for (j = 0; j < m->nbackups; j++)
		if (m->backup[j][slot] == i)
			return 1;
	return 0;
}

uint32_t
map_count_backups(const struct ps_map *m, uint32_t i)
{
	uint32_t s, j, n = 0;

	for (j = 0; j < m->nbackups; j++)
		for (s = 0; s < PS_NSLOTS; s++)
			n += m->backup[j][s] == i;
	return n;
}

void
map_chain_backups(struct ps_map *m, uint32_t nbackups)
{
	uint32_t s, j;

	memset(m->backup, 0xff, sizeof m->backup);
	m->nbackups = nbackups;
	for (j = 0; j < nbackups && j + 1 < m->nservers; j++)
		for (s = 0; s < PS_NSLOTS; s++)
			m->backup[j][s] = (uint16_t)((m->owner[s] + 1 + j) % m->nservers);
}

/* Take place j of slot's backup row out, keeping the row packed. */
static void
map_unback(struct ps_map *m, uint32_t slot, uint32_t j)
{
	for (; j + 1 < m->nbackups; j++)
		m->backup[j][slot] = m->backup[j + 1][slot];
	m->backup[m->nbackups - 1][slot] = PS_NO_SERVER;
}

uint32_t
map_fail_server(struct ps_map *m, uint32_t i, uint32_t *promoted)
{
	uint32_t s, j, lost = 0;

	*promoted = 0;
	for (s = 0; s < PS_NSLOTS; s++) {
		for (j = 0; j < m->nbackups; j++) {
			if (m->backup[j][s] == i) {
				map_unback(m, s, j);
				break;
			}
		}
		if (m->owner[s] != i)
			continue;
		if (m->nbackups == 0 || m->backup[0][s] == PS_NO_SERVER) {
			lost++;
			continue;
		}
		m->owner[s] = m->backup[0][s];
		map_unback(m, s, 0);
		(*promoted)++;
	}
	return lost;
}

uint32_t
map_fill_backups(struct ps_map *m, const uint8_t *skip)
{
	uint32_t *copies, s, j, i, filled = 0;

	if (m->nservers == 0 || m->nbackups == 0)
		return 0;
	copies = xcalloc(m->nservers, sizeof *copies);
	for (s = 0; s < PS_NSLOTS; s++) {
		copies[m->owner[s]]++;
		for (j = 0; j < m->nbackups; j++)
			if (m->backup[j][s] != PS_NO_SERVER)
				copies[m->backup[j][s]]++;
	}
	for (s = 0; s < PS_NSLOTS; s++) {
		for (j = 0; j < m->nbackups; j++) {
			uint32_t best = PS_NO_SERVER, k;

			if (m->backup[j][s] != PS_NO_SERVER)
				continue;
			/* The servers after the owner first: ties make a chain. */
			for (k = 1; k < m->nservers; k++) {
				i = (m->owner[s] + k) % m->nservers;
				if ((skip != NULL && skip[i]) || map_holds(m, s, i))
					continue;
				if (best == PS_NO_SERVER || copies[i] < copies[best])
					best = i;
			}
			if (best == PS_NO_SERVER)
				break;
			m->backup[j][s] = (uint16_t)best;
			copies[best]++;
			filled++;
		}
	}
	free(copies);
	return filled;
}

uint32_t
map_missing_backups(const struct ps_map *m)
{
	uint32_t s, j, n = 0;

	for (j = 0; j < m->nbackups; j++)
		for (s = 0; s < PS_NSLOTS; s++)
			n += m->backup[j][s] == PS_NO_SERVER;
	return n;
}

static void
map_put_row(unsigned char *p, const uint16_t *row)
{
	uint32_t i;

	for (i = 0; i < PS_NSLOTS; i++) {
		p[2 * i] = row[i] & 0xff;
		p[2 * i + 1] = row[i] >> 8;
	}
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
	p = msg_put_bin_space(w, (size_t)2 * PS_NSLOTS * (1 + m->nbackups));
	map_put_row(p, m->owner);
	for (i = 0; i < m->nbackups; i++)
		map_put_row(p + (size_t)2 * PS_NSLOTS * (1 + i), m->backup[i]);
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
	if (len % (2 * PS_NSLOTS) != 0 || len == 0 || len > 2 * PS_NSLOTS * PS_MAX_COPIES) {
		map_free(&new);
		xasprintf(cause, "map: slot table has %zu bytes, want %d for each of 1 to %d "
		    "rows", len, 2 * PS_NSLOTS, PS_MAX_COPIES);
		return -1;
	}
	new.nbackups = (uint32_t)(len / (2 * PS_NSLOTS) - 1);
	for (i = 0; i < PS_NSLOTS; i++) {
		uint32_t j, row;

		new.owner[i] = p[2 * i] | (p[2 * i + 1] << 8);
		/* The map before the first has no servers, and every owner 0. */
		if (new.owner[i] >= (new.nservers > 0 ? new.nservers : 1)) {
			xasprintf(cause, "map: slot %u names server %u of %u", i,
			    new.owner[i], new.nservers);
			map_free(&new);
			return -1;
		}
		for (j = 0; j < new.nbackups; j++) {
			uint16_t b;

			row = 2 * PS_NSLOTS * (j + 1);
			b = p[row + 2 * i] | (p[row + 2 * i + 1] << 8);
			if (b == PS_NO_SERVER)
				continue;
			/* A copy on a server the list has not, twice, or after a gap
			 * would leave a slot with fewer copies than it seems to have. */
			if (b >= new.nservers || map_holds(&new, i, b) ||
			    (j > 0 && new.backup[j - 1][i] == PS_NO_SERVER)) {
				xasprintf(cause, "map: slot %u has backup %u in row %u: not "
				    "a server, a second copy, or after an empty place", i,
				    b, j + 1);
				map_free(&new);
				return -1;
			}
			new.backup[j][i] = b;
		}
	}
	map_free(m);
	*m = new;
	return 0;
}
