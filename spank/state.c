/* What a step is to pmp, and the PMP_* variables that describe its options. */
#include <stdio.h>

#include "plugin.h"

enum pmp_role pmp_role_of(const struct pmp_opts *o)
{
	if (!pmp_opts_any(o))
		return PMP_ROLE_NONE;
	if (pmp_opts_given(o, PMP_OPT_ENDPOINT))
		return PMP_ROLE_WORKER;
	if (pmp_opts_given(o, PMP_OPT_STATIC))
		return PMP_ROLE_STATIC;
	if (pmp_opts_given(o, PMP_OPT_WORKERS))
		return PMP_ROLE_CONTROLLER;
	return PMP_ROLE_TASKS;
}

const char *pmp_role_name(enum pmp_role role)
{
	switch (role) {
	case PMP_ROLE_CONTROLLER:
		return "controller";
	case PMP_ROLE_WORKER:
		return "worker";
	case PMP_ROLE_STATIC:
		return "static";
	case PMP_ROLE_TASKS:
		return "tasks";
	case PMP_ROLE_INHERITED:
		return "inherited";
	default:
		return "none";
	}
}

int pmp_each_option_var(const struct pmp_state *s,
			int (*fn)(const char *name, const char *value, void *arg), void *arg)
{
	for (int id = 0; id < PMP_OPT_COUNT; id++) {
		const struct pmp_opt_info *info = &pmp_opt_table[id];
		char value[PMP_ENDPOINT_MAX];
		long v = pmp_opts_value(&s->opts, &s->cfg, (enum pmp_opt)id);

		switch (id) {
		case PMP_OPT_ENDPOINT:
			if (!pmp_opts_given(&s->opts, id))
				continue;
			snprintf(value, sizeof(value), "%s", s->opts.endpoint);
			break;
		case PMP_OPT_WORKERS:   /* unset: the runtime sizes itself from the job */
		case PMP_OPT_WORKER_ID:
		case PMP_OPT_STATIC:
			if (v <= 0 && !pmp_opts_given(&s->opts, id))
				continue;
			/* fall through */
		default:
			snprintf(value, sizeof(value), "%ld", v);
		}
		if (fn(info->env, value, arg) < 0)
			return -1;
	}
	return 0;
}
