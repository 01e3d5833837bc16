/* Site settings from the plugin's plugstack.conf arguments. */
#ifndef PMP_CONFIG_H
#define PMP_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "options.h"

#define PMP_VARLIST_MAX 256

struct pmp_config {
	long deflt[PMP_OPT_COUNT]; /* default_<option>=N; -1 where unset */
	long max[PMP_OPT_COUNT];   /* max_<option>=N, within the option's own range */
	bool bind_cpus;            /* bind_cpus=yes|no */
	bool bind_gpus;            /* bind_gpus=yes|no */
	char thread_vars[PMP_VARLIST_MAX]; /* thread_vars=A,B,...: set to threads per core */
	char gpu_vars[PMP_VARLIST_MAX];    /* gpu_vars=A,B,...: set to the task's GPUs */
	int static_port_lo, static_port_hi; /* static_ports=LO-HI: where task 0 of a static
					       step listens (below Linux's ephemeral ports) */
};

void pmp_config_init(struct pmp_config *c);

/* Parse plugstack.conf arguments "key=value". 0, or -1 with a message in err. */
int pmp_config_parse(struct pmp_config *c, int ac, char **av, char *err, size_t errlen);

/* Calls fn for each name of a comma-separated list; stops early when fn returns < 0. */
int pmp_varlist_each(const char *list, int (*fn)(const char *name, void *arg), void *arg);

#endif
