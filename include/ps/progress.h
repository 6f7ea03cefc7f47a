/* A worker's progress, about once a second: a line on a terminal, updated in place,
 * and a one-line file a supervisor (ps-local) reads. Examples read, examples per
 * second, and the logloss so far of the stream's scored examples. */
#ifndef PS_PROGRESS_H
#define PS_PROGRESS_H

#include <stdint.h>

#include "ps/eval.h"

struct ps_progress {
	const char		*prog;		/* the line's prefix */
	int			 tty;		/* draw the line on stderr */
	char			*path;		/* --progress-file, or NULL */
	char			*tmp;		/* written, then renamed to path */
	int			 to_file;	/* this stage goes to the file */
	const char		*what;		/* the stage: "train", "predict", "test" */
	const struct ps_eval	*eval;		/* its loss so far, or NULL */
	uint64_t		 read;		/* examples read in this stage */
	uint64_t		 last_read;
	double			 last;		/* monotonic time of the last update */
	double			 rate;
	int			 shown;		/* a line is on the terminal */
};

/* tty: draw on stderr (the caller checked isatty and -q); path: a file, or NULL. */
void	progress_init(struct ps_progress *, const char *prog, int tty,
	    const char *path);
void	progress_free(struct ps_progress *);
/* A new stream; to_file: its figures go to the file (the input's, not a test's). */
void	progress_stage(struct ps_progress *, const char *what,
	    const struct ps_eval *, int to_file);
/* n more examples read: update if a second has passed. */
void	progress_add(struct ps_progress *, uint64_t n);
/* Update now, as at the end of a stream: the final figures. */
void	progress_flush(struct ps_progress *);
/* Erase the line, before anything else is written to the terminal. */
void	progress_clear(struct ps_progress *);

#endif
