/* srun's own options: see srun_args.h. The tables follow `srun --help` of Slurm 22.05;
 * an option they do not know is taken as a flag, which at worst stops the scan early. */
#include "srun_args.h"

#include <string.h>

/* Short options whose argument may be the next word. */
static const char short_with_arg[] = "AbcdDeiJLMmnNopqrSTtWwxCG";

/* Long options that take a required argument (as --name=value or --name value). */
static const char *const long_with_arg[] = {
	"account", "acctg-freq", "bb", "bbf", "bcast", "bcast-exclude", "begin", "cpus-per-task", "comment",
	"cpu-freq", "dependency", "deadline", "delay-boot", "chdir", "export", "error", "epilog", "gres",
	"gres-flags", "input", "jobid", "job-name", "licenses", "clusters", "distribution", "mail-type",
	"mail-user", "mcs-label", "mpi", "ntasks", "ntasks-per-node", "nodes", "output", "het-group",
	"partition", "power", "priority", "prolog", "profile", "qos", "relative", "core-spec", "signal",
	"slurmd-debug", "switches", "task-epilog", "task-prolog", "thread-spec", "threads", "time",
	"time-min", "wait", "wckey", "cluster-constraint", "constraint", "mem", "mincpus", "reservation",
	"tmp", "nodelist", "exclude", "mem-per-cpu", "sockets-per-node", "cores-per-socket",
	"threads-per-core", "ntasks-per-core", "ntasks-per-socket", "cpu-bind", "hint", "mem-bind",
	"cpus-per-gpu", "gpus", "gpu-bind", "gpu-freq", "gpus-per-node", "gpus-per-socket", "gpus-per-task",
	"mem-per-gpu", "network", "ctrl-comm-ifhn", "mpi-combine", "container", "uid", "gid",
	"pmp-workers", "pmp-cores-per-worker", "pmp-threads-per-core", "pmp-gpus-per-worker",
	"pmp-endpoint", "pmp-worker-id", NULL,
};

static bool takes_arg(const char *name, size_t len)
{
	for (int i = 0; long_with_arg[i]; i++)
		if (strlen(long_with_arg[i]) == len && !strncmp(long_with_arg[i], name, len))
			return true;
	return false;
}

static bool is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && !strncmp(name, want, len);
}

static void note_long(const char *name, size_t len, struct pmp_srun_args *out)
{
	if (!strncmp(name, "pmp-", 4))
		out->pmp_any = true;
	out->pmp_workers |= is(name, len, "pmp-workers");
	out->pmp_static |= is(name, len, "pmp-static");
	out->pmp_endpoint |= is(name, len, "pmp-endpoint");
	out->ntasks |= is(name, len, "ntasks");
	out->nodes |= is(name, len, "nodes");
	out->overlap |= is(name, len, "overlap");
	out->kill_on_bad_exit |= is(name, len, "kill-on-bad-exit");
}

void pmp_srun_scan(int argc, char *const argv[], struct pmp_srun_args *out)
{
	memset(out, 0, sizeof(*out));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-' || !a[1] || !strcmp(a, "--"))
			return; /* the command */
		if (a[1] == '-') {
			const char *name = a + 2, *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			note_long(name, len, out);
			if (!eq && takes_arg(name, len))
				i++; /* its value is the next word */
			continue;
		}
		/* A cluster of short options, e.g. -lN2 or -n 4. */
		for (const char *p = a + 1; *p; p++) {
			out->ntasks |= *p == 'n';
			out->nodes |= *p == 'N';
			if (*p == 'K') { /* -K[0|1]: its optional value is attached */
				out->kill_on_bad_exit = true;
				break;
			}
			if (strchr(short_with_arg, *p)) {
				if (!p[1])
					i++; /* value in the next word */
				break;
			}
		}
	}
}
