"""error_log_file: one record per failed task, appended to a file, for runs too long or
too wide to read every traceback as it happens.

    === 2024-05-01 12:00:00.123 task 17 failed: calc on worker 3 (node1)
    ValueError: bad input
    Traceback (most recent call last):
      ...

The file is opened for each record (failures are rare), so it can be moved or truncated
while the executor runs, and several executors can share it."""
import logging
import os
import threading

from ._kind import unwrap
from .errors import RemoteTraceback

log = logging.getLogger("pmp.executor")

_lock = threading.Lock()  # records of executors sharing a file stay whole


class ErrorLog:
    def __init__(self, path):
        self.path = os.fspath(path)
        try:
            with open(self.path, "a", encoding="utf-8"):
                pass
        except OSError as e:
            raise ValueError(f"pmp: cannot write error_log_file={self.path!r} ({e.strerror}): "
                             f"give a path in a writable directory") from None

    def record(self, task, function, worker, node, exc):
        """Appends the record of a failed task; exc carries the worker's traceback as its
        __cause__ (a RemoteTraceback) when the task raised."""
        import datetime
        when = datetime.datetime.now().isoformat(sep=" ", timespec="milliseconds")
        where = "no worker" if worker is None or worker < 0 else f"worker {worker} ({node or 'node unknown'})"
        kind = type(exc).__qualname__
        if type(exc).__module__ != "builtins":
            kind = f"{type(exc).__module__}.{kind}"
        lines = [f"=== {when} task {task} failed: {function or '?'} on {where}", f"{kind}: {exc}"]
        cause = exc.__cause__
        if isinstance(cause, RemoteTraceback):
            lines.append(cause.tb.rstrip("\n"))
        text = "\n".join(lines) + "\n\n"
        with _lock:
            try:
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(text)
            except OSError as e:  # the run goes on: the future still carries the exception
                log.warning("cannot append to error_log_file=%r (%s): task %s is not recorded there",
                            self.path, e.strerror, task)


def function_name(fn, args):
    """The user's function of a task, not pmp's wrapper of it (_kind.unwrap)."""
    fn = unwrap(fn, args)[1]
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    module = getattr(fn, "__module__", None)
    return f"{module}.{name}" if module and module not in ("builtins", "__main__") else name
