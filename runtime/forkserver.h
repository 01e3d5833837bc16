/* Fork servers: a controller's end. One process of a forked spec's command (pmp.worker)
 * per controller and spec, started once, forks each worker of that spec on request, so
 * that a worker skips Python's start and the worker's imports: a per-task worker took
 * 6.3 ms a task forked, where a process that only imports pmp.worker takes 25.8 ms
 * (benchmarks/perf/pertask_floor.py 20 4). The server's end is pmp_serve_forks (pmp.h). */
#ifndef PMP_FORKSERVER_H
#define PMP_FORKSERVER_H

#include <stdint.h>
#include <sys/types.h>

#include "pmp.h"

struct pmp_forkserver {
	pmp_spec *spec; /* a reference */
	pid_t pid;      /* 0: it failed; spec's workers are started as usual */
	int pidfd, sock;
	struct pmp_forkserver *next;
};

/* A fork server of spec, started; on failure (ENOMEM aside) one that has failed, which
 * pmp_forkserver_fork refuses at once. NULL on ENOMEM. */
struct pmp_forkserver *pmp_forkserver_start(pmp_spec *spec, const char *endpoint, const char *secret);

/* Forks worker id: 0 with its pid and a pidfd; -1 when fs has failed (or fails now: it is
 * then stopped), and the worker is to be started as usual. Waits for the server's
 * answer, the first time for its start, at most PMP_FORK_REPLY_MS. */
int pmp_forkserver_fork(struct pmp_forkserver *fs, int32_t id, pid_t *pid, int *pidfd);

/* Ends fs (it exits when its socket closes; killed if it has not within PMP_FORK_STOP_MS),
 * reaps it, and frees it with its spec reference. */
void pmp_forkserver_free(struct pmp_forkserver *fs);

#define PMP_FORK_REPLY_MS 30000
#define PMP_FORK_STOP_MS 5000

#endif
