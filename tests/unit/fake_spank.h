/* A stand-in for the SPANK API and for the machine, so the unit tests can drive the
 * plugin's callbacks as srun, sbatch and slurmstepd would. */
#ifndef PMP_FAKE_SPANK_H
#define PMP_FAKE_SPANK_H

#include <sched.h>
#include <slurm/spank.h>
#include <stdbool.h>
#include <stdint.h>

#define FAKE_MAX_OPTIONS 16

struct fake_spank {
	spank_context_t ctx;
	uint32_t job_id, step_id, local_tasks;
	int task_id;
	uint32_t global_id;
	const char *alloc_cores;              /* S_STEP_ALLOC_CORES, NULL: not available */
	spank_err_t fail_item;                /* returned for fail_item_id when non-zero */
	spank_item_t fail_item_id;
	spank_err_t fail_register;            /* returned by spank_option_register when non-zero */
	spank_err_t fail_setenv;              /* returned by spank_setenv when non-zero */
	char *env[64];                        /* the job environment, "NAME=value" */
	struct spank_option options[FAKE_MAX_OPTIONS];
	int noptions;
	char last_error[1024];                /* last slurm_error() message */
	int nerrors;
	char last_info[1024];                 /* last slurm_info() message */
	int ninfos;
	/* the machine */
	cpu_set_t online, allowed, bound;
	bool bound_set;
	int fail_get_affinity, fail_set_affinity; /* errno to fail with, 0: succeed */
	int ended;                            /* end_task() calls, instead of _exit */
	int end_status;
	char *const *srun_argv;               /* srun's command line; NULL: unreadable */
	const char *first_node, *first_addr;  /* the step's first node; NULL: lookup fails */
	uint32_t lookup_job, lookup_step;     /* what the plugin looked up */
	int fail_random;                      /* errno for random(), 0: succeed */
};

extern struct fake_spank fake;
#define FAKE_SP ((spank_t)&fake)

void fake_reset(spank_context_t ctx);
void fake_free(void);
const char *fake_getenv(const char *name);
void fake_setenv(const char *name, const char *value);
/* The registered option named name (without "--"), or NULL. */
struct spank_option *fake_option(const char *name);
/* Runs the option's callback as SPANK would; arg NULL for flags. */
int fake_use_option(const char *name, const char *arg);

/* Capture what the code under test writes to stderr (fd 2). */
void capture_begin(void);
const char *capture_end(void); /* valid until the next capture_begin */

#endif
