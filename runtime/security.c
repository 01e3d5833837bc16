/* Per-executor secrets and the ZAP decision: see security.h. */
#include "security.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <zmq.h>

#include "errors.h"

/* Equal lengths and bytes, in time that does not depend on where they differ. */
static bool same(const void *a, size_t alen, const void *b, size_t blen)
{
	const uint8_t *x = a, *y = b;
	uint8_t diff = alen != blen;
	for (size_t i = 0; i < alen && i < blen; i++)
		diff |= x[i] ^ y[i];
	return diff == 0;
}

int pmp_keys_make(struct pmp_keys *k, enum pmp_mechanism mechanism, char *err, size_t errlen)
{
	memset(k, 0, sizeof(*k));
	k->mechanism = mechanism;
	if (mechanism == PMP_MECH_CURVE) {
		if (!zmq_has("curve"))
			return pmp_err(err, errlen, "pmp: this libzmq has no CURVE security: install a libzmq built "
				       "with libsodium (Debian's is)");
		if (zmq_curve_keypair(k->server_public, k->server_secret) < 0 ||
		    zmq_curve_keypair(k->client_public, k->client_secret) < 0 ||
		    !zmq_z85_decode(k->client_public_bin, k->client_public))
			return pmp_err(err, errlen, "pmp: cannot make CURVE keys (%s)", zmq_strerror(errno));
		snprintf(k->env, sizeof(k->env), "curve:%s%s%s", k->server_public, k->client_public, k->client_secret);
		return 0;
	}
	uint8_t raw[32];
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw) || !zmq_z85_encode(k->token, raw, sizeof(raw)))
		return pmp_err(err, errlen, "pmp: cannot make a secret token (%s)", strerror(errno));
	snprintf(k->env, sizeof(k->env), "token:%s", k->token);
	return 0;
}

/* Z85 uses ':' itself: the keys are fixed-width fields, back to back. */
static bool take_key(const char **p, char out[PMP_Z85_KEY])
{
	if (strnlen(*p, PMP_Z85_KEY - 1) != PMP_Z85_KEY - 1)
		return false;
	memcpy(out, *p, PMP_Z85_KEY - 1);
	out[PMP_Z85_KEY - 1] = '\0';
	*p += PMP_Z85_KEY - 1;
	return true;
}

int pmp_keys_parse(const char *secret, struct pmp_keys *k)
{
	memset(k, 0, sizeof(*k));
	if (!secret)
		return -1;
	const char *p = secret + 6;
	if (!strncmp(secret, "token:", 6)) {
		k->mechanism = PMP_MECH_TOKEN;
		return take_key(&p, k->token) && !*p ? 0 : -1;
	}
	if (strncmp(secret, "curve:", 6) != 0)
		return -1;
	k->mechanism = PMP_MECH_CURVE;
	if (!take_key(&p, k->server_public) || !take_key(&p, k->client_public) || !take_key(&p, k->client_secret) || *p)
		return -1;
	uint8_t check[32];
	/* Z85 keys must decode: a mangled secret is refused here, not at the handshake. */
	return zmq_z85_decode(check, k->server_public) && zmq_z85_decode(k->client_public_bin, k->client_public) &&
			       zmq_z85_decode(check, k->client_secret)
		       ? 0
		       : -1;
}

bool pmp_zap_allows(const struct pmp_keys *k, const void *mechanism, size_t mlen, const void *const *creds,
		    const size_t *clens, size_t ncreds)
{
	if (k->mechanism == PMP_MECH_CURVE)
		return same(mechanism, mlen, "CURVE", 5) && ncreds == 1 &&
		       same(creds[0], clens[0], k->client_public_bin, sizeof(k->client_public_bin));
	if (k->mechanism == PMP_MECH_TOKEN)
		return same(mechanism, mlen, "PLAIN", 5) && ncreds == 2 && same(creds[0], clens[0], "pmp", 3) &&
		       same(creds[1], clens[1], k->token, strlen(k->token));
	return false;
}

int pmp_secure_server(void *sock, const struct pmp_keys *k)
{
	int on = 1;
	if (k->mechanism == PMP_MECH_CURVE)
		return zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &on, sizeof(on)) < 0 ||
			       zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, k->server_secret, PMP_Z85_KEY) < 0
			       ? -1
			       : 0;
	return zmq_setsockopt(sock, ZMQ_PLAIN_SERVER, &on, sizeof(on));
}

int pmp_secure_client(void *sock, const struct pmp_keys *k)
{
	if (k->mechanism == PMP_MECH_CURVE)
		return zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, k->server_public, PMP_Z85_KEY) < 0 ||
			       zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, k->client_public, PMP_Z85_KEY) < 0 ||
			       zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, k->client_secret, PMP_Z85_KEY) < 0
			       ? -1
			       : 0;
	return zmq_setsockopt(sock, ZMQ_PLAIN_USERNAME, "pmp", 3) < 0 ||
		       zmq_setsockopt(sock, ZMQ_PLAIN_PASSWORD, k->token, strlen(k->token)) < 0
		       ? -1
		       : 0;
}
