/* Log lines look like "ps-server[123]: warn: message": one line, a level, stderr only. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ps/log.h"

static const char *log_name = "ps";
static int log_level = PS_LOG_INFO;

static const char *level_names[] = { "error", "warn", "info", "debug" };

void
log_init(const char *progname, int verbose)
{
	const char *slash = strrchr(progname, '/');

	log_name = slash != NULL ? slash + 1 : progname;
	if (verbose < 0)
		log_level = PS_LOG_WARN;
	else if (verbose == 0)
		log_level = PS_LOG_INFO;
	else
		log_level = PS_LOG_DEBUG;
}

int
log_verbose(void)
{
	return log_level >= PS_LOG_DEBUG;
}

static void
log_vwrite(int level, int with_errno, const char *fmt, va_list ap)
{
	char	msg[2048];
	int	saved = errno;

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	/* One fprintf per line so lines from concurrent processes do not interleave. */
	if (with_errno)
		fprintf(stderr, "%s[%ld]: %s: %s: %s\n", log_name, (long)getpid(),
		    level_names[level], msg, strerror(saved));
	else
		fprintf(stderr, "%s[%ld]: %s: %s\n", log_name, (long)getpid(),
		    level_names[level], msg);
	errno = saved;
}

#define LOG_FN(name, level, with_errno)				\
void								\
name(const char *fmt, ...)					\
{								\
	va_list ap;						\
	va_start(ap, fmt);					\
	log_vwrite(level, with_errno, fmt, ap);			\
	va_end(ap);						\
}

LOG_FN(log_error, PS_LOG_ERROR, 0)
LOG_FN(log_warn, PS_LOG_WARN, 1)
LOG_FN(log_warnx, PS_LOG_WARN, 0)
LOG_FN(log_info, PS_LOG_INFO, 0)
LOG_FN(log_debug, PS_LOG_DEBUG, 0)

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(PS_LOG_ERROR, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(PS_LOG_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
