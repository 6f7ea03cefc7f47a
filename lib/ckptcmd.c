/*
 * ps-ckpt's commands: see include/ps/ckptcmd.h and ps-ckpt(1).
 *
 * A checkpoint is a folder in the folder of checkpoints (ckpt.dir, or --dir): one
 * slot file per server that held slots, written by the servers themselves from a
 * fork()ed child, and a MANIFEST, written last by ps-ckpt save. A folder without a
 * MANIFEST is an incomplete checkpoint: a save that failed or is under way.
 *
 * Only main exits: every command returns an exit status and prints its own error,
 * one line through log_error. Success is silent on stderr (what is done is logged
 * at debug level, -v), so that a crontab line mails nothing unless it failed.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ps/ckpt.h"
#include "ps/ckptcmd.h"
#include "ps/cli.h"
#include "ps/client.h"
#include "ps/conn.h"
#include "ps/json.h"
#include "ps/log.h"
#include "ps/map.h"
#include "ps/model.h"
#include "ps/msg.h"
#include "ps/net.h"
#include "ps/optim.h"
#include "ps/proto.h"
#include "ps/xmalloc.h"

#define CKC_PROGNAME	"ps-ckpt"
#define CKC_NAME_TRIES	1000		/* NAME, NAME-2, ... NAME-1000 */
#define CKC_LOCK_POLL	0.05		/* seconds between tries of a busy lock */

/* What a command takes besides the options every command takes (--dir, --json,
 * --wait). */
#define CKC_NAME	0x1		/* one argument: a checkpoint */
#define CKC_KEEP	0x2		/* --keep N */
#define CKC_VERIFY	0x4		/* --verify */

struct ckc_cmd {
	const char	*name;
	const char	*args;		/* for help and usage errors */
	const char	*help;
	int		(*run)(struct ps_ckptcmd *, const struct ckc_cmd *,
			    const char *);
	int		 flags;
};

static int	ckc_save(struct ps_ckptcmd *, const struct ckc_cmd *, const char *);
static int	ckc_list(struct ps_ckptcmd *, const struct ckc_cmd *, const char *);
static int	ckc_verify(struct ps_ckptcmd *, const struct ckc_cmd *, const char *);
static int	ckc_prune(struct ps_ckptcmd *, const struct ckc_cmd *, const char *);
static int	ckc_export(struct ps_ckptcmd *, const struct ckc_cmd *, const char *);
static int	ckc_restore(struct ps_ckptcmd *, const struct ckc_cmd *, const char *);

/*
 * The commands. A command that needs the job (save, restore)
 * reaches the scheduler through ckc_connect; one that changes the folder of
 * checkpoints takes ckc_lock first; one that reads a checkpoint finds it with
 * ckc_folder and its MANIFEST with ckc_manifest.
 */
static const struct ckc_cmd ckc_cmds[] = {
	{ "save", "[--verify]", "write a checkpoint of the running job; print its path",
	  ckc_save, CKC_VERIFY },
	{ "list", "", "list the checkpoints, oldest first", ckc_list, 0 },
	{ "verify", "NAME", "check every checksum of a checkpoint", ckc_verify,
	  CKC_NAME },
	{ "prune", "--keep N", "remove all but the newest N complete checkpoints",
	  ckc_prune, CKC_KEEP },
	{ "export", "NAME", "print each key's weights as text, sorted by key",
	  ckc_export, CKC_NAME },
	{ "restore", "NAME", "load a checkpoint into the running job, any number of servers",
	  ckc_restore, CKC_NAME },
};
#define CKC_NCMDS	(sizeof ckc_cmds / sizeof ckc_cmds[0])

/* Errors: one line, through log_error. */

static int
ckc_fail(char *cause)
{
	fflush(stdout);
	log_error("%s", cause);
	free(cause);
	return PS_EXIT_ERROR;
}

static int ckc_usage(const struct ckc_cmd *, const char *, ...) PS_PRINTF(2, 3);

static int
ckc_usage(const struct ckc_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	char *why;

	va_start(ap, fmt);
	xvasprintf(&why, fmt, ap);
	va_end(ap);
	log_error("%s: %s (usage: %s%s%s)", cmd->name, why, cmd->name,
	    *cmd->args ? " " : "", cmd->args);
	free(why);
	return PS_EXIT_USAGE;
}

/*
 * Standard output. glibc drops what it could not write and a later fflush
 * succeeds, so the errno of the first failed write is kept here, where it happened.
 * A closed pipe (EPIPE: | head has had enough) ends list, export and restore
 * quietly, as it ends ps-worker, but fails save; any other failure (a full disk)
 * is an error.
 */
static int	ckc_out_errno;

/* 0 while every write to standard output has gone through; else -1. */
static int
ckc_out_check(void)
{
	if (!ferror(stdout))
		return 0;
	if (ckc_out_errno == 0)
		ckc_out_errno = errno != 0 ? errno : EIO;
	return -1;
}

/* Flush standard output: 0, or -1 with the failure in ckc_out_errno. */
static int
ckc_out_flush(void)
{
	if (fflush(stdout) == EOF && ckc_out_errno == 0)
		ckc_out_errno = errno != 0 ? errno : EIO;
	return ckc_out_check();
}

void
ckptcmd_init(struct ps_ckptcmd *k, const struct ps_conf *conf)
{
	memset(k, 0, sizeof *k);
	k->conf = conf;
	k->lockfd = -1;
}

void
ckptcmd_free(struct ps_ckptcmd *k)
{
	if (k->lockfd != -1)
		close(k->lockfd);
	k->lockfd = -1;
}

static const char *
ckc_dir(const struct ps_ckptcmd *k)
{
	return k->dir != NULL ? k->dir : k->conf->ckpt_dir;
}

static double
ckc_now(void)
{
	return net_now();
}

static void
ckc_sleep(double secs)
{
	struct timespec ts;

	ts.tv_sec = (time_t)secs;
	ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* The folder and everything it holds: files only, as a checkpoint holds. */

/* Remove every entry of path, then path. With first (if not NULL) removed before the
 * others and the removal made durable, so that a checkpoint half removed is never
 * taken as complete. */
static int
ckc_remove(const char *path, const char *first, char **cause)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (first != NULL) {
		if (unlinkat(fd, first, 0) == 0)
			fsync(fd);
		else if (errno != ENOENT) {
			xasprintf(cause, "%s/%s: %s", path, first, strerror(errno));
			close(fd);
			return -1;
		}
	}
	if ((d = fdopendir(fd)) == NULL) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(fd, de->d_name, 0) != 0 && errno != ENOENT) {
			xasprintf(cause, "%s/%s: %s", path, de->d_name, strerror(errno));
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	if (rmdir(path) != 0) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Bytes on disk of the files in path (not of sub-folders' contents). */
static uint64_t
ckc_disk_bytes(const char *path)
{
	struct dirent *de;
	struct stat sb;
	uint64_t bytes = 0;
	DIR *d;
	int fd;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return 0;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return 0;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0)
			bytes += (uint64_t)sb.st_blocks * 512;
	}
	closedir(d);
	return bytes;
}

/* mkdir -p: every missing folder of path. */
static int
ckc_mkdirs(const char *path, char **cause)
{
	struct stat sb;
	char *copy = xstrdup(path), *p;

	for (p = copy + 1; ; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		if (p[-1] != '/') {
			char c = *p;

			*p = '\0';
			if (mkdir(copy, 0777) != 0 && errno != EEXIST) {
				xasprintf(cause, "%s: %s", copy, strerror(errno));
				free(copy);
				return -1;
			}
			*p = c;
		}
		if (*p == '\0')
			break;
	}
	free(copy);
	if (stat(path, &sb) != 0) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		xasprintf(cause, "%s: not a folder", path);
		return -1;
	}
	return 0;
}

/*
 * The lock: flock(2) on <dir>/.lock, held until the process exits. --wait 0 (the
 * default) refuses at once when another ps-ckpt holds it; --wait S tries for S
 * seconds.
 */
static int
ckc_lock(struct ps_ckptcmd *k, const char *dir, char **cause)
{
	double deadline = ckc_now() + k->wait;
	char *path;
	int fd, waited = 0;

	if (k->lockfd != -1)
		return 0;
	xasprintf(&path, "%s/%s", dir, CKPTCMD_LOCK);
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666)) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			xasprintf(cause, "%s: flock: %s", path, strerror(errno));
			goto fail;
		}
		if (!waited && k->wait > 0)
			log_debug("%s is locked: waiting up to %g s", path, k->wait);
		waited = 1;
		if (ckc_now() >= deadline) {
			if (k->wait > 0)
				xasprintf(cause, "another ps-ckpt is running: %s still "
				    "locked after %g s", path, k->wait);
			else
				xasprintf(cause, "another ps-ckpt is running (%s is "
				    "locked)", path);
			goto fail;
		}
		ckc_sleep(CKC_LOCK_POLL);
	}
	log_debug("locked %s", path);
	k->lockfd = fd;
	free(path);
	return 0;
fail:
	close(fd);
	free(path);
	return -1;
}

/* The folder of a checkpoint named by arg: a NAME in the folder of checkpoints, or
 * (with a '/') the path of the folder itself, as save prints it. */
static int
ckc_folder(struct ps_ckptcmd *k, const struct ckc_cmd *cmd, const char *arg,
    char **path)
{
	size_t len;

	if (strchr(arg, '/') != NULL) {
		*path = xstrdup(arg);
		len = strlen(*path);
		while (len > 1 && (*path)[len - 1] == '/')
			(*path)[--len] = '\0';
		return PS_EXIT_OK;
	}
	if (strcmp(arg, "latest") == 0) {
		char *cause;

		if ((*path = model_find(ckc_dir(k), arg, &cause)) == NULL)
			return ckc_fail(cause);
		return PS_EXIT_OK;
	}
	if (!ckpt_name_ok(arg))
		return ckc_usage(cmd, "'%s' is not a checkpoint name", arg);
	xasprintf(path, "%s/%s", ckc_dir(k), arg);
	return PS_EXIT_OK;
}

/* The MANIFEST of the checkpoint at path; an absent one says so in words. */
static int
ckc_manifest(const char *path, struct ps_manifest *m, char **cause)
{
	struct stat sb;
	char *why;

	if (stat(path, &sb) != 0) {
		xasprintf(cause, "%s: no such checkpoint: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		xasprintf(cause, "%s: not a checkpoint (not a folder)", path);
		return -1;
	}
	if (ckpt_manifest_read(path, m, &why) != 0) {
		if (errno == ENOENT) {
			xasprintf(cause, "%s: incomplete checkpoint: it has no %s", path,
			    PS_CKPT_MANIFEST);
			free(why);
		} else
			*cause = why;
		return -1;
	}
	return 0;
}

/* "20261129T081500Z" or "20261129T081500Z-N": its time and N (1 without). */
static int
ckc_parse_name(const char *name, time_t *when, unsigned long *seq)
{
	struct tm tm;
	char *end;
	int i;

	for (i = 0; i < 16; i++) {
		if (i == 8 ? name[i] != 'T' : i == 15 ? name[i] != 'Z' :
		    (name[i] < '0' || name[i] > '9'))
			return -1;
	}
	memset(&tm, 0, sizeof tm);
	if (sscanf(name, "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	    &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return -1;
	*seq = 1;
	if (name[16] == '-') {
		if (name[17] < '1' || name[17] > '9')
			return -1;
		errno = 0;
		*seq = strtoul(name + 17, &end, 10);
		if (*end != '\0' || errno != 0)
			return -1;
	} else if (name[16] != '\0')
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*when = timegm(&tm);
	return 0;
}

static void
ckc_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "-");
}

/* Bytes in powers of 1024, as ps-ctl writes them: 512B, 1.5K, 12M, 3.0G. */
static void
ckc_bytes(uint64_t bytes, char *buf, size_t len)
{
	static const char units[] = "BKMGTPE";
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && units[u + 1] != '\0') {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 "B", bytes);
	else
		snprintf(buf, len, v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
}

/*
 * The checkpoints in the folder: every sub-folder whose name is a checkpoint name
 * (so not .lock), ordered oldest first by the time of the checkpoint (the MANIFEST's
 * for a complete one; else the time in its name, or the folder's mtime), then by the
 * number after the name's '-', then by name.
 */
enum ckc_state { CKC_COMPLETE, CKC_INCOMPLETE, CKC_DAMAGED };

static const char *ckc_state_names[] = { "complete", "incomplete", "damaged" };

struct ckc_entry {
	char		 name[PS_CKPT_NAMELEN];
	enum ckc_state	 state;
	time_t		 when;
	unsigned long	 seq;
	uint64_t	 keys;		/* complete only */
	size_t		 nfiles;	/* complete only */
	uint64_t	 bytes;		/* on disk */
};

static int
ckc_entry_cmp(const void *a, const void *b)
{
	const struct ckc_entry *x = a, *y = b;

	if (x->when != y->when)
		return x->when < y->when ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int
ckc_scan(const char *dir, struct ckc_entry **out, size_t *nout, char **cause)
{
	struct ckc_entry *v = NULL, *e;
	struct ps_manifest m;
	struct dirent *de;
	struct stat sb;
	time_t when;
	size_t n = 0;
	char *path, *why;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		xasprintf(cause, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (!ckpt_name_ok(de->d_name))
			continue;
		xasprintf(&path, "%s/%s", dir, de->d_name);
		if (lstat(path, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
			free(path);
			continue;
		}
		v = xreallocarray(v, n + 1, sizeof *v);
		e = &v[n++];
		memset(e, 0, sizeof *e);
		memcpy(e->name, de->d_name, strlen(de->d_name) + 1);	/* name ok: fits */
		e->when = sb.st_mtime;
		if (ckc_parse_name(e->name, &when, &e->seq) == 0)
			e->when = when;
		if (ckpt_manifest_read(path, &m, &why) == 0) {
			e->state = CKC_COMPLETE;
			e->when = m.created;
			e->keys = m.keys;
			e->nfiles = m.nfiles;
			ckpt_manifest_free(&m);
		} else {
			e->state = errno == ENOENT ? CKC_INCOMPLETE : CKC_DAMAGED;
			log_debug("%s", why);
			free(why);
		}
		e->bytes = ckc_disk_bytes(path);
		free(path);
	}
	if (errno != 0) {
		xasprintf(cause, "%s: %s", dir, strerror(errno));
		closedir(d);
		free(v);
		return -1;
	}
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof *v, ckc_entry_cmp);
	*out = v;
	*nout = n;
	return 0;
}

/* list */

static void
ckc_list_json(const struct ckc_entry *v, size_t n)
{
	struct json_buf b;
	char when[32];
	size_t i;

	json_init(&b);
	json_put_raw(&b, "[");
	for (i = 0; i < n; i++) {
		ckc_time(v[i].when, when, sizeof when);
		json_put_raw(&b, i > 0 ? ",{\"name\":" : "{\"name\":");
		json_put_str(&b, v[i].name, strlen(v[i].name));
		json_put_raw(&b, ",\"time\":");
		json_put_str(&b, when, strlen(when));
		json_put_raw(&b, ",\"state\":");
		json_put_str(&b, ckc_state_names[v[i].state],
		    strlen(ckc_state_names[v[i].state]));
		json_put_raw(&b, ",\"complete\":");
		json_put_raw(&b, v[i].state == CKC_COMPLETE ? "true" : "false");
		json_put_raw(&b, ",\"keys\":");
		if (v[i].state == CKC_COMPLETE)
			json_put_uint(&b, v[i].keys);
		else
			json_put_raw(&b, "null");
		json_put_raw(&b, ",\"files\":");
		if (v[i].state == CKC_COMPLETE)
			json_put_uint(&b, v[i].nfiles);
		else
			json_put_raw(&b, "null");
		json_put_raw(&b, ",\"bytes\":");
		json_put_uint(&b, v[i].bytes);
		json_put_raw(&b, "}");
	}
	json_put_raw(&b, "]");
	puts(b.data);
	json_free(&b);
}

#define CKC_NCOLS	5

static void
ckc_list_text(const struct ckc_entry *v, size_t n)
{
	static const char *titles[CKC_NCOLS] = { "NAME", "TIME", "KEYS", "SIZE", "STATE" };
	static const int right[CKC_NCOLS] = { 0, 0, 1, 1, 0 };
	char (*cells)[CKC_NCOLS][PS_CKPT_NAMELEN];
	size_t width[CKC_NCOLS], i, j, w;

	cells = xcalloc(n + 1, sizeof *cells);
	for (j = 0; j < CKC_NCOLS; j++)
		snprintf(cells[0][j], sizeof cells[0][j], "%s", titles[j]);
	for (i = 0; i < n; i++) {
		snprintf(cells[i + 1][0], sizeof cells[i + 1][0], "%s", v[i].name);
		ckc_time(v[i].when, cells[i + 1][1], sizeof cells[i + 1][1]);
		if (v[i].state == CKC_COMPLETE)
			snprintf(cells[i + 1][2], sizeof cells[i + 1][2], "%" PRIu64,
			    v[i].keys);
		else
			snprintf(cells[i + 1][2], sizeof cells[i + 1][2], "-");
		ckc_bytes(v[i].bytes, cells[i + 1][3], sizeof cells[i + 1][3]);
		snprintf(cells[i + 1][4], sizeof cells[i + 1][4], "%s",
		    ckc_state_names[v[i].state]);
	}
	for (j = 0; j < CKC_NCOLS; j++) {
		width[j] = 0;
		for (i = 0; i < n + 1; i++)
			if ((w = strlen(cells[i][j])) > width[j])
				width[j] = w;
	}
	for (i = 0; i < n + 1; i++) {
		for (j = 0; j < CKC_NCOLS; j++) {
			if (j > 0)
				fputs("  ", stdout);
			if (right[j])
				printf("%*s", (int)width[j], cells[i][j]);
			else if (j + 1 < CKC_NCOLS)
				printf("%-*s", (int)width[j], cells[i][j]);
			else
				fputs(cells[i][j], stdout);
		}
		putchar('\n');
	}
	free(cells);
}

static int
ckc_list(struct ps_ckptcmd *k, const struct ckc_cmd *cmd, const char *arg)
{
	struct ckc_entry *v;
	size_t n;
	char *cause;

	(void)cmd;
	(void)arg;
	if (ckc_scan(ckc_dir(k), &v, &n, &cause) != 0)
		return ckc_fail(cause);
	if (k->json)
		ckc_list_json(v, n);
	else
		ckc_list_text(v, n);
	free(v);
	return PS_EXIT_OK;
}

/* verify */

static int
ckc_verify(struct ps_ckptcmd *k, const struct ckc_cmd *cmd, const char *arg)
{
	struct ps_manifest m;
	char *path, *cause;
	int status;

	if ((status = ckc_folder(k, cmd, arg, &path)) != PS_EXIT_OK)
		return status;
	if (ckc_manifest(path, &m, &cause) != 0) {
		free(path);
		return ckc_fail(cause);
	}
	if (ckpt_check(path, &m, &cause) != 0) {
		ckpt_manifest_free(&m);
		free(path);
		return ckc_fail(cause);
	}
	log_debug("%s: %zu files, %" PRIu64 " keys: every checksum is good", path,
	    m.nfiles, m.keys);
	ckpt_manifest_free(&m);
	free(path);
	return PS_EXIT_OK;
}

/* prune */

static int
ckc_prune(struct ps_ckptcmd *k, const struct ckc_cmd *cmd, const char *arg)
{
	const char *dir = ckc_dir(k);
	struct ckc_entry *v;
	size_t n, i, newest = SIZE_MAX, complete = 0, kept = 0;
	char *path, *cause;
	int status = PS_EXIT_OK;

	(void)cmd;
	(void)arg;
	if (ckc_lock(k, dir, &cause) != 0 || ckc_scan(dir, &v, &n, &cause) != 0)
		return ckc_fail(cause);
	for (i = 0; i < n; i++) {
		if (v[i].state == CKC_COMPLETE) {
			newest = i;
			complete++;
		}
	}
	if (newest == SIZE_MAX) {
		log_debug("%s: no complete checkpoint: nothing removed", dir);
		free(v);
		return PS_EXIT_OK;
	}
	/* Newest first: keep the first k->keep complete ones, and every folder
	 * newer than the newest complete one (a save under way, or one to look at). */
	for (i = n; i-- > 0;) {
		if (i > newest)
			continue;
		if (v[i].state == CKC_COMPLETE && kept < (size_t)k->keep) {
			kept++;
			continue;
		}
		xasprintf(&path, "%s/%s", dir, v[i].name);
		if (ckc_remove(path, PS_CKPT_MANIFEST, &cause) != 0) {
			/* go on with the others; the first failure is the one reported */
			if (status == PS_EXIT_OK)
				ckc_fail(cause);
			else {
				log_debug("%s", cause);
				free(cause);
			}
			status = PS_EXIT_ERROR;
		} else
			log_debug("removed %s (%s)", path, ckc_state_names[v[i].state]);
		free(path);
	}
	if (status == PS_EXIT_OK && ckpt_sync_dir(dir, &cause) != 0)
		status = ckc_fail(cause);
	free(v);
	return status;
}

/* export */

struct ckc_key {
	uint64_t	 key;
	uint64_t	 at;		/* its weights: w[at * dim ...] */
};

static int
ckc_key_cmp(const void *a, const void *b)
{
	const struct ckc_key *x = a, *y = b;

	return (x->key > y->key) - (x->key < y->key);
}


/* Read every entry of one file of m into keys and w. */
static int
ckc_export_file(const char *dir, const struct ps_manifest *m,
    const struct ps_ckpt_file *f, struct ckc_key **keys, float **w, uint64_t *n,
    uint64_t *cap, char **cause)
{
	const struct ps_ckpt_header *h;
	struct ps_ckpt_reader *r;
	const float *state;
	uint64_t key;
	uint32_t count;
	uint16_t slot;
	char *path;
	int rv, st;

	xasprintf(&path, "%s/%s", dir, f->name);
	if ((r = ckpt_open(path, cause)) == NULL) {
		free(path);
		return -1;
	}
	h = ckpt_header(r);
	rv = -1;
	if (h->optim.kind != m->kind || h->optim.dim != m->dim || h->width != m->width) {
		xasprintf(cause, "%s: %s, dim %u, width %u; the MANIFEST says %s, dim %u, "
		    "width %u", path, optim_name(h->optim.kind), h->optim.dim, h->width,
		    optim_name(m->kind), m->dim, m->width);
		goto out;
	}
	if (h->keys != f->keys) {
		xasprintf(cause, "%s: %" PRIu64 " keys; the MANIFEST says %" PRIu64, path,
		    h->keys, f->keys);
		goto out;
	}
	if (h->keys > 0 && *cap - *n < h->keys) {
		*cap = *n + h->keys;
		*keys = xreallocarray(*keys, *cap, sizeof **keys);
		*w = xreallocarray(*w, *cap, (size_t)m->dim * sizeof **w);
	}
	while ((st = ckpt_next_slot(r, &slot, &count, cause)) == 1) {
		while ((st = ckpt_next_entry(r, &key, &state, cause)) == 1) {
			if (*n == *cap) {	/* the reader checks the counts: not reached */
				xasprintf(cause, "%s: more keys than its header says", path);
				goto out;
			}
			(*keys)[*n].key = key;
			(*keys)[*n].at = *n;
			optim_pull(&h->optim, state, *w + *n * m->dim);
			(*n)++;
		}
		if (st == -1)
			goto out;
	}
	if (st == -1)
		goto out;
	if (ckpt_sum(r) != f->sum) {
		xasprintf(cause, "%s: checksum 0x%016" PRIx64 ", the MANIFEST says 0x%016"
		    PRIx64, path, ckpt_sum(r), f->sum);
		goto out;
	}
	rv = 0;
out:
	ckpt_close(r);
	free(path);
	return rv;
}

static int
ckc_export(struct ps_ckptcmd *k, const struct ckc_cmd *cmd, const char *arg)
{
	struct ps_manifest m;
	struct ckc_key *keys = NULL;
	float *w = NULL, *v;
	uint64_t n = 0, cap = 0, i;
	uint32_t d;
	char *path, *cause;
	int status;

	if ((status = ckc_folder(k, cmd, arg, &path)) != PS_EXIT_OK)
		return status;
	if (ckc_manifest(path, &m, &cause) != 0) {
		free(path);
		return ckc_fail(cause);
	}
	/* Everything is read, every checksum checked, before the first line. */
	for (i = 0; i < m.nfiles; i++) {
		if (ckc_export_file(path, &m, &m.files[i], &keys, &w, &n, &cap,
		    &cause) != 0) {
			status = ckc_fail(cause);
			goto out;
		}
	}
	if (n > 0)
		qsort(keys, n, sizeof *keys, ckc_key_cmp);
	for (i = 1; i < n; i++) {
		if (keys[i].key == keys[i - 1].key) {
			xasprintf(&cause, "%s: key %" PRIu64 " is there twice", path,
			    keys[i].key);
			status = ckc_fail(cause);
			goto out;
		}
	}
	/* stop at the first failed write: a reader that has gone takes no more */
	for (i = 0; i < n && ckc_out_check() == 0; i++) {
		printf("%" PRIu64 "\t", keys[i].key);
		v = w + keys[i].at * m.dim;
		for (d = 0; d < m.dim; d++) {
			/* 9 digits give back the exact float, as ps-ctl get */
			printf(d > 0 ? " %.9g" : "%.9g", (double)v[d]);
		}
		putchar('\n');
	}
	log_debug("%s: %" PRIu64 " of %" PRIu64 " keys exported", path, i, n);
out:
	free(keys);
	free(w);
	ckpt_manifest_free(&m);
	free(path);
	return status;
}

/* save */

/* Connect to the scheduler and shake hands; both are bounded (NET_CONNECT_SECS). */
static int
ckc_connect(struct ps_ckptcmd *k, struct ps_conn *c, char **cause)
{
	const struct ps_conf *conf = k->conf;
	char *why, name[128];
	size_t len;

	/* a scheduler that closes first must give an error, not kill ps-ckpt */
	signal(SIGPIPE, SIG_IGN);
	len = (size_t)snprintf(name, sizeof name, "%s:%d", conf->scheduler_host,
	    conf->scheduler_port);
	if (conn_open(c, conf->scheduler_host, conf->scheduler_port, PS_ROLE_CLIENT, 0,
	    CKC_PROGNAME, (size_t)conf->max_frame, 0, &why) != 0) {
		if (strncmp(why, name, len) == 0 && why[len] == ':')
			xasprintf(cause, "scheduler %s", why);
		else
			xasprintf(cause, "scheduler %s: %s", name, why);
		free(why);
		return -1;
	}
	log_debug("connected to the scheduler at %s", c->name);
	return 0;
}

/* A number of the reply, or NAN if it is missing or not a number. */
static double
ckc_number(const msgpack_object *o)
{
	double v;

	return msg_obj_number(o, &v) ? v : NAN;
}

/* What the scheduler said of a save. */
struct ckc_saved {
	uint64_t	  epoch;
	uint64_t	  keys;
	double		  pause;
	double		  seconds;
	char		**files;
	size_t		  nfiles;
};

static void
ckc_saved_free(struct ckc_saved *s)
{
	size_t i;

	for (i = 0; i < s->nfiles; i++)
		free(s->files[i]);
	free(s->files);
	memset(s, 0, sizeof *s);
}

/* Ask the scheduler for a save into folder (absolute), and wait for its answer for
 * as long as it takes: the servers write the whole model. */
static int
ckc_request_save(struct ps_ckptcmd *k, const char *folder, struct ckc_saved *out,
    char **cause)
{
	const msgpack_object *o, *files, *epoch;
	struct ps_conn c;
	struct ps_wbuf w;
	struct ps_msg m;
	struct ps_hdr h = msg_hdr(PS_MSG_CKPT_SAVE, 1, 0, 0);
	char *why;
	uint32_t i;
	int rv = -1;

	memset(out, 0, sizeof *out);
	if (ckc_connect(k, &c, cause) != 0)
		return -1;
	conn_set_timeout(&c, 0);
	wbuf_init(&w);
	msg_begin(&w, &h, 1);
	msg_put_str(&w, folder);
	msg_end(&w);
	log_debug("CKPT_SAVE %s to %s", folder, c.name);
	if (conn_send(&c, &w, &why) != 0 || conn_recv(&c, &m, &why) != 0) {
		xasprintf(cause, "scheduler %s", why);
		free(why);
		wbuf_free(&w);
		conn_close(&c);
		return -1;
	}
	wbuf_free(&w);
	if (m.hdr.type == PS_MSG_ERROR) {
		why = msg_strdup(&m, 1);
		xasprintf(cause, "save: %s", why);
		free(why);
		goto out;
	}
	if (m.hdr.type != PS_MSG_CTL_OK) {
		xasprintf(cause, "scheduler %s: expected CTL_OK, got %s", c.name,
		    proto_type_name(m.hdr.type));
		goto out;
	}
	o = &m.args[0];
	files = msg_map_get(o, "files");
	epoch = msg_map_get(o, "epoch");
	if (files == NULL || files->type != MSGPACK_OBJECT_ARRAY || epoch == NULL ||
	    epoch->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
		xasprintf(cause, "scheduler %s: CTL_OK without epoch and files", c.name);
		goto out;
	}
	out->epoch = epoch->via.u64;
	out->pause = ckc_number(msg_map_get(o, "pause"));
	out->seconds = ckc_number(msg_map_get(o, "seconds"));
	o = msg_map_get(o, "keys");
	out->keys = o != NULL && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ?
	    o->via.u64 : 0;
	out->files = xcalloc(files->via.array.size + 1, sizeof *out->files);
	for (i = 0; i < files->via.array.size; i++) {
		o = &files->via.array.ptr[i];
		if (o->type != MSGPACK_OBJECT_STR || o->via.str.size == 0 ||
		    o->via.str.size >= PS_CKPT_NAMELEN) {
			xasprintf(cause, "scheduler %s: CTL_OK: file %u is not a name",
			    c.name, i);
			goto out;
		}
		out->files[out->nfiles++] = xstrndup(o->via.str.ptr, o->via.str.size);
		/* a server's word, but ours to open: in the folder, and nowhere else */
		if (!ckpt_name_ok(out->files[i]) ||
		    strcmp(out->files[i], PS_CKPT_MANIFEST) == 0 ||
		    strcmp(out->files[i], PS_CKPT_MANIFEST_TMP) == 0) {
			xasprintf(cause, "scheduler %s: CTL_OK: '%s' is not a slot "
			    "file's name", c.name, out->files[i]);
			goto out;
		}
	}
	rv = 0;
out:
	msg_free(&m);
	conn_close(&c);
	if (rv != 0)
		ckc_saved_free(out);
	return rv;
}

static int
ckc_file_cmp(const void *a, const void *b)
{
	const struct ps_ckpt_file *x = a, *y = b;

	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The MANIFEST of a save: each file as its header says, the optimizer of the first. */
static int
ckc_save_manifest(const char *folder, const char *name, time_t created,
    const struct ckc_saved *s, struct ps_manifest *m, char **cause)
{
	struct ps_ckpt_header h;
	struct ps_ckpt_file f, *got;
	uint64_t nslots = 0;
	size_t i;
	char *path;

	memset(m, 0, sizeof *m);
	if (s->nfiles == 0) {
		xasprintf(cause, "save: the scheduler reports no file written");
		return -1;
	}
	got = xreallocarray(NULL, s->nfiles, sizeof *got);
	snprintf(m->name, sizeof m->name, "%s", name);
	m->created = created;
	m->epoch = s->epoch;
	for (i = 0; i < s->nfiles; i++) {
		xasprintf(&path, "%s/%s", folder, s->files[i]);
		if (ckpt_peek(path, &h, &f, cause) != 0) {
			free(path);
			goto fail;
		}
		if (i == 0) {
			m->kind = h.optim.kind;
			m->dim = h.optim.dim;
			m->width = h.width;
		} else if (h.optim.kind != m->kind || h.optim.dim != m->dim ||
		    h.width != m->width) {
			xasprintf(cause, "%s: %s, dim %u; but %s/%s: %s, dim %u: the servers "
			    "do not run the same optimizer", path, optim_name(h.optim.kind),
			    h.optim.dim, folder, s->files[0], optim_name(m->kind), m->dim);
			free(path);
			goto fail;
		}
		if (h.epoch != s->epoch)
			log_debug("%s: written at map epoch %" PRIu64 ", the save's is %"
			    PRIu64, path, h.epoch, s->epoch);
		free(path);
		nslots += f.nslots;
		got[i] = f;
	}
	/* in slot order, whatever the order the servers answered in */
	qsort(got, s->nfiles, sizeof *got, ckc_file_cmp);
	for (i = 0; i < s->nfiles; i++)
		ckpt_manifest_add(m, &got[i]);
	/* Cheap, and worth it: every slot is in exactly one file, so the counts add
	 * up to the whole map (save --verify checks each slot). */
	if (nslots != PS_NSLOTS) {
		xasprintf(cause, "save: the files hold %" PRIu64 " slots, not %d: the "
		    "checkpoint would not be whole", nslots, PS_NSLOTS);
		goto fail;
	}
	if (m->keys != s->keys)
		log_debug("save: the files hold %" PRIu64 " keys, the scheduler counted %"
		    PRIu64, m->keys, s->keys);
	free(got);
	return 0;
fail:
	free(got);
	ckpt_manifest_free(m);
	return -1;
}

/* Make <dir>/<UTC time>[-N], new; its name in name. */
/* One more than the highest N of dir's STAMP and STAMP-N (1 for STAMP), or 1. */
static int
ckc_next_seq(const char *dir, const char *stamp)
{
	struct dirent *e;
	size_t n = strlen(stamp);
	long seq, top = 0;
	char *end;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return 1;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, stamp, n) != 0)
			continue;
		if (e->d_name[n] == '\0')
			seq = 1;
		else if (e->d_name[n] == '-') {
			seq = strtol(e->d_name + n + 1, &end, 10);
			if (*end != '\0' || seq < 2)
				continue;
		} else
			continue;
		if (seq > top)
			top = seq;
	}
	closedir(d);
	return top + 1 > INT_MAX ? INT_MAX : (int)top + 1;
}

static int
ckc_make_folder(const char *dir, time_t now, char *name, size_t len, char **cause)
{
	struct tm tm;
	char stamp[32], *path;
	int i;

	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm) == 0) {
		xasprintf(cause, "save: the time of day cannot be formatted");
		return -1;
	}
	/* Above every checkpoint of this second that is there, even if one below was
	 * pruned: a new save must sort after them, as latest and list order them. */
	for (i = ckc_next_seq(dir, stamp); i <= CKC_NAME_TRIES; i++) {
		if (i == 1)
			snprintf(name, len, "%s", stamp);
		else
			snprintf(name, len, "%s-%d", stamp, i);
		xasprintf(&path, "%s/%s", dir, name);
		if (mkdir(path, 0777) == 0) {
			free(path);
			return 0;
		}
		if (errno != EEXIST) {
			xasprintf(cause, "%s: %s", path, strerror(errno));
			free(path);
			return -1;
		}
		free(path);
	}
	xasprintf(cause, "%s/%s: %d checkpoints made this second already", dir, stamp,
	    CKC_NAME_TRIES);
	return -1;
}

static void
ckc_save_json(const char *folder, const char *name, const struct ps_manifest *m,
    const struct ckc_saved *s)
{
	struct json_buf b;

	json_init(&b);
	json_put_raw(&b, "{\"path\":");
	json_put_str(&b, folder, strlen(folder));
	json_put_raw(&b, ",\"name\":");
	json_put_str(&b, name, strlen(name));
	json_put_raw(&b, ",\"epoch\":");
	json_put_uint(&b, m->epoch);
	json_put_raw(&b, ",\"files\":");
	json_put_uint(&b, m->nfiles);
	json_put_raw(&b, ",\"keys\":");
	json_put_uint(&b, m->keys);
	json_put_raw(&b, ",\"pause\":");
	json_put_double(&b, s->pause);
	json_put_raw(&b, ",\"seconds\":");
	json_put_double(&b, s->seconds);
	json_put_raw(&b, "}");
	puts(b.data);
	json_free(&b);
}

static int
ckc_save(struct ps_ckptcmd *k, const struct ckc_cmd *cmd, const char *arg)
{
	const char *dir = ckc_dir(k);
	struct ckc_saved s;
	struct ps_manifest m;
	char name[PS_CKPT_NAMELEN], *rel = NULL, *folder = NULL, *cause, *why;
	time_t now;

	(void)cmd;
	(void)arg;
	memset(&s, 0, sizeof s);
	memset(&m, 0, sizeof m);
	if (ckc_mkdirs(dir, &cause) != 0 || ckc_lock(k, dir, &cause) != 0)
		return ckc_fail(cause);
	now = time(NULL);
	if (ckc_make_folder(dir, now, name, sizeof name, &cause) != 0)
		return ckc_fail(cause);
	xasprintf(&rel, "%s/%s", dir, name);
	/* The servers resolve the path themselves, from their own working folder. */
	if ((folder = realpath(rel, NULL)) == NULL) {
		xasprintf(&cause, "%s: %s", rel, strerror(errno));
		goto fail;
	}
	log_debug("saving into %s", folder);
	if (ckc_request_save(k, folder, &s, &cause) != 0)
		goto fail;
	if (ckc_save_manifest(folder, name, now, &s, &m, &cause) != 0)
		goto fail;
	if (k->verify && ckpt_check(folder, &m, &cause) != 0)
		goto fail;
	if (ckpt_manifest_write(folder, &m, &cause) != 0)
		goto fail;
	/* the checkpoint's own name in the folder of checkpoints, made durable too */
	if (ckpt_sync_dir(dir, &cause) != 0)
		goto fail;
	log_debug("%s: %zu files, %" PRIu64 " keys at map epoch %" PRIu64 " in %.3f s; "
	    "longest fork pause %.3f ms", folder, m.nfiles, m.keys, m.epoch, s.seconds,
	    s.pause * 1e3);
	if (k->json)
		ckc_save_json(folder, name, &m, &s);
	else
		printf("%s\n", folder);
	if (ckc_out_flush() != 0) {
		/* The checkpoint is whole: it stays, though its path could not be told.
		 * A closed pipe too is an error here, unlike for list and export: the
		 * path is the save's whole result, and a cron job must learn it. */
		xasprintf(&cause, "%s saved, but standard output: %s", folder,
		    strerror(ckc_out_errno));
		free(rel);
		free(folder);
		ckpt_manifest_free(&m);
		ckc_saved_free(&s);
		return ckc_fail(cause);
	}
	free(rel);
	free(folder);
	ckpt_manifest_free(&m);
	ckc_saved_free(&s);
	return PS_EXIT_OK;

fail:
	/* best effort: the failure reported is the save's, not the clean-up's */
	if (ckc_remove(rel, PS_CKPT_MANIFEST, &why) != 0) {
		log_debug("removing the incomplete checkpoint: %s", why);
		free(why);
	}
	free(rel);
	free(folder);
	ckpt_manifest_free(&m);
	ckc_saved_free(&s);
	return ckc_fail(cause);
}

/* The command line. */

int
ckptcmd_parse_wait(const char *s, double *v)
{
	char *end;

	if (*s == '\0' || *s == ' ' || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	*v = strtod(s, &end);
	if (*end != '\0' || errno != 0 || !isfinite(*v) || *v < 0 ||
	    *v > CKPTCMD_WAIT_MAX)
		return -1;
	return 0;
}

/* The value of option name at argv[*i]: "--name value" or "--name=value"; NULL if
 * argv[*i] is not that option, "" if its value is missing. */
static const char *
ckc_option(int argc, char **argv, int *i, const char *name)
{
	size_t len = strlen(name);

	if (strcmp(argv[*i], name) == 0)
		return *i + 1 < argc ? argv[++*i] : "";
	if (strncmp(argv[*i], name, len) == 0 && argv[*i][len] == '=')
		return argv[*i] + len + 1;
	return NULL;
}

static int
ckc_parse_keep(const char *s, int *keep)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (*end != '\0' || errno != 0 || v < 1 || v > INT_MAX)
		return -1;
	*keep = (int)v;
	return 0;
}

int
ckptcmd_run(struct ps_ckptcmd *k, int argc, char **argv)
{
	const struct ckc_cmd *cmd = NULL;
	const char *v, *arg = NULL;
	size_t c;
	int i, status;

	if (argc < 1)
		return PS_EXIT_USAGE;
	for (c = 0; c < CKC_NCMDS; c++)
		if (strcmp(ckc_cmds[c].name, argv[0]) == 0)
			cmd = &ckc_cmds[c];
	if (cmd == NULL) {
		log_error("unknown command '%s' (try --help)", argv[0]);
		return PS_EXIT_USAGE;
	}
	for (i = 1; i < argc; i++) {
		if ((v = ckc_option(argc, argv, &i, "--dir")) != NULL) {
			if (*v == '\0')
				return ckc_usage(cmd, "--dir needs a folder");
			k->dir = v;
		} else if (strcmp(argv[i], "--json") == 0)
			k->json = 1;
		else if ((v = ckc_option(argc, argv, &i, "--wait")) != NULL) {
			if (ckptcmd_parse_wait(v, &k->wait) != 0)
				return ckc_usage(cmd, "--wait '%s': want seconds, 0 to "
				    "%.0f", v, CKPTCMD_WAIT_MAX);
		} else if ((cmd->flags & CKC_KEEP) &&
		    (v = ckc_option(argc, argv, &i, "--keep")) != NULL) {
			if (ckc_parse_keep(v, &k->keep) != 0)
				return ckc_usage(cmd, "--keep '%s': want a number >= 1 "
				    "(the newest complete checkpoint is never removed)", v);
		} else if ((cmd->flags & CKC_VERIFY) && strcmp(argv[i], "--verify") == 0)
			k->verify = 1;
		else if (argv[i][0] == '-' && argv[i][1] != '\0')
			return ckc_usage(cmd, "unknown option '%s'", argv[i]);
		else if ((cmd->flags & CKC_NAME) && arg == NULL)
			arg = argv[i];
		else
			return ckc_usage(cmd, "unexpected argument '%s'", argv[i]);
	}
	if ((cmd->flags & CKC_NAME) && arg == NULL)
		return ckc_usage(cmd, "which checkpoint?");
	if ((cmd->flags & CKC_KEEP) && k->keep == 0)
		return ckc_usage(cmd, "--keep N is required");
	if (*ckc_dir(k) == '\0')
		return ckc_usage(cmd, "the folder of checkpoints is empty");
	status = cmd->run(k, cmd, arg);
	/* A full disk must not pass for success; a closed pipe (| head) ends the
	 * output quietly, the status is the command's (save has told it already). */
	if (ckc_out_flush() != 0 && status == PS_EXIT_OK && ckc_out_errno != EPIPE) {
		log_error("%s: standard output: %s", cmd->name, strerror(ckc_out_errno));
		status = PS_EXIT_ERROR;
	}
	return status;
}

void
ckptcmd_help(FILE *f)
{
	char syntax[64];
	size_t i;

	fprintf(f, "commands:\n");
	for (i = 0; i < CKC_NCMDS; i++) {
		snprintf(syntax, sizeof syntax, "%s%s%s", ckc_cmds[i].name,
		    *ckc_cmds[i].args ? " " : "", ckc_cmds[i].args);
		fprintf(f, "  %-20s %s\n", syntax, ckc_cmds[i].help);
	}
}

/*
 * restore: every entry of the checkpoint goes, as a whole state (LOAD), to the server
 * that owns its slot now, so the job may have any number of servers. The checkpoint
 * is verified whole first: a damaged one loads nothing.
 */
#define CKC_RESTORE_BATCH	((size_t)1 << 20)	/* keys a LOAD call */

struct ckc_entry_ref {
	uint64_t	 key;
	size_t		 at;
};

static int
ckc_ref_cmp(const void *a, const void *b)
{
	const struct ckc_entry_ref *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

/* Load n buffered entries: sorted by key, as LOAD wants. */
static int
ckc_restore_flush(struct ps_client *c, struct ckc_entry_ref *refs, const float *states,
    uint64_t *keys, float *sorted, size_t n, uint32_t width, char **cause)
{
	size_t i;

	qsort(refs, n, sizeof *refs, ckc_ref_cmp);
	for (i = 0; i < n; i++) {
		keys[i] = refs[i].key;
		memcpy(sorted + i * width, states + refs[i].at * width, width * sizeof *sorted);
	}
	return client_load(c, keys, n, sorted, width, cause);
}

static int
ckc_restore_file(struct ps_client *c, const char *path, uint32_t width, uint64_t *total,
    char **cause)
{
	struct ckc_entry_ref *refs;
	struct ps_ckpt_reader *r;
	const float *state;
	float *states, *sorted;
	uint64_t *keys, key;
	uint32_t count;
	uint16_t slot;
	size_t n = 0;
	int st, rv = -1;

	if ((r = ckpt_open(path, cause)) == NULL)
		return -1;
	refs = xreallocarray(NULL, CKC_RESTORE_BATCH, sizeof *refs);
	keys = xreallocarray(NULL, CKC_RESTORE_BATCH, sizeof *keys);
	states = xreallocarray(NULL, CKC_RESTORE_BATCH, width * sizeof *states);
	sorted = xreallocarray(NULL, CKC_RESTORE_BATCH, width * sizeof *sorted);
	while ((st = ckpt_next_slot(r, &slot, &count, cause)) == 1) {
		while ((st = ckpt_next_entry(r, &key, &state, cause)) == 1) {
			refs[n].key = key;
			refs[n].at = n;
			memcpy(states + n * width, state, width * sizeof *states);
			if (++n == CKC_RESTORE_BATCH) {
				if (ckc_restore_flush(c, refs, states, keys, sorted, n, width,
				    cause) != 0)
					goto out;
				*total += n;
				n = 0;
			}
		}
		if (st == -1)
			goto out;
	}
	if (st == -1)
		goto out;
	if (n > 0 && ckc_restore_flush(c, refs, states, keys, sorted, n, width, cause) != 0)
		goto out;
	*total += n;
	rv = 0;
out:
	ckpt_close(r);
	free(refs);
	free(keys);
	free(states);
	free(sorted);
	return rv;
}

static int
ckc_restore(struct ps_ckptcmd *k, const struct ckc_cmd *cmd, const char *arg)
{
	const struct ps_conf *conf = k->conf;
	struct ps_manifest m;
	struct ps_client c;
	uint64_t total = 0;
	char *path, *cause, *file;
	size_t i;
	int status;

	if ((status = ckc_folder(k, cmd, arg, &path)) != PS_EXIT_OK)
		return status;
	if (ckc_manifest(path, &m, &cause) != 0) {
		free(path);
		return ckc_fail(cause);
	}
	if (ckpt_check(path, &m, &cause) != 0)
		goto fail;
	if (client_open(&c, conf, PS_ROLE_CLIENT, "ps-ckpt", &cause) != 0) {
		file = cause;
		xasprintf(&cause, "scheduler %s:%d: %s", conf->scheduler_host,
		    conf->scheduler_port, file);
		free(file);
		goto fail;
	}
	/* The job's optimizer (the scheduler's) must be the checkpoint's, state and all. */
	conf = c.conf;
	if (m.kind != conf->optim.kind || m.dim != conf->optim.dim ||
	    m.width != optim_width(&conf->optim)) {
		xasprintf(&cause, "%s: saved with %s, dim %u, %u floats a key; the job runs "
		    "%s, dim %u, %u floats a key", path, optim_name(m.kind), m.dim, m.width,
		    optim_name(conf->optim.kind), conf->optim.dim, optim_width(&conf->optim));
		client_close(&c);
		goto fail;
	}
	for (i = 0; i < m.nfiles; i++) {
		xasprintf(&file, "%s/%s", path, m.files[i].name);
		status = ckc_restore_file(&c, file, m.width, &total, &cause);
		free(file);
		if (status != 0) {
			client_close(&c);
			goto fail;
		}
	}
	client_close(&c);
	log_debug("%s: %" PRIu64 " keys restored", path, total);
	/* the keys are loaded: standard output is ckptcmd_run's to check */
	printf("restored %" PRIu64 " keys from %s\n", total, path);
	ckpt_manifest_free(&m);
	free(path);
	return PS_EXIT_OK;
fail:
	ckpt_manifest_free(&m);
	free(path);
	return ckc_fail(cause);
}

