/* The machine as the plugin sees it: affinity system calls, sysfs topology, and the
 * Slurm API of the process that loaded the plugin. */
#include "sysdeps.h"

#include <errno.h>
#include <slurm/slurm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* srun and slurmstepd provide these; the unit tests, which stand in for this table, do not. */
#pragma weak slurm_get_job_steps
#pragma weak slurm_free_job_step_info_response_msg
#pragma weak slurm_load_node_single
#pragma weak slurm_free_node_info_msg
#pragma weak slurm_hostlist_create
#pragma weak slurm_hostlist_shift
#pragma weak slurm_hostlist_destroy
#pragma weak slurm_strerror

static int get_affinity(cpu_set_t *set)
{
	return sched_getaffinity(0, sizeof(*set), set);
}

static int set_affinity(const cpu_set_t *set)
{
	return sched_setaffinity(0, sizeof(*set), set);
}

/* /sys/devices/system/cpu/cpu<cpu>/topology/<name> */
static int read_topology_id(int cpu, const char *name, int *out)
{
	char path[128];
	snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/topology/%s", cpu, name);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	int rc = fscanf(f, "%d", out) == 1 ? 0 : -1;
	fclose(f);
	return rc;
}

static void online_cpus(cpu_set_t *online)
{
	char buf[4096] = "";
	FILE *f = fopen("/sys/devices/system/cpu/online", "r");
	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = '\0';
	if (pmp_cpulist_parse(buf, online) == 0 && CPU_COUNT(online) > 0)
		return;
	CPU_ZERO(online);
	long n = sysconf(_SC_NPROCESSORS_CONF);
	for (long c = 0; c < n && c < CPU_SETSIZE; c++)
		CPU_SET((size_t)c, online);
}

static void topology(struct pmp_topology *t)
{
	static int package[CPU_SETSIZE], core[CPU_SETSIZE];
	cpu_set_t online;

	online_cpus(&online);
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET((size_t)c, &online))
			continue;
		if (read_topology_id(c, "physical_package_id", &package[c]) < 0 ||
		    read_topology_id(c, "core_id", &core[c]) < 0) {
			pmp_topology_identity(t, &online);
			return;
		}
	}
	pmp_topology_from_ids(t, &online, package, core);
}

static void end_task(int status)
{
	_exit(status); /* in the task's own process, forked from slurmstepd, before exec */
}

static int srun_argv(char **buf, int *argc, char ***argv)
{
	size_t cap = 4096, len = 0;
	FILE *f = fopen("/proc/self/cmdline", "r");
	char *data = malloc(cap);
	if (!f || !data)
		goto fail;
	for (size_t n; (n = fread(data + len, 1, cap - len - 1, f)) > 0;) {
		len += n;
		if (len + 1 == cap) {
			char *bigger = realloc(data, cap * 2);
			if (!bigger)
				goto fail;
			data = bigger;
			cap *= 2;
		}
	}
	fclose(f);
	data[len] = '\0';
	int n = 0;
	for (size_t i = 0; i < len; i++)
		n += data[i] == '\0';
	char **v = calloc((size_t)n + 1, sizeof(*v));
	if (!v) {
		free(data);
		return -1;
	}
	int k = 0;
	for (size_t i = 0; i < len && k < n; i += strlen(data + i) + 1)
		v[k++] = data + i;
	*buf = data;
	*argc = k;
	*argv = v;
	return 0;
fail:
	if (f)
		fclose(f);
	free(data);
	return -1;
}

static int random_bytes(void *buf, size_t len)
{
	return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}

static int step_first_node(uint32_t job, uint32_t step, char *node, size_t nlen, char *addr, size_t alen,
			   char *err, size_t errlen)
{
	job_step_info_response_msg_t *steps = NULL;
	node_info_msg_t *nodes = NULL;
	hostlist_t hl = NULL;
	char *first = NULL;
	int rc = -1;

	if (!slurm_get_job_steps || !slurm_load_node_single) {
		snprintf(err, errlen, "this process has no Slurm API: run the step with srun");
		return -1;
	}
	if (slurm_get_job_steps(0, job, step, &steps, SHOW_ALL) != 0 || !steps || steps->job_step_count < 1) {
		snprintf(err, errlen, "cannot look up step %u.%u (%s): check that slurmctld is up, and retry", job,
			 step, slurm_strerror(errno));
		goto out;
	}
	if (!(hl = slurm_hostlist_create(steps->job_steps[0].nodes)) || !(first = slurm_hostlist_shift(hl))) {
		snprintf(err, errlen, "step %u.%u has no nodes (%s): report this", job, step,
			 steps->job_steps[0].nodes ? steps->job_steps[0].nodes : "");
		goto out;
	}
	if (slurm_load_node_single(&nodes, first, SHOW_ALL) != 0 || !nodes || nodes->record_count < 1) {
		snprintf(err, errlen, "cannot look up node %s (%s): check that slurmctld is up, and retry", first,
			 slurm_strerror(errno));
		goto out;
	}
	const node_info_t *n = &nodes->node_array[0];
	const char *a = n->node_addr && *n->node_addr ? n->node_addr : first;
	if ((size_t)snprintf(node, nlen, "%s", first) >= nlen || (size_t)snprintf(addr, alen, "%s", a) >= alen) {
		snprintf(err, errlen, "node %s's name or address is too long: report this", first);
		goto out;
	}
	rc = 0;
out:
	free(first);
	if (hl)
		slurm_hostlist_destroy(hl);
	if (nodes)
		slurm_free_node_info_msg(nodes);
	if (steps)
		slurm_free_job_step_info_response_msg(steps);
	return rc;
}

struct pmp_sys pmp_sys = {get_affinity, set_affinity, topology, end_task, srun_argv, random_bytes, step_first_node};
