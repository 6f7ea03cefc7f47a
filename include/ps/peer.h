/*
 * Peers on the event loop: the one place where libevent meets the frame codec (after
 * tmux's proc.c). A daemon is a server and a client at once:
 *
 *  - peer_accept() takes a connection that must shake hands first (HELLO);
 *    peer_connect() makes one from inside the loop, HELLO included;
 *  - every message is checked against the protocol table (type known, arguments in
 *    format, sender's role allowed) before the owner's callback sees it;
 *  - peer_call() sends a request and routes its reply (matched by id) to a callback,
 *    or calls it with NULL on timeout or when the peer is lost;
 *  - peer_defer() keeps a request (its frame copied) to be answered later, from
 *    another event (memcached's suspended responses, redis' blocked clients); with
 *    hold, nothing more is read from that peer until then, so replies keep their order.
 *
 * The owner's callback gets each request and NULL once when the peer is gone (an
 * accepted peer only once its HELLO was good: before that the owner never saw it).
 *
 * Limits (peer_set_limits; ps-intro(7), "Limits"): frames of PEER_HANDSHAKE_FRAME
 * bytes at most until the handshake is done, which must be within
 * net.handshake_timeout of accept; a frame begun must end within net.frame_timeout;
 * at most net.max_connections accepted peers, the oldest still in its handshake
 * closed to make room for a new one; accept() out of descriptors pauses 1 s.
 */
#ifndef PS_PEER_H
#define PS_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>

#include "ps/log.h"
#include "ps/msg.h"

struct ps_peer;
struct ps_defer;
typedef void (*peer_cb)(struct ps_peer *, struct ps_msg *, void *arg);
/* A reply to peer_call: m is the reply (ERROR included: why is then its text), or
 * NULL with why set when there will be none (timeout, connection lost). */
typedef void (*reply_cb)(struct ps_peer *, struct ps_msg *m, const char *why, void *arg);

struct ps_peer_info {
	uint32_t	 role;		/* from the peer's HELLO or HELLO_OK */
	uint32_t	 node_id;
	char		 name[80];	/* "ps-worker@127.0.0.1:5555" for logs */
};

/* The largest frame a peer may send before the handshake is done. */
#define PEER_HANDSHAKE_FRAME	((size_t)4096)

/* What this process says about itself in handshakes. */
void		 peer_set_self(uint32_t role, uint32_t id, const char *progname);
void		 peer_set_self_id(uint32_t id);
/* net.max_connections (accepted peers at once; 0: no limit), net.handshake_timeout
 * (seconds from accept to AUTH_OK), net.frame_timeout (seconds from a frame's first
 * byte to its last) and net.idle_timeout (seconds an accepted peer may stay silent);
 * 0 s: none. Raises the open files limit towards max_connections if it can. */
void		 peer_set_limits(int max_connections, double handshake_timeout,
		    double frame_timeout, double idle_timeout);
/* Never close this peer for being idle (a registered node). */
void		 peer_keep(struct ps_peer *);
/* Bytes this process has read and written on all its peers since it started. */
void		 peer_bytes(uint64_t *in, uint64_t *out);

struct ps_peer	*peer_accept(struct event_base *, int fd, size_t max_frame, peer_cb,
		    void *arg);
/* Connect to host:port without blocking the loop; HELLO goes first, and frames sent
 * before the handshake ends wait behind it. A failure calls cb with NULL. name is
 * for logs ("scheduler", "server 3"). */
struct ps_peer	*peer_connect(struct event_base *, const char *host, int port,
		    const char *name, size_t max_frame, peer_cb, void *arg);
/* Close every peer (at exit, so nothing is left allocated). */
void		 peer_close_all(void);
/* Queue w's frames (copied) and reset w. */
void		 peer_send(struct ps_peer *, struct ps_wbuf *w);
/* A fresh request id for a frame to this peer. */
uint64_t	 peer_next_id(struct ps_peer *);
/* Send w (one request, its id from peer_next_id) and call cb with its reply, or
 * with NULL after timeout seconds (0: no timeout) or if the peer is lost. */
void		 peer_call(struct ps_peer *, struct ps_wbuf *w, double timeout, reply_cb cb,
		    void *arg);
/* Reply ERROR to request m and keep the connection. */
void		 peer_error(struct ps_peer *, const struct ps_msg *m, unsigned int code,
		    const char *fmt, ...) PS_PRINTF(4, 5);
/* Send ERROR, flush, close; the callback then gets NULL. */
void		 peer_fail(struct ps_peer *, unsigned int code, const char *fmt, ...)
		    PS_PRINTF(3, 4);
/* Close now, without calling back. */
void		 peer_close(struct ps_peer *);
int		 peer_alive(const struct ps_peer *);
/* The local address of the connection, without the port ("10.0.0.2"), into buf;
 * -1 if the socket has none. */
int		 peer_local_host(const struct ps_peer *, char *buf, size_t len);
/* Why a peer is gone ("connect: Connection refused"), for its owner's message. */
const char	*peer_why(const struct ps_peer *);
/* Whether it is gone because one side's secret (net.secret_file) did not prove. */
int		 peer_auth_failed(const struct ps_peer *);
const struct ps_peer_info *peer_info(const struct ps_peer *);
void		*peer_data(const struct ps_peer *);
void		 peer_set_data(struct ps_peer *, void *);

/* Keep request m to answer later. hold: read nothing more from the peer until then. */
struct ps_defer	*peer_defer(struct ps_peer *, const struct ps_msg *m, int hold);
/* The kept request, valid until the defer is finished. */
struct ps_msg	*defer_msg(struct ps_defer *);
/* The peer, or NULL if it has gone meanwhile (the reply then goes nowhere). */
struct ps_peer	*defer_peer(struct ps_defer *);
/* Send w (may be empty) as the answer, resume reading if held, free the defer. */
void		 defer_reply(struct ps_defer *, struct ps_wbuf *w);
void		 defer_error(struct ps_defer *, unsigned int code, const char *fmt, ...)
		    PS_PRINTF(3, 4);

/* Listen on host:port (0: any free port); *bound gets the port. NULL and cause on
 * error. cb gets each accepted socket. */
struct ps_listener;
typedef void (*listen_cb)(int fd, void *arg);
struct ps_listener *peer_listen(struct event_base *, const char *host, int port,
		    listen_cb, void *arg, int *bound, char **cause);
void		 peer_listen_free(struct ps_listener *);

#endif
