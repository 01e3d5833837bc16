/* What the plugin asks of the operating system, behind one table so that the unit
 * tests can stand in for the machine (CPU affinity, CPU topology). */
#ifndef PMP_SYSDEPS_H
#define PMP_SYSDEPS_H

#include <sched.h>

#include "binding.h"

struct pmp_sys {
	int (*get_affinity)(cpu_set_t *set);       /* CPUs this process may run on */
	int (*set_affinity)(const cpu_set_t *set); /* 0, or -1 with errno */
	void (*topology)(struct pmp_topology *t);  /* never fails: falls back to identity */
	void (*end_task)(int status);              /* ends a task before it runs its program */
	/* srun's own command line; free() *argv and *buf. 0, or -1 when it cannot be read. */
	int (*srun_argv)(char **buf, int *argc, char ***argv);
};

extern struct pmp_sys pmp_sys;

#endif
