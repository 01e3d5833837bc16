/* Run times by kind: when a kind is known, its typical time, how one outlier moves it,
 * and a kind that takes another's slot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "durations.h"
#include "protocol.h"

static void record_n(struct pmp_durations *d, uint32_t kind, unsigned us, int n)
{
	for (int i = 0; i < n; i++)
		pmp_durations_record(d, kind, us);
}

static void test_known_after_enough_answers(void **st)
{
	(void)st;
	struct pmp_durations d;
	memset(&d, 0, sizeof(d));
	assert_int_equal(pmp_durations_typical(&d, 7), 0);
	assert_int_equal(pmp_durations_hold(&d, 7), 0);
	record_n(&d, 7, 20, PMP_KIND_KNOWN - 1);
	assert_int_equal(pmp_durations_typical(&d, 7), 0); /* one answer short */
	assert_int_equal(pmp_durations_hold(&d, 7), 0);
	pmp_durations_record(&d, 7, 20);
	unsigned typical = pmp_durations_typical(&d, 7);
	assert_in_range(typical, 19, 21);
	assert_int_equal(pmp_durations_hold(&d, 7), PMP_HOLD_BUDGET_US / typical);
	assert_int_equal(pmp_durations_typical(&d, 8), 0); /* another kind is not known */
	/* Kind 0 is no kind: never recorded, never known. */
	record_n(&d, 0, 20, 2 * PMP_KIND_KNOWN);
	assert_int_equal(pmp_durations_typical(&d, 0), 0);
	assert_int_equal(pmp_durations_hold(&d, 0), 0);
}

/* Within 6% (the interpolated logarithm) over the whole range a worker reports. */
static void test_typical_of_a_steady_kind(void **st)
{
	(void)st;
	const unsigned times[] = {1, 2, 3, 7, 20, 100, 999, 1000, 1500, 40000, PMP_RUN_US_MAX};
	for (size_t i = 0; i < sizeof(times) / sizeof(*times); i++) {
		struct pmp_durations d;
		memset(&d, 0, sizeof(d));
		record_n(&d, 3, times[i], 20);
		unsigned typical = pmp_durations_typical(&d, 3);
		assert_in_range(typical, times[i] - times[i] * 6 / 100, times[i] + times[i] * 6 / 100);
	}
	/* A task reported as no time at all counts as one microsecond. */
	struct pmp_durations d;
	memset(&d, 0, sizeof(d));
	record_n(&d, 3, 0, PMP_KIND_KNOWN);
	assert_int_equal(pmp_durations_typical(&d, 3), 1);
	assert_int_equal(pmp_durations_hold(&d, 3), PMP_HOLD_BUDGET_US);
	/* Tasks of the budget or longer: none beyond the queue's share. */
	memset(&d, 0, sizeof(d));
	record_n(&d, 3, PMP_HOLD_BUDGET_US * 2, PMP_KIND_KNOWN);
	assert_int_equal(pmp_durations_hold(&d, 3), 0);
	memset(&d, 0, sizeof(d));
	record_n(&d, 3, PMP_RUN_US_MAX, PMP_KIND_KNOWN);
	assert_int_equal(pmp_durations_hold(&d, 3), 0);
}

/* A worker descheduled in a 20 us task reports the most there is: the typical time
 * rises by a factor, not to the outlier's, and a few answers bring it back. */
static void test_one_outlier_moves_it_by_a_factor(void **st)
{
	(void)st;
	struct pmp_durations d;
	memset(&d, 0, sizeof(d));
	record_n(&d, 5, 20, 32);
	pmp_durations_record(&d, 5, PMP_RUN_US_MAX);
	unsigned after = pmp_durations_typical(&d, 5);
	assert_in_range(after, 40, 80); /* (65535 / 20) ** (1/8) = 2.75 times */
	assert_true(pmp_durations_hold(&d, 5) >= 12);
	record_n(&d, 5, 20, 8);
	assert_in_range(pmp_durations_typical(&d, 5), 20, 32);
	/* A kind that turns slow is known so within a few answers. */
	record_n(&d, 5, 50000, 6);
	assert_int_equal(pmp_durations_hold(&d, 5), 0);
}

/* Two kinds of one slot: the later takes it over, and the earlier is unknown again. */
static void test_a_new_kind_takes_its_slot_over(void **st)
{
	(void)st;
	struct pmp_durations d;
	memset(&d, 0, sizeof(d));
	uint32_t a = 1, b = 2;
	while ((b * 2654435769u) >> 26 != (a * 2654435769u) >> 26)
		b++;
	record_n(&d, a, 10, PMP_KIND_KNOWN);
	assert_true(pmp_durations_typical(&d, a) > 0);
	pmp_durations_record(&d, b, 10);
	assert_int_equal(pmp_durations_typical(&d, a), 0);
	assert_int_equal(pmp_durations_typical(&d, b), 0); /* one answer: not known yet */
	record_n(&d, b, 10, PMP_KIND_KNOWN - 1);
	assert_true(pmp_durations_typical(&d, b) > 0);
	/* Kinds of other slots are left alone. */
	uint32_t c = b + 1;
	while ((c * 2654435769u) >> 26 == (b * 2654435769u) >> 26)
		c++;
	record_n(&d, c, 10, PMP_KIND_KNOWN);
	assert_true(pmp_durations_typical(&d, b) > 0);
	assert_true(pmp_durations_typical(&d, c) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_after_enough_answers),
		cmocka_unit_test(test_typical_of_a_steady_kind),
		cmocka_unit_test(test_one_outlier_moves_it_by_a_factor),
		cmocka_unit_test(test_a_new_kind_takes_its_slot_over),
	};
	return cmocka_run_group_tests_name("runtime_durations", tests, NULL, NULL);
}
