/*
 * Log lines look like "2026-11-29T10:50:01.123Z ps-server[123] node 4: warn: message":
 * one line, the time (UTC, milliseconds), the program, its pid, its node id once the
 * scheduler gave it one, a level; stderr only.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ps/log.h"

static const char *log_name = "ps";
static int log_level = PS_LOG_INFO;
static _Atomic uint32_t log_node;	/* 0: not registered yet */

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

void
log_set_node(uint32_t id)
{
	log_node = id;
}

/* "2026-11-29T10:50:01.123Z": UTC, so lines from several hosts sort together. */
static void
log_time(char *buf, size_t len)
{
	struct timespec	ts;
	struct tm	tm;
	size_t		n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static void
log_vwrite(int level, int with_errno, const char *fmt, va_list ap)
{
	char	msg[2048], when[40], node[24] = "";
	int	saved = errno;

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof msg, fmt, ap);
	log_time(when, sizeof when);
	if (log_node != 0)
		snprintf(node, sizeof node, " node %u", (unsigned)log_node);
	/* One fprintf per line so lines from concurrent processes do not interleave. */
	if (with_errno)
		fprintf(stderr, "%s %s[%ld]%s: %s: %s: %s\n", when, log_name, (long)getpid(),
		    node, level_names[level], msg, strerror(saved));
	else
		fprintf(stderr, "%s %s[%ld]%s: %s: %s\n", when, log_name, (long)getpid(),
		    node, level_names[level], msg);
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
