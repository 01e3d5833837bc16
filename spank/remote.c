/* slurmstepd (remote context): PMP_* variables for every task of a pmp step, then,
 * for worker, static and plain pmp steps, each task's threads, CPUs and GPUs.
 *
 * Failures found before the tasks start are kept and reported from task_init, the
 * first callback whose failure both reaches the user (on the task's stderr) and
 * stops the step before the program runs. */
#include <errno.h>
#include <slurm/slurm.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "plugin.h"
#include "sysdeps.h"

struct env_ctx {
	struct pmp_state *s;
	spank_t sp;
	int overwrite;
	const char *value;
};

static int set_var(struct env_ctx *e, const char *name, const char *value)
{
	spank_err_t rc = spank_setenv(e->sp, name, value, e->overwrite);
	if (rc == ESPANK_SUCCESS || (rc == ESPANK_ENV_EXISTS && !e->overwrite))
		return 0;
	pmp_fail(e->s, true, "cannot set %s=%s in the task environment (%s): report this to your "
		 "site's Slurm administrators", name, value, spank_strerror(rc));
	return -1;
}

static int set_option_var(const char *name, const char *value, void *arg)
{
	return set_var(arg, name, value);
}

static int set_listed_var(const char *name, void *arg)
{
	struct env_ctx *e = arg;
	return set_var(e, name, e->value);
}

static void node_name(spank_t sp, char *buf, size_t len)
{
	if (spank_getenv(sp, "SLURMD_NODENAME", buf, (int)len) != ESPANK_SUCCESS)
		snprintf(buf, len, "this node");
}

int pmp_remote_init(struct pmp_state *s, spank_t sp)
{
	uint32_t step = 0;
	if (spank_get_item(sp, S_JOB_STEPID, &step) == ESPANK_SUCCESS)
		s->skip = step == SLURM_BATCH_SCRIPT || step == SLURM_EXTERN_CONT ||
			  step == SLURM_INTERACTIVE_STEP;
	return 0;
}

int pmp_remote_post_opt(struct pmp_state *s, spank_t sp)
{
	char err[PMP_MSG_MAX];
	(void)sp;

	char inherited[4];

	s->role = s->skip ? PMP_ROLE_NONE : pmp_role_of(&s->opts);
	if (s->role == PMP_ROLE_NONE)
		return 0;
	if (spank_getenv(sp, PMP_INHERITED_VAR, inherited, sizeof(inherited)) == ESPANK_SUCCESS) {
		spank_unsetenv(sp, PMP_INHERITED_VAR); /* srun's note to us, not the task's */
		if (!strcmp(inherited, "1"))
			s->role = PMP_ROLE_INHERITED;
	}
	if (pmp_opts_check(&s->opts, err, sizeof(err)) < 0)
		pmp_fail(s, true, "%s", err);
	return 0;
}

/* The workers of a controller step run in steps of their own; here only check that
 * the job can hold them, so a script does not wait for steps that can never start. */
static int check_controller(struct pmp_state *s, spank_t sp)
{
	long workers = pmp_opts_value(&s->opts, &s->cfg, PMP_OPT_WORKERS);
	long cores = pmp_opts_value(&s->opts, &s->cfg, PMP_OPT_CORES_PER_WORKER);
	long threads = pmp_opts_value(&s->opts, &s->cfg, PMP_OPT_THREADS_PER_CORE);
	char buf[256];
	uint32_t job = 0;

	if (workers <= 0 || pmp_opts_value(&s->opts, &s->cfg, PMP_OPT_OVERSUBSCRIBE))
		return 0;
	if (spank_getenv(sp, "SLURM_JOB_CPUS_PER_NODE", buf, sizeof(buf)) != ESPANK_SUCCESS)
		return 0;
	long have = pmp_job_cpus(buf), need = workers * cores * threads;
	if (have <= 0 || need <= have)
		return 0;
	spank_get_item(sp, S_JOB_ID, &job);
	pmp_fail(s, true, "--pmp-workers=%ld needs %ld CPUs (%ld workers x %ld cores x %ld threads "
		 "per core) but job %u has %ld: add -n %ld to srun (the script still runs once; the "
		 "other tasks reserve CPUs for the workers), run it in an allocation with %ld CPUs "
		 "(salloc -n %ld), ask for fewer workers, or add --pmp-oversubscribe",
		 workers, need, workers, cores, threads, job, have, need, need, need);
	return -1;
}

static void step_cpus(struct pmp_state *s, spank_t sp)
{
	static struct pmp_topology topo; /* 4 KiB: kept off slurmstepd's stack */
	cpu_set_t allowed, cores, *alloc = NULL;
	char *list = NULL;

	if (pmp_sys.get_affinity(&allowed) < 0) {
		pmp_fail(s, true, "cannot read the CPUs of the step (%s): set bind_cpus=no in "
			 "plugstack.conf or report this", strerror(errno));
		return;
	}
	/* Oversubscribed tasks share every CPU the step may run on, not only Slurm's cores
	 * for it (an overlapping step is given the node's first cores, whoever has them). */
	if (!pmp_opts_value(&s->opts, &s->cfg, PMP_OPT_OVERSUBSCRIBE) &&
	    spank_get_item(sp, S_STEP_ALLOC_CORES, &list) == ESPANK_SUCCESS && list &&
	    pmp_cpulist_parse(list, &cores) == 0)
		alloc = &cores;
	pmp_sys.topology(&topo);
	s->ncpus = pmp_step_cpus(&topo, alloc, &allowed, s->cpu_order);
}

/* The step's GPUs, in the numbering the tasks will see: Slurm's CUDA_VISIBLE_DEVICES
 * is already relative to the devices a step's cgroup lets it use. */
static void step_gpus(struct pmp_state *s, spank_t sp)
{
	static const char *const sources[] = {"CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES",
					      "GPU_DEVICE_ORDINAL", "SLURM_STEP_GPUS"};

	s->gpus[0] = '\0';
	for (size_t i = 0; i < sizeof(sources) / sizeof(*sources) && !s->gpus[0]; i++)
		if (spank_getenv(sp, sources[i], s->gpus, sizeof(s->gpus)) != ESPANK_SUCCESS)
			s->gpus[0] = '\0';
}

/* Whether the tasks of this node fit the step's CPUs and GPUs here. */
static int check_fit(struct pmp_state *s, spank_t sp)
{
	long threads = pmp_opts_value(&s->opts, &s->cfg, PMP_OPT_THREADS_PER_CORE);
	long gpus = pmp_opts_value(&s->opts, &s->cfg, PMP_OPT_GPUS_PER_WORKER);
	bool oversubscribe = pmp_opts_value(&s->opts, &s->cfg, PMP_OPT_OVERSUBSCRIBE);
	int ngpus = pmp_list_count(s->gpus);
	long ntasks = s->ntasks_local;
	char node[128];

	node_name(sp, node, sizeof(node));
	if (s->cfg.bind_cpus && !oversubscribe && ntasks * threads > s->ncpus) {
		pmp_fail(s, true, "--pmp-threads-per-core=%ld needs %ld CPUs for the %ld tasks on %s but "
			 "the step has %d there: ask srun for %ld CPUs per task (-c %ld), run fewer tasks "
			 "per node, or add --pmp-oversubscribe", threads, ntasks * threads, ntasks, node,
			 s->ncpus, threads, threads);
		return -1;
	}
	if (s->cfg.bind_gpus && gpus > 0 && (ngpus == 0 || (!oversubscribe && ntasks * gpus > ngpus))) {
		pmp_fail(s, true, "--pmp-gpus-per-worker=%ld needs %ld GPUs for the %ld tasks on %s but the "
			 "step has %d there: ask srun for them (--gpus-per-task=%ld), run fewer tasks per "
			 "node%s", gpus, ntasks * gpus, ntasks, node, ngpus, gpus,
			 ngpus > 0 ? ", or add --pmp-oversubscribe" : "");
		return -1;
	}
	return 0;
}

int pmp_remote_user_init(struct pmp_state *s, spank_t sp)
{
	struct env_ctx e = {s, sp, 1, NULL};
	uint32_t ntasks = 0;

	if (s->role == PMP_ROLE_NONE || s->error[0])
		return 0;
	if (spank_get_item(sp, S_JOB_LOCAL_TASK_COUNT, &ntasks) != ESPANK_SUCCESS || ntasks == 0) {
		pmp_fail(s, true, "cannot tell how many tasks of the step run on this node: report this");
		return 0;
	}
	s->ntasks_local = (int)ntasks;
	if (pmp_each_option_var(s, set_option_var, &e) < 0 ||
	    set_var(&e, "PMP_ROLE", pmp_role_name(s->role)) < 0)
		return 0;
	if (s->role == PMP_ROLE_CONTROLLER) {
		char nodes[32];
		if (spank_getenv(sp, PMP_JOB_NODES_VAR, nodes, sizeof(nodes)) == ESPANK_SUCCESS) {
			spank_unsetenv(sp, PMP_JOB_NODES_VAR); /* srun's note: the job's real count */
			set_var(&e, "SLURM_JOB_NUM_NODES", nodes);
		}
	}
	if (s->role == PMP_ROLE_CONTROLLER || s->role == PMP_ROLE_INHERITED)
		return 0;

	char threads[32];
	snprintf(threads, sizeof(threads), "%ld", pmp_opts_value(&s->opts, &s->cfg, PMP_OPT_THREADS_PER_CORE));
	struct env_ctx keep = {s, sp, 0, threads}; /* the user's own settings win */
	if (pmp_varlist_each(s->cfg.thread_vars, set_listed_var, &keep) < 0)
		return 0;
	if (s->cfg.bind_cpus)
		step_cpus(s, sp);
	if (s->cfg.bind_gpus && pmp_opts_value(&s->opts, &s->cfg, PMP_OPT_GPUS_PER_WORKER) > 0)
		step_gpus(s, sp);
	return 0;
}

static int bind_task_cpus(struct pmp_state *s, struct env_ctx *e, int task)
{
	long threads = pmp_opts_value(&s->opts, &s->cfg, PMP_OPT_THREADS_PER_CORE);
	bool oversubscribe = pmp_opts_value(&s->opts, &s->cfg, PMP_OPT_OVERSUBSCRIBE);
	cpu_set_t set;
	char list[1024];

	if (pmp_task_cpus(s->cpu_order, s->ncpus, task, s->ntasks_local, (int)threads, oversubscribe, &set) < 0 ||
	    pmp_cpulist_format(&set, list, sizeof(list)) < 0) {
		pmp_fail(s, true, "no CPUs left for task %d of %d on this node: report this", task, s->ntasks_local);
		return -1;
	}
	if (pmp_sys.set_affinity(&set) < 0) {
		pmp_fail(s, true, "cannot bind task %d to CPUs %s (%s): set bind_cpus=no in plugstack.conf "
			 "or report this", task, list, strerror(errno));
		return -1;
	}
	return set_var(e, "PMP_CPUS", list);
}

static int bind_task_gpus(struct pmp_state *s, struct env_ctx *e, int task)
{
	long per_task = pmp_opts_value(&s->opts, &s->cfg, PMP_OPT_GPUS_PER_WORKER);
	bool oversubscribe = pmp_opts_value(&s->opts, &s->cfg, PMP_OPT_OVERSUBSCRIBE);
	char list[PMP_GPUS_MAX];

	if (pmp_task_gpus(s->gpus, task, s->ntasks_local, (int)per_task, oversubscribe, list, sizeof(list)) < 0) {
		pmp_fail(s, true, "no GPUs left for task %d of %d on this node: report this", task, s->ntasks_local);
		return -1;
	}
	e->value = list;
	if (pmp_varlist_each(s->cfg.gpu_vars, set_listed_var, e) < 0)
		return -1;
	return set_var(e, "PMP_GPUS", list);
}

/* A static step: task 0 is the main one and listens on PMP_ENDPOINT, which srun made
 * from the step's first node (local.c); task k > 0 is worker k - 1. */
static int static_task(struct pmp_state *s, spank_t sp, struct env_ctx *e, uint32_t global)
{
	char want[256], here[256], id[16];

	if (set_var(e, "PMP_MAIN", global == 0 ? "1" : "0") < 0)
		return -1;
	if (global != 0) {
		snprintf(id, sizeof(id), "%u", global - 1);
		return set_var(e, "PMP_WORKER_ID", id);
	}
	if (spank_getenv(sp, PMP_STATIC_NODE_VAR, want, sizeof(want)) != ESPANK_SUCCESS)
		return 0;
	node_name(sp, here, sizeof(here));
	if (strcmp(want, here) != 0) {
		pmp_fail(s, true, "--pmp-static needs task 0 on the step's first node, %s, but it runs on %s: "
			 "drop the -m/--distribution option that moved it", want, here);
		return -1;
	}
	return 0;
}

static int bind_task(struct pmp_state *s, spank_t sp, int task, uint32_t global)
{
	struct env_ctx e = {s, sp, 1, NULL};

	if (s->role == PMP_ROLE_CONTROLLER) {
		/* The script runs once, in task 0: tasks srun added because the allocation's
		 * task count was inherited (or -n was given) end here, successfully. */
		if (global != 0)
			pmp_sys.end_task(0);
		return 0;
	}
	if (s->role == PMP_ROLE_INHERITED)
		return 0;
	if (s->role == PMP_ROLE_STATIC && static_task(s, sp, &e, global) < 0)
		return -1;
	if (s->cfg.bind_cpus && bind_task_cpus(s, &e, task) < 0)
		return -1;
	if (s->cfg.bind_gpus && pmp_opts_value(&s->opts, &s->cfg, PMP_OPT_GPUS_PER_WORKER) > 0)
		return bind_task_gpus(s, &e, task);
	return 0;
}

/* Runs in the task's own process, just before exec, with the user's stderr. */
int pmp_remote_task_init(struct pmp_state *s, spank_t sp)
{
	int task = 0;
	uint32_t global = 0;

	if (s->role == PMP_ROLE_NONE)
		return 0;
	if (spank_get_item(sp, S_TASK_ID, &task) != ESPANK_SUCCESS ||
	    spank_get_item(sp, S_TASK_GLOBAL_ID, &global) != ESPANK_SUCCESS) {
		dprintf(STDERR_FILENO, "pmp: cannot identify the task in slurmstepd: report this\n");
		return -1;
	}
	/* Failures of the step as a whole are the same for every task of the node: say
	 * them once. The node's name is in the environment only from here on. */
	bool shared_failure = s->error[0];
	if (!shared_failure && s->role == PMP_ROLE_CONTROLLER)
		shared_failure = check_controller(s, sp) < 0;
	else if (!shared_failure && s->role != PMP_ROLE_INHERITED)
		shared_failure = check_fit(s, sp) < 0;
	if (!shared_failure && bind_task(s, sp, task, global) == 0)
		return 0;
	if (!shared_failure || task == 0)
		dprintf(STDERR_FILENO, "pmp: %s\n", s->error);
	return -1;
}
