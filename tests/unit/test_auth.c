/* The shared secret and its proofs (lib/auth.c). */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ps/auth.h"
#include "unit.h"

static char path[] = "/tmp/test_auth.XXXXXX";

/* Write text to the test's file with the given mode. */
static void
write_secret(const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void
test_no_secret(void)
{
	uint8_t nc[AUTH_NONCE], na[AUTH_NONCE], proof[AUTH_PROOF];
	const char *why = NULL;
	size_t len = 99;

	CHECK(!auth_enabled());
	auth_nonce(nc);
	auth_nonce(na);
	CHECK(memcmp(nc, na, AUTH_NONCE) != 0);		/* 2^-128 */
	auth_proof(AUTH_ACCEPT, nc, na, proof, &len);
	CHECK(len == 0);
	CHECK(auth_check(AUTH_ACCEPT, nc, na, proof, 0, &why) == 0);
	/* a peer that proves a secret we do not have */
	memset(proof, 7, sizeof proof);
	CHECK(auth_check(AUTH_CONNECT, nc, na, proof, AUTH_PROOF, &why) == -1);
	CHECK_CONTAINS(why, "this side has none");
}

static void
test_load(void)
{
	char *cause = NULL;

	write_secret("0123456789abcdef0123456789abcdef\n", 0644);
	CHECK(auth_load(path, &cause) == -1);
	CHECK_CONTAINS(cause, "mode 0644 lets others read it: chmod 600");
	free(cause);
	write_secret("0123456789abcdef0123456789abcdef\n", 0620);
	CHECK(auth_load(path, &cause) == -1);		/* group may write */
	free(cause);
	write_secret("too short\n", 0600);
	CHECK(auth_load(path, &cause) == -1);
	CHECK_CONTAINS(cause, "9 bytes: want 16 to 4095");
	free(cause);
	CHECK(!auth_enabled());
	CHECK(auth_load("/nonexistent/secret", &cause) == -1);
	CHECK_CONTAINS(cause, "No such file");
	free(cause);
	write_secret("0123456789abcdef0123456789abcdef\n", 0600);
	CHECK(auth_load(path, &cause) == 0);
	CHECK(auth_enabled());
}

static void
test_proofs(void)
{
	uint8_t nc[AUTH_NONCE], na[AUTH_NONCE], pa[AUTH_PROOF], pc[AUTH_PROOF];
	uint8_t other[AUTH_NONCE];
	const char *why = NULL;
	size_t la, lc;
	char *cause = NULL;

	auth_nonce(nc);
	auth_nonce(na);
	auth_nonce(other);
	auth_proof(AUTH_ACCEPT, nc, na, pa, &la);
	auth_proof(AUTH_CONNECT, nc, na, pc, &lc);
	CHECK(la == AUTH_PROOF && lc == AUTH_PROOF);
	/* one side's proof is never the other's (no reflection) */
	CHECK(memcmp(pa, pc, AUTH_PROOF) != 0);
	CHECK(auth_check(AUTH_ACCEPT, nc, na, pa, la, &why) == 0);
	CHECK(auth_check(AUTH_CONNECT, nc, na, pc, lc, &why) == 0);
	CHECK(auth_check(AUTH_CONNECT, nc, na, pa, la, &why) == -1);
	/* a proof for another connection (another nonce) is no proof (no replay) */
	CHECK(auth_check(AUTH_CONNECT, nc, other, pc, lc, &why) == -1);
	CHECK_CONTAINS(why, "secret differs");
	/* a truncated proof, and none at all */
	CHECK(auth_check(AUTH_CONNECT, nc, na, pc, lc - 1, &why) == -1);
	CHECK(auth_check(AUTH_CONNECT, nc, na, pc, 0, &why) == -1);
	CHECK_CONTAINS(why, "proved no secret");
	/* the same secret without its final newline proves the same */
	write_secret("0123456789abcdef0123456789abcdef", 0600);
	CHECK(auth_load(path, &cause) == 0);
	CHECK(auth_check(AUTH_CONNECT, nc, na, pc, lc, &why) == 0);
	/* another secret does not */
	write_secret("fedcba9876543210fedcba9876543210", 0600);
	CHECK(auth_load(path, &cause) == 0);
	CHECK(auth_check(AUTH_CONNECT, nc, na, pc, lc, &why) == -1);
}

/*
 * The proofs on the wire, pinned: HMAC-SHA256 over the label padded to 16 bytes and
 * both nonces, worked out apart from the code (Python's hmac module), so that a
 * change of crypto library cannot change the handshake.
 */
static void
test_known_proofs(void)
{
	static const uint8_t accept[AUTH_PROOF] = {
		0x6d, 0x52, 0x21, 0x5d, 0xc4, 0xeb, 0xdf, 0xd3, 0x75, 0x22, 0x0a, 0xb0,
		0xec, 0x04, 0xd7, 0x49, 0x00, 0xf6, 0x18, 0x50, 0xb6, 0xb5, 0x21, 0xcf,
		0x0d, 0xd4, 0x2c, 0xd7, 0xcb, 0x2f, 0xdd, 0x9d };
	static const uint8_t connect[AUTH_PROOF] = {
		0x72, 0x95, 0xd3, 0xa9, 0x32, 0xd0, 0xf3, 0x20, 0x7a, 0x6c, 0x4e, 0x72,
		0xf0, 0xb9, 0xa2, 0x93, 0x49, 0x0e, 0xc7, 0xb9, 0x99, 0x95, 0xc9, 0xd2,
		0xc8, 0xf2, 0x8b, 0x74, 0x3c, 0x43, 0x7f, 0x9d };
	uint8_t nc[AUTH_NONCE], na[AUTH_NONCE], proof[AUTH_PROOF];
	char *cause = NULL;
	size_t i, len;

	for (i = 0; i < AUTH_NONCE; i++) {
		nc[i] = (uint8_t)(1 + i);
		na[i] = (uint8_t)(101 + i);
	}
	write_secret("0123456789abcdef0123456789abcdef", 0600);
	CHECK(auth_load(path, &cause) == 0);
	auth_proof(AUTH_ACCEPT, nc, na, proof, &len);
	CHECK(len == AUTH_PROOF && memcmp(proof, accept, AUTH_PROOF) == 0);
	auth_proof(AUTH_CONNECT, nc, na, proof, &len);
	CHECK(len == AUTH_PROOF && memcmp(proof, connect, AUTH_PROOF) == 0);
}

int
main(void)
{
	int fd = mkstemp(path);

	if (fd == -1)
		return 1;
	close(fd);
	RUN(test_no_secret);
	RUN(test_load);
	RUN(test_proofs);
	RUN(test_known_proofs);
	unlink(path);
	return UNIT_DONE();
}
