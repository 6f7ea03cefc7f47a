/* Socket helpers shared by the event-loop and the blocking sides. */
#ifndef PS_NET_H
#define PS_NET_H

#include <stddef.h>

/* Seconds a connect may take before it fails. */
#define NET_CONNECT_SECS	5

/* Connect to host:port (blocking, at most NET_CONNECT_SECS), TCP_NODELAY on. fd or -1
 * and cause. */
int	net_connect(const char *host, int port, char **cause);
/* Bound and listening socket on host:port. fd or -1 and cause; *bound = actual port. */
int	net_listen(const char *host, int port, int *bound, char **cause);
void	net_nodelay(int fd);
/* "host:port" of the remote end, into buf. */
void	net_peername(int fd, char *buf, size_t len);
/* Monotonic seconds. */
double	net_now(void);

#endif
