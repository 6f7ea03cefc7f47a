/* Little-endian fields of the project's binary files (checkpoints, slot lists, the
 * worker's cache), written byte by byte so that a file reads the same on any host. */
#ifndef PS_LE_H
#define PS_LE_H

#include <stdint.h>
#include <string.h>

static inline void
put_u16(unsigned char *p, uint16_t v)
{
	p[0] = v & 0xff;
	p[1] = v >> 8;
}

static inline void
put_u32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = v >> 24;
}

static inline void
put_u64(unsigned char *p, uint64_t v)
{
	put_u32(p, (uint32_t)v);
	put_u32(p + 4, (uint32_t)(v >> 32));
}

/* A float as its 32 bits: exact, NaN payloads and -0 included. */
static inline void
put_f32(unsigned char *p, float f)
{
	uint32_t bits;

	memcpy(&bits, &f, 4);
	put_u32(p, bits);
}

static inline uint16_t
get_u16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t
get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static inline uint64_t
get_u64(const unsigned char *p)
{
	return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static inline float
get_f32(const unsigned char *p)
{
	uint32_t bits = get_u32(p);
	float f;

	memcpy(&f, &bits, 4);
	return f;
}

#endif
