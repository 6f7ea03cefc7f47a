/* Checkpoint files (lib/ckpt.c): slot files from a store and back, the checksums
 * against flipped bytes, truncation at every length, headers that lie, the MANIFEST
 * and its refusals, and a whole checkpoint checked against its MANIFEST. */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ps/ckpt.h"
#include "ps/hash.h"
#include "ps/map.h"
#include "ps/store.h"
#include "ps/xmalloc.h"
#include "unit.h"

#define MAXKEYS	300

static char tmpdir[] = "/tmp/test_ckpt.XXXXXX";
static int npath;

/* A fresh path in the temporary folder. */
static char *
tmp_path(const char *what)
{
	char *p;

	xasprintf(&p, "%s/%d-%s", tmpdir, npath++, what);
	return p;
}

static char *
tmp_dir(const char *what)
{
	char *p = tmp_path(what);

	if (mkdir(p, 0755) != 0)
		perror(p);
	return p;
}

/* splitmix64's finalizer: distinct i give distinct keys. */
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

/* Give slot n keys with states of any 32 bits (NaNs, infinities, -0): compared as bytes. */
static void
fill(struct ps_store *st, uint32_t slot, const uint64_t *keys, size_t n)
{
	size_t i;
	uint32_t j, bits;
	float *v;

	for (i = 0; i < n; i++) {
		v = table_insert(store_table(st, slot), keys[i], NULL);
		for (j = 0; j < st->width; j++) {
			bits = (uint32_t)test_key(keys[i] * 31 + j + 1);
			memcpy(&v[j], &bits, 4);
		}
	}
}

static void
fill_n(struct ps_store *st, uint32_t slot, size_t n)
{
	static uint64_t keys[MAXKEYS];

	slot_keys(slot, keys, n);
	fill(st, slot, keys, n);
}

/* n keys spread over the slots as they fall, leaving out slots that are multiples of
 * skip (if not 0). */
static void
fill_spread(struct ps_store *st, size_t n, uint32_t skip)
{
	uint64_t i, key;
	uint32_t s;

	for (i = 1; i <= n; i++) {
		key = test_key(i + 1000000);
		s = map_slot(key);
		if (skip == 0 || s % skip != 0)
			fill(st, s, &key, 1);
	}
}

/* The same keys with the same state bytes in slot of a and b? */
static int
same_slot(struct ps_store *a, struct ps_store *b, uint32_t slot)
{
	struct ps_table *ta = store_table(a, slot), *tb = store_table(b, slot);
	size_t it = 0;
	uint64_t key;
	float *va, *vb;

	if (a->width != b->width || ta->count != tb->count)
		return 0;
	while (table_next(ta, &it, &key, &va))
		if ((vb = table_find(tb, key)) == NULL ||
		    memcmp(va, vb, 4 * (size_t)a->width) != 0)
			return 0;
	return 1;
}

static int
same_store(struct ps_store *a, struct ps_store *b)
{
	uint32_t s;

	for (s = 0; s < PS_NSLOTS; s++)
		if (!same_slot(a, b, s))
			return 0;
	return 1;
}

static int
same_file(const struct ps_ckpt_file *a, const struct ps_ckpt_file *b)
{
	return strcmp(a->name, b->name) == 0 && a->first == b->first &&
	    a->last == b->last && a->nslots == b->nslots && a->keys == b->keys &&
	    a->bytes == b->bytes && a->sum == b->sum;
}

static int
same_header(const struct ps_ckpt_header *a, const struct ps_ckpt_header *b)
{
	return a->version == b->version && a->optim.kind == b->optim.kind &&
	    a->optim.dim == b->optim.dim && a->optim.lr == b->optim.lr &&
	    a->optim.eps == b->optim.eps && a->optim.alpha == b->optim.alpha &&
	    a->optim.beta == b->optim.beta && a->optim.l1 == b->optim.l1 &&
	    a->optim.l2 == b->optim.l2 && a->width == b->width &&
	    a->epoch == b->epoch && a->node == b->node && a->first == b->first &&
	    a->last == b->last && a->nslots == b->nslots && a->keys == b->keys &&
	    a->bytes == b->bytes;
}

/* Nothing held and nothing owned: what a refused load must leave. */
static int
store_clean(const struct ps_store *st)
{
	uint32_t s;

	for (s = 0; s < PS_NSLOTS; s++)
		if (st->state[s] != SLOT_ABSENT || st->tables[s].count != 0)
			return 0;
	return 1;
}

static struct ps_optim
optim(enum ps_optim_kind kind, uint32_t dim)
{
	struct ps_optim o;

	memset(&o, 0, sizeof o);
	o.kind = kind;
	o.dim = dim;
	o.lr = 0.05f;
	o.eps = 1e-8f;
	o.alpha = 0.1f;
	o.beta = 1.0f;
	o.l1 = 0.25f;
	o.l2 = -0.0f;
	return o;
}

static unsigned char *
slurp(const char *path, size_t *len)
{
	unsigned char *buf = NULL;
	FILE *f;
	long n;

	*len = 0;
	if ((f = fopen(path, "rb")) == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = xmalloc((size_t)n + 1);
	*len = fread(buf, 1, (size_t)n, f);
	fclose(f);
	return buf;
}

static void
spit(const char *path, const void *buf, size_t len)
{
	FILE *f;

	if ((f = fopen(path, "wb")) == NULL) {
		perror(path);
		return;
	}
	if (len > 0 && fwrite(buf, 1, len, f) != len)
		perror(path);
	fclose(f);
}

static uint64_t
get64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void
put64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static void
put32(unsigned char *p, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

/* Make a hand-edited slot file whole again: its header's and its trailer's XXH3-64
 * (hash_name is XXH3-64 of the bytes). */
static void
reseal(unsigned char *buf, size_t len)
{
	uint32_t hdrlen = (uint32_t)(buf[12] | buf[13] << 8 | buf[14] << 16 |
	    (uint32_t)buf[15] << 24);

	put64(buf + hdrlen - 8, hash_name((const char *)buf, hdrlen - 8));
	put64(buf + len - 8, hash_name((const char *)buf, len - 8));
}

/* Verify and load path, both refused with a cause containing want; the store stays clean. */
#define REFUSED(path, width, want) do {						\
	struct ps_store st_;							\
	char *cause_ = NULL;							\
									\
	CHECK(ckpt_verify((path), NULL, NULL, &cause_) == -1);			\
	CHECK_CONTAINS(cause_, (want));						\
	CHECK_CONTAINS(cause_, (path));						\
	free(cause_);								\
	cause_ = NULL;								\
	store_init(&st_, (width));						\
	CHECK(ckpt_load(&st_, (path), NULL, 1, NULL, &cause_) == -1);		\
	CHECK_CONTAINS(cause_, (want));						\
	CHECK(store_clean(&st_));						\
	store_free(&st_);							\
	free(cause_);								\
} while (0)

/* Read path through a pipe (no size known: the streaming checks alone). */
static int
verify_pipe(const unsigned char *buf, size_t len, char **cause)
{
	struct ps_ckpt_reader *r;
	int fds[2], rv;
	uint16_t slot;
	uint32_t count;

	if (pipe(fds) != 0 || len > 65536)
		return -2;
	if (len > 0 && write(fds[1], buf, len) != (ssize_t)len)
		return -2;
	close(fds[1]);
	if ((r = ckpt_open_fd(fds[0], "pipe", cause)) == NULL)
		return -1;
	while ((rv = ckpt_next_slot(r, &slot, &count, cause)) == 1)
		;
	ckpt_close(r);
	return rv;
}

/* A small store: width 2 (adagrad, dim 1), slots 5 (2 keys), 6 (empty), 4000 (3). */
static void
small_store(struct ps_store *st)
{
	store_init(st, 2);
	fill_n(st, 5, 2);
	fill_n(st, 4000, 3);
	store_set(st, 5, SLOT_OWNED, 1);
	store_set(st, 6, SLOT_OWNED, 1);
	store_set(st, 4000, SLOT_OWNED, 1);
}

static char *
small_file(void)
{
	struct ps_store st;
	struct ps_optim o = optim(PS_OPTIM_ADAGRAD, 1);
	uint16_t slots[PS_NSLOTS];
	char *path = tmp_path("small.slots"), *cause = NULL;
	size_t n;

	small_store(&st);
	n = ckpt_slots(&st, SLOT_OWNED, slots);
	CHECK(ckpt_write(path, &st, &o, 3, 1, slots, n, NULL, &cause) == 0);
	CHECK(cause == NULL);
	store_free(&st);
	return path;
}

static void
test_names(void)
{
	CHECK_STR(ckpt_layout(PS_OPTIM_SGD), "w");
	CHECK_STR(ckpt_layout(PS_OPTIM_SUM), "w");
	CHECK_STR(ckpt_layout(PS_OPTIM_ADAGRAD), "w g2");
	CHECK_STR(ckpt_layout(PS_OPTIM_FTRL), "z n");
	CHECK(ckpt_name_ok("server-3.slots"));
	CHECK(ckpt_name_ok("2025-01-02T03-04-05Z"));
	CHECK(ckpt_name_ok("a_b.C9"));
	CHECK(!ckpt_name_ok(""));
	CHECK(!ckpt_name_ok("."));
	CHECK(!ckpt_name_ok(".."));
	CHECK(!ckpt_name_ok(".hidden"));
	CHECK(!ckpt_name_ok("a/b"));
	CHECK(!ckpt_name_ok("a b"));
	CHECK(!ckpt_name_ok("a:b"));
	CHECK(ckpt_name_ok("123456789012345678901234567890123456789012345678901234567890123"));
	CHECK(!ckpt_name_ok("1234567890123456789012345678901234567890123456789012345678901234"));
}

/*
 * Store -> file -> store, for sum dim 1 (width 1), adagrad and ftrl dim 2 (width 4):
 * the owned slots go, empty ones included; other slots stay behind. The file's size,
 * its header and what verify and peek say agree with what the writer said.
 */
static void
test_round_trip(void)
{
	static const struct { enum ps_optim_kind kind; uint32_t dim; } cases[] = {
		{ PS_OPTIM_SUM, 1 }, { PS_OPTIM_ADAGRAD, 2 }, { PS_OPTIM_FTRL, 2 },
	};
	static const uint16_t owned[] = { 0, 3, 100, 777, 4242, 9000, 16383 };
	struct ps_store a, b;
	struct ps_optim o;
	struct ps_ckpt_file f, fv, fp;
	struct ps_ckpt_header h, hv, hl;
	struct ps_ckpt_reader *r;
	uint16_t slots[PS_NSLOTS], slot, prev;
	uint32_t count, s0 = map_slot(0), smax = map_slot(UINT64_MAX);
	uint64_t total, key, nread;
	const float *v;
	char *path, *cause = NULL;
	size_t i, n, z;
	struct stat sb;
	int ok, rv;

	for (z = 0; z < sizeof cases / sizeof cases[0]; z++) {
		o = optim(cases[z].kind, cases[z].dim);
		store_init(&a, optim_width(&o));
		for (i = 0; i < sizeof owned / sizeof owned[0]; i++) {
			if (owned[i] != 4242)		/* 4242 stays empty */
				fill_n(&a, owned[i], 5 + 10 * i);
			store_set(&a, owned[i], SLOT_OWNED, 2);
		}
		fill(&a, s0, (const uint64_t[]){ 0 }, 1);
		fill(&a, smax, (const uint64_t[]){ UINT64_MAX }, 1);
		store_set(&a, s0, SLOT_OWNED, 2);
		store_set(&a, smax, SLOT_OWNED, 2);
		fill_n(&a, 5000, 9);			/* not owned: not saved */
		store_set(&a, 5001, SLOT_MIGRATING, 2);
		fill_n(&a, 5001, 4);
		n = ckpt_slots(&a, SLOT_OWNED, slots);
		CHECK(n == store_count(&a, SLOT_OWNED));
		total = store_keys(&a, SLOT_OWNED);

		path = tmp_path("rt.slots");
		CHECK(ckpt_write(path, &a, &o, 77, 3, slots, n, &f, &cause) == 0);
		CHECK(cause == NULL);
		CHECK(strchr(f.name, '/') == NULL && strstr(f.name, "-rt.slots") != NULL);
		CHECK(strlen(path) > strlen(f.name) &&
		    strcmp(path + strlen(path) - strlen(f.name), f.name) == 0);
		CHECK(f.first == 0 && f.last == 16383 && f.nslots == n && f.keys == total);
		CHECK(stat(path, &sb) == 0 && (uint64_t)sb.st_size == f.bytes);
		CHECK(f.bytes == PS_CKPT_HDRLEN + 8 * n + total * (8 + 4 * a.width) + 8);

		CHECK(ckpt_verify(path, &hv, &fv, &cause) == 0);
		CHECK(cause == NULL);
		CHECK(same_file(&f, &fv));
		CHECK(ckpt_peek(path, &h, &fp, &cause) == 0);
		CHECK(same_file(&f, &fp));
		CHECK(h.version == PS_CKPT_VERSION && h.width == a.width);
		CHECK(h.optim.kind == o.kind && h.optim.dim == o.dim);
		CHECK(h.optim.lr == o.lr && h.optim.eps == o.eps && h.optim.alpha == o.alpha &&
		    h.optim.beta == o.beta && h.optim.l1 == o.l1 && h.optim.l2 == o.l2);
		CHECK(h.epoch == 77 && h.node == 3 && h.keys == total && h.nslots == n);
		CHECK(h.bytes == f.bytes);
		CHECK(same_header(&h, &hv));

		/* The streaming reader: slots ascending, the counts of the store. */
		CHECK((r = ckpt_open(path, &cause)) != NULL);
		prev = 0;
		ok = 1;
		nread = 0;
		i = 0;
		while ((rv = ckpt_next_slot(r, &slot, &count, &cause)) == 1) {
			ok &= (i == 0 || slot > prev) && slot == slots[i] &&
			    count == store_table(&a, slot)->count;
			prev = slot;
			i++;
			while (ckpt_next_entry(r, &key, &v, &cause) == 1) {
				float *want = table_find(store_table(&a, slot), key);

				ok &= want != NULL && memcmp(want, v, 4 * a.width) == 0;
				nread++;
			}
		}
		CHECK(rv == 0 && ok && i == n && nread == total);
		CHECK(ckpt_sum(r) == f.sum);
		CHECK(ckpt_next_slot(r, &slot, &count, &cause) == 0);	/* stays done */
		ckpt_close(r);

		/* Into a fresh store: the same owned slots, OWNED at the given epoch. */
		store_init(&b, a.width);
		CHECK(ckpt_load(&b, path, &o, 12, &hl, &cause) == (int64_t)total);
		CHECK(cause == NULL);
		CHECK(same_header(&h, &hl));
		ok = 1;
		for (i = 0; i < n; i++)
			ok &= same_slot(&a, &b, slots[i]) && b.state[slots[i]] == SLOT_OWNED &&
			    b.epoch[slots[i]] == 12;
		CHECK(ok);
		CHECK(b.state[4242] == SLOT_OWNED && store_table(&b, 4242)->count == 0);
		CHECK(store_count(&b, SLOT_OWNED) == n);
		CHECK(store_keys(&b, SLOT_OWNED) == total);
		CHECK(table_find(store_table(&b, s0), 0) != NULL);
		CHECK(table_find(store_table(&b, smax), UINT64_MAX) != NULL);
		CHECK(b.state[5000] == SLOT_ABSENT && store_table(&b, 5000)->count == 0);
		CHECK(b.state[5001] == SLOT_ABSENT && store_table(&b, 5001)->count == 0);

		/* Loading it again: its slots are here now. */
		CHECK(ckpt_load(&b, path, NULL, 13, NULL, &cause) == -1);
		CHECK_CONTAINS(cause, "slot 0 is already here");
		free(cause);
		cause = NULL;
		CHECK(store_keys(&b, SLOT_OWNED) == total && b.epoch[0] == 12);

		/* The same store written again gives the same bytes. */
		{
			char *again = tmp_path("rt2.slots");
			unsigned char *x, *y;
			size_t lx, ly;

			CHECK(ckpt_write(again, &a, &o, 77, 3, slots, n, &fv, &cause) == 0);
			x = slurp(path, &lx);
			y = slurp(again, &ly);
			CHECK(lx == ly && memcmp(x, y, lx) == 0 && fv.sum == f.sum);
			free(x);
			free(y);
			free(again);
		}
		store_free(&a);
		store_free(&b);
		free(path);
	}
}

/* Every slot, in three files of contiguous ranges, back into one store; a file with
 * no slots at all; a block wider than the writer's buffer. */
static void
test_many_slots(void)
{
	struct ps_store a, b;
	struct ps_optim o = optim(PS_OPTIM_FTRL, 3), wide = optim(PS_OPTIM_SUM, 20000);
	struct ps_ckpt_file f;
	struct ps_ckpt_header h;
	uint16_t *slots = xcalloc(PS_NSLOTS, sizeof *slots);
	char *path, *cause = NULL;
	uint32_t s, part;
	uint64_t loaded = 0;
	int64_t got;

	store_init(&a, optim_width(&o));
	store_init(&b, optim_width(&o));
	fill_spread(&a, 40000, 3);
	for (s = 0; s < PS_NSLOTS; s++) {
		store_set(&a, s, SLOT_OWNED, 1);
		slots[s] = (uint16_t)s;
	}
	for (part = 0; part < 3; part++) {
		uint32_t lo = part * 6000, hi = part == 2 ? PS_NSLOTS : lo + 6000;

		path = tmp_path("many.slots");
		CHECK(ckpt_write(path, &a, &o, 1, part, slots + lo, hi - lo, &f, &cause) == 0);
		CHECK(f.first == lo && f.last == hi - 1 && f.nslots == hi - lo);
		CHECK((got = ckpt_load(&b, path, &o, 4, NULL, &cause)) >= 0);
		CHECK(cause == NULL);
		loaded += (uint64_t)got;
		free(path);
	}
	CHECK(loaded == store_keys(&a, SLOT_OWNED));
	CHECK(store_count(&b, SLOT_OWNED) == PS_NSLOTS);
	CHECK(same_store(&a, &b));
	store_free(&a);
	store_free(&b);

	/* No slots: a header and a trailer. */
	store_init(&a, 1);
	path = tmp_path("none.slots");
	o = optim(PS_OPTIM_SGD, 1);
	CHECK(ckpt_write(path, &a, &o, 1, 9, slots, 0, &f, &cause) == 0);
	CHECK(f.nslots == 0 && f.keys == 0 && f.first == 0 && f.last == 0);
	CHECK(f.bytes == PS_CKPT_HDRLEN + 8);
	CHECK(ckpt_verify(path, &h, NULL, &cause) == 0);
	CHECK(h.nslots == 0 && h.node == 9);
	CHECK(ckpt_load(&a, path, NULL, 1, NULL, &cause) == 0);
	CHECK(store_clean(&a));
	store_free(&a);
	free(path);

	/* 20000 floats a key: 80008 bytes an entry, more than the buffers hold. */
	store_init(&a, 20000);
	store_init(&b, 20000);
	fill_n(&a, 77, 3);
	fill_n(&a, 78, 1);
	slots[0] = 77;
	slots[1] = 78;
	path = tmp_path("wide.slots");
	CHECK(ckpt_write(path, &a, &wide, 1, 1, slots, 2, &f, &cause) == 0);
	CHECK(f.bytes == PS_CKPT_HDRLEN + 16 + 4 * 80008 + 8);
	CHECK(ckpt_verify(path, NULL, NULL, &cause) == 0);
	CHECK(ckpt_load(&b, path, &wide, 1, NULL, &cause) == 4);
	CHECK(cause == NULL);
	CHECK(same_slot(&a, &b, 77) && same_slot(&a, &b, 78));
	store_free(&a);
	store_free(&b);
	free(path);
	free(slots);
}

/* What the writer refuses, and a failed write leaves no file behind. */
static void
test_write_refusals(void)
{
	struct ps_store st;
	struct ps_optim o = optim(PS_OPTIM_FTRL, 1);
	uint16_t slots[3] = { 5, 4, 6 };
	char *path = tmp_path("w.slots"), *cause = NULL;
	struct stat sb;
	int fd;

	store_init(&st, 2);
	fill_n(&st, 4, 3);
	CHECK(ckpt_write(path, &st, &o, 1, 1, slots, 3, NULL, &cause) == -1);
	CHECK_CONTAINS(cause, "slot list not ascending at slot 4");
	CHECK(stat(path, &sb) == -1 && errno == ENOENT);
	free(cause);
	cause = NULL;
	slots[1] = 5;
	CHECK(ckpt_write(path, &st, &o, 1, 1, slots, 3, NULL, &cause) == -1);
	CHECK_CONTAINS(cause, "slot list not ascending at slot 5");
	free(cause);
	cause = NULL;
	slots[0] = 4;
	o.dim = 2;
	CHECK(ckpt_write(path, &st, &o, 1, 1, slots, 3, NULL, &cause) == -1);
	CHECK_CONTAINS(cause, "the store's width 2 is not that of ftrl with dim 2");
	free(cause);
	cause = NULL;
	o.dim = 1;

	/* Never over an existing file. */
	spit(path, "keep", 4);
	CHECK(ckpt_write(path, &st, &o, 1, 1, slots, 3, NULL, &cause) == -1);
	CHECK_CONTAINS(cause, "File exists");
	CHECK(stat(path, &sb) == 0 && sb.st_size == 4);
	free(cause);
	cause = NULL;

	/* A write that fails: named with the file and the byte. */
	fd = open(path, O_RDONLY);
	CHECK(ckpt_write_fd(fd, "ro.slots", &st, &o, 1, 1, slots, 3, NULL, &cause) == -1);
	CHECK_CONTAINS(cause, "ro.slots: write at byte 0: ");
	close(fd);
	free(cause);
	store_free(&st);
	free(path);
}

/* Written from a fork()ed child, as a server will, while the parent changes its copy. */
static void
test_fork(void)
{
	struct ps_store a, b;
	struct ps_optim o = optim(PS_OPTIM_ADAGRAD, 1);
	uint16_t slots[PS_NSLOTS];
	char *path = tmp_path("fork.slots"), *cause = NULL;
	size_t n;
	pid_t pid;
	int status = -1;

	store_init(&a, 2);
	fill_n(&a, 10, 50);
	fill_n(&a, 11, 60);
	store_set(&a, 10, SLOT_OWNED, 1);
	store_set(&a, 11, SLOT_OWNED, 1);
	n = ckpt_slots(&a, SLOT_OWNED, slots);
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) == 0)
		_exit(ckpt_write(path, &a, &o, 1, 1, slots, n, NULL, &cause) == 0 ? 0 : 1);
	CHECK(pid > 0);
	fill_n(&a, 12, 5);			/* the parent goes on */
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	store_init(&b, 2);
	CHECK(ckpt_load(&b, path, &o, 1, NULL, &cause) == 110);
	CHECK(same_slot(&a, &b, 10) && same_slot(&a, &b, 11));
	CHECK(store_table(&b, 12)->count == 0);
	store_free(&a);
	store_free(&b);
	free(path);
}

/* One flipped bit anywhere is caught by verify and by load, which leaves nothing. */
static void
test_flips(void)
{
	char *good = small_file(), *bad = tmp_path("flip.slots"), *cause = NULL;
	unsigned char *buf;
	size_t len, i, caught = 0, by_sum = 0;
	struct ps_store st;
	int bit;

	buf = slurp(good, &len);
	CHECK(len == PS_CKPT_HDRLEN + 3 * 8 + 5 * 16 + 8);
	store_init(&st, 2);
	for (i = 0; i < len; i++) {
		for (bit = 0; bit < 8; bit += 7) {
			buf[i] ^= (unsigned char)(1 << bit);
			spit(bad, buf, len);
			if (ckpt_verify(bad, NULL, NULL, &cause) == -1 &&
			    strstr(cause, bad) != NULL)
				caught++;
			if (cause != NULL && strstr(cause, "checksum mismatch") != NULL)
				by_sum++;
			free(cause);
			cause = NULL;
			/* one store for all: a refused load leaves it clean */
			if (ckpt_load(&st, bad, NULL, 1, NULL, &cause) == -1 &&
			    store_clean(&st))
				caught++;
			free(cause);
			cause = NULL;
			buf[i] ^= (unsigned char)(1 << bit);
		}
	}
	store_free(&st);
	CHECK(caught == 4 * len);
	CHECK(by_sum > len);	/* most: every byte of every state, the sums themselves */

	/* Which check catches what. */
	buf[0] ^= 1;
	spit(bad, buf, len);
	REFUSED(bad, 2, "not a checkpoint slot file (bad magic)");
	buf[0] ^= 1;
	buf[9] ^= 1;
	spit(bad, buf, len);
	REFUSED(bad, 2, "format version 257, this program reads version 1");
	buf[9] ^= 1;
	buf[16] ^= 1;					/* dim */
	spit(bad, buf, len);
	REFUSED(bad, 2, "header checksum mismatch (header says 0x");
	buf[16] ^= 1;
	buf[PS_CKPT_HDRLEN + 8 + 8 + 3] ^= 0x40;	/* a float of slot 5's first key */
	spit(bad, buf, len);
	REFUSED(bad, 2, "checksum mismatch (file says 0x");
	buf[PS_CKPT_HDRLEN + 8 + 8 + 3] ^= 0x40;
	buf[len - 1] ^= 0x80;				/* the trailer */
	spit(bad, buf, len);
	REFUSED(bad, 2, "checksum mismatch (file says 0x");
	buf[len - 1] ^= 0x80;
	buf[PS_CKPT_HDRLEN + 8] ^= 1;			/* key of slot 5: no longer in it */
	spit(bad, buf, len);
	REFUSED(bad, 2, ": key ");
	REFUSED(bad, 2, " is not in slot 5");
	buf[PS_CKPT_HDRLEN + 8] ^= 1;
	spit(bad, buf, len);
	CHECK(ckpt_verify(bad, NULL, NULL, &cause) == 0);
	free(buf);
	free(good);
	free(bad);
}

/* Cut short at every length, from a file and from a pipe: refused, at the right byte. */
static void
test_truncation(void)
{
	char *good = small_file(), *bad = tmp_path("trunc.slots"), *cause = NULL;
	char want[64];
	unsigned char *buf;
	size_t len, cut;
	int ok_file = 1, ok_pipe = 1, ok_load = 1, r;
	struct ps_store st;

	buf = slurp(good, &len);
	store_init(&st, 2);
	for (cut = 0; cut < len; cut++) {
		spit(bad, buf, cut);
		snprintf(want, sizeof want, "truncated at byte %zu", cut);
		if (ckpt_verify(bad, NULL, NULL, &cause) != -1 || strstr(cause, want) == NULL)
			ok_file = 0;
		free(cause);
		cause = NULL;
		if ((r = verify_pipe(buf, cut, &cause)) != -1 ||
		    strstr(cause, want) == NULL) {
			fprintf(stderr, "pipe, %zu bytes: %d %s\n", cut, r, cause);
			ok_pipe = 0;
		}
		free(cause);
		cause = NULL;
		if (ckpt_load(&st, bad, NULL, 1, NULL, &cause) != -1 || !store_clean(&st))
			ok_load = 0;
		free(cause);
		cause = NULL;
	}
	store_free(&st);
	CHECK(ok_file);
	CHECK(ok_pipe);
	CHECK(ok_load);
	CHECK(verify_pipe(buf, len, &cause) == 0);

	/* And one byte too many. */
	buf = xreallocarray(buf, len + 1, 1);
	buf[len] = 0;
	spit(bad, buf, len + 1);
	REFUSED(bad, 2, "241 bytes where the header implies 240");
	CHECK(verify_pipe(buf, len + 1, &cause) == -1);
	CHECK_CONTAINS(cause, "pipe: bytes after the trailer at byte 240");
	free(cause);
	cause = NULL;

	/* Not a checkpoint at all. */
	spit(bad, "hello, world\n", 13);
	REFUSED(bad, 2, "not a checkpoint slot file (bad magic)");
	spit(bad, "", 0);
	REFUSED(bad, 2, "truncated at byte 0");
	CHECK(ckpt_verify(tmpdir, NULL, NULL, &cause) == -1);	/* a folder */
	CHECK(cause != NULL);
	free(cause);
	cause = NULL;
	CHECK(ckpt_open("/nonexistent/x.slots", &cause) == NULL);
	CHECK_CONTAINS(cause, "/nonexistent/x.slots: No such file or directory");
	free(cause);
	free(buf);
	free(good);
	free(bad);
}

/*
 * Headers that disagree with the content, made whole again (both checksums right), so
 * that the structural checks, not the checksums, must catch them.
 */
static void
test_header_lies(void)
{
	char *good = small_file(), *bad = tmp_path("lie.slots"), *cause = NULL;
	unsigned char *buf, *big;
	size_t len, at;
	struct ps_store st;
	struct ps_ckpt_header h;
	int64_t got;

	buf = slurp(good, &len);
	CHECK(get64(buf + 104) == 5);			/* keys */

	/* Keys + 1 with a key's worth of bytes more before the trailer: sizes agree. */
	big = xcalloc(1, len + 16);
	memcpy(big, buf, len - 8);
	put64(big + 104, 6);
	reseal(big, len + 16);
	spit(bad, big, len + 16);
	REFUSED(bad, 2, "the slots hold 5 keys, the header says 6");
	/* Keys - 1: the last slot holds more than the header leaves. */
	memcpy(big, buf, len);
	put64(big + 104, 4);
	reseal(big, len - 16);
	spit(bad, big, len - 16);
	REFUSED(bad, 2, "slot 4000 holds 3 keys, more than the header's 2 leave");
	/* Sizes that disagree with the header. */
	memcpy(big, buf, len);
	put64(big + 104, 6);
	reseal(big, len);
	spit(bad, big, len);
	REFUSED(bad, 2, "truncated at byte 240 (the header implies 256 bytes)");
	CHECK(verify_pipe(big, len, &cause) == -1);
	CHECK_CONTAINS(cause, "pipe: the slots hold 5 keys, the header says 6");
	free(cause);
	cause = NULL;

	/* Slot records against the header's range and each other. */
	memcpy(big, buf, len);
	big[92] = 4;				/* first slot 4: the file starts at 5 */
	reseal(big, len);
	spit(bad, big, len);
	REFUSED(bad, 2, "byte 128: slot 5 out of order (after -1; the header says 4-4000)");
	memcpy(big, buf, len);
	at = PS_CKPT_HDRLEN + 8 + 2 * 16;		/* slot 6's record */
	big[at] = 5;
	reseal(big, len);
	spit(bad, big, len);
	REFUSED(bad, 2, "byte 168: slot 5 out of order (after 5;");
	memcpy(big, buf, len);
	big[94] = 0xa1;					/* last 4001 */
	reseal(big, len);
	spit(bad, big, len);
	REFUSED(bad, 2, "the last slot is 4000, the header says 4001");
	memcpy(big, buf, len);
	big[at + 2] = 1;				/* the record's reserved field */
	reseal(big, len);
	spit(bad, big, len);
	REFUSED(bad, 2, "byte 168: reserved field not zero");
	memcpy(big, buf, len);
	put32(big + 96, 2);				/* 2 slots in the header, 3 records */
	put64(big + 104, 5);
	reseal(big, len);
	spit(bad, big, len);
	REFUSED(bad, 2, "240 bytes where the header implies 232");
	memcpy(big, buf, len);
	put32(big + 96, 5000);				/* more slots than 5-4000 holds */
	reseal(big, len);
	spit(bad, big, len);
	REFUSED(bad, 2, "5000 slots in 5-4000");

	/* The header itself. */
	memcpy(big, buf, len);
	memcpy(big + 24, "lion\0\0\0\0", 8);
	reseal(big, len);
	spit(bad, big, len);
	REFUSED(bad, 2, "unknown optimizer 'lion'");
	memcpy(big, buf, len);
	memcpy(big + 40, "z n\0", 4);
	reseal(big, len);
	spit(bad, big, len);
	REFUSED(bad, 2, "state layout 'z n' is not that of adagrad ('w g2')");
	memcpy(big, buf, len);
	put32(big + 20, 3);
	reseal(big, len);
	spit(bad, big, len);
	REFUSED(bad, 2, "width 3 does not fit adagrad with dim 1");
	memcpy(big, buf, len);
	big[100] = 1;
	reseal(big, len);
	spit(bad, big, len);
	REFUSED(bad, 2, "reserved header fields are not zero");
	memcpy(big, buf, len);
	put32(big + 12, 100);
	spit(bad, big, len);
	REFUSED(bad, 2, "bad header length 100");

	/* The same key twice in a slot: verify and load refuse it. */
	memcpy(big, buf, len);
	memcpy(big + PS_CKPT_HDRLEN + 8 + 16, big + PS_CKPT_HDRLEN + 8, 8);
	reseal(big, len);
	spit(bad, big, len);
	REFUSED(bad, 2, " is twice in slot 5");

	/* A longer header (a later minor revision) is read: the extra bytes skipped. */
	free(big);
	big = xcalloc(1, len + 8);
	memcpy(big, buf, 120);
	put32(big + 12, 136);
	memcpy(big + 136, buf + 128, len - 128);
	reseal(big, len + 8);
	spit(bad, big, len + 8);
	CHECK(ckpt_verify(bad, &h, NULL, &cause) == 0);
	CHECK(cause == NULL);
	CHECK(h.keys == 5 && h.bytes == len + 8);
	store_init(&st, 2);
	CHECK((got = ckpt_load(&st, bad, NULL, 1, NULL, &cause)) == 5);
	CHECK(store_count(&st, SLOT_OWNED) == 3);
	store_free(&st);

	/* Loading into the wrong store, or for the wrong job. */
	{
		struct ps_optim o = optim(PS_OPTIM_FTRL, 1);

		store_init(&st, 1);
		CHECK(ckpt_load(&st, good, NULL, 1, NULL, &cause) == -1);
		CHECK_CONTAINS(cause, "small.slots: width 2 (adagrad, dim 1), the store's is 1");
		free(cause);
		cause = NULL;
		store_free(&st);
		store_init(&st, 2);
		CHECK(ckpt_load(&st, good, &o, 1, NULL, &cause) == -1);
		CHECK_CONTAINS(cause, "saved with adagrad, dim 1; this is ftrl, dim 1");
		CHECK(store_clean(&st));
		free(cause);
		cause = NULL;
		/* slot 4000 already here: slots 5 and 6, read before it, are undone */
		fill_n(&st, 4000, 1);
		CHECK(ckpt_load(&st, good, NULL, 1, NULL, &cause) == -1);
		CHECK_CONTAINS(cause, "slot 4000 is already here");
		CHECK(store_table(&st, 5)->count == 0 && st.state[5] == SLOT_ABSENT);
		CHECK(st.state[6] == SLOT_ABSENT && store_table(&st, 4000)->count == 1);
		free(cause);
		store_free(&st);
	}
	free(big);
	free(buf);
	free(good);
	free(bad);
}

static int
files_same(const struct ps_manifest *a, const struct ps_manifest *b)
{
	size_t i;

	for (i = 0; i < a->nfiles; i++)
		if (!same_file(&a->files[i], &b->files[i]))
			return 0;
	return 1;
}

static struct ps_manifest
sample_manifest(void)
{
	struct ps_manifest m;
	struct ps_ckpt_file f;

	memset(&m, 0, sizeof m);
	snprintf(m.name, sizeof m.name, "nightly-3");
	m.created = 1735787045;			/* 2025-01-02T03:04:05Z */
	m.epoch = 42;
	m.kind = PS_OPTIM_FTRL;
	m.dim = 1;
	m.width = 2;
	memset(&f, 0, sizeof f);
	snprintf(f.name, sizeof f.name, "server-1.slots");
	f.first = 0;
	f.last = 8191;
	f.nslots = 8192;
	f.keys = 1000;
	f.bytes = 128 + 8 * 8192 + 1000 * 16 + 8;
	f.sum = 0x0123456789abcdefULL;
	ckpt_manifest_add(&m, &f);
	snprintf(f.name, sizeof f.name, "server-2.slots");
	f.first = 8192;
	f.last = 16383;
	f.keys = 0;
	f.bytes = 128 + 8 * 8192 + 8;
	f.sum = 0xfedcba9876543210ULL;
	ckpt_manifest_add(&m, &f);
	return m;
}

static int
same_manifest(const struct ps_manifest *a, const struct ps_manifest *b)
{
	return strcmp(a->name, b->name) == 0 && a->created == b->created &&
	    a->epoch == b->epoch && a->kind == b->kind && a->dim == b->dim &&
	    a->width == b->width && a->keys == b->keys && a->nfiles == b->nfiles &&
	    files_same(a, b);
}

static void
test_manifest_round_trip(void)
{
	struct ps_manifest m = sample_manifest(), p;
	char *text, *dir = tmp_dir("mdir"), *path, *cause = NULL, *again;
	size_t len, alen;
	struct stat sb;

	text = ckpt_manifest_format(&m, &len);
	CHECK(len == strlen(text));
	CHECK(strncmp(text, "format: 1\nname: nightly-3\ncreated: 2025-01-02T03:04:05Z\n"
	    "epoch: 42\noptimizer: ftrl\nlayout: z n\ndim: 1\nwidth: 2\nkeys: 1000\n"
	    "files: 2\nfile: server-1.slots 0-8191 8192 1000 81672 0x0123456789abcdef\n"
	    "file: server-2.slots 8192-16383 8192 0 65672 0xfedcba9876543210\n"
	    "checksum: 0x", strlen("format: 1\nname: nightly-3\ncreated: "
	    "2025-01-02T03:04:05Z\nepoch: 42\noptimizer: ftrl\nlayout: z n\ndim: 1\n"
	    "width: 2\nkeys: 1000\nfiles: 2\nfile: server-1.slots 0-8191 8192 1000 81672 "
	    "0x0123456789abcdef\nfile: server-2.slots 8192-16383 8192 0 65672 "
	    "0xfedcba9876543210\nchecksum: 0x")) == 0);
	CHECK(m.keys == 1000);
	CHECK(ckpt_manifest_parse(&p, text, len, "M", &cause) == 0);
	CHECK(cause == NULL);
	CHECK(same_manifest(&m, &p));
	again = ckpt_manifest_format(&p, &alen);
	CHECK(alen == len && memcmp(again, text, len) == 0);
	ckpt_manifest_free(&p);
	free(again);

	/* None yet: ENOENT, for "incomplete". */
	CHECK(ckpt_manifest_read(dir, &p, &cause) == -1 && errno == ENOENT);
	CHECK_CONTAINS(cause, "/MANIFEST: No such file or directory");
	free(cause);
	cause = NULL;
	CHECK(ckpt_manifest_write(dir, &m, &cause) == 0);
	CHECK(cause == NULL);
	xasprintf(&path, "%s/MANIFEST.tmp", dir);
	CHECK(stat(path, &sb) == -1 && errno == ENOENT);
	free(path);
	xasprintf(&path, "%s/MANIFEST", dir);
	again = (char *)slurp(path, &alen);
	CHECK(alen == len && memcmp(again, text, len) == 0);
	CHECK(ckpt_manifest_read(dir, &p, &cause) == 0);
	CHECK(same_manifest(&m, &p));
	ckpt_manifest_free(&p);

	/* A broken one read: EINVAL, and the line. */
	spit(path, "format: 1\nbogus\n", 16);
	CHECK(ckpt_manifest_read(dir, &p, &cause) == -1 && errno == EINVAL);
	CHECK_CONTAINS(cause, "/MANIFEST:2: not 'key: value'");
	free(cause);
	cause = NULL;
	CHECK(ckpt_manifest_write("/nonexistent", &m, &cause) == -1);
	CHECK_CONTAINS(cause, "/nonexistent/MANIFEST.tmp: No such file or directory");
	free(cause);
	cause = NULL;

	/* What would not read back is not written; the good MANIFEST stays. */
	spit(path, text, len);
	m.keys++;
	CHECK(ckpt_manifest_write(dir, &m, &cause) == -1);
	CHECK_CONTAINS(cause, "/MANIFEST:9: keys: 1001, but the files hold 1000");
	free(cause);
	cause = NULL;
	m.keys--;
	m.name[0] = '\0';
	CHECK(ckpt_manifest_write(dir, &m, &cause) == -1);
	CHECK_CONTAINS(cause, "/MANIFEST:2: name: '' is not a checkpoint name");
	free(cause);
	cause = NULL;
	CHECK(ckpt_manifest_read(dir, &p, &cause) == 0);
	CHECK(strcmp(p.name, "nightly-3") == 0);
	ckpt_manifest_free(&p);
	free(again);
	again = (char *)slurp(path, &alen);
	CHECK(alen == len && memcmp(again, text, len) == 0);
	xasprintf(&cause, "%s/MANIFEST.tmp", dir);
	CHECK(stat(cause, &sb) == -1 && errno == ENOENT);
	free(cause);
	free(path);
	free(again);
	free(text);
	free(dir);
	ckpt_manifest_free(&m);
}

/* The text with its checksum line made right again. */
static char *
manifest_seal(const char *body)
{
	char *t;

	xasprintf(&t, "%schecksum: 0x%016" PRIx64 "\n", body,
	    hash_name(body, strlen(body)));
	return t;
}

/* Replace the first line starting with prefix by line ("" drops it), reseal. */
static char *
manifest_edit(const char *good, const char *prefix, const char *line)
{
	char *body = xstrdup(good), *at, *eol, *out, *t;

	*strstr(body, "checksum: ") = '\0';
	if ((at = strstr(body, prefix)) == NULL || (at != body && at[-1] != '\n')) {
		fprintf(stderr, "no line %s\n", prefix);
		free(body);
		return xstrdup("");
	}
	eol = strchr(at, '\n') + 1;
	*at = '\0';
	xasprintf(&t, "%s%s%s", body, line, eol);
	out = manifest_seal(t);
	free(t);
	free(body);
	return out;
}

/* Refused, with a cause that starts with want. */
#define MREFUSED(text, want) do {						\
	struct ps_manifest m_;							\
	char *cause_ = NULL;							\
	const char *t_ = (text), *w_ = (want);					\
									\
	CHECK(ckpt_manifest_parse(&m_, t_, strlen(t_), "M", &cause_) == -1);	\
	CHECK(cause_ != NULL && strncmp(cause_, w_, strlen(w_)) == 0);		\
	if (cause_ != NULL && strncmp(cause_, w_, strlen(w_)) != 0)		\
		fprintf(stderr, "  got:  %s\n  want: %s\n", cause_, w_);	\
	CHECK(m_.files == NULL);						\
	free(cause_);								\
} while (0)

#define EDIT(prefix, line, want) do {						\
	char *e_ = manifest_edit(good, (prefix), (line));			\
									\
	MREFUSED(e_, (want));							\
	free(e_);								\
} while (0)

static void
test_manifest_malformed(void)
{
	struct ps_manifest m = sample_manifest(), p;
	char *good = ckpt_manifest_format(&m, NULL), *t, *cause = NULL;
	size_t len = strlen(good), cut;
	int ok = 1;

	CHECK(ckpt_manifest_parse(&p, good, len, "M", &cause) == 0);
	ckpt_manifest_free(&p);

	MREFUSED("", "M: no 'format' line");
	MREFUSED("name: x\n", "M:1: not a checkpoint MANIFEST (no 'format:' first)");
	MREFUSED("hello, world\n", "M:1: not a checkpoint MANIFEST (no 'format:' first)");
	MREFUSED("format:1\n", "M:1: not a checkpoint MANIFEST (no 'format:' first)");
	MREFUSED("format: 1\n", "M: no 'name' line");
	EDIT("format:", "format: 2\n", "M:1: format version 2, this program reads version 1");
	EDIT("format:", "format: one\n", "M:1: format: 'one' is not a number");
	EDIT("name:", "name: ../etc\n", "M:2: name: '../etc' is not a checkpoint name");
	EDIT("name:", "colour: blue\n", "M:2: unknown key 'colour'");
	EDIT("name:", "name:x\n", "M:2: not 'key: value'");
	EDIT("name:", "", "M: no 'name' line");
	EDIT("created:", "created: 2025-02-30T00:00:00Z\n",
	    "M:3: created: '2025-02-30T00:00:00Z' is not a time as YYYY-MM-DDTHH:MM:SSZ");
	EDIT("created:", "created: 2025-01-02 03:04:05\n",
	    "M:3: created: '2025-01-02 03:04:05' is not a time as YYYY-MM-DDTHH:MM:SSZ");
	EDIT("epoch:", "epoch: -1\n", "M:4: epoch: '-1' is not a number");
	EDIT("epoch:", "epoch: 18446744073709551616\n",
	    "M:4: epoch: '18446744073709551616' is not a number");
	EDIT("optimizer:", "optimizer: lion\n", "M:5: optimizer: unknown 'lion'");
	EDIT("layout:", "layout: w\n", "M:6: layout: 'w' is not that of ftrl ('z n')");
	EDIT("dim:", "dim: 0\n", "M:7: dim: '0' is not a number in 1..65536");
	EDIT("dim:", "dim: 07\n", "M:7: dim: '07' is not a number in 1..65536");
	EDIT("dim:", "dim: 1 \n", "M:7: dim: '1 ' is not a number in 1..65536");
	EDIT("dim:", "dim: 2\n", "M:8: width: 2 does not fit ftrl with dim 2");
	EDIT("width:", "width: 2\ndim: 1\n", "M:9: 'dim' again (first on line 7)");
	EDIT("keys:", "keys: 999\n", "M:9: keys: 999, but the files hold 1000");
	EDIT("files:", "files: 3\n", "M:10: files: 3, but 2 'file:' lines");
	EDIT("file: server-2", "file: server-1.slots 8192-16383 8192 0 65672 0x0\n",
	    "M:12: file: expected NAME FIRST-LAST SLOTS KEYS BYTES 0xCHECKSUM");
	EDIT("file: server-2",
	    "file: server-1.slots 8192-16383 8192 0 65672 0xfedcba9876543210\n",
	    "M:12: file: server-1.slots again");
	EDIT("file: server-2", "file: server-2.slots 8192-16383 8192 0 65672\n",
	    "M:12: file: expected NAME FIRST-LAST SLOTS KEYS BYTES 0xCHECKSUM");
	EDIT("file: server-2",
	    "file: server-2.slots 8192-16384 8192 0 65672 0xfedcba9876543210\n",
	    "M:12: file: expected NAME FIRST-LAST SLOTS KEYS BYTES 0xCHECKSUM");
	EDIT("file: server-2",
	    "file: ../x 8192-16383 8192 0 65672 0xfedcba9876543210\n",
	    "M:12: file: expected NAME FIRST-LAST SLOTS KEYS BYTES 0xCHECKSUM");
	EDIT("file: server-2",
	    "file: server-2.slots 8192-16383 8192 0 65673 0xfedcba9876543210\n",
	    "M:12: file: server-2.slots: 65673 bytes for 0 keys of width 2 in 8192 slots");
	EDIT("file: server-2",
	    "file: server-2.slots 8192-8200 8192 0 65672 0xfedcba9876543210\n",
	    "M:12: file: 8192 slots in 8192-8200");
	EDIT("file: server-2",
	    "file: server-2.slots 9000-8192 1 0 144 0xfedcba9876543210\n",
	    "M:12: file: 1 slots in 9000-8192");
	EDIT("file: server-2",
	    "file: server-2.slots  8192-16383 8192 0 65672 0xfedcba9876543210\n",
	    "M:12: file: expected NAME FIRST-LAST SLOTS KEYS BYTES 0xCHECKSUM");
	EDIT("width:", "width: 2\nfile: a 0-0 1 0 144 0x0000000000000000\n",
	    "M:11: files: 2, but 3 'file:' lines");
	EDIT("optimizer:", "file: a 0-0 1 0 144 0x0000000000000000\noptimizer: ftrl\n",
	    "M:5: file: before 'width'");

	/* The checksum line: a byte changed above it, a bad value, lines after it. */
	t = xstrdup(good);
	*strstr(t, "dim: 1") = 'D';
	MREFUSED(t, "M:7: unknown key 'Dim'");
	*strstr(t, "Dim: 1") = 'd';
	strstr(t, "epoch: 42")[8] = '3';
	MREFUSED(t, "M:13: checksum mismatch (file says ");
	free(t);
	xasprintf(&t, "%sname: again\n", good);
	MREFUSED(t, "M:14: a line after the checksum");
	free(t);
	t = xstrdup(good);
	memcpy(strstr(t, "checksum: 0x") + 12, "zz", 2);
	MREFUSED(t, "M:13: checksum: '0xzz");
	free(t);
	t = xstrdup(good);
	t[5] = '\0';
	{
		struct ps_manifest m2;

		CHECK(ckpt_manifest_parse(&m2, t, len, "M", &cause) == -1);
		CHECK_STR(cause, "M:1: a NUL byte");
		free(cause);
		cause = NULL;
	}
	free(t);

	/* Cut at every length: refused, never crashing. */
	for (cut = 0; cut < len; cut++) {
		if (ckpt_manifest_parse(&p, good, cut, "M", &cause) != -1)
			ok = 0;
		else if (cut > 0 && good[cut - 1] == '\n' ?
		    strcmp(cause, "M: no 'checksum' line (truncated?)") != 0 &&
		    strstr(cause, "M: no '") == NULL :
		    strstr(cause, "no newline at the end (truncated?)") == NULL &&
		    cut > 0) {
			fprintf(stderr, "cut %zu: %s\n", cut, cause);
			ok = 0;
		}
		free(cause);
		cause = NULL;
	}
	CHECK(ok);
	CHECK(ckpt_manifest_parse(&p, good, len - 1, "M", &cause) == -1);
	CHECK_STR(cause, "M:13: no newline at the end (truncated?)");
	free(cause);
	cause = NULL;
	t = manifest_edit(good, "file: server-2", "");	/* a file line dropped, resealed */
	MREFUSED(t, "M:10: files: 2, but 1 'file:' lines");
	free(t);
	free(good);
	ckpt_manifest_free(&m);
}

/* A whole checkpoint: files written, the MANIFEST last, checked against each other. */
static void
test_check(void)
{
	struct ps_store a;
	struct ps_optim o = optim(PS_OPTIM_SGD, 2);
	struct ps_manifest m, r;
	struct ps_ckpt_file f;
	uint16_t *slots = xcalloc(PS_NSLOTS, sizeof *slots);
	char *dir = tmp_dir("ck"), *path, *cause = NULL, *other = tmp_dir("ck2");
	unsigned char *buf;
	size_t len;
	uint32_t s;
	int i;

	store_init(&a, 2);
	fill_spread(&a, 20000, 0);
	for (s = 0; s < PS_NSLOTS; s++)
		slots[s] = (uint16_t)s;
	memset(&m, 0, sizeof m);
	snprintf(m.name, sizeof m.name, "ck");
	m.created = 1735787045;
	m.kind = o.kind;
	m.dim = 2;
	m.width = 2;
	for (i = 0; i < 3; i++) {
		uint32_t lo = (uint32_t)i * 5000, hi = i == 2 ? PS_NSLOTS : lo + 5000;

		xasprintf(&path, "%s/server-%d.slots", dir, i + 1);
		CHECK(ckpt_write(path, &a, &o, 5, (uint32_t)i + 1, slots + lo, hi - lo, &f,
		    &cause) == 0);
		ckpt_manifest_add(&m, &f);
		free(path);
	}
	CHECK(ckpt_sync_dir(dir, &cause) == 0);
	CHECK(ckpt_manifest_write(dir, &m, &cause) == 0);
	CHECK(ckpt_manifest_read(dir, &r, &cause) == 0);
	CHECK(ckpt_check(dir, &r, &cause) == 0);
	CHECK(cause == NULL);
	CHECK(r.keys == store_keys(&a, SLOT_ABSENT));
	CHECK(same_manifest(&m, &r));
	ckpt_manifest_free(&m);

	/* The MANIFEST and a file disagree. */
	r.files[1].sum ^= 1;
	CHECK(ckpt_check(dir, &r, &cause) == -1);
	CHECK_CONTAINS(cause, "/server-2.slots: checksum 0x");
	CHECK_CONTAINS(cause, ", the MANIFEST says 0x");
	free(cause);
	cause = NULL;
	r.files[1].sum ^= 1;
	r.files[1].keys++;
	CHECK(ckpt_check(dir, &r, &cause) == -1);
	CHECK_CONTAINS(cause, "/server-2.slots: 5000 slots in 5000-9999, ");
	free(cause);
	cause = NULL;
	r.files[1].keys--;
	r.dim = 1;
	CHECK(ckpt_check(dir, &r, &cause) == -1);
	CHECK_CONTAINS(cause, "server-1.slots: sgd, dim 2, width 2; the MANIFEST says "
	    "sgd, dim 1, width 2");
	free(cause);
	cause = NULL;
	r.dim = 2;

	/* Slots in no file, and in two. */
	r.nfiles = 2;
	CHECK(ckpt_check(dir, &r, &cause) == -1);
	CHECK_CONTAINS(cause, ": slots 10000-16383 are in no file");
	free(cause);
	cause = NULL;
	r.files[1] = r.files[0];
	CHECK(ckpt_check(dir, &r, &cause) == -1);
	CHECK_CONTAINS(cause, "/server-1.slots: slot 0 is also in server-1.slots");
	free(cause);
	cause = NULL;
	ckpt_manifest_free(&r);

	/* A file spoilt after the save: the one broken file is named. */
	xasprintf(&path, "%s/server-3.slots", dir);
	buf = slurp(path, &len);
	buf[len / 2] ^= 4;
	spit(path, buf, len);
	CHECK(ckpt_manifest_read(dir, &r, &cause) == 0);
	CHECK(ckpt_check(dir, &r, &cause) == -1);
	CHECK_CONTAINS(cause, "/server-3.slots: ");
	free(cause);
	cause = NULL;
	unlink(path);
	CHECK(ckpt_check(dir, &r, &cause) == -1);
	CHECK_CONTAINS(cause, "/server-3.slots: No such file or directory");
	free(cause);
	cause = NULL;
	ckpt_manifest_free(&r);
	free(buf);
	free(path);

	/* A lone slot missing. */
	memset(&m, 0, sizeof m);
	m.kind = o.kind;
	m.dim = m.width = 2;
	xasprintf(&path, "%s/all.slots", other);
	CHECK(ckpt_write(path, &a, &o, 5, 1, slots + 7, PS_NSLOTS - 7, &f, &cause) == 0);
	ckpt_manifest_add(&m, &f);
	free(path);
	xasprintf(&path, "%s/few.slots", other);
	CHECK(ckpt_write(path, &a, &o, 5, 1, slots, 6, &f, &cause) == 0);
	ckpt_manifest_add(&m, &f);
	CHECK(ckpt_check(other, &m, &cause) == -1);
	CHECK_CONTAINS(cause, ": slot 6 is in no file");
	free(cause);
	ckpt_manifest_free(&m);
	CHECK(ckpt_sync_dir("/nonexistent", &cause) == -1);
	CHECK_CONTAINS(cause, "/nonexistent: No such file or directory");
	free(cause);
	store_free(&a);
	free(path);
	free(slots);
	free(dir);
	free(other);
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	RUN(test_names);
	RUN(test_round_trip);
	RUN(test_many_slots);
	RUN(test_write_refusals);
	RUN(test_fork);
	RUN(test_flips);
	RUN(test_truncation);
	RUN(test_header_lies);
	RUN(test_manifest_round_trip);
	RUN(test_manifest_malformed);
	RUN(test_check);
	if (nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		perror(tmpdir);
	return UNIT_DONE();
}
