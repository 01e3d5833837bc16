/* plugstack.conf arguments: site defaults, limits and binding settings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "config.h"

static void test_defaults_without_arguments(void **st)
{
	(void)st;
	struct pmp_config c;
	char err[PMP_MSG_MAX];
	pmp_config_init(&c);
	assert_int_equal(pmp_config_parse(&c, 0, NULL, err, sizeof(err)), 0);
	assert_true(c.bind_cpus);
	assert_true(c.bind_gpus);
	assert_int_equal(c.max[PMP_OPT_WORKERS], 65536);
	assert_int_equal(c.deflt[PMP_OPT_WORKERS], -1);
	assert_string_equal(c.thread_vars, "OMP_NUM_THREADS,OPENBLAS_NUM_THREADS,MKL_NUM_THREADS,"
					   "VECLIB_MAXIMUM_THREADS,NUMEXPR_NUM_THREADS");
	assert_string_equal(c.gpu_vars, "CUDA_VISIBLE_DEVICES,ROCR_VISIBLE_DEVICES");
	assert_int_equal(c.static_port_lo, 30000);
	assert_int_equal(c.static_port_hi, 32767);
}

static void test_every_setting(void **st)
{
	(void)st;
	struct pmp_config c;
	char err[PMP_MSG_MAX];
	char *args[] = {"default_workers=4", "max_workers=64", "default_cores_per_worker=2",
			"max_cores_per_worker=8", "default_threads_per_core=2", "max_threads_per_core=4",
			"default_gpus_per_worker=1", "max_gpus_per_worker=2", "bind_cpus=no",
			"bind_gpus=false", "thread_vars=OMP_NUM_THREADS", "gpu_vars=HIP_VISIBLE_DEVICES,ZE_AFFINITY_MASK",
			"static_ports=40000-40010"};
	pmp_config_init(&c);
	assert_int_equal(pmp_config_parse(&c, 13, args, err, sizeof(err)), 0);
	assert_int_equal(c.static_port_lo, 40000);
	assert_int_equal(c.static_port_hi, 40010);
	assert_int_equal(c.deflt[PMP_OPT_WORKERS], 4);
	assert_int_equal(c.max[PMP_OPT_WORKERS], 64);
	assert_int_equal(c.deflt[PMP_OPT_CORES_PER_WORKER], 2);
	assert_int_equal(c.max[PMP_OPT_CORES_PER_WORKER], 8);
	assert_int_equal(c.deflt[PMP_OPT_THREADS_PER_CORE], 2);
	assert_int_equal(c.max[PMP_OPT_THREADS_PER_CORE], 4);
	assert_int_equal(c.deflt[PMP_OPT_GPUS_PER_WORKER], 1);
	assert_int_equal(c.max[PMP_OPT_GPUS_PER_WORKER], 2);
	assert_false(c.bind_cpus);
	assert_false(c.bind_gpus);
	assert_string_equal(c.thread_vars, "OMP_NUM_THREADS");
	assert_string_equal(c.gpu_vars, "HIP_VISIBLE_DEVICES,ZE_AFFINITY_MASK");
	char *again[] = {"bind_cpus=yes", "thread_vars="};
	assert_int_equal(pmp_config_parse(&c, 2, again, err, sizeof(err)), 0);
	assert_true(c.bind_cpus);
	assert_string_equal(c.thread_vars, "");
}

static void test_rejects_bad_arguments(void **st)
{
	(void)st;
	const char *bad[] = {"workers=4", "default_workers", "=4", "default_workers=0",
			     "default_workers=x", "max_threads_per_core=2000", "max_worker_id=3",
			     "default_oversubscribe=1", "bind_cpus=maybe", "thread_vars=OMP NUM",
			     "thread_vars=A,,B", "gpu_vars=1GPU", "default_gpus_per_worker=-1",
			     "a_very_long_key_that_does_not_fit_in_the_key_buffer_of_the_parser_at_all=1",
			     "static_ports=40000", "static_ports=40010-40000", "static_ports=80-90",
			     "static_ports=40000-70000", "static_ports=-5", "static_ports=123456789012345678-1", NULL};
	for (int i = 0; bad[i]; i++) {
		struct pmp_config c;
		char err[PMP_MSG_MAX] = "";
		char *args[] = {(char *)bad[i]};
		pmp_config_init(&c);
		assert_int_equal(pmp_config_parse(&c, 1, args, err, sizeof(err)), -1);
		char expect[PMP_MSG_MAX];
		snprintf(expect, sizeof(expect), "plugstack.conf argument '%s' is not valid: use key=value", bad[i]);
		assert_memory_equal(err, expect, strlen(expect));
	}
}

static void test_default_above_maximum(void **st)
{
	(void)st;
	struct pmp_config c;
	char err[PMP_MSG_MAX];
	char *args[] = {"max_threads_per_core=2", "default_threads_per_core=4"};
	pmp_config_init(&c);
	assert_int_equal(pmp_config_parse(&c, 2, args, err, sizeof(err)), -1);
	assert_string_equal(err, "plugstack.conf sets default_threads_per_core=4 above max_threads_per_core=2: "
				 "lower the default");
}

static int count_name(const char *name, void *arg)
{
	int *n = arg;
	(*n)++;
	return strcmp(name, "STOP") ? 0 : -1;
}

static void test_varlist_each(void **st)
{
	(void)st;
	int n = 0;
	assert_int_equal(pmp_varlist_each("A,B,C", count_name, &n), 0);
	assert_int_equal(n, 3);
	n = 0;
	assert_int_equal(pmp_varlist_each("", count_name, &n), 0);
	assert_int_equal(n, 0);
	n = 0;
	assert_int_equal(pmp_varlist_each("A,STOP,C", count_name, &n), -1);
	assert_int_equal(n, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_without_arguments),
		cmocka_unit_test(test_every_setting),
		cmocka_unit_test(test_rejects_bad_arguments),
		cmocka_unit_test(test_default_above_maximum),
		cmocka_unit_test(test_varlist_each),
	};
	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
