/* Fork servers: the controller's end (forkserver.h) and the server's (pmp_serve_forks).
 *
 * The protocol, on a SOCK_SEQPACKET socket pair: the controller sends a worker id (an
 * int32_t); the server forks and answers the id and the worker's pid (two int32_t), or the
 * id and -errno when it could not fork. The server ends when the controller's end closes. */
#include "forkserver.h"

#include "deadline.h"
#include "errors.h"
#include "process.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---------- the controller's end ---------- */

void pmp_forkserver_stop(struct pmp_forkserver *fs, bool kill_now)
{
	fs->failed = true;
	fs->owed = 0;
	if (fs->sock >= 0)
		close(fs->sock);
	fs->sock = -1;
	if (fs->pid > 0)
		pmp_reap_within(fs->pid, fs->pidfd, kill_now ? 0 : PMP_FORK_STOP_MS);
	fs->pid = 0;
	fs->pidfd = -1;
}

struct pmp_forkserver *pmp_forkserver_new(pmp_spec *spec, double timeout)
{
	struct pmp_forkserver *fs = calloc(1, sizeof(*fs));
	if (!fs)
		return NULL;
	fs->spec = pmp_spec_ref(spec);
	fs->timeout = timeout;
	fs->pidfd = fs->sock = -1;
	return fs;
}

/* Starts fs's process; false (fs failed) when it could not. */
static bool start(struct pmp_forkserver *fs, const char *endpoint, const char *secret)
{
	char err[256];
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return false;
	if (sv[1] == PMP_FORK_FD) { /* posix_spawn's dup2 onto itself would leave CLOEXEC set */
		int moved = fcntl(sv[1], F_DUPFD_CLOEXEC, PMP_FORK_FD + 1);
		close(sv[1]);
		sv[1] = moved;
	}
	bool ok = sv[1] >= 0 && pmp_spawn_forkserver(fs->spec, endpoint, secret, sv[1], &fs->pid, &fs->pidfd,
						     err, sizeof(err)) == 0;
	if (ok)
		fs->sock = sv[0];
	else
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	return ok;
}

int pmp_forkserver_ask(struct pmp_forkserver *fs, const char *endpoint, const char *secret, int32_t id)
{
	if (fs->failed)
		return -1;
	if (fs->pid <= 0 && !start(fs, endpoint, secret)) {
		fs->pid = 0; /* pmp_spawn may have set it, for a process it has reaped since */
		pmp_forkserver_stop(fs, true);
		return -1;
	}
	if (send(fs->sock, &id, sizeof(id), MSG_NOSIGNAL) != (ssize_t)sizeof(id)) {
		pmp_forkserver_stop(fs, true);
		return -1;
	}
	if (fs->owed++ == 0)
		pmp_deadline_in(&fs->deadline, fs->timeout);
	return 0;
}

int pmp_forkserver_answer(struct pmp_forkserver *fs, int32_t *id, pid_t *pid)
{
	int32_t a[2]; /* the worker's id, its pid or -errno */
	ssize_t got;
	if (fs->failed)
		return -1;
	while ((got = recv(fs->sock, a, sizeof(a), MSG_DONTWAIT)) < 0 && errno == EINTR)
		;
	if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (got != (ssize_t)sizeof(a) || fs->owed == 0) {
		pmp_forkserver_stop(fs, true); /* gone (0: the end of its socket), or garbled */
		return -1;
	}
	if (--fs->owed > 0)
		pmp_deadline_in(&fs->deadline, fs->timeout);
	*id = a[0];
	*pid = a[1];
	return 1;
}

void pmp_forkserver_free(struct pmp_forkserver *fs)
{
	if (!fs)
		return;
	pmp_forkserver_stop(fs, fs->owed > 0);
	pmp_spec_unref(fs->spec);
	free(fs);
}

/* ---------- the server's end ---------- */

static int threads_of_this_process(void)
{
	DIR *d = opendir("/proc/self/task");
	int n = 0;
	if (!d)
		return -1;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* fork(), but the child is a child of this process's parent, as if the controller had
 * started it: it waits for it and sees its exit status as any worker's. Like glibc's
 * fork, the child's thread id is written to (and cleared at its exit from) the address
 * glibc keeps it at, and its robust mutex list is registered again; the pthread_atfork
 * handlers are not run (the server has one thread and holds no lock). */
static pid_t fork_sibling(void)
{
	pid_t *tid = NULL;
	void *robust = NULL;
	size_t robust_len = 0;
	if (prctl(PR_GET_TID_ADDRESS, &tid) < 0 || !tid ||
	    syscall(SYS_get_robust_list, 0, &robust, &robust_len) < 0)
		return -1;
	struct clone_args args = {
		.flags = CLONE_PARENT | CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID,
		.child_tid = (uint64_t)(uintptr_t)tid,
		/* exit_signal 0: with CLONE_PARENT the child takes the server's, SIGCHLD */
	};
	fflush(NULL);
	long pid = syscall(SYS_clone3, &args, sizeof(args));
#if defined(__x86_64__)
	/* clone3 refused (before Linux 5.3, or by a container's seccomp profile, which
	 * answers ENOSYS as glibc expects): clone, whose arguments on x86-64 are flags,
	 * stack (none: the child runs on a copy of this one, as fork's), parent_tid,
	 * child_tid and tls. Other architectures order them differently. */
	if (pid < 0 && errno == ENOSYS)
		pid = syscall(SYS_clone, (unsigned long)args.flags, NULL, NULL, tid, 0UL);
#endif
	if (pid == 0) {
		syscall(SYS_set_robust_list, robust, robust_len);
		/* a process group of its own, as a started worker has (see pmp_spawn) */
		setpgid(0, 0);
	}
	return (pid_t)pid;
}

int pmp_serve_forks(int fd, const struct pmp_fork_hooks *hooks, int32_t *worker_id, char *err, size_t errlen)
{
	char name[16] = "";
	if (threads_of_this_process() != 1)
		return pmp_err(err, errlen, "pmp: a fork server must have one thread: fork workers before starting any");
	/* ps, top and the tests tell it from its workers by this name; they get theirs back */
	prctl(PR_GET_NAME, name);
	prctl(PR_SET_NAME, PMP_FORK_SERVER_NAME);
	for (;;) {
		int32_t id;
		ssize_t got = recv(fd, &id, sizeof(id), 0);
		if (got == 0)
			return 0; /* the controller is gone */
		if (got < 0 && errno == EINTR)
			continue;
		if (got != (ssize_t)sizeof(id))
			return pmp_err(err, errlen, "pmp: the fork server's connection to its controller failed (%s)",
				       got < 0 ? strerror(errno) : "a short request");
		if (hooks && hooks->before)
			hooks->before(hooks->ctx);
		pid_t pid = fork_sibling();
		int e = errno;
		if (hooks && hooks->after)
			hooks->after(hooks->ctx, pid == 0);
		if (pid == 0) {
			prctl(PR_SET_NAME, name);
			close(fd);
			*worker_id = id;
			return 1;
		}
		int32_t reply[2] = {id, pid > 0 ? pid : -e};
		if (send(fd, reply, sizeof(reply), MSG_NOSIGNAL) < 0)
			return 0; /* the controller is gone: the worker finds out itself */
		/* idle() only while no request waits: it would keep a worker from its start */
		struct pollfd next = {fd, POLLIN, 0};
		if (hooks && hooks->idle && poll(&next, 1, 0) == 0)
			hooks->idle(hooks->ctx);
	}
}
