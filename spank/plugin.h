/* State shared by the SPANK entry points (pmp_spank.c) and the per-context code
 * (local.c for srun, sbatch and salloc; remote.c for slurmstepd). */
#ifndef PMP_PLUGIN_H
#define PMP_PLUGIN_H

#include <slurm/spank.h>
#include <stdbool.h>

#include "binding.h"
#include "config.h"
#include "options.h"

enum pmp_role {
	PMP_ROLE_NONE,       /* not a pmp step: leave it alone */
	PMP_ROLE_CONTROLLER, /* --pmp-workers: the step runs a script that starts workers */
	PMP_ROLE_WORKER,     /* --pmp-endpoint: a worker step started by the runtime */
	PMP_ROLE_STATIC,     /* --pmp-static: every task serves, task 0 is the main one */
	PMP_ROLE_TASKS,      /* any other --pmp-* option: bind the step's tasks */
	PMP_ROLE_INHERITED,  /* options only from #SBATCH/salloc, not this srun: variables only */
};

/* Set by srun (local context) for slurmstepd: the step's --pmp-* options come from the
 * enclosing sbatch/salloc, not from its own command line. */
#define PMP_INHERITED_VAR "PMP_INHERITED"
/* Set by srun for slurmstepd: the job's node count, while srun's own SLURM_JOB_NUM_NODES
 * says 1 so that a one-task controller step draws no warning. */
#define PMP_JOB_NODES_VAR "PMP_JOB_NUM_NODES"
/* Set by srun for every task of a static step: the node task 0 must run on. */
#define PMP_STATIC_NODE_VAR "PMP_STATIC_NODE"

struct pmp_state {
	struct pmp_config cfg;
	struct pmp_opts opts;
	/* local context */
	bool static_step;         /* srun's own --pmp-static: set up the rendezvous */
	/* remote context, per node */
	bool skip;                /* batch, extern or interactive step */
	enum pmp_role role;
	char error[PMP_MSG_MAX];  /* first failure of user_init, reported from task_init */
	int ntasks_local;
	int ncpus;                /* the step's CPUs on this node, in binding order */
	int cpu_order[CPU_SETSIZE];
	char gpus[PMP_GPUS_MAX];  /* the step's GPUs on this node, as Slurm numbers them */
};

enum pmp_role pmp_role_of(const struct pmp_opts *o);
const char *pmp_role_name(enum pmp_role role);

/* Calls fn(name, value) for each PMP_* variable describing the options in effect. */
int pmp_each_option_var(const struct pmp_state *s,
			int (*fn)(const char *name, const char *value, void *arg), void *arg);

/* srun, before it reads its options: shape controller steps (see srun_args.h). */
int pmp_local_init(struct pmp_state *s, int argc, char *const argv[]);
/* srun, sbatch, salloc: after all options are known. */
int pmp_local_post_opt(struct pmp_state *s, bool allocator);
/* srun, once the step exists: a static step's endpoint and secret (rendezvous.h). */
int pmp_local_user_init(struct pmp_state *s, spank_t sp);

/* slurmstepd */
int pmp_remote_init(struct pmp_state *s, spank_t sp);
int pmp_remote_post_opt(struct pmp_state *s, spank_t sp);
int pmp_remote_user_init(struct pmp_state *s, spank_t sp);
int pmp_remote_task_init(struct pmp_state *s, spank_t sp);

/* Report a failure to the user: on stderr as "pmp: <msg>" locally; remotely in
 * slurmd's log, and kept in s->error (the first one only) so that task_init shows
 * it to the user. */
void pmp_fail(struct pmp_state *s, bool remote, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
