/* The --pmp-* options: table and value parsing. */
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

const struct pmp_opt_info pmp_opt_table[PMP_OPT_COUNT] = {
	[PMP_OPT_WORKERS] = {"pmp-workers", "N",
		"Workers a pmp.Executor starts (default: one per CPU of the job); on srun, the script "
		"runs once and the workers take the job's CPUs",
		PMP_ARG_INT, 1, 65536, true, "PMP_WORKERS"},
	[PMP_OPT_CORES_PER_WORKER] = {"pmp-cores-per-worker", "N",
		"MPI ranks (cores) of each pmp worker (default 1: serial workers)",
		PMP_ARG_INT, 1, 65536, true, "PMP_CORES_PER_WORKER"},
	[PMP_OPT_THREADS_PER_CORE] = {"pmp-threads-per-core", "N",
		"CPUs bound to each task, and its OMP_NUM_THREADS and BLAS thread counts (default 1)",
		PMP_ARG_INT, 1, 1024, true, "PMP_THREADS_PER_CORE"},
	[PMP_OPT_GPUS_PER_WORKER] = {"pmp-gpus-per-worker", "N",
		"GPUs of the step bound to each task (CUDA_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES; default 0)",
		PMP_ARG_INT, 0, 1024, true, "PMP_GPUS_PER_WORKER"},
	[PMP_OPT_OVERSUBSCRIBE] = {"pmp-oversubscribe", NULL,
		"Let the tasks of a node share CPUs and GPUs instead of failing when they do not fit",
		PMP_ARG_FLAG, 0, 1, false, "PMP_OVERSUBSCRIBE"},
	[PMP_OPT_STATIC] = {"pmp-static", NULL,
		"Static mode: every task runs the script, task 0 is the main one, the others serve it "
		"(no MPI needed; a task that fails ends the step)",
		PMP_ARG_FLAG, 0, 1, false, "PMP_STATIC"},
	[PMP_OPT_ENDPOINT] = {"pmp-endpoint", "URI",
		"(internal, set by the pmp runtime) ZeroMQ endpoint of the controller",
		PMP_ARG_ENDPOINT, 0, 0, false, "PMP_ENDPOINT"},
	[PMP_OPT_WORKER_ID] = {"pmp-worker-id", "ID",
		"(internal, set by the pmp runtime) identity of the worker this step runs",
		PMP_ARG_INT, 0, INT_MAX, false, "PMP_WORKER_ID"},
};

void pmp_opts_init(struct pmp_opts *o)
{
	memset(o, 0, sizeof(*o));
}

bool pmp_opts_given(const struct pmp_opts *o, enum pmp_opt id)
{
	return (o->given & (1u << id)) != 0;
}

bool pmp_opts_any(const struct pmp_opts *o)
{
	return o->given != 0;
}

int pmp_parse_long(const char *s, long min, long max, long *out)
{
	if (!s || !*s)
		return -1;
	for (const char *p = s; *p; p++)
		if (!isdigit((unsigned char)*p))
			return -1;
	errno = 0;
	char *end = NULL;
	unsigned long long v = strtoull(s, &end, 10);
	if (*end)
		return -1;
	if (errno == ERANGE || v > (unsigned long long)max || (long long)v < min)
		return -2;
	*out = (long)v;
	return 0;
}

int pmp_endpoint_valid(const char *s)
{
	if (!s || strlen(s) >= PMP_ENDPOINT_MAX)
		return -1;
	if (strncmp(s, "ipc:///", 7) == 0)
		return s[7] ? 0 : -1;
	if (strncmp(s, "tcp://", 6) != 0)
		return -1;
	const char *host = s + 6;
	const char *colon = strrchr(host, ':');
	if (!colon || colon == host)
		return -1;
	for (const char *p = host; p < colon; p++)
		if (!isalnum((unsigned char)*p) && !strchr(".-_[]:", *p))
			return -1;
	long port;
	return pmp_parse_long(colon + 1, 1, 65535, &port) == 0 ? 0 : -1;
}

static long opt_max(const struct pmp_config *cfg, enum pmp_opt id)
{
	return cfg ? cfg->max[id] : pmp_opt_table[id].max;
}

static int set_int(struct pmp_opts *o, const struct pmp_config *cfg, enum pmp_opt id,
		   const char *arg, char *err, size_t errlen)
{
	const struct pmp_opt_info *info = &pmp_opt_table[id];
	long max = opt_max(cfg, id);
	const char *site = max < info->max ? " (the site's maximum, from plugstack.conf)" : "";
	long v;

	switch (pmp_parse_long(arg, info->min, max, &v)) {
	case 0:
		o->value[id] = v;
		return 0;
	case -2:
		snprintf(err, errlen, "--%s=%s is out of range: give a number from %ld to %ld%s",
			 info->name, arg, info->min, max, site);
		return -1;
	default:
		snprintf(err, errlen, "--%s=%s is not a whole number: give one from %ld to %ld, e.g. --%s=%ld",
			 info->name, arg ? arg : "", info->min, max, info->name,
			 info->min > 0 ? info->min : 1);
		return -1;
	}
}

int pmp_opts_set(struct pmp_opts *o, const struct pmp_config *cfg, enum pmp_opt id,
		 const char *arg, char *err, size_t errlen)
{
	if ((unsigned)id >= PMP_OPT_COUNT) {
		snprintf(err, errlen, "internal error: unknown option id %d; report this to the pmp developers", (int)id);
		return -1;
	}
	const struct pmp_opt_info *info = &pmp_opt_table[id];

	switch (info->kind) {
	case PMP_ARG_FLAG:
		o->value[id] = 1;
		break;
	case PMP_ARG_ENDPOINT:
		if (pmp_endpoint_valid(arg) < 0) {
			snprintf(err, errlen, "--%s=%s is not a ZeroMQ endpoint: it is set by the pmp runtime; "
				 "give tcp://HOST:PORT or ipc:///PATH", info->name, arg ? arg : "");
			return -1;
		}
		snprintf(o->endpoint, sizeof(o->endpoint), "%s", arg);
		break;
	case PMP_ARG_INT:
		if (set_int(o, cfg, id, arg, err, errlen) < 0)
			return -1;
		break;
	}
	o->given |= 1u << id;
	return 0;
}

long pmp_opts_value(const struct pmp_opts *o, const struct pmp_config *cfg, enum pmp_opt id)
{
	if (pmp_opts_given(o, id))
		return o->value[id];
	if (cfg && cfg->deflt[id] >= 0)
		return cfg->deflt[id];
	switch (id) {
	case PMP_OPT_CORES_PER_WORKER:
	case PMP_OPT_THREADS_PER_CORE:
		return 1;
	case PMP_OPT_WORKERS:
		return -1; /* unset: the runtime picks one per CPU of the job */
	default:
		return 0;
	}
}

int pmp_opts_check(const struct pmp_opts *o, char *err, size_t errlen)
{
	bool endpoint = pmp_opts_given(o, PMP_OPT_ENDPOINT);

	if (pmp_opts_given(o, PMP_OPT_WORKER_ID) && !endpoint) {
		snprintf(err, errlen, "--pmp-worker-id=%ld needs --pmp-endpoint: both are set by the pmp "
			 "runtime for its worker steps; remove --pmp-worker-id", o->value[PMP_OPT_WORKER_ID]);
		return -1;
	}
	if (pmp_opts_given(o, PMP_OPT_STATIC) && endpoint) {
		snprintf(err, errlen, "--pmp-static cannot be combined with --pmp-endpoint=%s: in static mode "
			 "task 0 is the controller; remove --pmp-endpoint", o->endpoint);
		return -1;
	}
	return 0;
}
