/* The worker side: one DEALER socket to the controller, and a monitor on it so that
 * a worker waiting for work learns at once when its controller is gone. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "errors.h"
#include "msg.h"
#include "pmp.h"
#include "security.h"
#include "workers.h"

#define EXIT_CONTROLLER_GONE 70
#define EXIT_REFUSED 71

struct pmp_worker {
	void *zctx, *sock, *monitor;
	int32_t id;
	pthread_t watchdog;
	bool watching;
	bool answered; /* a result went out: waiting for work from now on is running out of it */
	struct timespec task_start; /* when the task it answers next came: its run time goes
				       with the result, and the controller learns from it */
	pmp_msg *next;     /* the message after the task being answered, received to see
			      whether its result may wait (see pmp_worker_send) */
	bool none_next;    /* the look for it found nothing */
	bool blocked;      /* it waited for the task it answers next: after an answer, it ran
			      out of work (PMP_FLAG_WAITED); either way it answers at once */
	int held;          /* results sent into the message still open (PMP_FLAG_MORE) */
	struct timespec held_since; /* when the first of them was */
	int closing; /* atomic: set before a deliberate close, so its disconnection is expected */
};

/* The watchdog thread owns the monitor socket and blocks on it: the connection coming up,
 * then going down (the controller died, or its node did: ZMTP heartbeats tell), or the
 * handshake refused (not this executor's secret). A worker without its controller has
 * nobody to answer: it exits at once, also in the middle of a task. */
static void *watchdog(void *arg)
{
	pmp_worker *w = arg;
	bool connected = false;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_setname_np(pthread_self(), "pmp-watchdog"); /* not the task's "python3" */
	for (;;) {
		zmq_msg_t ev, addr;
		zmq_msg_init(&ev);
		zmq_msg_init(&addr);
		int rc = zmq_msg_recv(&ev, w->monitor, 0);
		if (rc >= 0 && zmq_msg_more(&ev))
			zmq_msg_recv(&addr, w->monitor, 0);
		uint16_t event = 0;
		if (rc >= 2)
			memcpy(&event, zmq_msg_data(&ev), sizeof(event));
		zmq_msg_close(&ev);
		zmq_msg_close(&addr);
		if (rc < 0 || event == ZMQ_EVENT_MONITOR_STOPPED || __atomic_load_n(&w->closing, __ATOMIC_ACQUIRE))
			break;
		if (event == ZMQ_EVENT_CONNECTED) {
			connected = true;
		} else if (event == ZMQ_EVENT_DISCONNECTED && connected) {
			dprintf(STDERR_FILENO, "pmp: worker %d: the controller is gone; exiting\n", (int)w->id);
			_exit(EXIT_CONTROLLER_GONE);
		} else if (event & (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
				    ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)) {
			dprintf(STDERR_FILENO, "pmp: worker %d: the controller refused this worker (its PMP_SECRET is "
				"not this executor's): workers are started by their executor\n", (int)w->id);
			_exit(EXIT_REFUSED);
		}
	}
	zmq_close(w->monitor);
	w->monitor = NULL;
	return NULL;
}

static int open_monitor(pmp_worker *w, char *err, size_t errlen)
{
	char addr[64];
	snprintf(addr, sizeof(addr), "inproc://pmp-monitor-%p", (void *)w);
	if (zmq_socket_monitor(w->sock, addr, ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED |
					       ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
					       ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_MONITOR_STOPPED) < 0 ||
	    !(w->monitor = zmq_socket(w->zctx, ZMQ_PAIR)) || zmq_connect(w->monitor, addr) < 0)
		return pmp_err(err, errlen, "pmp: cannot watch the connection to the controller (%s)",
			       zmq_strerror(errno));
	if (pthread_create(&w->watchdog, NULL, watchdog, w) != 0)
		return pmp_err(err, errlen, "pmp: cannot start the worker's watchdog thread: raise the thread limit");
	w->watching = true;
	return 0;
}

/* With PMP_SCHED_BATCH=1 (pmp's backends set it for workers that share CPUs: local ones,
 * oversubscribed Slurm ones), a worker's thread and those it starts from here on
 * (ZeroMQ's I/O thread, the watchdog, the task's own) run under SCHED_BATCH: the same
 * share of the CPU, but a worker woken by a message does not preempt the thread that woke
 * it midway, the controller or the script submitting. In turns with the default policy
 * (benchmarks/perf/sched_ab.py; the README has the numbers) no-op tasks ran 6-10% more a
 * second; a worker bound to one CPU that its controller also used (the local cluster's
 * layout) took 6-7% longer a round trip, so bound workers keep the default. A policy
 * other than the default one (chrt, a site's) is kept. */
static void schedule_as_batch(void)
{
	const char *batch = getenv("PMP_SCHED_BATCH");
	struct sched_param none = {0};
	if (!batch || strcmp(batch, "1") != 0 || sched_getscheduler(0) != SCHED_OTHER)
		return;
	(void)sched_setscheduler(0, SCHED_BATCH, &none); /* refused (a seccomp filter): as before */
}

pmp_worker *pmp_worker_connect(const char *endpoint, int32_t id, char *err, size_t errlen)
{
	pmp_worker *w = calloc(1, sizeof(*w));
	char info[256], host[128] = "?";
	uint8_t rid[PMP_ROUTING_ID_SIZE];
	struct pmp_keys keys;
	int zero = 0, linger = 5000, ivl = 1000, timeout = 5000;

	if (!w) {
		pmp_err(err, errlen, "pmp: out of memory");
		return NULL;
	}
	if (!endpoint)
		endpoint = getenv("PMP_ENDPOINT");
	if (id < 0) {
		const char *s = getenv("PMP_WORKER_ID");
		char *end = NULL;
		long v = s ? strtol(s, &end, 10) : -1;
		id = (s && *s && !*end && v >= 0 && v <= INT32_MAX) ? (int32_t)v : -1;
	}
	if (!endpoint || !*endpoint || id < 0) {
		pmp_err(err, errlen, "pmp: PMP_ENDPOINT and PMP_WORKER_ID are not set: a pmp worker is "
			"started by a pmp executor, not by hand");
		goto fail;
	}
	if (pmp_keys_parse(getenv("PMP_SECRET"), &keys) < 0) {
		pmp_err(err, errlen, "pmp: PMP_SECRET is missing or malformed: a pmp worker is started by its "
			"executor, which gives it the secret");
		goto fail;
	}
	w->id = id;
	schedule_as_batch(); /* before ZeroMQ starts its threads, which inherit it */
	if (!(w->zctx = zmq_ctx_new()) || !(w->sock = zmq_socket(w->zctx, ZMQ_DEALER))) {
		pmp_err(err, errlen, "pmp: cannot create a ZeroMQ socket (%s)", zmq_strerror(errno));
		goto fail;
	}
	pmp_routing_id(id, rid);
	zmq_setsockopt(w->sock, ZMQ_ROUTING_ID, rid, sizeof(rid));
	zmq_setsockopt(w->sock, ZMQ_SNDHWM, &zero, sizeof(zero));
	zmq_setsockopt(w->sock, ZMQ_RCVHWM, &zero, sizeof(zero));
	/* Bounded: a last result is flushed, but a dead controller does not hold us. */
	zmq_setsockopt(w->sock, ZMQ_LINGER, &linger, sizeof(linger));
	/* ZMTP heartbeats: a silent peer (a node that died) drops the connection. */
	zmq_setsockopt(w->sock, ZMQ_HEARTBEAT_IVL, &ivl, sizeof(ivl));
	zmq_setsockopt(w->sock, ZMQ_HEARTBEAT_TIMEOUT, &timeout, sizeof(timeout));
	if (pmp_secure_client(w->sock, &keys) < 0) {
		pmp_err(err, errlen, "pmp: cannot use PMP_SECRET (%s)", zmq_strerror(errno));
		goto fail;
	}
	explicit_bzero(&keys, sizeof(keys));
	unsetenv("PMP_SECRET"); /* the task's code has no business with it */
	if (open_monitor(w, err, errlen) < 0)
		goto fail;
	if (zmq_connect(w->sock, endpoint) < 0) {
		pmp_err(err, errlen, "pmp: cannot connect to the controller at %s (%s)", endpoint, zmq_strerror(errno));
		goto fail;
	}
	gethostname(host, sizeof(host) - 1);
	const char *node = getenv("SLURMD_NODENAME");
	snprintf(info, sizeof(info), "pid %d on %s", (int)getpid(), node && *node ? node : host);
	struct pmp_header h = {PMP_MSG_READY, 0, (uint64_t)id, 0};
	pmp_frame f = {info, strlen(info)};
	if (pmp_send(w->sock, NULL, &h, &f, 1) < 0) {
		pmp_err(err, errlen, "pmp: cannot say ready to the controller (%s)", zmq_strerror(errno));
		goto fail;
	}
	return w;
fail:
	explicit_bzero(&keys, sizeof(keys));
	pmp_worker_close(w);
	return NULL;
}

/* Ends the open message without another result (the controller stops at a frame that
 * is not a header). */
static void end_held(pmp_worker *w)
{
	if (w->held)
		zmq_send(w->sock, "", 0, 0);
	w->held = 0;
}

int pmp_worker_recv(pmp_worker *w, pmp_request *req, char *err, size_t errlen)
{
	memset(req, 0, sizeof(*req));
	bool waited = false;
	for (;;) {
		/* At once if work is here (or was, when the result before was sent); else the
		 * worker ran out of it, and blocks (the watchdog ends the process if the
		 * controller goes away). */
		pmp_msg *m = w->next;
		if (!m && w->none_next)
			errno = EAGAIN;
		else if (!m)
			m = pmp_msg_recv(w->sock, PMP_MAX_FRAMES + 1, ZMQ_DONTWAIT);
		w->next = NULL;
		w->none_next = false;
		if (!m && errno == EAGAIN) {
			end_held(w); /* nothing more is coming to answer with it */
			waited = true;
			m = pmp_msg_recv(w->sock, PMP_MAX_FRAMES + 1, 0);
		}
		if (!m) {
			if (errno == EINTR)
				return pmp_err(err, errlen, "pmp: interrupted");
			if (errno == EMSGSIZE)
				continue;
			return pmp_err(err, errlen, "pmp: receiving work failed (%s)", zmq_strerror(errno));
		}
		struct pmp_header h;
		pmp_frame head = pmp_msg_frame(m, 0);
		if (pmp_header_decode(head.data, head.size, &h) < 0 || !pmp_type_to_worker(h.type)) {
			pmp_msg_free(m);
			continue; /* not pmp: ignore */
		}
		req->task = h.id;
		req->last = (h.flags & PMP_FLAG_LAST) != 0;
		if (h.type == PMP_MSG_TASK) {
			w->blocked = waited;
			clock_gettime(CLOCK_MONOTONIC, &w->task_start);
		}
		req->kind = h.type == PMP_MSG_TASK ? PMP_REQUEST_TASK
			    : h.type == PMP_MSG_INIT ? PMP_REQUEST_INIT : PMP_REQUEST_SHUTDOWN;
		if (req->kind != PMP_REQUEST_SHUTDOWN && !(req->msg = pmp_msg_split(m, 1))) {
			pmp_msg_free(m);
			return pmp_err(err, errlen, "pmp: out of memory receiving work");
		}
		pmp_msg_free(m);
		return 0;
	}
}

/* Frames this large are sent from the caller's memory, not copied into ZeroMQ's: a
 * 64 MB result was a 64 MB copy (and its page faults) in the worker. */
#define ZERO_COPY_MIN (64 * 1024)

/* The large frames of one send that ZeroMQ still holds. */
struct lent {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int pending;
};

static void lent_back(void *data, void *hint)
{
	struct lent *l = hint;
	(void)data;
	pthread_mutex_lock(&l->lock);
	l->pending--;
	pthread_cond_signal(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

/* frames[i], copied when small, lent when large (counted in l). */
static int send_frame(void *sock, const pmp_frame *f, int flags, struct lent *l)
{
	if (f->size < ZERO_COPY_MIN)
		return zmq_send(sock, f->data, f->size, flags) < 0 ? -1 : 0;
	zmq_msg_t m;
	if (zmq_msg_init_data(&m, (void *)f->data, f->size, lent_back, l) < 0)
		return -1;
	pthread_mutex_lock(&l->lock);
	l->pending++;
	pthread_mutex_unlock(&l->lock);
	if (zmq_msg_send(&m, sock, flags) < 0) {
		zmq_msg_close(&m); /* gives it back */
		return -1;
	}
	return 0;
}

/* Microseconds from start to now. */
static int64_t us_since(const struct timespec *start, const struct timespec *now)
{
	return (int64_t)(now->tv_sec - start->tv_sec) * 1000000 + (now->tv_nsec - start->tv_nsec) / 1000;
}

/* How long a worker holds results back, at most, from the first of them (plus the run of
 * the short task it is then running): the delay it adds to a result. */
#define HOLD_US 1000

/* Whether the result of the task just run may wait in an open message for the next one
 * (PMP_FLAG_MORE): the next task is here already and known to be short, and the open
 * message is not yet old or long. n, size: the result's frames. A worker that waited for
 * the task it answers is not fed faster than it runs: it answers at once, without the
 * look for a next task (a system call when there is none, which a round trip of one task
 * at a time would wait for). */
static bool may_hold(pmp_worker *w, size_t n, size_t size, const struct timespec *now)
{
	if (w->blocked || n != 1 || size >= ZERO_COPY_MIN || w->held >= PMP_BATCH_MAX - 1)
		return false;
	if (w->held && us_since(&w->held_since, now) >= HOLD_US)
		return false;
	if (!w->next) {
		w->next = pmp_msg_recv(w->sock, PMP_MAX_FRAMES + 1, ZMQ_DONTWAIT);
		w->none_next = !w->next && errno == EAGAIN;
	}
	struct pmp_header h;
	pmp_frame head = pmp_msg_frame(w->next, 0);
	return w->next && pmp_header_decode(head.data, head.size, &h) == 0 && h.type == PMP_MSG_TASK &&
	       (h.flags & PMP_FLAG_SHORT);
}

int pmp_worker_send(pmp_worker *w, uint64_t task, enum pmp_status status, const pmp_frame *frames,
		    size_t n, char *err, size_t errlen)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t ran = us_since(&w->task_start, &now);
	bool waited = w->blocked && w->answered; /* ran out of work after an answer */
	uint8_t flags = (status == PMP_ERROR ? PMP_FLAG_ERROR : 0) | (waited ? PMP_FLAG_WAITED : 0);
	if (n > PMP_MAX_FRAMES)
		return pmp_err(err, errlen, "pmp: a result has more than %d buffers: return fewer, larger "
			       "objects", PMP_MAX_FRAMES);
	bool hold = may_hold(w, n, n ? frames[0].size : 0, &now);
	struct pmp_header h = {PMP_MSG_RESULT, flags | (hold ? PMP_FLAG_MORE : 0), task,
			       ran < 0 ? 0 : ran > PMP_RUN_US_MAX ? PMP_RUN_US_MAX : (uint16_t)ran};
	uint8_t head[PMP_HEADER_SIZE];
	struct lent l = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
	int rc = 0, e = 0;

	pmp_header_encode(&h, head);
	w->answered = true;
	w->blocked = false;
	if (hold && !w->held++)
		w->held_since = now;
	else if (!hold)
		w->held = 0;
	if (zmq_send(w->sock, head, sizeof(head), n || hold ? ZMQ_SNDMORE : 0) < 0)
		rc = -1;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = send_frame(w->sock, &frames[i], i + 1 < n || hold ? ZMQ_SNDMORE : 0, &l);
	e = errno;
	/* The caller's memory is lent until ZeroMQ has written it out (or dropped it, with
	 * the connection): the frames are only valid during this call. A message cut short
	 * after a lent frame would hold it forever: it is ended with an empty frame (the
	 * controller then fails to read that result). */
	pthread_mutex_lock(&l.lock);
	bool cut = rc < 0 && l.pending > 0;
	pthread_mutex_unlock(&l.lock);
	if (cut)
		zmq_send(w->sock, "", 0, 0);
	pthread_mutex_lock(&l.lock);
	while (l.pending > 0)
		pthread_cond_wait(&l.cond, &l.lock);
	pthread_mutex_unlock(&l.lock);
	pthread_mutex_destroy(&l.lock);
	pthread_cond_destroy(&l.cond);
	if (rc < 0)
		return pmp_err(err, errlen, "pmp: sending a result failed (%s)", zmq_strerror(e));
	return 0;
}

void pmp_worker_close(pmp_worker *w)
{
	if (!w)
		return;
	__atomic_store_n(&w->closing, 1, __ATOMIC_RELEASE);
	if (w->sock)
		end_held(w);
	pmp_msg_free(w->next);
	if (w->sock)
		zmq_socket_monitor(w->sock, NULL, 0); /* the watchdog sees MONITOR_STOPPED and ends */
	if (w->watching)
		pthread_join(w->watchdog, NULL);
	else if (w->monitor)
		zmq_close(w->monitor);
	if (w->sock)
		zmq_close(w->sock);
	if (w->zctx)
		zmq_ctx_term(w->zctx);
	free(w);
}
