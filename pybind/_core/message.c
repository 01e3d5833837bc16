/* Message: the frames of a received message, kept in ZeroMQ's own buffers. Each Frame
 * exports one of them through the buffer protocol (read-only), so pickle.loads() builds
 * out-of-band objects (numpy arrays) on them without a copy; a Frame keeps its Message
 * alive. */
#include "core.h"

typedef struct {
	PyObject_HEAD
	pmp_msg *msg;
} MessageObject;

typedef struct {
	PyObject_HEAD
	PyObject *message; /* MessageObject */
	pmp_frame frame;
} FrameObject;

PyObject *core_message_new(core_state *st, pmp_msg *m)
{
	MessageObject *self = PyObject_GC_New(MessageObject, st->message_type);
	if (!self) {
		pmp_msg_free(m);
		return NULL;
	}
	self->msg = m;
	PyObject_GC_Track(self);
	return (PyObject *)self;
}

static void message_dealloc(MessageObject *self)
{
	PyTypeObject *tp = Py_TYPE(self);
	PyObject_GC_UnTrack(self);
	pmp_msg_free(self->msg);
	tp->tp_free(self);
	Py_DECREF(tp);
}

static int message_traverse(MessageObject *self, visitproc visit, void *arg)
{
	Py_VISIT(Py_TYPE(self));
	return 0;
}

static Py_ssize_t message_len(MessageObject *self)
{
	return (Py_ssize_t)pmp_msg_count(self->msg);
}

static PyObject *message_item(MessageObject *self, Py_ssize_t i)
{
	if (i < 0 || (size_t)i >= pmp_msg_count(self->msg)) {
		PyErr_SetString(PyExc_IndexError, "frame index out of range");
		return NULL;
	}
	core_state *st = core_state_of(Py_TYPE(self));
	FrameObject *f = PyObject_GC_New(FrameObject, st->frame_type);
	if (!f)
		return NULL;
	f->message = Py_NewRef(self);
	f->frame = pmp_msg_frame(self->msg, (size_t)i);
	PyObject_GC_Track(f);
	return (PyObject *)f;
}

static PyType_Slot message_slots[] = {
	{Py_tp_doc, "The frames of one received message (a sequence of Frame)."},
	{Py_tp_dealloc, message_dealloc},
	{Py_tp_traverse, message_traverse},
	{Py_sq_length, message_len},
	{Py_sq_item, message_item},
	{0, NULL},
};

static PyType_Spec message_spec = {
	.name = "pmp._core.Message",
	.basicsize = sizeof(MessageObject),
	.flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION |
		 Py_TPFLAGS_IMMUTABLETYPE,
	.slots = message_slots,
};

static void frame_dealloc(FrameObject *self)
{
	PyTypeObject *tp = Py_TYPE(self);
	PyObject_GC_UnTrack(self);
	Py_CLEAR(self->message);
	tp->tp_free(self);
	Py_DECREF(tp);
}

static int frame_traverse(FrameObject *self, visitproc visit, void *arg)
{
	Py_VISIT(Py_TYPE(self));
	Py_VISIT(self->message);
	return 0;
}

static int frame_getbuffer(FrameObject *self, Py_buffer *view, int flags)
{
	return PyBuffer_FillInfo(view, (PyObject *)self, (void *)self->frame.data, (Py_ssize_t)self->frame.size,
				 1, flags);
}

static Py_ssize_t frame_len(FrameObject *self)
{
	return (Py_ssize_t)self->frame.size;
}

static PyType_Slot frame_slots[] = {
	{Py_tp_doc, "One frame of a Message, readable through the buffer protocol."},
	{Py_tp_dealloc, frame_dealloc},
	{Py_tp_traverse, frame_traverse},
	{Py_bf_getbuffer, frame_getbuffer},
	{Py_sq_length, frame_len},
	{0, NULL},
};

static PyType_Spec frame_spec = {
	.name = "pmp._core.Frame",
	.basicsize = sizeof(FrameObject),
	.flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION |
		 Py_TPFLAGS_IMMUTABLETYPE,
	.slots = frame_slots,
};

int core_add_message(PyObject *module, core_state *st)
{
	st->message_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &message_spec, NULL);
	st->frame_type = (PyTypeObject *)PyType_FromModuleAndSpec(module, &frame_spec, NULL);
	if (!st->message_type || !st->frame_type)
		return -1;
	if (PyModule_AddType(module, st->message_type) < 0 || PyModule_AddType(module, st->frame_type) < 0)
		return -1;
	return 0;
}
