/* Frame codec: build frames into a write buffer, and check and decode received ones.
 * Pure, no I/O: the peer and conn modules move the bytes. */
#ifndef PS_MSG_H
#define PS_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>

#include "ps/proto.h"

/* Hard upper bound on any frame, whatever net.max_frame says (the length is 32 bits). */
#define PS_FRAME_LIMIT		((size_t)2 << 30)
/* Array and map elements in one frame: bulk data travels as bin, so few are needed. */
#define PS_MAX_ELEMENTS		65536
#define PS_MAX_DEPTH		16

/* A growable buffer of one or more complete frames. */
struct ps_wbuf {
	char		*data;
	size_t		 len;
	size_t		 cap;
	size_t		 frame;		/* where the open frame's length prefix is */
	uint32_t	 type;		/* the last frame's type and id, for peer_call */
	uint64_t	 id;
	msgpack_packer	 pk;
};

struct ps_hdr {
	uint32_t	 version;
	uint32_t	 type;
	uint64_t	 id;
	uint32_t	 sender;
	uint64_t	 epoch;
	uint64_t	 clock;
};

/* A decoded frame. args point into the frame's bytes: valid while those are. */
struct ps_msg {
	struct ps_hdr		 hdr;
	const msgpack_object	*args;
	uint32_t		 nargs;
	msgpack_unpacked	 up;
};

void	 wbuf_init(struct ps_wbuf *);
void	 wbuf_free(struct ps_wbuf *);
void	 wbuf_reset(struct ps_wbuf *);

/* Open a frame; nargs arguments must follow, then msg_end(). */
void	 msg_begin(struct ps_wbuf *, const struct ps_hdr *, uint32_t nargs);
void	 msg_put_uint(struct ps_wbuf *, uint64_t);
void	 msg_put_int(struct ps_wbuf *, int64_t);
void	 msg_put_float(struct ps_wbuf *, double);
void	 msg_put_bool(struct ps_wbuf *, int);
void	 msg_put_str(struct ps_wbuf *, const char *);
void	 msg_put_bin(struct ps_wbuf *, const void *, size_t);
/* Make room for len more bytes, so that the next puts of that many bytes do not move
 * the buffer (and pointers from msg_put_bin_space stay good). */
void	 wbuf_reserve(struct ps_wbuf *, size_t len);
/* Room for a bin of len bytes, to be filled in place; valid until the next put
 * (or, after wbuf_reserve, until the reserved room is used up). */
void	*msg_put_bin_space(struct ps_wbuf *, size_t len);
void	 msg_put_array(struct ps_wbuf *, uint32_t n);
void	 msg_put_map(struct ps_wbuf *, uint32_t n);
/* Close the frame: write its length. */
void	 msg_end(struct ps_wbuf *);
/* Shorthand for a reply with no arguments, and for an ERROR reply. */
void	 msg_simple(struct ps_wbuf *, const struct ps_hdr *);
void	 msg_error(struct ps_wbuf *, const struct ps_hdr *, unsigned int code,
	    const char *text);

/* Check that buf holds exactly one msgpack value whose every declared length and
 * count fits in the bytes present; element count and depth are bounded. */
int	 msg_validate(const char *buf, size_t len, char **cause);
/* Validate and decode a frame's payload (after the length prefix). 0 or -1 and cause. */
int	 msg_decode(struct ps_msg *, const char *buf, size_t len, char **cause);
void	 msg_free(struct ps_msg *);
/* Check the argument count and types against fmt (letters in proto.h); a trailing
 * '.' allows extra arguments. The cause names the message type and argument; it may
 * be NULL when only the answer matters. */
int	 msg_check(const struct ps_msg *, const char *fmt, char **cause);

uint64_t	 msg_uint(const struct ps_msg *, uint32_t i);
int64_t		 msg_int(const struct ps_msg *, uint32_t i);
double		 msg_float(const struct ps_msg *, uint32_t i);
const char	*msg_bin(const struct ps_msg *, uint32_t i, size_t *len);
char		*msg_strdup(const struct ps_msg *, uint32_t i);
/* In a decoded map o, the value of the str key, or NULL if o is not a map or has no
 * such key. */
const msgpack_object *msg_map_get(const msgpack_object *o, const char *key);
/* o as a double, if it is a number of any kind: 1, else 0. */
int		 msg_obj_number(const msgpack_object *o, double *v);
/* The one header constructor: this protocol version, clock 0. */
struct ps_hdr	 msg_hdr(uint32_t type, uint64_t id, uint32_t sender, uint64_t epoch);
/* A reply header for request m, from node sender at epoch. */
struct ps_hdr	 msg_reply_hdr(const struct ps_msg *m, uint32_t type, uint32_t sender,
		    uint64_t epoch);

/* Little-endian loads and stores for bulk data that may be unaligned. */
static inline uint64_t
load_u64(const void *p)
{
	uint64_t v;
	__builtin_memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static inline void
store_u64(void *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	__builtin_memcpy(p, &v, 8);
}

#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "bulk float arrays are copied as little-endian; add swapping for big-endian hosts"
#endif

#endif
