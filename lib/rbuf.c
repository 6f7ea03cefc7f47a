#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ps/rbuf.h"
#include "ps/xmalloc.h"

void
rbuf_init(struct ps_rbuf *r)
{
	memset(r, 0, sizeof *r);
}

void
rbuf_free(struct ps_rbuf *r)
{
	size_t min_read = r->min_read;

	free(r->data);
	rbuf_init(r);
	r->min_read = min_read;
}

static size_t
rbuf_min_read(const struct ps_rbuf *r)
{
	return r->min_read != 0 ? r->min_read : RBUF_MIN_READ;
}

int
rbuf_frame(const struct ps_rbuf *r, size_t max_frame, const char **payload, size_t *flen,
    size_t *want, char **cause)
{
	const unsigned char *p;
	size_t have = r->end - r->start, n;

	if (have < 4) {
		*want = 4;
		return 0;
	}
	p = (const unsigned char *)r->data + r->start;	/* not before: data may be NULL */
	n = ((size_t)p[0] << 24) | ((size_t)p[1] << 16) | ((size_t)p[2] << 8) | p[3];
	if (n == 0 || n > max_frame) {
		xasprintf(cause, "frame of %zu bytes refused (limit %zu)", n, max_frame);
		return -1;
	}
	if (have < 4 + n) {
		*want = 4 + n;
		return 0;
	}
	*payload = (const char *)p + 4;
	*flen = n;
	return 1;
}

void
rbuf_consume(struct ps_rbuf *r, size_t n)
{
	r->start += n;
	if (r->start == r->end)
		r->start = r->end = 0;
}

/* Room for want bytes from start: slide the unread bytes down, grow if need be. */
static void
rbuf_reserve(struct ps_rbuf *r, size_t want)
{
	size_t cap, min = rbuf_min_read(r);

	/* There must be room for a read too: a held peer's frames, not yet handled,
	 * can fill the buffer to its end, and a read of 0 bytes would look like EOF. */
	if (want < min)
		want = min;
	if (r->start + want <= r->cap && r->end < r->cap)
		return;
	if (r->start > 0) {
		memmove(r->data, r->data + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (want <= r->cap && r->end < r->cap)
		return;
	if (want < r->end + min)
		want = r->end + min;
	for (cap = r->cap ? r->cap : min; cap < want; cap *= 2)
		;
	r->data = xreallocarray(r->data, cap, 1);
	r->cap = cap;
}

size_t
rbuf_shrink(struct ps_rbuf *r, size_t keep)
{
	size_t n = r->end - r->start, cap, min = rbuf_min_read(r), was = r->cap;

	if (r->cap <= keep || n > keep / 2)
		return 0;
	if (n == 0) {
		rbuf_free(r);
		return was;
	}
	memmove(r->data, r->data + r->start, n);
	r->start = 0;
	r->end = n;
	for (cap = min; cap < n + min; cap *= 2)
		;
	if (cap >= r->cap)
		return 0;
	r->data = xreallocarray(r->data, cap, 1);
	r->cap = cap;
	return was - cap;
}

ssize_t
rbuf_read(struct ps_rbuf *r, int fd, size_t want)
{
	ssize_t n;

	rbuf_reserve(r, want);
	do
		n = read(fd, r->data + r->end, r->cap - r->end);
	while (n == -1 && errno == EINTR);
	if (n > 0)
		r->end += (size_t)n;
	return n;
}
