/* Worker processes: specs, and starting one with a pidfd to learn of its exit. */
#ifndef PMP_PROCESS_H
#define PMP_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pmp.h"

struct pmp_spec {
	int refs;     /* atomic: specs are shared by the API threads and the I/O thread */
	char **argv;  /* NULL-terminated */
	char **envp;  /* NULL-terminated */
	char *cwd;    /* NULL: inherit */
	int cores;
	bool forked;  /* workers forked by a fork server (see forkserver.h) */
};

/* The descriptor a fork server reads its requests on (its PMP_FORK_FD). */
#define PMP_FORK_FD 3

pmp_spec *pmp_spec_ref(pmp_spec *s);

/* A copy of tmpl with "{endpoint}" and "{worker_id}" replaced; NULL on ENOMEM. */
char *pmp_substitute(const char *tmpl, const char *endpoint, int32_t id);

/* Starts a worker of spec: stdin from /dev/null, its own process group, PMP_ENDPOINT,
 * PMP_WORKER_ID and (unless NULL) PMP_SECRET in its environment, never on its command
 * line. Fills pid and a pidfd that becomes readable when it exits. 0, or -1 with err. */
int pmp_spawn(const pmp_spec *s, const char *endpoint, const char *secret, int32_t id, pid_t *pid,
	      int *pidfd, char *err, size_t errlen);

/* A pidfd of pid, a child of this process not yet reaped; -1 with errno when there can be
 * none, once pid is killed and reaped (a worker that cannot be watched must not run). */
int pmp_watch_child(pid_t pid);

/* Waits at most ms for child pid (pidfd its pidfd) to end, kills it if it has not, reaps
 * it and closes pidfd. */
void pmp_reap_within(pid_t pid, int pidfd, int ms);

/* Starts a fork server of spec: as pmp_spawn, with PMP_FORK_FD (fd, moved to descriptor
 * PMP_FORK_FD) instead of PMP_WORKER_ID. */
int pmp_spawn_forkserver(const pmp_spec *s, const char *endpoint, const char *secret, int fd, pid_t *pid,
			 int *pidfd, char *err, size_t errlen);

/* "exited with status 1", "was killed by signal 9 (SIGKILL)". */
void pmp_describe_exit(int wstatus, char *buf, size_t len);

#endif
