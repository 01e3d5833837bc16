/* libFuzzer target: what the SPANK plugin parses from users and sites: every --pmp-*
 * option's value, plugstack.conf arguments, srun's command line, CPU lists, and
 * SLURM_JOB_CPUS_PER_NODE. The first byte picks the parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "binding.h"
#include "config.h"
#include "options.h"
#include "srun_args.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Splits text at NUL-free separators ('\n') into at most 16 words, in place. */
static int split(char *text, char **words)
{
	int n = 0;
	for (char *p = text; *p && n < 16;) {
		words[n++] = p;
		char *nl = strchr(p, '\n');
		if (!nl)
			break;
		*nl = '\0';
		p = nl + 1;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char *text = malloc(size);
	if (!text)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';
	char err[PMP_MSG_MAX];
	struct pmp_config cfg;
	struct pmp_opts o;
	pmp_config_init(&cfg);
	pmp_opts_init(&o);

	switch (data[0] % 5) {
	case 0: /* an option's value */
		if (pmp_opts_set(&o, &cfg, (enum pmp_opt)(data[0] / 5 % PMP_OPT_COUNT), text, err, sizeof(err)) == 0)
			pmp_opts_check(&o, err, sizeof(err));
		else if (strncmp(err, "--pmp-", 6) != 0)
			abort(); /* every refusal names the option */
		break;
	case 1: { /* plugstack.conf arguments */
		char *words[16];
		int n = split(text, words);
		if (pmp_config_parse(&cfg, n, words, err, sizeof(err)) == 0)
			for (int i = 0; i < PMP_OPT_COUNT; i++)
				if (cfg.deflt[i] > cfg.max[i])
					abort();
		break;
	}
	case 2: { /* srun's command line */
		char *words[17];
		words[0] = "srun";
		int n = split(text, words + 1);
		struct pmp_srun_args a;
		pmp_srun_scan(n + 1, words, &a);
		break;
	}
	case 3: { /* a CPU list, formatted back */
		cpu_set_t set, again;
		char buf[8192];
		if (pmp_cpulist_parse(text, &set) == 0 && pmp_cpulist_format(&set, buf, sizeof(buf)) == 0 &&
		    (pmp_cpulist_parse(buf, &again) != 0 || !CPU_EQUAL(&set, &again)))
			abort();
		break;
	}
	default:
		if (pmp_job_cpus(text) < -1)
			abort();
	}
	free(text);
	return 0;
}
