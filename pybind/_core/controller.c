/* Controller and Spec: the controller side of libpmp for Python.
 *
 * libpmp's I/O thread calls deliver() with each batch of events; the executor gets them
 * as a list of (kind, task, worker, status, message, text), under the GIL, once per batch.
 * While the controller has tasks queued, the I/O thread must not wait for the GIL: a
 * thread that keeps it (a loop of submits) would let it wait a whole switch interval
 * (5 ms) while the workers run out of tasks. Then it hands the batch to a delivery
 * thread, which waits for the GIL and delivers every batch that came meanwhile in one
 * call; with nothing queued (one task at a time) it delivers at once, without the hop.
 * A thread in wait() runs libpmp's I/O itself, and deliver() is then called on it.
 * While the I/O thread runs it holds a reference to its Controller, given back in
 * join(), so a Controller is never freed under its own threads. */
#include <pthread.h>
#include <signal.h>

#include "core.h"

#define BIG_FRAMES (64 * 1024) /* copies larger than this run without the GIL */

typedef struct {
	PyObject_HEAD
	pmp_spec *spec;
} SpecObject;

/* Events the I/O thread handed over, with their texts copied. */
typedef struct batch {
	struct batch *next;
	size_t n;
	pmp_event evs[];
} batch;

typedef struct {
	PyObject_HEAD
	pmp_controller *ctl; /* the I/O thread reads it atomically: set after it started */
	PyObject *on_events;
	bool thread_ref; /* the I/O thread's reference to self, until join() */
	/* the delivery thread */
	pthread_mutex_t dl_lock;
	pthread_cond_t dl_cond;
	batch *dl_head, *dl_tail; /* waiting for it */
	bool dl_busy;             /* it is delivering: later events wait behind */
	bool dl_started, dl_closing, dl_joined;
	pthread_t dl_thread;
	int waiting; /* threads in wait() without the GIL (dl_lock): close() waits for them */
} ControllerObject;

/* ---------- Spec ---------- */

static void spec_dealloc(SpecObject *self)
{
	PyTypeObject *tp = Py_TYPE(self);
	pmp_spec_unref(self->spec);
	tp->tp_free(self);
	Py_DECREF(tp);
}

static PyType_Slot spec_slots[] = {
	{Py_tp_doc, "How to start a worker process (Controller.spec())."},
	{Py_tp_dealloc, spec_dealloc},
	{0, NULL},
};

static PyType_Spec spec_spec = {
	.name = "pmp._core.Spec",
	.basicsize = sizeof(SpecObject),
	.flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_IMMUTABLETYPE,
	.slots = spec_slots,
};

/* A NULL-terminated array of strings from a sequence of str/bytes/PathLike; *keep
 * holds the encoded bytes objects alive. */
static char **strv_from(PyObject *seq, PyObject **keep)
{
	PyObject *fast = PySequence_Fast(seq, "expected a sequence of strings");
	if (!fast)
		return NULL;
	Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
	char **v = PyMem_Calloc((size_t)n + 1, sizeof(*v));
	*keep = PyList_New(0);
	if (!v || !*keep)
		goto fail;
	for (Py_ssize_t i = 0; i < n; i++) {
		PyObject *b = NULL;
		if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(fast, i), &b))
			goto fail;
		int rc = PyList_Append(*keep, b);
		Py_DECREF(b);
		if (rc < 0)
			goto fail;
		v[i] = PyBytes_AS_STRING(b);
	}
	Py_DECREF(fast);
	return v;
fail:
	if (!v && !PyErr_Occurred())
		PyErr_NoMemory();
	PyMem_Free(v);
	Py_CLEAR(*keep);
	Py_DECREF(fast);
	return NULL;
}

static PyObject *controller_spec(ControllerObject *self, PyObject *args, PyObject *kw)
{
	static char *names[] = {"argv", "env", "cwd", "cores", "forked", NULL};
	PyObject *argv_o, *env_o, *cwd_o = Py_None, *keep_a = NULL, *keep_e = NULL, *cwd_b = NULL;
	int cores = 1, forked = 0;
	char err[PMP_ERR_MAX];
	core_state *st = core_state_of(Py_TYPE(self));

	if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|Oip:spec", names, &argv_o, &env_o, &cwd_o, &cores, &forked))
		return NULL;
	char **argv = strv_from(argv_o, &keep_a);
	char **env = argv ? strv_from(env_o, &keep_e) : NULL;
	SpecObject *out = NULL;
	if (!argv || !env)
		goto out;
	if (cwd_o != Py_None && !PyUnicode_FSConverter(cwd_o, &cwd_b))
		goto out;
	pmp_spec *spec = pmp_spec_new((const char *const *)argv, (const char *const *)env,
				      cwd_b ? PyBytes_AS_STRING(cwd_b) : NULL, cores, err, sizeof(err));
	if (!spec) {
		PyErr_SetString(PyExc_ValueError, err);
		goto out;
	}
	out = PyObject_New(SpecObject, st->spec_type);
	if (!out) {
		pmp_spec_unref(spec);
		goto out;
	}
	pmp_spec_set_forked(spec, forked);
	out->spec = spec;
out:
	PyMem_Free(argv);
	PyMem_Free(env);
	Py_XDECREF(keep_a);
	Py_XDECREF(keep_e);
	Py_XDECREF(cwd_b);
	return (PyObject *)out;
}

/* ---------- events ---------- */

static void free_payloads(pmp_event *evs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		pmp_msg_free(evs[i].msg);
		evs[i].msg = NULL;
	}
}

static void free_batches(batch *b)
{
	while (b) {
		batch *next = b->next;
		free_payloads(b->evs, b->n);
		free(b);
		b = next;
	}
}

static int finalizing(void)
{
#if PY_VERSION_HEX >= 0x030D0000
	return Py_IsFinalizing();
#else
	return _Py_IsFinalizing();
#endif
}

/* Adds the events to list from index *at (their payloads move into Messages). */
static int add_items(core_state *st, PyObject *list, Py_ssize_t *at, pmp_event *evs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		PyObject *msg = Py_None;
		if (evs[i].msg) {
			msg = core_message_new(st, evs[i].msg);
			evs[i].msg = NULL;
		} else {
			Py_INCREF(msg);
		}
		PyObject *item = msg ? Py_BuildValue("(iKiiNs)", (int)evs[i].kind, (unsigned long long)evs[i].task,
						     (int)evs[i].worker, evs[i].status, msg, evs[i].text)
				     : NULL;
		if (!item)
			return -1;
		PyList_SET_ITEM(list, (*at)++, item);
	}
	return 0;
}

/* Calls on_events once with the events of evs and of the batches (the GIL held). */
static void call_handler(ControllerObject *self, pmp_event *evs, size_t n, batch *batches)
{
	core_state *st = core_state_of(Py_TYPE(self));
	size_t total = n;
	for (batch *b = batches; b; b = b->next)
		total += b->n;
	PyObject *list = PyList_New((Py_ssize_t)total);
	Py_ssize_t at = 0;
	int rc = list ? add_items(st, list, &at, evs, n) : -1;
	for (batch *b = batches; b && rc == 0; b = b->next)
		rc = add_items(st, list, &at, b->evs, b->n);
	free_payloads(evs, n); /* those not handed over */
	free_batches(batches);
	if (rc < 0)
		Py_CLEAR(list);
	PyObject *out = list ? PyObject_CallOneArg(self->on_events, list) : NULL;
	if (!out)
		PyErr_WriteUnraisable(self->on_events);
	Py_XDECREF(out);
	Py_XDECREF(list);
}

static void *delivery_main(void *arg)
{
	ControllerObject *self = arg;
	sigset_t all;

	sigfillset(&all); /* signals are for the application's threads */
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	pthread_setname_np(pthread_self(), "pmp-deliver"); /* top -H, perf: not "python3" */
	pthread_mutex_lock(&self->dl_lock);
	for (;;) {
		while (!self->dl_head && !self->dl_closing)
			pthread_cond_wait(&self->dl_cond, &self->dl_lock);
		if (!self->dl_head)
			break; /* closing, and all delivered */
		self->dl_busy = true;
		pthread_mutex_unlock(&self->dl_lock);
		if (finalizing()) { /* nobody is left to tell */
			pthread_mutex_lock(&self->dl_lock);
			free_batches(self->dl_head);
			self->dl_head = self->dl_tail = NULL;
			self->dl_busy = false;
			pthread_cond_broadcast(&self->dl_cond); /* deliver() may wait for this */
			continue;
		}
		PyGILState_STATE gil = PyGILState_Ensure();
		/* All that came while it waited for the GIL goes in one call. */
		pthread_mutex_lock(&self->dl_lock);
		batch *list = self->dl_head;
		self->dl_head = self->dl_tail = NULL;
		pthread_mutex_unlock(&self->dl_lock);
		call_handler(self, NULL, 0, list);
		PyGILState_Release(gil);
		pthread_mutex_lock(&self->dl_lock);
		self->dl_busy = false;
		pthread_cond_broadcast(&self->dl_cond); /* deliver() may wait for this */
	}
	pthread_mutex_unlock(&self->dl_lock);
	return NULL;
}

/* A copy of the events (payloads move, texts are copied), or NULL. */
static batch *copy_batch(pmp_event *evs, size_t n)
{
	size_t texts = 0;
	for (size_t i = 0; i < n; i++)
		texts += evs[i].text && evs[i].text[0] ? strlen(evs[i].text) + 1 : 0;
	batch *b = malloc(sizeof(*b) + n * sizeof(pmp_event) + texts);
	if (!b)
		return NULL;
	char *text = (char *)&b->evs[n];
	b->next = NULL;
	b->n = n;
	for (size_t i = 0; i < n; i++) {
		b->evs[i] = evs[i];
		evs[i].msg = NULL;
		if (evs[i].text && evs[i].text[0]) {
			size_t len = strlen(evs[i].text) + 1;
			memcpy(text, evs[i].text, len);
			b->evs[i].text = text;
			text += len;
		} else {
			b->evs[i].text = "";
		}
	}
	return b;
}

/* Hands the events to the delivery thread (started on first use): 0, or -1 when it
 * cannot (then nothing was taken). Called with dl_lock held. */
static int hand_over(ControllerObject *self, pmp_event *evs, size_t n)
{
	if (!self->dl_started) {
		if (pthread_create(&self->dl_thread, NULL, delivery_main, self) != 0)
			return -1;
		self->dl_started = true;
	}
	batch *b = copy_batch(evs, n);
	if (!b)
		return -1;
	if (self->dl_tail)
		self->dl_tail->next = b;
	else
		self->dl_head = b;
	self->dl_tail = b;
	pthread_cond_broadcast(&self->dl_cond);
	return 0;
}

/* Set while this thread runs libpmp's I/O in wait(): it waits for these events itself. */
static _Thread_local bool in_wait;

static void deliver(void *ctx, pmp_event *evs, size_t n)
{
	ControllerObject *self = ctx;
	pmp_controller *ctl = __atomic_load_n(&self->ctl, __ATOMIC_ACQUIRE);

	pthread_mutex_lock(&self->dl_lock);
	/* Events are delivered in order: behind those the delivery thread holds. A thread
	 * in wait() delivers its own: it gave the GIL up to wait for them, and the result
	 * it waits for is among them (handed over, it would wait for the hop after all). */
	bool behind = self->dl_head || self->dl_busy;
	if ((behind || (!in_wait && ctl && pmp_controller_queued(ctl) > 0)) && hand_over(self, evs, n) == 0) {
		pthread_mutex_unlock(&self->dl_lock);
		return;
	}
	while (self->dl_head || self->dl_busy) /* out of memory: wait for those before */
		pthread_cond_wait(&self->dl_cond, &self->dl_lock);
	pthread_mutex_unlock(&self->dl_lock);
	if (finalizing()) { /* nobody is left to tell */
		free_payloads(evs, n);
		return;
	}
	PyGILState_STATE gil = PyGILState_Ensure();
	call_handler(self, evs, n, NULL);
	PyGILState_Release(gil);
}

/* After the I/O thread: the delivery thread delivers what it holds, and ends. */
static void stop_delivery(ControllerObject *self)
{
	pthread_mutex_lock(&self->dl_lock);
	self->dl_closing = true;
	pthread_cond_broadcast(&self->dl_cond);
	bool join = self->dl_started && !self->dl_joined && !pthread_equal(self->dl_thread, pthread_self());
	pthread_mutex_unlock(&self->dl_lock);
	if (join) {
		Py_BEGIN_ALLOW_THREADS
		pthread_join(self->dl_thread, NULL);
		Py_END_ALLOW_THREADS
		self->dl_joined = true;
	}
}

/* ---------- Controller ---------- */

static PyObject *controller_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *names[] = {"on_events", "bind", "prefetch", "shutdown_grace", "max_start_failures", "security",
				"max_message_size", "secret", "max_starting", "io_lend_us", NULL};
	PyObject *on_events;
	const char *bind = NULL, *secret = NULL;
	pmp_controller_config cfg = {0};
	long long max_message_size = 0;
	char err[PMP_ERR_MAX];

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|zidiiLzii:Controller", names, &on_events, &bind, &cfg.prefetch,
					 &cfg.shutdown_grace, &cfg.max_start_failures, &cfg.security,
					 &max_message_size, &secret, &cfg.max_starting, &cfg.io_lend_us))
		return NULL;
	cfg.max_message_size = max_message_size;
	if (!PyCallable_Check(on_events)) {
		PyErr_SetString(PyExc_TypeError, "on_events must be callable");
		return NULL;
	}
	cfg.bind = bind;
	cfg.secret = secret;
	ControllerObject *self = (ControllerObject *)type->tp_alloc(type, 0);
	if (!self)
		return NULL;
	pthread_mutex_init(&self->dl_lock, NULL);
	pthread_cond_init(&self->dl_cond, NULL);
	self->on_events = Py_NewRef(on_events);
	Py_INCREF(self); /* the I/O thread's: it may call deliver() at once */
	self->thread_ref = true;
	pmp_controller *ctl;
	Py_BEGIN_ALLOW_THREADS
	ctl = pmp_controller_start(&cfg, deliver, self, err, sizeof(err));
	Py_END_ALLOW_THREADS
	__atomic_store_n(&self->ctl, ctl, __ATOMIC_RELEASE);
	if (!self->ctl) {
		self->thread_ref = false;
		Py_DECREF(self);
		PyErr_SetString(core_state_of(type)->error, err);
		Py_DECREF(self);
		return NULL;
	}
	return (PyObject *)self;
}

static int controller_traverse(ControllerObject *self, visitproc visit, void *arg)
{
	Py_VISIT(Py_TYPE(self));
	Py_VISIT(self->on_events);
	return 0;
}

static int controller_clear(ControllerObject *self)
{
	/* The I/O thread, or the delivery thread, may still call on_events: keep it until
	 * they are gone. */
	if (!self->ctl && (!self->dl_started || self->dl_joined))
		Py_CLEAR(self->on_events);
	return 0;
}

static void controller_dealloc(ControllerObject *self)
{
	PyTypeObject *tp = Py_TYPE(self);
	PyObject_GC_UnTrack(self);
	if (self->ctl) { /* joined already, or the thread would hold a reference */
		pmp_controller *ctl = self->ctl;
		self->ctl = NULL;
		Py_BEGIN_ALLOW_THREADS
		pmp_controller_free(ctl);
		Py_END_ALLOW_THREADS
	}
	stop_delivery(self);
	free_batches(self->dl_head); /* none: it delivered them */
	pthread_mutex_destroy(&self->dl_lock);
	pthread_cond_destroy(&self->dl_cond);
	Py_CLEAR(self->on_events);
	tp->tp_free(self);
	Py_DECREF(tp);
}

static int check_open(ControllerObject *self)
{
	if (self->ctl)
		return 0;
	PyErr_SetString(core_state_of(Py_TYPE(self))->error, "pmp: the controller is closed");
	return -1;
}

static PyObject *controller_endpoint(ControllerObject *self, void *closure)
{
	(void)closure;
	if (check_open(self) < 0)
		return NULL;
	return PyUnicode_FromString(pmp_controller_endpoint(self->ctl));
}

static PyObject *controller_secret(ControllerObject *self, void *closure)
{
	(void)closure;
	if (check_open(self) < 0)
		return NULL;
	return PyUnicode_FromString(pmp_controller_secret(self->ctl));
}

static SpecObject *as_spec(ControllerObject *self, PyObject *o)
{
	core_state *st = core_state_of(Py_TYPE(self));
	if (!PyObject_TypeCheck(o, st->spec_type)) {
		PyErr_SetString(PyExc_TypeError, "expected a Spec from Controller.spec()");
		return NULL;
	}
	return (SpecObject *)o;
}

static PyObject *controller_add_workers(ControllerObject *self, PyObject *args)
{
	PyObject *spec_o;
	int n;
	char err[PMP_ERR_MAX];
	if (!PyArg_ParseTuple(args, "Oi:add_workers", &spec_o, &n) || check_open(self) < 0)
		return NULL;
	SpecObject *spec = as_spec(self, spec_o);
	if (!spec)
		return NULL;
	if (pmp_controller_add_workers(self->ctl, spec->spec, n, err, sizeof(err)) < 0) {
		PyErr_SetString(core_state_of(Py_TYPE(self))->error, err);
		return NULL;
	}
	Py_RETURN_NONE;
}

static PyObject *controller_expect_workers(ControllerObject *self, PyObject *arg)
{
	char err[PMP_ERR_MAX];
	long n = PyLong_AsLong(arg);
	if ((n == -1 && PyErr_Occurred()) || check_open(self) < 0)
		return NULL;
	if (n < 0 || n > INT_MAX) {
		PyErr_SetString(PyExc_ValueError, "expect_workers needs a count >= 0");
		return NULL;
	}
	int32_t first = pmp_controller_expect_workers(self->ctl, (int)n, err, sizeof(err));
	if (first < 0 && n > 0) {
		PyErr_SetString(core_state_of(Py_TYPE(self))->error, err);
		return NULL;
	}
	return PyLong_FromLong(first);
}

static PyObject *controller_set_init(ControllerObject *self, PyObject *frames)
{
	frames_view fv;
	char err[PMP_ERR_MAX];
	if (check_open(self) < 0 || frames_acquire(frames, &fv) < 0)
		return NULL;
	int rc = pmp_controller_set_init(self->ctl, fv.frames, (size_t)fv.n, err, sizeof(err));
	frames_release(&fv);
	if (rc < 0) {
		PyErr_SetString(core_state_of(Py_TYPE(self))->error, err);
		return NULL;
	}
	Py_RETURN_NONE;
}

static PyObject *controller_set_capacity(ControllerObject *self, PyObject *arg)
{
	long cores = PyLong_AsLong(arg);
	if ((cores == -1 && PyErr_Occurred()) || check_open(self) < 0)
		return NULL;
	if (cores < 0 || cores > INT_MAX) {
		PyErr_SetString(PyExc_ValueError, "capacity must be between 0 and INT_MAX cores");
		return NULL;
	}
	pmp_controller_set_capacity(self->ctl, (int)cores);
	Py_RETURN_NONE;
}

static PyObject *controller_submit(ControllerObject *self, PyObject *args)
{
	unsigned long long task;
	unsigned int kind = 0;
	PyObject *frames, *spec_o = Py_None;
	frames_view fv;
	char err[PMP_ERR_MAX];
	int rc;

	if (!PyArg_ParseTuple(args, "KO|OI:submit", &task, &frames, &spec_o, &kind) || check_open(self) < 0)
		return NULL;
	SpecObject *spec = spec_o == Py_None ? NULL : as_spec(self, spec_o);
	if (spec_o != Py_None && !spec)
		return NULL;
	if (frames_acquire(frames, &fv) < 0)
		return NULL;
	if (fv.bytes > BIG_FRAMES) {
		Py_BEGIN_ALLOW_THREADS
		rc = pmp_controller_submit_kind(self->ctl, task, kind, spec ? spec->spec : NULL, fv.frames,
						(size_t)fv.n, err, sizeof(err));
		Py_END_ALLOW_THREADS
	} else {
		rc = pmp_controller_submit_kind(self->ctl, task, kind, spec ? spec->spec : NULL, fv.frames,
						(size_t)fv.n, err, sizeof(err));
	}
	frames_release(&fv);
	if (rc < 0) {
		PyErr_SetString(core_state_of(Py_TYPE(self))->error, err);
		return NULL;
	}
	Py_RETURN_NONE;
}

static PyObject *controller_wait(ControllerObject *self, PyObject *args)
{
	unsigned long long task;
	double timeout = -1;
	int rc;

	if (!PyArg_ParseTuple(args, "K|d:wait", &task, &timeout) || check_open(self) < 0)
		return NULL;
	pthread_mutex_lock(&self->dl_lock);
	self->waiting++; /* with the GIL: a close() after check_open() sees it */
	pthread_mutex_unlock(&self->dl_lock);
	Py_BEGIN_ALLOW_THREADS
	in_wait = true;
	rc = pmp_controller_wait(self->ctl, task, timeout);
	in_wait = false;
	pthread_mutex_lock(&self->dl_lock);
	if (--self->waiting == 0)
		pthread_cond_broadcast(&self->dl_cond);
	pthread_mutex_unlock(&self->dl_lock);
	Py_END_ALLOW_THREADS
	if (rc < 0) { /* a signal: its handler may raise (Ctrl-C) */
		if (PyErr_CheckSignals() < 0)
			return NULL;
		rc = PMP_WAIT_ELSEWHERE;
	}
	return PyLong_FromLong(rc);
}

static PyObject *controller_cancel(ControllerObject *self, PyObject *arg)
{
	unsigned long long task = PyLong_AsUnsignedLongLong(arg);
	if (PyErr_Occurred() || check_open(self) < 0)
		return NULL;
	return PyBool_FromLong(pmp_controller_cancel(self->ctl, task));
}

static PyObject *controller_task_state(ControllerObject *self, PyObject *arg)
{
	unsigned long long task = PyLong_AsUnsignedLongLong(arg);
	if (PyErr_Occurred())
		return NULL;
	if (!self->ctl) /* closed: every task has ended */
		return PyLong_FromLong(0);
	return PyLong_FromLong(pmp_controller_task_state(self->ctl, task));
}

static PyObject *controller_queued(ControllerObject *self, PyObject *unused)
{
	(void)unused;
	if (check_open(self) < 0)
		return NULL;
	return PyLong_FromSize_t(pmp_controller_queued(self->ctl));
}

static PyObject *controller_reclaim_io(ControllerObject *self, PyObject *unused)
{
	(void)unused;
	if (self->ctl) /* closed: no lend left to end */
		pmp_controller_reclaim_io(self->ctl);
	Py_RETURN_NONE;
}

static PyObject *controller_shutdown(ControllerObject *self, PyObject *unused)
{
	(void)unused;
	if (self->ctl)
		pmp_controller_shutdown(self->ctl);
	Py_RETURN_NONE;
}

static PyObject *controller_join(ControllerObject *self, PyObject *unused)
{
	(void)unused;
	if (self->ctl) {
		Py_BEGIN_ALLOW_THREADS
		pmp_controller_join(self->ctl);
		Py_END_ALLOW_THREADS
		stop_delivery(self); /* the I/O thread is gone: no more events */
	}
	if (self->thread_ref) {
		self->thread_ref = false;
		Py_DECREF(self); /* the caller holds another: self stays alive here */
	}
	Py_RETURN_NONE;
}

static PyObject *controller_close(ControllerObject *self, PyObject *unused)
{
	(void)unused;
	if (self->thread_ref) {
		PyErr_SetString(core_state_of(Py_TYPE(self))->error, "pmp: join() the controller before close()");
		return NULL;
	}
	pmp_controller *ctl = self->ctl;
	self->ctl = NULL;
	if (ctl) {
		Py_BEGIN_ALLOW_THREADS
		/* Threads in wait() leave it soon: after join() the controller is shut down. */
		pthread_mutex_lock(&self->dl_lock);
		while (self->waiting)
			pthread_cond_wait(&self->dl_cond, &self->dl_lock);
		pthread_mutex_unlock(&self->dl_lock);
		pmp_controller_free(ctl); /* the ZeroMQ context and its threads go too */
		Py_END_ALLOW_THREADS
	}
	Py_RETURN_NONE;
}

static PyMethodDef controller_methods[] = {
	{"spec", (PyCFunction)(void (*)(void))controller_spec, METH_VARARGS | METH_KEYWORDS,
	 "spec(argv, env, cwd=None, cores=1, forked=False): how to start a worker ({endpoint}, {worker_id} in "
	 "argv); forked: by a fork server of this command (pmp.worker), see pmp_spec_set_forked."},
	{"add_workers", (PyCFunction)controller_add_workers, METH_VARARGS,
	 "add_workers(spec, n): start n long-lived workers, replaced when they die."},
	{"set_init", (PyCFunction)controller_set_init, METH_O, "set_init(frames): sent to each long-lived worker first."},
	{"expect_workers", (PyCFunction)controller_expect_workers, METH_O,
	 "expect_workers(n) -> first id: n long-lived workers started by someone else (static mode)."},
	{"set_capacity", (PyCFunction)controller_set_capacity, METH_O, "set_capacity(cores): for per-task workers."},
	{"submit", (PyCFunction)controller_submit, METH_VARARGS,
	 "submit(task_id, frames, spec=None, kind=0): queue a task (frames are copied); tasks of one kind\n"
	 "(a 32-bit number, 0 none) run about as long as each other, and the controller learns how long."},
	{"wait", (PyCFunction)controller_wait, METH_VARARGS,
	 "wait(task_id, timeout=-1) -> 1 its event was delivered (on this thread, or before), 0 timed out, "
	 "2 wait otherwise (another thread runs the I/O, or shutdown began). Runs the I/O in this thread."},
	{"cancel", (PyCFunction)controller_cancel, METH_O, "cancel(task_id) -> True if it was still queued."},
	{"queued", (PyCFunction)controller_queued, METH_NOARGS, "Tasks not yet sent to a worker."},
	{"task_state", (PyCFunction)controller_task_state, METH_O,
	 "task_state(task_id) -> 1 queued, 2 on a worker, 0 neither."},
	{"reclaim_io", (PyCFunction)controller_reclaim_io, METH_NOARGS,
	 "The I/O thread takes the I/O back from the last wait() now: call it before waiting for "
	 "events in another way."},
	{"shutdown", (PyCFunction)controller_shutdown, METH_NOARGS,
	 "Finish queued and running tasks, then stop the workers (returns at once)."},
	{"join", (PyCFunction)controller_join, METH_NOARGS, "Wait until the I/O thread and every worker are gone."},
	{"close", (PyCFunction)controller_close, METH_NOARGS, "Free everything (after join); the controller is unusable."},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef controller_getset[] = {
	{"endpoint", (getter)controller_endpoint, NULL, "The endpoint workers connect to.", NULL},
	{"secret", (getter)controller_secret, NULL, "What a worker needs in PMP_SECRET to be admitted.", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot controller_slots[] = {
	{Py_tp_doc, "Controller(on_events, bind=None, prefetch=0, shutdown_grace=0.0, max_start_failures=0, "
		    "security=0, max_message_size=0, secret=None, max_starting=0, io_lend_us=0)"},
	{Py_tp_new, controller_new},
	{Py_tp_dealloc, controller_dealloc},
	{Py_tp_traverse, controller_traverse},
	{Py_tp_clear, controller_clear},
	{Py_tp_methods, controller_methods},
	{Py_tp_getset, controller_getset},
	{0, NULL},
};

static PyType_Spec controller_type_spec = {
	.name = "pmp._core.Controller",
	.basicsize = sizeof(ControllerObject),
	.flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_IMMUTABLETYPE,
	.slots = controller_slots,
};

int core_add_controller(PyObject *module, core_state *st)
{
	st->spec_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &spec_spec, NULL);
	st->controller_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &controller_type_spec, NULL);
	if (!st->spec_type || !st->controller_type)
		return -1;
	if (PyModule_AddType(module, st->spec_type) < 0 || PyModule_AddType(module, st->controller_type) < 0)
		return -1;
	return 0;
}
