/* Binding arithmetic: CPU lists, topology order, per-task CPUs and GPUs, job CPUs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "binding.h"

static void set_of(cpu_set_t *s, const char *list)
{
	assert_int_equal(pmp_cpulist_parse(list, s), 0);
}

static void assert_set(const cpu_set_t *s, const char *list)
{
	char buf[256];
	assert_int_equal(pmp_cpulist_format(s, buf, sizeof(buf)), 0);
	assert_string_equal(buf, list);
}

static void test_cpulist_round_trip(void **st)
{
	(void)st;
	const char *lists[] = {"0", "0-3", "0-3,8,10-11", "1,3,5", "1023", ""};
	for (size_t i = 0; i < sizeof(lists) / sizeof(*lists); i++) {
		cpu_set_t s;
		set_of(&s, lists[i]);
		assert_set(&s, lists[i]);
	}
	cpu_set_t s;
	set_of(&s, "3,0-1,2");
	assert_set(&s, "0-3");
	assert_int_equal(CPU_COUNT(&s), 4);
}

static void test_cpulist_rejects_bad_syntax(void **st)
{
	(void)st;
	const char *bad[] = {"a", "1-", "-1", "3-1", "1,,2", "1,", ",1", "1024", "0-1024", "1 2", "1;2", NULL};
	for (int i = 0; bad[i]; i++) {
		cpu_set_t s;
		assert_int_equal(pmp_cpulist_parse(bad[i], &s), -1);
	}
	cpu_set_t s;
	assert_int_equal(pmp_cpulist_parse(NULL, &s), -1);
}

static void test_cpulist_format_small_buffer(void **st)
{
	(void)st;
	cpu_set_t s;
	char buf[4];
	set_of(&s, "0-3,8");
	assert_int_equal(pmp_cpulist_format(&s, buf, sizeof(buf)), -1);
	assert_int_equal(pmp_cpulist_format(&s, buf, 0), -1);
}

/* Two sockets of two cores with two hyperthreads each, numbered as Linux often does:
 * CPUs 0-3 are the first thread of each core, CPUs 4-7 their siblings. */
static void hyperthreaded(struct pmp_topology *t, cpu_set_t *online)
{
	int package[CPU_SETSIZE] = {0, 0, 1, 1, 0, 0, 1, 1};
	int core[CPU_SETSIZE] = {0, 1, 0, 1, 0, 1, 0, 1};
	set_of(online, "0-7");
	pmp_topology_from_ids(t, online, package, core);
}

static void test_topology_from_ids(void **st)
{
	(void)st;
	struct pmp_topology t;
	cpu_set_t online;
	hyperthreaded(&t, &online);
	int expect[8] = {0, 1, 2, 3, 0, 1, 2, 3};
	for (int c = 0; c < 8; c++)
		assert_int_equal(t.core_of_cpu[c], expect[c]);
	assert_int_equal(t.core_of_cpu[8], -1);

	/* sparse core ids still give dense abstract indexes */
	int package[CPU_SETSIZE] = {0, 0, 0};
	int core[CPU_SETSIZE] = {8, 0, 4};
	set_of(&online, "0-2");
	pmp_topology_from_ids(&t, &online, package, core);
	assert_int_equal(t.core_of_cpu[0], 2);
	assert_int_equal(t.core_of_cpu[1], 0);
	assert_int_equal(t.core_of_cpu[2], 1);
}

static void test_step_cpus_maps_slurm_cores_to_hyperthreads(void **st)
{
	(void)st;
	struct pmp_topology t;
	cpu_set_t online, cores;
	int order[CPU_SETSIZE];
	hyperthreaded(&t, &online);
	set_of(&cores, "1-2");
	assert_int_equal(pmp_step_cpus(&t, &cores, &online, order), 4);
	int expect[4] = {1, 5, 2, 6}; /* by core, siblings side by side */
	assert_memory_equal(order, expect, sizeof(expect));
}

static void test_step_cpus_within_allowed(void **st)
{
	(void)st;
	struct pmp_topology t;
	cpu_set_t online, allowed, cores;
	int order[CPU_SETSIZE];
	set_of(&online, "0-3");
	pmp_topology_identity(&t, &online);
	set_of(&allowed, "1-3");
	assert_int_equal(pmp_step_cpus(&t, NULL, &allowed, order), 3);
	assert_int_equal(order[0], 1);
	set_of(&cores, "0-1");
	assert_int_equal(pmp_step_cpus(&t, &cores, &allowed, order), 1);
	assert_int_equal(order[0], 1);
	/* Slurm's cores beyond the machine (a node declared larger than it is): the
	 * allowed CPUs alone decide */
	set_of(&cores, "8-9");
	assert_int_equal(pmp_step_cpus(&t, &cores, &allowed, order), 3);
}

static void test_task_cpus_disjoint(void **st)
{
	(void)st;
	int order[4] = {0, 1, 2, 3};
	cpu_set_t a, b;
	assert_int_equal(pmp_task_cpus(order, 4, 0, 2, 2, false, &a), 0);
	assert_int_equal(pmp_task_cpus(order, 4, 1, 2, 2, false, &b), 0);
	assert_set(&a, "0-1");
	assert_set(&b, "2-3");
	cpu_set_t both;
	CPU_AND(&both, &a, &b);
	assert_int_equal(CPU_COUNT(&both), 0);
	for (int task = 0; task < 4; task++) {
		assert_int_equal(pmp_task_cpus(order, 4, task, 4, 1, false, &a), 0);
		assert_int_equal(CPU_COUNT(&a), 1);
		assert_true(CPU_ISSET(task, &a));
	}
}

static void test_task_cpus_that_do_not_fit(void **st)
{
	(void)st;
	int order[2] = {0, 1};
	cpu_set_t s;
	assert_int_equal(pmp_task_cpus(order, 2, 0, 2, 2, false, &s), -1);
	assert_int_equal(pmp_task_cpus(order, 2, 0, 3, 1, false, &s), -1);
	assert_int_equal(pmp_task_cpus(order, 0, 0, 1, 1, false, &s), -1);
	assert_int_equal(pmp_task_cpus(order, 2, 2, 2, 1, false, &s), -1);
	assert_int_equal(pmp_task_cpus(order, 2, -1, 2, 1, false, &s), -1);
	assert_int_equal(pmp_task_cpus(order, 2, 0, 1, 0, false, &s), -1);
}

static void test_task_cpus_oversubscribed_share_all(void **st)
{
	(void)st;
	int order[3] = {4, 0, 2};
	cpu_set_t s;
	/* a one-task step (a pmp worker's) gets every CPU, not the first */
	assert_int_equal(pmp_task_cpus(order, 3, 0, 1, 1, true, &s), 0);
	assert_set(&s, "0,2,4");
	assert_int_equal(pmp_task_cpus(order, 3, 4, 5, 1, true, &s), 0);
	assert_set(&s, "0,2,4");
	assert_int_equal(pmp_task_cpus(order, 3, 1, 2, 2, true, &s), 0);
	assert_set(&s, "0,2,4");
	assert_int_equal(pmp_task_cpus(order, 3, 0, 1, 4, true, &s), 0); /* more than exist */
	assert_set(&s, "0,2,4");
	assert_int_equal(pmp_task_cpus(order, 0, 0, 1, 1, true, &s), -1); /* none at all */
}

static void test_task_gpus(void **st)
{
	(void)st;
	char out[64];
	assert_int_equal(pmp_list_count(""), 0);
	assert_int_equal(pmp_list_count(NULL), 0);
	assert_int_equal(pmp_list_count("0,1,2,3"), 4);
	assert_int_equal(pmp_task_gpus("0,1,2,3", 0, 2, 2, false, out, sizeof(out)), 0);
	assert_string_equal(out, "0,1");
	assert_int_equal(pmp_task_gpus("0,1,2,3", 1, 2, 2, false, out, sizeof(out)), 0);
	assert_string_equal(out, "2,3");
	assert_int_equal(pmp_task_gpus("GPU-aa,GPU-bb", 1, 2, 1, false, out, sizeof(out)), 0);
	assert_string_equal(out, "GPU-bb");
	assert_int_equal(pmp_task_gpus("0,1", 0, 3, 1, false, out, sizeof(out)), -1);
	assert_int_equal(pmp_task_gpus("", 0, 1, 1, false, out, sizeof(out)), -1);
	assert_int_equal(pmp_task_gpus("0,1", 2, 3, 1, true, out, sizeof(out)), 0);
	assert_string_equal(out, "0");
	assert_int_equal(pmp_task_gpus("0,1", 0, 1, 3, true, out, sizeof(out)), 0);
	assert_string_equal(out, "0,1");
	assert_int_equal(pmp_task_gpus("GPU-aaaa,GPU-bbbb", 0, 1, 2, false, out, 8), -1);
	assert_int_equal(pmp_task_gpus("0", 0, 1, 1, false, out, 0), -1);
	assert_int_equal(pmp_task_gpus("0,1", 1, 1, 1, false, out, sizeof(out)), -1);
}

static void test_job_cpus(void **st)
{
	(void)st;
	assert_int_equal(pmp_job_cpus("4"), 4);
	assert_int_equal(pmp_job_cpus("2(x2)"), 4);
	assert_int_equal(pmp_job_cpus("2(x2),1"), 5);
	assert_int_equal(pmp_job_cpus("16,8(x3),2"), 42);
	const char *bad[] = {"", "x", "2(2)", "2(x)", "2(x2", "2,", "2(x2)x", "99999999999", NULL};
	for (int i = 0; bad[i]; i++)
		assert_int_equal(pmp_job_cpus(bad[i]), -1);
	assert_int_equal(pmp_job_cpus(NULL), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpulist_round_trip),
		cmocka_unit_test(test_cpulist_rejects_bad_syntax),
		cmocka_unit_test(test_cpulist_format_small_buffer),
		cmocka_unit_test(test_topology_from_ids),
		cmocka_unit_test(test_step_cpus_maps_slurm_cores_to_hyperthreads),
		cmocka_unit_test(test_step_cpus_within_allowed),
		cmocka_unit_test(test_task_cpus_disjoint),
		cmocka_unit_test(test_task_cpus_that_do_not_fit),
		cmocka_unit_test(test_task_cpus_oversubscribed_share_all),
		cmocka_unit_test(test_task_gpus),
		cmocka_unit_test(test_job_cpus),
	};
	return cmocka_run_group_tests_name("binding", tests, NULL, NULL);
}
