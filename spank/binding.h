/* Binding arithmetic: pure functions over CPU sets and GPU lists, no system calls.
 * The remote context feeds them what slurmstepd sees; the unit tests feed them tables. */
#ifndef PMP_BINDING_H
#define PMP_BINDING_H

#include <sched.h>
#include <stdbool.h>
#include <stddef.h>

#define PMP_GPUS_MAX 1024 /* bytes of a GPU list ("0,1,..." or UUIDs) */

/* "0-3,8,10-11" <-> set. Parse returns 0, or -1 on bad syntax or a CPU >= CPU_SETSIZE. */
int pmp_cpulist_parse(const char *s, cpu_set_t *out);
/* Returns 0, or -1 when buf is too small. An empty set formats as "". */
int pmp_cpulist_format(const cpu_set_t *set, char *buf, size_t len);

/* Slurm numbers cores abstractly (0..n-1 over sockets, then cores), not by OS CPU id.
 * core_of_cpu maps each OS CPU to that index; -1 where the CPU does not exist. */
struct pmp_topology {
	int core_of_cpu[CPU_SETSIZE];
};

/* Core i is CPU i: used when the kernel does not describe its topology. */
void pmp_topology_identity(struct pmp_topology *t, const cpu_set_t *online);
/* From sysfs' physical_package_id and core_id of each online CPU (arrays indexed by
 * CPU): cores ordered by (package, core id), hyperthreads of a core share its index. */
void pmp_topology_from_ids(struct pmp_topology *t, const cpu_set_t *online,
			   const int *package_id, const int *core_id);

/* The step's CPUs on this node in binding order (by core, then CPU, so the CPUs a task
 * gets are hyperthreads of the same cores first). alloc_cores is Slurm's core list for
 * the step (NULL if unknown); allowed is what the step may run on (its cpuset). When the
 * two do not meet (a node declared larger than the machine), allowed alone decides.
 * Returns the number of CPUs written to order (at most CPU_SETSIZE). */
int pmp_step_cpus(const struct pmp_topology *t, const cpu_set_t *alloc_cores,
		  const cpu_set_t *allowed, int *order);

/* The CPUs of local task `task` (0-based) out of the n CPUs in order: per_task of them,
 * disjoint between tasks, or -1 when ntasks * per_task > n. With oversubscribe, all n:
 * the tasks share the step's CPUs, and the kernel balances them. */
int pmp_task_cpus(const int *order, int n, int task, int ntasks, int per_task,
		  bool oversubscribe, cpu_set_t *out);

/* Number of entries of a comma-separated list ("" has none). */
int pmp_list_count(const char *list);
/* Entries [task * per_task, task * per_task + per_task) of the step's GPU list, wrapping
 * around with oversubscribe. Returns 0, or -1 when they do not fit (or out is too small). */
int pmp_task_gpus(const char *step_gpus, int task, int ntasks, int per_task,
		  bool oversubscribe, char *out, size_t len);

/* Total CPUs of a job from SLURM_JOB_CPUS_PER_NODE ("2(x2),1" -> 5); -1 on bad syntax. */
long pmp_job_cpus(const char *s);

#endif
