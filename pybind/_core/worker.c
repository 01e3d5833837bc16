/* Worker: the worker side of libpmp for Python (pmp.worker's loop). */
#include "core.h"

typedef struct {
	PyObject_HEAD
	pmp_worker *w;
} WorkerObject;

static PyObject *worker_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
	static char *names[] = {"endpoint", "worker_id", NULL};
	const char *endpoint = NULL;
	int id = -1;
	char err[PMP_ERR_MAX];
	pmp_worker *w;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|zi:Worker", names, &endpoint, &id))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	w = pmp_worker_connect(endpoint, id, err, sizeof(err));
	Py_END_ALLOW_THREADS
	if (!w) {
		PyErr_SetString(core_state_of(type)->error, err);
		return NULL;
	}
	WorkerObject *self = (WorkerObject *)type->tp_alloc(type, 0);
	if (!self) {
		pmp_worker_close(w);
		return NULL;
	}
	self->w = w;
	return (PyObject *)self;
}

static void worker_close_now(WorkerObject *self)
{
	pmp_worker *w = self->w;
	self->w = NULL;
	if (w) {
		Py_BEGIN_ALLOW_THREADS
		pmp_worker_close(w); /* may linger (bounded) to flush a last result */
		Py_END_ALLOW_THREADS
	}
}

static void worker_dealloc(WorkerObject *self)
{
	PyTypeObject *tp = Py_TYPE(self);
	worker_close_now(self);
	tp->tp_free(self);
	Py_DECREF(tp);
}

static int check_open(WorkerObject *self)
{
	if (self->w)
		return 0;
	PyErr_SetString(core_state_of(Py_TYPE(self))->error, "pmp: the worker is closed");
	return -1;
}

/* The next request, with the GIL released while waiting; a signal handler may raise. */
static int recv_request(WorkerObject *self, pmp_request *req)
{
	char err[PMP_ERR_MAX];
	int rc;
	for (;;) {
		Py_BEGIN_ALLOW_THREADS
		rc = pmp_worker_recv(self->w, req, err, sizeof(err));
		Py_END_ALLOW_THREADS
		if (rc == 0)
			return 0;
		if (PyErr_CheckSignals() < 0)
			return -1;
		if (strcmp(err, "pmp: interrupted") != 0) {
			PyErr_SetString(core_state_of(Py_TYPE(self))->error, err);
			return -1;
		}
	}
}

static PyObject *worker_recv(WorkerObject *self, PyObject *unused)
{
	pmp_request req;
	(void)unused;

	if (check_open(self) < 0 || recv_request(self, &req) < 0)
		return NULL;
	PyObject *msg = Py_None;
	if (req.msg) {
		msg = core_message_new(core_state_of(Py_TYPE(self)), req.msg);
		if (!msg)
			return NULL;
	} else {
		Py_INCREF(msg);
	}
	return Py_BuildValue("(iKON)", (int)req.kind, (unsigned long long)req.task, req.last ? Py_True : Py_False, msg);
}

static PyObject *worker_send(WorkerObject *self, PyObject *args)
{
	unsigned long long task;
	int status;
	PyObject *frames;
	frames_view fv;
	char err[PMP_ERR_MAX];
	int rc;

	if (!PyArg_ParseTuple(args, "KiO:send", &task, &status, &frames) || check_open(self) < 0)
		return NULL;
	if (frames_acquire(frames, &fv) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	rc = pmp_worker_send(self->w, task, status == PMP_ERROR ? PMP_ERROR : PMP_OK, fv.frames, (size_t)fv.n, err,
			     sizeof(err));
	Py_END_ALLOW_THREADS
	frames_release(&fv);
	if (rc < 0) {
		PyErr_SetString(core_state_of(Py_TYPE(self))->error, err);
		return NULL;
	}
	Py_RETURN_NONE;
}

static int send_answer(WorkerObject *self, uint64_t task, PyObject *answer)
{
	int status, rc;
	PyObject *frames;
	frames_view fv;
	char err[PMP_ERR_MAX];

	if (!PyArg_ParseTuple(answer, "iO:serve's run() must return (status, frames)", &status, &frames) ||
	    frames_acquire(frames, &fv) < 0)
		return -1;
	Py_BEGIN_ALLOW_THREADS
	rc = pmp_worker_send(self->w, task, status == PMP_ERROR ? PMP_ERROR : PMP_OK, fv.frames, (size_t)fv.n, err,
			     sizeof(err));
	Py_END_ALLOW_THREADS
	frames_release(&fv);
	if (rc < 0)
		PyErr_SetString(core_state_of(Py_TYPE(self))->error, err);
	return rc;
}

/* run(message, task_id): the task id lets the worker name the task in its output. */
static PyObject *call_run(PyObject *run, PyObject *msg, uint64_t task)
{
	PyObject *id = PyLong_FromUnsignedLongLong(task);
	if (!id)
		return NULL;
	PyObject *argv[] = {msg, id};
	PyObject *out = PyObject_Vectorcall(run, argv, 2, NULL);
	Py_DECREF(id);
	return out;
}

/* The task's answer: by fast_task.c, or by run(message, task_id). Frees m. */
static PyObject *run_task(core_state *st, core_fast *fast, PyObject *run, pmp_msg *m, uint64_t task)
{
	PyObject *answer = core_fast_run(fast, m);
	if (answer != Py_NotImplemented) {
		pmp_msg_free(m);
		return answer;
	}
	Py_DECREF(answer);
	PyObject *msg = core_message_new(st, m);
	if (!msg)
		return NULL;
	answer = call_run(run, msg, task);
	Py_DECREF(msg);
	return answer;
}

/* The worker's loop, in C: receive (without the GIL), run(message, task_id) -> (status,
 * frames), send; init(message) for an INIT. With labels (see labels.c), each task's id is
 * the output helper's label while it runs, and its output goes out before its result.
 * With fast (see fast_task.c), a common task runs in C until an init function is set.
 * Returns when the controller says so, or is gone. */
static PyObject *worker_serve(WorkerObject *self, PyObject *args)
{
	PyObject *run, *init, *label_state = Py_None, *fast_state = Py_None, *done = NULL;
	core_state *st = core_state_of(Py_TYPE(self));
	core_labels labels;
	core_fast fast;

	if (!PyArg_ParseTuple(args, "OO|OO:serve", &run, &init, &label_state, &fast_state) || check_open(self) < 0 ||
	    core_fast_open(fast_state, &fast) < 0)
		return NULL;
	if (core_labels_open(st, label_state, &labels) < 0) {
		core_fast_close(&fast);
		return NULL;
	}
	for (;;) {
		pmp_request req;
		if (recv_request(self, &req) < 0)
			goto out;
		if (req.kind == PMP_REQUEST_SHUTDOWN)
			break;
		PyObject *answer;
		if (req.kind == PMP_REQUEST_TASK) {
			core_labels_begin(&labels, req.task);
			answer = run_task(st, &fast, run, req.msg, req.task);
			if (answer && core_labels_end(&labels) < 0)
				Py_CLEAR(answer);
		} else {
			fast.on = false; /* the init function's values go to the tasks: _Task.run's work */
			PyObject *msg = core_message_new(st, req.msg);
			if (!msg)
				goto out;
			answer = PyObject_CallOneArg(init, msg);
			Py_DECREF(msg);
		}
		if (!answer)
			goto out;
		int rc = req.kind == PMP_REQUEST_TASK ? send_answer(self, req.task, answer) : 0;
		Py_DECREF(answer);
		if (rc < 0)
			goto out;
		if (req.kind == PMP_REQUEST_TASK && req.last)
			break;
	}
	done = Py_NewRef(Py_None);
out:
	core_labels_close(&labels);
	core_fast_close(&fast);
	return done;
}

static PyObject *worker_close(WorkerObject *self, PyObject *unused)
{
	(void)unused;
	worker_close_now(self);
	Py_RETURN_NONE;
}

static PyMethodDef worker_methods[] = {
	{"recv", (PyCFunction)worker_recv, METH_NOARGS,
	 "recv() -> (kind, task_id, last, message): blocks, without the GIL, for the next request."},
	{"send", (PyCFunction)worker_send, METH_VARARGS, "send(task_id, status, frames): a task's result or error."},
	{"serve", (PyCFunction)worker_serve, METH_VARARGS,
	 "serve(run, init, labels=None, fast=None): loop until shutdown: run(message, task_id) -> (status, frames) "
	 "for each task, init(message); labels: _output.Labeller.c_state(), to label each task's output; fast: "
	 "pmp.worker._fast_state(), to run common tasks in C."},
	{"close", (PyCFunction)worker_close, METH_NOARGS, "Disconnect (flushing a last result, for a bounded time)."},
	{NULL, NULL, 0, NULL},
};

static PyType_Slot worker_slots[] = {
	{Py_tp_doc, "Worker(endpoint=None, worker_id=-1): connect to the controller ($PMP_ENDPOINT, $PMP_WORKER_ID)."},
	{Py_tp_new, worker_new},
	{Py_tp_dealloc, worker_dealloc},
	{Py_tp_methods, worker_methods},
	{0, NULL},
};

static PyType_Spec worker_spec = {
	.name = "pmp._core.Worker",
	.basicsize = sizeof(WorkerObject),
	.flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
	.slots = worker_slots,
};

int core_add_worker(PyObject *module, core_state *st)
{
	st->worker_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &worker_spec, NULL);
	if (!st->worker_type || PyModule_AddType(module, st->worker_type) < 0)
		return -1;
	return 0;
}
