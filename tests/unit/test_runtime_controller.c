/* The controller end to end: real ZeroMQ, real worker processes (echo_worker.c), events
 * recorded by the callback under a mutex. Every wait is bounded, so that a bug fails a
 * test instead of hanging it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#include "pmp.h"
#include "assert_text.h"
#include "workers.h" /* PMP_WINDOW_START and _MAX */
#include "durations.h" /* PMP_KIND_KNOWN */

#ifndef ECHO_WORKER
#error "ECHO_WORKER (the path of echo_worker) must be defined"
#endif

extern char **environ;

#define ANY_TASK_EVENT (-1)

/* ---------- recording events ---------- */

struct rec {
	enum pmp_event_kind kind;
	uint64_t task;
	int32_t worker;
	int status;
	char text[PMP_ERR_MAX];
	size_t nframes;
	char *payload; /* RESULT: its frames joined by '|' */
	pthread_t thread; /* that delivered it */
};

struct recorder {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* on CLOCK_MONOTONIC */
	struct rec *ev;
	size_t n, cap;
	bool oom;
};

static void rec_init(struct recorder *r)
{
	pthread_condattr_t a;
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&r->cv, &a);
	pthread_condattr_destroy(&a);
}

static void rec_free(struct recorder *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->ev[i].payload);
	free(r->ev);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
}

static char *join_frames(const pmp_msg *m)
{
	size_t len = 1;
	for (size_t i = 0; i < pmp_msg_count(m); i++)
		len += pmp_msg_frame(m, i).size + 1;
	char *s = malloc(len), *p = s;
	if (!s)
		return NULL;
	for (size_t i = 0; i < pmp_msg_count(m); i++) {
		pmp_frame f = pmp_msg_frame(m, i);
		if (i)
			*p++ = '|';
		if (f.size)
			memcpy(p, f.data, f.size);
		p += f.size;
	}
	*p = '\0';
	return s;
}

static void on_events(void *ctx, pmp_event *events, size_t n)
{
	struct recorder *r = ctx;
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < n; i++) {
		pmp_event *e = &events[i];
		if (r->n == r->cap) {
			size_t cap = r->cap ? r->cap * 2 : 256;
			struct rec *ev = realloc(r->ev, cap * sizeof(*ev));
			if (!ev) {
				r->oom = true;
				pmp_msg_free(e->msg);
				continue;
			}
			r->ev = ev;
			r->cap = cap;
		}
		struct rec *x = &r->ev[r->n++];
		memset(x, 0, sizeof(*x));
		x->kind = e->kind;
		x->task = e->task;
		x->worker = e->worker;
		x->status = e->status;
		x->thread = pthread_self();
		snprintf(x->text, sizeof(x->text), "%s", e->text ? e->text : "(null)");
		if (e->kind == PMP_EVENT_RESULT) {
			x->nframes = pmp_msg_count(e->msg);
			if (!(x->payload = join_frames(e->msg)))
				r->oom = true;
		} else if (e->msg) {
			r->oom = true; /* only results carry a message: flag it as a failure */
		}
		pmp_msg_free(e->msg);
	}
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static bool is_task_event(enum pmp_event_kind k)
{
	return k == PMP_EVENT_RESULT || k == PMP_EVENT_TASK_LOST || k == PMP_EVENT_TASK_FAILED;
}

/* The following read the record with its lock held. */

static size_t count_locked(const struct recorder *r, int kind)
{
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++)
		n += kind == ANY_TASK_EVENT ? is_task_event(r->ev[i].kind) : (int)r->ev[i].kind == kind;
	return n;
}

static size_t count_kind(struct recorder *r, int kind)
{
	pthread_mutex_lock(&r->mu);
	size_t n = count_locked(r, kind);
	pthread_mutex_unlock(&r->mu);
	return n;
}

/* Index of the first event about task, or -1. */
static long task_index_locked(const struct recorder *r, uint64_t task)
{
	for (size_t i = 0; i < r->n; i++)
		if (is_task_event(r->ev[i].kind) && r->ev[i].task == task)
			return (long)i;
	return -1;
}

/* Index of the first event of kind about worker, or -1. */
static long worker_index_locked(const struct recorder *r, enum pmp_event_kind kind, int32_t worker)
{
	for (size_t i = 0; i < r->n; i++)
		if (r->ev[i].kind == kind && r->ev[i].worker == worker)
			return (long)i;
	return -1;
}

/* A copy of event i (its payload stays owned by the record). */
static struct rec event_at(struct recorder *r, long i)
{
	pthread_mutex_lock(&r->mu);
	assert_true(i >= 0 && (size_t)i < r->n);
	struct rec x = r->ev[i];
	pthread_mutex_unlock(&r->mu);
	return x;
}

/* The first event of kind about worker: there must be one. */
static struct rec worker_event(struct recorder *r, enum pmp_event_kind kind, int32_t worker)
{
	pthread_mutex_lock(&r->mu);
	long i = worker_index_locked(r, kind, worker);
	pthread_mutex_unlock(&r->mu);
	if (i < 0)
		fail_msg("no event %d about worker %d", (int)kind, (int)worker);
	return event_at(r, i);
}

/* Index of the first event of kind, or -1. */
static long kind_index(struct recorder *r, enum pmp_event_kind kind)
{
	long found = -1;
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->n && found < 0; i++)
		if (r->ev[i].kind == kind)
			found = (long)i;
	pthread_mutex_unlock(&r->mu);
	return found;
}

static long task_index(struct recorder *r, uint64_t task)
{
	pthread_mutex_lock(&r->mu);
	long i = task_index_locked(r, task);
	pthread_mutex_unlock(&r->mu);
	return i;
}

/* The one event about task: there must be exactly one. */
static struct rec task_event(struct recorder *r, uint64_t task)
{
	pthread_mutex_lock(&r->mu);
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++)
		n += is_task_event(r->ev[i].kind) && r->ev[i].task == task;
	pthread_mutex_unlock(&r->mu);
	if (n != 1)
		fail_msg("task %llu has %zu events, not 1", (unsigned long long)task, n);
	return event_at(r, task_index(r, task));
}

/* ---------- bounded waits ---------- */

static int wait_seconds(void)
{
	return RUNNING_ON_VALGRIND ? 120 : 20;
}

struct want {
	int kind; /* an enum pmp_event_kind, or ANY_TASK_EVENT */
	size_t n;
	bool by_task; /* instead: an event about task */
	uint64_t task;
	int32_t worker; /* with kind: an event of kind about this worker (when >= 0) */
};

static bool satisfied(const struct recorder *r, const struct want *w)
{
	if (w->by_task)
		return task_index_locked(r, w->task) >= 0;
	if (w->worker >= 0)
		return worker_index_locked(r, (enum pmp_event_kind)w->kind, w->worker) >= 0;
	return count_locked(r, w->kind) >= w->n;
}

static void wait_for(struct recorder *r, struct want w, const char *what)
{
	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += wait_seconds();
	pthread_mutex_lock(&r->mu);
	int rc = 0;
	while (!satisfied(r, &w) && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&r->cv, &r->mu, &deadline);
	bool ok = satisfied(r, &w);
	pthread_mutex_unlock(&r->mu);
	if (!ok)
		fail_msg("timed out after %d s waiting for %s", wait_seconds(), what);
}

static void wait_count(struct recorder *r, int kind, size_t n, const char *what)
{
	wait_for(r, (struct want){.kind = kind, .n = n, .worker = -1}, what);
}

static void wait_task(struct recorder *r, uint64_t task)
{
	char what[64];
	snprintf(what, sizeof(what), "an event about task %llu", (unsigned long long)task);
	wait_for(r, (struct want){.by_task = true, .task = task, .worker = -1}, what);
}

static void wait_worker(struct recorder *r, enum pmp_event_kind kind, int32_t worker)
{
	char what[64];
	snprintf(what, sizeof(what), "event %d of worker %d", (int)kind, (int)worker);
	wait_for(r, (struct want){.kind = (int)kind, .worker = worker}, what);
}

struct joiner {
	pmp_controller *c;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
};

static void *join_main(void *arg)
{
	struct joiner *j = arg;
	pmp_controller_join(j->c);
	pthread_mutex_lock(&j->mu);
	j->done = true;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
	return NULL;
}

/* pmp_controller_join, failing the test when it does not return in time. */
static void join_within(pmp_controller *c, int seconds)
{
	/* On the heap: on a timeout the thread outlives this frame. */
	struct joiner *j = calloc(1, sizeof(*j));
	pthread_condattr_t a;
	pthread_t t;
	struct timespec deadline;
	assert_non_null(j);
	j->c = c;
	pthread_mutex_init(&j->mu, NULL);
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cv, &a);
	pthread_condattr_destroy(&a);
	assert_int_equal(pthread_create(&t, NULL, join_main, j), 0);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += seconds;
	pthread_mutex_lock(&j->mu);
	int rc = 0;
	while (!j->done && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&j->cv, &j->mu, &deadline);
	bool done = j->done;
	pthread_mutex_unlock(&j->mu);
	if (!done)
		fail_msg("pmp_controller_join did not return within %d s", seconds);
	pthread_join(t, NULL);
	pthread_cond_destroy(&j->cv);
	pthread_mutex_destroy(&j->mu);
	free(j);
}

/* ---------- helpers ---------- */

static void assert_no_children(void)
{
	errno = 0;
	pid_t p = waitpid(-1, NULL, WNOHANG);
	if (p != -1 || errno != ECHILD)
		fail_msg("a child process is left (waitpid: %d, %s)", (int)p, strerror(errno));
}

static pmp_controller *start(struct recorder *r, const char *bind, int prefetch, int max_start_failures)
{
	pmp_controller_config cfg = {.bind = bind, .prefetch = prefetch, .shutdown_grace = 5.0,
				     .max_start_failures = max_start_failures};
	char err[PMP_ERR_MAX] = "";
	pmp_controller *c = pmp_controller_start(&cfg, on_events, r, err, sizeof(err));
	if (!c)
		fail_msg("pmp_controller_start: %s", err);
	return c;
}

/* echo_worker, checking that "{worker_id}" and "{endpoint}" reach it substituted. */
static pmp_spec *echo_spec(int cores)
{
	const char *argv[] = {ECHO_WORKER, "{worker_id}", "{endpoint}", NULL};
	char err[PMP_ERR_MAX] = "";
	pmp_spec *s = pmp_spec_new(argv, (const char *const *)environ, NULL, cores, err, sizeof(err));
	if (!s)
		fail_msg("pmp_spec_new: %s", err);
	return s;
}

/* A spec of env entries added to this process's environment (NULL-terminated). */
static pmp_spec *echo_spec_with(const char *const *extra)
{
	size_t n = 0, m = 0;
	while (environ[n])
		n++;
	while (extra[m])
		m++;
	const char **env = calloc(n + m + 1, sizeof(*env));
	assert_non_null(env);
	memcpy(env, environ, n * sizeof(*env));
	memcpy(env + n, extra, m * sizeof(*env));
	const char *argv[] = {ECHO_WORKER, "{worker_id}", "{endpoint}", NULL};
	char err[PMP_ERR_MAX] = "";
	pmp_spec *spec = pmp_spec_new(argv, env, NULL, 1, err, sizeof(err));
	free(env);
	if (!spec)
		fail_msg("pmp_spec_new: %s", err);
	return spec;
}

/* A forked echo spec, var ("NAME=VALUE") added to its environment. */
static pmp_spec *forked_echo_spec(const char *var)
{
	const char *extra[] = {var, NULL};
	pmp_spec *spec = echo_spec_with(extra);
	pmp_spec_set_forked(spec, true);
	return spec;
}

static pmp_spec *spec_of(const char *const *argv, int cores)
{
	char err[PMP_ERR_MAX] = "";
	pmp_spec *s = pmp_spec_new(argv, (const char *const *)environ, NULL, cores, err, sizeof(err));
	if (!s)
		fail_msg("pmp_spec_new: %s", err);
	return s;
}

static void add_workers(pmp_controller *c, pmp_spec *spec, int n)
{
	char err[PMP_ERR_MAX] = "";
	if (pmp_controller_add_workers(c, spec, n, err, sizeof(err)) < 0)
		fail_msg("pmp_controller_add_workers: %s", err);
}

static void submit(pmp_controller *c, uint64_t task, pmp_spec *spec, const char *payload)
{
	pmp_frame f = {payload, strlen(payload)};
	char err[PMP_ERR_MAX] = "";
	if (pmp_controller_submit(c, task, spec, &f, 1, err, sizeof(err)) < 0)
		fail_msg("pmp_controller_submit(%llu): %s", (unsigned long long)task, err);
}

static void reverse_into(const char *s, char *out)
{
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i++)
		out[i] = s[n - 1 - i];
	out[n] = '\0';
}

/* The task's one event is a successful result: prefix + payload reversed. */
static struct rec expect_echo(struct recorder *r, uint64_t task, const char *prefix, const char *payload)
{
	char expect[256], rev[128];
	struct rec x = task_event(r, task);
	if (x.kind != PMP_EVENT_RESULT)
		fail_msg("task %llu: event %d (%s), not a result", (unsigned long long)task, (int)x.kind, x.text);
	assert_int_equal(x.status, PMP_OK);
	assert_int_equal(x.nframes, 1);
	reverse_into(payload, rev);
	snprintf(expect, sizeof(expect), "%s%s", prefix, rev);
	assert_string_equal(x.payload, expect);
	return x;
}

/* Shuts down, joins (bounded), checks that no worker process is left, and that a
 * submit is refused afterwards; frees. */
static void finish(pmp_controller *c)
{
	char err[PMP_ERR_MAX] = "";
	pmp_controller_shutdown(c);
	join_within(c, wait_seconds());
	assert_no_children();
	pmp_frame f = {"late", 4};
	assert_int_equal(pmp_controller_submit(c, 999999, NULL, &f, 1, err, sizeof(err)), -1);
	assert_prefix(err, "pmp: ");
	pmp_controller_free(c);
}

/* Every WORKER_EXIT in the record is a clean exit (status 0). */
static void assert_clean_exits(struct recorder *r, size_t expected)
{
	pthread_mutex_lock(&r->mu);
	size_t n = 0;
	for (size_t i = 0; i < r->n; i++) {
		if (r->ev[i].kind != PMP_EVENT_WORKER_EXIT)
			continue;
		n++;
		if (!WIFEXITED(r->ev[i].status) || WEXITSTATUS(r->ev[i].status) != 0) {
			pthread_mutex_unlock(&r->mu);
			fail_msg("worker %d did not exit cleanly: %s", (int)r->ev[i].worker, r->ev[i].text);
		}
	}
	bool oom = r->oom;
	pthread_mutex_unlock(&r->mu);
	assert_int_equal(n, expected);
	assert_false(oom);
}

/* ---------- tests ---------- */

static void many_tasks(const char *bind, const char *endpoint_prefix, size_t n)
{
	struct recorder r;
	rec_init(&r);
	pmp_controller *c = start(&r, bind, 0, 0);
	const char *ep = pmp_controller_endpoint(c);
	assert_prefix(ep, endpoint_prefix);
	assert_null(strchr(ep, '*')); /* the real port, not the wildcard */

	pmp_spec *spec = echo_spec(1);
	add_workers(c, spec, 2);
	pmp_spec_unref(spec); /* the controller holds its own reference */
	wait_count(&r, PMP_EVENT_WORKER_READY, 2, "two workers");
	for (size_t i = 1; i <= n; i++) {
		char p[32];
		snprintf(p, sizeof(p), "task-%zu", i);
		submit(c, i, NULL, p);
	}
	wait_count(&r, ANY_TASK_EVENT, n, "every result");
	bool used[2] = {false, false};
	for (size_t i = 1; i <= n; i++) {
		char p[32];
		snprintf(p, sizeof(p), "task-%zu", i);
		struct rec x = expect_echo(&r, i, "", p);
		assert_true(x.worker == 0 || x.worker == 1);
		used[x.worker] = true;
	}
	assert_true(used[0] && used[1]); /* both workers took tasks */
	assert_int_equal(pmp_controller_queued(c), 0);
	assert_int_equal(count_kind(&r, PMP_EVENT_WORKER_READY), 2);
	for (int32_t w = 0; w < 2; w++)
		assert_prefix(worker_event(&r, PMP_EVENT_WORKER_READY, w).text, "pid ");
	finish(c);
	assert_int_equal(count_kind(&r, ANY_TASK_EVENT), n); /* nothing more came */
	assert_clean_exits(&r, 2);
	rec_free(&r);
}

static void test_many_tasks_ipc(void **st)
{
	(void)st;
	many_tasks(NULL, "ipc:///tmp/pmp-", 1000);
}

static void test_many_tasks_tcp(void **st)
{
	(void)st;
	many_tasks("tcp://127.0.0.1:*", "tcp://127.0.0.1:", 250);
}

static void test_frames_and_error_status(void **st)
{
	(void)st;
	struct recorder r;
	rec_init(&r);
	pmp_controller *c = start(&r, NULL, 0, 0);
	pmp_spec *spec = echo_spec(1);
	add_workers(c, spec, 1);
	char err[PMP_ERR_MAX] = "";

	pmp_frame three[] = {{"abc", 3}, {"", 0}, {"xy", 2}};
	assert_int_equal(pmp_controller_submit(c, 1, NULL, three, 3, err, sizeof(err)), 0);
	assert_int_equal(pmp_controller_submit(c, 2, NULL, NULL, 0, err, sizeof(err)), 0);
	submit(c, 3, NULL, "error");
	/* Ids need not be small or sequential. */
	submit(c, UINT64_MAX, NULL, "max");
	submit(c, 0, NULL, "zero");
	for (uint64_t t = 1; t <= 3; t++)
		wait_task(&r, t);
	wait_task(&r, UINT64_MAX);
	wait_task(&r, 0);

	struct rec x = task_event(&r, 1);
	assert_int_equal(x.kind, PMP_EVENT_RESULT);
	assert_int_equal(x.status, PMP_OK);
	assert_int_equal(x.nframes, 3);
	assert_string_equal(x.payload, "cba||yx");
	x = task_event(&r, 2);
	assert_int_equal(x.kind, PMP_EVENT_RESULT);
	assert_int_equal(x.nframes, 0);
	x = task_event(&r, 3);
	assert_int_equal(x.kind, PMP_EVENT_RESULT);
	assert_int_equal(x.status, PMP_ERROR);
	assert_string_equal(x.payload, "boom");
	expect_echo(&r, UINT64_MAX, "", "max");
	expect_echo(&r, 0, "", "zero");

	/* More frames than a message may carry. */
	pmp_frame *many = calloc(5000, sizeof(*many));
	assert_non_null(many);
	assert_int_equal(pmp_controller_submit(c, 4, NULL, many, 5000, err, sizeof(err)), -1);
	assert_prefix(err, "pmp: ");
	free(many);
	finish(c);
	pmp_spec_unref(spec);
	rec_free(&r);
}

/* Large frames (the worker sends them from its own memory, not copied) come back whole,
 * beside small ones, task after task. */
static void test_large_frames(void **st)
{
	(void)st;
	struct recorder r;
	rec_init(&r);
	pmp_controller *c = start(&r, NULL, 0, 0);
	pmp_spec *spec = echo_spec(1);
	add_workers(c, spec, 1);
	char err[PMP_ERR_MAX] = "";
	size_t sizes[2] = {1 << 20, (64 << 10) + 1};
	char *big[2], *want = malloc(sizes[0] + sizes[1] + 8);
	assert_non_null(want);
	for (int b = 0; b < 2; b++) {
		assert_non_null(big[b] = malloc(sizes[b]));
		for (size_t i = 0; i < sizes[b]; i++)
			big[b][i] = (char)('a' + (i * 7 + (size_t)b) % 26);
	}
	/* The echo worker reverses each frame. */
	char *p = want;
	for (size_t i = 0; i < sizes[0]; i++)
		*p++ = big[0][sizes[0] - 1 - i];
	memcpy(p, "|yx|", 4);
	p += 4;
	for (size_t i = 0; i < sizes[1]; i++)
		*p++ = big[1][sizes[1] - 1 - i];
	*p = '\0';
	pmp_frame frames[] = {{big[0], sizes[0]}, {"xy", 2}, {big[1], sizes[1]}};
	for (uint64_t t = 1; t <= 4; t++)
		assert_int_equal(pmp_controller_submit(c, t, NULL, frames, 3, err, sizeof(err)), 0);
	for (uint64_t t = 1; t <= 4; t++) {
		wait_task(&r, t);
		struct rec x = task_event(&r, t);
		assert_int_equal(x.kind, PMP_EVENT_RESULT);
		assert_int_equal(x.status, PMP_OK);
		assert_int_equal(x.nframes, 3);
		assert_true(strcmp(x.payload, want) == 0);
	}
	finish(c);
	pmp_spec_unref(spec);
	rec_free(&r);
	free(big[0]);
	free(big[1]);
	free(want);
}

/* Tasks submitted one at a time keep the queue shallow: each goes to the idle worker, not
 * behind the sleeper, with the default prefetch. */
static void test_slow_task_does_not_hold_back_others(void **st)
{
	(void)st;
	struct recorder r;
	rec_init(&r);
	pmp_controller *c = start(&r, NULL, 0, 0);
	pmp_spec *spec = echo_spec(1);
	add_workers(c, spec, 2);
	wait_count(&r, PMP_EVENT_WORKER_READY, 2, "two workers");

	submit(c, 100, NULL, "sleep");
	for (uint64_t t = 1; t <= 6; t++) {
		char p[16];
		snprintf(p, sizeof(p), "quick-%d", (int)t);
		submit(c, t, NULL, p);
		wait_task(&r, t);
	}
	wait_task(&r, 100);
	struct rec sleeper = expect_echo(&r, 100, "", "sleep");
	long last_quick = -1;
	for (uint64_t t = 1; t <= 6; t++) {
		char p[16];
		snprintf(p, sizeof(p), "quick-%d", (int)t);
		struct rec x = expect_echo(&r, t, "", p);
		assert_int_not_equal(x.worker, sleeper.worker);
		long i = task_index(&r, t);
		last_quick = i > last_quick ? i : last_quick;
	}
	assert_true(last_quick < task_index(&r, 100)); /* all before the sleeper's result */
	finish(c);
	pmp_spec_unref(spec);
	rec_free(&r);
}

/* A burst of tasks with prefetch 1: the sleeper's worker gets none of them. */
static void test_slow_task_burst_prefetch_one(void **st)
{
	(void)st;
	struct recorder r;
	rec_init(&r);
	pmp_controller *c = start(&r, NULL, 1, 0);
	pmp_spec *spec = echo_spec(1);
	add_workers(c, spec, 2);
	wait_count(&r, PMP_EVENT_WORKER_READY, 2, "two workers");

	submit(c, 100, NULL, "sleep");
	for (uint64_t t = 1; t <= 20; t++)
		submit(c, t, NULL, "quick");
	wait_count(&r, ANY_TASK_EVENT, 21, "every result");
	struct rec sleeper = expect_echo(&r, 100, "", "sleep");
	for (uint64_t t = 1; t <= 20; t++) {
		struct rec x = expect_echo(&r, t, "", "quick");
		assert_int_not_equal(x.worker, sleeper.worker);
		assert_true(task_index(&r, t) < task_index(&r, 100));
	}
	finish(c);
	pmp_spec_unref(spec);
	rec_free(&r);
}

/* Waits (bounded) until nothing is queued. */
static void wait_dequeued(pmp_controller *c)
{
	for (int i = 0; i < wait_seconds() * 100 && pmp_controller_queued(c); i++)
		usleep(10 * 1000);
	assert_int_equal(pmp_controller_queued(c), 0);
}

static void test_cancel(void **st)
{
	(void)st;
	struct recorder r;
	rec_init(&r);
	pmp_controller *c = start(&r, NULL, 0, 0);

	/* No worker yet: the tasks stay queued. */
	submit(c, 1, NULL, "one");
	submit(c, 2, NULL, "two");
	submit(c, 3, NULL, "three");
	submit(c, 4, NULL, "four");
	assert_int_equal(pmp_controller_queued(c), 4);
	assert_int_equal(pmp_controller_cancel(c, 2), 1); /* middle */
	assert_int_equal(pmp_controller_queued(c), 3);
	assert_int_equal(pmp_controller_cancel(c, 2), 0); /* already cancelled */
	assert_int_equal(pmp_controller_cancel(c, 4), 1); /* tail */
	assert_int_equal(pmp_controller_cancel(c, 99), 0); /* unknown */
	assert_int_equal(pmp_controller_queued(c), 2);
	/* A cancelled id is free again. */
	submit(c, 4, NULL, "four again");

	pmp_spec *spec = echo_spec(1);
	add_workers(c, spec, 1);
	wait_task(&r, 1);
	wait_task(&r, 3);
	wait_task(&r, 4);
	expect_echo(&r, 1, "", "one");
	expect_echo(&r, 3, "", "three");
	expect_echo(&r, 4, "", "four again");
	assert_int_equal(pmp_controller_cancel(c, 1), 0); /* finished */

	/* Running (sent, not yet answered): not cancelled, its result still comes. */
	submit(c, 5, NULL, "sleep");
	wait_dequeued(c);
	assert_int_equal(pmp_controller_cancel(c, 5), 0);
	wait_task(&r, 5);
	expect_echo(&r, 5, "", "sleep");

	/* A per-task task waiting for capacity is queued, so it can be cancelled. */
	pmp_controller_set_capacity(c, 1);
	submit(c, 6, spec, "sleep");
	submit(c, 7, spec, "never");
	assert_int_equal(pmp_controller_cancel(c, 7), 1);
	wait_task(&r, 6);
	expect_echo(&r, 6, "", "sleep");

	finish(c);
	assert_true(task_index(&r, 2) < 0); /* no event ever came for the cancelled ones */
	assert_true(task_index(&r, 7) < 0);
	assert_int_equal(count_kind(&r, ANY_TASK_EVENT), 5);
	pmp_spec_unref(spec);
	rec_free(&r);
}

/* Cancelling the last queued task lets a pending shutdown finish. */
static void test_cancel_unblocks_shutdown(void **st)
{
	(void)st;
	struct recorder r;
	rec_init(&r);
	pmp_controller *c = start(&r, NULL, 0, 0);
	submit(c, 1, NULL, "orphan"); /* no worker will ever run it */
	pmp_controller_shutdown(c);
	usleep(50 * 1000);
	assert_int_equal(pmp_controller_cancel(c, 1), 1);
	join_within(c, wait_seconds());
	assert_no_children();
	pmp_controller_free(c);
	assert_int_equal(count_kind(&r, ANY_TASK_EVENT), 0);
	rec_free(&r);
}

/* With fail_epoll set, a controller made then cannot have an epoll set for its workers'
 * pidfds (as at EMFILE): each turn polls every pidfd itself (-Wl,--wrap=epoll_create1). */
static bool fail_epoll;
int __real_epoll_create1(int flags);
int __wrap_epoll_create1(int flags);
int __wrap_epoll_create1(int flags)
{
	if (fail_epoll) {
		errno = EMFILE;
		return -1;
	}
	return __real_epoll_create1(flags);
}

static void crash_is_reported_and_replaced(void)
{
	struct recorder r;
	rec_init(&r);
	pmp_controller *c = start(&r, NULL, 0, 0);
	pmp_spec *spec = echo_spec(1);
	add_workers(c, spec, 1);

	submit(c, 1, NULL, "crash");
	wait_task(&r, 1);
	struct rec x = task_event(&r, 1);
	assert_int_equal(x.kind, PMP_EVENT_TASK_LOST);
	assert_int_equal(x.worker, 0);
	assert_true(WIFSIGNALED(x.status));
	assert_int_equal(WTERMSIG(x.status), SIGABRT);
	assert_prefix(x.text, "pmp: ");
	assert_contains(x.text, "worker 0");
	assert_contains(x.text, "was killed by signal 6 (SIGABRT)");
	assert_contains(x.text, "task 1");
	wait_worker(&r, PMP_EVENT_WORKER_EXIT, 0);
	struct rec exit0 = worker_event(&r, PMP_EVENT_WORKER_EXIT, 0);
	assert_true(WIFSIGNALED(exit0.status));
	assert_contains(exit0.text, "SIGABRT");

	/* The replacement (worker 1) runs what comes next. */
	wait_worker(&r, PMP_EVENT_WORKER_READY, 1);
	for (uint64_t t = 2; t <= 11; t++)
		submit(c, t, NULL, "after");
	for (uint64_t t = 2; t <= 11; t++) {
		wait_task(&r, t);
		assert_int_equal(expect_echo(&r, t, "", "after").worker, 1);
	}

	/* A worker that exits mid-task: its exit status is in the text. */
	submit(c, 20, NULL, "exit");
	wait_task(&r, 20);
	x = task_event(&r, 20);
	assert_int_equal(x.kind, PMP_EVENT_TASK_LOST);
	assert_int_equal(x.worker, 1);
	assert_true(WIFEXITED(x.status));
	assert_int_equal(WEXITSTATUS(x.status), 3);
	assert_contains(x.text, "exited with status 3");
	assert_contains(x.text, "task 20");
	wait_worker(&r, PMP_EVENT_WORKER_READY, 2);
	submit(c, 21, NULL, "still fine");
	wait_task(&r, 21);
	assert_int_equal(expect_echo(&r, 21, "", "still fine").worker, 2);
	finish(c);
	pmp_spec_unref(spec);
	rec_free(&r);
}

static void test_worker_crash_is_reported_and_replaced(void **st)
{
	(void)st;
	crash_is_reported_and_replaced();
}

/* Without the epoll set, the workers' exits are seen all the same. */
static void test_worker_crash_is_reported_and_replaced_without_epoll(void **st)
{
	(void)st;
	fail_epoll = true;
	crash_is_reported_and_replaced();
}

static int restore_epoll(void **st) /* also when the test failed half-way */
{
	(void)st;
	fail_epoll = false;
	return 0;
}

/* A worker that dies while the controller shuts down is still replaced while tasks are
 * queued for long-lived workers: they must finish, not hang the shutdown. */
static void test_crash_during_shutdown(void **st)
{
	(void)st;
	struct recorder r;
	rec_init(&r);
	pmp_controller *c = start(&r, NULL, 1, 0); /* prefetch 1: the others stay queued */
	pmp_spec *spec = echo_spec(1);
	add_workers(c, spec, 1);
	wait_count(&r, PMP_EVENT_WORKER_READY, 1, "the worker");
	submit(c, 1, NULL, "slowcrash");
	for (uint64_t t = 2; t <= 4; t++)
		submit(c, t, NULL, "queued");
	pmp_controller_shutdown(c);
	for (uint64_t t = 1; t <= 4; t++)
		wait_task(&r, t);
	assert_int_equal(task_event(&r, 1).kind, PMP_EVENT_TASK_LOST);
	for (uint64_t t = 2; t <= 4; t++)
		expect_echo(&r, t, "", "queued");
	finish(c);
	pmp_spec_unref(spec);
	rec_free(&r);
}

static void test_init_reaches_every_worker_first(void **st)
{
	(void)st;
	struct recorder r;
	rec_init(&r);
	pmp_controller *c = start(&r, NULL, 0, 0);
	char err[PMP_ERR_MAX] = "";
	pmp_frame init[] = {{"in", 2}, {"it:", 3}};
	assert_int_equal(pmp_controller_set_init(c, init, 2, err, sizeof(err)), 0);
	pmp_spec *spec = echo_spec(1);
	add_workers(c, spec, 2);
	wait_count(&r, PMP_EVENT_WORKER_READY, 2, "two workers");

	/* Two sleepers first: the second goes to the worker without one, so both workers
	 * answer some of these. */
	bool used[3] = {false, false, false};
	submit(c, 1, NULL, "sleep");
	submit(c, 2, NULL, "sleep");
	for (uint64_t t = 3; t <= 40; t++)
		submit(c, t, NULL, "payload");
	for (uint64_t t = 1; t <= 40; t++) {
		wait_task(&r, t);
		int32_t w = expect_echo(&r, t, "init:", t <= 2 ? "sleep" : "payload").worker;
		assert_true(w >= 0 && w < 2);
		used[w] = true;
	}
	assert_true(used[0] && used[1]);

	/* A replacement worker gets the init too. */
	submit(c, 50, NULL, "crash");
	wait_task(&r, 50);
	assert_int_equal(task_event(&r, 50).kind, PMP_EVENT_TASK_LOST);
	wait_worker(&r, PMP_EVENT_WORKER_READY, 2);
	submit(c, 51, NULL, "sleep");
	submit(c, 52, NULL, "sleep");
	for (uint64_t t = 53; t <= 90; t++)
		submit(c, t, NULL, "again");
	for (uint64_t t = 51; t <= 90; t++) {
		wait_task(&r, t);
		int32_t w = expect_echo(&r, t, "init:", t <= 52 ? "sleep" : "again").worker;
		assert_true(w >= 0 && w < 3);
		used[w] = true;
	}
	assert_true(used[2]);
	finish(c);
	pmp_spec_unref(spec);
	rec_free(&r);
}

/* The most workers connected at once, from the order of READY and EXIT events. */
static size_t max_concurrent_workers(struct recorder *r)
{
	size_t live = 0, most = 0;
	pthread_mutex_lock(&r->mu);
	for (size_t i = 0; i < r->n; i++) {
		if (r->ev[i].kind == PMP_EVENT_WORKER_READY)
			live++;
		else if (r->ev[i].kind == PMP_EVENT_WORKER_EXIT && live > 0)
			live--;
		most = live > most ? live : most;
	}
	pthread_mutex_unlock(&r->mu);
	return most;
}

static void test_per_task_workers(void **st)
{
	(void)st;
	struct recorder r;
	rec_init(&r);
	pmp_controller *c = start(&r, NULL, 0, 0);
	pmp_spec *spec = echo_spec(1);
	pmp_controller_set_capacity(c, 1);
	submit(c, 1, spec, "p1");
	submit(c, 2, spec, "p2");
	submit(c, 3, spec, "p3");
	wait_count(&r, ANY_TASK_EVENT, 3, "three results");
	wait_count(&r, PMP_EVENT_WORKER_EXIT, 3, "three worker exits");
	int32_t seen[3];
	for (uint64_t t = 1; t <= 3; t++) {
		char p[8];
		snprintf(p, sizeof(p), "p%d", (int)t);
		struct rec x = expect_echo(&r, t, "", p);
		seen[t - 1] = x.worker;
		/* Its worker connected before the result, and exited (cleanly: it was told this
		 * was its last task) after it. */
		pthread_mutex_lock(&r.mu);
		long ready = worker_index_locked(&r, PMP_EVENT_WORKER_READY, x.worker);
		long result = task_index_locked(&r, t);
		long ex = worker_index_locked(&r, PMP_EVENT_WORKER_EXIT, x.worker);
		pthread_mutex_unlock(&r.mu);
		assert_true(ready >= 0 && ready < result && result < ex);
		struct rec e = event_at(&r, ex);
		assert_true(WIFEXITED(e.status) && WEXITSTATUS(e.status) == 0);
	}
	assert_true(seen[0] != seen[1] && seen[1] != seen[2] && seen[0] != seen[2]);
	assert_int_equal(max_concurrent_workers(&r), 1);
	assert_int_equal(count_kind(&r, PMP_EVENT_WORKER_READY), 3);
	finish(c);
	pmp_spec_unref(spec);
	rec_free(&r);
}

static void test_per_task_capacity_is_used_and_respected(void **st)
{
	(void)st;
	struct recorder r;
	rec_init(&r);
	pmp_controller *c = start(&r, NULL, 0, 0);
	pmp_spec *one = echo_spec(1), *two = echo_spec(2), *three = echo_spec(3);
	pmp_controller_set_capacity(c, 2);
	/* 1-core sleepers: two run at once, never three. */
	for (uint64_t t = 1; t <= 4; t++)
		submit(c, t, one, "sleep");
	/* Too big for the executor at all: fails at once. */
	submit(c, 10, three, "big");
	wait_task(&r, 10);
	struct rec x = task_event(&r, 10);
	assert_int_equal(x.kind, PMP_EVENT_TASK_FAILED);
	assert_prefix(x.text, "pmp: ");
	assert_contains(x.text, "needs 3 cores");
	wait_count(&r, ANY_TASK_EVENT, 5, "every result");
	wait_count(&r, PMP_EVENT_WORKER_EXIT, 4, "every worker exit");
	for (uint64_t t = 1; t <= 4; t++)
		expect_echo(&r, t, "", "sleep");
	assert_int_equal(max_concurrent_workers(&r), 2);

	/* A 2-core task takes the whole capacity: alone. */
	size_t before = count_kind(&r, PMP_EVENT_WORKER_EXIT);
	submit(c, 20, two, "sleep");
	submit(c, 21, one, "quick");
	wait_task(&r, 20);
	wait_task(&r, 21);
	wait_count(&r, PMP_EVENT_WORKER_EXIT, before + 2, "two more exits");
	expect_echo(&r, 20, "", "sleep");
	expect_echo(&r, 21, "", "quick");
	assert_true(task_index(&r, 20) < task_index(&r, 21)); /* 21 waited for 20's worker */
	finish(c);
	pmp_spec_unref(one);
	pmp_spec_unref(two);
	pmp_spec_unref(three);
	rec_free(&r);
}

/* Many short per-task workers: each answers and exits at once, and its result must
 * count even when the controller notices the exit first. */
static void test_per_task_many(void **st)
{
	(void)st;
	struct recorder r;
	rec_init(&r);
	pmp_controller *c = start(&r, NULL, 0, 0);
	pmp_spec *spec = echo_spec(1);
	pmp_controller_set_capacity(c, 4);
	for (uint64_t t = 1; t <= 100; t++)
		submit(c, t, spec, "short-lived");
	wait_count(&r, ANY_TASK_EVENT, 100, "every result");
	for (uint64_t t = 1; t <= 100; t++)
		expect_echo(&r, t, "", "short-lived");
	assert_true(max_concurrent_workers(&r) <= 4);
	finish(c);
	pmp_spec_unref(spec);
	rec_free(&r);
}

/* A forked spec's first worker is started, and the rest are forked by one fork server of
 * its command: this process's children all the same, whose results, exit statuses (a
 * crash's signal too) and reaping are a started worker's. */
static void test_forked_workers(void **st)
{
	(void)st;
	struct recorder r;
	rec_init(&r);
	pmp_controller *c = start(&r, NULL, 0, 0);
	pmp_spec *spec = echo_spec(1);
	pmp_spec_set_forked(spec, true);
	pmp_controller_set_capacity(c, 2);
	for (uint64_t t = 1; t <= 4; t++)
		submit(c, t, spec, "whoami");
	submit(c, 5, spec, "crash");
	wait_count(&r, ANY_TASK_EVENT, 5, "every result");
	int pids[4];
	for (uint64_t t = 1; t <= 4; t++) {
		struct rec x = task_event(&r, t);
		int ppid = 0;
		char how[16] = "";
		assert_int_equal(x.kind, PMP_EVENT_RESULT);
		assert_int_equal(sscanf(x.payload, "%d %d %15s", &pids[t - 1], &ppid, how), 3);
		assert_int_equal(ppid, getpid());
		assert_string_equal(how, t == 1 ? "started" : "forked");
		for (uint64_t u = 1; u < t; u++)
			assert_int_not_equal(pids[u - 1], pids[t - 1]); /* a fresh process per task */
	}
	struct rec x = task_event(&r, 5);
	assert_int_equal(x.kind, PMP_EVENT_TASK_LOST);
	assert_contains(x.text, "SIGABRT");
	finish(c); /* no process left: the fork server was reaped too */
	pmp_spec_unref(spec);
	rec_free(&r);
}

/* Per-task tasks 1-4 of a forked spec, its workers' environment with var added (what
 * echo_worker's fork server is to do): how each worker began, "started" or "forked", into
 * how[4]; every task must succeed. */
static void four_forked_tasks(const char *var, char how[4][16])
{
	struct recorder r;
	rec_init(&r);
	pmp_spec *spec = forked_echo_spec(var);
	pmp_controller *c = start(&r, NULL, 0, 0);
	pmp_controller_set_capacity(c, 2);
	for (uint64_t t = 1; t <= 4; t++)
		submit(c, t, spec, "whoami");
	wait_count(&r, ANY_TASK_EVENT, 4, "every result");
	for (uint64_t t = 1; t <= 4; t++) {
		struct rec x = task_event(&r, t);
		assert_int_equal(x.kind, PMP_EVENT_RESULT);
		assert_int_equal(sscanf(x.payload, "%*d %*d %15s", how[t - 1]), 1);
	}
	finish(c);
	pmp_spec_unref(spec);
	rec_free(&r);
}

/* four_forked_tasks(var), whose workers must all have been started. */
static void assert_four_started(const char *var)
{
	char how[4][16];
	four_forked_tasks(var, how);
	for (int i = 0; i < 4; i++)
		assert_string_equal(how[i], "started");
}

/* A fork server that fails (here: exits at once, with workers asked of it) leaves its
 * spec's workers started as usual; nothing waits or fails for it. */
static void test_forked_workers_without_their_server(void **st)
{
	(void)st;
	assert_four_started("ECHO_FORK_FAIL=1");
}

/* Where clone3 fails with ENOSYS (Linux before 5.3, some containers' seccomp profiles),
 * the fork server forks with clone on x86-64; elsewhere its workers are started. */
static void test_forked_workers_without_clone3(void **st)
{
	(void)st;
	char how[4][16];
	four_forked_tasks("ECHO_FORK_DENY=clone3", how);
	assert_string_equal(how[0], "started");
#if defined(__x86_64__)
	const char *rest = "forked";
#else
	const char *rest = "started";
#endif
	for (int i = 1; i < 4; i++)
		assert_string_equal(how[i], rest);
}

/* A fork server that cannot fork at all answers so, and is stopped: the spec's workers
 * are started, and every task runs. */
static void test_forked_workers_where_forks_fail(void **st)
{
	(void)st;
	assert_four_started("ECHO_FORK_DENY=clone3,clone");
}

/* A fork server that dies between its fork and its answer: the worker it asked for is
 * started anew under another id, and the process it forked, which connects under the old
 * one, is told to exit, and is reaped once it has: by the time a task sent after its exit
 * is answered (every turn since polled its pidfd), not at shutdown. */
static void test_a_worker_forked_by_a_dying_server_is_told_to_exit(void **st)
{
	(void)st;
	struct recorder r;
	rec_init(&r);
	char path[] = "/tmp/pmp-stray-XXXXXX", var[64];
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	snprintf(var, sizeof(var), "ECHO_FORK_DIE=%s", path);
	pmp_spec *spec = forked_echo_spec(var);
	pmp_controller *c = start(&r, NULL, 0, 0);
	pmp_controller_set_capacity(c, 1);
	for (uint64_t t = 1; t <= 2; t++)
		submit(c, t, spec, "whoami"); /* 2: asked of the server, which dies */
	wait_count(&r, ANY_TASK_EVENT, 2, "both results");
	for (uint64_t t = 1; t <= 2; t++) {
		struct rec x = task_event(&r, t);
		assert_int_equal(x.kind, PMP_EVENT_RESULT);
		assert_contains(x.payload, " started");
	}
	char buf[32] = "";
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	assert_true(n > 0);
	pid_t stray = (pid_t)atoi(buf);
	int pidfd = (int)syscall(SYS_pidfd_open, stray, 0); /* a zombie has one too */
	if (pidfd >= 0) {
		struct pollfd p = {pidfd, POLLIN, 0};
		assert_int_equal(poll(&p, 1, wait_seconds() * 1000), 1); /* it exits, told to */
		close(pidfd);
	} else {
		assert_int_equal(errno, ESRCH); /* it exited and was reaped already */
	}
	submit(c, 3, spec, "whoami");
	wait_count(&r, ANY_TASK_EVENT, 3, "a result after the stray's exit");
	siginfo_t info = {0};
	assert_int_equal(waitid(P_PID, (id_t)stray, &info, WEXITED | WNOHANG | WNOWAIT), -1); /* no zombie */
	assert_int_equal(errno, ECHILD);
	close(fd);
	unlink(path);
	finish(c);
	pmp_spec_unref(spec);
	rec_free(&r);
}

/* A FIFO in a private directory, and a forked echo spec whose fork server waits for a
 * writer of it before it serves (ECHO_FORK_GATE). */
struct gate {
	char dir[32], path[64];
};

static pmp_spec *gated_spec(struct gate *g)
{
	char var[96];
	snprintf(g->dir, sizeof(g->dir), "/tmp/pmp-gate-XXXXXX");
	assert_non_null(mkdtemp(g->dir));
	snprintf(g->path, sizeof(g->path), "%s/gate", g->dir);
	assert_int_equal(mkfifo(g->path, 0600), 0);
	snprintf(var, sizeof(var), "ECHO_FORK_GATE=%s", g->path);
	return forked_echo_spec(var);
}

static void remove_gate(struct gate *g)
{
	unlink(g->path);
	rmdir(g->dir);
}

/* A fork server that does not answer within fork_timeout (here: it waits at a gate that
 * never opens) is killed, and the worker asked of it is started: every task runs. */
static void test_a_silent_fork_server_is_given_up(void **st)
{
	(void)st;
	struct recorder r;
	rec_init(&r);
	char err[PMP_ERR_MAX] = "";
	struct gate g;
	pmp_spec *spec = gated_spec(&g);
	pmp_controller_config cfg = {.shutdown_grace = 5.0, .fork_timeout = 0.5};
	pmp_controller *c = pmp_controller_start(&cfg, on_events, &r, err, sizeof(err));
	if (!c)
		fail_msg("pmp_controller_start: %s", err);
	pmp_controller_set_capacity(c, 1);
	for (uint64_t t = 1; t <= 3; t++)
		submit(c, t, spec, "whoami"); /* 2: asked of the server, which never answers */
	wait_count(&r, ANY_TASK_EVENT, 3, "every result");
	for (uint64_t t = 1; t <= 3; t++) {
		struct rec x = task_event(&r, t);
		assert_int_equal(x.kind, PMP_EVENT_RESULT);
		assert_contains(x.payload, " started");
	}
	finish(c); /* no child left: the server was killed and reaped */
	pmp_spec_unref(spec);
	remove_gate(&g);
	rec_free(&r);
}

/* A fork server's start blocks nothing: while it has not served (here: until the test
 * opens its gate), the spec's first worker, started, runs its task and answers. A
 * controller that waited for the server's answer would never answer task 1 (the test
 * would time out at wait_task). */
static void test_a_starting_fork_server_blocks_nothing(void **st)
{
	(void)st;
	struct recorder r;
	rec_init(&r);
	struct gate g;
	pmp_spec *spec = gated_spec(&g);
	pmp_controller *c = start(&r, NULL, 0, 0);
	pmp_controller_set_capacity(c, 2);
	submit(c, 1, spec, "whoami");
	submit(c, 2, spec, "whoami"); /* asked of the server, which waits at its gate */
	wait_task(&r, 1);
	struct rec x = task_event(&r, 1);
	assert_int_equal(x.kind, PMP_EVENT_RESULT);
	assert_contains(x.payload, " started");
	int fd = open(g.path, O_WRONLY | O_CLOEXEC); /* the server is at its gate: open it */
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "", 1), 1);
	close(fd);
	wait_task(&r, 2);
	x = task_event(&r, 2);
	assert_int_equal(x.kind, PMP_EVENT_RESULT);
	assert_contains(x.payload, " forked");
	finish(c);
	pmp_spec_unref(spec);
	remove_gate(&g);
	rec_free(&r);
}

static void test_per_task_worker_crash(void **st)
{
	(void)st;
	struct recorder r;
	rec_init(&r);
	pmp_controller *c = start(&r, NULL, 0, 0);
	pmp_spec *spec = echo_spec(1);
	submit(c, 1, spec, "crash");
	wait_task(&r, 1);
	struct rec x = task_event(&r, 1);
	assert_int_equal(x.kind, PMP_EVENT_TASK_LOST);
	assert_contains(x.text, "SIGABRT");
	submit(c, 2, spec, "next");
	wait_task(&r, 2);
	expect_echo(&r, 2, "", "next");
	finish(c);
	/* Not replaced: one worker per task, two tasks. */
	assert_int_equal(count_kind(&r, PMP_EVENT_WORKER_READY), 2);
	pmp_spec_unref(spec);
	rec_free(&r);
}

/* Workers that cannot start: after max_start_failures in a row the queued tasks fail,
 * and so do later submits. One worker asked for, fewer than max_start_failures: the
 * failed starts must be retried. */
static void cannot_start(const char *const *argv, bool per_task, const char *reason)
{
	struct recorder r;
	rec_init(&r);
	pmp_controller *c = start(&r, NULL, 0, 3);
	pmp_spec *spec = spec_of(argv, 1);
	pmp_spec *good = echo_spec(1);
	char err[PMP_ERR_MAX] = "";
	/* The tasks are queued before the first start, so that they are there when the
	 * controller gives up. Per task: behind one that holds the whole capacity. */
	if (per_task) {
		pmp_controller_set_capacity(c, 1);
		submit(c, 100, good, "sleep");
	}
	submit(c, 1, per_task ? spec : NULL, "a");
	submit(c, 2, per_task ? spec : NULL, "b");
	if (!per_task)
		add_workers(c, spec, 1);
	wait_task(&r, 1);
	wait_task(&r, 2);
	if (per_task)
		expect_echo(&r, 100, "", "sleep");
	/* Said once, with the reason, before the tasks' failures. */
	assert_int_equal(count_kind(&r, PMP_EVENT_BROKEN), 1);
	struct rec broken = event_at(&r, kind_index(&r, PMP_EVENT_BROKEN));
	assert_prefix(broken.text, "pmp: ");
	assert_contains(broken.text, "3 in a row");
	assert_contains(broken.text, reason);
	assert_true(kind_index(&r, PMP_EVENT_BROKEN) < task_index(&r, 1));
	for (uint64_t t = 1; t <= 2; t++) {
		struct rec x = task_event(&r, t);
		assert_int_equal(x.kind, PMP_EVENT_TASK_FAILED);
		assert_prefix(x.text, "pmp: ");
		assert_contains(x.text, "3 in a row");
		assert_contains(x.text, argv[0]);
		assert_contains(x.text, reason);
	}
	pmp_frame f = {"c", 1};
	assert_int_equal(pmp_controller_submit(c, 3, NULL, &f, 1, err, sizeof(err)), -1);
	assert_prefix(err, "pmp: ");
	assert_contains(err, argv[0]);
	assert_int_equal(pmp_controller_submit(c, 3, spec, &f, 1, err, sizeof(err)), -1);
	assert_prefix(err, "pmp: ");
	assert_int_equal(pmp_controller_add_workers(c, spec, 1, err, sizeof(err)), -1);
	assert_prefix(err, "pmp: ");
	pmp_controller_shutdown(c);
	join_within(c, wait_seconds());
	assert_no_children();
	pmp_controller_free(c);
	pmp_spec_unref(spec);
	pmp_spec_unref(good);
	rec_free(&r);
}

/* Under valgrind posix_spawn cannot report a failed exec (valgrind runs glibc's CLONE_VM
 * child as a fork, so the error never reaches the parent): the "worker" starts, and
 * exits before it connects instead. */
static const char *missing_reason(void)
{
	return RUNNING_ON_VALGRIND ? "before it connected" : strerror(ENOENT);
}

static void test_missing_program(void **st)
{
	(void)st;
	const char *argv[] = {"/nonexistent/pmp-test-worker", NULL};
	cannot_start(argv, false, missing_reason());
}

static void test_missing_program_per_task(void **st)
{
	(void)st;
	const char *argv[] = {"/nonexistent/pmp-test-worker", NULL};
	cannot_start(argv, true, missing_reason());
}

static void test_program_that_exits_before_connecting(void **st)
{
	(void)st;
	const char *argv[] = {"/bin/false", NULL};
	cannot_start(argv, false, "before it connected");
}

static void test_shutdown_finishes_queued_tasks(void **st)
{
	(void)st;
	struct recorder r;
	rec_init(&r);
	pmp_controller *c = start(&r, NULL, 0, 0);
	pmp_spec *spec = echo_spec(1);
	char err[PMP_ERR_MAX] = "";
	add_workers(c, spec, 2);
	for (uint64_t t = 1; t <= 50; t++)
		submit(c, t, NULL, "before shutdown");
	pmp_controller_shutdown(c);
	pmp_frame f = {"x", 1};
	assert_int_equal(pmp_controller_submit(c, 51, NULL, &f, 1, err, sizeof(err)), -1);
	assert_prefix(err, "pmp: ");
	assert_contains(err, "shutdown");
	assert_int_equal(pmp_controller_add_workers(c, spec, 1, err, sizeof(err)), -1);
	assert_prefix(err, "pmp: ");
	join_within(c, wait_seconds());
	assert_no_children();
	/* Every queued task ran before the workers were told to go. */
	for (uint64_t t = 1; t <= 50; t++)
		expect_echo(&r, t, "", "before shutdown");
	assert_clean_exits(&r, 2);
	pmp_controller_join(c); /* again: returns at once */
	pmp_controller_free(c);
	pmp_spec_unref(spec);
	rec_free(&r);
}

/* Shutting down right after adding workers and submitting: the I/O thread may see all
 * three at once, and must still start the workers the queued tasks wait for. */
static void test_shutdown_right_after_start(void **st)
{
	(void)st;
	pmp_spec *spec = echo_spec(1);
	for (int round = 0; round < 5; round++) {
		struct recorder r;
		rec_init(&r);
		pmp_controller *c = start(&r, NULL, 0, 0);
		add_workers(c, spec, 1);
		submit(c, 1, NULL, "hurry");
		pmp_controller_shutdown(c);
		wait_task(&r, 1);
		expect_echo(&r, 1, "", "hurry");
		join_within(c, wait_seconds());
		assert_no_children();
		pmp_controller_free(c);
		rec_free(&r);
	}
	pmp_spec_unref(spec);
}

/* Where the workers of the grace test say they started: made before the test, removed
 * after it even when it fails. */
static char grace_dir[] = "/tmp/pmp-test-grace-XXXXXX";

static int make_grace_dir(void **st)
{
	(void)st;
	strcpy(grace_dir, "/tmp/pmp-test-grace-XXXXXX");
	return mkdtemp(grace_dir) ? 0 : -1;
}

static int remove_grace_dir(void **st)
{
	char path[64];
	(void)st;
	for (int w = 0; w < 2; w++) {
		snprintf(path, sizeof(path), "%s/%d", grace_dir, w);
		unlink(path);
	}
	return rmdir(grace_dir);
}

/* Workers that never connect and ignore SIGTERM are killed after the grace period. */
static void test_shutdown_kills_after_grace(void **st)
{
	(void)st;
	struct recorder r;
	rec_init(&r);
	pmp_controller_config cfg = {.shutdown_grace = 0.5};
	char err[PMP_ERR_MAX] = "";
	pmp_controller *c = pmp_controller_start(&cfg, on_events, &r, err, sizeof(err));
	assert_non_null(c);
	/* Each says (with a file in dir) when it ignores SIGTERM, then never connects. */
	const char *dir = grace_dir;
	char path[64];
	const char *argv[] = {"/bin/sh", "-c", "trap '' TERM; : > \"$0/$PMP_WORKER_ID\"; exec sleep 60", dir, NULL};
	pmp_spec *spec = spec_of(argv, 1);
	add_workers(c, spec, 2);
	for (int w = 0; w < 2; w++) {
		snprintf(path, sizeof(path), "%s/%d", dir, w);
		for (int i = 0; i < wait_seconds() * 100 && access(path, F_OK) != 0; i++)
			usleep(10 * 1000);
		assert_int_equal(access(path, F_OK), 0);
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pmp_controller_shutdown(c);
	join_within(c, wait_seconds());
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_no_children();
	assert_true(t1.tv_sec - t0.tv_sec < 10); /* the grace, not sleep's 60 s */
	assert_int_equal(count_kind(&r, PMP_EVENT_WORKER_EXIT), 2);
	pthread_mutex_lock(&r.mu);
	for (size_t i = 0; i < r.n; i++)
		if (r.ev[i].kind == PMP_EVENT_WORKER_EXIT)
			assert_true(WIFSIGNALED(r.ev[i].status) && WTERMSIG(r.ev[i].status) == SIGKILL);
	pthread_mutex_unlock(&r.mu);
	pmp_controller_free(c);
	pmp_spec_unref(spec);
	rec_free(&r);
}

/* Where the workers of the start-limit test say they started: see make_grace_dir. */
static char starts_dir[] = "/tmp/pmp-test-starts-XXXXXX";

static int make_starts_dir(void **st)
{
	char path[64];
	(void)st;
	strcpy(starts_dir, "/tmp/pmp-test-starts-XXXXXX");
	if (!mkdtemp(starts_dir))
		return -1;
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", starts_dir, i ? "go" : "started");
		if (mkfifo(path, 0600) < 0)
			return -1;
	}
	return 0;
}

static int remove_starts_dir(void **st)
{
	char path[64];
	(void)st;
	static const char *const names[] = {"started", "go", "overlap"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", starts_dir, names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/lock", starts_dir);
	rmdir(path);
	return rmdir(starts_dir);
}

/* The id the next worker to start writes to the "started" FIFO (bounded wait). */
static int next_started(int fd)
{
	char line[16];
	size_t n = 0;
	while (n + 1 < sizeof(line)) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, wait_seconds() * 1000) != 1)
			fail_msg("timed out after %d s waiting for a worker to start", wait_seconds());
		if (read(fd, &line[n], 1) != 1)
			fail_msg("reading the started FIFO: %s", strerror(errno));
		if (line[n] == '\n')
			break;
		n++;
	}
	line[n] = '\0';
	return atoi(line);
}

/* max_starting = 1: each worker starts once the one before it has connected, a
 * replacement too. Each worker takes a lock directory when it starts and gives it back
 * only when the test lets it go on to connect: one that finds the lock taken started
 * beside another and says so in "overlap". */
static void test_max_starting_staggers_starts(void **st)
{
	(void)st;
	struct recorder r;
	rec_init(&r);
	pmp_controller_config cfg = {.shutdown_grace = 5.0, .max_starting = 1};
	char err[PMP_ERR_MAX] = "", path[64];
	pmp_controller *c = pmp_controller_start(&cfg, on_events, &r, err, sizeof(err));
	assert_non_null(c);
	snprintf(path, sizeof(path), "%s/started", starts_dir);
	int started = open(path, O_RDWR | O_CLOEXEC); /* read and write: never blocks nor ends */
	snprintf(path, sizeof(path), "%s/go", starts_dir);
	int go = open(path, O_RDWR | O_CLOEXEC);
	assert_true(started >= 0 && go >= 0);
	const char *argv[] = {"/bin/sh", "-c",
			      "mkdir \"$0/lock\" 2>/dev/null || echo $PMP_WORKER_ID >> \"$0/overlap\"; "
			      "echo $PMP_WORKER_ID > \"$0/started\"; read x < \"$0/go\"; rmdir \"$0/lock\"; exec \"$1\"",
			      starts_dir, ECHO_WORKER, NULL};
	pmp_spec *spec = spec_of(argv, 1);
	add_workers(c, spec, 3);
	for (int w = 0; w < 3; w++) {
		assert_int_equal(next_started(started), w);
		assert_int_equal(write(go, "\n", 1), 1);
		wait_worker(&r, PMP_EVENT_WORKER_READY, w);
	}
	/* A crashed worker's replacement starts the same way. */
	submit(c, 1, NULL, "crash");
	wait_task(&r, 1);
	assert_int_equal(next_started(started), 3);
	assert_int_equal(write(go, "\n", 1), 1);
	wait_worker(&r, PMP_EVENT_WORKER_READY, 3);
	for (uint64_t t = 2; t <= 9; t++)
		submit(c, t, NULL, "after");
	for (uint64_t t = 2; t <= 9; t++) {
		wait_task(&r, t);
		expect_echo(&r, t, "", "after");
	}
	finish(c);
	snprintf(path, sizeof(path), "%s/overlap", starts_dir);
	assert_int_equal(access(path, F_OK), -1); /* no worker started beside another */
	close(started);
	close(go);
	pmp_spec_unref(spec);
	rec_free(&r);
}

static void test_duplicate_task_id(void **st)
{
	(void)st;
	struct recorder r;
	rec_init(&r);
	pmp_controller *c = start(&r, NULL, 0, 0);
	char err[PMP_ERR_MAX] = "";
	pmp_frame f = {"dup", 3};
	submit(c, 7, NULL, "first");
	assert_int_equal(pmp_controller_submit(c, 7, NULL, &f, 1, err, sizeof(err)), -1);
	assert_prefix(err, "pmp: ");
	assert_contains(err, "7");
	assert_int_equal(pmp_controller_queued(c), 1);
	pmp_spec *spec = echo_spec(1);
	/* Also a duplicate when the second one is per-task. */
	assert_int_equal(pmp_controller_submit(c, 7, spec, &f, 1, err, sizeof(err)), -1);
	add_workers(c, spec, 1);
	wait_task(&r, 7);
	expect_echo(&r, 7, "", "first");
	/* Once answered, the id is free. */
	submit(c, 7, NULL, "second");
	wait_count(&r, ANY_TASK_EVENT, 2, "the second result");
	finish(c);
	pmp_spec_unref(spec);
	rec_free(&r);
}

/* ---------- pmp_controller_wait: the waiting thread runs the I/O ---------- */

static pmp_controller *start_lending(struct recorder *r, int io_lend_us, int prefetch)
{
	pmp_controller_config cfg = {.shutdown_grace = 5.0, .io_lend_us = io_lend_us, .prefetch = prefetch};
	char err[PMP_ERR_MAX] = "";
	pmp_controller *c = pmp_controller_start(&cfg, on_events, r, err, sizeof(err));
	if (!c)
		fail_msg("pmp_controller_start: %s", err);
	return c;
}

static pmp_controller *one_echo_worker(struct recorder *r, int io_lend_us, int prefetch, pmp_spec **spec)
{
	pmp_controller *c = start_lending(r, io_lend_us, prefetch);
	*spec = echo_spec(1);
	add_workers(c, *spec, 1);
	wait_count(r, PMP_EVENT_WORKER_READY, 1, "a worker");
	return c;
}

/* The result goes to the handler on the waiting thread; a timeout ends the wait and not
 * the task; an unknown task is done at once; and with nobody waiting, the I/O thread
 * takes the I/O back: a result nobody waits for still arrives. */
static void test_wait_runs_the_io_on_the_caller(void **st)
{
	(void)st;
	struct recorder r;
	pmp_spec *spec;
	rec_init(&r);
	pmp_controller *c = one_echo_worker(&r, 0, 0, &spec);

	assert_int_equal(pmp_controller_wait(c, 424242, -1), PMP_WAIT_DONE);
	submit(c, 1, NULL, "sleep"); /* answers after 1 s */
	assert_int_equal(pmp_controller_wait(c, 1, 0.05), PMP_WAIT_TIMEOUT);
	assert_true(task_index(&r, 1) < 0);
	assert_int_equal(pmp_controller_wait(c, 1, -1), PMP_WAIT_DONE);
	struct rec x = expect_echo(&r, 1, "", "sleep");
	assert_true(pthread_equal(x.thread, pthread_self()));
	for (uint64_t t = 2; t <= 50; t++) { /* round trips, the I/O lent to this thread */
		submit(c, t, NULL, "quick");
		assert_int_equal(pmp_controller_wait(c, t, -1), PMP_WAIT_DONE);
		expect_echo(&r, t, "", "quick");
	}
	submit(c, 51, NULL, "sleep");
	wait_task(&r, 51);
	x = expect_echo(&r, 51, "", "sleep");
	assert_false(pthread_equal(x.thread, pthread_self()));
	finish(c);
	pmp_spec_unref(spec);
	rec_free(&r);
}

static void test_wait_without_lending(void **st)
{
	(void)st;
	struct recorder r;
	pmp_spec *spec;
	rec_init(&r);
	pmp_controller *c = one_echo_worker(&r, -1, 0, &spec);
	submit(c, 1, NULL, "quick");
	assert_int_equal(pmp_controller_wait(c, 1, -1), PMP_WAIT_ELSEWHERE);
	wait_task(&r, 1);
	assert_false(pthread_equal(expect_echo(&r, 1, "", "quick").thread, pthread_self()));
	finish(c);
	pmp_spec_unref(spec);
	rec_free(&r);
}

/* pmp_controller_reclaim_io ends a lend at once: with a lend far longer than this test
 * waits (wait_seconds), a result nobody waits for arrives through the I/O thread only
 * because of it. */
static void test_reclaim_ends_the_lend(void **st)
{
	(void)st;
	struct recorder r;
	pmp_spec *spec;
	rec_init(&r);
	pmp_controller *c = one_echo_worker(&r, 600 * 1000000, 0, &spec);
	submit(c, 1, NULL, "quick");
	assert_int_equal(pmp_controller_wait(c, 1, -1), PMP_WAIT_DONE);
	submit(c, 2, NULL, "quick"); /* sent from here, its result left for whoever runs the I/O */
	pmp_controller_reclaim_io(c);
	wait_task(&r, 2);
	assert_false(pthread_equal(expect_echo(&r, 2, "", "quick").thread, pthread_self()));
	finish(c);
	pmp_spec_unref(spec);
	rec_free(&r);
}

/* How many of tasks first..last are on a worker (sent, their results not yet read). */
static size_t on_workers(pmp_controller *c, uint64_t first, uint64_t last)
{
	size_t n = 0;
	for (uint64_t t = first; t <= last; t++)
		n += pmp_controller_task_state(c, t) == 2;
	return n;
}

/* Submits tasks first..last with the I/O lent to this thread: each is sent from here, as
 * many as the worker's window and the queue's share allow. */
static void submit_quick(pmp_controller *c, uint64_t first, uint64_t last)
{
	for (uint64_t t = first; t <= last; t++)
		submit(c, t, NULL, "quick");
}

/* One echo worker, the given prefetch, and the I/O lent to this thread (after task 1) for
 * longer than a test runs: nothing is read or sent but in this thread's waits. Task 1
 * takes a second, so that its wait surely takes the I/O over: a quick one may be answered
 * through the I/O thread, which then keeps the I/O (seen once in 4 runs under valgrind). */
static pmp_controller *lent_to_this_thread(struct recorder *r, int prefetch, pmp_spec **spec)
{
	pmp_controller *c = one_echo_worker(r, 600 * 1000000, prefetch, spec);
	submit(c, 1, NULL, "sleep");
	assert_int_equal(pmp_controller_wait(c, 1, wait_seconds()), PMP_WAIT_DONE);
	assert_true(pthread_equal(expect_echo(r, 1, "", "sleep").thread, pthread_self()));
	return c;
}

/* Tasks first..last in rounds: submitted, then each round waits for the last of those the
 * worker holds, which answers all of them and then sits idle until the next round's turns
 * send it more. Returns the rounds; *most: the most the worker held at once. */
static size_t in_rounds(pmp_controller *c, uint64_t first, uint64_t last, size_t *most)
{
	size_t rounds = 0;
	*most = 0;
	submit_quick(c, first, last);
	for (uint64_t next = first; next <= last; rounds++) {
		size_t held = on_workers(c, next, last); /* next .. next + held - 1: sent in order */
		assert_true(held > 0);
		*most = held > *most ? held : *most;
		assert_int_equal(pmp_controller_wait(c, next + held - 1, wait_seconds()), PMP_WAIT_DONE);
		next += held;
	}
	return rounds;
}

/* The adaptive window (prefetch 0): a worker that sits idle every round while tasks are
 * queued gets twice as many, from PMP_WINDOW_START, and is back there once the burst is
 * over. */
static void test_window_grows_while_a_worker_sits_idle(void **st)
{
	(void)st;
	struct recorder r;
	pmp_spec *spec;
	size_t most;
	rec_init(&r);
	pmp_controller *c = lent_to_this_thread(&r, 0, &spec);
	const uint64_t last = 1000;
	size_t rounds = in_rounds(c, 2, last, &most);
	assert_true(most > PMP_WINDOW_START);
	assert_true(most <= PMP_WINDOW_MAX);
	assert_true(rounds < (last - 1) / PMP_WINDOW_START); /* fewer round trips than a fixed window */
	for (uint64_t t = 2; t <= last; t++)
		expect_echo(&r, t, "", "quick");

	/* The burst is over: the next one starts from PMP_WINDOW_START again. */
	submit_quick(c, last + 1, last + 100);
	assert_int_equal(on_workers(c, last + 1, last + 100), PMP_WINDOW_START);
	pmp_controller_reclaim_io(c);
	wait_count(&r, ANY_TASK_EVENT, last + 100, "every result");
	finish(c);
	pmp_spec_unref(spec);
	rec_free(&r);
}

static void submit_kind(pmp_controller *c, uint64_t task, uint32_t kind, const char *payload)
{
	pmp_frame f = {payload, strlen(payload)};
	char err[PMP_ERR_MAX] = "";
	if (pmp_controller_submit_kind(c, task, kind, NULL, &f, 1, err, sizeof(err)) < 0)
		fail_msg("pmp_controller_submit_kind(%llu): %s", (unsigned long long)task, err);
}

/* Tasks first, first + 1, ... of kind, one at a time (so that each runs alone), until
 * the answers make the kind known; returns the last. */
static uint64_t teach_kind(pmp_controller *c, uint32_t kind, uint64_t first)
{
	const uint64_t last = first + 2 * PMP_KIND_KNOWN - 1;
	for (uint64_t t = first; t <= last; t++) {
		submit_kind(c, t, kind, "quick");
		assert_int_equal(pmp_controller_wait(c, t, wait_seconds()), PMP_WAIT_DONE);
	}
	return last;
}

/* A shallow queue goes out one task at a time (the share rule), so that a slow task holds
 * none back, unless its tasks are of a kind that the worker's answers showed to be short:
 * then the worker takes them together. */
static void test_a_short_kind_goes_out_beyond_the_share(void **st)
{
	(void)st;
	struct recorder r;
	pmp_spec *spec;
	const uint32_t quick = 42, other = 43;
	rec_init(&r);
	pmp_controller *c = lent_to_this_thread(&r, 0, &spec);
	/* Not known yet: one at a time. */
	for (uint64_t t = 2; t <= 4; t++)
		submit_kind(c, t, quick, "quick");
	assert_int_equal(on_workers(c, 2, 4), 1);
	assert_int_equal(pmp_controller_wait(c, 4, wait_seconds()), PMP_WAIT_DONE);
	const uint64_t taught = teach_kind(c, quick, 5);
	/* Known to be short: the three go to the worker at once. */
	for (uint64_t t = taught + 1; t <= taught + 3; t++)
		submit_kind(c, t, quick, "quick");
	assert_int_equal(on_workers(c, taught + 1, taught + 3), 3);
	assert_int_equal(pmp_controller_wait(c, taught + 3, wait_seconds()), PMP_WAIT_DONE);
	/* Another kind, not known: one at a time again; and so with no kind. */
	for (uint64_t t = taught + 4; t <= taught + 6; t++)
		submit_kind(c, t, other, "quick");
	assert_int_equal(on_workers(c, taught + 4, taught + 6), 1);
	assert_int_equal(pmp_controller_wait(c, taught + 6, wait_seconds()), PMP_WAIT_DONE);
	submit_quick(c, taught + 7, taught + 9);
	assert_int_equal(on_workers(c, taught + 7, taught + 9), 1);
	pmp_controller_reclaim_io(c);
	wait_count(&r, ANY_TASK_EVENT, taught + 9, "every result");
	for (uint64_t t = 2; t <= taught + 9; t++)
		expect_echo(&r, t, "", "quick");
	finish(c);
	pmp_spec_unref(spec);
	rec_free(&r);
}

/* A burst of a kind known to be short goes to the worker as a run of as many as it may
 * hold of them at once, not held to its window (PMP_WINDOW_START, grown only as the
 * worker waits for more); a burst of tasks of no kind is. */
static void test_a_short_run_is_not_held_to_the_window(void **st)
{
	(void)st;
	struct recorder r;
	pmp_spec *spec;
	const uint32_t quick = 42;
	const uint64_t burst = 4 * PMP_WINDOW_START;
	rec_init(&r);
	pmp_controller *c = lent_to_this_thread(&r, 0, &spec);
	const uint64_t first = teach_kind(c, quick, 2) + 1, last = first + burst - 1;
	for (uint64_t t = first; t <= last; t++)
		submit_kind(c, t, quick, "quick");
	/* A "quick" task runs in microseconds: the worker may hold far more than
	 * PMP_WINDOW_START of them within PMP_HOLD_BUDGET_US. */
	assert_true(on_workers(c, first, last) > PMP_WINDOW_START);
	assert_int_equal(pmp_controller_wait(c, last, wait_seconds()), PMP_WAIT_DONE);
	submit_quick(c, last + 1, last + burst);
	assert_int_equal(on_workers(c, last + 1, last + burst), PMP_WINDOW_START);
	pmp_controller_reclaim_io(c);
	wait_count(&r, ANY_TASK_EVENT, last + burst, "every result");
	for (uint64_t t = first; t <= last + burst; t++)
		expect_echo(&r, t, "", "quick");
	finish(c);
	pmp_spec_unref(spec);
	rec_free(&r);
}

/* Tasks of a kind known to be short go to one worker in a run, up to as many as it may
 * hold of them, though another sits idle: each worker is woken once a run, not once a
 * task. Tasks of a kind not known go one each, to the idle worker first. */
static void test_short_tasks_go_to_one_worker_in_runs(void **st)
{
	(void)st;
	struct recorder r;
	const uint32_t quick = 42, other = 43;
	rec_init(&r);
	pmp_controller *c = start_lending(&r, 600 * 1000000, 0);
	pmp_spec *spec = echo_spec(1);
	add_workers(c, spec, 2);
	wait_count(&r, PMP_EVENT_WORKER_READY, 2, "two workers");
	submit(c, 1, NULL, "sleep"); /* lends the I/O to this thread: see lent_to_this_thread */
	assert_int_equal(pmp_controller_wait(c, 1, wait_seconds()), PMP_WAIT_DONE);
	assert_true(pthread_equal(expect_echo(&r, 1, "", "sleep").thread, pthread_self()));
	/* Not known yet: one each, the second to the other worker. */
	submit_kind(c, 2, quick, "quick");
	submit_kind(c, 3, quick, "quick");
	assert_int_equal(pmp_controller_wait(c, 3, wait_seconds()), PMP_WAIT_DONE);
	assert_int_equal(pmp_controller_wait(c, 2, wait_seconds()), PMP_WAIT_DONE);
	assert_int_not_equal(expect_echo(&r, 2, "", "quick").worker, expect_echo(&r, 3, "", "quick").worker);
	const uint64_t taught = teach_kind(c, quick, 4);
	/* Known to be short: all three to one worker. */
	for (uint64_t t = taught + 1; t <= taught + 3; t++)
		submit_kind(c, t, quick, "quick");
	for (uint64_t t = taught + 1; t <= taught + 3; t++)
		assert_int_equal(pmp_controller_wait(c, t, wait_seconds()), PMP_WAIT_DONE);
	int32_t runner = expect_echo(&r, taught + 1, "", "quick").worker;
	for (uint64_t t = taught + 2; t <= taught + 3; t++)
		assert_int_equal(expect_echo(&r, t, "", "quick").worker, runner);
	/* Another kind, not known: one each again. */
	submit_kind(c, taught + 4, other, "quick");
	submit_kind(c, taught + 5, other, "quick");
	assert_int_equal(pmp_controller_wait(c, taught + 5, wait_seconds()), PMP_WAIT_DONE);
	assert_int_equal(pmp_controller_wait(c, taught + 4, wait_seconds()), PMP_WAIT_DONE);
	assert_int_not_equal(expect_echo(&r, taught + 4, "", "quick").worker,
			     expect_echo(&r, taught + 5, "", "quick").worker);
	pmp_controller_reclaim_io(c);
	finish(c);
	pmp_spec_unref(spec);
	rec_free(&r);
}

/* A worker answers tasks of a kind known to be short together, holding results back
 * while it runs the next: when it dies mid-run, the first task it was not heard from may
 * have been done. The task that killed it is the one that fails, the others are done
 * (again, if need be), and the executor goes on. */
static void test_a_crash_among_short_tasks_fails_the_task_that_crashed(void **st)
{
	(void)st;
	struct recorder r;
	pmp_spec *spec;
	const uint32_t quick = 42;
	rec_init(&r);
	pmp_controller *c = lent_to_this_thread(&r, 0, &spec);
	const uint64_t taught = teach_kind(c, quick, 2);
	const uint64_t crash = taught + 7, last = taught + 9;
	for (uint64_t t = taught + 1; t <= last; t++)
		submit_kind(c, t, quick, t == crash ? "crash" : "quick");
	for (uint64_t t = taught + 1; t <= last; t++)
		assert_int_equal(pmp_controller_wait(c, t, wait_seconds()), PMP_WAIT_DONE);
	for (uint64_t t = taught + 1; t <= last; t++) {
		if (t != crash) {
			expect_echo(&r, t, "", "quick");
			continue;
		}
		struct rec x = task_event(&r, t);
		assert_int_equal(x.kind, PMP_EVENT_TASK_LOST);
		assert_true(WIFSIGNALED(x.status));
		assert_int_equal(WTERMSIG(x.status), SIGABRT);
		char task[64];
		snprintf(task, sizeof(task), "task %llu", (unsigned long long)crash);
		assert_contains(x.text, task);
	}
	pmp_controller_reclaim_io(c);
	finish(c);
	pmp_spec_unref(spec);
	rec_free(&r);
}

/* A window set in the configuration is kept: the same rounds never see more. */
static void test_a_fixed_prefetch_is_kept(void **st)
{
	(void)st;
	struct recorder r;
	pmp_spec *spec;
	size_t most;
	rec_init(&r);
	pmp_controller *c = lent_to_this_thread(&r, 8, &spec);
	in_rounds(c, 2, 200, &most);
	assert_int_equal(most, 8);
	finish(c);
	pmp_spec_unref(spec);
	rec_free(&r);
}

struct later {
	pthread_t target;
	pmp_controller *c; /* NULL: signal target; else shut c down */
};

/* 300 ms into the caller's wait for a 1 s task: inside it, unless the machine stalls
 * (then the wait returns DONE, and the test fails rather than passes). */
static void *act_later(void *arg)
{
	struct later *l = arg;
	struct timespec d = {0, 300 * 1000000L};
	while (nanosleep(&d, &d) < 0 && errno == EINTR)
		;
	if (l->c)
		pmp_controller_shutdown(l->c);
	else
		pthread_kill(l->target, SIGUSR1);
	return NULL;
}

static void on_usr1(int sig)
{
	(void)sig;
}

/* A signal ends the caller's wait (EINTR: Python's Ctrl-C), the task goes on; so does a
 * shutdown (the I/O thread finishes the task). */
static void test_wait_ends_on_signal_and_shutdown(void **st)
{
	(void)st;
	struct recorder r;
	pmp_spec *spec;
	pthread_t th;
	struct sigaction sa = {0}, old;
	sa.sa_handler = on_usr1; /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	rec_init(&r);
	pmp_controller *c = one_echo_worker(&r, 0, 0, &spec);

	struct later sig = {pthread_self(), NULL};
	submit(c, 1, NULL, "sleep");
	assert_int_equal(pthread_create(&th, NULL, act_later, &sig), 0);
	int rc = pmp_controller_wait(c, 1, -1);
	int e = errno;
	pthread_join(th, NULL);
	assert_int_equal(rc, -1);
	assert_int_equal(e, EINTR);
	assert_true(task_index(&r, 1) < 0);
	assert_int_equal(pmp_controller_wait(c, 1, -1), PMP_WAIT_DONE);
	expect_echo(&r, 1, "", "sleep");

	struct later stop = {pthread_self(), c};
	submit(c, 2, NULL, "sleep");
	assert_int_equal(pthread_create(&th, NULL, act_later, &stop), 0);
	assert_int_equal(pmp_controller_wait(c, 2, -1), PMP_WAIT_ELSEWHERE);
	pthread_join(th, NULL);
	assert_true(task_index(&r, 2) < 0);
	wait_task(&r, 2);
	assert_false(pthread_equal(expect_echo(&r, 2, "", "sleep").thread, pthread_self()));
	finish(c);
	pmp_spec_unref(spec);
	rec_free(&r);
	sigaction(SIGUSR1, &old, NULL);
}

static void test_start_rejects_bad_endpoint(void **st)
{
	(void)st;
	struct recorder r;
	rec_init(&r);
	pmp_controller_config cfg = {.bind = "nonsense://here"};
	char err[PMP_ERR_MAX] = "";
	assert_null(pmp_controller_start(&cfg, on_events, &r, err, sizeof(err)));
	assert_prefix(err, "pmp: ");
	assert_contains(err, "nonsense://here");
	rec_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_many_tasks_ipc),
		cmocka_unit_test(test_many_tasks_tcp),
		cmocka_unit_test(test_frames_and_error_status),
		cmocka_unit_test(test_large_frames),
		cmocka_unit_test(test_slow_task_does_not_hold_back_others),
		cmocka_unit_test(test_slow_task_burst_prefetch_one),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_cancel_unblocks_shutdown),
		cmocka_unit_test(test_worker_crash_is_reported_and_replaced),
		cmocka_unit_test_teardown(test_worker_crash_is_reported_and_replaced_without_epoll, restore_epoll),
		cmocka_unit_test(test_crash_during_shutdown),
		cmocka_unit_test(test_init_reaches_every_worker_first),
		cmocka_unit_test(test_per_task_workers),
		cmocka_unit_test(test_per_task_capacity_is_used_and_respected),
		cmocka_unit_test(test_per_task_many),
		cmocka_unit_test(test_per_task_worker_crash),
		cmocka_unit_test(test_forked_workers),
		cmocka_unit_test(test_forked_workers_without_their_server),
		cmocka_unit_test(test_a_starting_fork_server_blocks_nothing),
		cmocka_unit_test(test_a_silent_fork_server_is_given_up),
		cmocka_unit_test(test_a_worker_forked_by_a_dying_server_is_told_to_exit),
		cmocka_unit_test(test_forked_workers_without_clone3),
		cmocka_unit_test(test_forked_workers_where_forks_fail),
		cmocka_unit_test(test_missing_program),
		cmocka_unit_test(test_missing_program_per_task),
		cmocka_unit_test(test_program_that_exits_before_connecting),
		cmocka_unit_test(test_shutdown_finishes_queued_tasks),
		cmocka_unit_test(test_shutdown_right_after_start),
		cmocka_unit_test_setup_teardown(test_shutdown_kills_after_grace, make_grace_dir, remove_grace_dir),
		cmocka_unit_test_setup_teardown(test_max_starting_staggers_starts, make_starts_dir, remove_starts_dir),
		cmocka_unit_test(test_duplicate_task_id),
		cmocka_unit_test(test_wait_runs_the_io_on_the_caller),
		cmocka_unit_test(test_wait_without_lending),
		cmocka_unit_test(test_reclaim_ends_the_lend),
		cmocka_unit_test(test_window_grows_while_a_worker_sits_idle),
		cmocka_unit_test(test_a_fixed_prefetch_is_kept),
		cmocka_unit_test(test_a_short_kind_goes_out_beyond_the_share),
		cmocka_unit_test(test_a_short_run_is_not_held_to_the_window),
		cmocka_unit_test(test_short_tasks_go_to_one_worker_in_runs),
		cmocka_unit_test(test_a_crash_among_short_tasks_fails_the_task_that_crashed),
		cmocka_unit_test(test_wait_ends_on_signal_and_shutdown),
		cmocka_unit_test(test_start_rejects_bad_endpoint),
	};
	return cmocka_run_group_tests_name("runtime_controller", tests, NULL, NULL);
}
