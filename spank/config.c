/* Site settings: the plugin's arguments in plugstack.conf, e.g.
 *   required /usr/lib/x86_64-linux-gnu/slurm-wlm/spank_pmp.so max_workers=512 bind_gpus=no
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#define DEFAULT_THREAD_VARS \
	"OMP_NUM_THREADS,OPENBLAS_NUM_THREADS,MKL_NUM_THREADS,VECLIB_MAXIMUM_THREADS,NUMEXPR_NUM_THREADS"
#define DEFAULT_GPU_VARS "CUDA_VISIBLE_DEVICES,ROCR_VISIBLE_DEVICES"

void pmp_config_init(struct pmp_config *c)
{
	memset(c, 0, sizeof(*c));
	for (int i = 0; i < PMP_OPT_COUNT; i++) {
		c->deflt[i] = -1;
		c->max[i] = pmp_opt_table[i].max;
	}
	c->bind_cpus = true;
	c->bind_gpus = true;
	snprintf(c->thread_vars, sizeof(c->thread_vars), "%s", DEFAULT_THREAD_VARS);
	snprintf(c->gpu_vars, sizeof(c->gpu_vars), "%s", DEFAULT_GPU_VARS);
	c->static_port_lo = 30000;
	c->static_port_hi = 32767;
}

/* PMP_OPT_THREADS_PER_CORE -> "threads_per_core", as plugstack.conf spells it. */
static void key_of_option(int id, char *key, size_t len)
{
	snprintf(key, len, "%s", pmp_opt_table[id].name + strlen("pmp-"));
	for (char *p = key; *p; p++)
		if (*p == '-')
			*p = '_';
}

/* "threads_per_core" -> PMP_OPT_THREADS_PER_CORE, for site-configurable options. */
static int option_of_key(const char *key)
{
	for (int i = 0; i < PMP_OPT_COUNT; i++) {
		char name[64];
		key_of_option(i, name, sizeof(name));
		if (pmp_opt_table[i].site_config && !strcmp(key, name))
			return i;
	}
	return -1;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1")) {
		*out = true;
		return 0;
	}
	if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0")) {
		*out = false;
		return 0;
	}
	return -1;
}

static int valid_var_name(const char *name, void *unused)
{
	(void)unused;
	if (!*name || (*name >= '0' && *name <= '9'))
		return -1;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return -1;
	return 0;
}

static int parse_varlist(const char *v, char *dst, size_t len)
{
	if (strlen(v) >= len)
		return -1;
	if (*v && pmp_varlist_each(v, valid_var_name, NULL) < 0)
		return -1;
	snprintf(dst, len, "%s", v);
	return 0;
}

static int parse_limit(struct pmp_config *c, const char *key, const char *v)
{
	bool is_max = !strncmp(key, "max_", 4);
	const char *rest = key + (is_max ? 4 : strlen("default_"));
	int id = option_of_key(rest);
	if (id < 0)
		return -1;
	const struct pmp_opt_info *info = &pmp_opt_table[id];
	long n;
	if (pmp_parse_long(v, info->min, info->max, &n) < 0)
		return -1;
	if (is_max)
		c->max[id] = n;
	else
		c->deflt[id] = n;
	return 0;
}

/* "LO-HI", unprivileged ports, LO <= HI. */
static int parse_port_range(const char *v, int *lo, int *hi)
{
	char first[16];
	const char *dash = strchr(v, '-');
	long a, b;
	if (!dash || (size_t)(dash - v) >= sizeof(first))
		return -1;
	memcpy(first, v, (size_t)(dash - v));
	first[dash - v] = '\0';
	if (pmp_parse_long(first, 1024, 65535, &a) < 0 || pmp_parse_long(dash + 1, a, 65535, &b) < 0)
		return -1;
	*lo = (int)a;
	*hi = (int)b;
	return 0;
}

static int parse_one(struct pmp_config *c, const char *key, const char *v)
{
	if (!strncmp(key, "max_", 4) || !strncmp(key, "default_", 8))
		return parse_limit(c, key, v);
	if (!strcmp(key, "bind_cpus"))
		return parse_bool(v, &c->bind_cpus);
	if (!strcmp(key, "bind_gpus"))
		return parse_bool(v, &c->bind_gpus);
	if (!strcmp(key, "thread_vars"))
		return parse_varlist(v, c->thread_vars, sizeof(c->thread_vars));
	if (!strcmp(key, "gpu_vars"))
		return parse_varlist(v, c->gpu_vars, sizeof(c->gpu_vars));
	if (!strcmp(key, "static_ports"))
		return parse_port_range(v, &c->static_port_lo, &c->static_port_hi);
	return -1;
}

int pmp_config_parse(struct pmp_config *c, int ac, char **av, char *err, size_t errlen)
{
	for (int i = 0; i < ac; i++) {
		char key[64];
		const char *eq = strchr(av[i], '=');
		size_t klen = eq ? (size_t)(eq - av[i]) : 0;
		if (!eq || klen == 0 || klen >= sizeof(key) ||
		    (memcpy(key, av[i], klen), key[klen] = '\0', parse_one(c, key, eq + 1) < 0)) {
			snprintf(err, errlen, "plugstack.conf argument '%s' is not valid: use key=value with "
				 "default_<option>=N, max_<option>=N (option: workers, cores_per_worker, "
				 "threads_per_core, gpus_per_worker), bind_cpus=yes|no, bind_gpus=yes|no, "
				 "thread_vars=VAR,..., gpu_vars=VAR,..., static_ports=LO-HI (1024-65535)", av[i]);
			return -1;
		}
	}
	for (int i = 0; i < PMP_OPT_COUNT; i++) {
		if (c->deflt[i] > c->max[i]) {
			char key[64];
			key_of_option(i, key, sizeof(key));
			snprintf(err, errlen, "plugstack.conf sets default_%s=%ld above max_%s=%ld: lower the default",
				 key, c->deflt[i], key, c->max[i]);
			return -1;
		}
	}
	return 0;
}

int pmp_varlist_each(const char *list, int (*fn)(const char *name, void *arg), void *arg)
{
	char name[PMP_VARLIST_MAX];
	const char *p = list;

	while (*p) {
		size_t n = strcspn(p, ",");
		if (n >= sizeof(name))
			return -1;
		memcpy(name, p, n);
		name[n] = '\0';
		if (fn(name, arg) < 0)
			return -1;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}
