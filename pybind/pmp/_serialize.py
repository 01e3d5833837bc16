"""Objects to frames and back: cloudpickle (functions and lambdas of __main__ and of
Jupyter cells work) with pickle protocol 5, large buffers (numpy arrays) out of band as
frames of their own, so they are neither copied into the pickle nor out of it."""
import pickle
import traceback

import cloudpickle

from .errors import RemoteError, RemoteTraceback


def dumps(obj):
    """[pickle, buffer, buffer, ...] for obj."""
    buffers = []

    def out_of_band(pickle_buffer):
        try:
            buffers.append(pickle_buffer.raw())
        except BufferError:  # not contiguous: let pickle copy it in band
            return True
        return False

    main = cloudpickle.dumps(obj, protocol=5, buffer_callback=out_of_band)
    return [main, *buffers]


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
