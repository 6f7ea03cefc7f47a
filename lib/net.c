#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>
#include <unistd.h>

#include "ps/net.h"
#include "ps/xmalloc.h"

void
net_nodelay(int fd)
{
	int one = 1;

	/* Small requests must not wait for Nagle: a pull is a round trip. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static struct addrinfo *
resolve(const char *host, int port, int passive, char **cause)
{
	struct addrinfo hints, *res;
	char service[16];
	int error;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = passive ? AI_PASSIVE : 0;
	snprintf(service, sizeof service, "%d", port);
	if ((error = getaddrinfo(host, service, &hints, &res)) != 0) {
		xasprintf(cause, "%s:%d: %s", host, port, gai_strerror(error));
		return NULL;
	}
	return res;
}

int
net_connect(const char *host, int port, char **cause)
{
	struct addrinfo *res, *ai;
	struct timeval tmo = { NET_CONNECT_SECS, 0 }, none = { 0, 0 };
	int fd = -1, saved = 0;

	if ((res = resolve(host, port, 0, cause)) == NULL)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		/* A blocking connect to a host that drops packets would take minutes:
		 * on Linux SO_SNDTIMEO bounds connect() too. */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof tmo);
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
			break;
		}
		if (errno == EINPROGRESS)
			errno = ETIMEDOUT;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		xasprintf(cause, "connect to %s:%d: %s", host, port, strerror(saved));
		return -1;
	}
	net_nodelay(fd);
	return fd;
}

int
net_listen(const char *host, int port, int *bound, char **cause)
{
	struct addrinfo *res, *ai;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof ss;
	int fd = -1, one = 1, saved = 0;

	if ((res = resolve(host, port, 1, cause)) == NULL)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		/* A backlog for a burst of a thousand connections (the kernel may
		 * cap it: net.core.somaxconn) */
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1) {
		xasprintf(cause, "listen on %s:%d: %s", host, port, strerror(saved));
		return -1;
	}
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0) {
		if (ss.ss_family == AF_INET)
			*bound = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else
			*bound = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	return fd;
}

void
net_peername(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof ss;
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (getpeername(fd, (struct sockaddr *)&ss, &sslen) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
			inet_ntop(AF_INET, &sin->sin_addr, host, sizeof host);
			port = ntohs(sin->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
			inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof host);
			port = ntohs(sin6->sin6_port);
		}
	}
	snprintf(buf, len, "%s:%d", host, port);
}

double
net_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}
