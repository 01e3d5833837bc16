"""Exceptions of pmp."""
import concurrent.futures


class BrokenExecutor(concurrent.futures.BrokenExecutor):
    """The executor cannot run tasks any more (e.g. its workers fail to start)."""


class WorkerLost(RuntimeError):
    """The worker running a task died before it answered (killed, crashed, exited)."""


class RemoteError(RuntimeError):
    """A task raised an exception that could not be sent back as itself (it cannot be
    pickled, or unpickled here); the message names its type and text."""


class RemoteTraceback(Exception):
    """Attached as ``__cause__`` of a task's exception: the traceback on the worker."""

    def __init__(self, tb):
        super().__init__(tb)
        self.tb = tb

    def __str__(self):
        return f'\n"""\n{self.tb}"""'
