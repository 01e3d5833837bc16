/* A serial worker's common task in C: what pmp.worker's _Task.run and _answer do for a
 * function pickled by reference (a head frame, pmp/_serialize.py's dumps_task) with its
 * arguments in one more frame, whose result pickles plainly. Worker.serve asks here first;
 * any other task, and any outcome but a plain result (an exception, a result for
 * cloudpickle, one over max_message_size), goes to the Python code, which stays the one
 * definition of what a task's answer is. Done in Python, the glue around unpickling,
 * calling and pickling was more of a no-op task's instructions than the call. */
#include "core.h"

int core_fast_open(PyObject *state, core_fast *f)
{
	memset(f, 0, sizeof(*f));
	if (state == Py_None)
		return 0;
	PyObject *functions, *function_of, *loads, *dumps, *by_reference, *answer;
	Py_ssize_t max_size;
	if (!PyArg_ParseTuple(state, "O!OOOOOn:fast (functions, function_of, loads, dumps, by_reference, answer, "
			      "max size)", &PyDict_Type, &functions, &function_of, &loads, &dumps, &by_reference,
			      &answer, &max_size))
		return -1;
	f->protocol_kw = Py_BuildValue("(s)", "protocol");
	f->protocol = PyLong_FromLong(5);
	if (!f->protocol_kw || !f->protocol) {
		core_fast_close(f);
		return -1;
	}
	f->functions = Py_NewRef(functions);
	f->function_of = Py_NewRef(function_of);
	f->loads = Py_NewRef(loads);
	f->dumps = Py_NewRef(dumps);
	f->by_reference = Py_NewRef(by_reference);
	f->answer = Py_NewRef(answer);
	f->max_size = max_size;
	f->on = true;
	return 0;
}

void core_fast_close(core_fast *f)
{
	Py_CLEAR(f->functions);
	Py_CLEAR(f->function_of);
	Py_CLEAR(f->loads);
	Py_CLEAR(f->dumps);
	Py_CLEAR(f->by_reference);
	Py_CLEAR(f->answer);
	Py_CLEAR(f->protocol_kw);
	Py_CLEAR(f->protocol);
	f->on = false;
}

/* The function of a head frame: from the cache shared with _serialize.loads_task, or
 * unpickled into it by _serialize.function_of. New reference. */
static PyObject *function_of(core_fast *f, pmp_frame head)
{
	PyObject *key = PyBytes_FromStringAndSize(head.data, (Py_ssize_t)head.size);
	if (!key)
		return NULL;
	PyObject *fn = PyDict_GetItemWithError(f->functions, key);
	if (fn) {
		Py_INCREF(fn);
	} else if (!PyErr_Occurred()) {
		fn = PyObject_CallOneArg(f->function_of, key);
	}
	Py_DECREF(key);
	return fn;
}

/* fn(*args, **kwargs) of the task in m; NULL with the task's exception set. */
static PyObject *call_task(core_fast *f, pmp_msg *m)
{
	PyObject *fn = function_of(f, pmp_msg_frame(m, 0));
	if (!fn)
		return NULL;
	pmp_frame rest = pmp_msg_frame(m, 1);
	PyObject *view = PyMemoryView_FromMemory((char *)rest.data, (Py_ssize_t)rest.size, PyBUF_READ);
	PyObject *call = view ? PyObject_CallOneArg(f->loads, view) : NULL;
	Py_XDECREF(view);
	PyObject *result = NULL;
	if (call && PyTuple_CheckExact(call) && PyTuple_GET_SIZE(call) == 2 &&
	    PyTuple_CheckExact(PyTuple_GET_ITEM(call, 0)) && PyDict_CheckExact(PyTuple_GET_ITEM(call, 1))) {
		PyObject *kwargs = PyTuple_GET_ITEM(call, 1);
		result = PyObject_Call(fn, PyTuple_GET_ITEM(call, 0), PyDict_GET_SIZE(kwargs) ? kwargs : NULL);
	} else if (call) {
		PyErr_SetString(PyExc_TypeError, "pmp: a task's arguments did not unpickle to (args, kwargs)");
	}
	Py_XDECREF(call);
	Py_DECREF(fn);
	return result;
}

/* pickle.dumps(result, protocol=5) when result pickles plainly and within the size limit;
 * NULL otherwise (with an exception set if that failed). */
static PyObject *plain_pickle(core_fast *f, PyObject *result)
{
	int plain = core_is_plain(result, f->by_reference);
	if (plain <= 0)
		return NULL;
	PyObject *args[] = {result, f->protocol};
	PyObject *pickled = PyObject_Vectorcall(f->dumps, args, 1, f->protocol_kw);
	if (pickled && f->max_size > 0 && PyBytes_Check(pickled) && PyBytes_GET_SIZE(pickled) > f->max_size)
		Py_CLEAR(pickled); /* _answer says so */
	return pickled;
}

PyObject *core_fast_run(core_fast *f, pmp_msg *m)
{
	if (!f->on || pmp_msg_count(m) != 2 || pmp_msg_frame(m, 0).size == 0)
		return Py_NewRef(Py_NotImplemented);
	PyObject *result = call_task(f, m);
	if (!result) {
		/* The task raised, or its function or arguments did not unpickle: as _Task.run. */
		PyObject *type, *value, *tb;
		PyErr_Fetch(&type, &value, &tb);
		PyErr_NormalizeException(&type, &value, &tb);
		if (tb && value)
			PyException_SetTraceback(value, tb);
		PyObject *answer = value ? PyObject_CallFunctionObjArgs(f->answer, Py_False, value, NULL) : NULL;
		Py_XDECREF(type);
		Py_XDECREF(value);
		Py_XDECREF(tb);
		return answer;
	}
	PyObject *pickled = plain_pickle(f, result);
	PyObject *answer = NULL;
	if (pickled) {
		answer = Py_BuildValue("(i[N])", PMP_OK, pickled);
	} else if (!PyErr_Occurred() || PyErr_ExceptionMatches(PyExc_Exception)) {
		PyErr_Clear(); /* _answer pickles it again, and says what failed */
		answer = PyObject_CallFunctionObjArgs(f->answer, Py_True, result, NULL);
	}
	Py_DECREF(result);
	return answer;
}
