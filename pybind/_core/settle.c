/* settle(): the executor's delivery of plain results, in C. For each OK result whose
 * future nobody watches (pmp._future.Future without its Condition), it does what
 * Executor._on_events and Future._settle do in Python: pop the future, unpickle, and
 * finish it under the module's condition lock. Any other future or event goes back to
 * Python, which handles it as before. In Python the delivery of one result took 8 us
 * of a 180 us round trip (benchmarks/perf/rt_breakdown.py). */
#include "core.h"

enum { KIT_TYPE, KIT_LOCK, KIT_PENDING, KIT_RUNNING, KIT_FINISHED, KIT_SIZE };

/* Finishes fut with value or exc if nobody has made its Condition (so nobody waits on
 * it or has a callback on it) and it is not done: 1; 0 when the caller must take the
 * general path; -1 with an exception. */
static int finish_unwatched(core_state *st, PyObject *fut, PyObject *const *kit, PyObject *value, PyObject *exc)
{
	PyObject *held = PyObject_CallMethodNoArgs(kit[KIT_LOCK], st->names[S_ACQUIRE]);
	if (!held)
		return -1;
	Py_DECREF(held);
	int done = 0;
	PyObject *cond = PyObject_GetAttr(fut, st->names[S_PMP_COND]);
	PyObject *state = cond ? PyObject_GetAttr(fut, st->names[S_STATE]) : NULL;
	if (!state) {
		done = -1;
	} else if (cond == Py_None && (state == kit[KIT_PENDING] || state == kit[KIT_RUNNING])) {
		done = PyObject_SetAttr(fut, st->names[S_RESULT], value ? value : Py_None) < 0 ||
			       PyObject_SetAttr(fut, st->names[S_EXCEPTION], exc ? exc : Py_None) < 0 ||
			       PyObject_SetAttr(fut, st->names[S_STATE], kit[KIT_FINISHED]) < 0
			   ? -1
			   : 1;
	}
	Py_XDECREF(cond);
	Py_XDECREF(state);
	/* released whatever happened, keeping an exception raised above */
	PyObject *type, *val, *tb;
	PyErr_Fetch(&type, &val, &tb);
	PyObject *released = PyObject_CallMethodNoArgs(kit[KIT_LOCK], st->names[S_RELEASE]);
	if (!released) {
		Py_XDECREF(type);
		Py_XDECREF(val);
		Py_XDECREF(tb);
		return -1;
	}
	Py_DECREF(released);
	PyErr_Restore(type, val, tb);
	return done;
}

/* The exception being raised, normalised, with its traceback; the error indicator cleared. */
static PyObject *take_exception(void)
{
	PyObject *type, *val, *tb;
	PyErr_Fetch(&type, &val, &tb);
	PyErr_NormalizeException(&type, &val, &tb);
	if (val && tb)
		PyException_SetTraceback(val, tb);
	Py_XDECREF(type);
	Py_XDECREF(tb);
	return val;
}

/* One event: 1 when handled here (settled, or its future is gone), 0 to leave it to
 * Python, -1 with an exception. */
static int settle_one(core_state *st, PyObject *item, PyObject *futures, PyObject *const *kit, PyObject *loads)
{
	if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 6)
		return 0;
	PyObject *kind = PyTuple_GET_ITEM(item, 0), *task = PyTuple_GET_ITEM(item, 1);
	PyObject *status = PyTuple_GET_ITEM(item, 3), *message = PyTuple_GET_ITEM(item, 4);
	if (!PyLong_Check(kind) || PyLong_AsLong(kind) != PMP_EVENT_RESULT || !PyLong_Check(status) ||
	    PyLong_AsLong(status) != PMP_OK)
		return PyErr_Occurred() ? -1 : 0;
	PyObject *fut = PyDict_GetItemWithError(futures, task);
	if (!fut)
		return PyErr_Occurred() ? -1 : 1; /* cancelled or settled already: as in Python */
	if (Py_TYPE(fut) != (PyTypeObject *)kit[KIT_TYPE])
		return 0;
	Py_INCREF(fut);
	int rc = -1;
	PyObject *value = NULL, *exc = NULL;
	if (PyDict_DelItem(futures, task) < 0 || PyObject_SetAttr(fut, st->names[S_PMP_EXECUTOR], Py_None) < 0)
		goto out;
	/* Unpickled first (in Python, after the future was marked running): a future on a
	 * worker can no longer be cancelled, so the work is the same. */
	value = PyObject_CallOneArg(loads, message);
	if (!value && !(exc = take_exception()))
		goto out;
	int done = finish_unwatched(st, fut, kit, value, exc);
	if (done < 0)
		goto out;
	if (!done) { /* someone watches it: the Future's own methods, as in Python */
		PyObject *running = PyObject_CallMethodNoArgs(fut, st->names[S_SET_RUNNING]);
		if (!running)
			goto out;
		int go = PyObject_IsTrue(running);
		Py_DECREF(running);
		if (go < 0)
			goto out;
		if (go) {
			PyObject *setter = st->names[value ? S_SET_RESULT : S_SET_EXCEPTION];
			PyObject *out = PyObject_CallMethodOneArg(fut, setter, value ? value : exc);
			if (!out)
				goto out;
			Py_DECREF(out);
		}
	}
	rc = 1;
out:
	Py_XDECREF(value);
	Py_XDECREF(exc);
	Py_DECREF(fut);
	return rc;
}

/* settle(events, futures, kit, loads) -> the events left for Python. */
static PyObject *core_settle(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
	core_state *st = PyModule_GetState(module);
	if (nargs != 4 || !PyList_Check(args[0]) || !PyDict_Check(args[1]) || !PyTuple_Check(args[2]) ||
	    PyTuple_GET_SIZE(args[2]) != KIT_SIZE || !PyType_Check(PyTuple_GET_ITEM(args[2], KIT_TYPE))) {
		PyErr_SetString(PyExc_TypeError, "settle(events: list, futures: dict, kit: tuple, loads)");
		return NULL;
	}
	PyObject *events = args[0];
	PyObject *left = PyList_New(0);
	if (!left)
		return NULL;
	for (Py_ssize_t i = 0; i < PyList_GET_SIZE(events); i++) {
		PyObject *item = PyList_GET_ITEM(events, i);
		Py_INCREF(item); /* a callback may change the list */
		int rc = settle_one(st, item, args[1], &PyTuple_GET_ITEM(args[2], 0), args[3]);
		if (rc == 0)
			rc = PyList_Append(left, item);
		Py_DECREF(item);
		if (rc < 0) {
			Py_DECREF(left);
			return NULL;
		}
	}
	return left;
}

static PyMethodDef settle_methods[] = {
	{"settle", (PyCFunction)(void (*)(void))core_settle, METH_FASTCALL,
	 "settle(events, futures, kit, loads) -> events: finishes the futures of the plain results among "
	 "events (kit: the Future type, its condition lock, PENDING, RUNNING, FINISHED); returns the rest."},
	{NULL, NULL, 0, NULL},
};

int core_add_settle(PyObject *module, core_state *st)
{
	static const char *const names[SETTLE_NAMES] = {
		[S_ACQUIRE] = "acquire",
		[S_RELEASE] = "release",
		[S_PMP_COND] = "_pmp_cond",
		[S_STATE] = "_state",
		[S_RESULT] = "_result",
		[S_EXCEPTION] = "_exception",
		[S_PMP_EXECUTOR] = "_pmp_executor",
		[S_SET_RUNNING] = "set_running_or_notify_cancel",
		[S_SET_RESULT] = "set_result",
		[S_SET_EXCEPTION] = "set_exception",
	};
	for (int i = 0; i < SETTLE_NAMES; i++)
		if (!(st->names[i] = PyUnicode_InternFromString(names[i])))
			return -1;
	return PyModule_AddFunctions(module, settle_methods);
}

void core_clear_settle(core_state *st)
{
	for (int i = 0; i < SETTLE_NAMES; i++)
		Py_CLEAR(st->names[i]);
}
