"""Objects to frames and back: cloudpickle (functions and lambdas of __main__ and of
Jupyter cells work) with pickle protocol 5, large buffers (numpy arrays) out of band as
frames of their own, so they are neither copied into the pickle nor out of it."""
import pickle
import traceback
import types

import cloudpickle

from .errors import RemoteError, RemoteTraceback

try:  # how cloudpickle tells a function it pickles by reference (an importable name)
    from cloudpickle.cloudpickle import _PICKLE_BY_VALUE_MODULES, _should_pickle_by_reference
except ImportError:  # another cloudpickle: always use it
    _PICKLE_BY_VALUE_MODULES, _should_pickle_by_reference = None, None

_ATOMIC = frozenset((type(None), bool, int, float, complex, str, bytes))
_by_reference = set()  # functions cloudpickle pickles by reference, as pickle does


def dumps(obj):
    """[pickle, buffer, buffer, ...] for obj."""
    if _plain(obj, 3):
        # What cloudpickle would write, 4x faster: no function or class by value in
        # it, no buffer (a task (fn, args, kwargs) of a library function and numbers,
        # strings; a result None or a number).
        return [pickle.dumps(obj, protocol=5)]
    buffers = []

    def out_of_band(pickle_buffer):
        try:
            buffers.append(pickle_buffer.raw())
        except BufferError:  # not contiguous: let pickle copy it in band
            return True
        return False

    main = cloudpickle.dumps(obj, protocol=5, buffer_callback=out_of_band)
    return [main, *buffers]


def _plain(obj, depth):
    """Whether pickle writes obj as cloudpickle does: atomic values, and small tuples,
    lists and dicts of them, and functions cloudpickle pickles by reference."""
    kind = type(obj)
    if kind in _ATOMIC:
        return True
    if kind is tuple or kind is list:
        if depth <= 0 or len(obj) > 16:
            return False
        for item in obj:
            if type(item) not in _ATOMIC and not _plain(item, depth - 1):
                return False
        return True
    if kind is dict:
        if depth <= 0 or len(obj) > 16:
            return False
        for key, value in obj.items():
            if type(key) not in _ATOMIC or (type(value) not in _ATOMIC and not _plain(value, depth - 1)):
                return False
        return True
    if kind is types.FunctionType:
        if _PICKLE_BY_VALUE_MODULES:  # a module registered by value: cloudpickle decides
            return False
        if obj in _by_reference:
            return True
        if _should_pickle_by_reference is None or obj.__module__ == "__main__":
            return False
        try:
            if not _should_pickle_by_reference(obj):
                return False
        except Exception:
            return False
        _by_reference.add(obj)  # a module's function: lives as long as its module
        return True
    if kind is types.BuiltinFunctionType:  # len, math.sqrt: by name (not bound to an object)
        return obj.__self__ is None or type(obj.__self__) is types.ModuleType
    return False


def loads(frames):
    main, *buffers = frames
    return pickle.loads(main, buffers=buffers)


def error_frames(exc, note=""):
    """[traceback text, pickle, buffers...] of an exception raised by a task. The text
    goes first so that it survives an exception that cannot be pickled or unpickled."""
    tb = note + "".join(traceback.format_exception(exc))
    try:
        return [tb.encode(), *dumps(exc)]
    except Exception:
        return [tb.encode(), *dumps(RemoteError(_describe(exc)))]


def load_error(frames):
    """The exception, with the remote traceback as its __cause__."""
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
