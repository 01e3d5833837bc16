/* Binding arithmetic: see binding.h. */
#include "binding.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int parse_cpu(const char **p, long *out)
{
	char *end;
	if (**p < '0' || **p > '9')
		return -1;
	*out = strtol(*p, &end, 10);
	if (*out >= CPU_SETSIZE)
		return -1;
	*p = end;
	return 0;
}

int pmp_cpulist_parse(const char *s, cpu_set_t *out)
{
	CPU_ZERO(out);
	if (!s)
		return -1;
	const char *p = s;
	while (*p) {
		long lo, hi;
		if (parse_cpu(&p, &lo) < 0)
			return -1;
		hi = lo;
		if (*p == '-') {
			p++;
			if (parse_cpu(&p, &hi) < 0 || hi < lo)
				return -1;
		}
		for (long c = lo; c <= hi; c++)
			CPU_SET((size_t)c, out);
		if (*p == ',' && p[1])
			p++;
		else if (*p)
			return -1;
	}
	return 0;
}

int pmp_cpulist_format(const cpu_set_t *set, char *buf, size_t len)
{
	size_t used = 0;
	if (len == 0)
		return -1;
	buf[0] = '\0';
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET((size_t)c, set))
			continue;
		int hi = c;
		while (hi + 1 < CPU_SETSIZE && CPU_ISSET((size_t)hi + 1, set))
			hi++;
		int n = hi > c ? snprintf(buf + used, len - used, "%s%d-%d", used ? "," : "", c, hi)
			       : snprintf(buf + used, len - used, "%s%d", used ? "," : "", c);
		if (n < 0 || (size_t)n >= len - used)
			return -1;
		used += (size_t)n;
		c = hi;
	}
	return 0;
}

void pmp_topology_identity(struct pmp_topology *t, const cpu_set_t *online)
{
	for (int c = 0; c < CPU_SETSIZE; c++)
		t->core_of_cpu[c] = CPU_ISSET((size_t)c, online) ? c : -1;
}

struct cpu_ids {
	int package, core, cpu;
};

static int by_package_then_core(const void *a, const void *b)
{
	const struct cpu_ids *x = a, *y = b;
	if (x->package != y->package)
		return x->package < y->package ? -1 : 1;
	if (x->core != y->core)
		return x->core < y->core ? -1 : 1;
	return (x->cpu > y->cpu) - (x->cpu < y->cpu);
}

void pmp_topology_from_ids(struct pmp_topology *t, const cpu_set_t *online,
			   const int *package_id, const int *core_id)
{
	struct cpu_ids ids[CPU_SETSIZE];
	size_t n = 0;

	for (int c = 0; c < CPU_SETSIZE; c++) {
		t->core_of_cpu[c] = -1;
		if (CPU_ISSET((size_t)c, online))
			ids[n++] = (struct cpu_ids){package_id[c], core_id[c], c};
	}
	qsort(ids, n, sizeof(*ids), by_package_then_core);
	int index = -1;
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || ids[i].package != ids[i - 1].package || ids[i].core != ids[i - 1].core)
			index++;
		t->core_of_cpu[ids[i].cpu] = index;
	}
}

static int collect(const struct pmp_topology *t, const cpu_set_t *alloc_cores,
		   const cpu_set_t *allowed, int *order)
{
	int n = 0;
	for (int c = 0; c < CPU_SETSIZE; c++) {
		int core = t->core_of_cpu[c];
		if (core < 0 || !CPU_ISSET((size_t)c, allowed))
			continue;
		if (alloc_cores && !CPU_ISSET((size_t)core, alloc_cores))
			continue;
		order[n++] = c;
	}
	return n;
}

static int by_core_then_cpu(const void *a, const void *b, void *topology)
{
	const struct pmp_topology *t = topology;
	int x = *(const int *)a, y = *(const int *)b;
	int cx = t->core_of_cpu[x], cy = t->core_of_cpu[y];
	if (cx != cy)
		return cx < cy ? -1 : 1;
	return (x > y) - (x < y);
}

int pmp_step_cpus(const struct pmp_topology *t, const cpu_set_t *alloc_cores,
		  const cpu_set_t *allowed, int *order)
{
	int n = collect(t, alloc_cores, allowed, order);
	if (n == 0 && alloc_cores)
		n = collect(t, NULL, allowed, order);
	qsort_r(order, (size_t)n, sizeof(*order), by_core_then_cpu, (void *)t);
	return n;
}

int pmp_task_cpus(const int *order, int n, int task, int ntasks, int per_task,
		  bool oversubscribe, cpu_set_t *out)
{
	CPU_ZERO(out);
	if (n <= 0 || task < 0 || per_task <= 0 || task >= ntasks)
		return -1;
	if (oversubscribe) {
		/* Tasks that share CPUs share all of them. Dealt out in turn instead, every
		 * one-task step (each pmp worker's) was task 0, and so on the node's first CPU:
		 * 128 oversubscribed workers on the local cluster ran on one CPU of two. */
		for (int i = 0; i < n; i++)
			CPU_SET((size_t)order[i], out);
		return 0;
	}
	if ((long)ntasks * per_task > n)
		return -1;
	long first = (long)task * per_task;
	for (int i = 0; i < per_task; i++)
		CPU_SET((size_t)order[first + i], out);
	return 0;
}

int pmp_list_count(const char *list)
{
	if (!list || !*list)
		return 0;
	int n = 1;
	for (const char *p = list; *p; p++)
		n += *p == ',';
	return n;
}

/* Pointer to entry i of a comma-separated list, and its length. */
static const char *list_entry(const char *list, int i, size_t *len)
{
	const char *p = list;
	while (i-- > 0)
		p = strchr(p, ',') + 1;
	*len = strcspn(p, ",");
	return p;
}

int pmp_task_gpus(const char *step_gpus, int task, int ntasks, int per_task,
		  bool oversubscribe, char *out, size_t len)
{
	int n = pmp_list_count(step_gpus);
	size_t used = 0;
	if (len == 0)
		return -1;
	out[0] = '\0';
	if (n == 0 || per_task <= 0 || task < 0 || task >= ntasks)
		return -1;
	if (!oversubscribe && (long)ntasks * per_task > n)
		return -1;
	int take = per_task < n ? per_task : n;
	for (int i = 0; i < take; i++) {
		size_t elen;
		const char *e = list_entry(step_gpus, (int)(((long)task * per_task + i) % n), &elen);
		if (used + elen + 2 > len)
			return -1;
		if (used)
			out[used++] = ',';
		memcpy(out + used, e, elen);
		used += elen;
		out[used] = '\0';
	}
	return 0;
}

long pmp_job_cpus(const char *s)
{
	long total = 0;
	const char *p = s;
	if (!s || !*s)
		return -1;
	while (*p) {
		char *end;
		if (*p < '0' || *p > '9')
			return -1;
		long cpus = strtol(p, &end, 10), times = 1;
		p = end;
		if (*p == '(') {
			if (p[1] != 'x' || p[2] < '0' || p[2] > '9')
				return -1;
			times = strtol(p + 2, &end, 10);
			if (*end != ')')
				return -1;
			p = end + 1;
		}
		if (cpus > 1L << 24 || times > 1L << 24)
			return -1;
		total += cpus * times;
		if (*p == ',' && p[1])
			p++;
		else if (*p)
			return -1;
	}
	return total;
}
