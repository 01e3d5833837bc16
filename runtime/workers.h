/* The controller's worker table: each worker process, its state and the tasks it holds,
 * and the choice of the worker a task goes to. Pure bookkeeping: no sockets, no
 * processes; the I/O thread is its only user. */
#ifndef PMP_WORKERS_H
#define PMP_WORKERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "taskq.h"

enum pmp_worker_state {
	PMP_W_STARTING, /* process started, not yet connected */
	PMP_W_READY,    /* connected: takes tasks */
	PMP_W_STOPPING, /* told to exit (or being killed) */
};

struct pmp_wk {
	int32_t id;
	enum pmp_worker_state state;
	pid_t pid;
	int pidfd;
	int fd;                    /* its connection's socket, once connected; -1 before */
	pmp_spec *spec;            /* a reference */
	bool per_task;             /* started for one task, exits after it */
	bool init_sent;
	bool forking;              /* asked of a fork server, which has not answered: no pid yet */
	bool exit_seen;            /* its process ended while it held tasks: see lost_at */
	bool disconnected;         /* its connection dropped while it held tasks: see lost_at */
	bool watched;              /* its pidfd is in the controller's epoll set (else polled itself) */
	struct timespec lost_at;   /* then, when its unanswered tasks count as lost */
	struct pmp_taskq inflight; /* sent (or, per task, assigned) and not yet answered */
	size_t inflight_bytes;     /* of their payloads (pmp_wk_take, pmp_wk_drop) */
	size_t window;             /* tasks it may hold when the queue is deep (READY, long-lived) */
	bool full;                 /* its last task brought it to its window */
	char info[192];            /* "pid 123 on node1", once connected */
};

struct pmp_worker_table {
	struct pmp_wk **slots; /* indexed by id; ids are never reused */
	size_t cap;
	int32_t next_id;
	size_t live;
};

/* A new STARTING worker with the next id (spec is referenced), or NULL on ENOMEM. */
struct pmp_wk *pmp_workers_add(struct pmp_worker_table *t, pmp_spec *spec, bool per_task);
struct pmp_wk *pmp_workers_get(const struct pmp_worker_table *t, int64_t id);
/* Frees the worker (its in-flight queue must be empty) and drops its spec reference. */
void pmp_workers_remove(struct pmp_worker_table *t, int32_t id);
void pmp_workers_free(struct pmp_worker_table *t);

/* w's in-flight tasks, with their bytes: t joins at the end; t (which w holds) leaves;
 * the first leaves (NULL when w holds none). */
void pmp_wk_take(struct pmp_wk *w, struct pmp_task *t);
void pmp_wk_drop(struct pmp_wk *w, struct pmp_task *t);
struct pmp_task *pmp_wk_drop_first(struct pmp_wk *w);

/* How many tasks a long-lived worker may hold at once: one while the queue is shallow,
 * so one slow task never holds back others; up to `prefetch` when `queued` tasks wait for
 * `workers` long-lived workers (connected or starting), so the round trip does not idle
 * them. Tasks known to be short (pmp_durations_hold: `hold` of them run within a budget;
 * 0 not known) are not slow ones: a worker may hold that many of them however shallow
 * the queue. A worker holds no more than its own window either (pmp_wk.window), but in a
 * run of tasks known to be short (pmp_wk_takes_run). */
size_t pmp_workers_limit(size_t queued, size_t workers, size_t prefetch, size_t hold);

/* The adaptive window (pmp_controller_config.prefetch 0), after each answer. A worker
 * starts at PMP_WINDOW_START tasks. When it answers a task it sat idle for (waited:
 * PMP_FLAG_WAITED, its worker's word) while tasks are queued, and the window was what held
 * it back (full: its last task had brought it to its window), the round trip to the
 * controller outlasted that many tasks: the window doubles, up to PMP_WINDOW_MAX. When it
 * holds none (holds) and none is queued, the burst is over and the window is back to the
 * start: one grown on short tasks does not hand out the next burst's long ones by the
 * hundred. A worker kept busy never waits, so slow tasks stay at PMP_WINDOW_START. Beyond
 * PMP_WINDOW_START tasks, a worker takes more only while those it holds come to less than
 * PMP_WINDOW_BYTES: a window grown on small tasks holds few large ones. With 2 workers and
 * 20,000 no-op tasks the window ran 2.07 times as many tasks a second as a fixed 8
 * (benchmarks/perf/compare.sh; the README has the numbers). */
#define PMP_WINDOW_START 8
#define PMP_WINDOW_MAX 256
#define PMP_WINDOW_BYTES (4u << 20)
size_t pmp_window_after(size_t window, bool waited, bool full, size_t holds, size_t queued);
/* After w answered a task (dropped from its in-flight tasks already), waited or not, with
 * queued tasks queued: its window is pmp_window_after's, and when that changed, w is not
 * full (at its window) until a dispatch fills it again: one turn's answers double the
 * window once, not once each. */
void pmp_wk_answered(struct pmp_wk *w, bool waited, size_t queued);

/* Whether w (may be NULL) is a READY long-lived worker that may take another task: it
 * holds fewer than limit, and has room in its window. */
bool pmp_wk_takes(const struct pmp_wk *w, size_t limit);
/* The same for the next task of a run of a kind known to be short (the controller's
 * pick_worker): it holds fewer than cap, what it may hold of them (pmp_durations_hold,
 * within pmp_workers_limit), whatever its window. The window finds by trial, doubling
 * from PMP_WINDOW_START, how many tasks of unknown length a worker should hold; for a
 * kind whose run time is known, cap is that number from the start. Held to its window,
 * a run was 8 tasks until the worker had waited for more: 128 workers on 2 cores then
 * woke and answered in runs of 8 while a burst began, and spread a burst of 20,000 no-op
 * tasks over all 128 of them (the README has the numbers). The bytes bound stays. */
bool pmp_wk_takes_run(const struct pmp_wk *w, size_t cap);
/* The READY long-lived worker with the fewest tasks, if it holds fewer than limit and room
 * in its window (tasks, and beyond PMP_WINDOW_START also bytes). */
struct pmp_wk *pmp_workers_pick(const struct pmp_worker_table *t, size_t limit);
/* A dispatch turn's walk over the table: pmp_workers_pick_next() makes the choice of
 * pmp_workers_pick() for each task of the turn (the READY long-lived worker with the
 * fewest tasks, the first such in the table, if it holds fewer than limit and has room
 * in its window), provided the caller gives each worker it returns a task (or more).
 * Within a turn the counts only grow, so the walk resumes where it stopped: O(workers)
 * per level of in-flight tasks filled, not per task. */
struct pmp_pick_cursor {
	size_t next;  /* the slot to look at next */
	size_t level; /* the in-flight count being filled */
	bool started;
};
#define PMP_PICK_CURSOR_INIT {0, 0, false}
struct pmp_wk *pmp_workers_pick_next(const struct pmp_worker_table *t, size_t limit, struct pmp_pick_cursor *c);
/* READY long-lived workers. */
size_t pmp_workers_ready(const struct pmp_worker_table *t);
/* Long-lived workers connected or starting. */
size_t pmp_workers_expected(const struct pmp_worker_table *t);
/* Cores of the long-lived workers this controller started that have not connected yet. */
int pmp_workers_starting_cores(const struct pmp_worker_table *t);

/* Routing ids: 'w' and the id as 4 little-endian bytes (ZeroMQ reserves a leading 0). */
#define PMP_ROUTING_ID_SIZE 5
void pmp_routing_id(int32_t id, uint8_t out[PMP_ROUTING_ID_SIZE]);
/* The worker id a routing id names, or -1. */
int64_t pmp_routing_id_parse(const void *data, size_t size);

#endif
