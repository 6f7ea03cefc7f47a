#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ps/auth.h"
#include "ps/conn.h"
#include "ps/log.h"
#include "ps/net.h"
#include "ps/rbuf.h"
#include "ps/xmalloc.h"

/* Bytes read and written on every connection, for the worker's heartbeats (sent
 * from another thread). */
static _Atomic uint64_t bytes_in, bytes_out;

void
conn_bytes(uint64_t *in, uint64_t *out)
{
	*in = atomic_load(&bytes_in);
	*out = atomic_load(&bytes_out);
}

double
conn_retry_delay(int tries)
{
	double delay = 0.1;

	while (tries-- > 0 && delay < CONN_RETRY_MAX)
		delay *= 2;
	return delay < CONN_RETRY_MAX ? delay : CONN_RETRY_MAX;
}

int
conn_open(struct ps_conn *c, const char *host, int port, uint32_t role, uint32_t id,
    const char *progname, size_t max_frame, int retries, char **cause)
{
	struct ps_hdr	h = msg_hdr(PS_MSG_HELLO, 0, id, 0);
	struct ps_wbuf	w;
	struct ps_msg	m;
	double		delay;
	char		*why;
	const char	*nonce_a, *proof, *bad;
	uint8_t		 nonce_c[AUTH_NONCE], mine[AUTH_PROOF];
	size_t		 len, plen, mlen;
	int		tries;

	memset(c, 0, sizeof *c);
	c->max_frame = max_frame;
	snprintf(c->name, sizeof c->name, "%.60s:%d", host, port);
	for (tries = 0;; tries++) {
		if ((c->fd = net_connect(host, port, &why)) != -1)
			break;
		if (tries >= retries) {
			*cause = why;
			return -1;
		}
		/* A peer starting late, or restarting: every retry is logged. */
		delay = conn_retry_delay(tries);
		log_info("%s; retry %d of %d in %.1f s", why, tries + 1, retries, delay);
		free(why);
		usleep((useconds_t)(delay * 1e6));
	}

	/* A peer that accepts but never answers (stopped, say) must not hang us. */
	conn_set_timeout(c, NET_CONNECT_SECS);
	auth_nonce(nonce_c);
	wbuf_init(&w);
	msg_begin(&w, &h, 4);
	msg_put_uint(&w, role);
	msg_put_uint(&w, id);
	msg_put_str(&w, progname);
	msg_put_bin(&w, nonce_c, AUTH_NONCE);
	msg_end(&w);
	if (conn_call(c, &w, &m, PS_MSG_HELLO_OK, cause) != 0)
		goto fail;
	/* The peer proves the secret first, then we do (ps/auth.h). */
	nonce_a = msg_bin(&m, 2, &len);
	proof = msg_bin(&m, 3, &plen);
	if (len != AUTH_NONCE || auth_check(AUTH_ACCEPT, nonce_c, (const uint8_t *)nonce_a,
	    proof, plen, &bad) != 0) {
		xasprintf(cause, "%s: %s", c->name, len != AUTH_NONCE ?
		    "HELLO_OK: a bad nonce" : bad);
		msg_free(&m);
		goto fail;
	}
	c->peer_role = msg_uint(&m, 0);
	c->peer_id = msg_uint(&m, 1);
	auth_proof(AUTH_CONNECT, nonce_c, (const uint8_t *)nonce_a, mine, &mlen);
	msg_free(&m);
	h = msg_hdr(PS_MSG_AUTH, 1, id, 0);
	msg_begin(&w, &h, 1);
	msg_put_bin(&w, mine, mlen);
	msg_end(&w);
	if (conn_call(c, &w, &m, PS_MSG_AUTH_OK, cause) != 0)
		goto fail;
	msg_free(&m);
	wbuf_free(&w);
	conn_set_timeout(c, 0);
	return 0;
fail:
	wbuf_free(&w);
	conn_close(c);
	return -1;
}

void
conn_set_recv_timeout(struct ps_conn *c, double secs)
{
	struct timeval tv;

	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

void
conn_set_timeout(struct ps_conn *c, double secs)
{
	struct timeval tv;

	tv.tv_sec = (time_t)secs;
	tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

void
conn_close(struct ps_conn *c)
{
	if (c->fd > 0)
		close(c->fd);
	rbuf_free(&c->in);
	c->fd = -1;
}

int
conn_send(struct ps_conn *c, struct ps_wbuf *w, char **cause)
{
	size_t off = 0;
	ssize_t n;

	while (off < w->len) {
		n = write(c->fd, w->data + off, w->len - off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			xasprintf(cause, "%s: write: %s", c->name, strerror(errno));
			atomic_fetch_add(&bytes_out, off);
			wbuf_reset(w);
			return -1;
		}
		off += n;
	}
	atomic_fetch_add(&bytes_out, off);
	wbuf_reset(w);
	return 0;
}

int
conn_recv(struct ps_conn *c, struct ps_msg *m, char **cause)
{
	const char *payload;
	const struct ps_proto *row;
	size_t flen, want;
	ssize_t n;
	char *why;
	int r;

	c->timed_out = 0;
	while ((r = rbuf_frame(&c->in, c->max_frame, &payload, &flen, &want, &why)) == 0) {
		if ((n = rbuf_read(&c->in, c->fd, want)) > 0) {
			atomic_fetch_add(&bytes_in, (uint64_t)n);
			continue;
		}
		if (n == 0)
			xasprintf(cause, "%s: connection closed by peer", c->name);
		else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->timed_out = 1;
			xasprintf(cause, "%s: no answer: timed out", c->name);
		}
		else
			xasprintf(cause, "%s: read: %s", c->name, strerror(errno));
		return -1;
	}
	if (r == -1) {
		xasprintf(cause, "%s: %s", c->name, why);
		free(why);
		return -1;
	}
	if (msg_decode(m, payload, flen, &why) != 0) {
		xasprintf(cause, "%s: bad frame: %s", c->name, why);
		free(why);
		return -1;
	}
	/* The message points into the buffer: it stays put until the next read. */
	rbuf_consume(&c->in, 4 + flen);
	/* Checked against the protocol table, as the event-loop side does. */
	if ((row = proto_lookup(m->hdr.type)) == NULL) {
		xasprintf(cause, "%s: unknown message type %u", c->name, m->hdr.type);
		msg_free(m);
		return -1;
	}
	if (msg_check(m, row->fmt, &why) != 0) {
		xasprintf(cause, "%s: %s", c->name, why);
		free(why);
		msg_free(m);
		return -1;
	}
	return 0;
}

int
conn_expect(struct ps_conn *c, struct ps_msg *m, uint32_t want, char **cause)
{
	if (conn_recv(c, m, cause) != 0)
		return -1;
	return conn_check_reply(c, m, want, cause);
}

int
conn_check_reply(struct ps_conn *c, struct ps_msg *m, uint32_t want, char **cause)
{
	if (m->hdr.type == PS_MSG_ERROR) {
		char *text = msg_strdup(m, 1);

		xasprintf(cause, "%s: %s", c->name, text);
		free(text);
		msg_free(m);
		return -1;
	}
	if (m->hdr.type != want) {
		xasprintf(cause, "%s: expected %s, got %s", c->name, proto_type_name(want),
		    proto_type_name(m->hdr.type));
		msg_free(m);
		return -1;
	}
	return 0;
}

int
conn_call(struct ps_conn *c, struct ps_wbuf *w, struct ps_msg *m, uint32_t want,
    char **cause)
{
	if (conn_send(c, w, cause) != 0)
		return -1;
	return conn_expect(c, m, want, cause);
}
