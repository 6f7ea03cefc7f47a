#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ps/conn.h"
#include "ps/log.h"
#include "ps/net.h"
#include "ps/rbuf.h"
#include "ps/xmalloc.h"

int
conn_open(struct ps_conn *c, const char *host, int port, uint32_t role, uint32_t id,
    const char *progname, size_t max_frame, double retry_secs, char **cause)
{
	struct ps_hdr	h = msg_hdr(PS_MSG_HELLO, 0, id, 0);
	struct ps_wbuf	w;
	struct ps_msg	m;
	double		deadline = net_now() + retry_secs;
	char		*why;

	memset(c, 0, sizeof *c);
	c->max_frame = max_frame;
	snprintf(c->name, sizeof c->name, "%.60s:%d", host, port);
	for (;;) {
		if ((c->fd = net_connect(host, port, &why)) != -1)
			break;
		if (net_now() >= deadline) {
			*cause = why;
			return -1;
		}
		free(why);
		usleep(50 * 1000);
	}

	/* A peer that accepts but never answers (stopped, say) must not hang us. */
	conn_set_timeout(c, NET_CONNECT_SECS);
	wbuf_init(&w);
	msg_begin(&w, &h, 3);
	msg_put_uint(&w, role);
	msg_put_uint(&w, id);
	msg_put_str(&w, progname);
	msg_end(&w);
	if (conn_call(c, &w, &m, PS_MSG_HELLO_OK, cause) != 0) {
		wbuf_free(&w);
		conn_close(c);
		return -1;
	}
	wbuf_free(&w);
	conn_set_timeout(c, 0);
	c->peer_role = msg_uint(&m, 0);
	c->peer_id = msg_uint(&m, 1);
	msg_free(&m);
	return 0;
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
			wbuf_reset(w);
			return -1;
		}
		off += n;
	}
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

	while ((r = rbuf_frame(&c->in, c->max_frame, &payload, &flen, &want, &why)) == 0) {
		if ((n = rbuf_read(&c->in, c->fd, want)) > 0)
			continue;
		if (n == 0)
			xasprintf(cause, "%s: connection closed by peer", c->name);
		else if (errno == EAGAIN || errno == EWOULDBLOCK)
			xasprintf(cause, "%s: no answer: timed out", c->name);
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
