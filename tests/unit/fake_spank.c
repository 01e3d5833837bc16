/* Fake SPANK API and machine: see fake_spank.h. */
#include "fake_spank.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sysdeps.h"

struct fake_spank fake;

static int fake_get_affinity(cpu_set_t *set)
{
	if (fake.fail_get_affinity) {
		errno = fake.fail_get_affinity;
		return -1;
	}
	*set = fake.allowed;
	return 0;
}

static int fake_set_affinity(const cpu_set_t *set)
{
	if (fake.fail_set_affinity) {
		errno = fake.fail_set_affinity;
		return -1;
	}
	fake.bound = *set;
	fake.bound_set = true;
	return 0;
}

static void fake_topology(struct pmp_topology *t)
{
	pmp_topology_identity(t, &fake.online);
}

static void fake_end_task(int status)
{
	fake.ended++;
	fake.end_status = status;
}

static int fake_srun_argv(char **buf, int *argc, char ***argv)
{
	if (!fake.srun_argv)
		return -1;
	int n = 0;
	while (fake.srun_argv[n])
		n++;
	*argv = calloc((size_t)n + 1, sizeof(**argv));
	*buf = malloc(1); /* the plugin frees both, as with /proc/self/cmdline */
	if (!*argv || !*buf)
		abort();
	for (int i = 0; i < n; i++)
		(*argv)[i] = fake.srun_argv[i];
	*argc = n;
	return 0;
}

static int fake_random(void *buf, size_t len)
{
	if (fake.fail_random) {
		errno = fake.fail_random;
		return -1;
	}
	memset(buf, 0x5a, len);
	return 0;
}

static int fake_step_first_node(uint32_t job, uint32_t step, char *node, size_t nlen, char *addr, size_t alen,
				char *err, size_t errlen)
{
	fake.lookup_job = job;
	fake.lookup_step = step;
	if (!fake.first_node) {
		snprintf(err, errlen, "cannot look up step %u.%u (fake): retry", job, step);
		return -1;
	}
	snprintf(node, nlen, "%s", fake.first_node);
	snprintf(addr, alen, "%s", fake.first_addr);
	return 0;
}

void fake_reset(spank_context_t ctx)
{
	fake_free();
	memset(&fake, 0, sizeof(fake));
	fake.ctx = ctx;
	fake.job_id = 42;
	fake.local_tasks = 1;
	for (int c = 0; c < 4; c++) {
		CPU_SET(c, &fake.online);
		CPU_SET(c, &fake.allowed);
	}
	pmp_sys.get_affinity = fake_get_affinity;
	pmp_sys.set_affinity = fake_set_affinity;
	pmp_sys.topology = fake_topology;
	pmp_sys.end_task = fake_end_task;
	pmp_sys.srun_argv = fake_srun_argv;
	pmp_sys.random = fake_random;
	pmp_sys.step_first_node = fake_step_first_node;
}

void fake_free(void)
{
	for (size_t i = 0; i < sizeof(fake.env) / sizeof(*fake.env); i++) {
		free(fake.env[i]);
		fake.env[i] = NULL;
	}
}

static char **env_slot(const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < sizeof(fake.env) / sizeof(*fake.env); i++)
		if (fake.env[i] && !strncmp(fake.env[i], name, n) && fake.env[i][n] == '=')
			return &fake.env[i];
	return NULL;
}

const char *fake_getenv(const char *name)
{
	char **slot = env_slot(name);
	return slot ? *slot + strlen(name) + 1 : NULL;
}

void fake_setenv(const char *name, const char *value)
{
	char **slot = env_slot(name);
	for (size_t i = 0; !slot && i < sizeof(fake.env) / sizeof(*fake.env); i++)
		if (!fake.env[i])
			slot = &fake.env[i];
	if (!slot)
		abort(); /* the tests never set this many */
	free(*slot);
	size_t len = strlen(name) + strlen(value) + 2;
	*slot = malloc(len);
	if (!*slot)
		abort();
	snprintf(*slot, len, "%s=%s", name, value);
}

struct spank_option *fake_option(const char *name)
{
	for (int i = 0; i < fake.noptions; i++)
		if (!strcmp(fake.options[i].name, name))
			return &fake.options[i];
	return NULL;
}

int fake_use_option(const char *name, const char *arg)
{
	struct spank_option *o = fake_option(name);
	if (!o)
		return -100;
	return o->cb(o->val, arg, fake.ctx == S_CTX_REMOTE);
}

/* --- the SPANK API --- */

spank_context_t spank_context(void)
{
	return fake.ctx;
}

int spank_remote(spank_t sp)
{
	(void)sp;
	return fake.ctx == S_CTX_REMOTE;
}

const char *spank_strerror(spank_err_t err)
{
	return err == ESPANK_SUCCESS ? "Success" : "fake spank error";
}

spank_err_t spank_option_register(spank_t sp, struct spank_option *opt)
{
	(void)sp;
	if (fake.fail_register)
		return fake.fail_register;
	if (fake.noptions == FAKE_MAX_OPTIONS)
		return ESPANK_ERROR;
	fake.options[fake.noptions++] = *opt;
	return ESPANK_SUCCESS;
}

spank_err_t spank_get_item(spank_t sp, spank_item_t item, ...)
{
	va_list ap;
	spank_err_t rc = ESPANK_SUCCESS;

	(void)sp;
	if (fake.fail_item && item == fake.fail_item_id)
		return fake.fail_item;
	va_start(ap, item);
	switch (item) {
	case S_JOB_ID:
		*va_arg(ap, uint32_t *) = fake.job_id;
		break;
	case S_JOB_STEPID:
		*va_arg(ap, uint32_t *) = fake.step_id;
		break;
	case S_JOB_LOCAL_TASK_COUNT:
		*va_arg(ap, uint32_t *) = fake.local_tasks;
		break;
	case S_TASK_ID:
		*va_arg(ap, int *) = fake.task_id;
		break;
	case S_TASK_GLOBAL_ID:
		*va_arg(ap, uint32_t *) = fake.global_id;
		break;
	case S_STEP_ALLOC_CORES:
		if (fake.alloc_cores)
			*va_arg(ap, char **) = (char *)fake.alloc_cores;
		else
			rc = ESPANK_NOT_AVAIL;
		break;
	default:
		rc = ESPANK_BAD_ARG;
	}
	va_end(ap);
	return rc;
}

spank_err_t spank_getenv(spank_t sp, const char *var, char *buf, int len)
{
	(void)sp;
	const char *v = fake_getenv(var);
	if (!v)
		return ESPANK_ENV_NOEXIST;
	if ((int)strlen(v) >= len)
		return ESPANK_NOSPACE;
	strcpy(buf, v);
	return ESPANK_SUCCESS;
}

spank_err_t spank_setenv(spank_t sp, const char *var, const char *val, int overwrite)
{
	(void)sp;
	if (fake.fail_setenv)
		return fake.fail_setenv;
	if (!overwrite && fake_getenv(var))
		return ESPANK_ENV_EXISTS;
	fake_setenv(var, val);
	return ESPANK_SUCCESS;
}

spank_err_t spank_unsetenv(spank_t sp, const char *var)
{
	(void)sp;
	char **slot = env_slot(var);
	if (slot) {
		free(*slot);
		*slot = NULL;
	}
	return ESPANK_SUCCESS;
}

void slurm_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(fake.last_error, sizeof(fake.last_error), fmt, ap);
	va_end(ap);
	fake.nerrors++;
}

void slurm_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(fake.last_info, sizeof(fake.last_info), fmt, ap);
	va_end(ap);
	fake.ninfos++;
}

/* --- stderr capture --- */

static int saved_fd = -1;
static FILE *capture_file;
static char captured[4096];

void capture_begin(void)
{
	fflush(stderr);
	capture_file = tmpfile();
	if (!capture_file)
		abort();
	saved_fd = dup(STDERR_FILENO);
	dup2(fileno(capture_file), STDERR_FILENO);
}

const char *capture_end(void)
{
	fflush(stderr);
	dup2(saved_fd, STDERR_FILENO);
	close(saved_fd);
	rewind(capture_file);
	size_t n = fread(captured, 1, sizeof(captured) - 1, capture_file);
	captured[n] = '\0';
	fclose(capture_file);
	return captured;
}
