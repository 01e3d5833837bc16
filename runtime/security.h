/* Who may talk to a controller: every executor makes its own secret, and a worker gets it
 * in its environment (PMP_SECRET; through Slurm's authenticated launch for srun steps,
 * never on a command line). By default the secret is a token the controller's ZAP
 * handler checks in the (PLAIN) handshake, which costs nothing per message; with CURVE it
 * is a client key pair only that ZAP handler accepts, and the traffic is encrypted. A
 * peer without the secret does not complete the handshake: none of its messages reaches
 * the controller. */
#ifndef PMP_SECURITY_H
#define PMP_SECURITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PMP_Z85_KEY 41 /* a 32-byte key in Z85, NUL included */

enum pmp_mechanism { PMP_MECH_CURVE = 1, PMP_MECH_TOKEN = 2 };

struct pmp_keys {
	enum pmp_mechanism mechanism;
	char server_public[PMP_Z85_KEY], server_secret[PMP_Z85_KEY]; /* CURVE */
	char client_public[PMP_Z85_KEY], client_secret[PMP_Z85_KEY]; /* CURVE */
	uint8_t client_public_bin[32];                                /* CURVE, as ZAP sees it */
	char token[PMP_Z85_KEY];                                      /* TOKEN */
	char env[4 * PMP_Z85_KEY + 16];                               /* PMP_SECRET's value */
};

/* A fresh secret (controller). 0, or -1 with err. */
int pmp_keys_make(struct pmp_keys *k, enum pmp_mechanism mechanism, char *err, size_t errlen);
/* A worker's view of PMP_SECRET: "curve:" and the server's public, the client's public
 * and secret keys (40 Z85 characters each, back to back), or "token:" and 40. 0, or -1. */
int pmp_keys_parse(const char *secret, struct pmp_keys *k);
/* The ZAP decision for one handshake: mechanism and credentials as ZAP delivers them
 * (CURVE: the client's 32-byte public key; PLAIN: user name, then password). True only
 * for this executor's secret. Pure, so it can be tested and fuzzed. */
bool pmp_zap_allows(const struct pmp_keys *k, const void *mechanism, size_t mlen, const void *const *creds,
		    const size_t *clens, size_t ncreds);
/* Socket options for the controller's ROUTER and a worker's DEALER. 0, or -1 with errno. */
int pmp_secure_server(void *sock, const struct pmp_keys *k);
int pmp_secure_client(void *sock, const struct pmp_keys *k);

#endif
