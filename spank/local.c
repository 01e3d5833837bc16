/* srun (local context), sbatch and salloc (allocator context). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"
#include "srun_args.h"
#include "sysdeps.h"

#define SPANK_ENV_PREFIX "SLURM_SPANK__SLURM_SPANK_OPTION_pmp_"

extern char **environ;

/* --pmp-* options that reach this srun from an enclosing sbatch or salloc. */
static bool inherited_options(void)
{
	for (char **e = environ; *e; e++)
		if (!strncmp(*e, SPANK_ENV_PREFIX, strlen(SPANK_ENV_PREFIX)))
			return true;
	return false;
}

static int set(struct pmp_state *s, const char *name, const char *value)
{
	if (setenv(name, value, 1) == 0)
		return 0;
	pmp_fail(s, false, "cannot set %s=%s (%s): free some memory and retry", name, value, strerror(errno));
	return -1;
}

int pmp_local_init(struct pmp_state *s, int argc, char *const argv[])
{
	struct pmp_srun_args a;

	pmp_srun_scan(argc, argv, &a);
	/* #SBATCH --pmp-* lines reach every srun of the script: they give its steps the
	 * variables, but only srun's own --pmp-workers makes a step a controller. */
	if (!a.pmp_any && inherited_options()) {
		if (set(s, PMP_INHERITED_VAR, "1") < 0)
			return -1;
	} else {
		unsetenv(PMP_INHERITED_VAR);
	}
	if (!a.pmp_workers || a.pmp_static || a.pmp_endpoint)
		return 0;
	/* A controller step runs the script once and overlaps the worker steps, which
	 * get the job's CPUs; what the user gave explicitly stays. */
	if (!a.overlap && set(s, "SLURM_OVERLAP", "1") < 0)
		return -1;
	if (!a.ntasks && (set(s, "SLURM_NTASKS", "1") < 0 || set(s, "SLURM_NPROCS", "1") < 0))
		return -1;
	if (!a.ntasks && !a.nodes) {
		/* srun also reads the job's node count as its default: one task on a two-node
		 * job would draw a warning. The task gets the job's count back (remote.c). */
		const char *job_nodes = getenv("SLURM_JOB_NUM_NODES");
		if (set(s, "SLURM_NNODES", "1") < 0 ||
		    (job_nodes && (set(s, PMP_JOB_NODES_VAR, job_nodes) < 0 || set(s, "SLURM_JOB_NUM_NODES", "1") < 0)))
			return -1;
	}
	return 0;
}

static int export_var(const char *name, const char *value, void *arg)
{
	struct pmp_state *s = arg;
	if (setenv(name, value, 1) < 0) {
		pmp_fail(s, false, "cannot set %s=%s (%s): free some memory and retry", name, value, strerror(errno));
		return -1;
	}
	return 0;
}

int pmp_local_post_opt(struct pmp_state *s, bool allocator)
{
	char err[PMP_MSG_MAX];

	if (!pmp_opts_any(&s->opts))
		return 0;
	if (pmp_opts_check(&s->opts, err, sizeof(err)) < 0) {
		pmp_fail(s, false, "%s", err);
		return -1;
	}
	/* sbatch and salloc pass their environment to the batch script or shell, where a
	 * plain `python script.py` reads these as its pmp.Executor defaults. Steps get
	 * theirs from slurmstepd (remote.c). */
	if (allocator)
		return pmp_each_option_var(s, export_var, s);
	return 0;
}
