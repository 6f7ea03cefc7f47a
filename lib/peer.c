/*
 * Peers on the event loop. Each peer is a socket with a read event, a write event and
 * an output evbuffer; input goes into a ps_rbuf, so a frame's body is read straight
 * into place in large reads and decoded where it lies. A frame is refused by its length
 * before any of its body is buffered; a bad frame is answered with ERROR and the
 * connection closed; the process goes on serving everyone else.
 *
 * Bounded resources (after nginx's and redis' limits): until its handshake is done an
 * accepted peer may send frames of PEER_HANDSHAKE_FRAME bytes at most, read into a
 * small buffer, and must be done within net.handshake_timeout; any frame begun must be
 * finished within net.frame_timeout (a slowloris is cut); a receive buffer grown for a
 * large frame is given back after it; a peer whose replies pile up unread is not read
 * from until they drain; at most net.max_connections accepted peers at once, the
 * oldest still in its handshake making room for a new one; accept() out of
 * descriptors pauses the listener instead of spinning.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <malloc.h>
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
#define PEER_ACCEPTED	0x100	/* came from the listener: counts in net.max_connections */
#define PEER_FULL	0x200	/* its replies pile up unread: input paused */
#define PEER_QUIET	0x400	/* closed by a limit: no "left during authentication" */
#define PEER_KEEP	0x800	/* never closed for being idle (peer_keep) */
/* Not yet a peer the owner knows of: it hears of no failure. */
#define PEER_UNSEEN	(PEER_HELLO | PEER_AUTH)
/* Either side of the handshake: frames are small (PEER_HANDSHAKE_FRAME). */
#define PEER_SHAKING	(PEER_HELLO | PEER_AUTH | PEER_HELLO_OK | PEER_AUTH_OK)

/*
 * While a peer stays unproven, its frames are small: HELLO, HELLO_OK, AUTH, AUTH_OK and
 * an ERROR are a few dozen bytes. A larger length is refused as soon as it is read,
 * and the receive buffer reads this much at a time, so that a thousand half-open
 * connections hold a few megabytes.
 */
#define PEER_HANDSHAKE_READ	((size_t)4096)
/*
 * Replies to one peer queued and not yet taken: past this its requests are left
 * unread (TCP makes it wait) until the queue is back under half. A client has four
 * requests of 4 MB at most in flight (lib/client.c), so it never gets here; a peer
 * that only writes does, and costs no more than this.
 */
#define PEER_OUT_HIGH		((size_t)32 << 20)
/* Descriptors kept for what is not an accepted peer: the listener, the scheduler,
 * moves, log, event loop, checkpoint files. */
#define PEER_FD_RESERVE		64
/* After accept() fails for want of descriptors, the listener waits this long. */
#define PEER_ACCEPT_PAUSE	1.0

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
	struct event		*timer;		/* handshake deadline, then linger deadline */
	struct event		*ftimer;	/* the frame under way must end by then */
	double			 frame_since;	/* when its first bytes came; 0: none */
	double			 heard;		/* when its last bytes came */
	struct ps_peer		*shake_prev;	/* accepted peers in the handshake, */
	struct ps_peer		*shake_next;	/* oldest first: the first to go */
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
	int			 auth_failed;	/* the secrets differ: no retry helps */
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
	struct event	*pause;		/* out of descriptors: accept again then */
	int		 fd;
	int		 starved;	/* accept() failed for want of descriptors */
	listen_cb	 cb;
	void		*arg;
};

/*
 * A log line that a flood would repeat: the first is written at once, the ones after
 * it within a second only counted, and said in one line ("and 57 more") when the
 * second is over (the listener's flush timer), so a flood writes a line a second.
 */
struct ratelog {
	double		 last;		/* when the last line was written */
	unsigned int	 more;		/* lines held back since */
	char		 line[160];	/* the last one held back */
};

/*
 * Large frames are not copied into the output buffer: the evbuffer takes the wbuf's
 * memory by reference, and the wbuf gets a spare buffer from this pool, where sent
 * buffers come back. A reused buffer's pages are already mapped, so a 4 MB reply costs
 * no page faults and one copy fewer (pulls of dim 64: 4x faster).
 */
#define POOL_SIZE	8
#define POOL_MIN	((size_t)64 << 10)	/* frames at least this big go by reference */
#define POOL_MAX	((size_t)16 << 20)	/* buffers above this are freed, not kept:
						 * replies are 4 MB (8 MB buffers), and
						 * the pool holds 128 MB at most */

static struct {
	char	*data;
	size_t	 cap;
} pool[POOL_SIZE];

static struct ps_peer	*all_peers;
static struct ps_defer	*all_defers;
/* The limits (peer_set_limits) and what counts against them. */
static int		 max_conns = 1024;
static double		 shake_timeout = 10;
static double		 frame_timeout = 30;
static double		 idle_timeout = 0;
static struct event	*idle_ev;	/* the sweep for idle peers, once one is accepted */
static unsigned int	 naccepted;
static struct ps_peer	*shake_head, *shake_tail;
/* One per cause: a flood of one kind does not hide the others. */
static struct ratelog	 rl_full, rl_shake, rl_frame, rl_idle;
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
static void	peer_failq(struct ps_peer *, int, unsigned int, const char *, ...)
		    PS_PRINTF(4, 5);

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

void
peer_set_limits(int max_connections, double handshake_timeout, double frame_secs,
    double idle_secs)
{
	struct rlimit rl;
	rlim_t want;

	max_conns = max_connections;
	shake_timeout = handshake_timeout;
	frame_timeout = frame_secs;
	idle_timeout = idle_secs;
	/* As redis does for maxclients: raise the soft limit on descriptors as far as
	 * the hard one allows. Past it, accept() pauses (listener_accept). */
	want = (rlim_t)max_connections + PEER_FD_RESERVE;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= want)
		return;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
		want = rl.rlim_max;
	if (want > rl.rlim_cur) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			log_debug("open files limit raised to %llu for net.max_connections",
			    (unsigned long long)want);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur < (rlim_t)max_connections + PEER_FD_RESERVE)
		log_warnx("net.max_connections is %d, but the open files limit is %llu "
		    "(ulimit -n): past about %llu connections, new ones wait", max_connections,
		    (unsigned long long)rl.rlim_cur, rl.rlim_cur > PEER_FD_RESERVE ?
		    (unsigned long long)(rl.rlim_cur - PEER_FD_RESERVE) : 0ULL);
}

/* The ratelogs' lines held back, once their second is over. */
static struct event	*rl_flush_ev;

static void
ratelog_flush(struct ratelog *rl, double now)
{
	if (rl->more == 0 || now - rl->last < 1.0)
		return;
	if (rl->more == 1)
		log_warnx("%s", rl->line);
	else
		log_warnx("%s (and %u more like it in the last second)", rl->line,
		    rl->more - 1);
	rl->more = 0;
	rl->last = now;
}

static void
ratelog_arm(void)
{
	struct timeval tv = { 0, 250000 };

	if (rl_flush_ev != NULL && !evtimer_pending(rl_flush_ev, NULL))
		evtimer_add(rl_flush_ev, &tv);
}

static void
ratelog_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	double now = net_now();

	(void)fd;
	(void)what;
	(void)arg;
	ratelog_flush(&rl_full, now);
	ratelog_flush(&rl_shake, now);
	ratelog_flush(&rl_frame, now);
	ratelog_flush(&rl_idle, now);
	if (rl_full.more > 0 || rl_shake.more > 0 || rl_frame.more > 0 ||
	    rl_idle.more > 0)
		ratelog_arm();
}

static void PS_PRINTF(3, 4)
ratelog(struct event_base *base, struct ratelog *rl, const char *fmt, ...)
{
	double now = net_now();
	va_list ap;

	if (rl_flush_ev == NULL && (rl_flush_ev = evtimer_new(base, ratelog_flush_cb,
	    NULL)) == NULL)
		fatalx("evtimer_new failed");
	va_start(ap, fmt);
	vsnprintf(rl->line, sizeof rl->line, fmt, ap);
	va_end(ap);
	ratelog_flush(rl, now);
	if (rl->more == 0 && now - rl->last >= 1.0) {
		log_warnx("%s", rl->line);
		rl->last = now;
		return;
	}
	rl->more++;
	ratelog_arm();
}

/* Accepted peers still in their handshake, oldest first. */
static void
shake_add(struct ps_peer *p)
{
	p->shake_prev = shake_tail;
	p->shake_next = NULL;
	if (shake_tail != NULL)
		shake_tail->shake_next = p;
	else
		shake_head = p;
	shake_tail = p;
}

static void
shake_del(struct ps_peer *p)
{
	if (p->shake_prev == NULL && shake_head != p)
		return;		/* not in the list */
	if (p->shake_prev != NULL)
		p->shake_prev->shake_next = p->shake_next;
	else
		shake_head = p->shake_next;
	if (p->shake_next != NULL)
		p->shake_next->shake_prev = p->shake_prev;
	else
		shake_tail = p->shake_prev;
	p->shake_prev = p->shake_next = NULL;
}

/*
 * glibc keeps freed memory below its mmap threshold (which grows, up to 32 MB, with
 * the blocks freed) in the heap, where a buffer freed amid others is not given back.
 * After a receive buffer of some size is freed, hand the free pages back.
 */
static void
peer_trim(size_t freed)
{
	static size_t owed;

	owed += freed;
	if (owed >= RBUF_KEEP) {
		malloc_trim(0);
		owed = 0;
	}
}

static void
peer_destroy(struct ps_peer *p)
{
	size_t cap = p->in.cap;

	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		all_peers = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	if (p->flags & PEER_ACCEPTED)
		naccepted--;
	shake_del(p);
	event_free(p->rev);
	event_free(p->wev);
	event_free(p->timer);
	event_free(p->ftimer);
	evbuffer_free(p->out);
	if (p->unsent != NULL)
		evbuffer_free(p->unsent);
	if (p->fd != -1)
		close(p->fd);
	rbuf_free(&p->in);
	wbuf_free(&p->scratch);
	free(p);
	if (cap > RBUF_MIN_READ)
		peer_trim(cap);
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

int
peer_auth_failed(const struct ps_peer *p)
{
	return p->auth_failed;
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
	if ((p->flags & PEER_AUTH) && !(p->flags & PEER_QUIET))
		log_warnx("%s: left during authentication (net.secret_file differs, or is "
		    "set on one side only)", p->info.name);
	p->flags |= PEER_DEAD;
	shake_del(p);
	event_del(p->rev);
	event_del(p->wev);
	event_del(p->timer);
	event_del(p->ftimer);
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
	if (p->flags & (PEER_LINGER | PEER_CLOSING)) {
		/* Lingering over, or the last ERROR not taken in time. */
		peer_gone(p);
		return;
	}
	if (p->flags & (PEER_CONNECTING | PEER_HELLO_OK | PEER_AUTH_OK)) {
		snprintf(p->why, sizeof p->why, "no handshake within %d s", NET_CONNECT_SECS);
		log_warnx("%s: %s", p->info.name, p->why);
		peer_gone(p);
		return;
	}
	if (p->flags & PEER_UNSEEN) {
		/* Accepted, and not through HELLO and AUTH in time. */
		ratelog(event_get_base(p->rev), &rl_shake, "%s: no handshake within %g s "
		    "(net.handshake_timeout); closing the connection", p->info.name,
		    shake_timeout);
		p->flags |= PEER_QUIET;
		peer_failq(p, 1, PS_ERR_TIMEOUT, "no handshake within %g s "
		    "(net.handshake_timeout)", shake_timeout);
		return;
	}
	peer_gone(p);
}

/* The frame under way is late: cut it (the clock started with its first bytes). */
static void
peer_ftimer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ps_peer *p = arg;
	double left;
	struct timeval tv;
	const unsigned char *b;
	char len[48] = "";

	(void)fd;
	(void)what;
	if (p->frame_since == 0 || (p->flags & (PEER_DEAD | PEER_CLOSING)))
		return;
	left = p->frame_since + frame_timeout - net_now();
	if (left > 0.001) {	/* a later frame: its own time */
		tv.tv_sec = (time_t)left;
		tv.tv_usec = (suseconds_t)((left - (double)tv.tv_sec) * 1e6);
		evtimer_add(p->ftimer, &tv);
		return;
	}
	if (p->in.end - p->in.start >= 4) {
		b = (const unsigned char *)p->in.data + p->in.start;
		snprintf(len, sizeof len, " of %zu bytes", ((size_t)b[0] << 24) |
		    ((size_t)b[1] << 16) | ((size_t)b[2] << 8) | b[3]);
	}
	ratelog(event_get_base(p->rev), &rl_frame, "%s: a frame%s not finished within "
	    "%g s (net.frame_timeout; %zu bytes came); closing the connection",
	    p->info.name, len, frame_timeout, p->in.end - p->in.start);
	p->flags |= PEER_QUIET;
	peer_failq(p, 1, PS_ERR_TIMEOUT, "a frame%s not finished within %g s "
	    "(net.frame_timeout)", len, frame_timeout);
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
	p->ftimer = evtimer_new(base, peer_ftimer_cb, p);
	if (p->rev == NULL || p->wev == NULL || p->timer == NULL || p->ftimer == NULL)
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
	if (rl_flush_ev != NULL) {
		event_free(rl_flush_ev);
		rl_flush_ev = NULL;
	}
	if (idle_ev != NULL) {
		event_free(idle_ev);
		idle_ev = NULL;
	}
}

void
peer_keep(struct ps_peer *p)
{
	p->flags |= PEER_KEEP;
}

/*
 * Once a second, as redis' clientsCron: an accepted peer silent for net.idle_timeout
 * is closed, unless it is kept (a registered node: its heartbeats are its life) or
 * something of it is under way (a request held, a reply awaited). Whoever needs it
 * again connects again.
 */
static void
peer_idle_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct ps_peer *p, *next;
	double now = net_now();

	(void)fd;
	(void)what;
	(void)arg;
	for (p = all_peers; p != NULL; p = next) {
		next = p->next;
		if (!(p->flags & PEER_ACCEPTED) || (p->flags & (PEER_KEEP | PEER_SHAKING |
		    PEER_DEAD | PEER_CLOSING | PEER_LINGER)) || p->refs > 0 ||
		    p->pending != NULL || p->frame_since != 0 ||
		    now - p->heard < idle_timeout)
			continue;
		ratelog(event_get_base(p->rev), &rl_idle, "%s: idle for %.0f s "
		    "(net.idle_timeout); closing the connection", p->info.name,
		    now - p->heard);
		p->flags |= PEER_QUIET;
		peer_failq(p, 1, PS_ERR_TIMEOUT, "idle for %.0f s (net.idle_timeout)",
		    now - p->heard);
	}
}

struct ps_peer *
peer_accept(struct event_base *base, int fd, size_t max_frame, peer_cb cb, void *arg)
{
	struct ps_peer *p = peer_new(base, fd, max_frame, cb, arg);
	struct timeval tv;

	p->flags |= PEER_HELLO | PEER_ACCEPTED;
	p->heard = net_now();
	naccepted++;
	shake_add(p);
	if (idle_timeout > 0 && idle_ev == NULL) {
		idle_ev = event_new(base, -1, EV_PERSIST, peer_idle_sweep, NULL);
		tv.tv_sec = 1;
		tv.tv_usec = 0;
		event_add(idle_ev, &tv);
	}
	p->in.min_read = PEER_HANDSHAKE_READ;
	net_peername(fd, p->info.name, sizeof p->info.name);
	event_add(p->rev, NULL);
	if (shake_timeout > 0) {
		tv.tv_sec = (time_t)shake_timeout;
		tv.tv_usec = (suseconds_t)((shake_timeout - (double)tv.tv_sec) * 1e6);
		event_add(p->timer, &tv);
	}
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
	p->in.min_read = PEER_HANDSHAKE_READ;
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

static void
peer_failv(struct ps_peer *p, int quiet, unsigned int code, const char *fmt, va_list ap)
{
	char *text;
	peer_cb cb = p->cb;
	struct timeval tv;

	if (p->flags & (PEER_DEAD | PEER_CLOSING))
		return;
	xvasprintf(&text, fmt, ap);
	if (!quiet)
		log_warnx("%s: %s; closing the connection", p->info.name, text);
	peer_send_error(p, 0, code, text);
	free(text);

	/* Tell the owner now; keep the socket only to flush the ERROR, and not for
	 * ever if the peer takes nothing. */
	p->flags |= PEER_CLOSING;
	p->frame_since = 0;
	event_del(p->rev);
	event_del(p->ftimer);
	tv.tv_sec = (time_t)(frame_timeout > 0 ? frame_timeout : 30);
	tv.tv_usec = 0;
	event_add(p->timer, &tv);
	peer_fail_pending(p, "connection closed");
	p->cb = NULL;
	if (cb != NULL && !(p->flags & PEER_UNSEEN))
		cb(p, NULL, p->arg);
	if (evbuffer_get_length(p->out) == 0)
		peer_linger(p);
}

void
peer_fail(struct ps_peer *p, unsigned int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	peer_failv(p, 0, code, fmt, ap);
	va_end(ap);
}

/* peer_fail, the line logged (or not) by the caller. */
static void
peer_failq(struct ps_peer *p, int quiet, unsigned int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	peer_failv(p, quiet, code, fmt, ap);
	va_end(ap);
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
	shake_del(p);
	event_del(p->timer);
	p->in.min_read = 0;
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
		p->auth_failed = why != NULL;
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
		p->auth_failed = msg_uint(m, 0) == PS_ERR_AUTH;
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
	p->in.min_read = 0;
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

/* Stop reading from p while its replies pile up unread. */
static void
peer_check_full(struct ps_peer *p)
{
	if (!(p->flags & PEER_FULL) && evbuffer_get_length(p->out) >= PEER_OUT_HIGH) {
		p->flags |= PEER_FULL;
		event_del(p->rev);
		log_debug("%s: %zu bytes of replies not taken: not reading its requests "
		    "until they are", p->info.name, evbuffer_get_length(p->out));
	}
}

/* After the frames in the buffer are handled: if another has begun, start its clock
 * (net.frame_timeout), and give back a buffer grown for a large frame. */
static void
peer_after_frames(struct ps_peer *p)
{
	struct timeval tv;
	size_t freed;

	if ((p->flags & (PEER_DEAD | PEER_CLOSING | PEER_FULL)) || p->held > 0 ||
	    p->in.end == p->in.start || frame_timeout <= 0)
		p->frame_since = 0;
	else if (p->frame_since == 0) {
		p->frame_since = net_now();
		if (!evtimer_pending(p->ftimer, NULL)) {
			tv.tv_sec = (time_t)frame_timeout;
			tv.tv_usec = (suseconds_t)((frame_timeout - (double)tv.tv_sec) * 1e6);
			evtimer_add(p->ftimer, &tv);
		}
	}
	/* Not while frames wait for a defer: they are in this buffer. */
	if (p->in.cap > RBUF_KEEP && p->held == 0 && p->want <= RBUF_KEEP / 2 &&
	    (freed = rbuf_shrink(&p->in, RBUF_KEEP)) > 0)
		peer_trim(freed);
}

/* Handle every whole frame in the buffer, unless a defer holds the input. */
static void
peer_dispatch(struct ps_peer *p)
{
	const char *payload;
	struct ps_msg m;
	size_t flen, max;
	char *cause;
	int r;

	p->dispatching++;
	while (!(p->flags & (PEER_DEAD | PEER_CLOSING | PEER_FULL)) && p->held == 0) {
		/* Before the handshake, only small frames: a larger length is refused
		 * before any buffer grows. */
		max = p->max_frame;
		if ((p->flags & PEER_SHAKING) && max > PEER_HANDSHAKE_FRAME)
			max = PEER_HANDSHAKE_FRAME;
		r = rbuf_frame(&p->in, max, &payload, &flen, &p->want, &cause);
		if (r == 0)
			break;
		if (r == -1) {
			if (max != p->max_frame)
				peer_fail(p, PS_ERR_CLIENT, "%s before the handshake", cause);
			else
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
		p->frame_since = 0;
		peer_check_full(p);
	}
	if (p->dispatching == 1)
		peer_after_frames(p);
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
		if (p->in.cap > PEER_HANDSHAKE_READ) {	/* what is read is dropped */
			rbuf_free(&p->in);
			p->in.min_read = PEER_HANDSHAKE_READ;
		}
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
	if (n > 0)
		p->heard = net_now();
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
		/* A failed connect ends p: keep it until we have looked. */
		p->dispatching++;
		peer_connected(p);
		p->dispatching--;
		if (p->flags & PEER_DEAD) {
			peer_maybe_destroy(p);
			return;
		}
	}
	if (evbuffer_get_length(p->out) > 0 && (n = evbuffer_write(p->out, p->fd)) == -1 &&
	    errno != EAGAIN && errno != EINTR) {
		log_debug("%s: write: %s", p->info.name, strerror(errno));
		peer_gone(p);
		return;
	}
	if (n > 0)
		bytes_out += (uint64_t)n;
	if ((p->flags & PEER_FULL) && evbuffer_get_length(p->out) < PEER_OUT_HIGH / 2) {
		/* Taken: read its requests again, starting with those buffered. */
		p->flags &= ~PEER_FULL;
		if (p->held == 0 && peer_alive(p)) {
			event_add(p->rev, NULL);
			event_active(p->rev, EV_READ, 0);
		}
	}
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
	if (hold && --p->held == 0 && peer_alive(p) && !(p->flags & PEER_FULL)) {
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
listener_resume(evutil_socket_t fd, short what, void *arg)
{
	struct ps_listener *l = arg;

	(void)fd;
	(void)what;
	event_add(l->ev, NULL);
}

/* Out of descriptors (or kernel memory): stop accepting for a while rather than be
 * woken again at once for the same connection. Said once until accept() works. */
static void
listener_starve(struct ps_listener *l, int err)
{
	struct timeval tv = { (time_t)PEER_ACCEPT_PAUSE, 0 };
	struct rlimit rl;

	if (!l->starved) {
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
			log_warnx("accept: %s (%u connections, open files limit %llu): "
			    "not accepting for %g s at a time until descriptors are free",
			    strerror(err), naccepted, (unsigned long long)rl.rlim_cur,
			    PEER_ACCEPT_PAUSE);
		else
			log_warnx("accept: %s (%u connections): not accepting for %g s "
			    "at a time until descriptors are free", strerror(err),
			    naccepted, PEER_ACCEPT_PAUSE);
	}
	l->starved = 1;
	event_del(l->ev);
	evtimer_add(l->pause, &tv);
}

/* Close the oldest accepted peer still in its handshake, to make room for a new one. */
static void
peer_evict(struct event_base *base, const char *why)
{
	struct ps_peer *p = shake_head;

	ratelog(base, &rl_full, "%s: closed %s, the oldest connection still in its "
	    "handshake, to make room for a new one", why, p->info.name);
	p->flags |= PEER_QUIET;
	snprintf(p->why, sizeof p->why, "closed to make room");
	peer_gone(p);
}

/* Past net.max_connections with every peer through its handshake: ERROR, close. */
static void
listener_refuse(int fd, const char *text)
{
	struct ps_hdr h = msg_hdr(PS_MSG_ERROR, 0, self_id, 0);
	struct ps_wbuf w;
	char junk[4096];
	int i;

	evutil_make_socket_nonblocking(fd);
	/* What the peer sent already (its HELLO): unread, it would turn the close into
	 * a RST, which may drop the ERROR. */
	for (i = 0; i < 4 && read(fd, junk, sizeof junk) > 0; i++)
		;
	wbuf_init(&w);
	msg_error(&w, &h, PS_ERR_STATE, text);
	if (write(fd, w.data, w.len) > 0)
		bytes_out += w.len;
	wbuf_free(&w);
	shutdown(fd, SHUT_WR);
	close(fd);
}

/* Take one connection: 0, or -1 when there is none to take now. first: the first
 * of this wake-up, so one is waiting (out of descriptors, accept() fails whether one
 * waits or not). */
static int
listener_accept_one(struct ps_listener *l, int first)
{
	struct event_base *base = event_get_base(l->ev);
	char name[64], text[96];
	int fd, evicted = 0;

	while ((fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			if (!first)
				return -1;	/* back here if one waits */
			/* One still in its handshake gives up its descriptor. */
			if (!evicted && shake_head != NULL) {
				peer_evict(base, "out of descriptors");
				evicted = 1;
				continue;
			}
			listener_starve(l, errno);
			return -1;
		}
		if (errno == ECONNABORTED || errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			log_warn("accept");
		return -1;
	}
	if (l->starved) {
		log_info("accepting connections again (%u open)", naccepted);
		l->starved = 0;
	}
	if (max_conns > 0 && naccepted >= (unsigned int)max_conns) {
		snprintf(text, sizeof text, "net.max_connections (%d) reached", max_conns);
		if (shake_head != NULL)
			peer_evict(base, text);
		else {
			net_peername(fd, name, sizeof name);
			ratelog(base, &rl_full, "%s: connection from %s refused (every one "
			    "open is past its handshake)", text, name);
			listener_refuse(fd, "too many connections: net.max_connections "
			    "reached; try again later");
			return 0;
		}
	}
	l->cb(fd, l->arg);
	return 0;
}

/* A burst of connections is taken a few at a time, so that the backlog drains
 * quickly and the peers already in are served between. */
static void
listener_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct ps_listener *l = arg;
	int i;

	(void)lfd;
	(void)what;
	for (i = 0; i < 16; i++)
		if (listener_accept_one(l, i == 0) == -1)
			break;
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
	l->pause = evtimer_new(base, listener_resume, l);
	if (l->ev == NULL || l->pause == NULL)
		fatalx("event_new failed");
	event_add(l->ev, NULL);
	return l;
}

void
peer_listen_free(struct ps_listener *l)
{
	if (l == NULL)
		return;
	event_free(l->ev);
	event_free(l->pause);
	close(l->fd);
	free(l);
}
