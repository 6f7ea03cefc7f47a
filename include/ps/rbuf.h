/* A receive buffer and the one frame-length reader, shared by the event-loop side
 * (peer.c) and the blocking side (conn.c). Once a frame's length is known the buffer
 * is grown to hold it whole, so its body is read straight into place in large reads
 * and decoded where it lies: no copy. The buffer is kept and reused for the life of
 * the connection. */
#ifndef PS_RBUF_H
#define PS_RBUF_H

#include <stddef.h>
#include <sys/types.h>

struct ps_rbuf {
	char	*data;
	size_t	 start;		/* first unconsumed byte */
	size_t	 end;		/* one past the last byte read */
	size_t	 cap;
	size_t	 min_read;	/* 0: RBUF_MIN_READ; less for a peer that may only send
				 * small frames (before its handshake), so that a
				 * thousand of them hold little memory */
};

/* Read at least this much at a time when no larger frame is pending. */
#define RBUF_MIN_READ	((size_t)256 << 10)
/* What a long-lived connection keeps after a frame (rbuf_shrink): a 4 MB frame, the
 * largest the clients and moves send, needs a buffer of 8 MB. */
#define RBUF_KEEP	((size_t)8 << 20)

void	rbuf_init(struct ps_rbuf *);
void	rbuf_free(struct ps_rbuf *);
/*
 * Is a whole frame at start? 1: yes, *payload and *flen give its msgpack bytes (after
 * the 4-byte length). 0: not yet, *want is the bytes needed from start. -1: its length
 * is 0 or over max_frame; cause says so.
 */
int	rbuf_frame(const struct ps_rbuf *, size_t max_frame, const char **payload,
	    size_t *flen, size_t *want, char **cause);
/* Drop n bytes from start (a frame handled). */
void	rbuf_consume(struct ps_rbuf *, size_t n);
/* Give memory back after a large frame: if the buffer is larger than keep and its
 * unread bytes would fit in half of keep, move them into a buffer just large enough
 * (or free it if there are none; it grows again on the next read). The bytes of
 * the buffer freed: 0 if it was left alone. */
size_t	rbuf_shrink(struct ps_rbuf *, size_t keep);
/* One read(2) from fd into the free space, made room for want bytes from start (and at
 * least min_read). read's result: bytes, 0 at end of file, -1 with errno. */
ssize_t	rbuf_read(struct ps_rbuf *, int fd, size_t want);

#endif
