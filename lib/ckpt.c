/*
 * Checkpoint files (ps-ckpt(5)).
 *
 * A slot file is a header, the slot records with their entries, and a trailer: the
 * XXH3-64 of every byte before it. Everything is little-endian and read byte by byte,
 * whatever the host. The header carries its own XXH3-64 as well, so that its counts
 * can be trusted before the rest is read: a reader checks the file's size against
 * them at once, and a listing needs only the header and the trailer.
 *
 * The writer runs in a child fork()ed from a server, like redis' rdbSaveBackground():
 * it walks the store's tables (the child's copy-on-write view of them) and writes
 * through a buffer on its stack with write(2), hashing each buffer as it goes out;
 * nothing is allocated unless it fails. The reader is the writer's mirror, a buffer
 * refilled with read(2), hashed as it is consumed; it checks each record as it comes,
 * so a truncated or corrupt file is refused without reading past its end, and the
 * checksum is known when the last record has been read.
 *
 * The MANIFEST is text, written last: to MANIFEST.tmp, fsync, rename, fsync of the
 * folder. Its last line is a checksum of the lines before it.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "ps/ckpt.h"
#include "ps/file.h"
#include "ps/le.h"
#include "ps/map.h"
#include "ps/sort.h"
#include "ps/xmalloc.h"

/* "\211PSCKPT\n": the high bit catches 7-bit channels, the newline text-mode ones. */
static const unsigned char ckpt_magic[8] = { 0x89, 'P', 'S', 'C', 'K', 'P', 'T', '\n' };

/* Offsets in a version 1 header. */
#define H_MAGIC		0
#define H_VERSION	8
#define H_HDRLEN	12
#define H_DIM		16
#define H_WIDTH		20
#define H_OPTIM		24		/* 16 bytes, NUL-padded */
#define H_LAYOUT	40		/* 16 bytes, NUL-padded */
#define H_LR		56		/* float32 hyperparameters */
#define H_EPS		60
#define H_ALPHA		64
#define H_BETA		68
#define H_L1		72
#define H_L2		76
#define H_EPOCH		80
#define H_NODE		88
#define H_FIRST		92
#define H_LAST		94
#define H_NSLOTS	96
#define H_RESERVED1	100		/* uint32, zero */
#define H_KEYS		104
#define H_RESERVED2	112		/* uint64, zero */
#define H_SUM		120		/* at hdrlen - 8: XXH3-64 of the bytes before */
#define H_NAMELEN	16

#define SLOTREC		8		/* slot u16, zero u16, count u32 */
#define TRAILER		8
#define BUFSZ		65536

#define MANIFEST_MAX	(16 << 20)

/*
 * The state layouts, by optimizer and, for sgd, its schedule (its other settings do
 * not change the state): the names of the groups of dim floats of a key's block, in
 * order. A header or MANIFEST names the layout; sgd's tells its schedule.
 */
static const struct {
	enum ps_optim_kind	 kind;
	int			 schedule;	/* sgd's; 0 for the others */
	const char		*layout;
	uint32_t		 groups;
} ckpt_layouts[] = {
	{ PS_OPTIM_SGD,		PS_SCHEDULE_CONSTANT,	"w",		1 },
	{ PS_OPTIM_SGD,		PS_SCHEDULE_INV_SQRT,	"w t",		2 },
	{ PS_OPTIM_ADAGRAD,	0,			"w g2",		2 },
	{ PS_OPTIM_FTRL,	0,			"z n",		2 },
	{ PS_OPTIM_SUM,		0,			"w",		1 },
	{ PS_OPTIM_ADAM,	0,			"w m v t",	4 },
};
#define NLAYOUTS	(sizeof ckpt_layouts / sizeof ckpt_layouts[0])

/* The first layout of a kind: sgd's with schedule constant. */
const char *
ckpt_layout(enum ps_optim_kind kind)
{
	size_t i;

	for (i = 0; i < NLAYOUTS; i++)
		if (ckpt_layouts[i].kind == kind)
			return ckpt_layouts[i].layout;
	return "?";
}

/* The layout of an optimizer with its settings: a row of ckpt_layouts, or -1. */
static int
ckpt_layout_row(const struct ps_optim *o)
{
	size_t i;

	for (i = 0; i < NLAYOUTS; i++)
		if (ckpt_layouts[i].kind == o->kind && (o->kind != PS_OPTIM_SGD ||
		    ckpt_layouts[i].schedule == o->schedule))
			return (int)i;
	return -1;
}

static const char *
ckpt_layout_of(const struct ps_optim *o)
{
	int i = ckpt_layout_row(o);

	return i < 0 ? "?" : ckpt_layouts[i].layout;
}

/* The row of kind with this layout's name (from a header or a MANIFEST), or -1. */
static int
ckpt_layout_named(enum ps_optim_kind kind, const char *layout)
{
	size_t i;

	for (i = 0; i < NLAYOUTS; i++)
		if (ckpt_layouts[i].kind == kind && strcmp(ckpt_layouts[i].layout,
		    layout) == 0)
			return (int)i;
	return -1;
}

/* The row of kind with groups groups (a MANIFEST's width / dim), or -1. */
static int
ckpt_layout_groups(enum ps_optim_kind kind, uint64_t groups)
{
	size_t i;

	for (i = 0; i < NLAYOUTS; i++)
		if (ckpt_layouts[i].kind == kind && ckpt_layouts[i].groups == groups)
			return (int)i;
	return -1;
}

/* The layouts of kind in words, for a refusal: "'w' or 'w t'". */
static void
ckpt_layouts_of(enum ps_optim_kind kind, char *buf, size_t len)
{
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < NLAYOUTS && n < len; i++)
		if (ckpt_layouts[i].kind == kind)
			n += (size_t)snprintf(buf + n, len - n, "%s'%s'", n > 0 ? " or " :
			    "", ckpt_layouts[i].layout);
}

int
ckpt_name_ok(const char *s)
{
	size_t i;

	if (s[0] == '\0' || s[0] == '.')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (i == PS_CKPT_NAMELEN - 1)
			return 0;
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' ||
		    s[i] == '-'))
			return 0;
	}
	return 1;
}

size_t
ckpt_slots(const struct ps_store *st, enum ps_slot_state state, uint16_t *slots)
{
	size_t n = 0;
	uint32_t s;

	for (s = 0; s < PS_NSLOTS; s++)
		if (st->state[s] == state)
			slots[n++] = (uint16_t)s;
	return n;
}

/* The last part of a path. */
static const char *
ckpt_base(const char *path)
{
	const char *p = strrchr(path, '/');

	return p == NULL ? path : p + 1;
}

/* The size of a file with these counts, or 0 if it would not fit in 64 bits. */
static uint64_t
ckpt_size(uint32_t hdrlen, uint32_t width, uint32_t nslots, uint64_t keys)
{
	uint64_t entries, n;

	if (__builtin_mul_overflow(keys, 8 + 4 * (uint64_t)width, &entries))
		return 0;
	n = (uint64_t)hdrlen + (uint64_t)SLOTREC * nslots + TRAILER;
	if (__builtin_add_overflow(n, entries, &n))
		return 0;
	return n;
}

/* Writing. */

struct ckpt_w {
	int		 fd;
	const char	*name;
	char		**cause;
	size_t		 len;
	uint64_t	 off;		/* bytes written before buf */
	XXH3_state_t	 xs;
	unsigned char	 buf[BUFSZ];
};

static int
w_flush(struct ckpt_w *w, int hash)
{
	size_t done = 0;
	ssize_t n;

	if (hash)
		XXH3_64bits_update(&w->xs, w->buf, w->len);
	while (done < w->len) {
		n = write(w->fd, w->buf + done, w->len - done);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(w->cause, "%s: write at byte %" PRIu64 ": %s", w->name,
			    w->off + done, strerror(errno));
			return -1;
		}
		done += (size_t)n;
	}
	w->off += w->len;
	w->len = 0;
	return 0;
}

/* Room for n (at most BUFSZ) more bytes; where they go. */
static unsigned char *
w_room(struct ckpt_w *w, size_t n)
{
	unsigned char *p;

	if (w->len + n > BUFSZ && w_flush(w, 1) != 0)
		return NULL;
	p = w->buf + w->len;
	w->len += n;
	return p;
}

static void
ckpt_header_bytes(unsigned char *h, const struct ps_optim *o, uint32_t width,
    uint64_t epoch, uint32_t node, uint16_t first, uint16_t last, uint32_t nslots,
    uint64_t keys)
{
	const char *name = optim_name(o->kind), *layout = ckpt_layout_of(o);

	memset(h, 0, PS_CKPT_HDRLEN);
	memcpy(h + H_MAGIC, ckpt_magic, sizeof ckpt_magic);
	put_u32(h + H_VERSION, PS_CKPT_VERSION);
	put_u32(h + H_HDRLEN, PS_CKPT_HDRLEN);
	put_u32(h + H_DIM, o->dim);
	put_u32(h + H_WIDTH, width);
	memcpy(h + H_OPTIM, name, strlen(name));
	memcpy(h + H_LAYOUT, layout, strlen(layout));
	put_f32(h + H_LR, o->lr);
	put_f32(h + H_EPS, o->eps);
	put_f32(h + H_ALPHA, o->alpha);
	put_f32(h + H_BETA, o->beta);
	put_f32(h + H_L1, o->l1);
	put_f32(h + H_L2, o->l2);
	put_u64(h + H_EPOCH, epoch);
	put_u32(h + H_NODE, node);
	put_u16(h + H_FIRST, first);
	put_u16(h + H_LAST, last);
	put_u32(h + H_NSLOTS, nslots);
	put_u64(h + H_KEYS, keys);
	put_u64(h + H_SUM, XXH3_64bits(h, H_SUM));
}

int
ckpt_write_fd(int fd, const char *name, const struct ps_store *st,
    const struct ps_optim *o, uint64_t epoch, uint32_t node, const uint16_t *slots,
    size_t n, struct ps_ckpt_file *f, char **cause)
{
	struct ckpt_w w;
	unsigned char *p, trailer[TRAILER];
	uint64_t keys = 0, key, sum;
	size_t i, it, count, bsz;
	uint32_t j, width = st->width;
	float *v;

	if (width != optim_width(o) || width == 0 || width > PS_CKPT_MAXWIDTH) {
		xasprintf(cause, "%s: the store's width %u is not that of %s with dim %u",
		    name, width, optim_name(o->kind), o->dim);
		return -1;
	}
	if (strlen(ckpt_base(name)) >= PS_CKPT_NAMELEN) {
		xasprintf(cause, "%s: file name too long", name);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (slots[i] >= PS_NSLOTS || (i > 0 && slots[i] <= slots[i - 1])) {
			xasprintf(cause, "%s: slot list not ascending at slot %u", name,
			    slots[i]);
			return -1;
		}
		keys += st->tables[slots[i]].count;
	}

	w.fd = fd;
	w.name = name;
	w.cause = cause;
	w.len = 0;
	w.off = 0;
	XXH3_64bits_reset(&w.xs);
	ckpt_header_bytes(w_room(&w, PS_CKPT_HDRLEN), o, width, epoch, node,
	    n > 0 ? slots[0] : 0, n > 0 ? slots[n - 1] : 0, (uint32_t)n, keys);

	bsz = 8 + 4 * (size_t)width;
	for (i = 0; i < n; i++) {
		count = st->tables[slots[i]].count;
		if ((p = w_room(&w, SLOTREC)) == NULL)
			return -1;
		put_u16(p, slots[i]);
		put_u16(p + 2, 0);
		put_u32(p + 4, (uint32_t)count);
		it = 0;
		while (store_next(st, slots[i], &it, &key, &v)) {
			if (bsz <= BUFSZ) {
				if ((p = w_room(&w, bsz)) == NULL)
					return -1;
				store_u64(p, key);
				for (j = 0; j < width; j++)
					put_f32(p + 8 + 4 * j, v[j]);
				continue;
			}
			/* A block larger than the buffer: a float at a time. */
			if ((p = w_room(&w, 8)) == NULL)
				return -1;
			store_u64(p, key);
			for (j = 0; j < width; j++) {
				if ((p = w_room(&w, 4)) == NULL)
					return -1;
				put_f32(p, v[j]);
			}
		}
	}
	if (w_flush(&w, 1) != 0)
		return -1;
	sum = XXH3_64bits_digest(&w.xs);
	put_u64(trailer, sum);
	memcpy(w.buf, trailer, TRAILER);
	w.len = TRAILER;
	if (w_flush(&w, 0) != 0)
		return -1;
	if (fsync(fd) != 0) {
		xasprintf(cause, "%s: fsync: %s", name, strerror(errno));
		return -1;
	}
	if (f != NULL) {
		memset(f, 0, sizeof *f);
		memcpy(f->name, ckpt_base(name), strlen(ckpt_base(name)));
		f->first = n > 0 ? slots[0] : 0;
		f->last = n > 0 ? slots[n - 1] : 0;
		f->nslots = (uint32_t)n;
		f->keys = keys;
		f->bytes = w.off;
		f->sum = sum;
	}
	return 0;
}

int
ckpt_write(const char *path, const struct ps_store *st, const struct ps_optim *o,
    uint64_t epoch, uint32_t node, const uint16_t *slots, size_t n,
    struct ps_ckpt_file *f, char **cause)
{
	int fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (ckpt_write_fd(fd, path, st, o, epoch, node, slots, n, f, cause) != 0) {
		close(fd);
		unlink(path);
		return -1;
	}
	if (close(fd) != 0) {
		xasprintf(cause, "%s: close: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

/* Reading. */

struct ps_ckpt_reader {
	int			 fd;
	char			*name;
	char			*error;		/* sticky, once something failed */
	struct ps_ckpt_header	 hdr;
	XXH3_state_t		*xs;
	unsigned char		*buf;
	size_t			 size;		/* of buf */
	size_t			 len;		/* bytes in buf */
	size_t			 pos;		/* consumed */
	size_t			 hpos;		/* hashed */
	uint64_t		 off;		/* file offset of buf[0] */
	size_t			 esize;		/* bytes an entry */
	float			*state;		/* the entry given out */
	uint32_t		 nread;		/* slot records read */
	uint16_t		 slot;		/* the last one's */
	uint32_t		 left;		/* its entries not yet read */
	uint64_t		 keys;		/* entries read or announced */
	int			 done;
	uint64_t		 sum;
};

static int
rd_fail(struct ps_ckpt_reader *r, char **cause, const char *fmt, ...)
    PS_PRINTF(3, 4);

static int
rd_fail(struct ps_ckpt_reader *r, char **cause, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	free(r->error);
	xasprintf(&r->error, "%s: %s", r->name, s);
	free(s);
	*cause = xstrdup(r->error);
	return -1;
}

/* Offset in the file of what comes next. */
static uint64_t
rd_at(const struct ps_ckpt_reader *r)
{
	return r->off + r->pos;
}

/*
 * At least n bytes in buf from pos on (n <= size), reading as needed; bytes consumed
 * before are hashed on the way out of the buffer. 0, or -1 at the end of the file
 * ("truncated at byte N") or on an error.
 */
static int
rd_fill(struct ps_ckpt_reader *r, size_t n, char **cause)
{
	ssize_t got;

	if (r->len - r->pos >= n)
		return 0;
	if (r->hpos < r->pos)
		XXH3_64bits_update(r->xs, r->buf + r->hpos, r->pos - r->hpos);
	if (r->pos > 0) {
		memmove(r->buf, r->buf + r->pos, r->len - r->pos);
		r->off += r->pos;
		r->len -= r->pos;
		r->pos = r->hpos = 0;
	}
	while (r->len < n) {
		got = read(r->fd, r->buf + r->len, r->size - r->len);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1)
			return rd_fail(r, cause, "read at byte %" PRIu64 ": %s",
			    r->off + r->len, strerror(errno));
		if (got == 0)
			return rd_fail(r, cause, "truncated at byte %" PRIu64,
			    r->off + r->len);
		r->len += (size_t)got;
	}
	return 0;
}

/* n bytes, consumed. */
static const unsigned char *
rd_take(struct ps_ckpt_reader *r, size_t n, char **cause)
{
	const unsigned char *p;

	if (rd_fill(r, n, cause) != 0)
		return NULL;
	p = r->buf + r->pos;
	r->pos += n;
	return p;
}

/* A NUL-padded name field: its text, or -1 if it is not one. */
static int
rd_name(const unsigned char *p, char *out)
{
	size_t i, len;

	for (len = 0; len < H_NAMELEN && p[len] != '\0'; len++)
		if (p[len] < 0x20 || p[len] > 0x7e)
			return -1;
	if (len == H_NAMELEN)
		return -1;
	for (i = len; i < H_NAMELEN; i++)
		if (p[i] != '\0')
			return -1;
	memcpy(out, p, len + 1);
	return 0;
}

static int
rd_header(struct ps_ckpt_reader *r, char **cause)
{
	struct ps_ckpt_header *h = &r->hdr;
	const unsigned char *p;
	char optim[H_NAMELEN], layout[H_NAMELEN], layouts[64];
	uint32_t hdrlen;
	int row;
	uint64_t want;
	ssize_t got;
	struct stat sb;

	/* The magic first, so that a stranger is told so, not "truncated". */
	while (r->len < 16) {
		got = read(r->fd, r->buf + r->len, 16 - r->len);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1)
			return rd_fail(r, cause, "read: %s", strerror(errno));
		if (got == 0)
			break;
		r->len += (size_t)got;
	}
	if (memcmp(r->buf, ckpt_magic, r->len < 8 ? r->len : 8) != 0)
		return rd_fail(r, cause, "not a checkpoint slot file (bad magic)");
	if (r->len < 16)
		return rd_fail(r, cause, "truncated at byte %zu", r->len);
	h->version = get_u32(r->buf + H_VERSION);
	if (h->version != PS_CKPT_VERSION)
		return rd_fail(r, cause, "format version %u, this program reads version %u",
		    h->version, PS_CKPT_VERSION);
	hdrlen = get_u32(r->buf + H_HDRLEN);
	if (hdrlen < PS_CKPT_HDRLEN || hdrlen > PS_CKPT_MAXHDR || hdrlen % 8 != 0)
		return rd_fail(r, cause, "bad header length %u", hdrlen);
	if ((p = rd_take(r, hdrlen, cause)) == NULL)
		return -1;
	if (get_u64(p + hdrlen - 8) != XXH3_64bits(p, hdrlen - 8))
		return rd_fail(r, cause, "header checksum mismatch (header says 0x%016" PRIx64
		    ", its bytes give 0x%016" PRIx64 ")", get_u64(p + hdrlen - 8),
		    (uint64_t)XXH3_64bits(p, hdrlen - 8));

	memset(&h->optim, 0, sizeof h->optim);
	h->optim.dim = get_u32(p + H_DIM);
	h->width = get_u32(p + H_WIDTH);
	if (rd_name(p + H_OPTIM, optim) != 0 || rd_name(p + H_LAYOUT, layout) != 0)
		return rd_fail(r, cause, "bad optimizer or layout field in the header");
	if (optim_kind(optim, &h->optim.kind) != 0)
		return rd_fail(r, cause, "unknown optimizer '%s'", optim);
	if ((row = ckpt_layout_named(h->optim.kind, layout)) < 0) {
		ckpt_layouts_of(h->optim.kind, layouts, sizeof layouts);
		return rd_fail(r, cause, "state layout '%s' is not that of %s (%s)",
		    layout, optim, layouts);
	}
	h->optim.schedule = ckpt_layouts[row].schedule;
	if (h->optim.dim == 0 || h->width == 0 || h->width > PS_CKPT_MAXWIDTH ||
	    h->width != optim_width(&h->optim))
		return rd_fail(r, cause, "width %u does not fit %s with dim %u", h->width,
		    optim, h->optim.dim);
	h->optim.lr = get_f32(p + H_LR);
	h->optim.eps = get_f32(p + H_EPS);
	h->optim.alpha = get_f32(p + H_ALPHA);
	h->optim.beta = get_f32(p + H_BETA);
	h->optim.l1 = get_f32(p + H_L1);
	h->optim.l2 = get_f32(p + H_L2);
	h->epoch = get_u64(p + H_EPOCH);
	h->node = get_u32(p + H_NODE);
	h->first = get_u16(p + H_FIRST);
	h->last = get_u16(p + H_LAST);
	h->nslots = get_u32(p + H_NSLOTS);
	h->keys = get_u64(p + H_KEYS);
	if (get_u32(p + H_RESERVED1) != 0 || get_u64(p + H_RESERVED2) != 0)
		return rd_fail(r, cause, "reserved header fields are not zero");
	if (h->nslots == 0 ? h->first != 0 || h->last != 0 || h->keys != 0 :
	    h->first > h->last || h->last >= PS_NSLOTS ||
	    h->nslots > (uint32_t)(h->last - h->first) + 1)
		return rd_fail(r, cause, "%u slots in %u-%u", h->nslots, h->first, h->last);
	if ((h->bytes = ckpt_size(hdrlen, h->width, h->nslots, h->keys)) == 0)
		return rd_fail(r, cause, "%" PRIu64 " keys is too many", h->keys);

	/* A regular file's size is known: refuse a short or long one at once. */
	if (fstat(r->fd, &sb) == 0 && S_ISREG(sb.st_mode)) {
		want = h->bytes;
		if ((uint64_t)sb.st_size < want)
			return rd_fail(r, cause, "truncated at byte %jd (the header "
			    "implies %" PRIu64 " bytes)", (intmax_t)sb.st_size, want);
		if ((uint64_t)sb.st_size > want)
			return rd_fail(r, cause, "%jd bytes where the header implies %"
			    PRIu64, (intmax_t)sb.st_size, want);
	}
	r->esize = 8 + 4 * (size_t)h->width;
	if (r->esize > r->size) {
		r->size = r->esize;
		r->buf = xreallocarray(r->buf, 1, r->size);
	}
	r->state = xreallocarray(NULL, h->width, sizeof *r->state);
	return 0;
}

struct ps_ckpt_reader *
ckpt_open_fd(int fd, const char *name, char **cause)
{
	struct ps_ckpt_reader *r;

	r = xcalloc(1, sizeof *r);
	r->fd = fd;
	r->name = xstrdup(name);
	r->size = BUFSZ;
	r->buf = xmalloc(r->size);
	if ((r->xs = XXH3_createState()) == NULL)
		fatalx("out of memory");
	XXH3_64bits_reset(r->xs);
	if (rd_header(r, cause) != 0) {
		ckpt_close(r);
		return NULL;
	}
	return r;
}

struct ps_ckpt_reader *
ckpt_open(const char *path, char **cause)
{
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return NULL;
	}
	return ckpt_open_fd(fd, path, cause);
}

const struct ps_ckpt_header *
ckpt_header(const struct ps_ckpt_reader *r)
{
	return &r->hdr;
}

uint64_t
ckpt_sum(const struct ps_ckpt_reader *r)
{
	return r->sum;
}

void
ckpt_close(struct ps_ckpt_reader *r)
{
	if (r == NULL)
		return;
	if (r->fd != -1)
		close(r->fd);
	XXH3_freeState(r->xs);
	free(r->buf);
	free(r->state);
	free(r->name);
	free(r->error);
	free(r);
}

int
ckpt_next_entry(struct ps_ckpt_reader *r, uint64_t *key, const float **state,
    char **cause)
{
	const unsigned char *p;
	uint64_t at;
	uint32_t j;

	if (r->error != NULL) {
		*cause = xstrdup(r->error);
		return -1;
	}
	if (r->left == 0)
		return 0;
	at = rd_at(r);
	if ((p = rd_take(r, r->esize, cause)) == NULL)
		return -1;
	*key = get_u64(p);
	if (map_slot(*key) != r->slot)
		return rd_fail(r, cause, "byte %" PRIu64 ": key %" PRIu64 " is not in "
		    "slot %u", at, *key, r->slot);
	for (j = 0; j < r->hdr.width; j++)
		r->state[j] = get_f32(p + 8 + 4 * j);
	*state = r->state;
	r->left--;
	return 1;
}

static int
rd_end(struct ps_ckpt_reader *r, char **cause)
{
	const unsigned char *p;
	unsigned char c;
	uint64_t want, at;
	ssize_t got;

	if (r->keys != r->hdr.keys)
		return rd_fail(r, cause, "the slots hold %" PRIu64 " keys, the header "
		    "says %" PRIu64, r->keys, r->hdr.keys);
	if (r->hdr.nslots > 0 && r->slot != r->hdr.last)
		return rd_fail(r, cause, "the last slot is %u, the header says %u",
		    r->slot, r->hdr.last);
	/* Hash up to here, then take the trailer unhashed. */
	XXH3_64bits_update(r->xs, r->buf + r->hpos, r->pos - r->hpos);
	r->hpos = r->pos;
	at = rd_at(r);
	if ((p = rd_take(r, TRAILER, cause)) == NULL)
		return -1;
	r->hpos = r->pos;
	r->sum = XXH3_64bits_digest(r->xs);
	want = get_u64(p);
	if (want != r->sum)
		return rd_fail(r, cause, "checksum mismatch (file says 0x%016" PRIx64
		    ", content gives 0x%016" PRIx64 ")", want, r->sum);
	if (r->pos < r->len)
		return rd_fail(r, cause, "bytes after the trailer at byte %" PRIu64,
		    at + TRAILER);
	for (;;) {
		got = read(r->fd, &c, 1);
		if (got == -1 && errno == EINTR)
			continue;
		if (got == -1)
			return rd_fail(r, cause, "read: %s", strerror(errno));
		if (got == 1)
			return rd_fail(r, cause, "bytes after the trailer at byte %"
			    PRIu64, at + TRAILER);
		break;
	}
	r->done = 1;
	return 0;
}

int
ckpt_next_slot(struct ps_ckpt_reader *r, uint16_t *slot, uint32_t *count,
    char **cause)
{
	const unsigned char *p;
	uint64_t key, at;
	const float *v;
	uint32_t n;
	uint16_t s;
	int rv;

	if (r->error != NULL) {
		*cause = xstrdup(r->error);
		return -1;
	}
	if (r->done)
		return 0;
	while ((rv = ckpt_next_entry(r, &key, &v, cause)) == 1)
		;
	if (rv == -1)
		return -1;
	if (r->nread == r->hdr.nslots)
		return rd_end(r, cause);

	at = rd_at(r);
	if ((p = rd_take(r, SLOTREC, cause)) == NULL)
		return -1;
	s = get_u16(p);
	n = get_u32(p + 4);
	if (get_u16(p + 2) != 0)
		return rd_fail(r, cause, "byte %" PRIu64 ": reserved field not zero", at);
	if (r->nread == 0 ? s != r->hdr.first : s <= r->slot || s > r->hdr.last)
		return rd_fail(r, cause, "byte %" PRIu64 ": slot %u out of order (after "
		    "%d; the header says %u-%u)", at, s, r->nread == 0 ? -1 : r->slot,
		    r->hdr.first, r->hdr.last);
	if (n > r->hdr.keys - r->keys)
		return rd_fail(r, cause, "byte %" PRIu64 ": slot %u holds %u keys, more "
		    "than the header's %" PRIu64 " leave", at, s, n,
		    r->hdr.keys - r->keys);
	r->nread++;
	r->slot = s;
	r->left = n;
	r->keys += n;
	*slot = s;
	*count = n;
	return 1;
}

int
ckpt_peek(const char *path, struct ps_ckpt_header *hdr, struct ps_ckpt_file *f,
    char **cause)
{
	struct ps_ckpt_reader *r;
	unsigned char t[TRAILER];
	ssize_t got;

	if ((r = ckpt_open(path, cause)) == NULL)
		return -1;
	got = pread(r->fd, t, TRAILER, (off_t)(r->hdr.bytes - TRAILER));
	if (got != TRAILER) {
		if (got == -1)
			rd_fail(r, cause, "read: %s", strerror(errno));
		else
			rd_fail(r, cause, "truncated at byte %" PRIu64,
			    r->hdr.bytes - TRAILER + (got > 0 ? (uint64_t)got : 0));
		ckpt_close(r);
		return -1;
	}
	if (hdr != NULL)
		*hdr = r->hdr;
	if (f != NULL) {
		memset(f, 0, sizeof *f);
		snprintf(f->name, sizeof f->name, "%s", ckpt_base(path));
		f->first = r->hdr.first;
		f->last = r->hdr.last;
		f->nslots = r->hdr.nslots;
		f->keys = r->hdr.keys;
		f->bytes = r->hdr.bytes;
		f->sum = get_u64(t);
	}
	ckpt_close(r);
	return 0;
}

/*
 * Read a whole file, checking it, and that no key is twice in a slot; owner (if not
 * NULL) maps each slot to 1 + the index of the file holding it, idx that of this one,
 * and a slot already held by another file is refused.
 */
static int
ckpt_verify_owned(const char *path, uint16_t *owner, uint16_t idx,
    const struct ps_manifest *m, struct ps_ckpt_header *hdr, struct ps_ckpt_file *f,
    char **cause)
{
	struct ps_ckpt_reader *r;
	uint64_t *keys = NULL, *tmp = NULL, *sorted, key;
	size_t cap = 0, i, n;
	const float *v;
	uint32_t count;
	uint16_t slot;
	int rv;

	if ((r = ckpt_open(path, cause)) == NULL)
		return -1;
	while ((rv = ckpt_next_slot(r, &slot, &count, cause)) == 1) {
		if (owner != NULL) {
			if (owner[slot] != 0) {
				rv = rd_fail(r, cause, "slot %u is also in %s", slot,
				    m->files[owner[slot] - 1].name);
				break;
			}
			owner[slot] = (uint16_t)(idx + 1);
		}
		if (count > cap) {
			cap = count;
			keys = xreallocarray(keys, cap, sizeof *keys);
			tmp = xreallocarray(tmp, cap, sizeof *tmp);
		}
		for (n = 0; (rv = ckpt_next_entry(r, &key, &v, cause)) == 1; n++)
			keys[n] = key;
		if (rv == -1)
			break;
		sorted = sort_u64(keys, tmp, n);
		for (i = 1; i < n; i++)
			if (sorted[i] == sorted[i - 1])
				break;
		if (i < n) {
			rv = rd_fail(r, cause, "key %" PRIu64 " is twice in slot %u",
			    sorted[i], slot);
			break;
		}
	}
	free(keys);
	free(tmp);
	if (rv == 0) {
		if (hdr != NULL)
			*hdr = r->hdr;
		if (f != NULL) {
			memset(f, 0, sizeof *f);
			snprintf(f->name, sizeof f->name, "%s", ckpt_base(path));
			f->first = r->hdr.first;
			f->last = r->hdr.last;
			f->nslots = r->hdr.nslots;
			f->keys = r->hdr.keys;
			f->bytes = r->hdr.bytes;
			f->sum = r->sum;
		}
	}
	ckpt_close(r);
	return rv;
}

int
ckpt_verify(const char *path, struct ps_ckpt_header *hdr, struct ps_ckpt_file *f,
    char **cause)
{
	return ckpt_verify_owned(path, NULL, 0, NULL, hdr, f, cause);
}

int64_t
ckpt_load(struct ps_store *st, const char *path, const struct ps_optim *want,
    uint64_t epoch, struct ps_ckpt_header *hdr, char **cause)
{
	struct ps_ckpt_reader *r;
	const struct ps_ckpt_header *h;
	uint16_t *loaded = NULL, slot;
	size_t nloaded = 0, i;
	uint32_t count;
	uint64_t key;
	int64_t keys;
	const float *v;
	float *dst;
	int rv, created;

	if ((r = ckpt_open(path, cause)) == NULL)
		return -1;
	h = ckpt_header(r);
	if (h->width != st->width) {
		rd_fail(r, cause, "width %u (%s, dim %u), the store's is %u", h->width,
		    optim_name(h->optim.kind), h->optim.dim, st->width);
		ckpt_close(r);
		return -1;
	}
	if (want != NULL && (want->kind != h->optim.kind || want->dim != h->optim.dim)) {
		rd_fail(r, cause, "saved with %s, dim %u; this is %s, dim %u",
		    optim_name(h->optim.kind), h->optim.dim, optim_name(want->kind),
		    want->dim);
		ckpt_close(r);
		return -1;
	}
	loaded = xreallocarray(NULL, h->nslots, sizeof *loaded);
	while ((rv = ckpt_next_slot(r, &slot, &count, cause)) == 1) {
		struct ps_table *t = store_table(st, slot);

		if (st->state[slot] != SLOT_ABSENT || t->count != 0) {
			rv = rd_fail(r, cause, "slot %u is already here", slot);
			break;
		}
		loaded[nloaded++] = slot;
		while ((rv = ckpt_next_entry(r, &key, &v, cause)) == 1) {
			dst = table_insert(t, key, &created);
			if (!created) {
				rv = rd_fail(r, cause, "key %" PRIu64 " is twice in slot %u",
				    key, slot);
				break;
			}
			memcpy(dst, v, (size_t)h->width * sizeof *dst);
		}
		if (rv == -1)
			break;
	}
	if (rv != 0) {
		for (i = 0; i < nloaded; i++)
			store_drop(st, loaded[i]);
		free(loaded);
		ckpt_close(r);
		return -1;
	}
	for (i = 0; i < nloaded; i++)
		store_set(st, loaded[i], SLOT_OWNED, epoch);
	if (hdr != NULL)
		*hdr = *h;
	keys = (int64_t)h->keys;
	free(loaded);
	ckpt_close(r);
	return keys;
}

int
ckpt_sync_dir(const char *dir, char **cause)
{
	int fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		xasprintf(cause, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (fsync(fd) != 0) {
		xasprintf(cause, "%s: fsync: %s", dir, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* The MANIFEST. */

void
ckpt_manifest_free(struct ps_manifest *m)
{
	free(m->files);
	memset(m, 0, sizeof *m);
}

void
ckpt_manifest_add(struct ps_manifest *m, const struct ps_ckpt_file *f)
{
	m->files = xreallocarray(m->files, m->nfiles + 1, sizeof *m->files);
	m->files[m->nfiles++] = *f;
	m->keys += f->keys;
}

struct text {
	char	*s;
	size_t	 len, cap;
};

static void text_add(struct text *, const char *, ...) PS_PRINTF(2, 3);

static void
text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0)
			fatalx("vsnprintf failed");
		if ((size_t)n < t->cap - t->len)
			break;
		t->cap = 2 * t->cap + (size_t)n + 1;
		t->s = xreallocarray(t->s, 1, t->cap);
	}
	t->len += (size_t)n;
}

static void
ckpt_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "?");
}

char *
ckpt_manifest_format(const struct ps_manifest *m, size_t *len)
{
	struct text t = { NULL, 0, 0 };
	const struct ps_ckpt_file *f;
	char when[64];
	size_t i;
	int row;

	t.cap = 512;
	t.s = xmalloc(t.cap);
	ckpt_time(m->created, when, sizeof when);
	text_add(&t, "format: %u\n", PS_CKPT_VERSION);
	text_add(&t, "name: %s\n", m->name);
	text_add(&t, "created: %s\n", when);
	text_add(&t, "epoch: %" PRIu64 "\n", m->epoch);
	text_add(&t, "optimizer: %s\n", optim_name(m->kind));
	/* The layout follows from the width: sgd's "w" or "w t" by its schedule. */
	row = m->dim > 0 && m->width % m->dim == 0 ?
	    ckpt_layout_groups(m->kind, m->width / m->dim) : -1;
	text_add(&t, "layout: %s\n", row < 0 ? "?" : ckpt_layouts[row].layout);
	text_add(&t, "dim: %u\n", m->dim);
	text_add(&t, "width: %u\n", m->width);
	text_add(&t, "keys: %" PRIu64 "\n", m->keys);
	text_add(&t, "files: %zu\n", m->nfiles);
	for (i = 0; i < m->nfiles; i++) {
		f = &m->files[i];
		text_add(&t, "file: %s %u-%u %u %" PRIu64 " %" PRIu64 " 0x%016" PRIx64
		    "\n", f->name, f->first, f->last, f->nslots, f->keys, f->bytes,
		    f->sum);
	}
	text_add(&t, "checksum: 0x%016" PRIx64 "\n", (uint64_t)XXH3_64bits(t.s, t.len));
	if (len != NULL)
		*len = t.len;
	return t.s;
}

/* A decimal number, all of s, at most max. */
static int
parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0' || (s[0] == '0' && s[1] != '\0'))
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* "0x" and 16 hex digits, all of s. */
static int
parse_sum(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	int i, d;

	if (s[0] != '0' || s[1] != 'x' || strlen(s) != 18)
		return -1;
	for (i = 2; i < 18; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			d = s[i] - '0';
		else if (s[i] >= 'a' && s[i] <= 'f')
			d = s[i] - 'a' + 10;
		else
			return -1;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return 0;
}

/* "2025-01-02T03:04:05Z", a real time: it formats back the same. */
static int
parse_time(const char *s, time_t *out)
{
	struct tm tm;
	char again[64];
	int n = 0;

	memset(&tm, 0, sizeof tm);
	if (strlen(s) != 20 || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ%n", &tm.tm_year,
	    &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
	    n != 20)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*out = timegm(&tm);
	ckpt_time(*out, again, sizeof again);
	return strcmp(again, s) == 0 ? 0 : -1;
}

/* "NAME FIRST-LAST SLOTS KEYS BYTES 0xSUM" */
static int
parse_file(char *v, struct ps_ckpt_file *f)
{
	char *word[6], *dash;
	uint64_t first, last, nslots;
	int i;

	/* Six words, one space apart. */
	for (i = 0; i < 6; i++) {
		word[i] = v;
		if ((v = strchr(v, ' ')) != NULL)
			*v++ = '\0';
		if (*word[i] == '\0' || (v == NULL) != (i == 5))
			return -1;
	}
	if (!ckpt_name_ok(word[0]))
		return -1;
	if ((dash = strchr(word[1], '-')) == NULL)
		return -1;
	*dash = '\0';
	memset(f, 0, sizeof *f);
	memcpy(f->name, word[0], strlen(word[0]));
	if (parse_u64(word[1], PS_NSLOTS - 1, &first) != 0 ||
	    parse_u64(dash + 1, PS_NSLOTS - 1, &last) != 0 ||
	    parse_u64(word[2], PS_NSLOTS, &nslots) != 0 ||
	    parse_u64(word[3], UINT64_MAX, &f->keys) != 0 ||
	    parse_u64(word[4], UINT64_MAX, &f->bytes) != 0 ||
	    parse_sum(word[5], &f->sum) != 0)
		return -1;
	f->first = (uint16_t)first;
	f->last = (uint16_t)last;
	f->nslots = (uint32_t)nslots;
	return 0;
}

enum {
	M_FORMAT, M_NAME, M_CREATED, M_EPOCH, M_OPTIMIZER, M_LAYOUT, M_DIM, M_WIDTH,
	M_KEYS, M_FILES, M_FILE, M_CHECKSUM, M_NKEYS
};
static const char *const manifest_keys[M_NKEYS] = {
	"format", "name", "created", "epoch", "optimizer", "layout", "dim", "width",
	"keys", "files", "file", "checksum",
};

static int man_fail(char **, const char *, size_t, const char *, ...) PS_PRINTF(4, 5);

/* A cause "where:line: ..." (no line if line is 0). */
static int
man_fail(char **cause, const char *where, size_t line, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	xvasprintf(&s, fmt, ap);
	va_end(ap);
	if (line > 0)
		xasprintf(cause, "%s:%zu: %s", where, line, s);
	else
		xasprintf(cause, "%s: %s", where, s);
	free(s);
	return -1;
}

int
ckpt_manifest_parse(struct ps_manifest *m, const char *text, size_t len,
    const char *where, char **cause)
{
	size_t seen[M_NKEYS], line = 0, start, end, i, k, nfile = 0;
	char buf[512], *v, layout[16], layouts[64];
	uint64_t n, sum, keys = 0, size, files = 0;
	struct ps_ckpt_file f;
	int done = 0, row;

	memset(m, 0, sizeof *m);
	memset(seen, 0, sizeof seen);
	layout[0] = '\0';
	if (len > MANIFEST_MAX)
		return man_fail(cause, where, 0, "larger than %d bytes", MANIFEST_MAX);
	for (start = 0; start < len; start = end + 1) {
		line++;
		for (end = start; end < len && text[end] != '\n'; end++)
			if (text[end] == '\0')
				break;
		if (end < len && text[end] == '\0') {
			man_fail(cause, where, line, "a NUL byte");
			goto fail;
		}
		if (end == len) {
			man_fail(cause, where, line, "no newline at the end (truncated?)");
			goto fail;
		}
		if (done) {
			man_fail(cause, where, line, "a line after the checksum");
			goto fail;
		}
		if (end - start >= sizeof buf) {
			man_fail(cause, where, line, "line too long");
			goto fail;
		}
		memcpy(buf, text + start, end - start);
		buf[end - start] = '\0';
		if (line == 1 && strncmp(buf, "format: ", 8) != 0) {
			man_fail(cause, where, line, "not a checkpoint MANIFEST (no "
			    "'format:' first)");
			goto fail;
		}
		if ((v = strstr(buf, ": ")) == NULL) {
			man_fail(cause, where, line, "not 'key: value'");
			goto fail;
		}
		*v = '\0';
		v += 2;
		for (k = 0; k < M_NKEYS; k++)
			if (strcmp(buf, manifest_keys[k]) == 0)
				break;
		if (k == M_NKEYS) {
			man_fail(cause, where, line, "unknown key '%s'", buf);
			goto fail;
		}
		if (seen[k] != 0 && k != M_FILE) {
			man_fail(cause, where, line, "'%s' again (first on line %zu)", buf,
			    seen[k]);
			goto fail;
		}
		seen[k] = line;
		switch (k) {
		case M_FORMAT:
			if (parse_u64(v, UINT32_MAX, &n) != 0) {
				man_fail(cause, where, line, "format: '%s' is not a "
				    "number", v);
				goto fail;
			}
			if (n != PS_CKPT_VERSION) {
				man_fail(cause, where, line, "format version %" PRIu64
				    ", this program reads version %u", n, PS_CKPT_VERSION);
				goto fail;
			}
			break;
		case M_NAME:
			if (!ckpt_name_ok(v)) {
				man_fail(cause, where, line, "name: '%s' is not a "
				    "checkpoint name", v);
				goto fail;
			}
			memcpy(m->name, v, strlen(v) + 1);
			break;
		case M_CREATED:
			if (parse_time(v, &m->created) != 0) {
				man_fail(cause, where, line, "created: '%s' is not a time "
				    "as YYYY-MM-DDTHH:MM:SSZ", v);
				goto fail;
			}
			break;
		case M_OPTIMIZER:
			if (optim_kind(v, &m->kind) != 0) {
				man_fail(cause, where, line, "optimizer: unknown '%s'", v);
				goto fail;
			}
			break;
		case M_LAYOUT:
			snprintf(layout, sizeof layout, "%s", v);
			break;
		case M_EPOCH:
		case M_DIM:
		case M_WIDTH:
		case M_KEYS:
		case M_FILES:
			if (parse_u64(v, k == M_DIM || k == M_WIDTH ? PS_CKPT_MAXWIDTH :
			    UINT64_MAX, &n) != 0 || ((k == M_DIM || k == M_WIDTH) &&
			    n == 0)) {
				man_fail(cause, where, line, "%s: '%s' is not a number%s",
				    manifest_keys[k], v, k == M_DIM || k == M_WIDTH ?
				    " in 1..65536" : "");
				goto fail;
			}
			if (k == M_EPOCH)
				m->epoch = n;
			else if (k == M_DIM)
				m->dim = (uint32_t)n;
			else if (k == M_WIDTH)
				m->width = (uint32_t)n;
			else if (k == M_KEYS)
				m->keys = n;
			else
				files = n;
			break;
		case M_FILE:
			if (parse_file(v, &f) != 0) {
				man_fail(cause, where, line, "file: expected NAME "
				    "FIRST-LAST SLOTS KEYS BYTES 0xCHECKSUM");
				goto fail;
			}
			if (f.nslots == 0 ? f.first != 0 || f.last != 0 || f.keys != 0 :
			    f.first > f.last || f.nslots > (uint32_t)(f.last - f.first) + 1) {
				man_fail(cause, where, line, "file: %u slots in %u-%u",
				    f.nslots, f.first, f.last);
				goto fail;
			}
			for (i = 0; i < nfile; i++) {
				if (strcmp(m->files[i].name, f.name) == 0) {
					man_fail(cause, where, line, "file: %s again",
					    f.name);
					goto fail;
				}
			}
			if (seen[M_WIDTH] == 0) {
				man_fail(cause, where, line, "file: before 'width'");
				goto fail;
			}
			size = ckpt_size(PS_CKPT_HDRLEN, m->width, f.nslots, f.keys);
			if (size == 0 || size != f.bytes) {
				man_fail(cause, where, line, "file: %s: %" PRIu64 " bytes "
				    "for %" PRIu64 " keys of width %u in %u slots",
				    f.name, f.bytes, f.keys, m->width, f.nslots);
				goto fail;
			}
			if (__builtin_add_overflow(keys, f.keys, &keys)) {
				man_fail(cause, where, line, "file: too many keys");
				goto fail;
			}
			m->files = xreallocarray(m->files, nfile + 1, sizeof *m->files);
			m->files[nfile++] = f;
			m->nfiles = nfile;
			break;
		case M_CHECKSUM:
			if (parse_sum(v, &n) != 0) {
				man_fail(cause, where, line, "checksum: '%s' is not 0x and "
				    "16 hex digits", v);
				goto fail;
			}
			sum = XXH3_64bits(text, start);
			if (n != sum) {
				man_fail(cause, where, line, "checksum mismatch (file says "
				    "0x%016" PRIx64 ", content gives 0x%016" PRIx64 ")", n,
				    sum);
				goto fail;
			}
			done = 1;
			break;
		}
	}
	for (k = 0; k < M_NKEYS; k++) {
		if (seen[k] == 0 && k != M_FILE) {
			man_fail(cause, where, 0, "no '%s' line%s", manifest_keys[k],
			    k == M_CHECKSUM ? " (truncated?)" : "");
			goto fail;
		}
	}
	if ((row = ckpt_layout_named(m->kind, layout)) < 0) {
		ckpt_layouts_of(m->kind, layouts, sizeof layouts);
		man_fail(cause, where, seen[M_LAYOUT], "layout: '%s' is not that of %s "
		    "(%s)", layout, optim_name(m->kind), layouts);
		goto fail;
	}
	if (m->width != ckpt_layouts[row].groups * (uint64_t)m->dim) {
		man_fail(cause, where, seen[M_WIDTH], "width: %u does not fit %s with "
		    "dim %u", m->width, optim_name(m->kind), m->dim);
		goto fail;
	}
	if (files != nfile) {
		man_fail(cause, where, seen[M_FILES], "files: %" PRIu64 ", but %zu "
		    "'file:' lines", files, nfile);
		goto fail;
	}
	if (keys != m->keys) {
		man_fail(cause, where, seen[M_KEYS], "keys: %" PRIu64 ", but the files "
		    "hold %" PRIu64, m->keys, keys);
		goto fail;
	}
	return 0;

fail:
	ckpt_manifest_free(m);
	return -1;
}

int
ckpt_manifest_write(const char *dir, const struct ps_manifest *m, char **cause)
{
	struct ps_manifest check;
	char *path, *text;
	size_t len;
	int rv = -1;

	xasprintf(&path, "%s/%s", dir, PS_CKPT_MANIFEST);
	text = ckpt_manifest_format(m, &len);
	/* Never write what would not read back. */
	if (ckpt_manifest_parse(&check, text, len, path, cause) == 0) {
		ckpt_manifest_free(&check);
		rv = file_replace(path, text, len, cause);
	}
	free(text);
	free(path);
	return rv;
}

int
ckpt_manifest_read(const char *dir, struct ps_manifest *m, char **cause)
{
	char *path, *text;
	size_t len;
	int rv = -1;

	memset(m, 0, sizeof *m);
	xasprintf(&path, "%s/%s", dir, PS_CKPT_MANIFEST);
	if ((text = file_read(path, MANIFEST_MAX, &len, cause)) == NULL) {
		free(path);
		return -1;	/* errno kept: ENOENT is no checkpoint */
	}
	rv = ckpt_manifest_parse(m, text, len, path, cause);
	free(text);
	free(path);
	if (rv != 0)
		errno = EINVAL;
	return rv;
}

int
ckpt_check(const char *dir, const struct ps_manifest *m, char **cause)
{
	struct ps_ckpt_header h;
	struct ps_ckpt_file got;
	const struct ps_ckpt_file *f;
	uint16_t *owner;
	char *path = NULL;
	size_t i;
	uint32_t s, e;
	int rv = -1;

	if (m->nfiles >= UINT16_MAX) {
		xasprintf(cause, "%s: %zu files", dir, m->nfiles);
		return -1;
	}
	owner = xcalloc(PS_NSLOTS, sizeof *owner);
	for (i = 0; i < m->nfiles; i++) {
		f = &m->files[i];
		free(path);
		xasprintf(&path, "%s/%s", dir, f->name);
		if (ckpt_verify_owned(path, owner, (uint16_t)i, m, &h, &got, cause) != 0)
			goto out;
		if (h.optim.kind != m->kind || h.optim.dim != m->dim ||
		    h.width != m->width) {
			xasprintf(cause, "%s: %s, dim %u, width %u; the MANIFEST says %s, "
			    "dim %u, width %u", path, optim_name(h.optim.kind),
			    h.optim.dim, h.width, optim_name(m->kind), m->dim, m->width);
			goto out;
		}
		if (got.sum != f->sum) {
			xasprintf(cause, "%s: checksum 0x%016" PRIx64 ", the MANIFEST says "
			    "0x%016" PRIx64, path, got.sum, f->sum);
			goto out;
		}
		if (got.first != f->first || got.last != f->last ||
		    got.nslots != f->nslots || got.keys != f->keys ||
		    got.bytes != f->bytes) {
			xasprintf(cause, "%s: %u slots in %u-%u, %" PRIu64 " keys, %"
			    PRIu64 " bytes; the MANIFEST says %u in %u-%u, %" PRIu64
			    ", %" PRIu64, path, got.nslots, got.first, got.last, got.keys,
			    got.bytes, f->nslots, f->first, f->last, f->keys, f->bytes);
			goto out;
		}
	}
	for (s = 0; s < PS_NSLOTS; s++) {
		if (owner[s] != 0)
			continue;
		for (e = s; e + 1 < PS_NSLOTS && owner[e + 1] == 0; e++)
			;
		if (s == e)
			xasprintf(cause, "%s: slot %u is in no file", dir, s);
		else
			xasprintf(cause, "%s: slots %u-%u are in no file", dir, s, e);
		goto out;
	}
	rv = 0;
out:
	free(path);
	free(owner);
	return rv;
}
