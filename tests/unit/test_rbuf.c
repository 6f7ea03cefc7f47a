/* The receive buffer and frame-length reader (lib/rbuf.c), over pipes, socket pairs and
 * files: frames split over many reads, many frames in one read, refusals, growth, EOF. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ps/msg.h"
#include "ps/rbuf.h"
#include "unit.h"

#define MAXF	1000000		/* max_frame in these tests, unless said */

/* Byte i of the payload of frame f. */
static unsigned char
pat(size_t f, size_t i)
{
	return (unsigned char)(f * 131 + i * 7 + (i >> 8));
}

/* Append frame f, of a payload of n bytes, to buf at *len. */
static void
put_frame(unsigned char *buf, size_t *len, size_t f, size_t n)
{
	size_t i;

	buf[(*len)++] = (unsigned char)(n >> 24);
	buf[(*len)++] = (unsigned char)(n >> 16);
	buf[(*len)++] = (unsigned char)(n >> 8);
	buf[(*len)++] = (unsigned char)n;
	for (i = 0; i < n; i++)
		buf[(*len)++] = pat(f, i);
}

static int
good_payload(const char *p, size_t f, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] != pat(f, i))
			return 0;
	return 1;
}

static void
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n <= 0) {
			CHECK(n > 0);
			return;
		}
		p += n;
		len -= (size_t)n;
	}
}

static const size_t sizes[] = { 1, 300, 4, 70000, 2, 5, 1000, 65536, 3 };
#define NSIZES	(sizeof sizes / sizeof sizes[0])

/*
 * The frames of sizes[] written in chunks of the given lengths (cycled) to a pipe; after
 * each chunk, read what there is and take every whole frame. Each frame is seen once,
 * whole and in order, and want always says what the next frame needs.
 */
static void
split_reads(const size_t *chunks, size_t nchunks)
{
	static unsigned char buf[4 * NSIZES + 200000];
	struct ps_rbuf r;
	const char *payload;
	size_t len = 0, pos = 0, pending, ci = 0, f = 0, flen, want = 0, chunk, i;
	size_t nreads = 0, nframes_ok = 0, want_ok = 1, never_refused = 1;
	char *cause = NULL;
	ssize_t n;
	int fds[2], x;

	for (i = 0; i < NSIZES; i++)
		put_frame(buf, &len, i, sizes[i]);
	CHECK(pipe(fds) == 0);
	rbuf_init(&r);
	while (pos < len) {
		chunk = chunks[ci++ % nchunks];
		if (chunk > len - pos)
			chunk = len - pos;
		write_all(fds[1], buf + pos, chunk);
		pos += chunk;
		pending = chunk;
		for (;;) {
			while ((x = rbuf_frame(&r, MAXF, &payload, &flen, &want,
			    &cause)) == 1) {
				nframes_ok += f < NSIZES && flen == sizes[f] &&
				    good_payload(payload, f, flen);
				rbuf_consume(&r, 4 + flen);
				f++;
			}
			if (x != 0)
				break;
			/* want: the header, or the whole of the frame at start */
			want_ok &= r.end - r.start < 4 ? want == 4 :
			    f < NSIZES && want == 4 + sizes[f];
			if (pending == 0)
				break;
			n = rbuf_read(&r, fds[0], want);
			if (n <= 0)
				break;
			nreads++;
			pending -= (size_t)n;
		}
		never_refused &= x == 0;
	}
	CHECK(never_refused);
	CHECK(f == NSIZES);
	CHECK(nframes_ok == NSIZES);
	CHECK(want_ok);
	CHECK(r.start == 0 && r.end == 0);	/* all consumed: back to the start */
	CHECK(cause == NULL);
	if (nchunks == 1 && chunks[0] == 1)
		CHECK(nreads == len);
	close(fds[1]);
	CHECK(rbuf_read(&r, fds[0], 4) == 0);	/* end of file */
	close(fds[0]);
	rbuf_free(&r);
	CHECK(r.data == NULL && r.cap == 0);
	rbuf_free(&r);			/* twice is harmless */
}

static void
test_byte_by_byte(void)
{
	static const size_t one[] = { 1 };

	split_reads(one, 1);
}

static void
test_odd_chunks(void)
{
	static const size_t odd[] = { 3, 1, 7, 2, 4093, 5, 65535, 6, 1, 1, 300 };
	static const size_t five[] = { 5 };
	static const size_t big[] = { 65536 };

	split_reads(odd, sizeof odd / sizeof odd[0]);
	split_reads(five, 1);
	split_reads(big, 1);
}

/* Many frames in one write and one read; then a frame whose header is split 2 + 2. */
static void
test_many_in_one(void)
{
	static unsigned char buf[100 * (4 + 100)];
	struct ps_rbuf r;
	const char *payload;
	size_t len = 0, flen, want, i, f, ok = 0;
	char *cause = NULL;
	int fds[2];

	for (i = 0; i < 100; i++)
		put_frame(buf, &len, i, 1 + i);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
	write_all(fds[1], buf, len);
	rbuf_init(&r);
	CHECK(rbuf_frame(&r, MAXF, &payload, &flen, &want, &cause) == 0);	/* empty */
	CHECK(want == 4);
	CHECK(rbuf_read(&r, fds[0], want) == (ssize_t)len);
	CHECK(r.cap == RBUF_MIN_READ);
	for (f = 0; rbuf_frame(&r, MAXF, &payload, &flen, &want, &cause) == 1; f++) {
		/* decoded where it lies: the payload is in the buffer */
		ok += flen == f + 1 && payload == r.data + r.start + 4 &&
		    good_payload(payload, f, flen);
		rbuf_consume(&r, 4 + flen);
	}
	CHECK(f == 100 && ok == 100);
	CHECK(r.start == 0 && r.end == 0);

	/* header 2 + 2 bytes, then the body */
	len = 0;
	put_frame(buf, &len, 7, 50);
	write_all(fds[1], buf, 2);
	CHECK(rbuf_read(&r, fds[0], want) == 2);
	CHECK(rbuf_frame(&r, MAXF, &payload, &flen, &want, &cause) == 0 && want == 4);
	write_all(fds[1], buf + 2, 2);
	CHECK(rbuf_read(&r, fds[0], want) == 2);
	CHECK(rbuf_frame(&r, MAXF, &payload, &flen, &want, &cause) == 0 && want == 54);
	write_all(fds[1], buf + 4, 49);
	CHECK(rbuf_read(&r, fds[0], want) == 49);
	CHECK(rbuf_frame(&r, MAXF, &payload, &flen, &want, &cause) == 0 && want == 54);
	write_all(fds[1], buf + 53, 1);
	CHECK(rbuf_read(&r, fds[0], want) == 1);
	CHECK(rbuf_frame(&r, MAXF, &payload, &flen, &want, &cause) == 1);
	CHECK(flen == 50 && good_payload(payload, 7, 50));
	/* a frame is seen until consumed */
	CHECK(rbuf_frame(&r, MAXF, &payload, &flen, &want, &cause) == 1 && flen == 50);
	rbuf_consume(&r, 4 + flen);
	CHECK(cause == NULL);

	/* nothing to read on a non-blocking socket: -1, EAGAIN, nothing changed */
	CHECK(fcntl(fds[0], F_SETFL, O_NONBLOCK) == 0);
	errno = 0;
	CHECK(rbuf_read(&r, fds[0], 4) == -1 && (errno == EAGAIN || errno == EWOULDBLOCK));
	CHECK(r.start == 0 && r.end == 0);
	close(fds[0]);
	close(fds[1]);
	rbuf_free(&r);
}

/* Frames built by the codec, read back and decoded in place. */
static void
test_codec_frames(void)
{
	struct ps_wbuf w;
	struct ps_rbuf r;
	struct ps_msg m;
	struct ps_hdr h;
	const char *payload;
	size_t flen, want = 4, got = 0, i, off;
	char *cause = NULL;
	int fds[2];

	wbuf_init(&w);
	for (i = 0; i < 20; i++) {
		h = msg_hdr(PS_MSG_SLOT_DATA_OK, 1000 + i, 3, 9);
		msg_begin(&w, &h, 2);
		msg_put_uint(&w, i * i);
		msg_put_str(&w, "hello");
		msg_end(&w);
	}
	CHECK(pipe(fds) == 0);
	rbuf_init(&r);
	/* 13 bytes at a time */
	for (off = 0; off < w.len || got < 20;) {
		int x;

		while ((x = rbuf_frame(&r, MAXF, &payload, &flen, &want, &cause)) == 1) {
			if (msg_decode(&m, payload, flen, &cause) == 0) {
				CHECK(m.hdr.type == PS_MSG_SLOT_DATA_OK);
				CHECK(m.hdr.id == 1000 + got && m.hdr.epoch == 9);
				CHECK(m.nargs == 2 && msg_uint(&m, 0) == got * got);
				msg_free(&m);
			}
			rbuf_consume(&r, 4 + flen);
			got++;
		}
		if (x != 0 || off >= w.len)
			break;
		write_all(fds[1], w.data + off, w.len - off < 13 ? w.len - off : 13);
		off += w.len - off < 13 ? w.len - off : 13;
		CHECK(rbuf_read(&r, fds[0], want) > 0);
	}
	CHECK(got == 20);
	CHECK(cause == NULL);
	close(fds[0]);
	close(fds[1]);
	rbuf_free(&r);
	wbuf_free(&w);
}

/* Frames of 0 bytes and over max_frame are refused on their header alone. */
static void
test_refuse(void)
{
	static unsigned char buf[4 + 1024];
	struct ps_rbuf r;
	const char *payload;
	size_t flen, want, len;
	char *cause = NULL;
	int fds[2];

	CHECK(pipe(fds) == 0);
	rbuf_init(&r);

	/* exactly max_frame: fine */
	len = 0;
	put_frame(buf, &len, 1, 1024);
	write_all(fds[1], buf, len);
	CHECK(rbuf_read(&r, fds[0], 4) == (ssize_t)len);
	CHECK(rbuf_frame(&r, 1024, &payload, &flen, &want, &cause) == 1);
	CHECK(flen == 1024 && good_payload(payload, 1, 1024));
	/* the same frame with a lower limit */
	CHECK(rbuf_frame(&r, 1023, &payload, &flen, &want, &cause) == -1);
	CHECK_STR(cause, "frame of 1024 bytes refused (limit 1023)");
	free(cause);
	cause = NULL;
	rbuf_consume(&r, 4 + flen);

	/* one over, with only the header here */
	write_all(fds[1], "\0\0\004\001", 4);
	CHECK(rbuf_read(&r, fds[0], 4) == 4);
	CHECK(rbuf_frame(&r, 1024, &payload, &flen, &want, &cause) == -1);
	CHECK_STR(cause, "frame of 1025 bytes refused (limit 1024)");
	free(cause);
	cause = NULL;
	rbuf_consume(&r, 4);

	/* the largest length a header can say */
	write_all(fds[1], "\377\377\377\377", 4);
	CHECK(rbuf_read(&r, fds[0], 4) == 4);
	CHECK(rbuf_frame(&r, MAXF, &payload, &flen, &want, &cause) == -1);
	CHECK_STR(cause, "frame of 4294967295 bytes refused (limit 1000000)");
	free(cause);
	cause = NULL;
	rbuf_consume(&r, 4);

	/* zero length, followed by a good frame that is never reached */
	write_all(fds[1], "\0\0\0\0\0\0\0\001x", 9);
	CHECK(rbuf_read(&r, fds[0], 4) == 9);
	CHECK(rbuf_frame(&r, MAXF, &payload, &flen, &want, &cause) == -1);
	CHECK_STR(cause, "frame of 0 bytes refused (limit 1000000)");
	free(cause);
	cause = NULL;
	/* 3 bytes of a header that would be refused: not yet known */
	rbuf_consume(&r, 9);
	write_all(fds[1], "\0\0\0", 3);
	CHECK(rbuf_read(&r, fds[0], 4) == 3);
	CHECK(rbuf_frame(&r, MAXF, &payload, &flen, &want, &cause) == 0 && want == 4);
	CHECK(cause == NULL);

	/* end of file with a partial header pending: 0, and the bytes stay */
	close(fds[1]);
	CHECK(rbuf_read(&r, fds[0], 4) == 0);
	CHECK(r.end - r.start == 3);
	close(fds[0]);
	rbuf_free(&r);
}

struct writer {
	int		 fd;
	const void	*buf;
	size_t		 len;
};

static void *
writer_main(void *arg)
{
	struct writer *wr = arg;
	const char *p = wr->buf;
	size_t len = wr->len;
	ssize_t n;

	while (len > 0 && (n = write(wr->fd, p, len)) > 0) {
		p += n;
		len -= (size_t)n;
	}
	close(wr->fd);
	return NULL;
}

#define BIG	((size_t)5 << 20)

/*
 * A 5 MB frame over a socket pair, written by another thread: read whole into a buffer
 * grown to hold it (powers of two from RBUF_MIN_READ: 8 MB), then EOF. The buffer is
 * kept: a small frame afterwards does not shrink it.
 */
static void
test_large_socket(void)
{
	unsigned char *buf;
	struct ps_rbuf r;
	struct writer wr;
	pthread_t t;
	const char *payload;
	size_t len = 0, flen = 0, want = 4, nreads = 0;
	char *cause = NULL;
	ssize_t n;
	int fds[2], x, want_ok = 1;

	buf = malloc(BIG + 4 + 4 + 10);
	put_frame(buf, &len, 3, BIG);
	put_frame(buf, &len, 4, 10);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
	wr.fd = fds[1];
	wr.buf = buf;
	wr.len = len;
	CHECK(pthread_create(&t, NULL, writer_main, &wr) == 0);
	rbuf_init(&r);
	while ((x = rbuf_frame(&r, BIG, &payload, &flen, &want, &cause)) == 0) {
		if (r.end - r.start >= 4)
			want_ok &= want == 4 + BIG;
		if ((n = rbuf_read(&r, fds[0], want)) <= 0)
			break;
		nreads++;
	}
	CHECK(x == 1);
	CHECK(want_ok);
	CHECK(nreads >= 2);
	CHECK(flen == BIG && good_payload(payload, 3, BIG));
	CHECK(r.start == 0 && payload == r.data + 4);
	CHECK(r.cap == (size_t)8 << 20);
	rbuf_consume(&r, 4 + flen);
	while ((x = rbuf_frame(&r, BIG, &payload, &flen, &want, &cause)) == 0)
		if (rbuf_read(&r, fds[0], want) <= 0)
			break;
	CHECK(x == 1 && flen == 10 && good_payload(payload, 4, 10));
	rbuf_consume(&r, 4 + flen);
	CHECK(rbuf_read(&r, fds[0], 4) == 0);		/* the writer closed */
	CHECK(r.cap == (size_t)8 << 20);
	CHECK(cause == NULL);
	pthread_join(t, NULL);
	close(fds[0]);
	rbuf_free(&r);
	free(buf);
}

/*
 * From a file, where a read gets all it asks for: the first read fills RBUF_MIN_READ,
 * the second, with the frame's length known, takes the rest of a 5 MB frame at once.
 */
static void
test_large_file(void)
{
	unsigned char *buf;
	struct ps_rbuf r;
	const char *payload;
	size_t len = 0, flen = 0, want = 4;
	char *cause = NULL;
	FILE *fp;
	int fd;

	buf = malloc(BIG + 4);
	put_frame(buf, &len, 5, BIG);
	fp = tmpfile();
	CHECK(fp != NULL);
	if (fp == NULL) {
		free(buf);
		return;
	}
	fd = fileno(fp);
	write_all(fd, buf, len);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	rbuf_init(&r);
	CHECK(rbuf_read(&r, fd, want) == (ssize_t)RBUF_MIN_READ);
	CHECK(r.cap == RBUF_MIN_READ);
	CHECK(rbuf_frame(&r, BIG, &payload, &flen, &want, &cause) == 0);
	CHECK(want == 4 + BIG);
	CHECK(rbuf_read(&r, fd, want) == (ssize_t)(4 + BIG - RBUF_MIN_READ));
	CHECK(r.cap >= 4 + BIG && r.cap == (size_t)8 << 20);
	CHECK(rbuf_frame(&r, BIG, &payload, &flen, &want, &cause) == 1);
	CHECK(flen == BIG && good_payload(payload, 5, BIG));
	/* one byte less of limit: refused */
	CHECK(rbuf_frame(&r, BIG - 1, &payload, &flen, &want, &cause) == -1);
	CHECK_CONTAINS(cause, "frame of 5242880 bytes refused (limit 5242879)");
	free(cause);
	cause = NULL;
	CHECK(rbuf_frame(&r, BIG, &payload, &flen, &want, &cause) == 1);
	rbuf_consume(&r, 4 + flen);
	CHECK(rbuf_read(&r, fd, 4) == 0);
	fclose(fp);
	rbuf_free(&r);
	free(buf);
}

/*
 * A frame that straddles the end of the buffer: after the first is consumed, the rest
 * of the second is slid down to the start (no growth needed), then completed.
 */
static void
test_slide(void)
{
	static unsigned char buf[4 + 200000 + 4 + 100000];
	struct ps_rbuf r;
	const char *payload;
	size_t len = 0, flen = 0, want = 4;
	char *cause = NULL;
	FILE *fp;
	int fd;

	put_frame(buf, &len, 1, 200000);
	put_frame(buf, &len, 2, 100000);
	fp = tmpfile();
	CHECK(fp != NULL);
	if (fp == NULL)
		return;
	fd = fileno(fp);
	write_all(fd, buf, len);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	rbuf_init(&r);
	CHECK(rbuf_read(&r, fd, want) == (ssize_t)RBUF_MIN_READ);
	CHECK(rbuf_frame(&r, MAXF, &payload, &flen, &want, &cause) == 1);
	CHECK(flen == 200000 && good_payload(payload, 1, flen));
	rbuf_consume(&r, 4 + flen);
	CHECK(r.start == 200004 && r.end == RBUF_MIN_READ);
	CHECK(rbuf_frame(&r, MAXF, &payload, &flen, &want, &cause) == 0);
	CHECK(want == 100004);
	CHECK(rbuf_read(&r, fd, want) == (ssize_t)(len - RBUF_MIN_READ));
	CHECK(r.start == 0 && r.cap == RBUF_MIN_READ);		/* slid, not grown */
	CHECK(rbuf_frame(&r, MAXF, &payload, &flen, &want, &cause) == 1);
	CHECK(flen == 100000 && good_payload(payload, 2, flen));
	rbuf_consume(&r, 4 + flen);
	CHECK(r.start == 0 && r.end == 0);
	CHECK(cause == NULL);
	fclose(fp);
	rbuf_free(&r);
}

/*
 * A small min_read (a peer before its handshake) reads little at a time; a buffer
 * grown for a large frame is given back by rbuf_shrink once the frame is consumed,
 * and moved into a small one when a few bytes of the next frame are left.
 */
static void
test_min_read_and_shrink(void)
{
	static unsigned char buf[4 + 10000000 + 4 + 100 + 3];
	struct ps_rbuf r;
	const char *payload;
	size_t len = 0, flen, want = 4;
	char *cause = NULL;
	FILE *fp;
	int fd;

	put_frame(buf, &len, 1, 100);
	fp = tmpfile();
	CHECK(fp != NULL);
	if (fp == NULL)
		return;
	fd = fileno(fp);
	write_all(fd, buf, len);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	rbuf_init(&r);
	r.min_read = 16;
	CHECK(rbuf_read(&r, fd, want) == 16);		/* a file gives all it is asked */
	CHECK(r.cap == 16);
	CHECK(rbuf_frame(&r, MAXF, &payload, &flen, &want, &cause) == 0);
	CHECK(want == 104);
	CHECK(rbuf_read(&r, fd, want) == 104 - 16);
	CHECK(r.cap == 128);
	CHECK(rbuf_frame(&r, MAXF, &payload, &flen, &want, &cause) == 1);
	rbuf_consume(&r, 4 + flen);
	CHECK(rbuf_shrink(&r, RBUF_KEEP) == 0);		/* small: left alone */
	CHECK(r.cap == 128);
	rbuf_free(&r);
	CHECK(r.min_read == 16 && r.data == NULL);	/* kept across a free */
	fclose(fp);

	/* a frame of 10 MB (a 16 MB buffer), then 4 + 100 bytes and 3 more */
	len = 0;
	put_frame(buf, &len, 2, 10000000);
	put_frame(buf, &len, 3, 100);
	buf[len++] = 0;
	buf[len++] = 0;
	buf[len++] = 1;
	fp = tmpfile();
	CHECK(fp != NULL);
	if (fp == NULL)
		return;
	fd = fileno(fp);
	write_all(fd, buf, len);
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	rbuf_init(&r);
	want = 4;
	while (rbuf_frame(&r, 20000000, &payload, &flen, &want, &cause) == 0)
		CHECK(rbuf_read(&r, fd, want) > 0);
	CHECK(flen == 10000000 && good_payload(payload, 2, flen));
	CHECK(r.cap == ((size_t)16 << 20));
	CHECK(rbuf_shrink(&r, RBUF_KEEP) == 0);		/* not while the frame is there */
	rbuf_consume(&r, 4 + flen);
	/* the rest of the file came with the frame's last read */
	CHECK(r.end - r.start == 4 + 100 + 3);
	/* room for those and a read of RBUF_MIN_READ, as rbuf_read makes */
	CHECK(rbuf_shrink(&r, RBUF_KEEP) == ((size_t)16 << 20) - 2 * RBUF_MIN_READ);
	CHECK(r.cap == 2 * RBUF_MIN_READ && r.start == 0 && r.end == 4 + 100 + 3);
	CHECK(rbuf_frame(&r, MAXF, &payload, &flen, &want, &cause) == 1);
	CHECK(flen == 100 && good_payload(payload, 3, flen));
	rbuf_consume(&r, 4 + flen);
	CHECK(rbuf_frame(&r, MAXF, &payload, &flen, &want, &cause) == 0);
	CHECK(want == 4);
	CHECK(rbuf_read(&r, fd, want) == 0);		/* end of file */
	CHECK(r.end - r.start == 3);
	CHECK(cause == NULL);
	fclose(fp);
	rbuf_free(&r);

	/* empty: freed */
	rbuf_init(&r);
	r.data = malloc((size_t)16 << 20);
	r.cap = (size_t)16 << 20;
	CHECK(rbuf_shrink(&r, RBUF_KEEP) == ((size_t)16 << 20));
	CHECK(r.data == NULL && r.cap == 0);
}

/* A bad descriptor: -1 and its errno. */
static void
test_bad_fd(void)
{
	struct ps_rbuf r;

	rbuf_init(&r);
	errno = 0;
	CHECK(rbuf_read(&r, -1, 4) == -1 && errno == EBADF);
	CHECK(r.start == 0 && r.end == 0);
	rbuf_free(&r);
}

int
main(void)
{
	RUN(test_byte_by_byte);
	RUN(test_odd_chunks);
	RUN(test_many_in_one);
	RUN(test_codec_frames);
	RUN(test_refuse);
	RUN(test_large_socket);
	RUN(test_large_file);
	RUN(test_slide);
	RUN(test_min_read_and_shrink);
	RUN(test_bad_fd);
	return UNIT_DONE();
}
