/* Labelled output's per-task work, done by Worker.serve in C (pmp/_output.py tells the
 * whole design): before a task, its id goes into the memory shared with the output helper;
 * after it, Python's streams are flushed and one epoll_wait with no timeout tells whether
 * the pipes hold output the helper has not read, or the helper died; only then, or while
 * the helper holds unwritten output, does Python's Labeller._sync run. Done in Python
 * (Labeller.begin and end: four frames and a list a task) this was 5.9K of a no-op task's
 * 30.8K instructions in the worker (benchmarks/perf/callgrind.sh worker; 24.9K unlabelled). */
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "core.h"
#include "slots.h"

int core_labels_open(core_state *st, PyObject *state, core_labels *l)
{
	memset(l, 0, sizeof(*l));
	l->pending_fd = -1;
	if (state == Py_None)
		return 0;
	PyObject *shared, *sync;
	if (!PyArg_ParseTuple(state, "OiO:labels (shared memory, epoll fd, sync)", &shared, &l->pending_fd, &sync))
		return -1;
	if (PyObject_GetBuffer(shared, &l->slots, PyBUF_WRITABLE) < 0)
		return -1;
	if ((size_t)l->slots.len < SLOTS * sizeof(int64_t) || (uintptr_t)l->slots.buf % sizeof(int64_t)) {
		PyErr_SetString(PyExc_ValueError, "labels: the shared memory must hold two aligned int64 slots");
		core_labels_close(l);
		return -1;
	}
	l->flush = st->flush_name;
	l->sync = Py_NewRef(sync);
	/* sys.stdout and sys.stderr by interned names in sys's dict: PySys_GetObject makes a str
	 * of its name each call, 600 instructions of a task's 25.7K (callgrind.sh worker). */
	PyObject *sys = PyImport_ImportModule("sys");
	if (sys) {
		l->sysdict = Py_NewRef(PyModule_GetDict(sys));
		Py_DECREF(sys);
	}
	l->stream_names[0] = PyUnicode_InternFromString("stdout");
	l->stream_names[1] = PyUnicode_InternFromString("stderr");
	if (!l->sysdict || !l->stream_names[0] || !l->stream_names[1]) {
		core_labels_close(l);
		return -1;
	}
	return 0;
}

void core_labels_close(core_labels *l)
{
	PyBuffer_Release(&l->slots); /* nothing when labels are off: slots.obj is NULL */
	Py_CLEAR(l->sync);
	Py_CLEAR(l->sysdict);
	Py_CLEAR(l->stream_names[0]);
	Py_CLEAR(l->stream_names[1]);
	memset(l, 0, sizeof(*l));
	l->pending_fd = -1;
}

static int64_t *slots(core_labels *l)
{
	return l->slots.buf;
}

void core_labels_begin(core_labels *l, uint64_t task)
{
	if (l->slots.obj)
		__atomic_store_n(&slots(l)[SLOT_TASK], (int64_t)task, __ATOMIC_SEQ_CST);
}

/* sys.stdout or sys.stderr (which) .flush(), if still the worker's to flush
 * (core_flush_stream); a task may have replaced or deleted it. */
static int flush_stream(core_labels *l, int which)
{
	PyObject *stream = PyDict_GetItemWithError(l->sysdict, l->stream_names[which]); /* borrowed */
	if (!stream)
		return PyErr_Occurred() ? -1 : 0;
	Py_INCREF(stream); /* its flush() may drop sys's reference */
	int rc = core_flush_stream(stream, l->flush);
	Py_DECREF(stream);
	return rc;
}

int core_labels_end(core_labels *l)
{
	if (!l->slots.obj)
		return 0;
	if (flush_stream(l, 0) < 0 || flush_stream(l, 1) < 0)
		return -1;
	struct epoll_event ev;
	int n;
	do
		n = epoll_wait(l->pending_fd, &ev, 1, 0);
	while (n < 0 && errno == EINTR);
	/* n < 0 (the fd is not an epoll's any more): _sync finds out what is wrong. */
	if (n != 0 || __atomic_load_n(&slots(l)[SLOT_BUSY], __ATOMIC_SEQ_CST)) {
		PyObject *r = PyObject_CallNoArgs(l->sync);
		if (!r)
			return -1;
		Py_DECREF(r);
	}
	__atomic_store_n(&slots(l)[SLOT_TASK], -1, __ATOMIC_SEQ_CST);
	return 0;
}
