/* Whether the C pickler writes an object as cloudpickle would (pmp/_serialize.py's dumps
 * tells why it matters): atomic values, tuples, lists and dicts of them of any size and
 * nesting up to PLAIN_MAX_DEPTH, and functions and classes that cloudpickle pickles by
 * reference. Walked in C so that size costs little: a map's chunk of 1,000 arguments and
 * its list of 1,000 results pickle plainly, and neither the controller nor the workers
 * import cloudpickle (10-15 ms each) for them. */
#include "core.h"

/* Deeper than this, cloudpickle decides (a container that holds itself ends here too). */
#define PLAIN_MAX_DEPTH 32

/* by_reference(function or class) -> whether it pickles by name. */
static int plain(PyObject *by_reference, PyObject *obj, int depth);

/* plain() of an item of a container that code run by by_reference could change. */
static int plain_item(PyObject *by_reference, PyObject *item, int depth)
{
	if (core_atomic(item))
		return 1;
	Py_INCREF(item);
	int rc = plain(by_reference, item, depth);
	Py_DECREF(item);
	return rc;
}

static int plain_dict(PyObject *by_reference, PyObject *dict, int depth)
{
	Py_ssize_t pos = 0;
	PyObject *key, *value;
	while (PyDict_Next(dict, &pos, &key, &value)) {
		Py_INCREF(value); /* the key's check may drop it from the dict; plain_item holds the key */
		int rc = plain_item(by_reference, key, depth);
		if (rc == 1)
			rc = plain_item(by_reference, value, depth);
		Py_DECREF(value);
		if (rc != 1)
			return rc;
	}
	return 1;
}

/* 1 plain, 0 not, -1 with an exception set (by_reference raised). */
static int plain(PyObject *by_reference, PyObject *obj, int depth)
{
	if (core_atomic(obj))
		return 1;
	if (PyTuple_CheckExact(obj) || PyList_CheckExact(obj) || PyDict_CheckExact(obj)) {
		if (depth >= PLAIN_MAX_DEPTH)
			return 0;
		if (PyDict_CheckExact(obj))
			return plain_dict(by_reference, obj, depth + 1);
		int rc = 1;
		if (PyTuple_CheckExact(obj))
			for (Py_ssize_t i = 0; rc == 1 && i < PyTuple_GET_SIZE(obj); i++)
				rc = plain_item(by_reference, PyTuple_GET_ITEM(obj, i), depth + 1);
		else /* the size again each time: it may shrink */
			for (Py_ssize_t i = 0; rc == 1 && i < PyList_GET_SIZE(obj); i++)
				rc = plain_item(by_reference, PyList_GET_ITEM(obj, i), depth + 1);
		return rc;
	}
	if (Py_IS_TYPE(obj, &PyFunction_Type) || Py_IS_TYPE(obj, &PyType_Type)) { /* a def; int, a module's class */
		PyObject *r = PyObject_CallOneArg(by_reference, obj);
		if (!r)
			return -1;
		int rc = PyObject_IsTrue(r);
		Py_DECREF(r);
		return rc;
	}
	if (Py_IS_TYPE(obj, &PyCFunction_Type)) { /* len, math.sqrt: by name, unless bound to an object */
		PyObject *self = PyCFunction_GET_SELF(obj);
		return self == NULL || PyModule_CheckExact(self);
	}
	return 0;
}

int core_is_plain(PyObject *obj, PyObject *by_reference)
{
	return plain(by_reference, obj, 0);
}

static PyObject *core_plain(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
	(void)module;
	if (nargs != 2) {
		PyErr_SetString(PyExc_TypeError, "plain(obj, by_reference) takes 2 arguments");
		return NULL;
	}
	int rc = core_is_plain(args[0], args[1]);
	if (rc < 0)
		return NULL;
	return PyBool_FromLong(rc);
}

static PyMethodDef plain_methods[] = {
	{"plain", (PyCFunction)(void (*)(void))core_plain, METH_FASTCALL,
	 "plain(obj, by_reference): whether obj is made of None, bool, int, float, complex, str and bytes values, "
	 "tuples, lists and dicts of them (exact types, nested at most 32 deep), built-in functions of modules, and "
	 "functions and classes (of metaclass type) for which by_reference(it) is true."},
	{NULL, NULL, 0, NULL},
};

int core_add_plain(PyObject *module)
{
	return PyModule_AddFunctions(module, plain_methods);
}
