/* Run times by kind: see durations.h. */
#include "durations.h"

#define FRACTION_BITS 8
#define AVERAGE_SHIFT 3 /* each answer moves the average an eighth of the way */

/* log2(us) with FRACTION_BITS bits of fraction, the fraction interpolated linearly
 * between powers of two: within 0.09 of the true value, which is 6% of the time. */
static int32_t log2_fixed(unsigned us)
{
	if (us < 1)
		us = 1;
	int msb = 31 - __builtin_clz(us);
	uint64_t scaled = ((uint64_t)us << FRACTION_BITS) >> msb; /* in [256, 512) */
	return (int32_t)(msb << FRACTION_BITS) + (int32_t)(scaled - (1u << FRACTION_BITS));
}

static unsigned exp2_fixed(int32_t q)
{
	int msb = q >> FRACTION_BITS;
	uint64_t mantissa = (1u << FRACTION_BITS) + (uint32_t)(q & ((1 << FRACTION_BITS) - 1));
	return (unsigned)((mantissa << msb) >> FRACTION_BITS);
}

/* Fibonacci hashing: kinds that differ in their low bits only spread over the slots. */
static uint32_t slot_of(uint32_t kind)
{
	_Static_assert(PMP_KIND_SLOTS == 1 << (32 - 26), "the shift picks one of PMP_KIND_SLOTS");
	return (kind * 2654435769u) >> 26;
}

void pmp_durations_record(struct pmp_durations *d, uint32_t kind, unsigned run_us)
{
	if (!kind)
		return;
	struct pmp_kind_time *s = &d->slots[slot_of(kind)];
	int32_t x = log2_fixed(run_us);
	if (s->kind != kind) { /* a new kind, or one that takes the slot over: from scratch */
		*s = (struct pmp_kind_time){kind, 1, x};
		return;
	}
	/* An arithmetic shift of a negative step rounds down; a step of -1..-7 then still
	 * moves, and the average reaches x rather than stopping short above it. */
	s->log2_us += (x - s->log2_us) >> AVERAGE_SHIFT;
	if (s->answers < PMP_KIND_KNOWN)
		s->answers++;
}

unsigned pmp_durations_typical(const struct pmp_durations *d, uint32_t kind)
{
	const struct pmp_kind_time *s = &d->slots[slot_of(kind)];
	if (!kind || s->kind != kind || s->answers < PMP_KIND_KNOWN)
		return 0;
	return exp2_fixed(s->log2_us);
}

size_t pmp_durations_hold(const struct pmp_durations *d, uint32_t kind)
{
	unsigned typical = pmp_durations_typical(d, kind);
	return typical ? PMP_HOLD_BUDGET_US / typical : 0;
}

bool pmp_durations_short(const struct pmp_durations *d, uint32_t kind)
{
	unsigned typical = pmp_durations_typical(d, kind);
	return typical && typical <= PMP_SHORT_US;
}
