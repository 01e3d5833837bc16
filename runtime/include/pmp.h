/* libpmp: couples a serial controller process to worker processes over ZeroMQ.
 *
 * The controller runs one I/O thread that owns its socket, its task queue and its
 * worker table. Any thread may submit tasks; the I/O thread sends each to a free
 * worker, starts and replaces worker processes, notices their exit (pidfd), and hands
 * results and failures to one callback, in batches. Nothing polls: the I/O thread
 * blocks in zmq_poll on the socket, an eventfd for new commands and the workers' pidfds.
 * A thread waiting for one task's result may run that I/O itself for a while
 * (pmp_controller_wait), which saves a round trip the I/O thread's two hand-offs.
 *
 * A worker is any process that calls pmp_worker_connect() with the endpoint and id the
 * controller put in its environment (PMP_ENDPOINT, PMP_WORKER_ID), then loops on
 * pmp_worker_recv() / pmp_worker_send().
 *
 * Payloads are opaque frames (pmp serialises Python objects into them); libpmp adds a
 * 16-byte header per message. All functions return 0 (or a pointer) on success and -1
 * (or NULL) on failure with a message in err when err is not NULL. */
#ifndef PMP_H
#define PMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PMP_ERR_MAX 512

/* One contiguous piece of a message. */
typedef struct pmp_frame {
	const void *data;
	size_t size;
} pmp_frame;

/* Frames received from the peer; valid until pmp_msg_free(). */
typedef struct pmp_msg pmp_msg;
size_t pmp_msg_count(const pmp_msg *m);
pmp_frame pmp_msg_frame(const pmp_msg *m, size_t i);
void pmp_msg_free(pmp_msg *m);

/* ---- controller ---- */

typedef struct pmp_controller pmp_controller;

/* How to start a worker process: argv[0] is run as is (a path, or a name looked up in
 * PATH), with envp plus PMP_ENDPOINT and PMP_WORKER_ID, in cwd (NULL: the controller's).
 * In argv, "{endpoint}" and "{worker_id}" are replaced by the worker's values (e.g. for
 * `srun --pmp-endpoint={endpoint} --pmp-worker-id={worker_id} ...`). `cores` is what
 * the worker takes from the controller's capacity (see pmp_controller_submit). */
typedef struct pmp_spec pmp_spec;
pmp_spec *pmp_spec_new(const char *const *argv, const char *const *envp, const char *cwd,
		       int cores, char *err, size_t errlen);
void pmp_spec_unref(pmp_spec *s); /* NULL is fine */

/* Workers of s are forked rather than started: a controller starts s's first worker as
 * usual and, with the second, one process of s's command as a fork server (PMP_FORK_FD
 * in its environment instead of PMP_WORKER_ID), which calls pmp_serve_forks and forks
 * each further worker of s, already past its program's start (for Python, the
 * interpreter's start and the worker's imports). The workers are the controller's
 * children all the same. Should the fork server fail, workers of s are started as usual.
 * Only for a command that serves forks (pmp.worker does); set before s is used. */
void pmp_spec_set_forked(pmp_spec *s, bool forked);

/* Run by pmp_serve_forks (each may be NULL): before() in the server before each fork,
 * after() right after it in the server (child 0) and in the new worker (child 1), and
 * idle() in the server once its answer is sent, when no request waits: the time to load
 * what workers would otherwise each load for themselves. */
struct pmp_fork_hooks {
	void (*before)(void *ctx);
	void (*after)(void *ctx, int child);
	void (*idle)(void *ctx);
	void *ctx;
};

/* A fork server's loop, on the descriptor named by its PMP_FORK_FD: each request of the
 * controller forks a worker, a child of the controller (CLONE_PARENT) in a process group
 * of its own. Returns 1 in that worker, with *worker_id its id (for PMP_WORKER_ID) and
 * fd closed; 0 in the server once the controller is gone; -1 with err on an error. The
 * server must have one thread; while it serves, its name (/proc/PID/comm, what ps shows)
 * is PMP_FORK_SERVER_NAME. */
#define PMP_FORK_SERVER_NAME "pmp-forkserver"
int pmp_serve_forks(int fd, const struct pmp_fork_hooks *hooks, int32_t *worker_id, char *err, size_t errlen);

enum pmp_status {
	PMP_OK = 0,    /* the payload is the task's result */
	PMP_ERROR = 1, /* the payload is the task's exception */
};

enum pmp_event_kind {
	PMP_EVENT_RESULT,       /* task ended: status, msg (owned by the handler) */
	PMP_EVENT_TASK_LOST,    /* task's worker died (or lost its connection) before answering:
				   worker, wait status (0 if the process lives on), text */
	PMP_EVENT_TASK_FAILED,  /* task cannot run: workers cannot start (text says why) */
	PMP_EVENT_WORKER_READY, /* worker connected: text is "pid host" */
	PMP_EVENT_WORKER_EXIT,  /* worker process ended: status is its wait status */
	PMP_EVENT_BROKEN,       /* the controller gave up, once: workers cannot start (text says
				   why); queued tasks fail (PMP_EVENT_TASK_FAILED after this), so
				   do later submits, and no worker connects any more */
};

typedef struct pmp_event {
	enum pmp_event_kind kind;
	uint64_t task;
	int32_t worker;
	int status;
	pmp_msg *msg;     /* RESULT: the handler must pmp_msg_free() it */
	const char *text; /* valid during the callback */
} pmp_event;

/* Called on the I/O thread with every event of one wake-up. Must not block on the
 * controller (it may submit and cancel). */
typedef void (*pmp_event_fn)(void *ctx, pmp_event *events, size_t n);

typedef struct pmp_controller_config {
	const char *bind;       /* endpoint to bind, "tcp://HOST:*" or "tcp://HOST:PORT" or
				   "ipc:///path"; NULL: ipc in a private (0700) directory */
	int prefetch;           /* tasks in flight per worker when the queue is deep (beyond
				   8 of them, only while they come to less than 4 MiB); 0:
				   adaptive, from 8 up to 256 for a worker that sits idle
				   for want of tasks while tasks are queued, back to 8 when
				   the queue empties (PMP_WINDOW_START in workers.h) */
	double shutdown_grace;  /* seconds workers get to exit before SIGKILL; 0: 10 */
	int max_start_failures; /* workers that die before connecting, in a row, before the
				   controller gives up and fails the queued tasks; 0: 3 */
	int security;           /* PMP_SECURITY_*: how workers prove they hold the secret */
	int64_t max_message_size; /* bytes of one frame from a worker; larger ones drop its
				     connection; 0: no limit */
	const char *secret;     /* a token made by whoever starts the workers ("token:" and 40 Z85
				   characters: the SPANK plugin's, for a static step); NULL: make one */
	int max_starting;       /* cores of long-lived workers started but not yet connected, at
				   most (one worker always may start); the rest start as those
				   connect or exit. Where workers start on this machine's CPUs,
				   starting more at once than it has delays the first; 0: no limit */
	int io_lend_us;         /* microseconds the I/O stays with a thread that ran it in
				   pmp_controller_wait() after that returns, so that its next
				   submit and wait need no hand-off; then the I/O thread takes it
				   back. While waits keep coming back sooner, the lend doubles, up to
				   16 times this (pmp_controller_reclaim_io ends it at once);
				   0: 1000; < 0: waits never run the I/O */
	double fork_timeout;    /* seconds a fork server (pmp_spec_set_forked) may take to answer
				   a request, the first one with its own start, before it counts
				   as failed and its spec's workers are started; 0: 30 */
} pmp_controller_config;

/* Every controller makes its own secret and gives it to its workers in their environment
 * (PMP_SECRET). TOKEN: checked by ZAP in the handshake, no cost per message; CURVE: a key
 * pair checked by ZAP, and every message encrypted. AUTO is TOKEN. */
enum { PMP_SECURITY_AUTO = 0, PMP_SECURITY_CURVE = 1, PMP_SECURITY_TOKEN = 2 };

pmp_controller *pmp_controller_start(const pmp_controller_config *cfg, pmp_event_fn fn, void *ctx,
				     char *err, size_t errlen);
/* The endpoint workers connect to (the bound one, with its real port). */
const char *pmp_controller_endpoint(const pmp_controller *c);
/* The secret a worker needs (the value of PMP_SECRET), for workers started by hand. */
const char *pmp_controller_secret(const pmp_controller *c);

/* Start n long-lived workers of spec: they serve any task submitted without a spec and
 * are replaced when they die (block allocation). */
int pmp_controller_add_workers(pmp_controller *c, pmp_spec *spec, int n, char *err, size_t errlen);
/* Register n long-lived workers that something else starts (static mode: the other ranks
 * of an MPI job, or the other tasks of a step, connect with PMP_WORKER_ID = the first id +
 * 0..n-1, the endpoint and the secret). Neither started nor replaced by the controller: a
 * lost one is gone. Returns the first id, or -1 with err. */
int32_t pmp_controller_expect_workers(pmp_controller *c, int n, char *err, size_t errlen);
/* Frames every long-lived worker receives before its first task (e.g. an init function). */
int pmp_controller_set_init(pmp_controller *c, const pmp_frame *frames, size_t n, char *err, size_t errlen);
/* Cores available to per-task workers at once (default: unlimited). */
void pmp_controller_set_capacity(pmp_controller *c, int cores);
/* Queue task `task` (any id unique among queued and running tasks). spec NULL: any
 * long-lived worker runs it; else a fresh worker of spec is started for it once its cores
 * fit the capacity, and exits after it. Frames are copied. */
int pmp_controller_submit(pmp_controller *c, uint64_t task, pmp_spec *spec, const pmp_frame *frames,
			  size_t n, char *err, size_t errlen);
/* The same, for a task of a kind: tasks of one kind (say, calls of one function) take
 * about as long as each other. The controller learns each kind's run time from the
 * workers' answers, and a worker may hold more tasks of a kind known to be short than its
 * share of a short queue, rather than run dry between answers. 0: no kind, as above. */
int pmp_controller_submit_kind(pmp_controller *c, uint64_t task, uint32_t kind, pmp_spec *spec,
			       const pmp_frame *frames, size_t n, char *err, size_t errlen);
/* Removes a task that is still queued: 1 removed (no event will follow), 0 not queued. */
int pmp_controller_cancel(pmp_controller *c, uint64_t task);
/* Tasks queued but not yet sent to a worker. */
size_t pmp_controller_queued(pmp_controller *c);
/* Where a task is: 1 queued, 2 on a worker (sent, or its worker starting), 0 neither
 * (unknown, cancelled, or its event delivered or about to be). */
int pmp_controller_task_state(pmp_controller *c, uint64_t task);
/* Waits for task's event, running the controller's I/O in the calling thread (which
 * then calls the event handler) rather than waiting for the I/O thread: a thread that
 * submits a task and waits for it saves the two hand-offs between it and the I/O thread.
 * timeout in seconds, < 0 for none. Returns PMP_WAIT_DONE (the task's event went to the
 * handler, or the task is unknown), PMP_WAIT_TIMEOUT, PMP_WAIT_ELSEWHERE (another thread
 * runs the I/O, or shutdown began: wait for the event some other way), or -1 with errno
 * EINTR when a signal interrupted the wait. Must not be called from the handler. */
enum { PMP_WAIT_TIMEOUT = 0, PMP_WAIT_DONE = 1, PMP_WAIT_ELSEWHERE = 2 };
int pmp_controller_wait(pmp_controller *c, uint64_t task, double timeout);
/* Ends a lend of the I/O (io_lend_us) at once: call it before waiting for events in
 * another way than pmp_controller_wait, which then come without the lend's delay. */
void pmp_controller_reclaim_io(pmp_controller *c);
/* Begin shutting down: queued and running tasks finish, then workers get a shutdown
 * message, and SIGKILL after the grace period. Returns at once. */
void pmp_controller_shutdown(pmp_controller *c);
/* Waits until the I/O thread has ended and every worker process is gone. */
void pmp_controller_join(pmp_controller *c);
/* Shuts down, joins, frees. */
void pmp_controller_free(pmp_controller *c);

/* ---- worker ---- */

typedef struct pmp_worker pmp_worker;

enum pmp_request_kind {
	PMP_REQUEST_TASK,     /* run it and pmp_worker_send() its result */
	PMP_REQUEST_INIT,     /* set up the worker (no answer expected) */
	PMP_REQUEST_SHUTDOWN, /* exit: the controller asked, or is gone */
};

typedef struct pmp_request {
	enum pmp_request_kind kind;
	uint64_t task;
	bool last;    /* the controller wants this worker to exit after this task */
	pmp_msg *msg; /* TASK, INIT: the caller must pmp_msg_free() it */
} pmp_request;

/* Connects to the controller and says it is ready. endpoint NULL: $PMP_ENDPOINT;
 * id < 0: $PMP_WORKER_ID; the secret is $PMP_SECRET. A thread watches the connection:
 * when the controller is gone (or refuses the secret) the process exits (status 70, 71),
 * also in the middle of a task, so that no worker outlives its controller. */
pmp_worker *pmp_worker_connect(const char *endpoint, int32_t id, char *err, size_t errlen);
/* Blocks until the next request. */
int pmp_worker_recv(pmp_worker *w, pmp_request *req, char *err, size_t errlen);
int pmp_worker_send(pmp_worker *w, uint64_t task, enum pmp_status status, const pmp_frame *frames,
		    size_t n, char *err, size_t errlen);
void pmp_worker_close(pmp_worker *w);

#ifdef __cplusplus
}
#endif
#endif
