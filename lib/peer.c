/*
 * Peers on the event loop. Each peer is a socket with a read event, a write event and
 * an output evbuffer; input goes into a ps_rbuf, so a frame's body is read straight
 * into place in large reads and decoded where it lies. A frame is refused by its length
 * before any of its body is buffered; a bad frame is answered with ERROR and the
 * connection closed; the process goes on serving everyone else.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "ps/log.h"
#include "ps/auth.h"
#include "ps/net.h"
#include "ps/peer.h"
#include "ps/rbuf.h"
#include "ps/xmalloc.h"

#define PEER_HELLO	0x01	/* accepted: waiting for the peer's HELLO */
#define PEER_CONNECTING	0x02	/* connect() in progress */
#define PEER_HELLO_OK	0x04	/* connected: waiting for the HELLO_OK */
#define PEER_CLOSING	0x08	/* flushing a last ERROR, then closing */
#define PEER_LINGER	0x10	/* ERROR sent and FIN too: discarding input until EOF */
#define PEER_DEAD	0x20	/* gone: freed once nothing refers to it */
#define PEER_AUTH	0x40	/* accepted: HELLO_OK sent, waiting for the AUTH */
#define PEER_AUTH_OK	0x80	/* connected: AUTH sent, waiting for the AUTH_OK */
/* Not yet a peer the owner knows of: it hears of no failure. */
#define PEER_UNSEEN	(PEER_HELLO | PEER_AUTH)

/*
 * After a last ERROR, close the way a web server does (a "lingering close"): send
 * FIN, then read and discard until the peer closes too, for a little while. Closing
 * with the peer's bytes still arriving makes the kernel answer RST, and a RST drops
 * whatever the peer had not read yet: the ERROR that says why.
 */
#define LINGER_SECS	2
#define LINGER_BYTES	((size_t)1 << 20)

/* A request sent with peer_call, waiting for its reply. */
struct pending {
	uint64_t	 id;
	uint32_t	 type;
	reply_cb	 cb;
	void		*arg;
	struct ps_peer	*peer;
	struct event	*timer;
	struct pending	*next;
};

struct ps_peer {
	struct ps_peer		*prev;		/* every live peer, for peer_close_all */
	struct ps_peer		*next;
	int			 fd;
	struct event		*rev;
	struct event		*wev;
	struct event		*timer;		/* connect deadline, then linger deadline */
	struct evbuffer		*out;
	struct ps_rbuf		 in;
	size_t			 want;		/* bytes the next frame needs */
	const char		*cur;		/* the frame being dispatched, for peer_defer */
	size_t			 cur_len;
	struct ps_peer_info	 info;
	size_t			 max_frame;
	int			 flags;
	int			 conn_err;	/* errno of a connect that failed at once */
	char			 why[96];	/* why it is gone, when known: "connect: ..." */
	uint8_t			 nonce_c[AUTH_NONCE];	/* the connecting side's */
	uint8_t			 nonce_a[AUTH_NONCE];	/* the accepting side's */
	struct evbuffer		*unsent;	/* the owner's output until HELLO_OK */
	int			 dispatching;
	int			 refs;		/* defers that point here */
	int			 held;		/* defers holding the input */
	size_t			 discarded;	/* bytes dropped while lingering */
	uint64_t		 next_id;
	struct pending		*pending;
	peer_cb			 cb;
	void			*arg;
	void			*data;
	struct ps_wbuf		 scratch;	/* for replies the peer layer makes */
};

struct ps_defer {
	struct ps_peer		*peer;
	char			*frame;		/* a copy: the message points here */
	struct ps_msg		 m;
	int			 hold;
	struct ps_defer		*prev;
	struct ps_defer		*next;
};

struct ps_listener {
	struct event	*ev;
	int		 fd;
	listen_cb	 cb;
	void		*arg;
};

/*
 * Large frames are not copied into the output buffer: the evbuffer takes the wbuf's
 * memory by reference, and the wbuf gets a spare buffer from this pool, where sent
 * buffers come back. A reused buffer's pages are already mapped, so a 4 MB reply costs
 * no page faults and one copy fewer (pulls of dim 64: 4x faster).
 */
#define POOL_SIZE	8
#define POOL_MIN	((size_t)64 << 10)	/* frames at least this big go by reference */
#define POOL_MAX	((size_t)64 << 20)	/* buffers above this are freed, not kept */

static struct {
	char	*data;
	size_t	 cap;
} pool[POOL_SIZE];

static struct ps_peer	*all_peers;
static struct ps_defer	*all_defers;
static uint32_t		 self_role;
static uint32_t		 self_id;
static char		 self_name[32] = "ps";
/* Bytes read and written on every connection since start, for heartbeats. */
static uint64_t		 bytes_in, bytes_out;

static void	peer_read_cb(evutil_socket_t, short, void *);
static void	peer_write_cb(evutil_socket_t, short, void *);
static void	peer_linger(struct ps_peer *);
static void	peer_gone(struct ps_peer *);
static void	defer_free(struct ps_defer *);

void
peer_set_self(uint32_t role, uint32_t id, const char *progname)
{
	self_role = role;
	self_id = id;
	snprintf(self_name, sizeof self_name, "%s", progname);
}

void
peer_set_self_id(uint32_t id)
{
	self_id = id;
}

void
peer_bytes(uint64_t *in, uint64_t *out)
{
	*in = bytes_in;
	*out = bytes_out;
}

static void
peer_destroy(struct ps_peer *p)
{
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		all_peers = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	event_free(p->rev);
	event_free(p->wev);
	event_free(p->timer);
	evbuffer_free(p->out);
	if (p->unsent != NULL)
		evbuffer_free(p->unsent);
	if (p->fd != -1)
		close(p->fd);
	rbuf_free(&p->in);
	wbuf_free(&p->scratch);
	free(p);
}

static void
peer_maybe_destroy(struct ps_peer *p)
{
	if ((p->flags & PEER_DEAD) && p->dispatching == 0 && p->refs == 0)
		peer_destroy(p);
}

/* Every request still waiting on p gets NULL and why. */
static void
peer_fail_pending(struct ps_peer *p, const char *why)
{
	struct pending *q;

	while ((q = p->pending) != NULL) {
		p->pending = q->next;
		event_free(q->timer);
		q->cb(p, NULL, why, q->arg);
		free(q);
	}
}

const char *
peer_why(const struct ps_peer *p)
{
	return p->why[0] != '\0' ? p->why : "connection lost";
}

/* The peer is gone: tell the owner once, and free it when it is safe. */
static void
peer_gone(struct ps_peer *p)
{
	peer_cb cb = p->cb;

	if (p->flags & PEER_DEAD)
		return;
	/* The connecting side checks our proof first: a peer that leaves here found
	 * that the secrets differ (its own message says which way). */
	if (p->flags & PEER_AUTH)
		log_warnx("%s: left during authentication (net.secret_file differs, or is "
		    "set on one side only)", p->info.name);
	p->flags |= PEER_DEAD;
	event_del(p->rev);
	event_del(p->wev);
	event_del(p->timer);
	peer_fail_pending(p, peer_why(p));
	p->cb = NULL;
	if (cb != NULL && !(p->flags & PEER_UNSEEN))
		cb(p, NULL, p->arg);
	peer_maybe_destroy(p);
}

static void
peer_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ps_peer *p = arg;

	(void)fd;
	(void)what;
	if (p->flags & (PEER_CONNECTING | PEER_HELLO_OK | PEER_AUTH_OK)) {
		snprintf(p->why, sizeof p->why, "no handshake within %d s", NET_CONNECT_SECS);
		log_warnx("%s: %s", p->info.name, p->why);
	}
	peer_gone(p);
}

static struct ps_peer *
peer_new(struct event_base *base, int fd, size_t max_frame, peer_cb cb, void *arg)
{
	struct ps_peer *p = xcalloc(1, sizeof *p);

	evutil_make_socket_nonblocking(fd);
	net_nodelay(fd);
	p->fd = fd;
	p->max_frame = max_frame;
	p->cb = cb;
	p->arg = arg;
	p->want = 4;
	rbuf_init(&p->in);
	wbuf_init(&p->scratch);
	if ((p->out = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	p->rev = event_new(base, fd, EV_READ | EV_PERSIST, peer_read_cb, p);
	p->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, peer_write_cb, p);
	p->timer = evtimer_new(base, peer_timer_cb, p);
	if (p->rev == NULL || p->wev == NULL || p->timer == NULL)
		fatalx("event_new failed");
	p->next = all_peers;
	if (all_peers != NULL)
		all_peers->prev = p;
	all_peers = p;
	return p;
}

void
peer_close_all(void)
{
	size_t i;

	while (all_defers != NULL)
		defer_free(all_defers);
	while (all_peers != NULL) {
		struct ps_peer *p = all_peers;

		peer_close(p);
		if (all_peers == p)	/* still referred to: free it anyway, at exit */
			peer_destroy(p);
	}
	for (i = 0; i < POOL_SIZE; i++) {
		free(pool[i].data);
		pool[i].data = NULL;
	}
}

struct ps_peer *
peer_accept(struct event_base *base, int fd, size_t max_frame, peer_cb cb, void *arg)
{
	struct ps_peer *p = peer_new(base, fd, max_frame, cb, arg);

	p->flags |= PEER_HELLO;
	net_peername(fd, p->info.name, sizeof p->info.name);
	event_add(p->rev, NULL);
	return p;
}

static void
peer_put_hello(struct ps_peer *p)
{
	struct ps_hdr h = msg_hdr(PS_MSG_HELLO, 0, self_id, 0);

	auth_nonce(p->nonce_c);
	msg_begin(&p->scratch, &h, 4);
	msg_put_uint(&p->scratch, self_role);
	msg_put_uint(&p->scratch, self_id);
	msg_put_str(&p->scratch, self_name);
	msg_put_bin(&p->scratch, p->nonce_c, AUTH_NONCE);
	msg_end(&p->scratch);
	evbuffer_add(p->out, p->scratch.data, p->scratch.len);
	wbuf_reset(&p->scratch);
}

struct ps_peer *
peer_connect(struct event_base *base, const char *host, int port, const char *name,
    size_t max_frame, peer_cb cb, void *arg)
{
	struct addrinfo hints, *res = NULL;
	struct timeval tv = { NET_CONNECT_SECS, 0 };
	struct ps_peer *p;
	char service[16];
	int fd, error, err = 0;

	/* getaddrinfo blocks: hosts are addresses or names in /etc/hosts here. */
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(service, sizeof service, "%d", port);
	if ((error = getaddrinfo(host, service, &hints, &res)) != 0) {
		log_warnx("%s: %s:%d: %s", name, host, port, gai_strerror(error));
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		err = EHOSTUNREACH;
	} else {
		fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC,
		    res->ai_protocol);
	}
	if (fd == -1)
		fatal("socket");
	p = peer_new(base, fd, max_frame, cb, arg);
	snprintf(p->info.name, sizeof p->info.name, "%s (%s:%d)", name, host, port);
	p->flags |= PEER_CONNECTING | PEER_HELLO_OK;
	/* What the owner sends goes after our AUTH, which needs the HELLO_OK. */
	if ((p->unsent = evbuffer_new()) == NULL)
		fatalx("evbuffer_new failed");
	if (err == 0 && connect(fd, res->ai_addr, res->ai_addrlen) == -1 &&
	    errno != EINPROGRESS)
		err = errno;
	if (res != NULL)
		freeaddrinfo(res);
	p->conn_err = err;
	peer_put_hello(p);
	event_add(p->timer, &tv);
	event_add(p->wev, NULL);
	if (err != 0)	/* report from the loop, not from inside this call */
		event_active(p->wev, EV_WRITE, 0);
	return p;
}

static void
pool_put(const void *data, size_t len, void *cap)
{
	size_t i;

	(void)len;
	if ((size_t)(uintptr_t)cap <= POOL_MAX) {
		for (i = 0; i < POOL_SIZE; i++) {
			if (pool[i].data == NULL) {
				pool[i].data = (char *)(uintptr_t)data;
				pool[i].cap = (size_t)(uintptr_t)cap;
				return;
			}
		}
	}
	free((void *)(uintptr_t)data);
}

/* Give w a buffer from the pool (the largest), or none: it grows on first use. */
static void
pool_get(struct ps_wbuf *w)
{
	size_t i, best = POOL_SIZE;

	for (i = 0; i < POOL_SIZE; i++)
		if (pool[i].data != NULL && (best == POOL_SIZE || pool[i].cap > pool[best].cap))
			best = i;
	w->len = 0;
	if (best == POOL_SIZE) {
		w->data = NULL;
		w->cap = 0;
		return;
	}
	w->data = pool[best].data;
	w->cap = pool[best].cap;
	pool[best].data = NULL;
}

void
peer_send(struct ps_peer *p, struct ps_wbuf *w)
{
	struct evbuffer *to = p->unsent != NULL ? p->unsent : p->out;

	if (!(p->flags & (PEER_DEAD | PEER_CLOSING)) && w->len > 0) {
		if (w->len >= POOL_MIN) {
			if (evbuffer_add_reference(to, w->data, w->len, pool_put,
			    (void *)(uintptr_t)w->cap) != 0)
				fatalx("%s: evbuffer_add_reference failed", p->info.name);
			pool_get(w);
		} else if (evbuffer_add(to, w->data, w->len) != 0)
			fatalx("%s: evbuffer_add failed", p->info.name);
		if (!(p->flags & PEER_CONNECTING))
			event_add(p->wev, NULL);
	}
	wbuf_reset(w);
}

uint64_t
peer_next_id(struct ps_peer *p)
{
	return ++p->next_id;
}

static void
pending_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct pending *q = arg, **qp;
	struct ps_peer *p = q->peer;
	char why[96];

	(void)fd;
	(void)what;
	for (qp = &p->pending; *qp != q; qp = &(*qp)->next)
		;
	*qp = q->next;
	event_free(q->timer);
	snprintf(why, sizeof why, "no reply to %s in time", proto_type_name(q->type));
	q->cb(p, NULL, why, q->arg);
	free(q);
}

void
peer_call(struct ps_peer *p, struct ps_wbuf *w, double timeout, reply_cb cb, void *arg)
{
	struct pending *q;
	struct timeval tv;

	if (p->flags & (PEER_DEAD | PEER_CLOSING)) {
		wbuf_reset(w);
		cb(p, NULL, "connection lost", arg);
		return;
	}
	q = xcalloc(1, sizeof *q);
	q->id = w->id;
	q->type = w->type;
	q->cb = cb;
	q->arg = arg;
	q->peer = p;
	q->timer = evtimer_new(event_get_base(p->rev), pending_timeout, q);
	if (timeout > 0) {
		tv.tv_sec = (time_t)timeout;
		tv.tv_usec = (suseconds_t)((timeout - (double)tv.tv_sec) * 1e6);
		event_add(q->timer, &tv);
	}
	q->next = p->pending;
	p->pending = q;
	peer_send(p, w);
}

static void
peer_send_error(struct ps_peer *p, uint64_t id, unsigned int code, const char *text)
{
	struct ps_hdr h = msg_hdr(PS_MSG_ERROR, id, self_id, 0);

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
	peer_cb cb = p->cb;

	if (p->flags & (PEER_DEAD | PEER_CLOSING))
		return;
	va_start(ap, fmt);
	xvasprintf(&text, fmt, ap);
	va_end(ap);
	log_warnx("%s: %s; closing the connection", p->info.name, text);
	peer_send_error(p, 0, code, text);
	free(text);

	/* Tell the owner now; keep the socket only to flush the ERROR. */
	p->flags |= PEER_CLOSING;
	event_del(p->rev);
	peer_fail_pending(p, "connection closed");
	p->cb = NULL;
	if (cb != NULL && !(p->flags & PEER_UNSEEN))
		cb(p, NULL, p->arg);
	if (evbuffer_get_length(p->out) == 0)
		peer_linger(p);
}

void
peer_close(struct ps_peer *p)
{
	p->cb = NULL;
	peer_gone(p);
}

int
peer_alive(const struct ps_peer *p)
{
	return !(p->flags & (PEER_DEAD | PEER_CLOSING));
}

int
peer_local_host(const struct ps_peer *p, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof ss;
	const void *a;

	if (getsockname(p->fd, (struct sockaddr *)&ss, &sslen) == -1)
		return -1;
	if (ss.ss_family == AF_INET)
		a = &((struct sockaddr_in *)&ss)->sin_addr;
	else if (ss.ss_family == AF_INET6)
		a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
	else
		return -1;
	return inet_ntop(ss.ss_family, a, buf, len) != NULL ? 0 : -1;
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

/* An accepted peer's first message must be a good HELLO. */
static void
peer_hello(struct ps_peer *p, struct ps_msg *m)
{
	struct ps_hdr h;
	char *cause, *name, addr[48];
	const char *nonce;
	uint8_t proof[AUTH_PROOF];
	size_t len, plen;

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
	if (msg_check(m, "uusb", &cause) != 0) {
		peer_fail(p, PS_ERR_CLIENT, "%s", cause);
		free(cause);
		return;
	}
	nonce = msg_bin(m, 3, &len);
	if (len != AUTH_NONCE) {
		peer_fail(p, PS_ERR_CLIENT, "HELLO: a nonce of %zu bytes, want %d", len,
		    AUTH_NONCE);
		return;
	}
	memcpy(p->nonce_c, nonce, AUTH_NONCE);
	if (msg_uint(m, 0) >= PS_NROLES) {
		peer_fail(p, PS_ERR_CLIENT, "HELLO: unknown role %llu",
		    (unsigned long long)msg_uint(m, 0));
		return;
	}
	p->info.role = msg_uint(m, 0);
	p->info.node_id = msg_uint(m, 1);
	name = msg_strdup(m, 2);
	snprintf(addr, sizeof addr, "%.47s", p->info.name);
	snprintf(p->info.name, sizeof p->info.name, "%.24s@%.47s", name, addr);
	free(name);
	p->flags &= ~PEER_HELLO;
	p->flags |= PEER_AUTH;

	auth_nonce(p->nonce_a);
	auth_proof(AUTH_ACCEPT, p->nonce_c, p->nonce_a, proof, &plen);
	h = msg_reply_hdr(m, PS_MSG_HELLO_OK, self_id, 0);
	msg_begin(&p->scratch, &h, 4);
	msg_put_uint(&p->scratch, self_role);
	msg_put_uint(&p->scratch, self_id);
	msg_put_bin(&p->scratch, p->nonce_a, AUTH_NONCE);
	msg_put_bin(&p->scratch, proof, plen);
	msg_end(&p->scratch);
	peer_send(p, &p->scratch);
}

/* An accepted peer's second message must prove the secret (or that neither side
 * has one). Only then is it a peer the owner hears of. */
static void
peer_auth(struct ps_peer *p, struct ps_msg *m)
{
	struct ps_hdr	 h;
	const char	*proof, *why;
	size_t		 len;

	if (m->hdr.type != PS_MSG_AUTH || msg_check(m, "b", NULL) != 0) {
		peer_fail(p, PS_ERR_CLIENT, "expected AUTH after HELLO, got %s",
		    proto_type_name(m->hdr.type));
		return;
	}
	proof = msg_bin(m, 0, &len);
	if (auth_check(AUTH_CONNECT, p->nonce_c, p->nonce_a, proof, len, &why) != 0) {
		peer_fail(p, PS_ERR_AUTH, "%s", why);
		return;
	}
	p->flags &= ~PEER_AUTH;
	h = msg_reply_hdr(m, PS_MSG_AUTH_OK, self_id, 0);
	msg_simple(&p->scratch, &h);
	peer_send(p, &p->scratch);
	log_debug("%s: connected (%s)", p->info.name, proto_role_name(p->info.role));
}

/* A connecting peer's first message must be HELLO_OK. */
static void
peer_hello_ok(struct ps_peer *p, struct ps_msg *m)
{
	struct ps_hdr h;
	const char *nonce, *proof, *why = NULL;
	uint8_t mine[AUTH_PROOF];
	size_t len, plen, mlen;
	char *text;

	if (m->hdr.type == PS_MSG_ERROR && msg_check(m, "us", NULL) == 0) {
		text = msg_strdup(m, 1);
		log_warnx("%s: refused: %s", p->info.name, text);
		free(text);
		peer_gone(p);
		return;
	}
	if (m->hdr.type != PS_MSG_HELLO_OK || msg_check(m, "uubb", NULL) != 0 ||
	    msg_uint(m, 0) >= PS_NROLES) {
		log_warnx("%s: expected HELLO_OK, got %s", p->info.name,
		    proto_type_name(m->hdr.type));
		peer_gone(p);
		return;
	}
	nonce = msg_bin(m, 2, &len);
	proof = msg_bin(m, 3, &plen);
	if (len != AUTH_NONCE || auth_check(AUTH_ACCEPT, p->nonce_c,
	    (const uint8_t *)nonce, proof, plen, &why) != 0) {
		snprintf(p->why, sizeof p->why, "%s", why != NULL ? why :
		    "HELLO_OK: a bad nonce");
		log_warnx("%s: %s", p->info.name, p->why);
		peer_gone(p);
		return;
	}
	memcpy(p->nonce_a, nonce, AUTH_NONCE);
	p->flags &= ~PEER_HELLO_OK;
	p->flags |= PEER_AUTH_OK;
	p->info.role = msg_uint(m, 0);
	p->info.node_id = msg_uint(m, 1);

	/* Our proof, then what the owner sent meanwhile, in that order. */
	auth_proof(AUTH_CONNECT, p->nonce_c, p->nonce_a, mine, &mlen);
	h = msg_hdr(PS_MSG_AUTH, 0, self_id, 0);
	msg_begin(&p->scratch, &h, 1);
	msg_put_bin(&p->scratch, mine, mlen);
	msg_end(&p->scratch);
	evbuffer_add(p->out, p->scratch.data, p->scratch.len);
	wbuf_reset(&p->scratch);
	evbuffer_add_buffer(p->out, p->unsent);
	evbuffer_free(p->unsent);
	p->unsent = NULL;
	event_add(p->wev, NULL);
}

/* Then AUTH_OK: the peer took our proof. */
static void
peer_auth_ok(struct ps_peer *p, struct ps_msg *m)
{
	char *text;

	if (m->hdr.type == PS_MSG_ERROR && msg_check(m, "us", NULL) == 0) {
		text = msg_strdup(m, 1);
		snprintf(p->why, sizeof p->why, "refused: %s", text);
		log_warnx("%s: %s", p->info.name, p->why);
		free(text);
		peer_gone(p);
		return;
	}
	if (m->hdr.type != PS_MSG_AUTH_OK) {
		log_warnx("%s: expected AUTH_OK, got %s", p->info.name,
		    proto_type_name(m->hdr.type));
		peer_gone(p);
		return;
	}
	p->flags &= ~PEER_AUTH_OK;
	event_del(p->timer);
	log_debug("%s: connected (%s)", p->info.name, proto_role_name(p->info.role));
}

static void
peer_reply(struct ps_peer *p, struct ps_msg *m, const struct ps_proto *row)
{
	struct pending *q, **qp;
	char *cause = NULL, *text = NULL;

	for (qp = &p->pending; (q = *qp) != NULL; qp = &q->next)
		if (q->id == m->hdr.id)
			break;
	if (msg_check(m, row->fmt, &cause) != 0)
		log_warnx("%s: bad reply: %s", p->info.name, cause);
	else if (m->hdr.type == PS_MSG_ERROR)
		text = msg_strdup(m, 1);
	if (q == NULL) {
		if (text != NULL)
			log_warnx("%s: %s", p->info.name, text);
		else if (cause == NULL)
			log_debug("%s: %s %llu answers no request", p->info.name,
			    row->name, (unsigned long long)m->hdr.id);
		free(text);
		free(cause);
		return;
	}
	*qp = q->next;
	event_free(q->timer);
	if (cause != NULL)
		q->cb(p, NULL, cause, q->arg);
	else
		q->cb(p, m, text, q->arg);
	free(q);
	free(text);
	free(cause);
}

/* Check a message against the protocol table, then route it. */
static void
peer_handle(struct ps_peer *p, struct ps_msg *m)
{
	const struct ps_proto *row;
	char *cause;

	if (p->flags & PEER_HELLO) {
		peer_hello(p, m);
		return;
	}
	if (p->flags & PEER_AUTH) {
		peer_auth(p, m);
		return;
	}
	if (p->flags & PEER_HELLO_OK) {
		peer_hello_ok(p, m);
		return;
	}
	if (p->flags & PEER_AUTH_OK) {
		peer_auth_ok(p, m);
		return;
	}
	if ((row = proto_lookup(m->hdr.type)) == NULL) {
		peer_error(p, m, PS_ERR_CLIENT, "unknown message type %u", m->hdr.type);
		return;
	}
	if (row->reply) {
		peer_reply(p, m, row);
		return;
	}
	if (!(row->from & PS_ROLE_BIT(p->info.role))) {
		peer_error(p, m, PS_ERR_CLIENT, "%s is not accepted from a %s", row->name,
		    proto_role_name(p->info.role));
		return;
	}
	if (msg_check(m, row->fmt, &cause) != 0) {
		peer_error(p, m, PS_ERR_CLIENT, "%s", cause);
		free(cause);
		return;
	}
	if (p->cb != NULL)
		p->cb(p, m, p->arg);
}

/* Handle every whole frame in the buffer, unless a defer holds the input. */
static void
peer_dispatch(struct ps_peer *p)
{
	const char *payload;
	struct ps_msg m;
	size_t flen;
	char *cause;
	int r;

	p->dispatching++;
	while (!(p->flags & (PEER_DEAD | PEER_CLOSING)) && p->held == 0) {
		r = rbuf_frame(&p->in, p->max_frame, &payload, &flen, &p->want, &cause);
		if (r == 0)
			break;
		if (r == -1) {
			peer_fail(p, PS_ERR_CLIENT, "%s", cause);
			free(cause);
			break;
		}
		if (msg_decode(&m, payload, flen, &cause) != 0) {
			peer_fail(p, PS_ERR_CLIENT, "bad frame: %s", cause);
			free(cause);
			break;
		}
		p->cur = payload;
		p->cur_len = flen;
		peer_handle(p, &m);
		p->cur = NULL;
		msg_free(&m);
		rbuf_consume(&p->in, 4 + flen);
	}
	p->dispatching--;
	peer_maybe_destroy(p);
}

static void
peer_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ps_peer *p = arg;
	ssize_t n;

	(void)fd;
	(void)what;
	if (p->flags & PEER_LINGER) {
		p->in.start = p->in.end = 0;
		n = rbuf_read(&p->in, p->fd, 0);
		if (n > 0) {
			p->discarded += (size_t)n;
			bytes_in += (uint64_t)n;
		}
		if (n == 0 || (n == -1 && errno != EAGAIN) || p->discarded > LINGER_BYTES)
			peer_gone(p);
		return;
	}
	n = rbuf_read(&p->in, p->fd, p->want);
	if (n == 0 || (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)) {
		if (n == -1)
			log_debug("%s: %s", p->info.name, strerror(errno));
		log_debug("%s: disconnected", p->info.name);
		peer_gone(p);
		return;
	}
	bytes_in += (uint64_t)n;
	peer_dispatch(p);
}

/* The last ERROR is out: send FIN and wait, briefly, for the peer's. */
static void
peer_linger(struct ps_peer *p)
{
	struct timeval tv = { LINGER_SECS, 0 };

	if (p->flags & (PEER_LINGER | PEER_DEAD))
		return;
	p->flags |= PEER_LINGER;
	if (shutdown(p->fd, SHUT_WR) == -1) {
		peer_gone(p);
		return;
	}
	p->discarded = 0;
	event_add(p->timer, &tv);
	event_add(p->rev, NULL);
}

static void
peer_connected(struct ps_peer *p)
{
	int err = p->conn_err;
	socklen_t len = sizeof err;

	if (err == 0 && getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		/* The owner hears why (peer_why) and decides what to log. */
		snprintf(p->why, sizeof p->why, "connect: %s", strerror(err));
		log_debug("%s: %s", p->info.name, p->why);
		peer_gone(p);
		return;
	}
	p->flags &= ~PEER_CONNECTING;
	event_add(p->rev, NULL);
}

static void
peer_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ps_peer *p = arg;
	int n = 0;

	(void)fd;
	(void)what;
	if (p->flags & PEER_CONNECTING) {
		peer_connected(p);
		if (p->flags & PEER_DEAD)
			return;
	}
	if (evbuffer_get_length(p->out) > 0 && (n = evbuffer_write(p->out, p->fd)) == -1 &&
	    errno != EAGAIN && errno != EINTR) {
		log_debug("%s: write: %s", p->info.name, strerror(errno));
		peer_gone(p);
		return;
	}
	if (n > 0)
		bytes_out += (uint64_t)n;
	if (evbuffer_get_length(p->out) == 0) {
		event_del(p->wev);
		if (p->flags & PEER_CLOSING)
			peer_linger(p);
	}
}

struct ps_defer *
peer_defer(struct ps_peer *p, const struct ps_msg *m, int hold)
{
	struct ps_defer *d = xcalloc(1, sizeof *d);
	char *cause;

	if (p->cur == NULL)
		fatalx("peer_defer outside a dispatch");
	d->peer = p;
	d->frame = xmalloc(p->cur_len);
	memcpy(d->frame, p->cur, p->cur_len);
	if (msg_decode(&d->m, d->frame, p->cur_len, &cause) != 0)
		fatalx("peer_defer: %s", cause);
	(void)m;
	d->hold = hold;
	p->refs++;
	if (hold && p->held++ == 0)
		event_del(p->rev);
	d->next = all_defers;
	if (all_defers != NULL)
		all_defers->prev = d;
	all_defers = d;
	return d;
}

struct ps_msg *
defer_msg(struct ps_defer *d)
{
	return &d->m;
}

struct ps_peer *
defer_peer(struct ps_defer *d)
{
	return peer_alive(d->peer) ? d->peer : NULL;
}

static void
defer_free(struct ps_defer *d)
{
	struct ps_peer *p = d->peer;

	if (d->prev != NULL)
		d->prev->next = d->next;
	else
		all_defers = d->next;
	if (d->next != NULL)
		d->next->prev = d->prev;
	msg_free(&d->m);
	free(d->frame);
	free(d);
	p->refs--;
}

void
defer_reply(struct ps_defer *d, struct ps_wbuf *w)
{
	struct ps_peer *p = d->peer;
	int hold = d->hold;

	if (w != NULL)
		peer_send(p, w);
	defer_free(d);
	if (hold && --p->held == 0 && peer_alive(p)) {
		/* Frames that arrived meanwhile are in the buffer: handle them now. */
		event_add(p->rev, NULL);
		event_active(p->rev, EV_READ, 0);
	}
	peer_maybe_destroy(p);
}

void
defer_error(struct ps_defer *d, unsigned int code, const char *fmt, ...)
{
	struct ps_peer *p = d->peer;
	struct ps_hdr h = msg_hdr(PS_MSG_ERROR, d->m.hdr.id, self_id, 0);
	va_list ap;
	char *text;

	va_start(ap, fmt);
	xvasprintf(&text, fmt, ap);
	va_end(ap);
	log_warnx("%s: %s: %s", p->info.name, proto_type_name(d->m.hdr.type), text);
	msg_error(&p->scratch, &h, code, text);
	free(text);
	defer_reply(d, &p->scratch);
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
