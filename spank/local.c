/* srun (local context), sbatch and salloc (allocator context). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"
#include "rendezvous.h"
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
	s->static_step = a.pmp_static && !a.pmp_endpoint;
	/* A static step is one program: when a task fails (task 0 before it listens, or a
	 * worker), the others must not wait for it forever. As with MPI, end the step. */
	if (s->static_step && !a.kill_on_bad_exit && !getenv("SLURM_KILL_BAD_EXIT") &&
	    set(s, "SLURM_KILL_BAD_EXIT", "1") < 0)
		return -1;
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

int pmp_local_user_init(struct pmp_state *s, spank_t sp)
{
	char node[256], addr[256], endpoint[PMP_ENDPOINT_LEN], token[PMP_TOKEN_LEN], err[PMP_MSG_MAX];
	uint8_t raw[PMP_TOKEN_RAW];
	uint32_t job = 0, step = 0, pick = 0;

	if (!s->static_step)
		return 0;
	if (spank_get_item(sp, S_JOB_ID, &job) != ESPANK_SUCCESS ||
	    spank_get_item(sp, S_JOB_STEPID, &step) != ESPANK_SUCCESS) {
		pmp_fail(s, false, "--pmp-static: srun cannot tell its job and step: report this");
		return -1;
	}
	if (pmp_sys.step_first_node(job, step, node, sizeof(node), addr, sizeof(addr), err, sizeof(err)) < 0) {
		pmp_fail(s, false, "--pmp-static: %s", err);
		return -1;
	}
	if (pmp_sys.random(raw, sizeof(raw)) < 0 || pmp_sys.random(&pick, sizeof(pick)) < 0) {
		pmp_fail(s, false, "--pmp-static: no random numbers for the step's secret (%s): retry", strerror(errno));
		return -1;
	}
	pmp_token_format(raw, token);
	int port = pmp_port_pick(pick, s->cfg.static_port_lo, s->cfg.static_port_hi);
	if (pmp_endpoint_format(addr, port, endpoint, sizeof(endpoint)) < 0) {
		pmp_fail(s, false, "--pmp-static: node %s's address '%s' makes no endpoint: ask your Slurm "
			 "administrators to check its NodeAddr", node, addr);
		return -1;
	}
	/* srun passes its environment to every task, over Slurm's authenticated launch. */
	if (set(s, "PMP_ENDPOINT", endpoint) < 0 || set(s, PMP_STATIC_NODE_VAR, node) < 0 ||
	    set(s, "PMP_SECRET", token) < 0)
		return -1;
	return 0;
}
