/* The cluster map (lib/map.c): spreading slots, packing and unpacking, key placement. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ps/map.h"
#include "ps/msg.h"
#include "unit.h"

#define NKEYS	1000000

/* A map of n servers, ids 100 + i, hosts "10.0.0.i", ports 7000 + i, spread. */
static void
make_map(struct ps_map *m, uint32_t n, uint64_t epoch)
{
	char host[32];
	uint32_t i;

	map_init(m);
	for (i = 0; i < n; i++) {
		snprintf(host, sizeof host, "10.0.0.%u", i);
		map_add_server(m, 100 + i, host, 7000 + (int)i);
	}
	map_spread(m);
	m->epoch = epoch;
}

static void
test_init(void)
{
	struct ps_map m;

	map_init(&m);
	CHECK(m.epoch == 0 && m.nservers == 0 && m.servers == NULL);
	CHECK(map_count_slots(&m, 0) == PS_NSLOTS);
	map_spread(&m);		/* no servers: harmless */
	CHECK(map_count_slots(&m, 0) == PS_NSLOTS);
	map_free(&m);
	map_free(&m);		/* twice is harmless */
	CHECK(m.servers == NULL && m.nservers == 0);
}

/* Even (counts differ by at most one), contiguous ranges in server order, all covered. */
static void
test_spread(void)
{
	static const uint32_t sizes[] = { 1, 2, 3, 7, 1024 };
	struct ps_map m;
	size_t k;
	uint32_t i, s, lo, hi, c, total;
	int ordered;

	for (k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		uint32_t n = sizes[k];

		make_map(&m, n, 1);
		lo = UINT32_MAX;
		hi = total = 0;
		for (i = 0; i < n; i++) {
			c = map_count_slots(&m, i);
			lo = c < lo ? c : lo;
			hi = c > hi ? c : hi;
			total += c;
		}
		CHECK(total == PS_NSLOTS);
		CHECK(hi - lo <= 1);
		CHECK(lo == PS_NSLOTS / n);
		CHECK(map_count_slots(&m, n) == 0);	/* nobody beyond the list */
		ordered = m.owner[0] == 0 && m.owner[PS_NSLOTS - 1] == n - 1;
		for (s = 1; s < PS_NSLOTS; s++)
			ordered &= m.owner[s] == m.owner[s - 1] ||
			    m.owner[s] == m.owner[s - 1] + 1;
		CHECK(ordered);
		if (hi - lo > 1 || !ordered)
			fprintf(stderr, "    %u servers: %u..%u slots each\n", n, lo, hi);
		map_free(&m);
	}
}

/* Pack n servers' map after `before` uint arguments, decode, unpack. */
static int
round_trip(const struct ps_map *src, struct ps_map *dst, uint32_t before, char **cause)
{
	struct ps_wbuf w;
	struct ps_msg m;
	struct ps_hdr h = { .version = PS_PROTOCOL_VERSION, .type = PS_MSG_MAP, .id = 3 };
	char fmt[16] = "";
	uint32_t i;
	int r = -1;

	wbuf_init(&w);
	msg_begin(&w, &h, before + 3);
	for (i = 0; i < before; i++) {
		msg_put_uint(&w, 1000 + i);
		strcat(fmt, "u");
	}
	map_pack(&w, src);
	msg_end(&w);
	strcat(fmt, PS_MAP_FMT);
	if (msg_decode(&m, w.data + 4, w.len - 4, cause) == 0) {
		if (msg_check(&m, fmt, cause) == 0)
			r = map_unpack(dst, &m, before, cause);
		msg_free(&m);
	}
	wbuf_free(&w);
	return r;
}

static int
same_map(const struct ps_map *a, const struct ps_map *b)
{
	uint32_t i;

	if (a->epoch != b->epoch || a->nservers != b->nservers)
		return 0;
	for (i = 0; i < a->nservers; i++) {
		if (a->servers[i].id != b->servers[i].id ||
		    a->servers[i].port != b->servers[i].port ||
		    strcmp(a->servers[i].host, b->servers[i].host) != 0)
			return 0;
	}
	return memcmp(a->owner, b->owner, sizeof a->owner) == 0;
}

static void
test_pack(void)
{
	static const uint32_t sizes[] = { 1, 3, 7, 1024 };
	struct ps_map a, b, c;
	char *cause = NULL;
	size_t k;
	uint32_t s;

	for (k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		make_map(&a, sizes[k], UINT64_C(1) << 40 | k);
		map_init(&b);
		CHECK(round_trip(&a, &b, 0, &cause) == 0);
		CHECK(cause == NULL);
		CHECK(same_map(&a, &b));
		map_free(&a);
		map_free(&b);
	}

	/* a map that is not a spread one, after two other arguments (as REGISTER_OK) */
	make_map(&a, 5, 9);
	for (s = 0; s < PS_NSLOTS; s++)
		a.owner[s] = (uint16_t)((s * 2654435761u) % 5);
	free(a.servers[2].host);
	a.servers[2].host = strdup("a-long-host-name.example.org");
	a.servers[4].port = 65535;
	a.servers[0].id = UINT32_MAX;
	make_map(&b, 2, 1);		/* unpacking replaces what was there */
	CHECK(round_trip(&a, &b, 2, &cause) == 0);
	CHECK(same_map(&a, &b));
	free(cause);
	cause = NULL;

	/* a copy is deep: it outlives the original */
	map_init(&c);
	map_copy(&c, &a);
	map_free(&a);
	CHECK(same_map(&b, &c));
	CHECK(c.servers[2].host != NULL && strcmp(c.servers[2].host, b.servers[2].host) == 0);
	map_copy(&c, &b);		/* copying over a map frees it first */
	CHECK(same_map(&b, &c));
	map_free(&b);
	map_free(&c);
}

/* Unpacking a hand-made MAP frame: epoch, servers, slot table of tlen bytes. */
static int
unpack_raw(struct ps_map *dst, uint32_t nservers, int bad_entry, const uint16_t *owner,
    size_t tlen, char **cause)
{
	struct ps_wbuf w;
	struct ps_msg m;
	struct ps_hdr h = { .version = PS_PROTOCOL_VERSION, .type = PS_MSG_MAP };
	unsigned char *p;
	uint32_t i;
	size_t s;
	int r = -1;

	wbuf_init(&w);
	msg_begin(&w, &h, 3);
	msg_put_uint(&w, 7);
	msg_put_array(&w, nservers);
	for (i = 0; i < nservers; i++) {
		if (bad_entry == 1 && i == nservers - 1) {
			msg_put_array(&w, 2);		/* [id, host] */
			msg_put_uint(&w, i);
			msg_put_str(&w, "h");
			continue;
		}
		msg_put_array(&w, 3);
		msg_put_uint(&w, i);
		if (bad_entry == 2 && i == nservers - 1)
			msg_put_uint(&w, 1);		/* host not a string */
		else
			msg_put_str(&w, "h");
		msg_put_uint(&w, bad_entry == 3 && i == nservers - 1 ? 65536 : 5000);
	}
	p = msg_put_bin_space(&w, tlen);
	for (s = 0; s < tlen / 2; s++) {
		uint16_t o = s < PS_NSLOTS ? owner[s] : 0;
		p[2 * s] = o & 0xff;
		p[2 * s + 1] = o >> 8;
	}
	if (tlen % 2)
		p[tlen - 1] = 0;
	msg_end(&w);
	if (msg_decode(&m, w.data + 4, w.len - 4, cause) == 0) {
		if (msg_check(&m, PS_MAP_FMT, cause) == 0)
			r = map_unpack(dst, &m, 0, cause);
		msg_free(&m);
	}
	wbuf_free(&w);
	return r;
}

static void
test_unpack_refuses(void)
{
	static uint16_t owner[PS_NSLOTS];
	struct ps_map keep, m;
	char *cause = NULL;
	size_t s;

	for (s = 0; s < PS_NSLOTS; s++)
		owner[s] = s % 3;
	make_map(&keep, 4, 99);

	/* the hand-made frame is good as it stands */
	map_init(&m);
	CHECK(unpack_raw(&m, 3, 0, owner, 2 * PS_NSLOTS, &cause) == 0);
	CHECK(m.epoch == 7 && m.nservers == 3 && m.owner[5] == 2);
	map_free(&m);
	free(cause);
	cause = NULL;

	/* an owner index beyond the server list, anywhere in the table */
	map_copy(&m, &keep);
	owner[PS_NSLOTS - 1] = 3;
	CHECK(unpack_raw(&m, 3, 0, owner, 2 * PS_NSLOTS, &cause) == -1);
	CHECK_STR(cause, "map: slot 16383 names server 3 of 3");
	CHECK(same_map(&m, &keep));		/* a refused map changes nothing */
	free(cause);
	cause = NULL;
	owner[PS_NSLOTS - 1] = 0;
	owner[0] = 0xffff;
	CHECK(unpack_raw(&m, 3, 0, owner, 2 * PS_NSLOTS, &cause) == -1);
	CHECK_STR(cause, "map: slot 0 names server 65535 of 3");
	CHECK(same_map(&m, &keep));
	free(cause);
	cause = NULL;
	owner[0] = 0;

	/* no servers (the map a server gets before the first): owners must all be 0 */
	memset(owner, 0, sizeof owner);
	owner[10] = 1;
	CHECK(unpack_raw(&m, 0, 0, owner, 2 * PS_NSLOTS, &cause) == -1);
	CHECK_STR(cause, "map: slot 10 names server 1 of 0");
	free(cause);
	cause = NULL;
	owner[10] = 0;
	{
		struct ps_map empty;

		map_init(&empty);
		CHECK(unpack_raw(&empty, 0, 0, owner, 2 * PS_NSLOTS, &cause) == 0);
		CHECK(empty.nservers == 0);
		map_free(&empty);
	}

	/* slot tables of the wrong size */
	CHECK(unpack_raw(&m, 1, 0, owner, 2 * PS_NSLOTS - 2, &cause) == -1);
	CHECK_STR(cause, "map: slot table has 32766 bytes, want 32768");
	free(cause);
	cause = NULL;
	CHECK(unpack_raw(&m, 1, 0, owner, 2 * PS_NSLOTS + 1, &cause) == -1);
	CHECK_STR(cause, "map: slot table has 32769 bytes, want 32768");
	free(cause);
	cause = NULL;
	CHECK(unpack_raw(&m, 1, 0, owner, 0, &cause) == -1);
	CHECK_STR(cause, "map: slot table has 0 bytes, want 32768");
	free(cause);
	cause = NULL;

	/* server entries that are not [id, host, port] */
	CHECK(unpack_raw(&m, 2, 1, owner, 2 * PS_NSLOTS, &cause) == -1);
	CHECK_STR(cause, "map: server 1 is not [id, host, port]");
	free(cause);
	cause = NULL;
	CHECK(unpack_raw(&m, 1, 2, owner, 2 * PS_NSLOTS, &cause) == -1);
	CHECK_STR(cause, "map: server 0 is not [id, host, port]");
	free(cause);
	cause = NULL;
	CHECK(unpack_raw(&m, 3, 3, owner, 2 * PS_NSLOTS, &cause) == -1);
	CHECK_STR(cause, "map: server 2 is not [id, host, port]");
	free(cause);
	cause = NULL;
	CHECK(same_map(&m, &keep));

	map_free(&m);
	map_free(&keep);
}

/* Keys 1..1e6 through map_slot and a spread map: each server gets its share within 5%. */
static void
test_key_spread(void)
{
	static uint32_t per_slot[PS_NSLOTS];
	static const uint32_t sizes[] = { 2, 3 };
	struct ps_map m;
	uint32_t count[3], s, lo = UINT32_MAX, hi = 0, i;
	uint64_t k;
	size_t z;
	double share;
	int in_range = 1, agree = 1;

	for (z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
		uint32_t n = sizes[z];

		make_map(&m, n, 1);
		memset(count, 0, sizeof count);
		for (k = 1; k <= NKEYS; k++) {
			uint32_t slot = map_slot(k), o = map_owner(&m, k);

			in_range &= slot < PS_NSLOTS;
			agree &= o == m.owner[slot & (PS_NSLOTS - 1)];
			if (o < n)
				count[o]++;
			if (z == 0 && slot < PS_NSLOTS)
				per_slot[slot]++;
		}
		for (i = 0; i < n; i++) {
			share = (double)count[i] / NKEYS;
			CHECK_NEAR(share, 1.0 / n, 0.05 / n);
		}
		map_free(&m);
	}
	CHECK(in_range);
	CHECK(agree);
	/* consecutive keys land on every slot: about 61 each, none empty or crowded */
	for (s = 0; s < PS_NSLOTS; s++) {
		lo = per_slot[s] < lo ? per_slot[s] : lo;
		hi = per_slot[s] > hi ? per_slot[s] : hi;
	}
	CHECK(lo > 20);
	CHECK(hi < 120);
	/* placement is stable: the same key always goes to the same slot */
	CHECK(map_slot(12345) == map_slot(12345));
	CHECK(map_slot(0) == (uint32_t)(hash_key(0) & (PS_NSLOTS - 1)));
}

int
main(void)
{
	RUN(test_init);
	RUN(test_spread);
	RUN(test_pack);
	RUN(test_unpack_refuses);
	RUN(test_key_spread);
	return UNIT_DONE();
}
