/* pmp._core: the CPython face of libpmp. Multi-phase init, per-module state holding
 * heap types, the GIL released around every call that can block. */
#ifndef PMP_CORE_H
#define PMP_CORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "pmp.h"

typedef struct {
	PyTypeObject *controller_type;
	PyTypeObject *spec_type;
	PyTypeObject *worker_type;
	PyTypeObject *message_type;
	PyTypeObject *frame_type;
	PyObject *error; /* pmp._core.Error */
	/* interned attribute and method names for settle() */
#define CORE_NAMES 10
	PyObject *s_acquire, *s_release, *s_pmp_cond, *s_state, *s_result, *s_exception, *s_pmp_executor,
		*s_set_running, *s_set_result, *s_set_exception;
} core_state;

core_state *core_state_of(PyTypeObject *type);

int core_add_controller(PyObject *module, core_state *st);
int core_add_worker(PyObject *module, core_state *st);
int core_add_message(PyObject *module, core_state *st);
int core_add_settle(PyObject *module, core_state *st);
void core_clear_settle(core_state *st); /* drops settle()'s names */

/* A Message owning m (a new reference), or NULL with an exception set (m is freed). */
PyObject *core_message_new(core_state *st, pmp_msg *m);

/* Views of a sequence of buffer objects, as frames. Release with frames_release. */
typedef struct {
	Py_buffer *views;
	pmp_frame *frames;
	Py_ssize_t n;
	size_t bytes;
} frames_view;
int frames_acquire(PyObject *seq, frames_view *fv);
void frames_release(frames_view *fv);

#endif
