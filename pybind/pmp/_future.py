"""pmp's Future: a concurrent.futures.Future that is cheap to hold by the million and to
settle by the tens of thousands a second.

concurrent.futures.Future makes a threading.Condition per future (an RLock, a deque and
bound methods: 1.3 KB, and microseconds to build), and every method takes it. Here it is
made only when someone first needs it (waits, adds a callback, cancels...), under one
module lock, so that every thread gets the same one; until then nobody can hold it or
wait on it, so the executor settles the future under that module lock alone, and a
future already finished is read without a lock (its fields never change again)."""
import concurrent.futures
import threading
from concurrent.futures._base import CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED, PENDING, RUNNING

_condition_lock = threading.Lock()  # makes each Future's Condition once
_DONE = (CANCELLED, CANCELLED_AND_NOTIFIED, FINISHED)


class Future(concurrent.futures.Future):
    """A concurrent.futures.Future that asks the controller where its task is, rather than
    being told at every dispatch: cancel() takes a queued task back (a task already on a
    worker cannot be cancelled, as in ProcessPoolExecutor), running() is True once the
    task is on a worker. Keeps its executor and task id in slots (no closures)."""

    __slots__ = ("_pmp_cond", "_pmp_executor", "_pmp_task")

    def __init__(self):
        # concurrent.futures.Future.__init__ without its Condition (see _condition)
        self._state = PENDING
        self._result = None
        self._exception = None
        self._waiters = []
        self._done_callbacks = []
        self._pmp_cond = None
        self._pmp_executor = None  # set while the task can still be taken back
        self._pmp_task = None      # its id once sent to the controller

    @property
    def _condition(self):
        cond = self._pmp_cond
        if cond is None:
            with _condition_lock:
                cond = self._pmp_cond
                if cond is None:
                    cond = self._pmp_cond = threading.Condition()
            # Whoever makes it waits (wait(), as_completed()) or is called back: the I/O
            # thread delivers from now on, not after the last result()'s lend.
            executor = self._pmp_executor
            if executor is not None:
                executor._reclaim_io()
        return cond

    def cancel(self):
        if self._pmp_cond is None and self._cancel_unwatched():
            return True
        with self._condition:
            executor, task = self._pmp_executor, self._pmp_task
            taken_back = self._state == PENDING and executor is not None
            if taken_back and task is not None and not executor._cancel(task):
                return False
        if not super().cancel():
            return False
        if taken_back:
            # No worker will run it: what the executor does for a cancelled task it
            # would have run, so that wait() and as_completed() count it as done.
            self._pmp_executor = None
            self.set_running_or_notify_cancel()
        return True

    def _cancel_unwatched(self):
        """cancel() of a queued task nobody has made the Condition of (shutdown with
        cancel_futures=True, by the hundred thousand): taken back and settled under the
        module lock. False when that does not apply (the caller takes the general path)."""
        with _condition_lock:
            executor, task = self._pmp_executor, self._pmp_task
            if self._pmp_cond is not None or self._state != PENDING or executor is None:
                return False
            if task is not None and not executor._cancel(task):
                return False  # on a worker already: general path, which says so
            # concurrent.futures' cancel() then set_running_or_notify_cancel(): no waiter
            # to tell (wait() makes the Condition first)
            self._state = CANCELLED_AND_NOTIFIED
            self._pmp_executor = None
        self._invoke_callbacks()
        return True

    def running(self):
        with self._condition:
            executor, task = self._pmp_executor, self._pmp_task
            if self._state == PENDING and executor is not None and task is not None:
                return executor._core.task_state(task) == 2
        return super().running()

    # ---- fast paths: no Condition made, or none needed ----

    def done(self):
        return self._state in _DONE

    def result(self, timeout=None):
        if self._state != FINISHED:
            timeout = self._run_io(timeout)
        if self._state == FINISHED and self._exception is None:
            return self._result  # without the Condition the general path would make
        return super().result(timeout)

    def exception(self, timeout=None):
        if self._state != FINISHED:
            timeout = self._run_io(timeout)
        if self._state == FINISHED:
            return self._exception
        return super().exception(timeout)

    def _run_io(self, timeout):
        """While the task is on its way, this thread runs the controller's I/O until the
        result is in (Executor._wait). Returns the timeout left for the general path."""
        executor, task = self._pmp_executor, self._pmp_task
        if executor is None or task is None or self._state not in (PENDING, RUNNING):
            return timeout
        return executor._wait(task, timeout)

    def set_running_or_notify_cancel(self):
        if self._pmp_cond is None:
            with _condition_lock:
                if self._pmp_cond is None and self._state == PENDING:
                    self._state = RUNNING
                    return True
        return super().set_running_or_notify_cancel()

    def set_result(self, result):
        if not self._settle(result, None):
            super().set_result(result)

    def set_exception(self, exception):
        if not self._settle(None, exception):
            super().set_exception(exception)

    def _settle(self, result, exception):
        """Finishes a running future nobody has made the Condition of; False otherwise (the
        caller then takes the general path)."""
        if self._pmp_cond is not None:
            return False
        with _condition_lock:
            if self._pmp_cond is not None or self._state not in (PENDING, RUNNING):
                return False
            self._result = result
            self._exception = exception
            self._state = FINISHED
            for waiter in self._waiters:  # none: wait() makes the Condition first
                if exception is None:
                    waiter.add_result(self)
                else:
                    waiter.add_exception(self)
        self._invoke_callbacks()
        return True


# What pmp._core.settle needs to finish a Future as _settle does, from C: the type it
# applies to, the lock its Condition is made under, and the states.
SETTLE = (Future, _condition_lock, PENDING, RUNNING, FINISHED)
