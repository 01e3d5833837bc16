/* The static step's rendezvous: see rendezvous.h. */
#include "rendezvous.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char z85[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

void pmp_token_format(const uint8_t raw[PMP_TOKEN_RAW], char out[PMP_TOKEN_LEN])
{
	char *p = out + 6;

	memcpy(out, "token:", 6);
	for (int i = 0; i < PMP_TOKEN_RAW; i += 4) {
		uint32_t v = (uint32_t)raw[i] << 24 | (uint32_t)raw[i + 1] << 16 | (uint32_t)raw[i + 2] << 8 | raw[i + 3];
		for (int k = 4; k >= 0; k--) {
			p[k] = z85[v % 85];
			v /= 85;
		}
		p += 5;
	}
	*p = '\0';
}

int pmp_port_pick(uint32_t random, int lo, int hi)
{
	return lo + (int)(random % (uint32_t)(hi - lo + 1));
}

int pmp_endpoint_format(const char *addr, int port, char *out, size_t len)
{
	bool v6 = strchr(addr, ':') != NULL;
	int n = snprintf(out, len, "tcp://%s%s%s:%d", v6 ? "[" : "", addr, v6 ? "]" : "", port);
	return *addr && n > 0 && (size_t)n < len ? 0 : -1;
}
