/* Module definition and shared helpers of pmp._core. */
#include "core.h"

core_state *core_state_of(PyTypeObject *type)
{
	return PyType_GetModuleState(type);
}

int frames_acquire(PyObject *seq, frames_view *fv)
{
	memset(fv, 0, sizeof(*fv));
	PyObject *fast = PySequence_Fast(seq, "frames must be a sequence of bytes-like objects");
	if (!fast)
		return -1;
	Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
	fv->views = PyMem_Calloc(n ? (size_t)n : 1, sizeof(Py_buffer));
	fv->frames = PyMem_Calloc(n ? (size_t)n : 1, sizeof(pmp_frame));
	if (!fv->views || !fv->frames) {
		Py_DECREF(fast);
		frames_release(fv);
		PyErr_NoMemory();
		return -1;
	}
	for (Py_ssize_t i = 0; i < n; i++) {
		if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(fast, i), &fv->views[i], PyBUF_C_CONTIGUOUS) < 0) {
			Py_DECREF(fast);
			frames_release(fv);
			return -1;
		}
		fv->n = i + 1;
		fv->frames[i].data = fv->views[i].buf;
		fv->frames[i].size = (size_t)fv->views[i].len;
		fv->bytes += (size_t)fv->views[i].len;
	}
	Py_DECREF(fast);
	return 0;
}

void frames_release(frames_view *fv)
{
	for (Py_ssize_t i = 0; i < fv->n; i++)
		PyBuffer_Release(&fv->views[i]);
	PyMem_Free(fv->views);
	PyMem_Free(fv->frames);
	memset(fv, 0, sizeof(*fv));
}

int core_flush_stream(PyObject *stream, PyObject *name)
{
	if (!stream || stream == Py_None)
		return 0;
	PyObject *r = PyObject_CallMethodNoArgs(stream, name);
	if (r) {
		Py_DECREF(r);
		return 0;
	}
	if (PyErr_ExceptionMatches(PyExc_AttributeError) || PyErr_ExceptionMatches(PyExc_OSError) ||
	    PyErr_ExceptionMatches(PyExc_ValueError)) {
		PyErr_Clear();
		return 0;
	}
	return -1;
}

static int core_exec(PyObject *module)
{
	core_state *st = PyModule_GetState(module);
	if (!(st->flush_name = PyUnicode_InternFromString("flush")))
		return -1;
	st->error = PyErr_NewExceptionWithDoc("pmp._core.Error", "A failure of the pmp runtime.",
					      PyExc_RuntimeError, NULL);
	if (!st->error || PyModule_AddObjectRef(module, "Error", st->error) < 0)
		return -1;
	if (core_add_message(module, st) < 0 || core_add_controller(module, st) < 0 || core_add_worker(module, st) < 0 ||
	    core_add_settle(module, st) < 0 || core_add_futures(module) < 0 ||
	    core_add_plain(module) < 0)
		return -1;
	if (PyModule_AddIntConstant(module, "OK", PMP_OK) < 0 || PyModule_AddIntConstant(module, "ERROR", PMP_ERROR) < 0 ||
	    PyModule_AddIntConstant(module, "EVENT_RESULT", PMP_EVENT_RESULT) < 0 ||
	    PyModule_AddIntConstant(module, "EVENT_TASK_LOST", PMP_EVENT_TASK_LOST) < 0 ||
	    PyModule_AddIntConstant(module, "EVENT_TASK_FAILED", PMP_EVENT_TASK_FAILED) < 0 ||
	    PyModule_AddIntConstant(module, "EVENT_WORKER_READY", PMP_EVENT_WORKER_READY) < 0 ||
	    PyModule_AddIntConstant(module, "EVENT_WORKER_EXIT", PMP_EVENT_WORKER_EXIT) < 0 ||
	    PyModule_AddIntConstant(module, "EVENT_BROKEN", PMP_EVENT_BROKEN) < 0 ||
	    PyModule_AddIntConstant(module, "REQUEST_TASK", PMP_REQUEST_TASK) < 0 ||
	    PyModule_AddIntConstant(module, "REQUEST_INIT", PMP_REQUEST_INIT) < 0 ||
	    PyModule_AddIntConstant(module, "REQUEST_SHUTDOWN", PMP_REQUEST_SHUTDOWN) < 0 ||
	    PyModule_AddIntConstant(module, "SECURITY_AUTO", PMP_SECURITY_AUTO) < 0 ||
	    PyModule_AddIntConstant(module, "SECURITY_CURVE", PMP_SECURITY_CURVE) < 0 ||
	    PyModule_AddIntConstant(module, "SECURITY_TOKEN", PMP_SECURITY_TOKEN) < 0)
		return -1;
	return 0;
}

static int core_traverse(PyObject *module, visitproc visit, void *arg)
{
	core_state *st = PyModule_GetState(module);
	Py_VISIT(st->controller_type);
	Py_VISIT(st->spec_type);
	Py_VISIT(st->worker_type);
	Py_VISIT(st->message_type);
	Py_VISIT(st->frame_type);
	Py_VISIT(st->error);
	return 0;
}

static int core_clear(PyObject *module)
{
	core_state *st = PyModule_GetState(module);
	Py_CLEAR(st->controller_type);
	Py_CLEAR(st->spec_type);
	Py_CLEAR(st->worker_type);
	Py_CLEAR(st->message_type);
	Py_CLEAR(st->frame_type);
	Py_CLEAR(st->error);
	Py_CLEAR(st->flush_name);
	core_clear_settle(st);
	return 0;
}

static void core_free(void *module)
{
	core_clear(module);
}

/* C's stdout on a pipe is block-buffered: a worker whose output is labelled through a
 * pipe makes it line-buffered, so what C code prints shows up while a long task runs.
 * Here rather than through ctypes, whose import costs a worker start 3 ms. */
static PyObject *core_line_buffer_stdout(PyObject *module, PyObject *unused)
{
	(void)module;
	(void)unused;
	fflush(stdout);
	if (setvbuf(stdout, NULL, _IOLBF, 0) != 0)
		return PyErr_SetFromErrno(PyExc_OSError);
	Py_RETURN_NONE;
}

static PyObject *core_flush(PyObject *module, PyObject *stream)
{
	if (core_flush_stream(stream, ((core_state *)PyModule_GetState(module))->flush_name) < 0)
		return NULL;
	Py_RETURN_NONE;
}

/* C's exit() without Python's teardown: C's stdio is flushed and C's atexit functions
 * and destructors run, as at the end of any process (see pmp.worker's _exit). */
static PyObject *core_exit(PyObject *module, PyObject *arg)
{
	(void)module;
	long code = PyLong_AsLong(arg);

	if (code == -1 && PyErr_Occurred())
		return NULL;
	exit((int)(code & 0xff));
}

/* A fork server's state for its hooks: the GIL, released while it waits for a request
 * and held around the fork with Python's own fork handlers (what os.fork() runs), and
 * the callable it runs when idle. */
struct fork_server {
	PyThreadState *ts;
	PyObject *idle;
};

static void before_fork(void *ctx)
{
	PyEval_RestoreThread(((struct fork_server *)ctx)->ts);
	PyOS_BeforeFork();
}

static void after_fork(void *ctx, int child)
{
	if (child)
		PyOS_AfterFork_Child();
	else
		PyOS_AfterFork_Parent();
	((struct fork_server *)ctx)->ts = PyEval_SaveThread();
}

static void fork_server_idle(void *ctx)
{
	struct fork_server *fs = ctx;
	PyEval_RestoreThread(fs->ts);
	PyObject *r = PyObject_CallNoArgs(fs->idle);
	if (r)
		Py_DECREF(r);
	else /* what it failed to load, the workers load themselves */
		PyErr_WriteUnraisable(fs->idle);
	fs->ts = PyEval_SaveThread();
}

/* pmp.worker as a fork server (pmp_serve_forks): returns the worker id in each forked
 * worker, None in the server once its controller is gone. */
static PyObject *core_serve_forks(PyObject *module, PyObject *args)
{
	PyObject *fd_o, *idle = Py_None;
	int32_t id = -1;
	char err[PMP_ERR_MAX];

	if (!PyArg_ParseTuple(args, "O|O:serve_forks", &fd_o, &idle))
		return NULL;
	int fd = PyObject_AsFileDescriptor(fd_o);
	if (fd < 0)
		return NULL;
	if (idle != Py_None && !PyCallable_Check(idle)) {
		PyErr_SetString(PyExc_TypeError, "serve_forks: idle must be callable or None");
		return NULL;
	}
	if (PyInterpreterState_Get() != PyInterpreterState_Main()) {
		PyErr_SetString(PyExc_RuntimeError, "pmp: a fork server runs in the main interpreter only");
		return NULL;
	}
	struct fork_server state = {NULL, idle};
	struct pmp_fork_hooks hooks = {before_fork, after_fork, idle == Py_None ? NULL : fork_server_idle, &state};
	state.ts = PyEval_SaveThread();
	int rc = pmp_serve_forks(fd, &hooks, &id, err, sizeof(err));
	PyEval_RestoreThread(state.ts);
	if (rc < 0) {
		PyErr_SetString(((core_state *)PyModule_GetState(module))->error, err);
		return NULL;
	}
	if (rc == 0)
		Py_RETURN_NONE;
	return PyLong_FromLong(id);
}

static PyMethodDef core_methods[] = {
	{"line_buffer_stdout", core_line_buffer_stdout, METH_NOARGS, "Make C's stdout line-buffered."},
	{"flush", core_flush, METH_O,
	 "flush(stream): stream.flush(), unless the stream is None, has no flush() (a task replaced it) or is "
	 "closed: the worker's own flushes never fail over a stream a task changed."},
	{"exit", core_exit, METH_O, "exit(code): end the process through C's exit(), without Python's teardown."},
	{"serve_forks", core_serve_forks, METH_VARARGS,
	 "serve_forks(fd, idle=None): fork a worker for each request of the controller on fd (PMP_FORK_FD), "
	 "calling idle() after an answer when no request waits; returns the worker's id in the worker, None in this fork server "
	 "once the controller is gone."},
	{NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot core_slots[] = {
	{Py_mod_exec, core_exec},
	{0, NULL},
};

static struct PyModuleDef core_def = {
	PyModuleDef_HEAD_INIT,
	.m_name = "pmp._core",
	.m_doc = "The pmp runtime (libpmp): controller, workers and their messages.",
	.m_size = sizeof(core_state),
	.m_methods = core_methods,
	.m_slots = core_slots,
	.m_traverse = core_traverse,
	.m_clear = core_clear,
	.m_free = core_free,
};

PyMODINIT_FUNC PyInit__core(void); /* the one exported symbol */

PyMODINIT_FUNC PyInit__core(void)
{
	return PyModuleDef_Init(&core_def);
}
