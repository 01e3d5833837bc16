/* pmp._core: the CPython face of libpmp. Multi-phase init, per-module state holding
 * heap types, the GIL released around every call that can block. */
#ifndef PMP_CORE_H
#define PMP_CORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "pmp.h"

/* settle()'s attribute and method names, by their places in core_state.names */
enum {
	S_ACQUIRE, S_RELEASE, S_PMP_COND, S_STATE, S_RESULT, S_EXCEPTION, S_PMP_EXECUTOR, S_SET_RUNNING,
	S_SET_RESULT, S_SET_EXCEPTION, SETTLE_NAMES
};

typedef struct {
	PyTypeObject *controller_type;
	PyTypeObject *spec_type;
	PyTypeObject *worker_type;
	PyTypeObject *message_type;
	PyTypeObject *frame_type;
	PyObject *error; /* pmp._core.Error */
	PyObject *names[SETTLE_NAMES]; /* interned attribute and method names for settle() */
	PyObject *flush_name;          /* "flush", interned, for flush() */
} core_state;

core_state *core_state_of(PyTypeObject *type);

int core_add_controller(PyObject *module, core_state *st);
int core_add_worker(PyObject *module, core_state *st);
int core_add_message(PyObject *module, core_state *st);
int core_add_settle(PyObject *module, core_state *st);
int core_add_futures(PyObject *module); /* find_futures() */
int core_add_plain(PyObject *module);   /* plain() */
void core_clear_settle(core_state *st); /* drops settle()'s names */

/* Whether obj is of an exact type that holds no other object: None, bool, int, float,
 * complex, str, bytes (pmp/_deps.py's _ATOMIC). */
static inline int core_atomic(PyObject *obj)
{
	PyTypeObject *t = Py_TYPE(obj);
	return obj == Py_None || t == &PyLong_Type || t == &PyUnicode_Type || t == &PyFloat_Type || t == &PyBytes_Type ||
	       t == &PyBool_Type || t == &PyComplex_Type;
}

/* A Message owning m (a new reference), or NULL with an exception set (m is freed). */
PyObject *core_message_new(core_state *st, pmp_msg *m);

/* plain() for C: 1 obj pickles plainly, 0 not, -1 with an exception set (by_reference,
 * called for each function and class in obj, raised). */
int core_is_plain(PyObject *obj, PyObject *by_reference);

/* Views of a sequence of buffer objects, as frames. Release with frames_release. */
typedef struct {
	Py_buffer *views;
	pmp_frame *frames;
	Py_ssize_t n;
	size_t bytes;
} frames_view;
int frames_acquire(PyObject *seq, frames_view *fv);
void frames_release(frames_view *fv);

/* stream.flush() (name: "flush", interned), where the stream is still the worker's to
 * flush: a missing stream, None, one without flush() (a task replaced it) and a closed
 * one (OSError, ValueError) are skipped. 0, or -1 with another exception set. The one
 * copy of this rule: _core.flush() gives it to Python (pmp._output, pmp.worker). */
int core_flush_stream(PyObject *stream, PyObject *name);

/* Labelled output's per-task work for Worker.serve (labels.c): state is None (no labels)
 * or _output.Labeller.c_state(), (shared memory, epoll fd, sync). */
typedef struct {
	Py_buffer slots; /* the int64 slots shared with the output helper; slots.obj: labels are on */
	int pending_fd;  /* epoll: the pipes hold unread output, or the helper died */
	PyObject *sync;  /* Labeller._sync */
	PyObject *flush; /* st->flush_name, borrowed: the module outlives a serve() */
	PyObject *sysdict;               /* sys.__dict__, where sys.stdout and sys.stderr are looked up */
	PyObject *stream_names[2];       /* "stdout", "stderr", interned */
} core_labels;
int core_labels_open(core_state *st, PyObject *state, core_labels *l);
void core_labels_begin(core_labels *l, uint64_t task);
int core_labels_end(core_labels *l); /* -1 with an exception set */
void core_labels_close(core_labels *l);

/* A serial worker's common task in C, for Worker.serve (fast_task.c): state is None (off)
 * or pmp.worker's _fast_state(). */
typedef struct {
	bool on;
	PyObject *functions;    /* _serialize._functions: head -> function, shared with loads_task */
	PyObject *function_of;  /* _serialize.function_of(head): unpickles and caches a new one */
	PyObject *loads, *dumps; /* pickle's */
	PyObject *by_reference; /* for core_is_plain */
	PyObject *answer;       /* pmp.worker._answer(ok, value) -> (status, frames) */
	Py_ssize_t max_size;    /* of a result's pickle; 0: none */
	PyObject *protocol_kw, *protocol; /* ("protocol",), 5 */
} core_fast;
int core_fast_open(PyObject *state, core_fast *f);
void core_fast_close(core_fast *f);
/* The answer (status, frames) of the task in m; NotImplemented when it is not one for the
 * fast path (run() runs it); NULL with an exception set when pmp itself failed. */
PyObject *core_fast_run(core_fast *f, pmp_msg *m);

#endif
