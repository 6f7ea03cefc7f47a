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
	if (a->nbackups != b->nbackups ||
	    memcmp(a->owner, b->owner, sizeof a->owner) != 0)
		return 0;
	for (i = 0; i < a->nbackups; i++)
		if (memcmp(a->backup[i], b->backup[i], sizeof a->backup[i]) != 0)
			return 0;
	return 1;
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

/* Unpacking a hand-made MAP frame: epoch, servers, slot table of tlen bytes made of
 * the ntable entries of table (rows one after another), then zeros. */
static int
unpack_table(struct ps_map *dst, uint32_t nservers, int bad_entry, const uint16_t *table,
    size_t ntable, size_t tlen, char **cause)
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
		uint16_t o = s < ntable ? table[s] : 0;
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

/* The same with one row, the owners, then zeros. */
static int
unpack_raw(struct ps_map *dst, uint32_t nservers, int bad_entry, const uint16_t *owner,
    size_t tlen, char **cause)
{
	return unpack_table(dst, nservers, bad_entry, owner, PS_NSLOTS, tlen, cause);
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
	CHECK_STR(cause, "map: slot table has 32766 bytes, want 32768 for each of 1 to 3 rows");
	free(cause);
	cause = NULL;
	CHECK(unpack_raw(&m, 1, 0, owner, 2 * PS_NSLOTS + 1, &cause) == -1);
	CHECK_STR(cause, "map: slot table has 32769 bytes, want 32768 for each of 1 to 3 rows");
	free(cause);
	cause = NULL;
	CHECK(unpack_raw(&m, 1, 0, owner, 0, &cause) == -1);
	CHECK_STR(cause, "map: slot table has 0 bytes, want 32768 for each of 1 to 3 rows");
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

/* Every slot's backup rows are packed (an empty place only before empty places), the
 * rows past nbackups empty, and each backup a listed server holding no other copy of
 * the slot. */
static int
sound_backups(const struct ps_map *m)
{
	uint32_t s, j, k;

	for (s = 0; s < PS_NSLOTS; s++) {
		for (j = 0; j < PS_MAX_COPIES - 1; j++) {
			uint16_t b = m->backup[j][s];

			if (b == PS_NO_SERVER)
				continue;
			if (j >= m->nbackups || b >= m->nservers || b == m->owner[s] ||
			    (j > 0 && m->backup[j - 1][s] == PS_NO_SERVER))
				return 0;
			for (k = 0; k < j; k++)
				if (m->backup[k][s] == b)
					return 0;
		}
	}
	return 1;
}

/* Copies (owned or backup) per server i, into copies[0..nservers). */
static void
count_copies(const struct ps_map *m, uint32_t *copies)
{
	uint32_t i;

	for (i = 0; i < m->nservers; i++)
		copies[i] = map_count_slots(m, i) + map_count_backups(m, i);
}

/* Backups go to the servers after the owner, each server holds its share. */
static void
test_chain_backups(void)
{
	struct ps_map m;
	uint32_t nb, s, j, i, c, lo, hi, total;
	int chained;

	make_map(&m, 3, 1);
	for (nb = 1; nb <= 2; nb++) {
		map_chain_backups(&m, nb);
		CHECK(m.nbackups == nb);
		CHECK(map_missing_backups(&m) == 0);
		CHECK(sound_backups(&m));
		chained = 1;
		for (s = 0; s < PS_NSLOTS; s++)
			for (j = 0; j < nb; j++)
				chained &= m.backup[j][s] == (m.owner[s] + 1 + j) % 3;
		CHECK(chained);
		lo = UINT32_MAX;
		hi = total = 0;
		for (i = 0; i < 3; i++) {
			c = map_count_backups(&m, i);
			lo = c < lo ? c : lo;
			hi = c > hi ? c : hi;
			total += c;
		}
		CHECK(total == nb * PS_NSLOTS);
		CHECK(hi - lo <= 1);
		CHECK(lo == nb * PS_NSLOTS / 3);
		CHECK(map_count_backups(&m, 3) == 0);	/* nobody beyond the list */
		CHECK(map_count_backups(&m, PS_NO_SERVER) == 0);	/* empty places are nobody's */
	}

	/* slot 0 is server 0's, last slot server 2's; with 2 backups every server holds both */
	CHECK(map_holds(&m, 0, 0) && map_holds(&m, 0, 1) && map_holds(&m, 0, 2));
	CHECK(!map_holds(&m, 0, 3));
	map_chain_backups(&m, 1);
	CHECK(map_holds(&m, 0, 0) && map_holds(&m, 0, 1) && !map_holds(&m, 0, 2));
	CHECK(map_holds(&m, PS_NSLOTS - 1, 2) && map_holds(&m, PS_NSLOTS - 1, 0));
	CHECK(!map_holds(&m, PS_NSLOTS - 1, 1));
	/* a row past nbackups does not count, whatever is in it */
	map_chain_backups(&m, 2);
	m.nbackups = 1;
	CHECK(!map_holds(&m, 0, 2));
	CHECK(map_count_backups(&m, 2) == map_count_slots(&m, 1));
	CHECK(map_missing_backups(&m) == 0);

	/* chaining again starts over: no backups at all */
	map_chain_backups(&m, 0);
	CHECK(m.nbackups == 0 && map_missing_backups(&m) == 0);
	CHECK(m.backup[0][0] == PS_NO_SERVER && m.backup[1][PS_NSLOTS - 1] == PS_NO_SERVER);
	CHECK(map_count_backups(&m, 1) == 0 && !map_holds(&m, 0, 1));
	map_free(&m);

	/* 2 servers cannot hold 3 copies: the second row stays empty */
	make_map(&m, 2, 1);
	map_chain_backups(&m, 2);
	CHECK(m.nbackups == 2);
	chained = 1;
	for (s = 0; s < PS_NSLOTS; s++)
		chained &= m.backup[0][s] == 1 - m.owner[s] && m.backup[1][s] == PS_NO_SERVER;
	CHECK(chained);
	CHECK(sound_backups(&m));
	CHECK(map_missing_backups(&m) == PS_NSLOTS);
	CHECK(map_count_backups(&m, 0) == PS_NSLOTS / 2 && map_count_backups(&m, 1) == PS_NSLOTS / 2);
	CHECK(map_fill_backups(&m, NULL) == 0);		/* nobody left to take them */
	CHECK(map_missing_backups(&m) == PS_NSLOTS);
	map_free(&m);

	/* 1 server: no backup at all */
	make_map(&m, 1, 1);
	map_chain_backups(&m, 1);
	CHECK(m.backup[0][0] == PS_NO_SERVER && m.backup[0][PS_NSLOTS - 1] == PS_NO_SERVER);
	CHECK(map_missing_backups(&m) == PS_NSLOTS);
	CHECK(map_fill_backups(&m, NULL) == 0);
	map_free(&m);
}

/* A lost owner's slots pass to their first backup; a lost backup leaves the rows. */
static void
test_fail_server(void)
{
	struct ps_map m, before;
	uint32_t owned, promoted = 12345, lost, s;
	int moved = 1;

	make_map(&m, 3, 1);
	map_chain_backups(&m, 2);
	map_init(&before);
	map_copy(&before, &m);
	owned = map_count_slots(&m, 1);
	CHECK(owned == PS_NSLOTS / 3);
	lost = map_fail_server(&m, 1, &promoted);
	CHECK(lost == 0);
	CHECK(promoted == owned);
	CHECK(map_count_slots(&m, 1) == 0);
	CHECK(map_count_backups(&m, 1) == 0);
	CHECK(map_count_slots(&m, 0) + map_count_slots(&m, 2) == PS_NSLOTS);
	CHECK(sound_backups(&m));
	CHECK(map_missing_backups(&m) == PS_NSLOTS);	/* each slot lost one copy */
	for (s = 0; s < PS_NSLOTS; s++) {
		const uint16_t o = before.owner[s], b0 = before.backup[0][s],
		    b1 = before.backup[1][s];

		if (o == 1)		/* promoted: the second backup moves up */
			moved &= m.owner[s] == b0 && m.backup[0][s] == b1;
		else if (b0 == 1)	/* the first backup lost: the second moves up */
			moved &= m.owner[s] == o && m.backup[0][s] == b1;
		else			/* the second lost */
			moved &= m.owner[s] == o && m.backup[0][s] == b0;
		moved &= m.backup[1][s] == PS_NO_SERVER;
	}
	CHECK(moved);
	CHECK(m.nservers == 3 && m.nbackups == 2);	/* still listed, holding nothing */

	/* failing it again changes nothing */
	map_copy(&before, &m);
	promoted = 12345;
	CHECK(map_fail_server(&m, 1, &promoted) == 0);
	CHECK(promoted == 0);
	CHECK(same_map(&m, &before));

	/* a second server lost: the third owns every slot, with no backup left */
	CHECK(map_fail_server(&m, 0, &promoted) == 0);
	CHECK(promoted == PS_NSLOTS - map_count_slots(&before, 2));
	CHECK(map_count_slots(&m, 2) == PS_NSLOTS);
	CHECK(map_missing_backups(&m) == 2 * PS_NSLOTS);
	CHECK(sound_backups(&m));
	/* and then the last: nothing to pass its slots to, all lost */
	CHECK(map_fail_server(&m, 2, &promoted) == PS_NSLOTS);
	CHECK(promoted == 0);
	CHECK(map_count_slots(&m, 2) == PS_NSLOTS);	/* still named as owner */
	map_free(&m);

	/* without backups the slots are lost and the owners stay */
	make_map(&m, 3, 1);
	map_copy(&before, &m);
	promoted = 12345;
	lost = map_fail_server(&m, 1, &promoted);
	CHECK(lost == map_count_slots(&before, 1));
	CHECK(lost == PS_NSLOTS / 3);
	CHECK(promoted == 0);
	CHECK(same_map(&m, &before));
	map_free(&m);
	map_free(&before);
}

/* Removing a server shifts the later indices down in the owners and every backup row. */
static void
test_remove_server_backups(void)
{
	struct ps_map m, before;
	uint32_t promoted, s, j;
	int shifted = 1;

	make_map(&m, 4, 1);
	map_chain_backups(&m, 2);
	CHECK(map_fail_server(&m, 1, &promoted) == 0);
	map_init(&before);
	map_copy(&before, &m);
	map_remove_server(&m, 1);
	CHECK(m.nservers == 3 && m.nbackups == 2);
	CHECK(m.servers[0].id == 100 && m.servers[1].id == 102 && m.servers[2].id == 103);
	CHECK(map_find_server(&m, 101) == -1);
	for (s = 0; s < PS_NSLOTS; s++) {
		shifted &= m.owner[s] == before.owner[s] - (before.owner[s] > 1);
		for (j = 0; j < 2; j++) {
			uint16_t b = before.backup[j][s];

			shifted &= m.backup[j][s] ==
			    (b == PS_NO_SERVER ? PS_NO_SERVER : b - (b > 1));
		}
	}
	CHECK(shifted);
	CHECK(sound_backups(&m));
	CHECK(map_missing_backups(&m) == map_missing_backups(&before));
	CHECK(map_count_backups(&m, 1) == map_count_backups(&before, 2));
	CHECK(map_count_backups(&m, 2) == map_count_backups(&before, 3));
	CHECK(map_count_backups(&m, 0) == map_count_backups(&before, 0));
	map_free(&m);
	map_free(&before);
}

/* Lost, removed, refilled: every slot has its backups again where there are servers. */
static void
test_fill_backups(void)
{
	struct ps_map m, base;
	uint8_t skip[4] = { 0 };
	uint32_t promoted, s, filled, b1;
	int ok;

	/* 4 servers, 1 backup, server 1 lost */
	make_map(&base, 4, 1);
	map_chain_backups(&base, 1);
	CHECK(map_fail_server(&base, 1, &promoted) == 0);
	CHECK(promoted == PS_NSLOTS / 4);
	/* server 0's slots lost their backup, server 1's (now 2's) have none */
	CHECK(map_missing_backups(&base) == PS_NSLOTS / 2);
	map_remove_server(&base, 1);
	CHECK(sound_backups(&base));

	map_init(&m);
	map_copy(&m, &base);
	filled = map_fill_backups(&m, NULL);
	CHECK(filled == PS_NSLOTS / 2);
	CHECK(map_missing_backups(&m) == 0);
	CHECK(sound_backups(&m));
	ok = 1;
	for (s = 0; s < PS_NSLOTS; s++)
		ok &= m.backup[0][s] < m.nservers && m.backup[0][s] != m.owner[s] &&
		    m.owner[s] == base.owner[s] &&
		    (base.backup[0][s] == PS_NO_SERVER || m.backup[0][s] == base.backup[0][s]);
	CHECK(ok);		/* owners and the backups already there stay */
	CHECK(map_fill_backups(&m, NULL) == 0);	/* nothing more to fill */

	/* skip: server 1 (id 102) takes no new backup */
	map_copy(&m, &base);
	b1 = map_count_backups(&m, 1);
	skip[1] = 1;
	CHECK(map_fill_backups(&m, skip) == PS_NSLOTS / 2);
	CHECK(map_missing_backups(&m) == 0);
	CHECK(map_count_backups(&m, 1) == b1);
	CHECK(sound_backups(&m));
	/* skip both others of server 1's slots: those stay without, server 0's go to 1 */
	map_copy(&m, &base);
	skip[0] = skip[2] = 1;
	skip[1] = 0;
	filled = map_fill_backups(&m, skip);
	CHECK(filled == map_count_slots(&base, 0));
	CHECK(map_missing_backups(&m) == PS_NSLOTS / 2 - filled);
	CHECK(map_count_backups(&m, 0) == map_count_backups(&base, 0));
	CHECK(map_count_backups(&m, 2) == map_count_backups(&base, 2));
	ok = 1;
	for (s = 0; s < PS_NSLOTS; s++)
		if (m.owner[s] == 1)
			ok &= m.backup[0][s] == base.backup[0][s];
		else if (m.owner[s] == 0)
			ok &= m.backup[0][s] == 1;
	CHECK(ok);
	/* everyone skipped: nothing filled */
	map_copy(&m, &base);
	memset(skip, 1, sizeof skip);
	CHECK(map_fill_backups(&m, skip) == 0);
	CHECK(map_missing_backups(&m) == PS_NSLOTS / 2);
	map_free(&m);
	map_free(&base);

	/* 4 servers, 2 backups, servers 0 and 1 lost: the 2 left hold 2 copies at most */
	make_map(&m, 4, 1);
	map_chain_backups(&m, 2);
	CHECK(map_fail_server(&m, 0, &promoted) == 0);
	CHECK(promoted == PS_NSLOTS / 4);
	CHECK(map_fail_server(&m, 1, &promoted) == 0);
	CHECK(promoted == PS_NSLOTS / 2);
	map_remove_server(&m, 1);
	map_remove_server(&m, 0);
	CHECK(m.nservers == 2 && m.servers[0].id == 102 && m.servers[1].id == 103);
	CHECK(sound_backups(&m));
	CHECK(map_missing_backups(&m) == PS_NSLOTS + PS_NSLOTS / 2);
	filled = map_fill_backups(&m, NULL);
	CHECK(filled == PS_NSLOTS / 2);
	CHECK(map_missing_backups(&m) == PS_NSLOTS);
	ok = 1;
	for (s = 0; s < PS_NSLOTS; s++)
		ok &= m.backup[0][s] == 1 - m.owner[s] && m.backup[1][s] == PS_NO_SERVER;
	CHECK(ok);
	CHECK(sound_backups(&m));
	map_free(&m);

	/* nothing to do without backup rows or servers */
	make_map(&m, 3, 1);
	CHECK(map_fill_backups(&m, NULL) == 0);
	map_free(&m);
	map_init(&m);
	m.nbackups = 1;
	CHECK(map_fill_backups(&m, NULL) == 0);
	map_free(&m);
}

/* The server with the fewest copies is filled first: a fresh one takes the places. */
static void
test_fill_prefers_spare(void)
{
	struct ps_map m;
	uint32_t promoted, copies[4], before[4], i, filled;

	make_map(&m, 4, 1);
	map_chain_backups(&m, 1);
	CHECK(map_fail_server(&m, 1, &promoted) == 0);
	map_remove_server(&m, 1);
	/* each of the 3 left holds 2 * PS_NSLOTS / 4 copies */
	count_copies(&m, copies);
	CHECK(copies[0] == PS_NSLOTS / 2 && copies[1] == PS_NSLOTS / 2 &&
	    copies[2] == PS_NSLOTS / 2);
	for (i = 0; i < 3; i++)
		before[i] = map_count_backups(&m, i);
	map_add_server(&m, 200, "10.0.1.0", 7100);
	CHECK(map_count_slots(&m, 3) == 0 && map_count_backups(&m, 3) == 0);
	filled = map_fill_backups(&m, NULL);
	CHECK(filled == PS_NSLOTS / 2);
	CHECK(map_count_backups(&m, 3) == filled);	/* all to the spare */
	for (i = 0; i < 3; i++)
		CHECK(map_count_backups(&m, i) == before[i]);
	CHECK(map_missing_backups(&m) == 0);
	CHECK(sound_backups(&m));
	count_copies(&m, copies);
	CHECK(copies[3] == PS_NSLOTS / 2);

	/* more places than bring the spare level with the others: it is taken while it
	 * has fewer copies than the other candidate, and not beyond */
	map_free(&m);
	make_map(&m, 3, 1);
	map_chain_backups(&m, 1);
	m.nbackups = 2;			/* a second row, all empty */
	map_add_server(&m, 200, "10.0.1.0", 7100);
	filled = map_fill_backups(&m, NULL);
	CHECK(filled == PS_NSLOTS);
	CHECK(map_missing_backups(&m) == 0);
	CHECK(sound_backups(&m));
	count_copies(&m, copies);
	CHECK(copies[0] + copies[1] + copies[2] + copies[3] == 3 * PS_NSLOTS);
	CHECK(copies[3] >= 2 * PS_NSLOTS / 3);	/* up to where the others started */
	CHECK(copies[3] <= 1 + (copies[0] > copies[1] ?
	    (copies[0] > copies[2] ? copies[0] : copies[2]) :
	    (copies[1] > copies[2] ? copies[1] : copies[2])));
	CHECK(map_count_backups(&m, 3) > PS_NSLOTS / 2);	/* the most new places */
	map_free(&m);
}

/* Backup rows survive packing: all of them, empty places and all. */
static void
test_pack_backups(void)
{
	struct ps_map a, b;
	uint32_t promoted, s, j, missing;
	char *cause = NULL;
	int empty;

	make_map(&a, 5, 77);
	map_chain_backups(&a, 2);
	map_init(&b);
	CHECK(round_trip(&a, &b, 0, &cause) == 0);
	CHECK(cause == NULL);
	CHECK(b.nbackups == 2);
	CHECK(same_map(&a, &b));
	CHECK(memcmp(a.backup, b.backup, sizeof a.backup) == 0);

	/* with empty places (a server lost), after two other arguments: the slots of
	 * servers 1, 2 (backed up on 3) and 3 have one backup, those of 0 and 4 two */
	missing = map_count_slots(&a, 1) + map_count_slots(&a, 2) + map_count_slots(&a, 3);
	CHECK(map_fail_server(&a, 3, &promoted) == 0);
	a.epoch++;
	CHECK(round_trip(&a, &b, 2, &cause) == 0);
	CHECK(same_map(&a, &b));
	CHECK(map_missing_backups(&b) == missing);
	CHECK(b.owner[PS_NSLOTS / 2] == 2 && b.backup[0][PS_NSLOTS / 2] == 4 &&
	    b.backup[1][PS_NSLOTS / 2] == PS_NO_SERVER);
	CHECK(b.backup[1][0] == 2 && b.backup[1][PS_NSLOTS - 1] == 1);

	/* fewer rows over a map with more: the rows no longer in use are emptied */
	map_chain_backups(&a, 1);
	CHECK(round_trip(&a, &b, 0, &cause) == 0);
	CHECK(b.nbackups == 1);
	CHECK(same_map(&a, &b));
	empty = 1;
	for (s = 0; s < PS_NSLOTS; s++)
		for (j = 1; j < PS_MAX_COPIES - 1; j++)
			empty &= b.backup[j][s] == PS_NO_SERVER;
	CHECK(empty);
	/* and none */
	map_chain_backups(&a, 0);
	CHECK(round_trip(&a, &b, 0, &cause) == 0);
	CHECK(b.nbackups == 0 && same_map(&a, &b));
	CHECK(b.backup[0][0] == PS_NO_SERVER);
	free(cause);
	map_free(&a);
	map_free(&b);
}

/* The 3-row table is refused with the cause want, and m, a copy of keep, is left as
 * it was: a refused map changes nothing. */
static void
refused_table(struct ps_map *m, const struct ps_map *keep, const uint16_t *table,
    const char *want)
{
	char *cause = NULL;

	CHECK(unpack_table(m, 3, 0, table, 3 * PS_NSLOTS, 6 * PS_NSLOTS, &cause) == -1);
	CHECK_STR(cause, want);
	CHECK(same_map(m, keep));
	free(cause);
}

static void
test_unpack_refuses_backups(void)
{
	static uint16_t table[PS_MAX_COPIES * PS_NSLOTS];
	uint16_t *owner = table, *row1 = table + PS_NSLOTS, *row2 = table + 2 * PS_NSLOTS;
	struct ps_map keep, m;
	char *cause = NULL;
	uint32_t s, promoted;
	int same;

	for (s = 0; s < PS_NSLOTS; s++) {
		owner[s] = s % 3;
		row1[s] = (s + 1) % 3;
		row2[s] = (s + 2) % 3;
	}
	make_map(&keep, 4, 99);
	map_chain_backups(&keep, 2);
	CHECK(map_fail_server(&keep, 2, &promoted) == 0);	/* with empty places */
	map_init(&m);

	/* the hand-made frame is good as it stands, with 2 and 3 rows */
	CHECK(unpack_table(&m, 3, 0, table, 3 * PS_NSLOTS, 6 * PS_NSLOTS, &cause) == 0);
	CHECK(m.nbackups == 2 && m.nservers == 3);
	same = 1;
	for (s = 0; s < PS_NSLOTS; s++)
		same &= m.owner[s] == owner[s] && m.backup[0][s] == row1[s] &&
		    m.backup[1][s] == row2[s];
	CHECK(same);
	CHECK(unpack_table(&m, 3, 0, table, 2 * PS_NSLOTS, 4 * PS_NSLOTS, &cause) == 0);
	CHECK(m.nbackups == 1 && m.backup[0][7] == row1[7] && m.backup[1][7] == PS_NO_SERVER);
	/* empty places are fine when packed */
	row2[5] = PS_NO_SERVER;
	row1[6] = row2[6] = PS_NO_SERVER;
	CHECK(unpack_table(&m, 3, 0, table, 3 * PS_NSLOTS, 6 * PS_NSLOTS, &cause) == 0);
	CHECK(m.backup[0][5] == row1[5] && m.backup[1][5] == PS_NO_SERVER);
	CHECK(m.backup[0][6] == PS_NO_SERVER && m.backup[1][6] == PS_NO_SERVER);
	CHECK(map_missing_backups(&m) == 3);
	CHECK(cause == NULL);
	map_copy(&m, &keep);

	/* a backup that is not a listed server */
	row1[100] = 3;
	refused_table(&m, &keep, table,
	    "map: slot 100 has backup 3 in row 1: not a server, a second copy, "
	    "or after an empty place");
	row1[100] = (100 + 1) % 3;
	row2[PS_NSLOTS - 1] = 0xfffe;
	refused_table(&m, &keep, table,
	    "map: slot 16383 has backup 65534 in row 2: not a server, a second "
	    "copy, or after an empty place");
	row2[PS_NSLOTS - 1] = (PS_NSLOTS - 1 + 2) % 3;

	/* a backup on the slot's owner */
	row2[200] = owner[200];
	refused_table(&m, &keep, table,
	    "map: slot 200 has backup 2 in row 2: not a server, a second copy, "
	    "or after an empty place");
	row2[200] = (200 + 2) % 3;
	row1[201] = owner[201];
	refused_table(&m, &keep, table,
	    "map: slot 201 has backup 0 in row 1: not a server, a second copy, "
	    "or after an empty place");
	row1[201] = (201 + 1) % 3;

	/* the same server twice */
	row2[300] = row1[300];
	refused_table(&m, &keep, table,
	    "map: slot 300 has backup 1 in row 2: not a server, a second copy, "
	    "or after an empty place");
	row2[300] = (300 + 2) % 3;

	/* a gap: an empty place, then a server */
	row1[400] = PS_NO_SERVER;
	refused_table(&m, &keep, table,
	    "map: slot 400 has backup 0 in row 2: not a server, a second copy, "
	    "or after an empty place");
	row1[400] = (400 + 1) % 3;

	/* with the fixes the table is good again: each refusal was for its own reason */
	CHECK(unpack_table(&m, 3, 0, table, 3 * PS_NSLOTS, 6 * PS_NSLOTS, &cause) == 0);
	CHECK(cause == NULL);
	map_copy(&m, &keep);

	/* 4 rows: more copies than PS_MAX_COPIES */
	CHECK(unpack_table(&m, 3, 0, table, 3 * PS_NSLOTS, 8 * PS_NSLOTS, &cause) == -1);
	CHECK_STR(cause, "map: slot table has 131072 bytes, want 32768 for each of 1 to 3 rows");
	CHECK(same_map(&m, &keep));
	free(cause);
	cause = NULL;

	/* no servers: no backup but empty places */
	memset(table, 0, sizeof table);
	for (s = 0; s < PS_NSLOTS; s++)
		row1[s] = PS_NO_SERVER;
	CHECK(unpack_table(&m, 0, 0, table, 2 * PS_NSLOTS, 4 * PS_NSLOTS, &cause) == 0);
	CHECK(m.nservers == 0 && m.nbackups == 1);
	row1[9] = 0;
	CHECK(unpack_table(&m, 0, 0, table, 2 * PS_NSLOTS, 4 * PS_NSLOTS, &cause) == -1);
	CHECK_STR(cause, "map: slot 9 has backup 0 in row 1: not a server, a second copy, "
	    "or after an empty place");
	free(cause);

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
	RUN(test_chain_backups);
	RUN(test_fail_server);
	RUN(test_remove_server_backups);
	RUN(test_fill_backups);
	RUN(test_fill_prefers_spare);
	RUN(test_pack_backups);
	RUN(test_unpack_refuses_backups);
	RUN(test_key_spread);
	return UNIT_DONE();
}
