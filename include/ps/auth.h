/*
 * Proof of a shared secret (net.secret_file) at every connection, both ways, with
 * OpenSSL's HMAC-SHA256 over nonces from both sides:
 *
 *	connecting side				accepting side
 *	HELLO role id name nonce_c	->
 *				<-	HELLO_OK role id nonce_a proof_a
 *	(checks proof_a)
 *	AUTH proof_c			->	(checks proof_c)
 *				<-	AUTH_OK, or ERROR "authentication failed"
 *
 * proof_a = HMAC(secret, "ps accept" nonce_c nonce_a), proof_c = HMAC(secret,
 * "ps connect" nonce_a nonce_c): a proof is good for one connection only (each side
 * chose a nonce), and one side's proof is never the other's. Without a secret the
 * proofs are empty, and a side with a secret refuses a peer without one.
 */
#ifndef PS_AUTH_H
#define PS_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_NONCE	16
#define AUTH_PROOF	32	/* SHA-256 */

enum auth_side { AUTH_ACCEPT, AUTH_CONNECT };

/* Read the secret from path (refused if group or others may read or write it); the
 * process keeps it for every connection. 0, or -1 and *cause. */
int	auth_load(const char *path, char **cause);
int	auth_enabled(void);
void	auth_nonce(uint8_t nonce[AUTH_NONCE]);
/* The proof the given side sends: *len is AUTH_PROOF, or 0 without a secret. */
void	auth_proof(enum auth_side, const uint8_t *nonce_c, const uint8_t *nonce_a,
	    uint8_t proof[AUTH_PROOF], size_t *len);
/* Where a daemon may listen: host, or without a secret loopback only (said once, as
 * a warning naming the configuration key). */
const char *auth_listen_host(const char *host, const char *key);
/* Check the proof the peer (on side `side`) sent: 0, or -1 and a reason (static). */
int	auth_check(enum auth_side, const uint8_t *nonce_c, const uint8_t *nonce_a,
	    const void *proof, size_t len, const char **why);

#endif
