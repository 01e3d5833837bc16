/* libFuzzer target: everything libpmp decodes from bytes a peer controls: the message
 * header, routing ids, a PMP_SECRET, and the ZAP decision on handshake credentials. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "security.h"
#include "workers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pmp_header h;
	if (pmp_header_decode(data, size, &h) == 0) {
		uint8_t again[PMP_HEADER_SIZE];
		pmp_header_encode(&h, again);
		if (memcmp(again, data, PMP_HEADER_SIZE) != 0)
			abort(); /* what decodes must encode back to the same bytes */
	}
	int64_t id = pmp_routing_id_parse(data, size);
	if (id > INT32_MAX)
		abort();

	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	struct pmp_keys k;
	if (pmp_keys_parse(text, &k) == 0 && k.mechanism != PMP_MECH_CURVE && k.mechanism != PMP_MECH_TOKEN)
		abort();

	/* ZAP: the fuzzed bytes as mechanism and credentials, against a real secret */
	static struct pmp_keys token, curve;
	static int ready;
	if (!ready) {
		ready = pmp_keys_make(&token, PMP_MECH_TOKEN, NULL, 0) == 0 &&
			pmp_keys_make(&curve, PMP_MECH_CURVE, NULL, 0) == 0;
	}
	size_t half = size / 2;
	const void *creds[2] = {data, data + half};
	size_t lens[2] = {half, size - half};
	if (ready && (pmp_zap_allows(&token, data, size < 5 ? size : 5, creds, lens, 2) ||
		      pmp_zap_allows(&curve, data, size < 5 ? size : 5, creds, lens, 1)))
		abort(); /* random bytes never hold this run's secret */
	free(text);
	return 0;
}
