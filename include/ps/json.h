/*
 * msgpack -> JSON text (RFC 8259), for the --json output of ps-ctl. Pure, no I/O.
 *
 * Every msgpack value has one JSON form, so whatever fields a peer adds come out too:
 *   nil -> null, bool -> true/false;
 *   uint and int -> their exact decimal (all 64 bits: no detour through double);
 *   float32 and float64 -> the shortest "%.Ng" (N from 6 up) that reads back as the
 *     same value; NaN and infinities, which JSON lacks, -> null;
 *   str -> a string: '"', '\\' and control characters escaped, bytes that are not
 *     valid UTF-8 replaced by U+FFFD, so the text is always valid;
 *   bin and ext -> a string of lowercase hex, two digits a byte (ext drops its type):
 *     hex rather than base64 because bulk data is little-endian numbers, easier read
 *     in hex;
 *   array -> array; map -> object. JSON keys are strings: a str key is used as it is,
 *     a bin key as its hex, any other key as the string of its JSON text (1 -> "1").
 * The text has no whitespace and no newline.
 */
#ifndef PS_JSON_H
#define PS_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>

/* A growable text, always NUL-terminated once initialised. */
struct json_buf {
	char	*data;
	size_t	 len;
	size_t	 cap;
};

void	json_init(struct json_buf *);
void	json_free(struct json_buf *);
void	json_reset(struct json_buf *);

/* Append JSON text: */
void	json_put_raw(struct json_buf *, const char *);		/* as it is: '{', ',' */
void	json_put_str(struct json_buf *, const char *, size_t);	/* a quoted string */
void	json_put_uint(struct json_buf *, uint64_t);
void	json_put_int(struct json_buf *, int64_t);
void	json_put_double(struct json_buf *, double);
void	json_put_float(struct json_buf *, float);	/* shortest for float32 */
void	json_put_object(struct json_buf *, const msgpack_object *);

/* The JSON text of o, xmalloc'd. */
char	*json_text(const msgpack_object *);

#endif
