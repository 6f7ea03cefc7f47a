/*
 * Checkpoint files, as ps-ckpt(5) describes them: a folder per checkpoint, a slot file
 * per server (a header, the entries of the slots it owned, an XXH3-64 trailer) and a
 * MANIFEST written last. This module is the format only: writing a slot file from a
 * store, reading one back (streaming, or into a store), verifying, and the MANIFEST.
 * It does file I/O but no networking and no logging; errors come back as a cause
 * naming the file ("ckpt/a/server-3.slots: truncated at byte 4096").
 */
#ifndef PS_CKPT_H
#define PS_CKPT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "ps/optim.h"
#include "ps/store.h"

#define PS_CKPT_VERSION		1		/* of the slot files and the MANIFEST */
#define PS_CKPT_HDRLEN		128		/* version 1's header; may be longer */
#define PS_CKPT_MAXHDR		4096
#define PS_CKPT_MAXWIDTH	65536		/* floats per key */
#define PS_CKPT_NAMELEN		64		/* names, with the NUL */
#define PS_CKPT_MANIFEST	"MANIFEST"
#define PS_CKPT_MANIFEST_TMP	"MANIFEST.tmp"

/* What a slot file's header says. */
struct ps_ckpt_header {
	uint32_t	 version;
	struct ps_optim	 optim;		/* kind, dim, hyperparameters of the save */
	uint32_t	 width;		/* floats per key: optim_width(&optim) */
	uint64_t	 epoch;		/* the map epoch of the save */
	uint32_t	 node;		/* the server that wrote it */
	uint16_t	 first;		/* lowest slot; 0 when there are no slots */
	uint16_t	 last;		/* highest slot; 0 when there are no slots */
	uint32_t	 nslots;	/* slot records, in ascending slot order */
	uint64_t	 keys;
	uint64_t	 bytes;		/* the file's size, which the counts imply */
};

/* A slot file as a MANIFEST lists it. */
struct ps_ckpt_file {
	char		 name[PS_CKPT_NAMELEN];	/* in the checkpoint's folder */
	uint16_t	 first, last;
	uint32_t	 nslots;
	uint64_t	 keys;
	uint64_t	 bytes;
	uint64_t	 sum;		/* XXH3-64 of every byte before the trailer */
};

/* A MANIFEST. */
struct ps_manifest {
	char			 name[PS_CKPT_NAMELEN];
	time_t			 created;	/* written as UTC, ISO 8601 */
	uint64_t		 epoch;
	enum ps_optim_kind	 kind;
	uint32_t		 dim;
	uint32_t		 width;
	uint64_t		 keys;		/* over all files */
	struct ps_ckpt_file	*files;
	size_t			 nfiles;
};

/* The state layout of an optimizer, as its groups' names: "w", "w g2", "z n". */
const char	*ckpt_layout(enum ps_optim_kind);
/* A name fit for a checkpoint or a file in it: 1 to 63 of [A-Za-z0-9._-], not
 * starting with '.'. */
int		 ckpt_name_ok(const char *);
/* Collect the slots of st in a state, ascending, into slots[PS_NSLOTS]; their count. */
size_t		 ckpt_slots(const struct ps_store *, enum ps_slot_state, uint16_t *slots);

/*
 * Write a slot file holding the entries of slots[0..n) (ascending, no repeats) of st,
 * whose width must be optim_width(o); fsync it. ckpt_write creates path (never
 * overwriting a file), closes it and removes it again on failure; ckpt_write_fd writes
 * to fd from where it is, fsyncs and leaves it open, name serving for messages. f (if
 * not NULL) gets what a MANIFEST says of the file, its name the last part of the path.
 *
 * Meant for a child fork()ed from a server: it allocates nothing unless it fails and
 * uses only open(2), write(2), fsync(2), close(2) (and unlink(2) on failure).
 */
int	 ckpt_write(const char *path, const struct ps_store *st, const struct ps_optim *o,
	    uint64_t epoch, uint32_t node, const uint16_t *slots, size_t n,
	    struct ps_ckpt_file *f, char **cause);
int	 ckpt_write_fd(int fd, const char *name, const struct ps_store *st,
	    const struct ps_optim *o, uint64_t epoch, uint32_t node, const uint16_t *slots,
	    size_t n, struct ps_ckpt_file *f, char **cause);

/*
 * Streaming reader. ckpt_open reads and checks the header (and, for a regular file,
 * that its size is the one the header implies); then
 *
 *	while ((r = ckpt_next_slot(rd, &slot, &count, &cause)) == 1)
 *		while ((r = ckpt_next_entry(rd, &key, &state, &cause)) == 1)
 *			... key, state[0..width) ...
 *
 * ends with 0 once the trailer's checksum has been checked and nothing follows it, or
 * -1 and a cause (and -1 again from then on). Entries are given before the checksum
 * is known to be good: whoever acts on them must be able to undo it (ckpt_load does).
 * Each key is checked to be in its slot; slots must ascend and the counts add up.
 * The state is valid until the next call. ckpt_next_slot skips, still checking, the
 * entries of the slot before it that were not read.
 */
struct ps_ckpt_reader;

struct ps_ckpt_reader *ckpt_open(const char *path, char **cause);
/* The same on an open fd, name serving for messages; the fd is the reader's from
 * then on, closed by ckpt_close (or at once, if the header is refused). */
struct ps_ckpt_reader *ckpt_open_fd(int fd, const char *name, char **cause);
const struct ps_ckpt_header *ckpt_header(const struct ps_ckpt_reader *);
int	 ckpt_next_slot(struct ps_ckpt_reader *, uint16_t *slot, uint32_t *count,
	    char **cause);
int	 ckpt_next_entry(struct ps_ckpt_reader *, uint64_t *key, const float **state,
	    char **cause);
/* The checksum, once ckpt_next_slot has returned 0. */
uint64_t ckpt_sum(const struct ps_ckpt_reader *);
void	 ckpt_close(struct ps_ckpt_reader *);

/* The header and the trailer's checksum, without reading the entries (for listing
 * and for the MANIFEST of a save): nothing is verified but the header. */
int	 ckpt_peek(const char *path, struct ps_ckpt_header *, struct ps_ckpt_file *,
	    char **cause);
/* Read a whole slot file and check everything: header, slots, counts, every key in
 * its slot and only once in it, checksum. hdr and f may be NULL. */
int	 ckpt_verify(const char *path, struct ps_ckpt_header *hdr, struct ps_ckpt_file *f,
	    char **cause);
/*
 * Load a slot file into st: its slots must be ABSENT and empty there, and become
 * OWNED at epoch once the whole file has been read and its checksum found good; on any
 * error nothing is left of it in st. The file's width must be the store's, and if want
 * is not NULL, its optimizer and dim those of want. hdr may be NULL. Keys loaded, or
 * -1 and cause.
 */
int64_t	 ckpt_load(struct ps_store *st, const char *path, const struct ps_optim *want,
	    uint64_t epoch, struct ps_ckpt_header *hdr, char **cause);

/* The MANIFEST. */
void	 ckpt_manifest_free(struct ps_manifest *);
/* Append a file to m and add its keys to m->keys. */
void	 ckpt_manifest_add(struct ps_manifest *, const struct ps_ckpt_file *);
/* Its text, allocated (len may be NULL). */
char	*ckpt_manifest_format(const struct ps_manifest *, size_t *len);
/* Parse a MANIFEST's text; where names it in causes ("ckpt/a/MANIFEST:7: ..."). */
int	 ckpt_manifest_parse(struct ps_manifest *, const char *text, size_t len,
	    const char *where, char **cause);
/* Write dir/MANIFEST.tmp, fsync it, rename it to dir/MANIFEST and fsync dir; m is
 * refused first if its text would not parse back (a bad name, counts that do not add
 * up). */
int	 ckpt_manifest_write(const char *dir, const struct ps_manifest *, char **cause);
/* Read and parse dir/MANIFEST; with errno ENOENT when there is none (an incomplete
 * checkpoint, or not one). */
int	 ckpt_manifest_read(const char *dir, struct ps_manifest *, char **cause);
/* Verify every file of m in dir against m, and that the files hold every slot once. */
int	 ckpt_check(const char *dir, const struct ps_manifest *m, char **cause);

/* fsync a folder, so that the names made in it last. */
int	 ckpt_sync_dir(const char *dir, char **cause);

#endif
