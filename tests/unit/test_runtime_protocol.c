/* The wire header: encoding, the byte layout, and every way the decoder refuses a frame. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "protocol.h"

static const uint8_t all_types[] = {PMP_MSG_TASK, PMP_MSG_INIT, PMP_MSG_SHUTDOWN, PMP_MSG_READY,
				    PMP_MSG_RESULT};

/* The flags each type may carry (protocol.c's allowed_flags, stated independently). */
static uint8_t flags_of(uint8_t type)
{
	return type == PMP_MSG_TASK     ? PMP_FLAG_LAST | PMP_FLAG_SHORT
	       : type == PMP_MSG_RESULT ? PMP_FLAG_ERROR | PMP_FLAG_WAITED | PMP_FLAG_MORE
					: 0;
}

static void valid_header(uint8_t out[PMP_HEADER_SIZE])
{
	struct pmp_header h = {PMP_MSG_TASK, PMP_FLAG_LAST, 0x0102030405060708ull, 0};
	pmp_header_encode(&h, out);
}

static void test_round_trip_all_types_flags_and_ids(void **st)
{
	(void)st;
	const uint64_t ids[] = {0, 1, 255, 256, 0x7fffffffull, 0x80000000ull, 0x0123456789abcdefull,
				UINT64_MAX - 1, UINT64_MAX};
	for (size_t t = 0; t < sizeof(all_types); t++) {
		uint8_t flag_choices[2] = {0, flags_of(all_types[t])};
		for (size_t f = 0; f < 2; f++) {
			for (size_t i = 0; i < sizeof(ids) / sizeof(*ids); i++) {
				struct pmp_header in = {all_types[t], flag_choices[f], ids[i], (uint16_t)(i * 8191)}, out;
				uint8_t buf[PMP_HEADER_SIZE];
				memset(&out, 0xa5, sizeof(out));
				pmp_header_encode(&in, buf);
				assert_int_equal(pmp_header_decode(buf, sizeof(buf), &out), 0);
				assert_int_equal(out.type, in.type);
				assert_int_equal(out.flags, in.flags);
				assert_true(out.id == in.id);
				/* The run time goes with a RESULT only; the other types carry zero. */
				assert_int_equal(out.run_us, in.type == PMP_MSG_RESULT ? in.run_us : 0);
			}
		}
	}
}

static void test_encode_byte_layout(void **st)
{
	(void)st;
	struct pmp_header h = {PMP_MSG_RESULT, PMP_FLAG_ERROR, 0x0102030405060708ull, 0};
	uint8_t buf[PMP_HEADER_SIZE];
	memset(buf, 0xee, sizeof(buf)); /* the padding must be written, not left over */
	pmp_header_encode(&h, buf);
	const uint8_t expect[PMP_HEADER_SIZE] = {'P', 'M', 'P', '1', 5, 1, 0, 0,
						 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01};
	for (size_t i = 0; i < PMP_HEADER_SIZE; i++)
		assert_int_equal(buf[i], expect[i]);

	h = (struct pmp_header){PMP_MSG_READY, 0, UINT64_MAX, 0};
	pmp_header_encode(&h, buf);
	assert_memory_equal(buf, "PMP1\x04\x00\x00\x00", 8);
	for (size_t i = 8; i < PMP_HEADER_SIZE; i++)
		assert_int_equal(buf[i], 0xff);

	h = (struct pmp_header){PMP_MSG_RESULT, 0, 1, 0x1234};
	pmp_header_encode(&h, buf);
	assert_int_equal(buf[6], 0x34); /* the run time, little-endian */
	assert_int_equal(buf[7], 0x12);
	h = (struct pmp_header){PMP_MSG_READY, 0, 1, 0x1234};
	pmp_header_encode(&h, buf);
	assert_int_equal(buf[6], 0); /* not a RESULT: no run time is written */
	assert_int_equal(buf[7], 0);

	h = (struct pmp_header){PMP_MSG_TASK, 0, 0, 0};
	pmp_header_encode(&h, buf);
	assert_int_equal(buf[4], 1);
	for (size_t i = 5; i < PMP_HEADER_SIZE; i++)
		assert_int_equal(buf[i], 0);
}

static void test_decode_reads_little_endian(void **st)
{
	(void)st;
	uint8_t buf[PMP_HEADER_SIZE] = {'P', 'M', 'P', '1', PMP_MSG_READY, 0, 0, 0,
					0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01};
	struct pmp_header h;
	assert_int_equal(pmp_header_decode(buf, sizeof(buf), &h), 0);
	assert_int_equal(h.type, PMP_MSG_READY);
	assert_int_equal(h.flags, 0);
	assert_true(h.id == 0x0123456789abcdefull);
}

static void test_decode_rejects_wrong_size(void **st)
{
	(void)st;
	uint8_t buf[PMP_HEADER_SIZE + 1];
	struct pmp_header h;
	valid_header(buf);
	buf[PMP_HEADER_SIZE] = 0;
	assert_int_equal(pmp_header_decode(buf, PMP_HEADER_SIZE, &h), 0); /* the control */
	assert_int_equal(pmp_header_decode(buf, 15, &h), -1);
	assert_int_equal(pmp_header_decode(buf, 17, &h), -1);
	assert_int_equal(pmp_header_decode(buf, 0, &h), -1);
	assert_int_equal(pmp_header_decode(buf, 1, &h), -1);
	assert_int_equal(pmp_header_decode(buf, SIZE_MAX, &h), -1);
	assert_int_equal(pmp_header_decode(NULL, PMP_HEADER_SIZE, &h), -1);
	assert_int_equal(pmp_header_decode(NULL, 0, &h), -1);
}

static void test_decode_rejects_wrong_magic(void **st)
{
	(void)st;
	struct pmp_header h;
	for (size_t i = 0; i < 4; i++) {
		uint8_t buf[PMP_HEADER_SIZE];
		valid_header(buf);
		buf[i] ^= 0x20; /* "pMP1", "PmP1", ... */
		assert_int_equal(pmp_header_decode(buf, sizeof(buf), &h), -1);
	}
	uint8_t buf[PMP_HEADER_SIZE];
	valid_header(buf);
	buf[3] = '2'; /* another protocol version */
	assert_int_equal(pmp_header_decode(buf, sizeof(buf), &h), -1);
}

/* Bytes 6-7 are a RESULT's run time, and padding that must be zero in every other type. */
static void test_decode_rejects_nonzero_padding(void **st)
{
	(void)st;
	struct pmp_header h;
	const uint8_t junk[] = {0x01, 0x80, 0xff};
	for (size_t t = 0; t < sizeof(all_types); t++) {
		for (size_t pos = 6; pos <= 7; pos++) {
			for (size_t j = 0; j < sizeof(junk); j++) {
				uint8_t buf[PMP_HEADER_SIZE];
				valid_header(buf);
				buf[4] = all_types[t];
				buf[5] = 0;
				buf[pos] = junk[j];
				if (all_types[t] != PMP_MSG_RESULT) {
					assert_int_equal(pmp_header_decode(buf, sizeof(buf), &h), -1);
					continue;
				}
				assert_int_equal(pmp_header_decode(buf, sizeof(buf), &h), 0);
				assert_int_equal(h.run_us, pos == 6 ? junk[j] : junk[j] << 8);
			}
		}
	}
}

static void test_decode_rejects_unknown_types(void **st)
{
	(void)st;
	struct pmp_header h;
	for (unsigned type = 0; type <= 255; type++) {
		uint8_t buf[PMP_HEADER_SIZE];
		valid_header(buf);
		buf[4] = (uint8_t)type;
		buf[5] = 0;
		int expect = type >= PMP_MSG_TASK && type <= PMP_MSG_RESULT ? 0 : -1;
		assert_int_equal(pmp_header_decode(buf, sizeof(buf), &h), expect);
	}
	const uint8_t named[] = {0, 6, 255};
	for (size_t i = 0; i < sizeof(named); i++) {
		uint8_t buf[PMP_HEADER_SIZE];
		valid_header(buf);
		buf[4] = named[i];
		buf[5] = 0;
		assert_int_equal(pmp_header_decode(buf, sizeof(buf), &h), -1);
	}
}

/* TASK may carry LAST (bit 0), RESULT ERROR (bit 0) and WAITED (bit 1), the others no flag
 * at all. */
static void test_decode_checks_flags_by_type(void **st)
{
	(void)st;
	struct pmp_header h;
	for (size_t t = 0; t < sizeof(all_types); t++) {
		for (unsigned flags = 0; flags <= 255; flags++) {
			uint8_t buf[PMP_HEADER_SIZE];
			valid_header(buf);
			buf[4] = all_types[t];
			buf[5] = (uint8_t)flags;
			bool allowed = (flags & ~(unsigned)flags_of(all_types[t])) == 0;
			assert_int_equal(pmp_header_decode(buf, sizeof(buf), &h), allowed ? 0 : -1);
			if (allowed)
				assert_int_equal(h.flags, flags);
		}
	}
	uint8_t buf[PMP_HEADER_SIZE];
	struct pmp_header in = {PMP_MSG_TASK, PMP_FLAG_LAST, 9, 0};
	pmp_header_encode(&in, buf);
	assert_int_equal(pmp_header_decode(buf, sizeof(buf), &h), 0);
	for (size_t t = 0; t < sizeof(all_types); t++) {
		buf[4] = all_types[t];
		buf[5] = 0x01;
		int expect = all_types[t] == PMP_MSG_TASK || all_types[t] == PMP_MSG_RESULT ? 0 : -1;
		assert_int_equal(pmp_header_decode(buf, sizeof(buf), &h), expect);
		buf[5] = 0x02; /* TASK's PMP_FLAG_SHORT, RESULT's PMP_FLAG_WAITED */
		assert_int_equal(pmp_header_decode(buf, sizeof(buf), &h), expect);
		buf[5] = 0x04; /* only RESULT has a third (PMP_FLAG_MORE) */
		assert_int_equal(pmp_header_decode(buf, sizeof(buf), &h), all_types[t] == PMP_MSG_RESULT ? 0 : -1);
		buf[5] = 0x08; /* none a fourth */
		assert_int_equal(pmp_header_decode(buf, sizeof(buf), &h), -1);
	}
}

static void test_decode_failure_leaves_header_alone(void **st)
{
	(void)st;
	uint8_t buf[PMP_HEADER_SIZE];
	struct pmp_header h = {7, 7, 7, 7};
	valid_header(buf);
	buf[6] = 1;
	assert_int_equal(pmp_header_decode(buf, sizeof(buf), &h), -1);
	assert_int_equal(h.type, 7);
	assert_int_equal(h.flags, 7);
	assert_true(h.id == 7);
	assert_int_equal(h.run_us, 7);
}

static void test_type_tables(void **st)
{
	(void)st;
	for (unsigned type = 0; type <= 255; type++) {
		bool to_controller = type == PMP_MSG_READY || type == PMP_MSG_RESULT;
		bool to_worker = type == PMP_MSG_TASK || type == PMP_MSG_INIT || type == PMP_MSG_SHUTDOWN;
		assert_int_equal(pmp_type_to_controller((uint8_t)type), to_controller);
		assert_int_equal(pmp_type_to_worker((uint8_t)type), to_worker);
		/* No type goes both ways. */
		assert_false(pmp_type_to_controller((uint8_t)type) && pmp_type_to_worker((uint8_t)type));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_all_types_flags_and_ids),
		cmocka_unit_test(test_encode_byte_layout),
		cmocka_unit_test(test_decode_reads_little_endian),
		cmocka_unit_test(test_decode_rejects_wrong_size),
		cmocka_unit_test(test_decode_rejects_wrong_magic),
		cmocka_unit_test(test_decode_rejects_nonzero_padding),
		cmocka_unit_test(test_decode_rejects_unknown_types),
		cmocka_unit_test(test_decode_checks_flags_by_type),
		cmocka_unit_test(test_decode_failure_leaves_header_alone),
		cmocka_unit_test(test_type_tables),
	};
	return cmocka_run_group_tests_name("runtime_protocol", tests, NULL, NULL);
}
