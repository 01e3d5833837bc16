/* The pmp SPANK plugin: entry points, dispatching to one file per context.
 *   local.c   srun, sbatch, salloc
 *   remote.c  slurmstepd
 * Only the slurm_spank_* functions and the plugin symbols are exported (exports.map):
 * srun and slurmstepd have globals of their own that would otherwise win. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugin.h"
#include "sysdeps.h"

#define PMP_EXPORT __attribute__((visibility("default")))

PMP_EXPORT const char plugin_name[] = "pmp";
PMP_EXPORT const char plugin_type[] = "spank";
PMP_EXPORT const unsigned int plugin_version = SLURM_VERSION_NUMBER;
PMP_EXPORT const unsigned int spank_plugin_version = 1;

static struct pmp_state state;
/* SPANK may keep pointers to registered options: they must outlive slurm_spank_init. */
static struct spank_option registered[PMP_OPT_COUNT];

void pmp_fail(struct pmp_state *s, bool remote, const char *fmt, ...)
{
	char msg[PMP_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!remote) {
		fprintf(stderr, "pmp: %s\n", msg);
		return;
	}
	/* The user sees it from task_init; slurmstepd would also echo an error-level
	 * message to the user, so the log gets it at info level. */
	slurm_info("pmp: %s", msg);
	if (!s->error[0])
		snprintf(s->error, sizeof(s->error), "%s", msg);
}

static int option_cb(int val, const char *optarg, int remote)
{
	char err[PMP_MSG_MAX];

	if (pmp_opts_set(&state.opts, &state.cfg, (enum pmp_opt)val, optarg, err, sizeof(err)) < 0) {
		pmp_fail(&state, remote != 0, "%s", err);
		return -1;
	}
	return 0;
}

static int register_options(spank_t sp)
{
	for (int i = 0; i < PMP_OPT_COUNT; i++) {
		const struct pmp_opt_info *info = &pmp_opt_table[i];
		registered[i] = (struct spank_option){
			.name = (char *)info->name,
			.arginfo = (char *)info->arginfo,
			.usage = (char *)info->usage,
			.has_arg = info->kind != PMP_ARG_FLAG,
			.val = i,
			.cb = option_cb,
		};
		spank_err_t rc = spank_option_register(sp, &registered[i]);
		if (rc != ESPANK_SUCCESS) {
			pmp_fail(&state, spank_remote(sp), "cannot register --%s (%s): check that no other "
				 "plugin in plugstack.conf defines it", info->name, spank_strerror(rc));
			return -1;
		}
	}
	return 0;
}

PMP_EXPORT int slurm_spank_init(spank_t sp, int ac, char **av)
{
	spank_context_t ctx = spank_context();
	char err[PMP_MSG_MAX];

	if (ctx != S_CTX_LOCAL && ctx != S_CTX_REMOTE && ctx != S_CTX_ALLOCATOR)
		return 0;
	memset(&state, 0, sizeof(state));
	pmp_config_init(&state.cfg);
	pmp_opts_init(&state.opts);
	if (pmp_config_parse(&state.cfg, ac, av, err, sizeof(err)) < 0) {
		if (ctx == S_CTX_REMOTE) /* no task_init follows: slurmstepd shows errors to the user */
			slurm_error("pmp: %s", err);
		else
			pmp_fail(&state, false, "%s", err);
		return -1;
	}
	if (register_options(sp) < 0)
		return -1;
	if (ctx == S_CTX_REMOTE)
		return pmp_remote_init(&state, sp);
	if (ctx == S_CTX_LOCAL) {
		char *buf, **argv;
		int argc, rc = 0;
		if (pmp_sys.srun_argv(&buf, &argc, &argv) == 0) {
			rc = pmp_local_init(&state, argc, argv);
			free(argv);
			free(buf);
		}
		return rc;
	}
	return 0;
}

PMP_EXPORT int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	switch (spank_context()) {
	case S_CTX_LOCAL:
		return pmp_local_post_opt(&state, false);
	case S_CTX_ALLOCATOR:
		return pmp_local_post_opt(&state, true);
	case S_CTX_REMOTE:
		return pmp_remote_post_opt(&state, sp);
	default:
		return 0;
	}
}

PMP_EXPORT int slurm_spank_local_user_init(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	return pmp_local_user_init(&state, sp);
}

PMP_EXPORT int slurm_spank_user_init(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	return pmp_remote_user_init(&state, sp);
}

PMP_EXPORT int slurm_spank_task_init(spank_t sp, int ac, char **av)
{
	(void)ac;
	(void)av;
	return pmp_remote_task_init(&state, sp);
}
