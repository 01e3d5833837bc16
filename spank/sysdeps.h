/* What the plugin asks of the operating system, behind one table so that the unit
 * tests can stand in for the machine (CPU affinity, CPU topology). */
#ifndef PMP_SYSDEPS_H
#define PMP_SYSDEPS_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>

#include "binding.h"

struct pmp_sys {
	int (*get_affinity)(cpu_set_t *set);       /* CPUs this process may run on */
	int (*set_affinity)(const cpu_set_t *set); /* 0, or -1 with errno */
	void (*topology)(struct pmp_topology *t);  /* never fails: falls back to identity */
	void (*end_task)(int status);              /* ends a task before it runs its program */
	/* srun's own command line; free() *argv and *buf. 0, or -1 when it cannot be read. */
	int (*srun_argv)(char **buf, int *argc, char ***argv);
	int (*random)(void *buf, size_t len);     /* 0, or -1 with errno */
	/* srun: the first node of step job.step, and its address as slurm.conf gives it
	 * (NodeAddr). 0, or -1 with a message for the user in err. */
	int (*step_first_node)(uint32_t job, uint32_t step, char *node, size_t nlen, char *addr, size_t alen,
			       char *err, size_t errlen);
};

extern struct pmp_sys pmp_sys;

#endif
