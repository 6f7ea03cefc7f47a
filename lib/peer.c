/*
 * Peers on the event loop. Frames are read whole (length first, refused if over the
 * limit before any byte of the body is buffered), validated and decoded, then handed
 * to the owner's callback. A bad frame is answered with ERROR and the connection is
 * closed; the process goes on serving everyone else.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "ps/log.h"
#include "ps/net.h"
#include "ps/peer.h"
#include "ps/xmalloc.h"

#define PEER_HELLO	0x1	/* waiting for the peer's HELLO */
#define PEER_CLOSING	0x2	/* flushing a last ERROR, then closing */
#define PEER_LINGER	0x8	/* ERROR sent and FIN too: discarding input until EOF */

/*
 * After a last ERROR, close the way a web server does (a "lingering close"): send
 * FIN, then read and discard until the peer closes too, for a little while. Closing
 * with the peer's bytes still arriving makes the kernel answer RST, and a RST drops
 * whatever the peer had not read yet: the ERROR that says why.
 */
#define LINGER_SECS	2
#define LINGER_BYTES	((size_t)1 << 20)
#define PEER_DEAD	0x4	/* gone: free once out of the dispatch loop */

struct ps_peer {
	size_t			 discarded;	/* bytes dropped while lingering */
	struct ps_peer		*prev;		/* every live peer, for peer_close_all */
	struct ps_peer		*next;
	struct bufferevent	*bev;
	struct ps_peer_info	 info;
	size_t			 max_frame;
	int			 flags;
	int			 dispatching;
	uint32_t		 self_role;
	uint32_t		 self_id;
	peer_cb			 cb;
	void			*arg;
	void			*data;
	struct ps_wbuf		 scratch;	/* for replies the peer layer makes */
};

struct ps_listener {
	struct event	*ev;
	int		 fd;
	listen_cb	 cb;
	void		*arg;
};

static struct ps_peer	*all_peers;

static void	peer_read_cb(struct bufferevent *, void *);
static void	peer_write_cb(struct bufferevent *, void *);
static void	peer_linger(struct ps_peer *);
static void	peer_event_cb(struct bufferevent *, short, void *);

static void
peer_destroy(struct ps_peer *p)
{
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		all_peers = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	bufferevent_free(p->bev);
	wbuf_free(&p->scratch);
	free(p);
}

/* The peer is gone: tell the owner once, and free it when it is safe. */
static void
peer_gone(struct ps_peer *p)
{
	if (p->flags & PEER_DEAD)
		return;
	p->flags |= PEER_DEAD;
	bufferevent_disable(p->bev, EV_READ | EV_WRITE);
	if (p->cb != NULL && !(p->flags & PEER_HELLO))
		p->cb(p, NULL, p->arg);
	if (p->dispatching == 0)
		peer_destroy(p);
}

static struct ps_peer *
peer_new(struct event_base *base, int fd, size_t max_frame, peer_cb cb, void *arg)
{
	struct ps_peer *p = xcalloc(1, sizeof *p);

	evutil_make_socket_nonblocking(fd);
	net_nodelay(fd);
	p->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (p->bev == NULL)
		fatalx("bufferevent_socket_new failed");
	p->max_frame = max_frame;
	p->cb = cb;
	p->arg = arg;
	wbuf_init(&p->scratch);
	/* Bulk frames are megabytes: read and write them in large pieces. */
	bufferevent_set_max_single_read(p->bev, 4 << 20);
	bufferevent_set_max_single_write(p->bev, 4 << 20);
	bufferevent_setcb(p->bev, peer_read_cb, peer_write_cb, peer_event_cb, p);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
	p->next = all_peers;
	if (all_peers != NULL)
		all_peers->prev = p;
	all_peers = p;
	return p;
}

void
peer_close_all(void)
{
	while (all_peers != NULL)
		peer_close(all_peers);
}

void
peer_feed(struct ps_peer *p, const char *data, size_t len)
{
	struct evbuffer *in = bufferevent_get_input(p->bev);

	/* A socket bufferevent freezes the end of its input: only it may add. */
	evbuffer_unfreeze(in, 0);
	if (evbuffer_add(in, data, len) != 0)
		fatalx("%s: evbuffer_add failed", p->info.name);
	evbuffer_freeze(in, 0);
	bufferevent_trigger(p->bev, EV_READ,
	    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

struct ps_peer *
peer_accept(struct event_base *base, int fd, size_t max_frame, uint32_t self_role,
    uint32_t self_id, peer_cb cb, void *arg)
{
	struct ps_peer *p = peer_new(base, fd, max_frame, cb, arg);

	p->flags |= PEER_HELLO;
	p->self_role = self_role;
	p->self_id = self_id;
	net_peername(fd, p->info.name, sizeof p->info.name);
	return p;
}

struct ps_peer *
peer_attach(struct event_base *base, int fd, const char *name, size_t max_frame,
    peer_cb cb, void *arg)
{
	struct ps_peer *p = peer_new(base, fd, max_frame, cb, arg);

	snprintf(p->info.name, sizeof p->info.name, "%s", name);
	return p;
}

void
peer_send(struct ps_peer *p, struct ps_wbuf *w)
{
	if (!(p->flags & (PEER_DEAD | PEER_CLOSING)) && w->len > 0)
		bufferevent_write(p->bev, w->data, w->len);
	wbuf_reset(w);
}

static void
peer_send_error(struct ps_peer *p, uint64_t id, unsigned int code, const char *text)
{
	struct ps_hdr h = {
		.version = PS_PROTOCOL_VERSION,
		.type = PS_MSG_ERROR,
		.id = id,
		.sender = p->self_id,
	};

	msg_error(&p->scratch, &h, code, text);
	peer_send(p, &p->scratch);
}

void
peer_error(struct ps_peer *p, const struct ps_msg *m, unsigned int code,
    const char *fmt, ...)
{
	va_list ap;
	char *text;

	va_start(ap, fmt);
	xvasprintf(&text, fmt, ap);
	va_end(ap);
	log_warnx("%s: %s: %s", p->info.name, proto_type_name(m->hdr.type), text);
	peer_send_error(p, m->hdr.id, code, text);
	free(text);
}

void
peer_fail(struct ps_peer *p, unsigned int code, const char *fmt, ...)
{
	va_list ap;
	char *text;
	int hello = p->flags & PEER_HELLO;

	if (p->flags & (PEER_DEAD | PEER_CLOSING))
		return;
	va_start(ap, fmt);
	xvasprintf(&text, fmt, ap);
	va_end(ap);
	log_warnx("%s: %s; closing the connection", p->info.name, text);
	peer_send_error(p, 0, code, text);
	free(text);

	/* Tell the owner now; keep the bufferevent only to flush the ERROR. */
	p->flags |= PEER_CLOSING;
	bufferevent_disable(p->bev, EV_READ);
	if (!hello && p->cb != NULL)
		p->cb(p, NULL, p->arg);
	p->cb = NULL;
	if (evbuffer_get_length(bufferevent_get_output(p->bev)) == 0)
		peer_linger(p);
}

void
peer_close(struct ps_peer *p)
{
	p->cb = NULL;
	peer_gone(p);
}

const struct ps_peer_info *
peer_info(const struct ps_peer *p)
{
	return &p->info;
}

void *
peer_data(const struct ps_peer *p)
{
	return p->data;
}

void
peer_set_data(struct ps_peer *p, void *data)
{
	p->data = data;
}

static void
peer_hello(struct ps_peer *p, struct ps_msg *m)
{
	struct ps_hdr h;
	char *cause, *name;

	if (m->hdr.type != PS_MSG_HELLO) {
		peer_fail(p, PS_ERR_CLIENT, "expected HELLO first, got %s",
		    proto_type_name(m->hdr.type));
		return;
	}
	if (m->hdr.version != PS_PROTOCOL_VERSION) {
		peer_fail(p, PS_ERR_VERSION, "protocol version %u is not supported: "
		    "this side speaks version %d", m->hdr.version, PS_PROTOCOL_VERSION);
		return;
	}
	if (msg_check(m, "uus", &cause) != 0) {
		peer_fail(p, PS_ERR_CLIENT, "%s", cause);
		free(cause);
		return;
	}
	p->info.role = msg_uint(m, 0);
	p->info.node_id = msg_uint(m, 1);
	name = msg_strdup(m, 2);
	{
		char addr[48];
		snprintf(addr, sizeof addr, "%.47s", p->info.name);
		snprintf(p->info.name, sizeof p->info.name, "%.24s@%.47s", name, addr);
	}
	free(name);
	p->flags &= ~PEER_HELLO;

	h = msg_reply_hdr(m, PS_MSG_HELLO_OK, p->self_id, 0);
	msg_begin(&p->scratch, &h, 2);
	msg_put_uint(&p->scratch, p->self_role);
	msg_put_uint(&p->scratch, p->self_id);
	msg_end(&p->scratch);
	peer_send(p, &p->scratch);
	log_debug("%s: connected (%s)", p->info.name, proto_role_name(p->info.role));
}

static void
peer_read_cb(struct bufferevent *bev, void *arg)
{
	struct ps_peer	*p = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	unsigned char	 lenbuf[4], *frame;
	struct ps_msg	 m;
	size_t		 have, flen;
	char		*cause;

	if (p->flags & PEER_LINGER) {
		p->discarded += evbuffer_get_length(in);
		evbuffer_drain(in, evbuffer_get_length(in));
		if (p->discarded > LINGER_BYTES)
			peer_gone(p);
		return;
	}
	p->dispatching++;
	while (!(p->flags & (PEER_DEAD | PEER_CLOSING))) {
		have = evbuffer_get_length(in);
		if (have < 4)
			break;
		evbuffer_copyout(in, lenbuf, 4);
		flen = ((size_t)lenbuf[0] << 24) | (lenbuf[1] << 16) | (lenbuf[2] << 8) |
		    lenbuf[3];
		if (flen == 0 || flen > p->max_frame) {
			peer_fail(p, PS_ERR_CLIENT, "frame of %zu bytes refused (limit %zu)",
			    flen, p->max_frame);
			break;
		}
		if (have < 4 + flen)
			break;
		frame = evbuffer_pullup(in, 4 + flen);
		if (msg_decode(&m, (char *)frame + 4, flen, &cause) != 0) {
			peer_fail(p, PS_ERR_CLIENT, "bad frame: %s", cause);
			free(cause);
			break;
		}
		if (p->flags & PEER_HELLO)
			peer_hello(p, &m);
		else if (p->cb != NULL)
			p->cb(p, &m, p->arg);
		msg_free(&m);
		if (!(p->flags & PEER_DEAD))
			evbuffer_drain(in, 4 + flen);
	}
	p->dispatching--;
	if ((p->flags & PEER_DEAD) && p->dispatching == 0)
		peer_destroy(p);
}

/* The last ERROR is out: send FIN and wait, briefly, for the peer's. */
static void
peer_linger(struct ps_peer *p)
{
	struct timeval tv = { LINGER_SECS, 0 };
	struct evbuffer *in = bufferevent_get_input(p->bev);

	if (p->flags & (PEER_LINGER | PEER_DEAD))
		return;
	p->flags |= PEER_LINGER;
	if (shutdown(bufferevent_getfd(p->bev), SHUT_WR) == -1) {
		peer_gone(p);
		return;
	}
	p->discarded = evbuffer_get_length(in);
	evbuffer_drain(in, p->discarded);
	bufferevent_set_timeouts(p->bev, &tv, NULL);
	bufferevent_enable(p->bev, EV_READ);
}

static void
peer_write_cb(struct bufferevent *bev, void *arg)
{
	struct ps_peer *p = arg;

	if ((p->flags & PEER_CLOSING) &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		peer_linger(p);
}

static void
peer_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct ps_peer *p = arg;

	(void)bev;
	if (what & BEV_EVENT_ERROR)
		log_debug("%s: %s", p->info.name, strerror(EVUTIL_SOCKET_ERROR()));
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		log_debug("%s: disconnected", p->info.name);
		peer_gone(p);
	}
}

static void
listener_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct ps_listener *l = arg;
	int fd;

	(void)what;
	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("accept");
		return;
	}
	l->cb(fd, l->arg);
}

struct ps_listener *
peer_listen(struct event_base *base, const char *host, int port, listen_cb cb, void *arg,
    int *bound, char **cause)
{
	struct ps_listener *l;
	int fd;

	if ((fd = net_listen(host, port, bound, cause)) == -1)
		return NULL;
	evutil_make_socket_nonblocking(fd);
	l = xcalloc(1, sizeof *l);
	l->fd = fd;
	l->cb = cb;
	l->arg = arg;
	l->ev = event_new(base, fd, EV_READ | EV_PERSIST, listener_accept, l);
	event_add(l->ev, NULL);
	return l;
}

void
peer_listen_free(struct ps_listener *l)
{
	if (l == NULL)
		return;
	event_free(l->ev);
	close(l->fd);
	free(l);
}
