/* The shared secret and the proofs of it; see include/ps/auth.h. */
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nettle/hmac.h>
#include <nettle/memops.h>

#include "ps/auth.h"
#include "ps/log.h"
#include "ps/xmalloc.h"

#define AUTH_MAX_SECRET	4096

static uint8_t	auth_secret[AUTH_MAX_SECRET];
static size_t	auth_len;		/* 0: no secret */

int
auth_load(const char *path, char **cause)
{
	struct stat	st;
	ssize_t		n;
	int		fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 || fstat(fd, &st) == -1) {
		xasprintf(cause, "net.secret_file %s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		xasprintf(cause, "net.secret_file %s: mode %04o lets others read it: "
		    "chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
		close(fd);
		return -1;
	}
	n = read(fd, auth_secret, sizeof auth_secret);
	close(fd);
	if (n < 0) {
		xasprintf(cause, "net.secret_file %s: %s", path, strerror(errno));
		return -1;
	}
	/* A final newline (echo > file) is not part of the secret. */
	while (n > 0 && (auth_secret[n - 1] == '\n' || auth_secret[n - 1] == '\r'))
		n--;
	if (n < 16 || (size_t)n >= sizeof auth_secret) {
		xasprintf(cause, "net.secret_file %s: %zd bytes: want 16 to %d", path, n,
		    AUTH_MAX_SECRET - 1);
		explicit_bzero(auth_secret, sizeof auth_secret);
		return -1;
	}
	auth_len = (size_t)n;
	return 0;
}

int
auth_enabled(void)
{
	return auth_len > 0;
}

void
auth_nonce(uint8_t nonce[AUTH_NONCE])
{
	if (getrandom(nonce, AUTH_NONCE, 0) != AUTH_NONCE)
		fatal("getrandom");
}

void
auth_proof(enum auth_side side, const uint8_t *nonce_c, const uint8_t *nonce_a,
    uint8_t proof[AUTH_PROOF], size_t *len)
{
	uint8_t		 msg[16 + 2 * AUTH_NONCE];
	const uint8_t	*first = side == AUTH_ACCEPT ? nonce_c : nonce_a;
	const uint8_t	*second = side == AUTH_ACCEPT ? nonce_a : nonce_c;
	struct hmac_sha256_ctx ctx;

	*len = 0;
	if (auth_len == 0)
		return;
	memset(msg, 0, 16);
	memcpy(msg, side == AUTH_ACCEPT ? "ps accept" : "ps connect",
	    side == AUTH_ACCEPT ? 9 : 10);
	memcpy(msg + 16, first, AUTH_NONCE);
	memcpy(msg + 16 + AUTH_NONCE, second, AUTH_NONCE);
	hmac_sha256_set_key(&ctx, auth_len, (const uint8_t *)auth_secret);
	hmac_sha256_update(&ctx, sizeof msg, msg);
	hmac_sha256_digest(&ctx, AUTH_PROOF, proof);
	explicit_bzero(&ctx, sizeof ctx);	/* it holds the key's pads */
	*len = AUTH_PROOF;
}

int
auth_check(enum auth_side side, const uint8_t *nonce_c, const uint8_t *nonce_a,
    const void *proof, size_t len, const char **why)
{
	uint8_t	want[AUTH_PROOF];
	size_t	wlen;

	if (auth_len == 0) {
		if (len == 0)
			return 0;
		*why = "authentication: the peer has a secret and this side has none "
		    "(set net.secret_file)";
		return -1;
	}
	if (len == 0) {
		*why = "authentication failed: the peer proved no secret "
		    "(net.secret_file not set there)";
		return -1;
	}
	auth_proof(side, nonce_c, nonce_a, want, &wlen);
	if (len != wlen || !memeql_sec(want, proof, wlen)) {
		*why = "authentication failed: the peer's secret differs (net.secret_file)";
		return -1;
	}
	return 0;
}

/* Whether host names a loopback address as written (no lookup). */
static int
auth_loopback(const char *host)
{
	return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0 ||
	    strcmp(host, "localhost") == 0;
}

const char *
auth_listen_host(const char *host, const char *key)
{
	const char *lo = strchr(host, ':') != NULL ? "::1" : "127.0.0.1";

	if (auth_enabled() || auth_loopback(host))
		return host;
	log_warnx("no net.secret_file: listening on %s only, not %s (%s): anyone who "
	    "can reach a daemon could join the job without a secret", lo, host, key);
	return lo;
}
