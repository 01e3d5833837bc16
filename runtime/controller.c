/* The controller: one thread at a time runs the I/O turns (it owns the ROUTER socket
 * and the worker table); the task queues are shared with the API threads under one
 * mutex, which the runner never holds while it calls the event handler. The runner is
 * the I/O thread, or a thread waiting for its task's result (pmp_controller_wait): a
 * sequential submit-and-wait then costs no hand-off between threads, which was a third
 * of a round trip (rt_floor.py: 194 us with an I/O thread between caller and socket,
 * 133 us without). After its wait the I/O is lent to that thread for io_lend_us, so that
 * its next submit sends at once; then the I/O thread takes it back. It checks back when
 * the lend it saw ends, less often while the waits keep coming back: each of its
 * wake-ups cost a round trip about 40 us at 1 ms lends (rt_lend.py 2000 3 1000 100000000:
 * 179 against 139 us when it woke at the end of every wait, 161 against 154 us now). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "deadline.h"
#include "durations.h"
#include "errors.h"
#include "forkserver.h"
#include "msg.h"
#include "pmp.h"
#include "process.h"
#include "security.h"
#include "taskq.h"
#include "workers.h"

#define ENDPOINT_MAX 256
#define TEXT_MAX 512
#define RECV_BATCH 1024 /* messages handled per wake-up before the queues get a turn */
#define RESULT_LAG_MS 1000 /* how long a worker's last results may trail its exit */
#define IO_LEND_GROWTH 16   /* a lend grows to this many io_lend_us while waits come back */
#define MAX_FORKSERVERS 4   /* live fork servers per controller (see forkserver_of) */
#define SIDE_RETRY_MS 100   /* a drain of the ZAP or monitor socket cut short is retried after */

struct pmp_controller {
	pmp_controller_config cfg;
	pmp_event_fn on_events;
	void *ctx;
	void *zctx, *router;
	void *zap;     /* ZAP handler: admits only this controller's secret */
	void *monitor; /* the router's disconnections: a worker's node or network failed */
	int zap_fd, monitor_fd; /* their ZMQ_FDs, which the turns poll (see drain_side) */
	struct pmp_keys keys;
	int wakefd;
	/* The workers' pidfds, polled as this one descriptor: a turn polls once, and a poll()
	 * of 128 pidfds took 7.5 us against 0.7 us of 4 (benchmarks/perf/poll_pidfds.py). -1
	 * when it could not be made: then each pidfd is polled itself. */
	int epfd;
	pthread_t io;
	bool io_started, joined;
	pthread_mutex_t join_lock;
	char endpoint[ENDPOINT_MAX];
	char ipc_dir[64];

	pthread_mutex_t lock; /* guards the fields down to the I/O-thread-only ones */
	struct pmp_taskq block_q, pertask_q;
	struct pmp_taskindex index;
	struct spawn_request *spawns;
	pmp_msg *init;
	int capacity;
	bool stopping;
	bool broken;
	char broken_text[TEXT_MAX];
	/* Who runs the turns: the I/O thread, a waiting thread, or nobody until lent_until
	 * (lent to the last waiter: its next submit dispatches, its next wait runs them). */
	enum { RUN_IO, RUN_CALLER, RUN_LENT } runner;
	int handoff_waiters;        /* threads asking the I/O thread for the turns */
	bool io_parked;             /* the I/O thread waits for a waiting thread to finish */
	pthread_cond_t runner_cond; /* the runner changed, or shutdown began */
	struct timespec lent_until;
	int lend_us; /* io_lend_us, up to IO_LEND_GROWTH times it while waits keep coming back */

	/* the runner only */
	struct pmp_worker_table workers;
	struct pmp_durations durations; /* run times by kind, from the workers' answers */
	int64_t filling; /* the worker given known-short tasks until it holds its fill, or -1 */
	struct pmp_forkserver *forkservers; /* of the forked specs used so far */
	/* Workers dropped while a fork server owed them (restart_forks): a process forked for
	 * one may still connect. Those that do are strays (see stray()), reaped as they exit. */
	int32_t *dropped;
	size_t ndropped;
	struct stray { pid_t pid; int pidfd; } *strays;
	size_t nstrays;
	int used_cores;
	int start_failures;
	bool shutdown_sent;
	int signalled; /* 0, then 1 after SIGTERM, 2 after SIGKILL */
	struct timespec deadline; /* of the shutdown grace period */
	pmp_event *events;
	char (*texts)[TEXT_MAX];
	size_t nevents, evcap;
	bool side_unarmed;     /* a drain of zap or monitor ended short of EAGAIN */
	zmq_pollitem_t *items; /* wait_for_work's, kept from one turn to the next */
	struct pmp_wk **owners;
	size_t itemcap;
};

struct spawn_request {
	pmp_spec *spec;
	int n;
	struct spawn_request *next;
};

/* ---------- events ---------- */

static pmp_event *add_event(pmp_controller *c, enum pmp_event_kind kind, uint64_t task, int32_t worker,
			    int status)
{
	if (c->nevents == c->evcap) {
		size_t cap = c->evcap ? c->evcap * 2 : 64;
		pmp_event *ev = realloc(c->events, cap * sizeof(*ev));
		if (ev)
			c->events = ev;
		char(*tx)[TEXT_MAX] = realloc(c->texts, cap * sizeof(*tx));
		if (tx)
			c->texts = tx;
		if (!ev || !tx) {
			/* Out of memory: deliver what is there and go on with one slot. */
			return NULL;
		}
		c->evcap = cap;
	}
	pmp_event *e = &c->events[c->nevents];
	*e = (pmp_event){kind, task, worker, status, NULL, NULL};
	c->texts[c->nevents][0] = '\0';
	c->nevents++;
	return e;
}

static char *event_text(pmp_controller *c, pmp_event *e)
{
	return c->texts[e - c->events];
}

static void flush_events(pmp_controller *c)
{
	if (!c->nevents)
		return;
	for (size_t i = 0; i < c->nevents; i++)
		c->events[i].text = c->texts[i];
	c->on_events(c->ctx, c->events, c->nevents);
	c->nevents = 0;
}

/* t = now + s seconds (CLOCK_MONOTONIC) */
static void lag_deadline(struct timespec *t)
{
	pmp_deadline_in(t, RESULT_LAG_MS / 1000.0);
}

/* ---------- tasks ---------- */

static void free_task(struct pmp_task *t)
{
	pmp_msg_free(t->payload);
	pmp_spec_unref(t->spec);
	free(t);
}

static struct pmp_taskq *queue_of(pmp_controller *c, const struct pmp_task *t)
{
	return t->spec ? &c->pertask_q : &c->block_q;
}

/* The task cannot run: tell the handler, forget it. */
static void fail_task(pmp_controller *c, struct pmp_task *t, enum pmp_event_kind kind, int32_t worker,
		      int status, const char *text)
{
	pmp_event *e = add_event(c, kind, t->id, worker, status);
	if (e)
		snprintf(event_text(c, e), TEXT_MAX, "%s", text);
	pmp_taskindex_remove(&c->index, t->id);
	free_task(t);
}

static void fail_queued(pmp_controller *c, struct pmp_taskq *q, const char *text)
{
	struct pmp_task *t;
	while ((t = pmp_taskq_pop(q)))
		fail_task(c, t, PMP_EVENT_TASK_FAILED, -1, 0, text);
}

/* ---------- workers ---------- */

static const char *worker_name(const struct pmp_wk *w, char *buf, size_t len)
{
	if (w->info[0])
		snprintf(buf, len, "worker %d (%s)", w->id, w->info);
	else
		snprintf(buf, len, "worker %d (pid %d, not yet connected)", w->id, (int)w->pid);
	return buf;
}

static void give_up(pmp_controller *c, const char *why)
{
	if (c->broken)
		return;
	c->broken = true;
	snprintf(c->broken_text, sizeof(c->broken_text), "%s", why);
	/* Before the tasks' failures: whoever waits for workers (not for a task) learns it too. */
	pmp_event *e = add_event(c, PMP_EVENT_BROKEN, 0, -1, 0);
	if (e)
		snprintf(event_text(c, e), TEXT_MAX, "%s", why);
	fail_queued(c, &c->block_q, why);
	fail_queued(c, &c->pertask_q, why);
}

static void start_failed(pmp_controller *c, const char *why)
{
	/* Once the workers are being told to go, one that dies unconnected was stopped on
	 * purpose. Before that, shutting down or not, queued tasks wait for these starts:
	 * they must count, or the tasks (and the shutdown) would wait forever. */
	if (c->shutdown_sent)
		return;
	if (++c->start_failures >= c->cfg.max_start_failures) {
		char text[TEXT_MAX];
		snprintf(text, sizeof(text), "pmp: workers fail to start (%d in a row); the last: %.400s",
			 c->start_failures, why);
		give_up(c, text);
	}
}

static void requeue_tasks(pmp_controller *c, struct pmp_wk *w);
static bool want_long_lived(const pmp_controller *c);
static bool add_spawn_request(pmp_controller *c, pmp_spec *spec, int n);

/* The pid a worker tells in its ready message ("pid N on HOST"), when it is a child of
 * this process (a forked worker, whatever its fork server's fate); else -1. */
static pid_t child_of_info(const char *info)
{
	int pid = 0;
	siginfo_t si;
	if (sscanf(info, "pid %d", &pid) != 1 || pid <= 0 ||
	    waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return -1; /* not our child (ECHILD) */
	return pid;
}

/* w's exit is reported through epfd, once (EPOLLONESHOT: an ended process's pidfd stays
 * readable). Should that fail (ENOMEM), each turn polls the pidfd itself. */
static void watch_exit(pmp_controller *c, struct pmp_wk *w)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = (uint64_t)w->id};
	w->watched = c->epfd >= 0 && w->pidfd >= 0 && epoll_ctl(c->epfd, EPOLL_CTL_ADD, w->pidfd, &ev) == 0;
}

/* fs has stopped (failed, or gone as the least recently used) owing answers: the
 * workers it owes are dropped and started again as usual under new ids, none a start
 * failure. It may have forked some after all: such a process, with a dropped worker's
 * id, finds no worker of its id, and is told to exit (stray). One that has connected
 * already tells its pid, and is kept. */
static void restart_forks(pmp_controller *c, const struct pmp_forkserver *fs)
{
	for (size_t i = 0; i < c->workers.cap; i++) {
		struct pmp_wk *w = c->workers.slots[i];
		if (!w || !w->forking || w->spec != fs->spec)
			continue;
		pid_t pid = w->state != PMP_W_STARTING ? child_of_info(w->info) : -1;
		if (pid > 0 && (w->pidfd = pmp_watch_child(pid)) >= 0) {
			w->pid = pid;
			w->forking = false;
			watch_exit(c, w);
			continue;
		}
		if (w->per_task) {
			requeue_tasks(c, w); /* its task, to a new worker */
			c->used_cores -= w->spec->cores;
		} else if (want_long_lived(c) && !add_spawn_request(c, w->spec, 1)) {
			start_failed(c, "pmp: out of memory restarting a worker");
		}
		int32_t *more = realloc(c->dropped, (c->ndropped + 1) * sizeof(*more));
		if (more) { /* else a process forked for it, if any, is left to itself */
			c->dropped = more;
			c->dropped[c->ndropped++] = w->id;
		}
		pmp_workers_remove(&c->workers, w->id);
	}
}

/* The fork server of spec, moved to the front of the list (the most recently used),
 * made if it has none (it starts when first asked); NULL on ENOMEM. Beyond
 * MAX_FORKSERVERS (per-task resources vary: each kind has its server, an idle Python
 * process) the least recently used goes. */
static struct pmp_forkserver *forkserver_of(pmp_controller *c, pmp_spec *spec)
{
	struct pmp_forkserver **at = &c->forkservers, *fs;
	size_t n = 0;
	while (*at && (*at)->spec != spec)
		at = &(*at)->next;
	if ((fs = *at))
		*at = fs->next;
	else if (!(fs = pmp_forkserver_new(spec, c->cfg.fork_timeout)))
		return NULL;
	fs->next = c->forkservers;
	c->forkservers = fs;
	for (at = &c->forkservers; *at && ++n <= MAX_FORKSERVERS;)
		at = &(*at)->next;
	while (*at) {
		struct pmp_forkserver *old = *at;
		*at = old->next;
		restart_forks(c, old); /* the workers it owes, if any, start again */
		pmp_forkserver_free(old);
	}
	return fs;
}

/* Starts worker w's process. A forked spec's first worker is started as usual, and its
 * fork server (started with the second) forks the rest: a spec of one worker (a per-task
 * resource of its own) costs no server, and the first result does not wait for the
 * server's start and then its fork, which made it 49.7 against 27.0 ms with 4 workers
 * (benchmarks/perf/first_result.py local 20, forked against PMP_FORK=0; now 32.9 against
 * 33.6). A forked worker's pid comes with its server's answer (take_fork_answers). */
static int start_process(pmp_controller *c, pmp_spec *spec, struct pmp_wk *w, char *err, size_t errlen)
{
	struct pmp_forkserver *fs = spec->forked ? forkserver_of(c, spec) : NULL;
	if (fs && !fs->failed && fs->uses++ > 0) {
		if (pmp_forkserver_ask(fs, c->endpoint, c->keys.env, w->id) == 0) {
			w->forking = true;
			return 0;
		}
		restart_forks(c, fs); /* it failed now: those it owed start again, and w here */
	}
	int rc = pmp_spawn(spec, c->endpoint, c->keys.env, w->id, &w->pid, &w->pidfd, err, errlen);
	if (rc == 0)
		watch_exit(c, w);
	return rc;
}

/* The answers fs has ready: each forked worker gets its pid. A fork server that cannot
 * fork (or whose worker cannot be watched), or answers for a worker it does not owe (a
 * worker is dropped only once its server has stopped: restart_forks), is stopped as one
 * that died. */
static void take_fork_answers(pmp_controller *c, struct pmp_forkserver *fs)
{
	int32_t id;
	pid_t pid;
	int rc;
	while ((rc = pmp_forkserver_answer(fs, &id, &pid)) > 0) {
		struct pmp_wk *w = pmp_workers_get(&c->workers, id);
		bool owed = w && w->forking && w->spec == fs->spec;
		int pidfd = owed && pid > 0 ? pmp_watch_child(pid) : -1; /* our child: CLONE_PARENT */
		if (pidfd < 0) {
			pmp_forkserver_stop(fs, true);
			rc = -1;
			break;
		}
		w->forking = false;
		w->pid = pid;
		w->pidfd = pidfd;
		watch_exit(c, w);
	}
	if (rc < 0)
		restart_forks(c, fs);
}

static void stop_forkservers(pmp_controller *c)
{
	while (c->forkservers) {
		struct pmp_forkserver *fs = c->forkservers;
		c->forkservers = fs->next;
		pmp_forkserver_free(fs);
	}
}

/* Starts a worker of spec; NULL when the controller gave up on starting workers. A
 * failed start is retried at once: nothing else would wake the I/O thread to retry it
 * (its tasks would wait forever), and each failure counts, so max_start_failures in a
 * row end the retries. */
static struct pmp_wk *start_worker(pmp_controller *c, pmp_spec *spec, bool per_task)
{
	char err[TEXT_MAX];
	while (!c->broken && !c->shutdown_sent) {
		struct pmp_wk *w = pmp_workers_add(&c->workers, spec, per_task);
		if (!w) {
			start_failed(c, "pmp: out of memory starting a worker");
			continue;
		}
		int rc = start_process(c, spec, w, err, sizeof(err));
		if (rc != 0) {
			pmp_workers_remove(&c->workers, w->id);
			if (rc < 0)
				start_failed(c, err);
			continue;
		}
		if (per_task)
			c->used_cores += spec->cores;
		return w;
	}
	return NULL;
}

/* Long-lived workers are started (and replaced) until shutdown, and during it while
 * tasks still wait for one: "queued tasks finish". */
static bool want_long_lived(const pmp_controller *c)
{
	return !c->broken && (!c->stopping || c->block_q.len > 0);
}

/* Queues n long-lived workers of spec to start (under the lock); false on ENOMEM. */
static bool add_spawn_request(pmp_controller *c, pmp_spec *spec, int n)
{
	struct spawn_request *r = malloc(sizeof(*r));
	if (!r)
		return false;
	*r = (struct spawn_request){pmp_spec_ref(spec), n, NULL};
	struct spawn_request **tail = &c->spawns;
	while (*tail)
		tail = &(*tail)->next;
	*tail = r;
	return true;
}

/* To the worker of id worker (there may be no record of it: see handle_message). */
static int send_to(pmp_controller *c, int32_t worker, uint8_t type, uint8_t flags, uint64_t id, pmp_msg *m)
{
	uint8_t rid[PMP_ROUTING_ID_SIZE];
	zmq_msg_t route;
	struct pmp_header h = {type, flags, id, 0};
	pmp_routing_id(worker, rid);
	zmq_msg_init_size(&route, sizeof(rid));
	memcpy(zmq_msg_data(&route), rid, sizeof(rid));
	int rc = m ? pmp_send_msg(c->router, &route, &h, m) : pmp_send(c->router, &route, &h, NULL, 0);
	zmq_msg_close(&route);
	return rc;
}

/* The copy of the init frames a worker gets (the original stays for later workers). */
static pmp_msg *copy_msg(const pmp_msg *m)
{
	pmp_msg *out = malloc(sizeof(*out) + (m->n ? m->n : 1) * sizeof(zmq_msg_t));
	if (!out)
		return NULL;
	out->n = m->n;
	for (size_t i = 0; i < m->n; i++) {
		zmq_msg_init(&out->frames[i]);
		zmq_msg_copy(&out->frames[i], (zmq_msg_t *)&m->frames[i]);
	}
	return out;
}

static void send_task(pmp_controller *c, struct pmp_wk *w, struct pmp_task *t)
{
	/* A copy goes out (ZeroMQ shares large frames rather than copying them): the task
	 * keeps its frames until answered, to run elsewhere if this worker dies first. */
	pmp_msg *copy = copy_msg(t->payload);
	bool short_kind = !t->suspect && pmp_durations_short(&c->durations, t->kind);
	uint8_t flags = w->per_task ? PMP_FLAG_LAST : short_kind ? PMP_FLAG_SHORT : 0;
	bool sent = copy && send_to(c, w->id, PMP_MSG_TASK, flags, t->id, copy) == 0;
	pmp_msg_free(copy);
	t->sent = true;
	if (sent)
		return;
	/* Gone between its last message and now (or out of memory): no worker takes more.
	 * A long-lived worker's task never left (the router refuses the first frame for a
	 * peer it no longer has): it goes back to the queue at once, not at the worker's
	 * exit, which a hung node may never give. A per-task worker's exit requeues it. */
	w->state = PMP_W_STOPPING;
	if (!w->per_task && w->inflight.tail == t) {
		pmp_wk_drop(w, t);
		t->worker = -1;
		t->sent = false;
		pmp_taskq_push_front(queue_of(c, t), t);
	}
}

static void worker_ready(pmp_controller *c, struct pmp_wk *w, pmp_msg *m)
{
	pmp_frame info = pmp_msg_frame(m, 2);
	size_t n = 0;
	/* "pid host", from the worker: keep printable characters only. */
	for (size_t i = 0; i < info.size && n + 1 < sizeof(w->info); i++) {
		char ch = ((const char *)info.data)[i];
		w->info[n++] = ch >= 32 && ch < 127 ? ch : '?';
	}
	w->info[n] = '\0';
	/* The connection it came on: its loss (monitor) means the worker's loss. */
	w->fd = zmq_msg_get((zmq_msg_t *)&m->frames[1], ZMQ_SRCFD);
	w->state = PMP_W_READY;
	w->window = c->cfg.prefetch ? (size_t)c->cfg.prefetch : PMP_WINDOW_START;
	c->start_failures = 0;
	pmp_event *e = add_event(c, PMP_EVENT_WORKER_READY, 0, w->id, 0);
	if (e)
		snprintf(event_text(c, e), TEXT_MAX, "%s", w->info);
	if (c->shutdown_sent) {
		send_to(c, w->id, PMP_MSG_SHUTDOWN, 0, 0, NULL);
		w->state = PMP_W_STOPPING;
		return;
	}
	if (w->per_task) {
		if (w->inflight.head)
			send_task(c, w, w->inflight.head);
		return;
	}
	if (c->init && !w->init_sent) {
		pmp_msg *copy = copy_msg(c->init);
		if (!copy || send_to(c, w->id, PMP_MSG_INIT, 0, 0, copy) < 0)
			w->state = PMP_W_STOPPING;
		pmp_msg_free(copy);
		w->init_sent = true;
	}
}

/* A result, its payload frames [from, from + count) of m. */
static void task_result(pmp_controller *c, struct pmp_wk *w, const struct pmp_header *h, pmp_msg *m,
			size_t from, size_t count)
{
	struct pmp_task *t = pmp_taskindex_find(&c->index, h->id);
	if (!t || t->worker != w->id || !t->sent)
		return; /* not a task this worker holds: ignore it */
	pmp_wk_drop(w, t);
	pmp_taskindex_remove(&c->index, t->id);
	pmp_durations_record(&c->durations, t->kind, h->run_us);
	if (!w->per_task && !c->cfg.prefetch)
		pmp_wk_answered(w, h->flags & PMP_FLAG_WAITED, c->block_q.len);
	free_task(t);
	/* A per-task worker exits after its one task, as if told to: losing its connection
	 * now loses nothing (connection_lost). Its disconnection can be seen before its
	 * result arrives, and it used to be sent SIGTERM once the result came. */
	if (w->per_task)
		w->state = PMP_W_STOPPING;
	pmp_msg *payload = pmp_msg_take(m, from, count);
	pmp_event *e = payload ? add_event(c, PMP_EVENT_RESULT, h->id, w->id,
					   (h->flags & PMP_FLAG_ERROR) ? PMP_ERROR : PMP_OK) : NULL;
	if (e)
		e->msg = payload;
	else
		pmp_msg_free(payload);
}

/* Worker id says it is ready, and has no record: if it was dropped while a fork server
 * owed it (restart_forks), this is the process forked for it after all. Told to exit, it
 * does not wait for tasks that never come; a child of this process ("pid N on HOST", and
 * waitid says whose), its pidfd is polled with the workers', and it is reaped when it
 * exits (reap_ended_strays), or at the end. */
static void stray(pmp_controller *c, int32_t id, const pmp_msg *m)
{
	size_t i = 0;
	while (i < c->ndropped && c->dropped[i] != id)
		i++;
	if (i == c->ndropped)
		return; /* no one we know of */
	c->dropped[i] = c->dropped[--c->ndropped];
	send_to(c, id, PMP_MSG_SHUTDOWN, 0, 0, NULL);
	char info[64] = "";
	pmp_frame f = pmp_msg_frame(m, 2);
	if (f.size)
		memcpy(info, f.data, f.size < sizeof(info) - 1 ? f.size : sizeof(info) - 1);
	pid_t pid = child_of_info(info);
	struct stray *more = pid > 0 ? realloc(c->strays, (c->nstrays + 1) * sizeof(*more)) : NULL;
	if (!more)
		return; /* not our child; or out of memory: a zombie until this process ends */
	c->strays = more;
	int pidfd = pmp_watch_child(pid); /* -1: killed and reaped already */
	if (pidfd >= 0)
		c->strays[c->nstrays++] = (struct stray){pid, pidfd};
}

/* The strays whose pidfds (polled as items[0..n), n the count when polled) say they
 * ended: reaped now, not left zombies until shutdown. From the last, so that the one
 * moved into a freed slot was looked at already. */
static void reap_ended_strays(pmp_controller *c, const zmq_pollitem_t *items, size_t n)
{
	for (size_t i = n; i-- > 0;) {
		if (!(items[i].revents & ZMQ_POLLIN))
			continue;
		pmp_reap_within(c->strays[i].pid, c->strays[i].pidfd, PMP_FORK_STOP_MS); /* at once */
		c->strays[i] = c->strays[--c->nstrays];
	}
}

static void reap_strays(pmp_controller *c)
{
	for (size_t i = 0; i < c->nstrays; i++)
		pmp_reap_within(c->strays[i].pid, c->strays[i].pidfd, PMP_FORK_STOP_MS);
	free(c->strays);
	c->strays = NULL;
	c->nstrays = 0;
}

/* The results in one message from w, h the first one's header (see protocol.h): each
 * header flagged PMP_FLAG_MORE owns one frame, the last header every frame left. A frame
 * that is not a RESULT header where one is due ends them (a worker that closes while it
 * holds results back ends its message with an empty frame): those before it stand. */
static void task_results(pmp_controller *c, struct pmp_wk *w, struct pmp_header *h, pmp_msg *m)
{
	size_t at = 1; /* h's frame; frame 0 is the worker's routing id */
	while (h->flags & PMP_FLAG_MORE && at + 2 < m->n) {
		task_result(c, w, h, m, at + 1, 1);
		at += 2;
		pmp_frame head = pmp_msg_frame(m, at);
		if (pmp_header_decode(head.data, head.size, h) < 0 || h->type != PMP_MSG_RESULT)
			return;
	}
	task_result(c, w, h, m, at + 1, m->n - (at + 1));
}

static void handle_message(pmp_controller *c, pmp_msg *m)
{
	struct pmp_header h;
	if (m->n < 2)
		return;
	pmp_frame route = pmp_msg_frame(m, 0), head = pmp_msg_frame(m, 1);
	int64_t id = pmp_routing_id_parse(route.data, route.size);
	struct pmp_wk *w = pmp_workers_get(&c->workers, id);
	if (pmp_header_decode(head.data, head.size, &h) < 0 || !pmp_type_to_controller(h.type))
		return; /* not pmp: drop it unread */
	if (!w) {
		if (h.type == PMP_MSG_READY && id >= 0 && id <= INT32_MAX && h.id == (uint64_t)id)
			stray(c, (int32_t)id, m);
		return;
	}
	if (h.type == PMP_MSG_READY && w->state == PMP_W_STARTING && h.id == (uint64_t)w->id)
		worker_ready(c, w, m);
	else if (h.type == PMP_MSG_RESULT && w->state != PMP_W_STARTING)
		task_results(c, w, &h, m);
}

/* A worker's tasks that never started go back to the front of their queue, in order. */
static void requeue_tasks(pmp_controller *c, struct pmp_wk *w)
{
	struct pmp_task *t;
	while ((t = w->inflight.tail)) {
		pmp_wk_drop(w, t);
		t->worker = -1;
		t->sent = false;
		pmp_taskq_push_front(queue_of(c, t), t);
	}
}

/* The first unanswered task of a worker was running: it is lost; those behind it never
 * started and are queued again. */
static void lose_tasks(pmp_controller *c, struct pmp_wk *w, int status, const char *why)
{
	char text[TEXT_MAX];
	/* With more than one task unanswered, the first may have been done: its result
	 * still in the worker's ZeroMQ queue when the process died, or held back for the
	 * next (PMP_FLAG_MORE). Nobody can tell which of them killed it: none fails, all
	 * run again, each by itself on a worker (suspect), where the one that kills its
	 * worker again is the only task unanswered, and fails. A task done twice is the
	 * price: a worker's death costs at most its tasks' reruns, never a task blamed for
	 * another's crash. */
	if (w->inflight.head && w->inflight.head->next) {
		for (struct pmp_task *t = w->inflight.head; t; t = t->next)
			t->suspect = true;
		requeue_tasks(c, w);
		return;
	}
	struct pmp_task *t = pmp_wk_drop_first(w);
	if (t) {
		snprintf(text, sizeof(text), "%s while running task %llu", why, (unsigned long long)t->id);
		fail_task(c, t, PMP_EVENT_TASK_LOST, w->id, status, text);
	}
	requeue_tasks(c, w);
}

/* A worker process ended: its tasks are lost (or, never started, queued again). */
static void worker_exited(pmp_controller *c, struct pmp_wk *w)
{
	int status = 0;
	char how[128], name[256], text[TEXT_MAX];
	bool started = w->state != PMP_W_STARTING;

	while (waitpid(w->pid, &status, 0) < 0 && errno == EINTR)
		;
	/* Out of the set before the close, which alone would leave it there while a copy
	 * of the pidfd lives (in a child the application forked). */
	if (w->watched)
		epoll_ctl(c->epfd, EPOLL_CTL_DEL, w->pidfd, NULL);
	close(w->pidfd);
	w->pidfd = -1;
	w->watched = false;
	pmp_describe_exit(status, how, sizeof(how));
	worker_name(w, name, sizeof(name));
	/* A worker runs its tasks in the order sent: the first unanswered one was running
	 * and is lost with it; those behind it never started and run elsewhere. */
	snprintf(text, sizeof(text), "pmp: %s %s", name, how);
	if (started)
		lose_tasks(c, w, status, text);
	else
		requeue_tasks(c, w); /* never connected: its task waits for another worker */
	pmp_event *e = add_event(c, PMP_EVENT_WORKER_EXIT, 0, w->id, status);
	if (e)
		snprintf(event_text(c, e), TEXT_MAX, "pmp: %s %s", name, how);
	if (w->per_task)
		c->used_cores -= w->spec->cores;
	if (!started) {
		snprintf(text, sizeof(text), "%s %s before it connected (command: %s)", name, how, w->spec->argv[0]);
		start_failed(c, text);
	}
	pmp_spec *spec = pmp_spec_ref(w->spec);
	bool replace = !w->per_task && want_long_lived(c);
	pmp_workers_remove(&c->workers, w->id);
	/* Its replacement starts in the next turn's take_spawn_requests, behind the limit. */
	if (replace && !add_spawn_request(c, spec, 1))
		start_worker(c, spec, false);
	pmp_spec_unref(spec);
}

/* A worker started by someone else (no process of ours) ends with its connection. */
static void external_gone(pmp_controller *c, struct pmp_wk *w, const char *how)
{
	char name[256];
	pmp_event *e = add_event(c, PMP_EVENT_WORKER_EXIT, 0, w->id, 0);
	if (e)
		snprintf(event_text(c, e), TEXT_MAX, "pmp: %s %s", worker_name(w, name, sizeof(name)), how);
	pmp_workers_remove(&c->workers, w->id);
}

/* A connected worker's connection dropped (its node died, the network failed, or its
 * process was killed: then the pidfd tells too). Its tasks are lost now, its process is
 * told to end; its exit, when it comes, is the usual one. */
static void connection_lost(pmp_controller *c, struct pmp_wk *w)
{
	char name[256], why[TEXT_MAX];
	w->disconnected = false;
	if (w->state == PMP_W_STOPPING && !w->inflight.len)
		return; /* told to exit, and did: nothing is lost */
	worker_name(w, name, sizeof(name));
	snprintf(why, sizeof(why), "pmp: %s lost its connection to the controller (its node, its network "
		 "or its process failed)", name);
	w->state = PMP_W_STOPPING;
	lose_tasks(c, w, 0, why);
	if (w->pid > 0)
		kill(-w->pid, SIGTERM); /* srun forwards it and ends the step */
	else if (!w->forking) /* (a forked one's pid is on its way: its exit will tell) */
		external_gone(c, w, "lost its connection");
}

/* A connected worker's connection dropped. Its process may be ending (then its exit says
 * best what happened) and its last results may still be on their way: both get
 * RESULT_LAG_MS before the connection counts as lost. */
static void handle_disconnect(pmp_controller *c, int fd)
{
	for (size_t i = 0; i < c->workers.cap; i++) {
		struct pmp_wk *w = c->workers.slots[i];
		if (w && w->fd == fd && w->state != PMP_W_STARTING) {
			w->fd = -1;
			if (w->pid <= 0 && !w->forking && !w->inflight.len) {
				external_gone(c, w, w->state == PMP_W_STOPPING ? "disconnected" : "lost its connection");
				return;
			}
			/* An idle long-lived worker has no results in flight: it is lost now, or
			 * tasks would be sent to it and wait for an exit that a hung node never
			 * gives (its srun waits on the node). */
			if (!w->inflight.len && w->state == PMP_W_READY && !w->per_task) {
				connection_lost(c, w);
				return;
			}
			if (!w->disconnected && !w->exit_seen && w->inflight.len) {
				w->disconnected = true;
				lag_deadline(&w->lost_at);
			}
			return;
		}
	}
}

/* One ZAP request (RFC 27): admit this executor's secret, nothing else. */
static void zap_reply(pmp_controller *c, pmp_msg *m)
{
	bool ok = false;
	if (m->n >= 6) {
		const void *creds[2] = {NULL, NULL};
		size_t clens[2] = {0, 0}, ncreds = m->n - 6 < 2 ? m->n - 6 : 2;
		for (size_t i = 0; i < ncreds; i++) {
			creds[i] = zmq_msg_data(&m->frames[6 + i]);
			clens[i] = zmq_msg_size(&m->frames[6 + i]);
		}
		ok = pmp_zap_allows(&c->keys, zmq_msg_data(&m->frames[5]), zmq_msg_size(&m->frames[5]), creds, clens,
				    m->n - 6);
	}
	if (m->n >= 2) {
		pmp_frame reply[6] = {{"1.0", 3}, {zmq_msg_data(&m->frames[1]), zmq_msg_size(&m->frames[1])},
				      {ok ? "200" : "400", 3}, {ok ? "OK" : "not this executor's secret", ok ? 2 : 26},
				      {"", 0}, {"", 0}};
		for (int i = 0; i < 6; i++)
			if (zmq_send(c->zap, reply[i].data, reply[i].size, i < 5 ? ZMQ_SNDMORE : 0) < 0)
				break;
	}
}

/* Receives from the ZAP or monitor socket until it is empty, handing each message to
 * handle. Such a socket is polled by its ZMQ_FD, which signals new commands only: a
 * drain must end on EAGAIN. A message dropped (too many frames) is gone, so it goes on;
 * any other failure leaves the socket to the next turn (side_unarmed). */
static void drain_side(pmp_controller *c, void *socket, size_t max_parts, void (*handle)(pmp_controller *, pmp_msg *))
{
	for (;;) {
		pmp_msg *m = pmp_msg_recv(socket, max_parts, ZMQ_DONTWAIT);
		if (m) {
			handle(c, m);
			pmp_msg_free(m);
		} else if (errno != EMSGSIZE) {
			if (errno != EAGAIN)
				c->side_unarmed = true;
			return;
		}
	}
}

/* A disconnection reported by the router's monitor. */
static void monitor_event(pmp_controller *c, pmp_msg *m)
{
	if (m->n >= 1 && zmq_msg_size(&m->frames[0]) >= 6) {
		const uint8_t *ev = zmq_msg_data(&m->frames[0]);
		uint16_t event;
		uint32_t fd;
		memcpy(&event, ev, sizeof(event));
		memcpy(&fd, ev + 2, sizeof(fd));
		if (event == ZMQ_EVENT_DISCONNECTED)
			handle_disconnect(c, (int)fd);
	}
}

/* ---------- the I/O thread's turns ---------- */

/* Long-lived workers still to start: they count as expected ones for the prefetch. */
static size_t spawns_pending(const pmp_controller *c)
{
	size_t n = 0;
	for (const struct spawn_request *r = c->spawns; r; r = r->next)
		n += (size_t)r->n;
	return n;
}

/* Starts the requested workers, cfg.max_starting cores' worth at a time: those left
 * start in a later turn, when one of the starting ones has connected or exited. Four
 * Python workers starting together on two CPUs each took twice as long to connect as
 * one alone (47 vs 26 ms), which is what the first task waited for. */
static void take_spawn_requests(pmp_controller *c)
{
	struct spawn_request *r;
	/* The table walk only when something waits to start: this runs every turn. */
	int starting = c->spawns && c->cfg.max_starting > 0 ? pmp_workers_starting_cores(&c->workers) : 0;
	while ((r = c->spawns)) {
		while (r->n > 0 && want_long_lived(c)) {
			if (c->cfg.max_starting > 0 && starting > 0 && starting + r->spec->cores > c->cfg.max_starting)
				return;
			if (start_worker(c, r->spec, false))
				starting += r->spec->cores;
			r->n--;
		}
		c->spawns = r->next;
		pmp_spec_unref(r->spec);
		free(r);
	}
}

/* The worker that the head of the queue goes to. Tasks of a kind known to be short
 * (hold of them run within PMP_HOLD_BUDGET_US) go in runs: to the worker being filled
 * while it holds fewer than hold (and limit), whatever its window (pmp_wk_takes_run),
 * else to the next one picked, which is filled from then on. Other tasks go one each in
 * turn, fewest first. With 128 workers on 2 cores, a turn sent about 100 no-op tasks, one
 * to each worker, and each worker woke (and its answer woke the controller) once a task;
 * in runs, the executor ran about twice as many tasks a second (the README has the
 * numbers). */
static struct pmp_wk *pick_worker(pmp_controller *c, size_t limit, size_t hold, struct pmp_pick_cursor *cursor)
{
	if (c->block_q.head->suspect) /* runs alone: on a worker that holds nothing */
		return pmp_workers_pick_next(&c->workers, 1, cursor);
	if (hold > 1) {
		struct pmp_wk *w = pmp_workers_get(&c->workers, c->filling);
		if (pmp_wk_takes_run(w, hold < limit ? hold : limit))
			return w;
	}
	struct pmp_wk *w = pmp_workers_pick_next(&c->workers, limit, cursor);
	if (w && hold > 1)
		c->filling = w->id;
	return w;
}

static void dispatch_long_lived(pmp_controller *c)
{
	/* The table is walked once per turn (and per level of prefetch), not per task:
	 * with 128 workers a per-task scan cost 3,500 instructions a task (callgrind). */
	size_t ready = pmp_workers_ready(&c->workers);
	size_t expected = c->block_q.len && ready ? pmp_workers_expected(&c->workers) + spawns_pending(c) : 0;
	struct pmp_pick_cursor cursor = PMP_PICK_CURSOR_INIT;
	while (c->block_q.len && ready) {
		size_t hold = pmp_durations_hold(&c->durations, c->block_q.head->kind);
		size_t limit = pmp_workers_limit(c->block_q.len, expected,
						 c->cfg.prefetch ? (size_t)c->cfg.prefetch : PMP_WINDOW_MAX, hold);
		struct pmp_wk *w = pick_worker(c, limit, hold, &cursor);
		if (!w)
			break;
		struct pmp_task *t = pmp_taskq_pop(&c->block_q);
		t->worker = w->id;
		pmp_wk_take(w, t);
		w->full = w->inflight.len >= w->window;
		send_task(c, w, t);
		if (w->state != PMP_W_READY) { /* its send failed: it is stopping */
			ready--;
			expected--;
		}
	}
}

static void dispatch_per_task(pmp_controller *c)
{
	while (c->pertask_q.head && !c->broken) {
		struct pmp_task *t = c->pertask_q.head;
		int cores = t->spec->cores;
		if (cores > c->capacity) {
			char text[TEXT_MAX];
			snprintf(text, sizeof(text), "pmp: task %llu needs %d cores but the executor has %d: "
				 "ask for fewer cores or a larger executor", (unsigned long long)t->id, cores, c->capacity);
			pmp_taskq_pop(&c->pertask_q);
			fail_task(c, t, PMP_EVENT_TASK_FAILED, -1, 0, text);
			continue;
		}
		if (c->used_cores + cores > c->capacity)
			break; /* wait for a per-task worker to exit */
		struct pmp_wk *w = start_worker(c, t->spec, true);
		if (!w)
			break; /* the controller gave up: give_up() failed the queued tasks */
		pmp_taskq_remove(&c->pertask_q, t); /* not pop: a failed fork server requeues at the front */
		t->worker = w->id;
		pmp_wk_take(w, t);
	}
}

static double seconds_until(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(t->tv_sec - now.tv_sec) + (double)(t->tv_nsec - now.tv_nsec) / 1e9;
}

static bool busy(pmp_controller *c)
{
	if (c->block_q.len || c->pertask_q.len)
		return true;
	for (size_t i = 0; i < c->workers.cap; i++)
		if (c->workers.slots[i] && c->workers.slots[i]->inflight.len)
			return true;
	return false;
}

/* Once stopping and idle: ask workers to exit, then make them. True when all are gone. */
static bool shutdown_turn(pmp_controller *c)
{
	if (!c->stopping || busy(c))
		return false;
	if (!c->shutdown_sent) {
		c->shutdown_sent = true;
		pmp_deadline_in(&c->deadline, c->cfg.shutdown_grace);
		/* Connected workers are told to exit; those still starting are told when
		 * they connect (worker_ready), so that a launcher like srun ends cleanly. */
		for (size_t i = 0; i < c->workers.cap; i++) {
			struct pmp_wk *w = c->workers.slots[i];
			if (w && w->state == PMP_W_READY) {
				send_to(c, w->id, PMP_MSG_SHUTDOWN, 0, 0, NULL);
				w->state = PMP_W_STOPPING;
			}
		}
	} else if (c->signalled < 2 && seconds_until(&c->deadline) <= 0) {
		/* Past the grace period: SIGTERM (srun forwards it and ends the step), then,
		 * a grace period later, SIGKILL. To the process group: mpiexec's ranks too. */
		int sig = c->signalled++ == 0 ? SIGTERM : SIGKILL;
		for (size_t i = 0; i < c->workers.cap; i++) {
			struct pmp_wk *w = c->workers.slots[i];
			if (w && w->pid > 0)
				kill(-w->pid, sig);
			else if (w && !w->forking) /* not ours to signal: stop waiting for it */
				external_gone(c, w, "did not disconnect in time");
		}
		c->deadline.tv_sec += (time_t)c->cfg.shutdown_grace;
	}
	return c->workers.live == 0;
}

/* timeout (ms, -1 for none) shortened so that the wait ends at t. */
static long timeout_until(long timeout, const struct timespec *t)
{
	double left = seconds_until(t);
	long ms = left > 0 ? (long)(left * 1000) + 1 : 0;
	return timeout < 0 || ms < timeout ? ms : timeout;
}

/* A worker's process ended. A worker that answers and exits at once (every per-task
 * worker does) can be seen to exit before its last results have passed through
 * ZeroMQ's I/O thread into the socket: while it holds tasks, give them RESULT_LAG_MS
 * to arrive before they count as lost (wait_for_work ends the wait). */
static void process_ended(pmp_controller *c, struct pmp_wk *w)
{
	if (w->state == PMP_W_STARTING || !w->inflight.len) {
		worker_exited(c, w);
		return;
	}
	w->exit_seen = true;
	w->disconnected = false; /* its exit, not its connection, tells what happened */
	w->state = PMP_W_STOPPING; /* no new tasks for it */
	lag_deadline(&w->lost_at);
}

/* The watched workers whose processes ended (epfd is readable). */
static void take_exits(pmp_controller *c)
{
	struct epoll_event evs[64];
	int n;
	do {
		n = epoll_wait(c->epfd, evs, 64, 0);
		for (int i = 0; i < n; i++) {
			struct pmp_wk *w = pmp_workers_get(&c->workers, (int64_t)evs[i].data.u64);
			if (w && w->watched && !w->exit_seen)
				process_ended(c, w);
		}
	} while (n == 64);
}

/* Waits for something to do (at most max_ms, -1 for no limit) and does it; a thread that
 * waits for the result of task *awaited receives no further than that. -1 with errno
 * when zmq_poll failed (EINTR: a signal came to a waiting caller thread). */
static int wait_for_work(pmp_controller *c, long max_ms, const uint64_t *awaited)
{
	size_t n = 5 + c->workers.live + MAX_FORKSERVERS + c->nstrays, k = 5, nfs = 0;
	struct pmp_forkserver *owing[MAX_FORKSERVERS];
	long timeout = max_ms;

	if (n > c->itemcap) {
		zmq_pollitem_t *items = realloc(c->items, n * sizeof(*items));
		if (items)
			c->items = items;
		struct pmp_wk **owners = realloc(c->owners, n * sizeof(*owners));
		if (owners)
			c->owners = owners;
		if (!items || !owners) {
			/* Out of memory: wait on the socket alone for a moment, then try again. */
			zmq_pollitem_t one = {c->router, 0, ZMQ_POLLIN, 0};
			return zmq_poll(&one, 1, max_ms >= 0 && max_ms < 100 ? max_ms : 100) < 0 ? -1 : 0;
		}
		c->itemcap = n;
	}
	zmq_pollitem_t *items = c->items;
	struct pmp_wk **owners = c->owners;
	items[0] = (zmq_pollitem_t){c->router, 0, ZMQ_POLLIN, 0};
	items[1] = (zmq_pollitem_t){NULL, c->wakefd, ZMQ_POLLIN, 0};
	/* The ZAP and monitor sockets by their ZMQ_FDs, as plain descriptors: zmq_poll asks a
	 * socket item for its ZMQ_EVENTS twice a wait, a poll() and a getpid() each: 8 of a
	 * round trip's 62 system calls (benchmarks/perf/rt_syscalls.sh), 1-4% of its time
	 * (benchmarks/perf/rt_ab.py, paired with the build before: 0.96-0.99), for sockets
	 * that speak only when a worker connects or is lost. Such a descriptor signals new
	 * commands only: each drain ends on EAGAIN, or the next turn drains again. */
	items[2] = (zmq_pollitem_t){NULL, c->zap_fd, ZMQ_POLLIN, 0};
	items[3] = (zmq_pollitem_t){NULL, c->monitor_fd, ZMQ_POLLIN, 0};
	items[4] = (zmq_pollitem_t){NULL, c->epfd, ZMQ_POLLIN, 0}; /* -1: poll() skips it */
	bool unarmed = c->side_unarmed;
	if (unarmed)
		timeout = timeout < 0 || timeout > SIDE_RETRY_MS ? SIDE_RETRY_MS : timeout;
	for (size_t i = 0; i < c->workers.cap; i++) {
		struct pmp_wk *w = c->workers.slots[i];
		if (w && (w->exit_seen || w->disconnected))
			timeout = timeout_until(timeout, &w->lost_at);
		if (w && (w->exit_seen || w->watched)) {
			/* its pidfd stays readable: not polled again; or epfd polls it */
		} else if (w && w->pidfd >= 0) {
			owners[k] = w;
			items[k++] = (zmq_pollitem_t){NULL, w->pidfd, ZMQ_POLLIN, 0};
		}
	}
	size_t first_fs = k;
	for (struct pmp_forkserver *fs = c->forkservers; fs && nfs < MAX_FORKSERVERS; fs = fs->next) {
		if (fs->owed) {
			owing[nfs++] = fs;
			items[k++] = (zmq_pollitem_t){NULL, fs->sock, ZMQ_POLLIN, 0};
			timeout = timeout_until(timeout, &fs->deadline);
		}
	}
	size_t first_stray = k, nstrays = c->nstrays;
	for (size_t i = 0; i < nstrays; i++)
		items[k++] = (zmq_pollitem_t){NULL, c->strays[i].pidfd, ZMQ_POLLIN, 0};
	if (c->shutdown_sent && c->signalled < 2)
		timeout = timeout_until(timeout, &c->deadline);
	if (zmq_poll(items, (int)k, timeout) < 0)
		return -1;
	reap_ended_strays(c, items + first_stray, nstrays);
	if (items[1].revents & ZMQ_POLLIN) {
		uint64_t count;
		if (read(c->wakefd, &count, sizeof(count)) < 0)
			count = 0; /* EAGAIN: another turn took it */
	}
	c->side_unarmed = false;
	if (unarmed || (items[2].revents & ZMQ_POLLIN))
		drain_side(c, c->zap, 16, zap_reply);
	pthread_mutex_lock(&c->lock);
	/* Fork answers before messages: a forked worker's hello may follow its answer closely. */
	for (size_t i = 0; i < nfs; i++) {
		if (items[first_fs + i].revents & ZMQ_POLLIN)
			take_fork_answers(c, owing[i]);
		if (owing[i]->owed && seconds_until(&owing[i]->deadline) <= 0) {
			pmp_forkserver_stop(owing[i], true); /* hung: its workers start without it */
			restart_forks(c, owing[i]);
		}
	}
	for (int i = 0; i < RECV_BATCH; i++) {
		pmp_msg *m = pmp_msg_recv(c->router, PMP_RESULT_PARTS_MAX + 1, ZMQ_DONTWAIT);
		if (!m) {
			if (errno == EAGAIN || errno == ETERM || errno == EINTR)
				break;
			continue; /* too many frames or out of memory: dropped */
		}
		handle_message(c, m);
		pmp_msg_free(m);
		/* A waiting thread stops at its result: the receive that would find the
		 * socket empty costs a round trip two system calls, and zmq_poll asks the
		 * socket for what is left before it ever sleeps. */
		if (awaited && !pmp_taskindex_find(&c->index, *awaited))
			break;
	}
	if (unarmed || (items[3].revents & ZMQ_POLLIN))
		drain_side(c, c->monitor, 4, monitor_event);
	for (size_t i = 5; i < first_fs; i++)
		if (items[i].revents & ZMQ_POLLIN)
			process_ended(c, owners[i]);
	if (items[4].revents & ZMQ_POLLIN)
		take_exits(c);
	/* Ended workers whose results are all in, or that we waited for long enough. The
	 * table is read afresh each time: a replacement may grow it. */
	for (size_t i = 0; i < c->workers.cap; i++) {
		struct pmp_wk *w = c->workers.slots[i];
		if (w && w->exit_seen && (!w->inflight.len || seconds_until(&w->lost_at) <= 0))
			worker_exited(c, w);
		else if (w && w->disconnected && (!w->inflight.len || seconds_until(&w->lost_at) <= 0))
			connection_lost(c, w);
	}
	pthread_mutex_unlock(&c->lock);
	return 0;
}

/* What every turn does before it waits (under the lock): send tasks, start workers.
 * Tasks go to the workers ready for them first: a start blocks this thread for the
 * child's exec, and the new Python competes for the CPUs with the task just sent. With
 * 4 workers, the first result came 0.93x as late as with the starts first (local; 0.95x
 * on the local Slurm cluster: benchmarks/perf/first_result_ab.py). */
static void start_and_dispatch(pmp_controller *c)
{
	dispatch_long_lived(c);
	take_spawn_requests(c);
	dispatch_per_task(c);
}

/* The I/O thread waits (under the lock) until the turns are its own: the runner it lent
 * them to has let them rest past lent_until, or shutdown began. Each of its wake-ups costs
 * a round trip as much as a hand-off, so it does not wait to be told of each lend: it
 * checks back when the lend it saw ends, and while the waits keep coming back by then, the
 * lend doubles, up to IO_LEND_GROWTH times io_lend_us. While a thread runs the turns (a
 * wait of any length) it sleeps until that thread's wait ends. */
static void take_turns_back(pmp_controller *c)
{
	while (c->runner != RUN_IO) {
		if (c->runner == RUN_LENT && (c->stopping || seconds_until(&c->lent_until) <= 0)) {
			c->runner = RUN_IO;
			c->lend_us = c->cfg.io_lend_us;
			return;
		}
		if (c->runner == RUN_CALLER) {
			c->io_parked = true;
			pthread_cond_wait(&c->runner_cond, &c->lock);
			c->io_parked = false;
		} else if (pthread_cond_timedwait(&c->runner_cond, &c->lock, &c->lent_until) == ETIMEDOUT
			   && !c->stopping
			   && (c->runner == RUN_CALLER || seconds_until(&c->lent_until) > 0)
			   && (long long)c->lend_us * 2 <= (long long)c->cfg.io_lend_us * IO_LEND_GROWTH) {
			c->lend_us *= 2;
		}
	}
}

/* Under the lock: the turns go to nobody for lend_us (none when shutting down); whoever
 * waits for them without a deadline hears it. */
static void lend_turns(pmp_controller *c)
{
	c->runner = RUN_LENT;
	pmp_deadline_in(&c->lent_until, c->stopping ? 0 : c->lend_us / 1e6);
	if (c->io_parked || c->handoff_waiters)
		pthread_cond_broadcast(&c->runner_cond);
}

/* Under the lock: turns lent to nobody go back to the I/O thread at once. */
static void end_lend(pmp_controller *c)
{
	if (c->runner == RUN_LENT) {
		c->lent_until = (struct timespec){0, 0};
		pthread_cond_broadcast(&c->runner_cond);
	}
}

static void *io_main(void *arg)
{
	pmp_controller *c = arg;
	sigset_t all;

	/* Signals are for the application's threads, not this one. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	/* Named, so that top -H, perf and /proc/PID/task tell it from the caller's threads
	 * (it would inherit "python3"). */
	pthread_setname_np(pthread_self(), "pmp-io");
	for (;;) {
		pthread_mutex_lock(&c->lock);
		take_turns_back(c);
		start_and_dispatch(c);
		bool done = shutdown_turn(c);
		pthread_mutex_unlock(&c->lock);
		flush_events(c);
		if (done) {
			stop_forkservers(c); /* the workers are gone: their servers go too */
			reap_strays(c);
			break;
		}
		pthread_mutex_lock(&c->lock);
		/* A thread waits for its result: it runs the turns from here, the events of
		 * this one delivered (the next caller's wait would not see them otherwise). */
		bool lend = c->handoff_waiters > 0 && !c->stopping;
		if (lend)
			lend_turns(c);
		pthread_mutex_unlock(&c->lock);
		if (!lend)
			wait_for_work(c, -1, NULL);
	}
	return NULL;
}

/* ---------- API ---------- */

static void wake(pmp_controller *c)
{
	uint64_t one = 1;
	if (write(c->wakefd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, so the runner will wake anyway */
	}
}

/* Under the lock: whoever runs the turns takes one soon. Turns lent to nobody go back to
 * the I/O thread at once. */
static void poke(pmp_controller *c)
{
	if (c->runner == RUN_LENT)
		end_lend(c);
	else
		wake(c);
}

void pmp_controller_reclaim_io(pmp_controller *c)
{
	pthread_mutex_lock(&c->lock);
	end_lend(c);
	pthread_mutex_unlock(&c->lock);
}

/* This controller's secret, the ZAP handler that checks it, and the monitor that
 * reports lost connections: all before the router listens. */
static int secure(pmp_controller *c, const char *endpoint, const char *secret, char *err, size_t errlen)
{
	char addr[64];
	/* AUTO is the token, over TCP too: measured on 64 MB arrays over TCP, CURVE's
	 * encryption cut pmp's throughput 3-5x (0.08-0.21 GB/s against 0.31-0.45 GB/s with
	 * the token); the token authenticates every connection just as well, and a network
	 * other users can read is a site's cue for PMP_SECURITY=curve. */
	int mechanism = c->cfg.security == PMP_SECURITY_CURVE ? PMP_SECURITY_CURVE : PMP_SECURITY_TOKEN;
	(void)endpoint;
	if (secret) {
		/* A controller needs CURVE's server secret key, which a worker's secret lacks: a
		 * secret made elsewhere can only be a token. */
		if (pmp_keys_parse(secret, &c->keys) < 0 || c->keys.mechanism != PMP_MECH_TOKEN)
			return pmp_err(err, errlen, "pmp: the controller's given secret is not a pmp token (\"token:\" "
				       "and 40 Z85 characters): leave PMP_SECRET as the SPANK plugin set it");
		snprintf(c->keys.env, sizeof(c->keys.env), "token:%s", c->keys.token);
	} else if (pmp_keys_make(&c->keys, mechanism == PMP_SECURITY_CURVE ? PMP_MECH_CURVE : PMP_MECH_TOKEN, err,
				 errlen) < 0) {
		return -1;
	}
	snprintf(addr, sizeof(addr), "inproc://pmp-monitor-%p", (void *)c);
	if (!(c->zap = zmq_socket(c->zctx, ZMQ_REP)) || zmq_bind(c->zap, "inproc://zeromq.zap.01") < 0 ||
	    pmp_secure_server(c->router, &c->keys) < 0 ||
	    zmq_socket_monitor(c->router, addr, ZMQ_EVENT_DISCONNECTED) < 0 ||
	    !(c->monitor = zmq_socket(c->zctx, ZMQ_PAIR)) || zmq_connect(c->monitor, addr) < 0 ||
	    zmq_getsockopt(c->zap, ZMQ_FD, &c->zap_fd, &(size_t){sizeof(c->zap_fd)}) < 0 ||
	    zmq_getsockopt(c->monitor, ZMQ_FD, &c->monitor_fd, &(size_t){sizeof(c->monitor_fd)}) < 0)
		return pmp_err(err, errlen, "pmp: cannot secure the controller's socket (%s)", zmq_strerror(errno));
	c->side_unarmed = true; /* the first turn drains them: commands may be in already */
	return 0;
}

static int bind_router(pmp_controller *c, const char *endpoint, char *err, size_t errlen)
{
	char bind[ENDPOINT_MAX];
	size_t len = sizeof(c->endpoint);

	if (endpoint) {
		snprintf(bind, sizeof(bind), "%s", endpoint);
	} else {
		snprintf(c->ipc_dir, sizeof(c->ipc_dir), "/tmp/pmp-XXXXXX");
		if (!mkdtemp(c->ipc_dir)) { /* mkdtemp makes it 0700: only this user connects */
			c->ipc_dir[0] = '\0';
			return pmp_err(err, errlen, "pmp: cannot create a private directory in /tmp (%s): "
				       "free space in /tmp or pass an endpoint", strerror(errno));
		}
		snprintf(bind, sizeof(bind), "ipc://%s/controller", c->ipc_dir);
	}
	if (zmq_bind(c->router, bind) < 0)
		return pmp_err(err, errlen, "pmp: cannot listen on %s (%s): choose another address or port",
			       bind, zmq_strerror(errno));
	if (zmq_getsockopt(c->router, ZMQ_LAST_ENDPOINT, c->endpoint, &len) < 0)
		return pmp_err(err, errlen, "pmp: cannot read the bound endpoint (%s)", zmq_strerror(errno));
	return 0;
}

pmp_controller *pmp_controller_start(const pmp_controller_config *cfg, pmp_event_fn fn, void *ctx,
				     char *err, size_t errlen)
{
	pmp_controller *c = calloc(1, sizeof(*c));
	int on = 1, zero = 0, linger = 200, heartbeat = 1000, heartbeat_timeout = 5000;

	if (!c) {
		pmp_err(err, errlen, "pmp: out of memory");
		return NULL;
	}
	if (cfg)
		c->cfg = *cfg;
	c->filling = -1;
	if (c->cfg.prefetch < 0)
		c->cfg.prefetch = 0; /* adaptive (pmp_window_after) */
	if (c->cfg.shutdown_grace <= 0)
		c->cfg.shutdown_grace = 10;
	if (c->cfg.max_start_failures <= 0)
		c->cfg.max_start_failures = 3;
	if (c->cfg.io_lend_us == 0)
		c->cfg.io_lend_us = 1000;
	if (c->cfg.fork_timeout <= 0)
		c->cfg.fork_timeout = 30;
	c->lend_us = c->cfg.io_lend_us;
	c->cfg.bind = NULL; /* the caller's strings: used once, below */
	c->cfg.secret = NULL;
	c->on_events = fn;
	c->ctx = ctx;
	c->capacity = INT_MAX;
	c->wakefd = -1;
	c->epfd = epoll_create1(EPOLL_CLOEXEC); /* -1 (EMFILE, ENOMEM): pidfds are polled one by one */
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->join_lock, NULL);
	pthread_condattr_t attr; /* deadlines are CLOCK_MONOTONIC's, like every other here */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->runner_cond, &attr);
	pthread_condattr_destroy(&attr);

	c->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (c->wakefd < 0) {
		pmp_err(err, errlen, "pmp: cannot create an eventfd (%s)", strerror(errno));
		goto fail;
	}
	if (!(c->zctx = zmq_ctx_new()) || !(c->router = zmq_socket(c->zctx, ZMQ_ROUTER))) {
		pmp_err(err, errlen, "pmp: cannot create a ZeroMQ socket (%s)", zmq_strerror(errno));
		goto fail;
	}
	zmq_setsockopt(c->router, ZMQ_ROUTER_MANDATORY, &on, sizeof(on));
	zmq_setsockopt(c->router, ZMQ_SNDHWM, &zero, sizeof(zero));
	zmq_setsockopt(c->router, ZMQ_RCVHWM, &zero, sizeof(zero));
	zmq_setsockopt(c->router, ZMQ_LINGER, &linger, sizeof(linger));
	/* ZMTP heartbeats: a worker whose node died silently is disconnected within seconds,
	 * and its disconnection is its loss (monitor_event). */
	zmq_setsockopt(c->router, ZMQ_HEARTBEAT_IVL, &heartbeat, sizeof(heartbeat));
	zmq_setsockopt(c->router, ZMQ_HEARTBEAT_TIMEOUT, &heartbeat_timeout, sizeof(heartbeat_timeout));
	if (c->cfg.max_message_size > 0)
		zmq_setsockopt(c->router, ZMQ_MAXMSGSIZE, &c->cfg.max_message_size, sizeof(c->cfg.max_message_size));
	if (secure(c, cfg ? cfg->bind : NULL, cfg ? cfg->secret : NULL, err, errlen) < 0)
		goto fail;
	if (bind_router(c, cfg ? cfg->bind : NULL, err, errlen) < 0)
		goto fail;
	if (pthread_create(&c->io, NULL, io_main, c) != 0) {
		pmp_err(err, errlen, "pmp: cannot start the I/O thread: raise the thread limit");
		goto fail;
	}
	c->io_started = true;
	return c;
fail:
	pmp_controller_free(c);
	return NULL;
}

const char *pmp_controller_endpoint(const pmp_controller *c)
{
	return c->endpoint;
}

const char *pmp_controller_secret(const pmp_controller *c)
{
	return c->keys.env;
}

static int refuse(pmp_controller *c, char *err, size_t errlen)
{
	if (c->broken)
		return pmp_err(err, errlen, "%s", c->broken_text);
	return pmp_err(err, errlen, "pmp: cannot schedule new tasks after shutdown: create a new executor");
}

int pmp_controller_add_workers(pmp_controller *c, pmp_spec *spec, int n, char *err, size_t errlen)
{
	pthread_mutex_lock(&c->lock);
	if (c->stopping || c->broken) {
		int rc = refuse(c, err, errlen);
		pthread_mutex_unlock(&c->lock);
		return rc;
	}
	bool added = add_spawn_request(c, spec, n);
	if (added)
		poke(c);
	pthread_mutex_unlock(&c->lock);
	if (!added)
		return pmp_err(err, errlen, "pmp: out of memory");
	return 0;
}

int32_t pmp_controller_expect_workers(pmp_controller *c, int n, char *err, size_t errlen)
{
	int32_t first = -1;
	pthread_mutex_lock(&c->lock);
	if (c->stopping || c->broken) {
		refuse(c, err, errlen);
		pthread_mutex_unlock(&c->lock);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		struct pmp_wk *w = pmp_workers_add(&c->workers, NULL, false);
		if (!w) {
			pthread_mutex_unlock(&c->lock);
			return pmp_err(err, errlen, "pmp: out of memory");
		}
		if (first < 0)
			first = w->id;
	}
	pthread_mutex_unlock(&c->lock);
	return first;
}

static pmp_msg *msg_from_frames(const pmp_frame *frames, size_t n)
{
	pmp_msg *m = malloc(sizeof(*m) + (n ? n : 1) * sizeof(zmq_msg_t));
	if (!m)
		return NULL;
	m->n = 0;
	for (size_t i = 0; i < n; i++) {
		if (zmq_msg_init_size(&m->frames[i], frames[i].size) < 0) {
			pmp_msg_free(m);
			return NULL;
		}
		m->n++;
		if (frames[i].size)
			memcpy(zmq_msg_data(&m->frames[i]), frames[i].data, frames[i].size);
	}
	return m;
}

int pmp_controller_set_init(pmp_controller *c, const pmp_frame *frames, size_t n, char *err, size_t errlen)
{
	pmp_msg *m = msg_from_frames(frames, n);
	if (!m)
		return pmp_err(err, errlen, "pmp: out of memory");
	pthread_mutex_lock(&c->lock);
	pmp_msg_free(c->init);
	c->init = m;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

void pmp_controller_set_capacity(pmp_controller *c, int cores)
{
	pthread_mutex_lock(&c->lock);
	c->capacity = cores;
	poke(c);
	pthread_mutex_unlock(&c->lock);
}

int pmp_controller_submit(pmp_controller *c, uint64_t task, pmp_spec *spec, const pmp_frame *frames,
			  size_t n, char *err, size_t errlen)
{
	return pmp_controller_submit_kind(c, task, 0, spec, frames, n, err, errlen);
}

int pmp_controller_submit_kind(pmp_controller *c, uint64_t task, uint32_t kind, pmp_spec *spec,
			       const pmp_frame *frames, size_t n, char *err, size_t errlen)
{
	struct pmp_task *t = calloc(1, sizeof(*t));
	if (!t || n > PMP_MAX_FRAMES || !(t->payload = msg_from_frames(frames, n))) {
		free(t);
		return pmp_err(err, errlen, n > PMP_MAX_FRAMES ? "pmp: a task has more than %d buffers: "
				"send fewer, larger objects" : "pmp: out of memory queuing a task (%d)", PMP_MAX_FRAMES);
	}
	t->id = task;
	t->kind = kind;
	t->worker = -1;
	t->spec = pmp_spec_ref(spec);
	for (size_t i = 0; i < n; i++)
		t->bytes += frames[i].size;

	pthread_mutex_lock(&c->lock);
	if (c->stopping || c->broken) {
		int rc = refuse(c, err, errlen);
		pthread_mutex_unlock(&c->lock);
		free_task(t);
		return rc;
	}
	if (pmp_taskindex_add(&c->index, t) < 0) {
		int e = errno;
		pthread_mutex_unlock(&c->lock);
		free_task(t);
		return pmp_err(err, errlen, e == EEXIST ? "pmp: task id %llu is in use: use a new id"
				: "pmp: out of memory queuing task %llu", (unsigned long long)task);
	}
	struct pmp_taskq *q = queue_of(c, t);
	bool was_empty = q->len == 0;
	pmp_taskq_push(q, t);
	if (c->runner == RUN_LENT && !t->spec) {
		/* Nobody runs the turns, and the socket is free: the task goes to a worker
		 * now, from this thread (the next wait receives its result). */
		dispatch_long_lived(c);
	} else if (c->runner == RUN_LENT || was_empty) {
		/* The runner dispatches all it can before it sleeps: only a queue that was
		 * empty can have a worker idle for this task. A per-task worker starts in the
		 * I/O thread, not in the caller's. */
		poke(c);
	}
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int pmp_controller_cancel(pmp_controller *c, uint64_t task)
{
	int removed = 0;
	bool wake_io = false;
	pthread_mutex_lock(&c->lock);
	struct pmp_task *t = pmp_taskindex_find(&c->index, task);
	if (t && t->worker < 0) {
		/* The I/O thread is woken when this may let it act: a per-task task may have
		 * held back the smaller ones behind it, and a shutdown may have been waiting for
		 * the queues to empty. A long-lived worker's task frees no worker: cancelling
		 * 100,000 queued tasks woke the I/O thread 100,000 times. */
		wake_io = t->spec != NULL;
		pmp_taskq_remove(queue_of(c, t), t);
		pmp_taskindex_remove(&c->index, task);
		free_task(t);
		removed = 1;
		wake_io = wake_io || (c->stopping && !c->block_q.len && !c->pertask_q.len);
		if (wake_io)
			poke(c);
	}
	pthread_mutex_unlock(&c->lock);
	return removed;
}

size_t pmp_controller_queued(pmp_controller *c)
{
	pthread_mutex_lock(&c->lock);
	size_t n = c->block_q.len + c->pertask_q.len;
	pthread_mutex_unlock(&c->lock);
	return n;
}

int pmp_controller_task_state(pmp_controller *c, uint64_t task)
{
	pthread_mutex_lock(&c->lock);
	struct pmp_task *t = pmp_taskindex_find(&c->index, task);
	int state = !t ? 0 : t->worker < 0 ? 1 : 2;
	pthread_mutex_unlock(&c->lock);
	return state;
}

void pmp_controller_shutdown(pmp_controller *c)
{
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	poke(c);
	pthread_cond_broadcast(&c->runner_cond); /* waiters for the turns: wait otherwise */
	pthread_mutex_unlock(&c->lock);
}

/* The calling thread runs the turns until task's event went to the handler. */
static int run_turns_until(pmp_controller *c, uint64_t task, const struct timespec *deadline)
{
	for (;;) {
		pthread_mutex_lock(&c->lock);
		bool stop = c->stopping; /* the shutdown's turns are the I/O thread's */
		if (!stop)
			start_and_dispatch(c);
		bool done = !pmp_taskindex_find(&c->index, task);
		pthread_mutex_unlock(&c->lock);
		flush_events(c);
		if (done)
			return PMP_WAIT_DONE;
		if (stop)
			return PMP_WAIT_ELSEWHERE;
		long ms = -1;
		if (deadline) {
			if (seconds_until(deadline) <= 0)
				return PMP_WAIT_TIMEOUT;
			ms = timeout_until(-1, deadline);
		}
		if (wait_for_work(c, ms, &task) < 0 && errno == EINTR)
			return -1;
	}
}

int pmp_controller_wait(pmp_controller *c, uint64_t task, double timeout)
{
	struct timespec deadline;
	if (timeout >= 0)
		pmp_deadline_in(&deadline, timeout);
	pthread_mutex_lock(&c->lock);
	if (c->cfg.io_lend_us < 0 || (c->io_started && pthread_equal(pthread_self(), c->io))) {
		pthread_mutex_unlock(&c->lock);
		return PMP_WAIT_ELSEWHERE;
	}
	/* The I/O thread runs the turns: it lends them once it has delivered its events.
	 * One hand-off now, none for this thread's next tasks while it keeps them. */
	if (c->runner == RUN_IO && !c->stopping && pmp_taskindex_find(&c->index, task)) {
		c->handoff_waiters++;
		wake(c);
		while (c->runner == RUN_IO && !c->stopping && pmp_taskindex_find(&c->index, task)) {
			if (timeout < 0)
				pthread_cond_wait(&c->runner_cond, &c->lock);
			else if (pthread_cond_timedwait(&c->runner_cond, &c->lock, &deadline) == ETIMEDOUT)
				break;
		}
		c->handoff_waiters--;
	}
	int rc = !pmp_taskindex_find(&c->index, task) ? PMP_WAIT_DONE
		: c->runner == RUN_LENT && !c->stopping ? -2 /* ours to run */
		: c->runner == RUN_IO && timeout >= 0 && seconds_until(&deadline) <= 0 ? PMP_WAIT_TIMEOUT
		: PMP_WAIT_ELSEWHERE;
	if (rc != -2) {
		pthread_mutex_unlock(&c->lock);
		return rc;
	}
	c->runner = RUN_CALLER;
	pthread_mutex_unlock(&c->lock);

	rc = run_turns_until(c, task, timeout >= 0 ? &deadline : NULL);
	int saved = errno;
	pthread_mutex_lock(&c->lock);
	lend_turns(c);
	pthread_mutex_unlock(&c->lock);
	errno = saved;
	return rc;
}

void pmp_controller_join(pmp_controller *c)
{
	pthread_mutex_lock(&c->join_lock);
	if (c->io_started && !c->joined) {
		pthread_join(c->io, NULL);
		c->joined = true;
	}
	pthread_mutex_unlock(&c->join_lock);
}

void pmp_controller_free(pmp_controller *c)
{
	if (!c)
		return;
	if (c->io_started) {
		pmp_controller_shutdown(c);
		pmp_controller_join(c);
	}
	struct pmp_task *t;
	while ((t = pmp_taskq_pop(&c->block_q)))
		free_task(t);
	while ((t = pmp_taskq_pop(&c->pertask_q)))
		free_task(t);
	pmp_taskindex_free(&c->index);
	for (size_t i = 0; i < c->workers.cap; i++) {
		struct pmp_wk *w = c->workers.slots[i];
		while (w && (t = pmp_wk_drop_first(w)))
			free_task(t);
	}
	pmp_workers_free(&c->workers);
	stop_forkservers(c);
	reap_strays(c);
	free(c->dropped);
	while (c->spawns) {
		struct spawn_request *r = c->spawns;
		c->spawns = r->next;
		pmp_spec_unref(r->spec);
		free(r);
	}
	pmp_msg_free(c->init);
	if (c->router) {
		zmq_socket_monitor(c->router, NULL, 0);
		zmq_close(c->router);
	}
	if (c->monitor)
		zmq_close(c->monitor);
	if (c->zap)
		zmq_close(c->zap);
	if (c->zctx)
		zmq_ctx_term(c->zctx);
	if (c->ipc_dir[0]) {
		char path[128];
		snprintf(path, sizeof(path), "%s/controller", c->ipc_dir);
		unlink(path);
		rmdir(c->ipc_dir);
	}
	if (c->wakefd >= 0)
		close(c->wakefd);
	if (c->epfd >= 0)
		close(c->epfd);
	free(c->events);
	free(c->texts);
	free(c->items);
	free(c->owners);
	pthread_cond_destroy(&c->runner_cond);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->join_lock);
	explicit_bzero(&c->keys, sizeof(c->keys));
	free(c);
}
