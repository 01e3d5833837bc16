/* Futures among a task's arguments, found in C (pmp/_deps.py tells the rule): map's chunks
 * carry a thousand arguments a task, and the same walk in Python took 272 us a chunk of
 * 1,000 one-item tuples, nine times the chunk's pickling (timeit), a third of a 100-chunk
 * map's time. */
#include "core.h"

/* A container is looked for among those being walked (its ancestors) only from this depth
 * on: a container that holds itself is met again at every depth, so it is found, and the
 * common flat arguments pay nothing. */
#define CYCLE_CHECK_DEPTH 8

struct walk {
	PyObject *future_type;
	PyObject *found;  /* {id: future}, in the order first met */
	PyObject **path;  /* the containers being walked, outermost first (borrowed) */
	Py_ssize_t depth; /* how many of them */
	Py_ssize_t capacity;
};

static int walk(struct walk *w, PyObject *obj);

/* walk() of an item whose container may change under it (a __class__ property run by the
 * isinstance check can): the item is held while it is walked. */
static int walk_item(struct walk *w, PyObject *item)
{
	if (core_atomic(item))
		return 0;
	Py_INCREF(item);
	int rc = walk(w, item);
	Py_DECREF(item);
	return rc;
}

static int walk_pair(struct walk *w, PyObject *key, PyObject *value)
{
	Py_INCREF(value); /* walking the key may drop the value from its dict */
	int rc = walk_item(w, key) < 0 ? -1 : walk_item(w, value);
	Py_DECREF(value);
	return rc;
}

static int walk_iterable(struct walk *w, PyObject *iterable, int pairs)
{
	PyObject *it = PyObject_GetIter(iterable), *item;
	if (!it)
		return -1;
	int rc = 0;
	while (rc == 0 && (item = PyIter_Next(it))) {
		if (!pairs)
			rc = walk_item(w, item);
		else if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) /* a dict subclass's odd items() */
			rc = walk_item(w, item);
		else
			rc = walk_pair(w, PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1));
		Py_DECREF(item);
	}
	Py_DECREF(it);
	return rc < 0 || PyErr_Occurred() ? -1 : 0;
}

static int walk_dict(struct walk *w, PyObject *dict)
{
	if (!PyDict_CheckExact(dict)) { /* its own order (an OrderedDict's), as items() gives it */
		PyObject *items = PyObject_CallMethod(dict, "items", NULL);
		if (!items)
			return -1;
		int rc = walk_iterable(w, items, 1);
		Py_DECREF(items);
		return rc;
	}
	Py_ssize_t pos = 0;
	PyObject *key, *value;
	while (PyDict_Next(dict, &pos, &key, &value)) /* walk_item holds the key, walk_pair the value */
		if (walk_pair(w, key, value) < 0)
			return -1;
	return 0;
}

static int on_path(struct walk *w, PyObject *container)
{
	for (Py_ssize_t i = 0; i < w->depth; i++)
		if (w->path[i] == container)
			return 1;
	return 0;
}

static int walk_container(struct walk *w, PyObject *obj)
{
	if (w->depth >= CYCLE_CHECK_DEPTH && on_path(w, obj))
		return 0; /* it holds itself: its items are being walked already */
	if (w->depth == w->capacity) {
		Py_ssize_t capacity = w->capacity ? 2 * w->capacity : 16;
		PyObject **path = PyMem_Realloc(w->path, (size_t)capacity * sizeof(*path));
		if (!path) {
			PyErr_NoMemory();
			return -1;
		}
		w->path = path;
		w->capacity = capacity;
	}
	if (Py_EnterRecursiveCall(" while pmp looked for futures among a task's arguments"))
		return -1;
	w->path[w->depth++] = obj;
	int rc = 0;
	if (PyTuple_Check(obj)) {
		for (Py_ssize_t i = 0; rc == 0 && i < PyTuple_GET_SIZE(obj); i++)
			rc = walk_item(w, PyTuple_GET_ITEM(obj, i));
	} else if (PyList_Check(obj)) {
		for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(obj); i++) /* the size again: it may shrink */
			rc = walk_item(w, PyList_GET_ITEM(obj, i));
	} else if (PyDict_Check(obj)) {
		rc = walk_dict(w, obj);
	} else {
		rc = walk_iterable(w, obj, 0); /* a set or a frozenset */
	}
	w->depth--;
	Py_LeaveRecursiveCall();
	return rc;
}

static int container(PyObject *obj)
{
	return PyTuple_Check(obj) || PyList_Check(obj) || PyDict_Check(obj) || PyAnySet_Check(obj);
}

static int walk(struct walk *w, PyObject *obj)
{
	/* An exact container is no future: the isinstance check (a __class__ lookup when it
	 * fails) is skipped for the common case. */
	if (PyTuple_CheckExact(obj) || PyList_CheckExact(obj) || PyDict_CheckExact(obj) || PyAnySet_CheckExact(obj))
		return walk_container(w, obj);
	int is_future = PyObject_IsInstance(obj, w->future_type);
	if (is_future < 0)
		return -1;
	if (!is_future)
		return container(obj) ? walk_container(w, obj) : 0;
	PyObject *id = PyLong_FromVoidPtr(obj); /* unique while found holds the future */
	if (!id)
		return -1;
	PyObject *first = PyDict_SetDefault(w->found, id, obj); /* borrowed */
	Py_DECREF(id);
	return first ? 0 : -1;
}

/* find_futures(obj, future_type): the distinct instances of future_type in obj (in lists,
 * tuples, dicts (keys too), sets and frozensets, nested, their subclasses too), in the
 * order first met. A container that holds itself is walked once. */
static PyObject *core_find_futures(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
	(void)module;
	if (nargs != 2) {
		PyErr_SetString(PyExc_TypeError, "find_futures(obj, future_type) takes 2 arguments");
		return NULL;
	}
	if (!PyType_Check(args[1])) {
		PyErr_SetString(PyExc_TypeError, "find_futures: future_type must be a class");
		return NULL;
	}
	struct walk w = {.future_type = args[1], .found = PyDict_New()};
	PyObject *result = NULL;
	if (!w.found)
		return NULL;
	if (core_atomic(args[0]) || walk(&w, args[0]) == 0)
		result = PyDict_Values(w.found);
	PyMem_Free(w.path);
	Py_DECREF(w.found);
	return result;
}

static PyMethodDef futures_methods[] = {
	{"find_futures", (PyCFunction)(void (*)(void))core_find_futures, METH_FASTCALL,
	 "find_futures(obj, future_type): the distinct instances of future_type in obj and in the lists, tuples, "
	 "dicts (keys and values), sets and frozensets it holds, nested, in the order first met."},
	{NULL, NULL, 0, NULL},
};

int core_add_futures(PyObject *module)
{
	return PyModule_AddFunctions(module, futures_methods);
}
