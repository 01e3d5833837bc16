"""Objects to frames and back: cloudpickle (functions and lambdas of __main__ and of
Jupyter cells work) with pickle protocol 5, large buffers (numpy arrays) out of band as
frames of their own, so they are neither copied into the pickle nor out of it."""
import sys

from . import _core

try:  # the C pickler, which pickle.dumps and pickle.loads are; pickle.py imports re (3 ms)
    import _pickle as pickle
except ImportError:
    import pickle

# cloudpickle (8 ms), traceback and pmp.errors are imported when first needed: a worker
# whose tasks and results pickle plainly starts without them (per-task mode starts a
# worker per task), and a controller imports them after its workers are on their way.
_cloudpickle = None

_by_reference = set()  # functions cloudpickle pickles by reference, as pickle does


def dumps(obj):
    """[pickle, buffer, buffer, ...] for obj."""
    if _core.plain(obj, _by_reference_plainly):
        # What cloudpickle would write, 4x faster for a small task: no function or class
        # by value in it, no buffer (a task (fn, args, kwargs) of a library function and
        # numbers, strings, their lists; a result None, a number, a list of numbers). A
        # process that only ever sends such objects never imports cloudpickle.
        return [pickle.dumps(obj, protocol=5)]
    buffers = []

    def out_of_band(pickle_buffer):
        try:
            buffers.append(pickle_buffer.raw())
        except BufferError:  # not contiguous: let pickle copy it in band
            return True
        return False

    main = _load_cloudpickle().dumps(obj, protocol=5, buffer_callback=out_of_band)
    return [main, *buffers]


# A task goes as [head, pickle of (args, kwargs), buffers...], where head is the pickle of
# a function or class that pickles by reference (its module's name and its own): the
# controller pickles each such function once, and a worker unpickles each head once.
# Pickling a global looks its module up and the name in it, and unpickling imports the
# module and looks the name up again: 4.9K of the 8.4K instructions of pickling a no-op
# task, 5.2K of the 7.9K of unpickling it. Any other function (a lambda, a closure, one of
# __main__, a callable object) goes as [b"", pickle of (fn, args, kwargs), buffers...].
# The caches hold module-level functions and classes, which live as long as their modules
# do anyway, and start afresh when full.
_HEAD_TYPES = (type(len), type(dumps), type)  # built-in function, def, class
_CACHE_MAX = 4096
_heads = {}      # controller: function -> its head
_functions = {}  # worker: head (bytes) -> function


def dumps_task(fn, args, kwargs):
    """The frames of the task fn(*args, **kwargs) (see _heads above)."""
    head = None
    if type(fn) in _HEAD_TYPES and not _registered_by_value():
        head = _heads.get(fn)
        if head is None and _core.plain(fn, _by_reference_plainly):
            if len(_heads) >= _CACHE_MAX:
                _heads.clear()
            head = _heads[fn] = pickle.dumps(fn, protocol=5)
    if head is None:
        return [b"", *dumps((fn, args, kwargs))]
    return [head, *dumps((args, kwargs))]


def loads_task(frames):
    """(fn, args, kwargs) of dumps_task's frames."""
    head, *rest = frames
    if not len(head):
        return loads(rest)
    key = bytes(head)
    fn = _functions.get(key)
    if fn is None:
        fn = function_of(key)
    args, kwargs = loads(rest)
    return fn, args, kwargs


def function_of(head):
    """The function of a head (bytes) not in _functions yet: unpickled and kept there.
    Worker.serve's C path (pybind/_core/fast_task.c) calls it too, on a miss of its own."""
    fn = pickle.loads(head)
    if len(_functions) >= _CACHE_MAX:
        _functions.clear()
    _functions[head] = fn
    return fn


def _load_cloudpickle():
    global _cloudpickle
    if _cloudpickle is None:
        import cloudpickle
        _cloudpickle = cloudpickle
    return _cloudpickle


def _pickled_by_reference(fn):
    """Whether cloudpickle pickles the function or class fn by reference (its module's
    name and its qualified name), as pickle does, while no module is registered by value.
    cloudpickle's own rule, without importing cloudpickle: fn's module is a real module (a
    file or an import spec), not __main__, and fn is found in it under its qualified name."""
    name = fn.__module__
    module = sys.modules.get(name) if name != "__main__" else None
    if module is None or (getattr(module, "__file__", None) is None and getattr(module, "__spec__", None) is None):
        return False
    found = module
    for part in fn.__qualname__.split("."):
        found = getattr(found, part, None)  # "<locals>" finds nothing
    return found is fn


def _by_reference_plainly(fn):
    """Whether pickle writes the function or class fn as cloudpickle does: by reference,
    and no module registered by value. _core.plain() asks for each one it meets."""
    if _registered_by_value():
        return False  # cloudpickle decides
    if fn in _by_reference:
        return True
    if not _pickled_by_reference(fn):
        return False
    _by_reference.add(fn)  # a module's function or class: lives as long as its module
    return True


def _registered_by_value():
    """Whether any module is registered to be pickled by value (register_pickle_by_value,
    which needs cloudpickle imported), or cloudpickle keeps its registry where pmp cannot
    see it: then cloudpickle decides for every function and class."""
    registry = sys.modules.get("cloudpickle.cloudpickle")
    return registry is not None and bool(getattr(registry, "_PICKLE_BY_VALUE_MODULES", True))


def loads(frames):
    if len(frames) == 1:  # most tasks and results: no out-of-band buffers to unpack
        return pickle.loads(frames[0])
    main, *buffers = frames
    return pickle.loads(main, buffers=buffers)


def error_frames(exc, note=""):
    """[traceback text, pickle, buffers...] of an exception raised by a task. The text
    goes first so that it survives an exception that cannot be pickled or unpickled."""
    import traceback
    from .errors import RemoteError

    tb = note + "".join(traceback.format_exception(exc))
    try:
        return [tb.encode(), *dumps(exc)]
    except Exception:
        return [tb.encode(), *dumps(RemoteError(_describe(exc)))]


def load_error(frames):
    """The exception, with the remote traceback as its __cause__."""
    from .errors import RemoteError, RemoteTraceback

    text, *pickled = frames
    tb = bytes(text).decode(errors="replace")
    try:
        exc = loads(pickled)
        if not isinstance(exc, BaseException):
            raise TypeError(f"not an exception: {exc!r}")
    except Exception as e:
        exc = RemoteError(f"a task raised an exception that cannot be unpickled here ({e}); "
                          f"its traceback:\n{tb}")
    exc.__cause__ = RemoteTraceback(tb)
    return exc


def _describe(exc):
    kind = type(exc)
    return f"{kind.__module__}.{kind.__qualname__}: {exc}"
