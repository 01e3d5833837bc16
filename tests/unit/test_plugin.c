/* The plugin's callbacks driven as srun, sbatch and slurmstepd drive them, through a
 * fake spank_* layer (fake_spank.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <slurm/slurm.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "fake_spank.h"

static void clear_srun_env(void);

static int teardown(void **st)
{
	(void)st;
	fake_free();
	return 0;
}

static void init_ok(spank_context_t ctx, int ac, char **av)
{
	fake_reset(ctx);
	assert_int_equal(slurm_spank_init(FAKE_SP, ac, av), 0);
}

/* slurmstepd up to the tasks: init, options, init_post_opt, user_init. */
static void remote_step(const char *const *opts, uint32_t local_tasks)
{
	fake.local_tasks = local_tasks;
	assert_int_equal(slurm_spank_init(FAKE_SP, 0, NULL), 0);
	for (int i = 0; opts[i]; i += 2)
		assert_int_equal(fake_use_option(opts[i], opts[i + 1]), 0);
	assert_int_equal(slurm_spank_init_post_opt(FAKE_SP, 0, NULL), 0);
	assert_int_equal(slurm_spank_user_init(FAKE_SP, 0, NULL), 0);
}

static int task_init(int task, uint32_t global)
{
	fake.task_id = task;
	fake.global_id = global;
	fake.bound_set = false;
	return slurm_spank_task_init(FAKE_SP, 0, NULL);
}

static void test_registers_every_option_in_each_context(void **st)
{
	(void)st;
	spank_context_t ctxs[] = {S_CTX_LOCAL, S_CTX_ALLOCATOR, S_CTX_REMOTE};
	for (size_t i = 0; i < 3; i++) {
		init_ok(ctxs[i], 0, NULL);
		assert_int_equal(fake.noptions, 8);
		assert_non_null(fake_option("pmp-workers"));
		assert_int_equal(fake_option("pmp-workers")->has_arg, 1);
		assert_string_equal(fake_option("pmp-workers")->arginfo, "N");
		assert_non_null(fake_option("pmp-cores-per-worker"));
		assert_non_null(fake_option("pmp-threads-per-core"));
		assert_non_null(fake_option("pmp-gpus-per-worker"));
		assert_int_equal(fake_option("pmp-oversubscribe")->has_arg, 0);
		assert_int_equal(fake_option("pmp-static")->has_arg, 0);
		assert_non_null(fake_option("pmp-endpoint"));
		assert_non_null(fake_option("pmp-worker-id"));
	}
	fake_reset(S_CTX_SLURMD);
	assert_int_equal(slurm_spank_init(FAKE_SP, 0, NULL), 0);
	assert_int_equal(fake.noptions, 0);
}

static void test_register_failure(void **st)
{
	(void)st;
	fake_reset(S_CTX_LOCAL);
	fake.fail_register = ESPANK_BAD_ARG;
	capture_begin();
	assert_int_equal(slurm_spank_init(FAKE_SP, 0, NULL), -1);
	assert_string_equal(capture_end(), "pmp: cannot register --pmp-workers (fake spank error): check that "
					   "no other plugin in plugstack.conf defines it\n");
}

static void test_bad_plugstack_argument(void **st)
{
	(void)st;
	char *args[] = {"max_workers=lots"};
	fake_reset(S_CTX_LOCAL);
	capture_begin();
	assert_int_equal(slurm_spank_init(FAKE_SP, 1, args), -1);
	const char *out = capture_end();
	assert_memory_equal(out, "pmp: plugstack.conf argument 'max_workers=lots' is not valid", 60);
	assert_int_equal(fake.noptions, 0);

	fake_reset(S_CTX_REMOTE);
	assert_int_equal(slurm_spank_init(FAKE_SP, 1, args), -1);
	assert_memory_equal(fake.last_error, "pmp: plugstack.conf argument 'max_workers=lots'", 47);
}

static void test_local_bad_value_prints_one_line(void **st)
{
	(void)st;
	init_ok(S_CTX_LOCAL, 0, NULL);
	capture_begin();
	assert_int_equal(fake_use_option("pmp-workers", "abc"), -1);
	const char *out = capture_end();
	assert_string_equal(out, "pmp: --pmp-workers=abc is not a whole number: give one from 1 to 65536, "
				 "e.g. --pmp-workers=1\n");
}

static void test_local_without_options_is_silent(void **st)
{
	(void)st;
	init_ok(S_CTX_LOCAL, 0, NULL);
	capture_begin();
	assert_int_equal(slurm_spank_init_post_opt(FAKE_SP, 0, NULL), 0);
	assert_string_equal(capture_end(), "");
}

static void test_local_cross_check(void **st)
{
	(void)st;
	init_ok(S_CTX_LOCAL, 0, NULL);
	assert_int_equal(fake_use_option("pmp-worker-id", "1"), 0);
	capture_begin();
	assert_int_equal(slurm_spank_init_post_opt(FAKE_SP, 0, NULL), -1);
	const char *out = capture_end();
	assert_memory_equal(out, "pmp: --pmp-worker-id=1 needs --pmp-endpoint", 43);
	assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1); /* one line */
}

static void test_allocator_exports_options_to_batch_script(void **st)
{
	(void)st;
	char *args[] = {"default_threads_per_core=2"};
	unsetenv("PMP_WORKERS");
	init_ok(S_CTX_ALLOCATOR, 1, args);
	assert_int_equal(fake_use_option("pmp-workers", "4"), 0);
	assert_int_equal(slurm_spank_init_post_opt(FAKE_SP, 0, NULL), 0);
	assert_string_equal(getenv("PMP_WORKERS"), "4");
	assert_string_equal(getenv("PMP_THREADS_PER_CORE"), "2");
	assert_string_equal(getenv("PMP_OVERSUBSCRIBE"), "0");
	assert_null(getenv("PMP_ENDPOINT"));
	const char *vars[] = {"PMP_WORKERS", "PMP_CORES_PER_WORKER", "PMP_THREADS_PER_CORE",
			      "PMP_GPUS_PER_WORKER", "PMP_OVERSUBSCRIBE"};
	for (size_t i = 0; i < sizeof(vars) / sizeof(*vars); i++)
		unsetenv(vars[i]);
}

static void test_allocator_without_options_sets_nothing(void **st)
{
	(void)st;
	unsetenv("PMP_CORES_PER_WORKER");
	init_ok(S_CTX_ALLOCATOR, 0, NULL);
	assert_int_equal(slurm_spank_init_post_opt(FAKE_SP, 0, NULL), 0);
	assert_null(getenv("PMP_CORES_PER_WORKER"));
}

static void test_remote_without_options_touches_nothing(void **st)
{
	(void)st;
	const char *none[] = {NULL};
	fake_reset(S_CTX_REMOTE);
	remote_step(none, 2);
	assert_int_equal(task_init(0, 0), 0);
	assert_int_equal(task_init(1, 1), 0);
	assert_false(fake.bound_set);
	assert_null(fake.env[0]);
}

static void test_remote_skips_batch_extern_and_interactive_steps(void **st)
{
	(void)st;
	uint32_t steps[] = {SLURM_BATCH_SCRIPT, SLURM_EXTERN_CONT, SLURM_INTERACTIVE_STEP};
	const char *opts[] = {"pmp-workers", "2", NULL};
	for (size_t i = 0; i < 3; i++) {
		fake_reset(S_CTX_REMOTE);
		fake.step_id = steps[i];
		remote_step(opts, 1);
		assert_int_equal(task_init(0, 0), 0);
		assert_null(fake_getenv("PMP_WORKERS"));
		assert_false(fake.bound_set);
	}
}

static void test_remote_binds_each_task_to_its_own_cpus(void **st)
{
	(void)st;
	const char *opts[] = {"pmp-threads-per-core", "2", NULL};
	fake_reset(S_CTX_REMOTE);
	fake.alloc_cores = "0-3";
	fake_setenv("MKL_NUM_THREADS", "7"); /* the user's own setting */
	remote_step(opts, 2);
	assert_string_equal(fake_getenv("PMP_ROLE"), "tasks");
	assert_string_equal(fake_getenv("PMP_THREADS_PER_CORE"), "2");
	assert_string_equal(fake_getenv("OMP_NUM_THREADS"), "2");
	assert_string_equal(fake_getenv("OPENBLAS_NUM_THREADS"), "2");
	assert_string_equal(fake_getenv("VECLIB_MAXIMUM_THREADS"), "2");
	assert_string_equal(fake_getenv("NUMEXPR_NUM_THREADS"), "2");
	assert_string_equal(fake_getenv("MKL_NUM_THREADS"), "7");
	assert_null(fake_getenv("PMP_WORKERS"));

	assert_int_equal(task_init(0, 0), 0);
	assert_true(fake.bound_set);
	cpu_set_t first = fake.bound;
	assert_string_equal(fake_getenv("PMP_CPUS"), "0-1");
	assert_int_equal(task_init(1, 1), 0);
	assert_string_equal(fake_getenv("PMP_CPUS"), "2-3");
	cpu_set_t both;
	CPU_AND(&both, &first, &fake.bound);
	assert_int_equal(CPU_COUNT(&both), 0);
	assert_int_equal(CPU_COUNT(&fake.bound), 2);
}

static void test_remote_binds_within_slurm_cores(void **st)
{
	(void)st;
	const char *opts[] = {"pmp-threads-per-core", "1", NULL};
	fake_reset(S_CTX_REMOTE);
	fake.alloc_cores = "2-3"; /* another step holds cores 0-1 */
	remote_step(opts, 2);
	assert_int_equal(task_init(0, 0), 0);
	assert_string_equal(fake_getenv("PMP_CPUS"), "2");
	assert_int_equal(task_init(1, 1), 0);
	assert_string_equal(fake_getenv("PMP_CPUS"), "3");
}

static void test_remote_cpus_that_do_not_fit_stop_the_step(void **st)
{
	(void)st;
	const char *opts[] = {"pmp-threads-per-core", "2", NULL};
	fake_reset(S_CTX_REMOTE);
	fake.alloc_cores = "0-1";
	fake_setenv("SLURMD_NODENAME", "node1");
	remote_step(opts, 2);
	capture_begin();
	assert_int_equal(task_init(0, 0), -1);
	assert_int_equal(task_init(1, 1), -1);
	assert_string_equal(capture_end(), "pmp: --pmp-threads-per-core=2 needs 4 CPUs for the 2 tasks on node1 "
					   "but the step has 2 there: ask srun for 2 CPUs per task (-c 2), run "
					   "fewer tasks per node, or add --pmp-oversubscribe\n");
	assert_false(fake.bound_set);
	/* logged for the administrator, not echoed to the user a second time */
	assert_int_equal(fake.nerrors, 0);
	assert_memory_equal(fake.last_info, "pmp: --pmp-threads-per-core=2 needs 4 CPUs", 42);
}

static void test_remote_oversubscribe_shares_cpus(void **st)
{
	(void)st;
	const char *opts[] = {"pmp-threads-per-core", "2", "pmp-oversubscribe", NULL, NULL};
	fake_reset(S_CTX_REMOTE);
	CPU_ZERO(&fake.allowed);
	CPU_SET(0, &fake.allowed);
	CPU_SET(1, &fake.allowed);
	fake.alloc_cores = "1"; /* an overlapping step's cores: not where its tasks are kept */
	remote_step(opts, 2);
	assert_string_equal(fake_getenv("PMP_OVERSUBSCRIBE"), "1");
	assert_int_equal(task_init(0, 0), 0);
	assert_string_equal(fake_getenv("PMP_CPUS"), "0-1");
	assert_int_equal(task_init(1, 1), 0);
	assert_string_equal(fake_getenv("PMP_CPUS"), "0-1");
}

static void test_remote_gpus_distinct_per_task(void **st)
{
	(void)st;
	const char *opts[] = {"pmp-gpus-per-worker", "1", NULL};
	fake_reset(S_CTX_REMOTE);
	fake_setenv("CUDA_VISIBLE_DEVICES", "0,1");
	remote_step(opts, 2);
	assert_int_equal(task_init(0, 0), 0);
	assert_string_equal(fake_getenv("CUDA_VISIBLE_DEVICES"), "0");
	assert_string_equal(fake_getenv("ROCR_VISIBLE_DEVICES"), "0");
	assert_string_equal(fake_getenv("PMP_GPUS"), "0");
	assert_int_equal(task_init(1, 1), 0);
	assert_string_equal(fake_getenv("CUDA_VISIBLE_DEVICES"), "1");
	assert_string_equal(fake_getenv("PMP_GPUS"), "1");
}

static void test_remote_gpus_from_slurm_step_gpus(void **st)
{
	(void)st;
	const char *opts[] = {"pmp-gpus-per-worker", "2", NULL};
	fake_reset(S_CTX_REMOTE);
	fake_setenv("SLURM_STEP_GPUS", "4,5,6,7");
	remote_step(opts, 2);
	assert_int_equal(task_init(1, 1), 0);
	assert_string_equal(fake_getenv("CUDA_VISIBLE_DEVICES"), "6,7");
}

static void test_remote_missing_gpus_stop_the_step(void **st)
{
	(void)st;
	const char *opts[] = {"pmp-gpus-per-worker", "1", NULL};
	fake_reset(S_CTX_REMOTE);
	fake_setenv("SLURMD_NODENAME", "node2");
	remote_step(opts, 1);
	capture_begin();
	assert_int_equal(task_init(0, 0), -1);
	assert_string_equal(capture_end(), "pmp: --pmp-gpus-per-worker=1 needs 1 GPUs for the 1 tasks on node2 "
					   "but the step has 0 there: ask srun for them (--gpus-per-task=1), run "
					   "fewer tasks per node\n");
}

static void test_remote_too_few_gpus(void **st)
{
	(void)st;
	const char *opts[] = {"pmp-gpus-per-worker", "1", NULL};
	fake_reset(S_CTX_REMOTE);
	fake_setenv("CUDA_VISIBLE_DEVICES", "0");
	remote_step(opts, 2);
	capture_begin();
	assert_int_equal(task_init(0, 0), -1);
	const char *out = capture_end();
	assert_non_null(strstr(out, "needs 2 GPUs for the 2 tasks on this node but the step has 1 there"));
	assert_non_null(strstr(out, "or add --pmp-oversubscribe\n"));
}

static void test_remote_controller_gets_variables_only(void **st)
{
	(void)st;
	const char *opts[] = {"pmp-workers", "4", "pmp-threads-per-core", "4", NULL};
	fake_reset(S_CTX_REMOTE);
	fake.alloc_cores = "0";
	fake_setenv("SLURM_JOB_CPUS_PER_NODE", "8(x2)");
	remote_step(opts, 1);
	assert_int_equal(task_init(0, 0), 0);
	assert_string_equal(fake_getenv("PMP_ROLE"), "controller");
	assert_string_equal(fake_getenv("PMP_WORKERS"), "4");
	assert_string_equal(fake_getenv("PMP_THREADS_PER_CORE"), "4");
	assert_null(fake_getenv("OMP_NUM_THREADS"));
	assert_null(fake_getenv("PMP_CPUS"));
	assert_false(fake.bound_set);
}

static void test_remote_controller_workers_must_fit_the_job(void **st)
{
	(void)st;
	const char *opts[] = {"pmp-workers", "3", "pmp-cores-per-worker", "2", NULL};
	fake_reset(S_CTX_REMOTE);
	fake_setenv("SLURM_JOB_CPUS_PER_NODE", "2(x2)");
	remote_step(opts, 1);
	capture_begin();
	assert_int_equal(task_init(0, 0), -1);
	assert_string_equal(capture_end(), "pmp: --pmp-workers=3 needs 6 CPUs (3 workers x 2 cores x 1 threads "
					   "per core) but job 42 has 4: add -n 6 to srun (the script still runs "
					   "once; the other tasks reserve CPUs for the workers), run it in an "
					   "allocation with 6 CPUs (salloc -n 6), ask for fewer workers, or add "
					   "--pmp-oversubscribe\n");

	const char *over[] = {"pmp-workers", "3", "pmp-cores-per-worker", "2", "pmp-oversubscribe", NULL, NULL};
	fake_reset(S_CTX_REMOTE);
	fake_setenv("SLURM_JOB_CPUS_PER_NODE", "2(x2)");
	remote_step(over, 1);
	assert_int_equal(task_init(0, 0), 0);
}

static void test_remote_static_marks_task_zero_main(void **st)
{
	(void)st;
	const char *opts[] = {"pmp-static", NULL, NULL};
	fake_reset(S_CTX_REMOTE);
	remote_step(opts, 2);
	assert_string_equal(fake_getenv("PMP_ROLE"), "static");
	assert_string_equal(fake_getenv("PMP_STATIC"), "1");
	assert_int_equal(task_init(0, 0), 0);
	assert_string_equal(fake_getenv("PMP_MAIN"), "1");
	assert_int_equal(task_init(1, 3), 0);
	assert_string_equal(fake_getenv("PMP_MAIN"), "0");
}

static void test_remote_static_numbers_workers_and_checks_task_zeros_node(void **st)
{
	(void)st;
	const char *opts[] = {"pmp-static", NULL, NULL};
	fake_reset(S_CTX_REMOTE);
	fake_setenv("PMP_STATIC_NODE", "node1");
	fake_setenv("SLURMD_NODENAME", "node1");
	remote_step(opts, 3);
	assert_int_equal(task_init(0, 0), 0);
	assert_null(fake_getenv("PMP_WORKER_ID")); /* task 0 submits, it is no worker */
	assert_int_equal(task_init(1, 1), 0);
	assert_string_equal(fake_getenv("PMP_WORKER_ID"), "0");
	assert_int_equal(task_init(2, 5), 0);
	assert_string_equal(fake_getenv("PMP_WORKER_ID"), "4");

	/* task 0 elsewhere than on the node srun found: the endpoint would be wrong */
	fake_reset(S_CTX_REMOTE);
	fake_setenv("PMP_STATIC_NODE", "node1");
	fake_setenv("SLURMD_NODENAME", "node2");
	remote_step(opts, 1);
	capture_begin();
	assert_int_equal(task_init(0, 0), -1);
	assert_string_equal(capture_end(), "pmp: --pmp-static needs task 0 on the step's first node, node1, but it "
					   "runs on node2: drop the -m/--distribution option that moved it\n");
}

static void test_srun_static_step_gets_endpoint_secret_and_kill_on_bad_exit(void **st)
{
	(void)st;
	char *const argv[] = {"srun", "-n3", "--pmp-static", "python", "script.py", NULL};
	clear_srun_env();
	fake_reset(S_CTX_LOCAL);
	fake.srun_argv = argv;
	fake.step_id = 7;
	fake.first_node = "node1";
	fake.first_addr = "10.0.0.1";
	assert_int_equal(slurm_spank_init(FAKE_SP, 0, NULL), 0);
	assert_string_equal(getenv("SLURM_KILL_BAD_EXIT"), "1");
	assert_null(getenv("SLURM_OVERLAP")); /* a static step keeps its shape */
	assert_int_equal(fake_use_option("pmp-static", NULL), 0);
	assert_int_equal(slurm_spank_init_post_opt(FAKE_SP, 0, NULL), 0);
	assert_int_equal(slurm_spank_local_user_init(FAKE_SP, 0, NULL), 0);
	assert_int_equal(fake.lookup_job, 42);
	assert_int_equal(fake.lookup_step, 7);
	/* every byte 0x5a: Z85 as libzmq and pyzmq spell it (z85.encode(b"\\x5a" * 32)); the port
	 * from 0x5a5a5a5a in the default static_ports=30000-32767 */
	assert_string_equal(getenv("PMP_SECRET"), "token:t3t9kt3t9kt3t9kt3t9kt3t9kt3t9kt3t9kt3t9k");
	char want[64];
	snprintf(want, sizeof(want), "tcp://10.0.0.1:%u", 30000u + 0x5a5a5a5au % 2768u);
	assert_string_equal(getenv("PMP_ENDPOINT"), want);
	assert_string_equal(getenv("PMP_STATIC_NODE"), "node1");
	clear_srun_env();

	/* the user's -K stays the user's */
	char *const keep[] = {"srun", "-K0", "-n3", "--pmp-static", "python", NULL};
	fake_reset(S_CTX_LOCAL);
	fake.srun_argv = keep;
	assert_int_equal(slurm_spank_init(FAKE_SP, 0, NULL), 0);
	assert_null(getenv("SLURM_KILL_BAD_EXIT"));
	clear_srun_env();
}

static void test_srun_static_step_lookup_failures_stop_srun(void **st)
{
	(void)st;
	char *const argv[] = {"srun", "-n3", "--pmp-static", "python", NULL};
	clear_srun_env();
	fake_reset(S_CTX_LOCAL);
	fake.srun_argv = argv;
	assert_int_equal(slurm_spank_init(FAKE_SP, 0, NULL), 0);
	capture_begin();
	assert_int_equal(slurm_spank_local_user_init(FAKE_SP, 0, NULL), -1);
	assert_string_equal(capture_end(), "pmp: --pmp-static: cannot look up step 42.0 (fake): retry\n");
	assert_null(getenv("PMP_SECRET"));

	fake.first_node = "node1";
	fake.first_addr = "";
	capture_begin();
	assert_int_equal(slurm_spank_local_user_init(FAKE_SP, 0, NULL), -1);
	assert_memory_equal(capture_end(), "pmp: --pmp-static: node node1's address '' makes no endpoint", 59);

	fake.first_addr = "10.0.0.1";
	fake.fail_random = EIO;
	capture_begin();
	assert_int_equal(slurm_spank_local_user_init(FAKE_SP, 0, NULL), -1);
	assert_memory_equal(capture_end(), "pmp: --pmp-static: no random numbers", 36);
	clear_srun_env();

	/* a plain step looks nothing up */
	char *const plain[] = {"srun", "-n3", "python", NULL};
	fake_reset(S_CTX_LOCAL);
	fake.srun_argv = plain;
	assert_int_equal(slurm_spank_init(FAKE_SP, 0, NULL), 0);
	assert_int_equal(slurm_spank_local_user_init(FAKE_SP, 0, NULL), 0);
	assert_int_equal(fake.lookup_job, 0);
	assert_null(getenv("SLURM_KILL_BAD_EXIT"));
}

static void test_remote_worker_step(void **st)
{
	(void)st;
	const char *opts[] = {"pmp-endpoint", "tcp://node1:6000", "pmp-worker-id", "7", NULL};
	fake_reset(S_CTX_REMOTE);
	remote_step(opts, 1);
	assert_int_equal(task_init(0, 0), 0);
	assert_string_equal(fake_getenv("PMP_ROLE"), "worker");
	assert_string_equal(fake_getenv("PMP_ENDPOINT"), "tcp://node1:6000");
	assert_string_equal(fake_getenv("PMP_WORKER_ID"), "7");
	assert_string_equal(fake_getenv("PMP_CPUS"), "0");
}

static void test_remote_site_disables_binding(void **st)
{
	(void)st;
	char *args[] = {"bind_cpus=no", "bind_gpus=no", "thread_vars="};
	const char *opts[] = {"pmp-threads-per-core", "2", "pmp-gpus-per-worker", "1", NULL};
	fake_reset(S_CTX_REMOTE);
	fake.local_tasks = 4;
	assert_int_equal(slurm_spank_init(FAKE_SP, 3, args), 0);
	for (int i = 0; opts[i]; i += 2)
		assert_int_equal(fake_use_option(opts[i], opts[i + 1]), 0);
	assert_int_equal(slurm_spank_init_post_opt(FAKE_SP, 0, NULL), 0);
	assert_int_equal(slurm_spank_user_init(FAKE_SP, 0, NULL), 0);
	assert_int_equal(task_init(3, 3), 0);
	assert_false(fake.bound_set);
	assert_null(fake_getenv("OMP_NUM_THREADS"));
	assert_null(fake_getenv("CUDA_VISIBLE_DEVICES"));
	assert_string_equal(fake_getenv("PMP_THREADS_PER_CORE"), "2");
}

static void test_remote_bad_option_reported_by_task(void **st)
{
	(void)st;
	fake_reset(S_CTX_REMOTE);
	assert_int_equal(slurm_spank_init(FAKE_SP, 0, NULL), 0);
	assert_int_equal(fake_use_option("pmp-workers", "0"), -1);
	assert_int_equal(fake_use_option("pmp-worker-id", "2"), 0);
	assert_int_equal(slurm_spank_init_post_opt(FAKE_SP, 0, NULL), 0);
	assert_int_equal(slurm_spank_user_init(FAKE_SP, 0, NULL), 0);
	capture_begin();
	assert_int_equal(task_init(0, 0), -1);
	/* the first failure is the one the user sees */
	assert_string_equal(capture_end(), "pmp: --pmp-workers=0 is out of range: give a number from 1 to 65536\n");
	assert_memory_equal(fake.last_info, "pmp: --pmp-worker-id=2 needs --pmp-endpoint", 43);
}

static void test_remote_setenv_failure(void **st)
{
	(void)st;
	const char *opts[] = {"pmp-workers", "2", NULL};
	fake_reset(S_CTX_REMOTE);
	fake.fail_setenv = ESPANK_BAD_ARG;
	remote_step(opts, 1);
	capture_begin();
	assert_int_equal(task_init(0, 0), -1);
	assert_memory_equal(capture_end(), "pmp: cannot set PMP_WORKERS=2 in the task environment", 53);
}

static void test_remote_task_count_unavailable(void **st)
{
	(void)st;
	const char *opts[] = {"pmp-workers", "2", NULL};
	fake_reset(S_CTX_REMOTE);
	fake.fail_item = ESPANK_NOT_AVAIL;
	fake.fail_item_id = S_JOB_LOCAL_TASK_COUNT;
	remote_step(opts, 1);
	capture_begin();
	assert_int_equal(task_init(0, 0), -1);
	assert_string_equal(capture_end(), "pmp: cannot tell how many tasks of the step run on this node: report this\n");
}

static void test_remote_task_id_unavailable(void **st)
{
	(void)st;
	const char *opts[] = {"pmp-workers", "2", NULL};
	fake_reset(S_CTX_REMOTE);
	remote_step(opts, 1);
	fake.fail_item = ESPANK_NOT_TASK;
	fake.fail_item_id = S_TASK_ID;
	capture_begin();
	assert_int_equal(task_init(0, 0), -1);
	assert_string_equal(capture_end(), "pmp: cannot identify the task in slurmstepd: report this\n");
}

static void test_remote_affinity_failures(void **st)
{
	(void)st;
	const char *opts[] = {"pmp-threads-per-core", "1", NULL};
	fake_reset(S_CTX_REMOTE);
	fake.fail_get_affinity = EPERM;
	remote_step(opts, 1);
	capture_begin();
	assert_int_equal(task_init(0, 0), -1);
	assert_memory_equal(capture_end(), "pmp: cannot read the CPUs of the step (Operation not permitted)", 63);

	fake_reset(S_CTX_REMOTE);
	fake.fail_set_affinity = EINVAL;
	remote_step(opts, 2);
	capture_begin();
	assert_int_equal(task_init(1, 1), -1);
	/* a failure of one task's own binding is said by that task */
	assert_string_equal(capture_end(), "pmp: cannot bind task 1 to CPUs 1 (Invalid argument): set bind_cpus=no "
					   "in plugstack.conf or report this\n");
}

static void clear_srun_env(void)
{
	const char *vars[] = {"SLURM_OVERLAP", "SLURM_NTASKS", "SLURM_NPROCS", "SLURM_NNODES", "PMP_INHERITED",
			      "SLURM_JOB_NUM_NODES", "PMP_JOB_NUM_NODES", "SLURM_KILL_BAD_EXIT", "PMP_ENDPOINT",
			      "PMP_SECRET", "PMP_STATIC_NODE",
			      "SLURM_SPANK__SLURM_SPANK_OPTION_pmp_pmp_workers"};
	for (size_t i = 0; i < sizeof(vars) / sizeof(*vars); i++)
		unsetenv(vars[i]);
}

static void test_srun_shapes_a_controller_step(void **st)
{
	(void)st;
	char *const argv[] = {"srun", "--pmp-workers=4", "python", "script.py", NULL};
	clear_srun_env();
	fake_reset(S_CTX_LOCAL);
	fake.srun_argv = argv;
	assert_int_equal(slurm_spank_init(FAKE_SP, 0, NULL), 0);
	assert_string_equal(getenv("SLURM_OVERLAP"), "1");
	assert_string_equal(getenv("SLURM_NTASKS"), "1");
	assert_string_equal(getenv("SLURM_NNODES"), "1");
	assert_null(getenv("PMP_INHERITED"));
	assert_null(getenv("PMP_JOB_NUM_NODES")); /* outside an allocation: nothing to keep */
	clear_srun_env();

	setenv("SLURM_JOB_NUM_NODES", "2", 1); /* inside a two-node allocation */
	fake_reset(S_CTX_LOCAL);
	fake.srun_argv = argv;
	assert_int_equal(slurm_spank_init(FAKE_SP, 0, NULL), 0);
	assert_string_equal(getenv("SLURM_JOB_NUM_NODES"), "1");
	assert_string_equal(getenv("PMP_JOB_NUM_NODES"), "2");
	clear_srun_env();
}

static void test_remote_controller_gets_the_jobs_node_count_back(void **st)
{
	(void)st;
	const char *opts[] = {"pmp-workers", "2", NULL};
	fake_reset(S_CTX_REMOTE);
	fake_setenv("SLURM_JOB_NUM_NODES", "1");
	fake_setenv("PMP_JOB_NUM_NODES", "2");
	remote_step(opts, 1);
	assert_string_equal(fake_getenv("SLURM_JOB_NUM_NODES"), "2");
	assert_null(fake_getenv("PMP_JOB_NUM_NODES"));
}

static void test_srun_keeps_explicit_geometry(void **st)
{
	(void)st;
	char *const argv[] = {"srun", "-n", "5", "--pmp-workers=4", "python", NULL};
	clear_srun_env();
	fake_reset(S_CTX_LOCAL);
	fake.srun_argv = argv;
	assert_int_equal(slurm_spank_init(FAKE_SP, 0, NULL), 0);
	assert_string_equal(getenv("SLURM_OVERLAP"), "1");
	assert_null(getenv("SLURM_NTASKS"));
	assert_null(getenv("SLURM_NNODES"));
	clear_srun_env();
}

static void test_srun_leaves_other_steps_alone(void **st)
{
	(void)st;
	char *const plain[] = {"srun", "-n2", "hostname", NULL};
	char *const worker[] = {"srun", "--pmp-workers=2", "--pmp-endpoint=tcp://h:1", "python", NULL};
	char *const *cases[] = {plain, worker, NULL};
	for (int i = 0; cases[i]; i++) {
		clear_srun_env();
		fake_reset(S_CTX_LOCAL);
		fake.srun_argv = cases[i];
		assert_int_equal(slurm_spank_init(FAKE_SP, 0, NULL), 0);
		assert_null(getenv("SLURM_OVERLAP"));
		assert_null(getenv("SLURM_NTASKS"));
	}
	/* unreadable command line: nothing changes, nothing fails */
	fake_reset(S_CTX_LOCAL);
	assert_int_equal(slurm_spank_init(FAKE_SP, 0, NULL), 0);
	assert_null(getenv("SLURM_OVERLAP"));
}

static void test_srun_marks_options_inherited_from_sbatch(void **st)
{
	(void)st;
	char *const argv[] = {"srun", "-n2", "./mpi_app", NULL};
	clear_srun_env();
	setenv("SLURM_SPANK__SLURM_SPANK_OPTION_pmp_pmp_workers", "3", 1);
	fake_reset(S_CTX_LOCAL);
	fake.srun_argv = argv;
	assert_int_equal(slurm_spank_init(FAKE_SP, 0, NULL), 0);
	assert_string_equal(getenv("PMP_INHERITED"), "1");
	assert_null(getenv("SLURM_OVERLAP")); /* not a controller: its shape is the user's */
	clear_srun_env();
}

static void test_remote_inherited_options_give_variables_only(void **st)
{
	(void)st;
	const char *opts[] = {"pmp-workers", "3", "pmp-threads-per-core", "2", NULL};
	fake_reset(S_CTX_REMOTE);
	fake_setenv("PMP_INHERITED", "1");
	remote_step(opts, 2);
	assert_null(fake_getenv("PMP_INHERITED"));
	assert_string_equal(fake_getenv("PMP_ROLE"), "inherited");
	assert_string_equal(fake_getenv("PMP_WORKERS"), "3");
	assert_int_equal(task_init(0, 0), 0);
	assert_int_equal(task_init(1, 1), 0);
	assert_int_equal(fake.ended, 0);
	assert_false(fake.bound_set);
	assert_null(fake_getenv("OMP_NUM_THREADS"));
}

static void test_remote_controller_runs_the_script_once(void **st)
{
	(void)st;
	const char *opts[] = {"pmp-workers", "2", NULL};
	fake_reset(S_CTX_REMOTE);
	remote_step(opts, 2);
	assert_int_equal(task_init(0, 0), 0);
	assert_int_equal(fake.ended, 0);
	assert_int_equal(task_init(1, 1), 0);
	assert_int_equal(fake.ended, 1);
	assert_int_equal(fake.end_status, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_registers_every_option_in_each_context, teardown),
		cmocka_unit_test_teardown(test_register_failure, teardown),
		cmocka_unit_test_teardown(test_bad_plugstack_argument, teardown),
		cmocka_unit_test_teardown(test_local_bad_value_prints_one_line, teardown),
		cmocka_unit_test_teardown(test_local_without_options_is_silent, teardown),
		cmocka_unit_test_teardown(test_local_cross_check, teardown),
		cmocka_unit_test_teardown(test_allocator_exports_options_to_batch_script, teardown),
		cmocka_unit_test_teardown(test_allocator_without_options_sets_nothing, teardown),
		cmocka_unit_test_teardown(test_remote_without_options_touches_nothing, teardown),
		cmocka_unit_test_teardown(test_remote_skips_batch_extern_and_interactive_steps, teardown),
		cmocka_unit_test_teardown(test_remote_binds_each_task_to_its_own_cpus, teardown),
		cmocka_unit_test_teardown(test_remote_binds_within_slurm_cores, teardown),
		cmocka_unit_test_teardown(test_remote_cpus_that_do_not_fit_stop_the_step, teardown),
		cmocka_unit_test_teardown(test_remote_oversubscribe_shares_cpus, teardown),
		cmocka_unit_test_teardown(test_remote_gpus_distinct_per_task, teardown),
		cmocka_unit_test_teardown(test_remote_gpus_from_slurm_step_gpus, teardown),
		cmocka_unit_test_teardown(test_remote_missing_gpus_stop_the_step, teardown),
		cmocka_unit_test_teardown(test_remote_too_few_gpus, teardown),
		cmocka_unit_test_teardown(test_remote_controller_gets_variables_only, teardown),
		cmocka_unit_test_teardown(test_remote_controller_workers_must_fit_the_job, teardown),
		cmocka_unit_test_teardown(test_remote_static_marks_task_zero_main, teardown),
		cmocka_unit_test_teardown(test_remote_worker_step, teardown),
		cmocka_unit_test_teardown(test_remote_site_disables_binding, teardown),
		cmocka_unit_test_teardown(test_remote_bad_option_reported_by_task, teardown),
		cmocka_unit_test_teardown(test_remote_setenv_failure, teardown),
		cmocka_unit_test_teardown(test_remote_task_count_unavailable, teardown),
		cmocka_unit_test_teardown(test_remote_task_id_unavailable, teardown),
		cmocka_unit_test_teardown(test_remote_affinity_failures, teardown),
		cmocka_unit_test_teardown(test_srun_shapes_a_controller_step, teardown),
		cmocka_unit_test_teardown(test_srun_keeps_explicit_geometry, teardown),
		cmocka_unit_test_teardown(test_srun_leaves_other_steps_alone, teardown),
		cmocka_unit_test_teardown(test_srun_marks_options_inherited_from_sbatch, teardown),
		cmocka_unit_test_teardown(test_remote_inherited_options_give_variables_only, teardown),
		cmocka_unit_test_teardown(test_remote_controller_runs_the_script_once, teardown),
		cmocka_unit_test_teardown(test_remote_controller_gets_the_jobs_node_count_back, teardown),
		cmocka_unit_test_teardown(test_remote_static_numbers_workers_and_checks_task_zeros_node, teardown),
		cmocka_unit_test_teardown(test_srun_static_step_gets_endpoint_secret_and_kill_on_bad_exit, teardown),
		cmocka_unit_test_teardown(test_srun_static_step_lookup_failures_stop_srun, teardown),
	};
	return cmocka_run_group_tests_name("plugin", tests, NULL, NULL);
}
