/* Logging to stderr with a level, in the manner of OpenBSD's log.c. */
#ifndef PS_LOG_H
#define PS_LOG_H

#include <stdarg.h>
#include <stdint.h>

#define PS_PRINTF(a, b) __attribute__((format(printf, a, b)))

enum ps_log_level { PS_LOG_ERROR, PS_LOG_WARN, PS_LOG_INFO, PS_LOG_DEBUG };

/* verbose: -1 quiet (errors and warnings only), 0 info, 1+ debug. */
void log_init(const char *progname, int verbose);
int  log_verbose(void);
/* The node id the scheduler gave this process, shown in every line from now on. */
void log_set_node(uint32_t id);
void log_error(const char *, ...) PS_PRINTF(1, 2);	/* level error, no exit */
void log_warn(const char *, ...) PS_PRINTF(1, 2);	/* appends strerror(errno) */
void log_warnx(const char *, ...) PS_PRINTF(1, 2);
void log_info(const char *, ...) PS_PRINTF(1, 2);
void log_debug(const char *, ...) PS_PRINTF(1, 2);
_Noreturn void fatal(const char *, ...) PS_PRINTF(1, 2);	/* appends strerror(errno), exit 1 */
_Noreturn void fatalx(const char *, ...) PS_PRINTF(1, 2);	/* exit 1 */

#endif
