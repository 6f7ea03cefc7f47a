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
#include "ps/xmalloc.h"

int
conn_open(struct ps_conn *c, const char *host, int port, uint32_t role, uint32_t id,
    const char *progname, size_t max_frame, double retry_secs, char **cause)
{
	struct ps_hdr	h = { .version = PS_PROTOCOL_VERSION, .type = PS_MSG_HELLO,
			    .sender = id };
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
	if (msg_check(&m, "uu", cause) != 0) {
		msg_free(&m);
		conn_close(c);
		return -1;
	}
	c->peer_role = msg_uint(&m, 0);
	c->peer_id = msg_uint(&m, 1);
	msg_free(&m);
	return 0;
}

void
conn_close(struct ps_conn *c)
{
	if (c->fd > 0)
		close(c->fd);
	free(c->buf);
	c->fd = -1;
	c->buf = NULL;
	c->cap = c->start = c->end = 0;
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

/* Make at least want bytes available from c->start. */
static int
conn_fill(struct ps_conn *c, size_t want, char **cause)
{
	ssize_t n;

	if (c->end - c->start >= want)
		return 0;
	if (c->start + want > c->cap) {
		/* Compact, and grow to hold the whole frame. */
		if (c->end > c->start)
			memmove(c->buf, c->buf + c->start, c->end - c->start);
		c->end -= c->start;
		c->start = 0;
		if (want > c->cap) {
			size_t cap = c->cap ? c->cap : 65536;
			while (cap < want)
				cap *= 2;
			c->buf = xreallocarray(c->buf, cap, 1);
			c->cap = cap;
		}
	}
	while (c->end - c->start < want) {
		n = read(c->fd, c->buf + c->end, c->cap - c->end);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(cause, "%s: read: %s", c->name, strerror(errno));
			return -1;
		}
		if (n == 0) {
			xasprintf(cause, "%s: connection closed by peer", c->name);
			return -1;
		}
		c->end += n;
	}
	return 0;
}

int
conn_recv(struct ps_conn *c, struct ps_msg *m, char **cause)
{
	const unsigned char *p;
	size_t flen;
	char *why;

	if (conn_fill(c, 4, cause) != 0)
		return -1;
	p = (const unsigned char *)c->buf + c->start;
	flen = ((size_t)p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3];
	if (flen == 0 || flen > c->max_frame) {
		xasprintf(cause, "%s: frame of %zu bytes refused (limit %zu)", c->name,
		    flen, c->max_frame);
		return -1;
	}
	if (conn_fill(c, 4 + flen, cause) != 0)
		return -1;
	if (msg_decode(m, c->buf + c->start + 4, flen, &why) != 0) {
		xasprintf(cause, "%s: bad frame: %s", c->name, why);
		free(why);
		return -1;
	}
	c->start += 4 + flen;
	if (c->start == c->end)
		c->start = c->end = 0;
	return 0;
}

int
conn_expect(struct ps_conn *c, struct ps_msg *m, uint32_t want, char **cause)
{
	if (conn_recv(c, m, cause) != 0)
		return -1;
	if (m->hdr.type == PS_MSG_ERROR) {
		if (msg_check(m, "us", cause) == 0) {
			char *text = msg_strdup(m, 1);
			xasprintf(cause, "%s: %s", c->name, text);
			free(text);
		}
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
