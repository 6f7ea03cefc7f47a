/* The slot store (lib/store.c): states and counts, dropping a slot, and moving slots
 * between stores in frames with store_pack and store_load. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ps/map.h"
#include "ps/msg.h"
#include "ps/store.h"
#include "unit.h"

#define MAXKEYS	200		/* keys per slot, at most, in these tests */

/* A bijection on uint64 (splitmix64's finalizer), so distinct i give distinct keys. */
static uint64_t
test_key(uint64_t i)
{
	i = (i ^ (i >> 30)) * 0xbf58476d1ce4e5b9ULL;
	i = (i ^ (i >> 27)) * 0x94d049bb133111ebULL;
	return i ^ (i >> 31);
}

/* n distinct keys whose slot is slot. */
static void
slot_keys(uint32_t slot, uint64_t *out, size_t n)
{
	uint64_t i;
	size_t k = 0;

	for (i = 1; k < n; i++)
		if (map_slot(test_key(i)) == slot)
			out[k++] = test_key(i);
}

/* Float j of key's state: any 32 bits (NaNs, infinities, denormals, -0 included), so
 * the comparisons below are of bytes. */
static uint32_t
val_bits(uint64_t key, uint32_t j)
{
	return (uint32_t)test_key(key * 31 + j + 1);
}

/* Give slot n keys (of keys[]) with their states. */
static void
fill(struct ps_store *st, uint32_t slot, const uint64_t *keys, size_t n)
{
	size_t i;
	uint32_t j, bits;
	float *v;

	for (i = 0; i < n; i++) {
		v = table_insert(store_table(st, slot), keys[i], NULL);
		for (j = 0; j < st->width; j++) {
			bits = val_bits(keys[i], j);
			memcpy(&v[j], &bits, 4);
		}
	}
}

/* Does slot hold the same keys with the same state bytes in a and b? */
static int
same_slot(struct ps_store *a, struct ps_store *b, uint32_t slot)
{
	struct ps_table *ta = store_table(a, slot), *tb = store_table(b, slot);
	size_t it = 0;
	uint64_t key;
	float *va, *vb;

	if (a->width != b->width || ta->count != tb->count)
		return 0;
	while (table_next(ta, &it, &key, &va)) {
		if ((vb = table_find(tb, key)) == NULL ||
		    memcmp(va, vb, 4 * (size_t)a->width) != 0)
			return 0;
	}
	return 1;
}

/* Append a SLOT_DATA frame to w as the server builds it (width, then the five bins). */
static size_t
pack_frame(const struct ps_store *st, struct ps_store_cursor *c, size_t max_keys,
    struct ps_wbuf *w)
{
	struct ps_hdr h = msg_hdr(PS_MSG_SLOT_DATA, 1, 7, 3);
	size_t n;

	msg_begin(w, &h, 6);
	msg_put_uint(w, st->width);
	n = store_pack(st, c, max_keys, PS_NSLOTS, w);
	msg_end(w);
	return n;
}

/* The frame length at w->data + off, from its prefix. */
static size_t
frame_len(const struct ps_wbuf *w, size_t off)
{
	const unsigned char *p = (const unsigned char *)w->data + off;

	return (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
}

/* Decode the frame at w->data + off and load it. */
static int64_t
load_at(struct ps_store *st, const struct ps_wbuf *w, size_t off, uint64_t epoch,
    char **cause)
{
	struct ps_msg m;
	int64_t r = -1;

	if (msg_decode(&m, w->data + off + 4, frame_len(w, off), cause) != 0)
		return -1;
	if (msg_check(&m, "ubbbbb", cause) == 0)
		r = store_load(st, &m, 1, epoch, SLOT_OWNED, cause);
	msg_free(&m);
	return r;
}

static int64_t
load_frame(struct ps_store *st, const struct ps_wbuf *w, uint64_t epoch, char **cause)
{
	CHECK(w->len == 4 + frame_len(w, 0));
	return load_at(st, w, 0, epoch, cause);
}

/* A frame's slots, per-slot counts and completed slots, each as a string "a,b,c". */
static void
frame_lists(const struct ps_wbuf *w, char *slots, char *counts, char *done, size_t len)
{
	struct ps_msg m;
	const unsigned char *p;
	size_t n, i;
	char *cause = NULL;

	slots[0] = counts[0] = done[0] = '\0';
	if (msg_decode(&m, w->data + 4, w->len - 4, &cause) != 0) {
		CHECK(cause == NULL);
		free(cause);
		return;
	}
	p = (const unsigned char *)msg_bin(&m, 1, &n);
	for (i = 0; i + 1 < n; i += 2)
		snprintf(slots + strlen(slots), len - strlen(slots), "%s%u", i ? "," : "",
		    p[i] | p[i + 1] << 8);
	p = (const unsigned char *)msg_bin(&m, 2, &n);
	for (i = 0; i + 3 < n; i += 4)
		snprintf(counts + strlen(counts), len - strlen(counts), "%s%u",
		    i ? "," : "", (unsigned)(p[i] | p[i + 1] << 8 | p[i + 2] << 16 |
		    (uint32_t)p[i + 3] << 24));
	p = (const unsigned char *)msg_bin(&m, 5, &n);
	for (i = 0; i + 1 < n; i += 2)
		snprintf(done + strlen(done), len - strlen(done), "%s%u", i ? "," : "",
		    p[i] | p[i + 1] << 8);
	msg_free(&m);
}

static void
test_init(void)
{
	struct ps_store st;
	uint32_t s;
	int zero = 1;

	store_init(&st, 3);
	CHECK(st.width == 3 && st.tables != NULL);
	CHECK(store_count(&st, SLOT_ABSENT) == PS_NSLOTS);
	CHECK(store_count(&st, SLOT_OWNED) == 0);
	CHECK(store_count(&st, SLOT_IMPORTING) == 0);
	CHECK(store_count(&st, SLOT_MIGRATING) == 0);
	CHECK(store_keys(&st, SLOT_ABSENT) == 0 && store_keys(&st, SLOT_OWNED) == 0);
	CHECK(store_bytes(&st) == 0);
	for (s = 0; s < PS_NSLOTS; s++)
		zero &= st.epoch[s] == 0 && store_table(&st, s)->width == 3 &&
		    store_table(&st, s)->count == 0;
	CHECK(zero);
	store_free(&st);
	CHECK(st.tables == NULL);
	store_free(&st);	/* twice is harmless */
}

/* store_set, store_count, store_keys, store_keys_in, store_bytes, store_drop. */
static void
test_counts(void)
{
	static uint64_t keys[MAXKEYS];
	static const uint16_t some[] = { 10, 11, 16383, 12 };
	struct ps_store st;
	uint64_t bytes, b10;
	float *v;

	store_init(&st, 2);
	store_set(&st, 10, SLOT_OWNED, 5);
	store_set(&st, 11, SLOT_OWNED, 6);
	store_set(&st, 12, SLOT_IMPORTING, 7);
	store_set(&st, 13, SLOT_MIGRATING, 8);
	store_set(&st, 16383, SLOT_OWNED, UINT64_MAX);
	CHECK(st.state[10] == SLOT_OWNED && st.epoch[10] == 5);
	CHECK(st.state[16383] == SLOT_OWNED && st.epoch[16383] == UINT64_MAX);
	CHECK(store_count(&st, SLOT_OWNED) == 3);
	CHECK(store_count(&st, SLOT_IMPORTING) == 1);
	CHECK(store_count(&st, SLOT_MIGRATING) == 1);
	CHECK(store_count(&st, SLOT_ABSENT) == PS_NSLOTS - 5);

	slot_keys(10, keys, 50);
	fill(&st, 10, keys, 50);
	slot_keys(11, keys, 7);
	fill(&st, 11, keys, 7);
	slot_keys(12, keys, 20);
	fill(&st, 12, keys, 20);
	slot_keys(13, keys, 3);
	fill(&st, 13, keys, 3);
	slot_keys(100, keys, 4);		/* entries in an ABSENT slot count as such */
	fill(&st, 100, keys, 4);
	CHECK(store_keys(&st, SLOT_OWNED) == 57);
	CHECK(store_keys(&st, SLOT_IMPORTING) == 20);
	CHECK(store_keys(&st, SLOT_MIGRATING) == 3);
	CHECK(store_keys(&st, SLOT_ABSENT) == 4);
	CHECK(store_keys_in(&st, some, 4) == 50 + 7 + 0 + 20);
	CHECK(store_keys_in(&st, some, 1) == 50);
	CHECK(store_keys_in(&st, some, 0) == 0);
	bytes = store_bytes(&st);
	CHECK(bytes == table_bytes(store_table(&st, 10)) + table_bytes(store_table(&st, 11)) +
	    table_bytes(store_table(&st, 12)) + table_bytes(store_table(&st, 13)) +
	    table_bytes(store_table(&st, 100)));
	CHECK(bytes > 0);

	/* Dropping frees the entries and leaves the state and epoch alone. */
	b10 = table_bytes(store_table(&st, 10));
	CHECK(b10 > 0);
	store_drop(&st, 10);
	CHECK(store_table(&st, 10)->count == 0);
	CHECK(table_find(store_table(&st, 10), keys[0]) == NULL);
	CHECK(store_bytes(&st) == bytes - b10);
	CHECK(st.state[10] == SLOT_OWNED && st.epoch[10] == 5);
	CHECK(store_keys(&st, SLOT_OWNED) == 7);
	CHECK(store_keys_in(&st, some, 4) == 27);
	store_drop(&st, 10);		/* twice, and an empty slot: harmless */
	store_drop(&st, 9000);
	CHECK(store_bytes(&st) == bytes - b10);
	/* The slot is usable again, at the store's width. */
	v = table_insert(store_table(&st, 10), 99, NULL);
	CHECK(v != NULL && v[0] == 0 && v[1] == 0);
	CHECK(store_table(&st, 10)->width == 2);
	CHECK(store_keys(&st, SLOT_OWNED) == 8);

	store_set(&st, 10, SLOT_ABSENT, 9);
	CHECK(store_count(&st, SLOT_OWNED) == 2);
	CHECK(store_keys(&st, SLOT_OWNED) == 7);
	store_free(&st);
}

/*
 * Several slots of a width-3 store through one frame into a store importing them: every
 * key and every state byte arrives, completed slots become OWNED at the load's epoch,
 * slots not in the list are untouched. Keys 0 and UINT64_MAX ride along in their slots.
 */
static void
test_round_trip(void)
{
	static uint64_t keys[MAXKEYS];
	static const uint32_t widths[] = { 1, 3, 8 };
	uint16_t list[8];
	struct ps_store a, b;
	struct ps_store_cursor c;
	struct ps_wbuf w;
	char *cause = NULL;
	size_t i, n, z, total;
	uint32_t s0 = map_slot(0), smax = map_slot(UINT64_MAX);
	int same, owned;

	for (z = 0; z < sizeof widths / sizeof widths[0]; z++) {
		store_init(&a, widths[z]);
		store_init(&b, widths[z]);
		n = 0;
		list[n++] = 3;
		list[n++] = 100;
		list[n++] = 777;
		list[n++] = 4242;		/* empty */
		list[n++] = 16383;
		list[n++] = (uint16_t)s0;
		if (smax != s0)
			list[n++] = (uint16_t)smax;
		total = 0;
		for (i = 0; i < n; i++) {
			size_t k = list[i] == 4242 ? 0 : 10 + 13 * i;

			slot_keys(list[i], keys, k);
			fill(&a, list[i], keys, k);
			store_set(&a, list[i], SLOT_OWNED, 2);
			store_set(&b, list[i], SLOT_IMPORTING, 5);
		}
		fill(&a, s0, (const uint64_t[]){ 0 }, 1);
		fill(&a, smax, (const uint64_t[]){ UINT64_MAX }, 1);
		for (i = 0; i < n; i++)
			total += store_table(&a, list[i])->count;
		/* a slot not in the list, owned at the source: stays behind */
		slot_keys(5000, keys, 9);
		fill(&a, 5000, keys, 9);
		store_set(&a, 5000, SLOT_OWNED, 2);

		memset(&c, 0, sizeof c);
		c.slots = list;
		c.nslots = n;
		wbuf_init(&w);
		CHECK(pack_frame(&a, &c, 100000, &w) == total);
		CHECK(c.i == c.nslots && c.taken == 0);
		CHECK(load_frame(&b, &w, 9, &cause) == (int64_t)total);
		CHECK(cause == NULL);
		same = owned = 1;
		for (i = 0; i < n; i++) {
			same &= same_slot(&a, &b, list[i]);
			owned &= b.state[list[i]] == SLOT_OWNED && b.epoch[list[i]] == 9;
		}
		CHECK(same);
		CHECK(owned);
		CHECK(table_find(store_table(&b, s0), 0) != NULL);
		CHECK(table_find(store_table(&b, smax), UINT64_MAX) != NULL);
		CHECK(store_count(&b, SLOT_OWNED) == n);
		CHECK(store_count(&b, SLOT_IMPORTING) == 0);
		CHECK(store_keys(&b, SLOT_OWNED) == total);
		CHECK(store_keys_in(&b, list, n) == total);
		CHECK(b.state[5000] == SLOT_ABSENT && store_table(&b, 5000)->count == 0);
		/* the source is left as it was: packing only reads */
		CHECK(store_keys(&a, SLOT_OWNED) == total + 9);
		CHECK(a.state[3] == SLOT_OWNED);

		/* Packing again from a finished cursor: an empty frame, which loads as 0. */
		wbuf_reset(&w);
		CHECK(pack_frame(&a, &c, 100000, &w) == 0);
		CHECK(load_frame(&b, &w, 10, &cause) == 0);
		CHECK(store_count(&b, SLOT_OWNED) == n && b.epoch[3] == 9);

		wbuf_free(&w);
		store_free(&a);
		store_free(&b);
	}
}

/*
 * A slot larger than max_keys spans frames; it becomes OWNED with its last frame only.
 * Slots: A (10 keys), B (150), C and D (empty), E (5); 40 keys a frame:
 *   1: A 10, B 30, completes A    2: B 40    3: B 40
 *   4: B 40, C and D ride along, completes B, C, D    5: E 5, completes E
 */
static void
test_span(void)
{
	static uint64_t keys[MAXKEYS];
	static const uint16_t list[] = { 21, 22, 23, 24, 25 };
	static const size_t sizes[] = { 10, 150, 0, 0, 5 };
	static const struct {
		size_t		 keys;
		const char	*slots, *counts, *done;
	} want[] = {
		{ 40, "21,22", "10,30", "21" },
		{ 40, "22", "40", "" },
		{ 40, "22", "40", "" },
		{ 40, "22,23,24", "40,0,0", "22,23,24" },
		{ 5, "25", "5", "25" },
	};
	struct ps_store a, b;
	struct ps_store_cursor c;
	struct ps_wbuf w;
	char slots[256], counts[256], done[256], *cause = NULL;
	size_t i, f, loaded = 0;

	store_init(&a, 2);
	store_init(&b, 2);
	for (i = 0; i < 5; i++) {
		slot_keys(list[i], keys, sizes[i]);
		fill(&a, list[i], keys, sizes[i]);
		store_set(&a, list[i], SLOT_OWNED, 1);
		store_set(&b, list[i], SLOT_IMPORTING, 1);
	}
	memset(&c, 0, sizeof c);
	c.slots = list;
	c.nslots = 5;
	wbuf_init(&w);
	for (f = 0; f < 5; f++) {
		wbuf_reset(&w);
		CHECK(c.i < c.nslots);
		CHECK(pack_frame(&a, &c, 40, &w) == want[f].keys);
		frame_lists(&w, slots, counts, done, sizeof slots);
		CHECK_STR(slots, want[f].slots);
		CHECK_STR(counts, want[f].counts);
		CHECK_STR(done, want[f].done);
		CHECK(load_frame(&b, &w, 100 + f, &cause) == (int64_t)want[f].keys);
		CHECK(cause == NULL);
		free(cause);
		cause = NULL;
		loaded += want[f].keys;
		CHECK(store_keys_in(&b, list, 5) == loaded);
		switch (f) {
		case 0:
			CHECK(c.i == 1 && c.taken == 30);
			CHECK(b.state[21] == SLOT_OWNED && b.epoch[21] == 100);
			CHECK(b.state[22] == SLOT_IMPORTING);
			CHECK(store_table(&b, 22)->count == 30);
			break;
		case 1:
		case 2:
			CHECK(c.i == 1 && c.taken == 30 + 40 * f);
			CHECK(b.state[22] == SLOT_IMPORTING);
			CHECK(store_table(&b, 22)->count == 30 + 40 * f);
			CHECK(store_count(&b, SLOT_OWNED) == 1);
			break;
		case 3:
			CHECK(c.i == 4 && c.taken == 0);
			CHECK(b.state[22] == SLOT_OWNED && b.epoch[22] == 103);
			CHECK(b.state[23] == SLOT_OWNED && b.state[24] == SLOT_OWNED);
			CHECK(b.state[25] == SLOT_IMPORTING);
			CHECK(store_table(&b, 25)->count == 0);
			break;
		case 4:
			CHECK(c.i == 5 && c.taken == 0);
			CHECK(b.state[25] == SLOT_OWNED && b.epoch[25] == 104);
			break;
		}
	}
	CHECK(c.i == c.nslots);
	for (i = 0; i < 5; i++)
		CHECK(same_slot(&a, &b, list[i]));
	CHECK(store_count(&b, SLOT_OWNED) == 5);
	CHECK(store_keys(&b, SLOT_OWNED) == 165);

	/* One key a frame: 165 frames with keys, the empty slots riding on B's last. */
	store_free(&b);
	store_init(&b, 2);
	for (i = 0; i < 5; i++)
		store_set(&b, list[i], SLOT_IMPORTING, 1);
	memset(&c, 0, sizeof c);
	c.slots = list;
	c.nslots = 5;
	f = loaded = 0;
	while (c.i < c.nslots && f < 1000) {
		wbuf_reset(&w);
		CHECK(pack_frame(&a, &c, 1, &w) == 1);
		CHECK(load_frame(&b, &w, 7, &cause) == 1);
		f++;
		if (f == 160) {		/* B's last key: C and D complete with it */
			CHECK(b.state[22] == SLOT_OWNED && b.state[23] == SLOT_OWNED &&
			    b.state[24] == SLOT_OWNED && b.state[25] == SLOT_IMPORTING);
		} else if (f == 159)
			CHECK(b.state[22] == SLOT_IMPORTING && b.state[23] == SLOT_IMPORTING);
	}
	CHECK(f == 165);
	for (i = 0; i < 5; i++)
		CHECK(same_slot(&a, &b, list[i]) && b.state[list[i]] == SLOT_OWNED);
	free(cause);
	wbuf_free(&w);
	store_free(&a);
	store_free(&b);
}

/* Slots that are all empty: one frame with no keys completes them all. */
static void
test_empty_slots(void)
{
	static const uint16_t list[] = { 0, 1, 8000, 16383 };
	struct ps_store a, b;
	struct ps_store_cursor c;
	struct ps_wbuf w;
	char slots[256], counts[256], done[256], *cause = NULL;
	size_t i;

	store_init(&a, 4);
	store_init(&b, 4);
	for (i = 0; i < 4; i++)
		store_set(&b, list[i], SLOT_IMPORTING, 1);
	memset(&c, 0, sizeof c);
	c.slots = list;
	c.nslots = 4;
	wbuf_init(&w);
	CHECK(pack_frame(&a, &c, 1, &w) == 0);
	CHECK(c.i == 4);
	frame_lists(&w, slots, counts, done, sizeof slots);
	CHECK_STR(slots, "0,1,8000,16383");
	CHECK_STR(counts, "0,0,0,0");
	CHECK_STR(done, "0,1,8000,16383");
	CHECK(load_frame(&b, &w, 3, &cause) == 0);
	CHECK(cause == NULL);
	CHECK(store_count(&b, SLOT_OWNED) == 4 && store_count(&b, SLOT_IMPORTING) == 0);
	CHECK(b.state[16383] == SLOT_OWNED && b.epoch[16383] == 3);

	/* An empty list: an empty frame, nothing done. */
	memset(&c, 0, sizeof c);
	c.slots = list;
	wbuf_reset(&w);
	CHECK(pack_frame(&a, &c, 10, &w) == 0);
	frame_lists(&w, slots, counts, done, sizeof slots);
	CHECK_STR(slots, "");
	CHECK_STR(done, "");
	CHECK(load_frame(&b, &w, 4, &cause) == 0);
	CHECK(store_count(&b, SLOT_OWNED) == 4);
	free(cause);
	wbuf_free(&w);
	store_free(&a);
	store_free(&b);
}

/*
 * Frames built one after another in the same buffer (as a server's output buffer): the
 * room store_pack reserves keeps its pointers good however full the buffer already is.
 */
static void
test_shared_buffer(void)
{
	static uint64_t keys[MAXKEYS];
	static const uint16_t list[] = { 500, 501, 502, 503 };
	struct ps_store a, b;
	struct ps_store_cursor c;
	struct ps_wbuf w;
	size_t offs[64], nf = 0, off, i;
	char *cause = NULL;
	int64_t got = 0;

	store_init(&a, 5);
	store_init(&b, 5);
	for (i = 0; i < 4; i++) {
		slot_keys(list[i], keys, 60 + i);
		fill(&a, list[i], keys, 60 + i);
		store_set(&b, list[i], SLOT_IMPORTING, 1);
	}
	memset(&c, 0, sizeof c);
	c.slots = list;
	c.nslots = 4;
	wbuf_init(&w);
	while (c.i < c.nslots && nf < 64) {
		offs[nf++] = w.len;
		pack_frame(&a, &c, 17, &w);
	}
	CHECK(nf == (60 + 61 + 62 + 63 + 16) / 17);
	for (i = 0; i < nf; i++) {
		off = offs[i];
		CHECK(off + 4 + frame_len(&w, off) == (i + 1 < nf ? offs[i + 1] : w.len));
		got += load_at(&b, &w, off, 2, &cause);
	}
	CHECK(got == 60 + 61 + 62 + 63);
	CHECK(cause == NULL);
	for (i = 0; i < 4; i++)
		CHECK(same_slot(&a, &b, list[i]) && b.state[list[i]] == SLOT_OWNED);
	wbuf_free(&w);
	store_free(&a);
	store_free(&b);
}

/* A hand-made frame: the five bins as given, after a width argument. */
static void
raw_frame(struct ps_wbuf *w, const void *slots, size_t ls, const void *counts, size_t lc,
    const void *keys, size_t lk, const void *vals, size_t lv, const void *done, size_t ld)
{
	struct ps_hdr h = msg_hdr(PS_MSG_SLOT_DATA, 1, 7, 3);

	wbuf_reset(w);
	msg_begin(w, &h, 6);
	msg_put_uint(w, 2);
	msg_put_bin(w, slots, ls);
	msg_put_bin(w, counts, lc);
	msg_put_bin(w, keys, lk);
	msg_put_bin(w, vals, lv);
	msg_put_bin(w, done, ld);
	msg_end(w);
}

static void
put16(unsigned char *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = v >> 24;
}

/* The state of store b, to see that a refused frame stored nothing. */
struct snap {
	uint32_t	owned, importing;
	uint64_t	keys_imp, keys_owned;
	uint8_t		state[PS_NSLOTS];
};

static void
snap_take(const struct ps_store *st, struct snap *s)
{
	s->owned = store_count(st, SLOT_OWNED);
	s->importing = store_count(st, SLOT_IMPORTING);
	s->keys_imp = store_keys(st, SLOT_IMPORTING);
	s->keys_owned = store_keys(st, SLOT_OWNED);
	memcpy(s->state, st->state, sizeof s->state);
}

static int
snap_same(const struct ps_store *st, const struct snap *s)
{
	struct snap now;

	snap_take(st, &now);
	return now.owned == s->owned && now.importing == s->importing &&
	    now.keys_imp == s->keys_imp && now.keys_owned == s->keys_owned &&
	    memcmp(now.state, s->state, sizeof now.state) == 0;
}

/* Load w into b, expecting a refusal with a cause that contains want, and no change. */
#define REFUSED(b, w, want) do {						\
	struct snap before_;							\
	char *cause_ = NULL;							\
									\
	snap_take((b), &before_);						\
	CHECK(load_frame((b), (w), 50, &cause_) == -1);				\
	CHECK_CONTAINS(cause_, (want));						\
	CHECK(snap_same((b), &before_));					\
	free(cause_);								\
} while (0)

/*
 * Refusals: each checked before anything is stored. b imports slots 30 and 31 (which
 * already hold 3 keys of an earlier frame) and owns 32; 33 is absent. A good frame for
 * 30 and 31 is made first, then spoilt one way at a time.
 */
static void
test_refuse(void)
{
	static uint64_t k30[MAXKEYS], k31[MAXKEYS], k32[4];
	unsigned char slots[8], counts[16], keys[8 * 12], vals[8 * 13], done[8];
	struct ps_store a, b, b3;
	struct ps_store_cursor c;
	struct ps_wbuf w;
	char *cause = NULL, want[128];
	size_t i;
	int64_t r;

	store_init(&b, 2);
	slot_keys(30, k30, 10);
	slot_keys(31, k31, 5);
	slot_keys(32, k32, 1);
	store_set(&b, 30, SLOT_IMPORTING, 1);
	store_set(&b, 31, SLOT_IMPORTING, 1);
	store_set(&b, 32, SLOT_OWNED, 1);
	fill(&b, 30, k30 + 7, 3);

	/* slots [30, 31], counts [7, 5], 12 keys, done [30, 31] */
	put16(slots, 30);
	put16(slots + 2, 31);
	put32(counts, 7);
	put32(counts + 4, 5);
	for (i = 0; i < 7; i++)
		store_u64(keys + 8 * i, k30[i]);
	for (i = 0; i < 5; i++)
		store_u64(keys + 8 * (7 + i), k31[i]);
	for (i = 0; i < sizeof vals; i++)
		vals[i] = (unsigned char)(i * 7);
	put16(done, 30);
	put16(done + 2, 31);
	wbuf_init(&w);

	/* a slot of the list that is not IMPORTING here: owned, absent, beyond the map */
	put16(slots + 2, 32);
	store_u64(keys + 8 * 7, k32[0]);
	put32(counts + 4, 1);
	raw_frame(&w, slots, 4, counts, 8, keys, 64, vals, 64, done, 2);
	REFUSED(&b, &w, "slot data: slot 32 is not being imported here");
	put16(slots + 2, 33);
	put32(counts + 4, 0);
	raw_frame(&w, slots, 4, counts, 8, keys, 56, vals, 56, done, 2);
	REFUSED(&b, &w, "slot data: slot 33 is not being imported here");
	put16(slots + 2, 65535);
	raw_frame(&w, slots, 4, counts, 8, keys, 56, vals, 56, done, 2);
	REFUSED(&b, &w, "slot data: slot 65535 is not being imported here");
	put16(slots + 2, 31);
	put32(counts + 4, 5);
	for (i = 0; i < 5; i++)
		store_u64(keys + 8 * (7 + i), k31[i]);

	/* a completed slot that is not IMPORTING: its keys in 30 are not stored either */
	put16(done + 2, 32);
	raw_frame(&w, slots, 4, counts, 8, keys, 96, vals, 96, done, 4);
	REFUSED(&b, &w, "slot data: slot 32 is not being imported here");
	put16(done + 2, 16384);
	raw_frame(&w, slots, 4, counts, 8, keys, 96, vals, 96, done, 4);
	REFUSED(&b, &w, "slot data: slot 16384 is not being imported here");
	put16(done + 2, 31);

	/* a key not in its slot: the last key of 31 is one of 30's, the first of 30 is 31's */
	store_u64(keys + 8 * 11, k30[8]);
	raw_frame(&w, slots, 4, counts, 8, keys, 96, vals, 96, done, 4);
	snprintf(want, sizeof want, "slot data: key %llu is not in slot 31",
	    (unsigned long long)k30[8]);
	REFUSED(&b, &w, want);
	store_u64(keys + 8 * 11, k31[4]);
	store_u64(keys, k31[4]);
	raw_frame(&w, slots, 4, counts, 8, keys, 96, vals, 96, done, 4);
	snprintf(want, sizeof want, "slot data: key %llu is not in slot 30",
	    (unsigned long long)k31[4]);
	REFUSED(&b, &w, want);
	store_u64(keys, k30[0]);
	/* counts that put a boundary in the wrong place: 8 and 4 */
	put32(counts, 8);
	put32(counts + 4, 4);
	raw_frame(&w, slots, 4, counts, 8, keys, 96, vals, 96, done, 4);
	snprintf(want, sizeof want, "slot data: key %llu is not in slot 30",
	    (unsigned long long)k31[0]);
	REFUSED(&b, &w, want);
	put32(counts, 7);
	put32(counts + 4, 5);

	/* sizes that do not agree */
	raw_frame(&w, slots, 3, counts, 6, keys, 96, vals, 96, done, 4);	/* odd slots */
	REFUSED(&b, &w, "slot data: array sizes do not agree");
	raw_frame(&w, slots, 4, counts, 8, keys, 96, vals, 96, done, 3);	/* odd done */
	REFUSED(&b, &w, "slot data: array sizes do not agree");
	raw_frame(&w, slots, 4, counts, 4, keys, 96, vals, 96, done, 4);	/* few counts */
	REFUSED(&b, &w, "slot data: array sizes do not agree");
	raw_frame(&w, slots, 2, counts, 8, keys, 96, vals, 96, done, 4);	/* few slots */
	REFUSED(&b, &w, "slot data: array sizes do not agree");
	raw_frame(&w, slots, 4, counts, 8, keys, 95, vals, 96, done, 4);	/* keys % 8 */
	REFUSED(&b, &w, "slot data: array sizes do not agree");
	raw_frame(&w, slots, 4, counts, 8, keys, 88, vals, 88, done, 4);	/* 11 keys */
	REFUSED(&b, &w, "slot data: 11 keys and 88 bytes of state for counts adding to "
	    "12 (width 2)");
	raw_frame(&w, slots, 4, counts, 8, keys, 96, vals, 88, done, 4);	/* state short */
	REFUSED(&b, &w, "slot data: 12 keys and 88 bytes of state for counts adding to "
	    "12 (width 2)");
	raw_frame(&w, slots, 4, counts, 8, keys, 96, vals, 97, done, 4);	/* state long */
	REFUSED(&b, &w, "slot data: 12 keys and 97 bytes of state for counts adding to 12");
	put32(counts + 4, 0xffffffff);			/* a count near overflow */
	raw_frame(&w, slots, 4, counts, 8, keys, 96, vals, 96, done, 4);
	REFUSED(&b, &w, "for counts adding to 4294967302");
	put32(counts + 4, 5);

	/* The good frame loads: 7 + 5 keys, the 3 earlier keys of 30 kept beside them. */
	raw_frame(&w, slots, 4, counts, 8, keys, 96, vals, 96, done, 4);
	r = load_frame(&b, &w, 60, &cause);
	CHECK(r == 12);
	CHECK(cause == NULL);
	CHECK(store_table(&b, 30)->count == 10 && store_table(&b, 31)->count == 5);
	CHECK(b.state[30] == SLOT_OWNED && b.state[31] == SLOT_OWNED && b.epoch[31] == 60);
	CHECK(memcmp(table_find(store_table(&b, 31), k31[4]), vals + 8 * 11, 8) == 0);
	/* loading it again: the slots are OWNED now */
	REFUSED(&b, &w, "slot data: slot 30 is not being imported here");
	store_free(&b);

	/* Width mismatch: a width-2 store's slots into a width-3 store. */
	store_init(&a, 2);
	store_init(&b3, 3);
	fill(&a, 30, k30, 10);
	store_set(&b3, 30, SLOT_IMPORTING, 1);
	memset(&c, 0, sizeof c);
	c.slots = (const uint16_t[]){ 30 };
	c.nslots = 1;
	wbuf_reset(&w);
	CHECK(pack_frame(&a, &c, 100, &w) == 10);
	REFUSED(&b3, &w, "slot data: 10 keys and 80 bytes of state for counts adding to "
	    "10 (width 3)");
	CHECK(b3.state[30] == SLOT_IMPORTING && store_table(&b3, 30)->count == 0);
	store_free(&a);
	store_free(&b3);
	wbuf_free(&w);
}

int
main(void)
{
	RUN(test_init);
	RUN(test_counts);
	RUN(test_round_trip);
	RUN(test_span);
	RUN(test_empty_slots);
	RUN(test_shared_buffer);
	RUN(test_refuse);
	return UNIT_DONE();
}
