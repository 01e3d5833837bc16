/* The wire format: see protocol.h. */
#include "protocol.h"

#include <string.h>

static const uint8_t magic[4] = {'P', 'M', 'P', '1'};

void pmp_header_encode(const struct pmp_header *h, uint8_t out[PMP_HEADER_SIZE])
{
	memcpy(out, magic, sizeof(magic));
	out[4] = h->type;
	out[5] = h->flags;
	uint16_t run_us = h->type == PMP_MSG_RESULT ? h->run_us : 0;
	out[6] = (uint8_t)run_us;
	out[7] = (uint8_t)(run_us >> 8);
	for (int i = 0; i < 8; i++)
		out[8 + i] = (uint8_t)(h->id >> (8 * i));
}

static uint8_t allowed_flags(uint8_t type)
{
	switch (type) {
	case PMP_MSG_TASK:
		return PMP_FLAG_LAST | PMP_FLAG_SHORT;
	case PMP_MSG_RESULT:
		return PMP_FLAG_ERROR | PMP_FLAG_WAITED | PMP_FLAG_MORE;
	case PMP_MSG_INIT:
	case PMP_MSG_SHUTDOWN:
	case PMP_MSG_READY:
		return 0;
	default:
		return 0xff; /* unknown type: caught below */
	}
}

int pmp_header_decode(const void *data, size_t size, struct pmp_header *h)
{
	const uint8_t *p = data;

	if (!p || size != PMP_HEADER_SIZE || memcmp(p, magic, sizeof(magic)) != 0)
		return -1;
	if (p[4] != PMP_MSG_RESULT && (p[6] || p[7]))
		return -1;
	if (!pmp_type_to_controller(p[4]) && !pmp_type_to_worker(p[4]))
		return -1;
	if (p[5] & ~allowed_flags(p[4]))
		return -1;
	h->type = p[4];
	h->flags = p[5];
	h->run_us = (uint16_t)(p[6] | p[7] << 8);
	h->id = 0;
	for (int i = 7; i >= 0; i--)
		h->id = (h->id << 8) | p[8 + i];
	return 0;
}

bool pmp_type_to_controller(uint8_t type)
{
	return type == PMP_MSG_READY || type == PMP_MSG_RESULT;
}

bool pmp_type_to_worker(uint8_t type)
{
	return type == PMP_MSG_TASK || type == PMP_MSG_INIT || type == PMP_MSG_SHUTDOWN;
}
