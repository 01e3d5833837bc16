/* srun's own options, read from its command line before srun reads its environment.
 *
 * A controller step (`srun --pmp-workers=N python script.py`) must run its script once
 * and leave the job's CPUs to the worker steps. srun's options are final before SPANK
 * sees --pmp-*, except through the environment srun reads just after slurm_spank_init:
 * so the plugin looks at srun's argv there, and sets SLURM_OVERLAP (and SLURM_NTASKS,
 * SLURM_NNODES = 1 unless given) for controller steps. Pure code, unit-tested. */
#ifndef PMP_SRUN_ARGS_H
#define PMP_SRUN_ARGS_H

#include <stdbool.h>

struct pmp_srun_args {
	bool pmp_workers;    /* --pmp-workers[=N] among srun's options */
	bool pmp_static;     /* --pmp-static */
	bool pmp_endpoint;   /* --pmp-endpoint[=URI] (a worker step) */
	bool pmp_any;        /* any --pmp-* option */
	bool ntasks, nodes;  /* -n/--ntasks, -N/--nodes given */
	bool overlap;        /* --overlap given */
	bool kill_on_bad_exit; /* -K/--kill-on-bad-exit given */
};

/* Scans argv[1..] up to the command (the first non-option, or "--"). */
void pmp_srun_scan(int argc, char *const argv[], struct pmp_srun_args *out);

#endif
