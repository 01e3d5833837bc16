/* Fork servers: a controller's end. One process of a forked spec's command (pmp.worker)
 * per controller and spec forks each worker of that spec on request, so that a worker
 * skips Python's start and the worker's imports: a per-task worker took 10.8 ms a task
 * (its executor's first two included: started, and waiting for the server's start),
 * where a process that only imports pmp.worker takes 23.0 ms and a started worker 28.5
 * (benchmarks/perf/pertask_floor.py 20 4, at 9d0dc2a). The server's end is pmp_serve_forks (pmp.h).
 *
 * Nothing here blocks the controller: a request is sent, and its answer is read when the
 * server's socket is readable (the controller polls it while answers are owed). */
#ifndef PMP_FORKSERVER_H
#define PMP_FORKSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "pmp.h"

struct pmp_forkserver {
	pmp_spec *spec;   /* a reference */
	bool failed;      /* its spec's workers are started as usual from now on */
	pid_t pid;        /* 0 before its start */
	int pidfd, sock;
	size_t owed;      /* requests not yet answered */
	double timeout;   /* seconds an answer may take */
	struct timespec deadline; /* for the next answer, while some are owed */
	size_t uses;      /* workers of spec asked for, forked or not (see the controller) */
	struct pmp_forkserver *next;
};

/* The fork server of spec, not yet started (pmp_forkserver_ask starts it), whose answers
 * may take timeout seconds each; NULL on ENOMEM. */
struct pmp_forkserver *pmp_forkserver_new(pmp_spec *spec, double timeout);

/* Asks fs for worker id, starting fs first if it has not been: 0, or -1 when fs has failed
 * (or fails now: it is then stopped), and the worker is to be started as usual. */
int pmp_forkserver_ask(struct pmp_forkserver *fs, const char *endpoint, const char *secret, int32_t id);

/* Reads one answer, without waiting: 1 with the worker's id and pid (our child:
 * CLONE_PARENT) or -errno when the server could not fork; 0 when none is waiting; -1 when
 * the server is gone (it is then stopped, failed). */
int pmp_forkserver_answer(struct pmp_forkserver *fs, int32_t *id, pid_t *pid);

/* Marks fs failed and stops it: killed at once when kill_now (it misbehaved), else it
 * exits when its socket closes (killed if it has not within PMP_FORK_STOP_MS). Reaped. */
void pmp_forkserver_stop(struct pmp_forkserver *fs, bool kill_now);

/* Stops fs (as pmp_forkserver_stop, killed at once when answers are owed: a worker forked
 * now would be no one's) and frees it with its spec reference. */
void pmp_forkserver_free(struct pmp_forkserver *fs);

#define PMP_FORK_STOP_MS 5000

#endif
