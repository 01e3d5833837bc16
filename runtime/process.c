/* Worker processes: see spawn.h. */
#include "process.h"

#include "errors.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void free_strv(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static char **copy_strv(const char *const *v, size_t extra)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	char **out = calloc(n + extra + 1, sizeof(*out));
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (!(out[i] = strdup(v[i]))) {
			free_strv(out);
			return NULL;
		}
	}
	return out;
}

pmp_spec *pmp_spec_new(const char *const *argv, const char *const *envp, const char *cwd,
		       int cores, char *err, size_t errlen)
{
	if (!argv || !argv[0] || !argv[0][0] || cores < 0) {
		pmp_err(err, errlen, "pmp: a worker needs a program to run and a core count >= 0");
		return NULL;
	}
	pmp_spec *s = calloc(1, sizeof(*s));
	if (!s)
		goto nomem;
	s->refs = 1;
	s->cores = cores;
	if (!(s->argv = copy_strv(argv, 0)) || !(s->envp = copy_strv(envp, 0)) ||
	    (cwd && !(s->cwd = strdup(cwd))))
		goto nomem;
	return s;
nomem:
	pmp_spec_unref(s);
	pmp_err(err, errlen, "pmp: out of memory describing a worker");
	return NULL;
}

pmp_spec *pmp_spec_ref(pmp_spec *s)
{
	if (s)
		__atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
	return s;
}

void pmp_spec_unref(pmp_spec *s)
{
	if (!s || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	free_strv(s->argv);
	free_strv(s->envp);
	free(s->cwd);
	free(s);
}

char *pmp_substitute(const char *tmpl, const char *endpoint, int32_t id)
{
	static const char ep_key[] = "{endpoint}", id_key[] = "{worker_id}";
	char idbuf[16];
	size_t cap = strlen(tmpl) + 1, used = 0;

	snprintf(idbuf, sizeof(idbuf), "%d", id);
	for (const char *p = strstr(tmpl, "{"); p; p = strstr(p + 1, "{"))
		cap += strlen(endpoint) + sizeof(idbuf);
	char *out = malloc(cap);
	if (!out)
		return NULL;
	for (const char *p = tmpl; *p;) {
		const char *value = NULL;
		size_t skip = 0;
		if (!strncmp(p, ep_key, sizeof(ep_key) - 1))
			value = endpoint, skip = sizeof(ep_key) - 1;
		else if (!strncmp(p, id_key, sizeof(id_key) - 1))
			value = idbuf, skip = sizeof(id_key) - 1;
		if (value) {
			size_t n = strlen(value);
			memcpy(out + used, value, n);
			used += n;
			p += skip;
		} else {
			out[used++] = *p++;
		}
	}
	out[used] = '\0';
	return out;
}

static bool is_var(const char *entry, const char *name)
{
	size_t n = strlen(name);
	return !strncmp(entry, name, n) && entry[n] == '=';
}

/* A worker's environment: spec's without any PMP_ENDPOINT, PMP_WORKER_ID, PMP_SECRET or
 * PMP_FORK_FD (borrowed strings), plus this worker's own (owned): PMP_WORKER_ID, or for a
 * fork server (id < 0) PMP_FORK_FD instead. */
struct worker_env {
	char **env;
	char *owned[3];
};

static void free_worker_env(struct worker_env *e)
{
	for (size_t i = 0; i < sizeof(e->owned) / sizeof(*e->owned); i++)
		free(e->owned[i]);
	free(e->env);
}

static int worker_env(const pmp_spec *s, const char *endpoint, const char *secret, int32_t id,
		      struct worker_env *e)
{
	size_t n = 0, k = 0;
	memset(e, 0, sizeof(*e));
	while (s->envp[n])
		n++;
	if (!(e->env = calloc(n + 4, sizeof(*e->env))))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!is_var(s->envp[i], "PMP_ENDPOINT") && !is_var(s->envp[i], "PMP_WORKER_ID") &&
		    !is_var(s->envp[i], "PMP_SECRET") && !is_var(s->envp[i], "PMP_FORK_FD"))
			e->env[k++] = s->envp[i];
	if (asprintf(&e->owned[0], "PMP_ENDPOINT=%s", endpoint) < 0)
		e->owned[0] = NULL;
	if ((id >= 0 ? asprintf(&e->owned[1], "PMP_WORKER_ID=%d", id)
		     : asprintf(&e->owned[1], "PMP_FORK_FD=%d", PMP_FORK_FD)) < 0)
		e->owned[1] = NULL;
	if (secret && asprintf(&e->owned[2], "PMP_SECRET=%s", secret) < 0)
		e->owned[2] = NULL;
	if (!e->owned[0] || !e->owned[1] || (secret && !e->owned[2])) {
		free_worker_env(e);
		return -1;
	}
	for (size_t i = 0; i < 3; i++)
		if (e->owned[i])
			e->env[k++] = e->owned[i];
	return 0;
}

/* Ends child pid (ours and unreaped: the pid is still its) and reaps it. */
static void kill_and_reap(pid_t pid)
{
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

int pmp_watch_child(pid_t pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0) {
		int e = errno;
		kill_and_reap(pid);
		errno = e;
	}
	return fd;
}

void pmp_reap_within(pid_t pid, int pidfd, int ms)
{
	struct pollfd p = {pidfd, POLLIN, 0};
	while (ms > 0 && poll(&p, 1, ms) < 0 && errno == EINTR)
		;
	if (p.revents & POLLIN) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	} else {
		kill_and_reap(pid);
	}
	close(pidfd);
}

/* pmp_spawn, or with fork_fd >= 0 a fork server (id -1) with fork_fd as PMP_FORK_FD. */
static int spawn(const pmp_spec *s, const char *endpoint, const char *secret, int32_t id, int fork_fd,
		 pid_t *pid, int *pidfd, char *err, size_t errlen)
{
	char **argv = NULL;
	struct worker_env env = {0};
	bool have_env = false;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dflt;
	int rc = -1, e;
	size_t n = 0;

	while (s->argv[n])
		n++;
	argv = calloc(n + 1, sizeof(*argv));
	have_env = worker_env(s, endpoint, secret, id, &env) == 0;
	for (size_t i = 0; argv && i < n; i++)
		if (!(argv[i] = pmp_substitute(s->argv[i], endpoint, id)))
			goto nomem;
	if (!argv || !have_env)
		goto nomem;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
	if (fork_fd >= 0) /* fork_fd is not PMP_FORK_FD (see start() in forkserver.c): dup2 clears CLOEXEC */
		posix_spawn_file_actions_adddup2(&fa, fork_fd, PMP_FORK_FD);
	if (s->cwd)
		posix_spawn_file_actions_addchdir_np(&fa, s->cwd);
	/* Its own process group: a Ctrl-C meant for the controller must not kill workers
	 * behind its back; the controller stops them. Signals reset to their defaults. */
	sigemptyset(&none);
	sigfillset(&dflt);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dflt);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	e = posix_spawnp(pid, argv[0], &fa, &attr, argv, env.env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (e != 0) {
		pmp_err(err, errlen, "pmp: cannot start worker %d: %s: %s%s", id, argv[0], strerror(e),
			 s->cwd && e == ENOENT ? " (or its working directory does not exist)" : "");
		goto out;
	}
	if ((*pidfd = pmp_watch_child(*pid)) < 0) {
		e = errno;
		pmp_err(err, errlen, "pmp: cannot watch worker %d (pidfd_open: %s): pmp needs Linux 5.3 or later",
			 id, strerror(e));
		goto out;
	}
	rc = 0;
	goto out;
nomem:
	pmp_err(err, errlen, "pmp: out of memory starting worker %d", id);
out:
	free_strv(argv);
	if (have_env)
		free_worker_env(&env);
	return rc;
}

int pmp_spawn(const pmp_spec *s, const char *endpoint, const char *secret, int32_t id, pid_t *pid,
	      int *pidfd, char *err, size_t errlen)
{
	return spawn(s, endpoint, secret, id, -1, pid, pidfd, err, errlen);
}

int pmp_spawn_forkserver(const pmp_spec *s, const char *endpoint, const char *secret, int fd, pid_t *pid,
			 int *pidfd, char *err, size_t errlen)
{
	return spawn(s, endpoint, secret, -1, fd, pid, pidfd, err, errlen);
}

void pmp_describe_exit(int wstatus, char *buf, size_t len)
{
	if (WIFSIGNALED(wstatus)) {
		const char *abbrev = sigabbrev_np(WTERMSIG(wstatus));
		snprintf(buf, len, "was killed by signal %d (SIG%s)", WTERMSIG(wstatus), abbrev ? abbrev : "?");
	} else if (WIFEXITED(wstatus) && WEXITSTATUS(wstatus) > 128 && sigabbrev_np(WEXITSTATUS(wstatus) - 128)) {
		/* a launcher (srun, mpiexec) reports its task's signal as 128 + signal */
		int sig = WEXITSTATUS(wstatus) - 128;
		snprintf(buf, len, "exited with status %d (its task was killed by signal %d, SIG%s)",
			 WEXITSTATUS(wstatus), sig, sigabbrev_np(sig));
	} else if (WIFEXITED(wstatus)) {
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(wstatus));
	} else {
		snprintf(buf, len, "ended (wait status %#x)", wstatus);
	}
}

void pmp_spec_set_forked(pmp_spec *s, bool forked)
{
	if (s)
		s->forked = forked;
}
