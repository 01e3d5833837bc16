/* Scanning srun's own options for controller steps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "srun_args.h"

static struct pmp_srun_args scan(const char *const *argv)
{
	struct pmp_srun_args a;
	int argc = 0;
	while (argv[argc])
		argc++;
	pmp_srun_scan(argc, (char *const *)argv, &a);
	return a;
}

static void test_controller_options(void **st)
{
	(void)st;
	const char *v[] = {"srun", "--pmp-workers=4", "python", "script.py", NULL};
	struct pmp_srun_args a = scan(v);
	assert_true(a.pmp_workers);
	assert_true(a.pmp_any);
	assert_false(a.ntasks || a.nodes || a.overlap || a.pmp_static || a.pmp_endpoint);

	const char *w[] = {"srun", "--pmp-workers", "4", "-n", "2", "--overlap", "-N1", "python", NULL};
	a = scan(w);
	assert_true(a.pmp_workers && a.ntasks && a.nodes && a.overlap);
}

static void test_options_after_the_command_are_the_commands(void **st)
{
	(void)st;
	const char *v[] = {"srun", "python", "script.py", "--pmp-workers=4", "-n", "3", NULL};
	struct pmp_srun_args a = scan(v);
	assert_false(a.pmp_any || a.ntasks);
	const char *w[] = {"srun", "--", "--pmp-workers=4", NULL};
	a = scan(w);
	assert_false(a.pmp_any);
}

static void test_values_in_the_next_word_are_skipped(void **st)
{
	(void)st;
	/* -J's value looks like a command, -J -n looks like an option: both are values */
	const char *v[] = {"srun", "-J", "myjob", "--chdir", "/tmp", "-c", "2", "--pmp-static", "prog", NULL};
	struct pmp_srun_args a = scan(v);
	assert_true(a.pmp_static && a.pmp_any);
	const char *w[] = {"srun", "--job-name", "-n", "--pmp-endpoint", "tcp://h:1", "prog", NULL};
	a = scan(w);
	assert_false(a.ntasks);
	assert_true(a.pmp_endpoint);
}

static void test_short_option_clusters(void **st)
{
	(void)st;
	const char *v[] = {"srun", "-lN2", "--pmp-workers=2", "prog", NULL};
	struct pmp_srun_args a = scan(v);
	assert_true(a.nodes && a.pmp_workers);
	assert_false(a.ntasks);
	const char *w[] = {"srun", "-ln", "4", "--pmp-workers=2", "prog", NULL};
	a = scan(w);
	assert_true(a.ntasks && a.pmp_workers);
	const char *x[] = {"srun", "-n4", "--ntasks-per-node=2", "prog", NULL}; /* not --ntasks */
	a = scan(x);
	assert_true(a.ntasks);
	assert_false(a.nodes);
}

static void test_empty_and_lone_dash(void **st)
{
	(void)st;
	const char *v[] = {"srun", NULL};
	struct pmp_srun_args a = scan(v);
	assert_false(a.pmp_any);
	const char *w[] = {"srun", "-", "--pmp-workers=2", NULL};
	a = scan(w);
	assert_false(a.pmp_any);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_controller_options),
		cmocka_unit_test(test_options_after_the_command_are_the_commands),
		cmocka_unit_test(test_values_in_the_next_word_are_skipped),
		cmocka_unit_test(test_short_option_clusters),
		cmocka_unit_test(test_empty_and_lone_dash),
	};
	return cmocka_run_group_tests_name("srun_args", tests, NULL, NULL);
}
