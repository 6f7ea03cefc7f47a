/*
 * A worker's progress. On a terminal, one line on stderr, rewritten in place ("\r",
 * the text, then clear to the end of the line) and left with the cursor after it,
 * as wget and rsync do; the worker erases it before anything else goes to the
 * terminal (its own log lines: the other modules log only at debug level, and -v
 * turns the line off). For a supervisor, a file rewritten whole (a temporary file
 * renamed over it) so a reader never sees half a line. Updates come from the
 * reading loop, at most once a second: input that stalls leaves the last figures.
 */
#include <sys/ioctl.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ps/log.h"
#include "ps/progress.h"
#include "ps/xmalloc.h"

#define PROGRESS_INTERVAL	1.0	/* seconds between updates */

static double
progress_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void
progress_init(struct ps_progress *p, const char *prog, int tty, const char *path)
{
	memset(p, 0, sizeof *p);
	p->prog = prog;
	p->tty = tty;
	if (path != NULL) {
		p->path = xstrdup(path);
		xasprintf(&p->tmp, "%s.tmp", path);
	}
}

void
progress_free(struct ps_progress *p)
{
	progress_clear(p);
	free(p->path);
	free(p->tmp);
	memset(p, 0, sizeof *p);
}

void
progress_stage(struct ps_progress *p, const char *what, const struct ps_eval *eval,
    int to_file)
{
	p->what = what;
	p->eval = eval;
	p->to_file = to_file;
	p->read = p->last_read = 0;
	p->rate = 0;
	p->last = progress_now();
}

static void
progress_draw(struct ps_progress *p)
{
	struct winsize ws;
	char line[256];
	int len;

	len = snprintf(line, sizeof line, "\r%s: %s: %" PRIu64 " examples, %.0f/s",
	    p->prog, p->what, p->read, p->rate);
	if (p->eval != NULL && p->eval->n > 0 && len < (int)sizeof line) {
		if (p->eval->squared)
			len += snprintf(line + len, sizeof line - len, ", rmse %.4f",
			    sqrt(p->eval->sq_sum / p->eval->n));
		else
			len += snprintf(line + len, sizeof line - len, ", logloss %.4f",
			    p->eval->loss_sum / p->eval->n);
	}
	if (len >= (int)sizeof line)
		len = sizeof line - 1;
	/* A line wider than the terminal wraps, and "\r" would redraw only its end. */
	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1 &&
	    len > ws.ws_col)
		len = ws.ws_col;	/* "\r" and ws_col - 1 characters */
	fwrite(line, 1, len, stderr);
	fputs("\033[K", stderr);
	p->shown = 1;
}

static void
progress_write(struct ps_progress *p)
{
	FILE *f;
	uint64_t n = p->eval != NULL ? p->eval->n : 0;
	double loss = p->eval != NULL ? p->eval->loss_sum : 0;

	if ((f = fopen(p->tmp, "w")) == NULL)
		goto fail;
	fprintf(f, "examples=%" PRIu64 " trained=%" PRIu64 " loss_sum=%.6f\n", p->read,
	    n, loss);
	if (fclose(f) == EOF || rename(p->tmp, p->path) != 0)
		goto fail;
	return;
fail:
	/* Once: a supervisor that removed its folder is going away anyway. */
	progress_clear(p);
	log_warn("%s", p->tmp);
	unlink(p->tmp);
	free(p->path);
	free(p->tmp);
	p->path = p->tmp = NULL;
}

static void
progress_update(struct ps_progress *p, double now)
{
	/* At the end of a stream, a moment after an update, keep that update's rate
	 * rather than take one from a handful of examples. */
	if (now > p->last && (p->last_read == 0 || now - p->last >= 0.25))
		p->rate = (p->read - p->last_read) / (now - p->last);
	p->last = now;
	p->last_read = p->read;
	if (p->tty)
		progress_draw(p);
	if (p->path != NULL && p->to_file)
		progress_write(p);
}

void
progress_add(struct ps_progress *p, uint64_t n)
{
	double now;

	p->read += n;
	if (!p->tty && p->path == NULL)
		return;
	if ((now = progress_now()) - p->last >= PROGRESS_INTERVAL)
		progress_update(p, now);
}

void
progress_flush(struct ps_progress *p)
{
	if (p->what == NULL || (!p->tty && p->path == NULL))
		return;
	progress_update(p, progress_now());
}

void
progress_clear(struct ps_progress *p)
{
	if (!p->shown)
		return;
	fputs("\r\033[K", stderr);
	p->shown = 0;
}
