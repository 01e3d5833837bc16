/* srun (local context), sbatch and salloc (allocator context). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"

static int export_var(const char *name, const char *value, void *arg)
{
	struct pmp_state *s = arg;
	if (setenv(name, value, 1) < 0) {
		pmp_fail(s, false, "cannot set %s=%s (%s): free some memory and retry", name, value, strerror(errno));
		return -1;
	}
	return 0;
}

int pmp_local_post_opt(struct pmp_state *s, bool allocator)
{
	char err[PMP_MSG_MAX];

	if (!pmp_opts_any(&s->opts))
		return 0;
	if (pmp_opts_check(&s->opts, err, sizeof(err)) < 0) {
		pmp_fail(s, false, "%s", err);
		return -1;
	}
	/* sbatch and salloc pass their environment to the batch script or shell, where a
	 * plain `python script.py` reads these as its pmp.Executor defaults. Steps get
	 * theirs from slurmstepd (remote.c). */
	if (allocator)
		return pmp_each_option_var(s, export_var, s);
	return 0;
}
