/* pidfd_open for the runtime tests under valgrind, which (3.19 at least) does not know
 * the syscall and fails it with ENOSYS: libpmp could start no worker there.
 *
 * The tests that start processes link with -Wl,--wrap=syscall, so the runtime's
 * syscall(SYS_pidfd_open, pid, 0) comes here. When the real syscall works it is used as
 * is; only on ENOSYS is it emulated, as far as libpmp relies on it: an fd (close-on-exec)
 * that polls readable once the process has ended, and that the caller closes. A thread
 * waits for the exit without reaping the process (WNOWAIT), so the caller's waitpid still
 * gets its status, then writes a byte into a pipe whose read end is the "pidfd". */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

long __real_syscall(long number, ...);
long __wrap_syscall(long number, ...);

struct watch {
	pid_t pid;
	int fd; /* the pipe's write end */
};

static void *watch_main(void *arg)
{
	struct watch *w = arg;
	siginfo_t info;
	char byte = 'x';

	while (waitid(P_PID, (id_t)w->pid, &info, WEXITED | WNOWAIT) < 0 && errno == EINTR)
		;
	/* Ended, or no longer a child to wait for: readable either way, like a pidfd. */
	while (write(w->fd, &byte, 1) < 0 && errno == EINTR)
		;
	close(w->fd);
	free(w);
	return NULL;
}

static long emulated_pidfd_open(pid_t pid)
{
	int fds[2];
	pthread_t t;
	pthread_attr_t attr;

	if (pid <= 0 || kill(pid, 0) < 0) {
		errno = pid <= 0 ? EINVAL : ESRCH;
		return -1;
	}
	struct watch *w = malloc(sizeof(*w));
	if (!w || pipe2(fds, O_CLOEXEC) < 0) {
		free(w);
		errno = ENOMEM;
		return -1;
	}
	w->pid = pid;
	w->fd = fds[1];
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int e = pthread_create(&t, &attr, watch_main, w);
	pthread_attr_destroy(&attr);
	if (e != 0) {
		close(fds[0]);
		close(fds[1]);
		free(w);
		errno = e;
		return -1;
	}
	return fds[0];
}

long __wrap_syscall(long number, ...)
{
	static int have_pidfd_open = -1; /* unknown until the first call */
	va_list ap;

	va_start(ap, number);
	if (number != SYS_pidfd_open) {
		/* Anything else goes through with six arguments, as syscall(2) reads them. */
		long a[6];
		for (int i = 0; i < 6; i++)
			a[i] = va_arg(ap, long);
		va_end(ap);
		return __real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
	}
	pid_t pid = va_arg(ap, pid_t);
	unsigned int flags = va_arg(ap, unsigned int);
	va_end(ap);
	if (__atomic_load_n(&have_pidfd_open, __ATOMIC_RELAXED) != 0) {
		long fd = __real_syscall(number, pid, flags);
		if (fd >= 0 || errno != ENOSYS) {
			__atomic_store_n(&have_pidfd_open, 1, __ATOMIC_RELAXED);
			return fd;
		}
		__atomic_store_n(&have_pidfd_open, 0, __ATOMIC_RELAXED);
	}
	return emulated_pidfd_open(pid);
}
