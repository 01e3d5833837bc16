"""What pmp's own wrappers run in a worker: a chunk of Executor.map, and Pool's calls and
chunks. Tasks pickle these functions by reference, so a worker imports the module they
live in at its first such task: here, with nothing heavy, rather than in pmp.executor or
pmp.pool, whose imports (concurrent.futures, logging, threading, multiprocessing) cost
each worker 16 ms and more at its first map (python3 -X importtime)."""
import itertools
import sys
import types


def run_chunk(fn, chunk):
    """A task of Executor.map(chunksize > 1): fn(*args) for each args of the chunk."""
    return [fn(*args) for args in chunk]


#: In a worker: {module name: its globals}, for functions pickled by value (those of
#: __main__, or of a Jupyter cell). cloudpickle gives every pickled function a namespace
#: of its own, rebuilt from the controller's values: a global set by the initializer, or
#: by an earlier task, would be invisible to the next tasks. Kept here and given back to
#: each task, it behaves as the module of a multiprocessing worker does.
_namespaces = {}


def _by_value_globals(fn):
    """The globals of a function that was pickled by value (not its module's namespace), or None."""
    g = getattr(fn, "__globals__", None)
    if not isinstance(g, dict):
        return None
    module = sys.modules.get(g.get("__name__"))
    return g if getattr(module, "__dict__", None) is not g else None


def in_namespace(fn, run):
    """run(), fn's globals filled with what this worker's earlier tasks (and initializer)
    assigned to the globals of fn's module; what run() assigns is kept for the next ones."""
    g = _by_value_globals(fn)
    if g is None:
        return run()
    namespace = _namespaces.setdefault(g.get("__name__"), {})
    g.update(namespace)
    try:
        return run()
    finally:
        for name, value in g.items():
            if name.startswith("__") and name.endswith("__"):
                continue
            if isinstance(value, types.FunctionType) and value.__globals__ is g:
                continue  # this pickle's own functions: the next task brings them again
            namespace[name] = value


def run_initializer(initializer, initargs):
    """Pool's init_function: initializer(*initargs) once per worker (per rank)."""
    in_namespace(initializer, lambda: initializer(*initargs))
    return {}  # no parameters to fill in


def call(func, args, kwds, init=None):
    """A task of Pool: func(*args, **kwds) (after the initializer, in a fresh per-task worker)."""
    if init is not None:
        run_initializer(*init)
    return in_namespace(func, lambda: func(*args, **kwds))


def call_chunk(func, chunk, star, init=None):
    """A task of Pool of several items: [func(x) for x in chunk] (func(*x) if star)."""
    if init is not None:
        run_initializer(*init)
    if star:
        return in_namespace(func, lambda: list(itertools.starmap(func, chunk)))
    return in_namespace(func, lambda: list(map(func, chunk)))


# Wrappers of the user's function, their first argument: error_log_file and the task's
# kind (pmp._kind) name that function, not the wrapper.
run_chunk._pmp_wraps_first_argument = call._pmp_wraps_first_argument = True
call_chunk._pmp_wraps_first_argument = True
