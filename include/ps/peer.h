/* Peers on the event loop: the one place where libevent meets the frame codec
 * (after tmux's proc.c). A program adds a peer with a dispatch callback; the callback
 * gets each decoded message, and NULL once when the peer is gone (peers accepted
 * with peer_accept only once their HELLO was good: before that the owner never saw them). */
#ifndef PS_PEER_H
#define PS_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <event2/event.h>

#include "ps/msg.h"

struct ps_peer;
typedef void (*peer_cb)(struct ps_peer *, struct ps_msg *, void *arg);

struct ps_peer_info {
	uint32_t	 role;		/* from the peer's HELLO */
	uint32_t	 node_id;
	char		 name[80];	/* "ps-worker@127.0.0.1:5555" for logs */
};

/*
 * Accepted connection: the peer must send HELLO first, with our protocol version;
 * the peer layer answers HELLO_OK (self_role, self_id) or ERROR and closes.
 */
struct ps_peer	*peer_accept(struct event_base *, int fd, size_t max_frame,
		    uint32_t self_role, uint32_t self_id, peer_cb, void *arg);
/* A connection whose handshake is done (see conn_open); the peer layer owns fd. */
struct ps_peer	*peer_attach(struct event_base *, int fd, const char *name,
		    size_t max_frame, peer_cb, void *arg);
/* Bytes already read from the peer's socket (after a blocking handshake): they are
 * dispatched from the event loop as if just received. */
void		 peer_feed(struct ps_peer *, const char *data, size_t len);
/* Close every peer (at exit, so nothing is left allocated). */
void		 peer_close_all(void);
/* Queue w's frames (copied) and reset w. */
void		 peer_send(struct ps_peer *, struct ps_wbuf *w);
/* Reply ERROR to request m and keep the connection. */
void		 peer_error(struct ps_peer *, const struct ps_msg *m, unsigned int code,
		    const char *fmt, ...) PS_PRINTF(4, 5);
/* Send ERROR, flush, close; the callback then gets NULL. */
void		 peer_fail(struct ps_peer *, unsigned int code, const char *fmt, ...)
		    PS_PRINTF(3, 4);
/* Close now, without calling back. */
void		 peer_close(struct ps_peer *);
const struct ps_peer_info *peer_info(const struct ps_peer *);
void		*peer_data(const struct ps_peer *);
void		 peer_set_data(struct ps_peer *, void *);

/* Listen on host:port (0: any free port); *bound gets the port. NULL and cause on
 * error. cb gets each accepted socket. */
struct ps_listener;
typedef void (*listen_cb)(int fd, void *arg);
struct ps_listener *peer_listen(struct event_base *, const char *host, int port,
		    listen_cb, void *arg, int *bound, char **cause);
void		 peer_listen_free(struct ps_listener *);

#endif
