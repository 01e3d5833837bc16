"""pmp.Pool: the multiprocessing.pool.Pool interface over a pmp.Executor.

    import pmp
    with pmp.Pool(4) as pool:
        print(pool.map(abs, [-1, -2, -3]))                   # [1, 2, 3]

Workers are long-lived pmp workers (block allocation): processes on this machine, or
Slurm steps inside an allocation. With ranks_per_task=k every call of the function runs
on k MPI ranks (a worker of k ranks) and its result is the list of the ranks' results.
"""
import collections
import functools
import itertools
import queue
import sys
import threading
import traceback
import types
import warnings
import weakref
from multiprocessing import TimeoutError  # what multiprocessing's results raise

from . import _calls, _config, _progress
from .executor import Executor

__all__ = ["Pool", "MPISpawnPool", "AsyncResult", "ApplyResult", "MapResult", "IMapIterator",
           "IMapUnorderedIterator", "TimeoutError"]

INIT = "INIT"
RUN = "RUN"
CLOSE = "CLOSE"
TERMINATE = "TERMINATE"

#: imap and imap_unordered keep at most this many tasks (chunks) per worker submitted
#: and unfinished: the input is consumed as the workers progress, not all at once.
_IMAP_AHEAD = 4


def _chunks(iterable, size):
    it = iter(iterable)
    while True:
        chunk = tuple(itertools.islice(it, size))
        if not chunk:
            return
        yield chunk


# ---------------------------------------------------------------- the pool

class Pool:
    """A pool of pmp workers with the interface of multiprocessing.pool.Pool.

    processes: workers (default: the Executor's, i.e. PMP_WORKERS, else one per CPU of the
        machine or allocation, divided by ranks_per_task).
    initializer, initargs: initializer(*initargs) runs once in each worker (on every rank).
    maxtasksperchild: when given, every task runs in a fresh worker (a new process or
        Slurm step), which keeps the promise of at most that many tasks per worker.
    context: accepted for compatibility and ignored: pmp workers are always fresh
        processes that import what they need (like the 'spawn' start method).
    backend: "auto", "local" or "slurm", as for pmp.Executor.
    ranks_per_task: MPI ranks of each worker (default PMP_CORES_PER_WORKER, else 1). Above 1
        every call of the function runs on that many ranks (mpi4py), and its result is the
        list of the ranks' results in rank order: map returns one such list per item.
    executor_kwargs: further pmp.Executor parameters (threads_per_core, gpus_per_worker,
        oversubscribe, cwd, command_line_argument_lst, label_output, error_log_file, ...).

    map, starmap, their _async forms, imap and imap_unordered take progress=None|True|False:
    a progress bar of the items done (None: only on a terminal or in Jupyter).

    Differences from multiprocessing: a task whose worker dies fails with pmp.WorkerLost
    (and a failing initializer fails the tasks of its worker) instead of hanging;
    terminate() cannot stop tasks already running on a worker: it cancels the others and
    waits for those.
    """

    _executor_class = Executor  # static mode (pmp.MPIPool) puts its own here

    def __init__(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None, context=None, *,
                 backend="auto", ranks_per_task=_config.ONE, **executor_kwargs):
        self._state = INIT
        self._executor = None
        if processes is not None and processes < 1:
            raise ValueError("Number of processes must be at least 1")
        if maxtasksperchild is not None:
            if not isinstance(maxtasksperchild, int) or maxtasksperchild <= 0:
                raise ValueError("maxtasksperchild must be a positive int or None")
        if initializer is not None and not callable(initializer):
            raise TypeError('initializer must be a callable')
        for name, instead in (("max_workers", "processes"), ("cores_per_worker", "ranks_per_task"),
                              ("block_allocation", "maxtasksperchild"), ("init_function", "initializer")):
            if name in executor_kwargs:
                raise TypeError(f"pmp.Pool sets the Executor's {name} itself: use {instead}")
        ranks_per_task = _config.given_or_env(ranks_per_task, "PMP_CORES_PER_WORKER", 1)
        if isinstance(ranks_per_task, bool) or not isinstance(ranks_per_task, int) or ranks_per_task < 1:
            raise ValueError(f"ranks_per_task must be an integer >= 1, not {ranks_per_task!r}")

        init = None if initializer is None else (initializer, tuple(initargs))
        per_task = maxtasksperchild is not None
        self._maxtasksperchild = maxtasksperchild
        self._initializer = initializer
        self._initargs = initargs
        self._task_init = init if per_task else None  # run by each task in its fresh worker
        self._ranks = ranks_per_task
        self._executor = self._executor_class(
            max_workers=processes, cores_per_worker=ranks_per_task, backend=backend, block_allocation=not per_task,
            init_function=functools.partial(_calls.run_initializer, *init) if init and not per_task else None,
            **executor_kwargs)
        self._processes = self._executor.max_workers

        self._lock = threading.RLock()
        self._feeders = {}  # imap threads still consuming their input -> their room semaphore
        self._join_lock = threading.Lock()  # one thread at a time waits for the executor
        self._executor_stopping = False
        # Results reach the AsyncResults, and callbacks run, in one thread of the pool's
        # (multiprocessing's result handler), never in the Executor's I/O thread.
        self._outcomes = queue.SimpleQueue()
        self._flags = types.SimpleNamespace(terminated=False)
        self._result_handler = threading.Thread(target=_handle_results, args=(self._outcomes, self._flags),
                                                name="pmp.Pool results", daemon=True)
        self._result_handler.start()
        self._finalizer = weakref.finalize(self, self._outcomes.put, None)
        self._state = RUN

    def __repr__(self):
        cls = type(self)
        return (f"<{cls.__module__}.{cls.__qualname__} state={getattr(self, '_state', INIT)} "
                f"pool_size={getattr(self, '_processes', 0)}>")

    def __del__(self, _warn=warnings.warn):
        if getattr(self, "_state", None) == RUN:
            _warn(f"unclosed running pmp pool {self!r}", ResourceWarning, source=self)

    def __reduce__(self):
        raise NotImplementedError('pool objects cannot be passed between processes or pickled')

    @property
    def ranks_per_task(self):
        return self._ranks

    @property
    def executor(self):
        """The pmp.Executor whose workers run the tasks."""
        return self._executor

    def _reclaim_io(self):
        """Before a thread blocks for a result (see Executor._reclaim_io)."""
        if self._executor is not None:
            self._executor._reclaim_io()

    def _check_running(self):
        if self._state != RUN:
            raise ValueError("Pool not running")

    # ---- submitting ----

    def _submit(self, target, index, fn, args, chunk, on_done=None):
        """Submits fn(*args) to the executor; its outcome goes to target._set(index, ...)
        in the result thread. A task that cannot be submitted (its arguments do not
        pickle) fails its result, as in multiprocessing."""
        outcomes = self._outcomes
        try:
            future = self._executor.submit(fn, *args)
        except Exception as e:
            if on_done is not None:
                on_done()
            outcomes.put((target, index, False, e))
            return
        transpose = chunk and self._ranks > 1  # [per rank: [per item]] -> [per item: [per rank]]

        def done(f):
            if on_done is not None:
                on_done()
            if f.cancelled():  # by terminate(): like multiprocessing, the result never comes
                return
            exc = f.exception()
            if exc is not None:
                outcomes.put((target, index, False, exc))
                return
            value = f.result()
            if transpose:
                value = [list(item) for item in zip(*value)]
            outcomes.put((target, index, True, value))

        future.add_done_callback(done)

    def apply(self, func, args=(), kwds={}):
        """func(*args, **kwds) in a worker; its result."""
        return self.apply_async(func, args, kwds).get()

    def apply_async(self, func, args=(), kwds={}, callback=None, error_callback=None):
        """An AsyncResult of func(*args, **kwds)."""
        self._check_running()
        result = ApplyResult(self, callback, error_callback)
        self._submit(result, 0, _calls.call, (func, args, kwds, self._task_init), chunk=False)
        return result

    def map(self, func, iterable, chunksize=None, *, progress=None):
        """[func(x) for x in iterable], the items in chunks of chunksize per task."""
        return self._map_async(func, iterable, False, chunksize, progress=progress).get()

    def starmap(self, func, iterable, chunksize=None, *, progress=None):
        """[func(*x) for x in iterable]."""
        return self._map_async(func, iterable, True, chunksize, progress=progress).get()

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None, *, progress=None):
        """An AsyncResult of map(); callback gets the whole list, error_callback the first exception."""
        return self._map_async(func, iterable, False, chunksize, callback, error_callback, progress)

    def starmap_async(self, func, iterable, chunksize=None, callback=None, error_callback=None, *, progress=None):
        return self._map_async(func, iterable, True, chunksize, callback, error_callback, progress)

    def _map_async(self, func, iterable, star, chunksize=None, callback=None, error_callback=None, progress=None):
        self._check_running()
        if not hasattr(iterable, "__len__"):
            iterable = list(iterable)
        if chunksize is None:
            chunksize, extra = divmod(len(iterable), self._processes * 4)
            if extra:
                chunksize += 1
        elif not isinstance(chunksize, int) or chunksize < 1:
            raise ValueError(f"Chunksize must be 1+, not {chunksize!r}")
        if len(iterable) == 0:
            chunksize = 0
        result = MapResult(self, chunksize, len(iterable), callback, error_callback)
        bar = _progress.bar(progress, len(iterable), getattr(func, "__name__", "pmp map")) if chunksize else None
        if bar is not None:
            bar.finish_at(len(iterable))  # closes when the last chunk is done
        if chunksize:
            for i, chunk in enumerate(_chunks(iterable, chunksize)):
                self._submit(result, i, _calls.call_chunk, (func, chunk, star, self._task_init), chunk=True,
                             on_done=bar and functools.partial(bar.update, len(chunk)))
        return result

    def imap(self, func, iterable, chunksize=1, *, progress=None):
        """An iterator of func(x) for x in iterable, in order, as they come: the input is
        consumed as the workers progress. next(timeout) raises TimeoutError (chunksize 1)."""
        return self._imap(func, iterable, chunksize, IMapIterator, "Chunksize must be 1+, not {0:n}", progress)

    def imap_unordered(self, func, iterable, chunksize=1, *, progress=None):
        """As imap, in the order the results arrive."""
        return self._imap(func, iterable, chunksize, IMapUnorderedIterator, "Chunksize must be 1+, not {0!r}",
                          progress)

    def _imap(self, func, iterable, chunksize, kind, message, progress=None):
        self._check_running()
        if chunksize != 1 and chunksize < 1:
            raise ValueError(message.format(chunksize))
        result = kind(self)
        room = threading.Semaphore(_IMAP_AHEAD * self._processes)
        total = len(iterable) if hasattr(iterable, "__len__") else None
        bar = _progress.bar(progress, total, getattr(func, "__name__", "pmp imap"))
        feeder = threading.Thread(target=self._feed, args=(result, func, iterable, chunksize, room, bar),
                                  name="pmp.Pool imap", daemon=True)
        with self._lock:
            self._feeders[feeder] = room
        feeder.start()
        if chunksize == 1:
            return result
        return (item for chunk in result for item in chunk)

    def _feed(self, result, func, iterable, chunksize, room, bar=None):
        """An imap's input to tasks, at most _IMAP_AHEAD per worker unfinished at a time."""
        i = -1
        items_fed = 0
        try:
            try:
                items = iter(iterable) if chunksize == 1 else _chunks(iterable, chunksize)
                for i, item in enumerate(items):
                    room.acquire()
                    if self._flags.terminated:
                        return
                    n = 1 if chunksize == 1 else len(item)
                    items_fed += n
                    on_done = room.release if bar is None else functools.partial(_release_and_count, room, bar, n)
                    if chunksize == 1:
                        self._submit(result, i, _calls.call, (func, (item,), {}, self._task_init), False, on_done)
                    else:
                        self._submit(result, i, _calls.call_chunk, (func, item, False, self._task_init), True, on_done)
            except Exception as e:  # the input failed: so does the result in its place
                i += 1
                self._outcomes.put((result, i, False, e))
            result._set_length(i + 1)
        finally:
            if bar is not None:
                bar.finish_at(items_fed)  # closes once the tasks fed are done

            with self._lock:
                self._feeders.pop(threading.current_thread(), None)
                self._stop_executor_if_done()

    # ---- ending ----

    def _stop_executor_if_done(self):
        """After close(), once no imap feeds tasks: the workers end when their tasks are done."""
        if self._state != RUN and not self._feeders and not self._executor_stopping:
            self._executor_stopping = True
            self._executor.shutdown(wait=False)

    def close(self):
        """No new work; the workers exit once the work given is done."""
        with self._lock:
            if self._state == RUN:
                self._state = CLOSE
                self._stop_executor_if_done()

    def terminate(self):
        """Stops now: queued tasks are cancelled and their results never come (as in
        multiprocessing); tasks already on a worker are waited for (pmp cannot kill them)."""
        with self._lock:
            if self._state == INIT:
                return
            self._state = TERMINATE
            self._flags.terminated = True
            rooms = list(self._feeders.values())
            self._executor_stopping = True
        for room in rooms:
            room.release()  # a feeder waiting for room sees the pool terminated and ends
        with self._join_lock:
            self._executor.shutdown(wait=True, cancel_futures=True)
        self._end_result_handler()

    def join(self):
        """Waits for the workers to exit, after close() or terminate()."""
        if self._state == RUN:
            raise ValueError("Pool is still running")
        elif self._state not in (CLOSE, TERMINATE):
            raise ValueError("In unknown state")
        if self._state == CLOSE:
            while True:
                with self._lock:
                    feeders = [f for f in self._feeders if f is not threading.current_thread()]
                if not feeders:
                    break
                for feeder in feeders:
                    feeder.join()
            with self._lock:
                self._stop_executor_if_done()
        with self._join_lock:
            self._executor.shutdown(wait=True)
        self._end_result_handler()

    def _end_result_handler(self):
        """Once the executor is done: every outcome is queued; the handler ends after them."""
        self._finalizer()  # queues the end (once)
        if threading.current_thread() is not self._result_handler:
            self._result_handler.join()

    def __enter__(self):
        self._check_running()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.terminate()


class MPISpawnPool(Pool):
    """A Pool whose tasks are MPI-parallel: each call of the function runs on ranks_per_task
    MPI ranks (mpi4py's COMM_WORLD of its worker) and returns the list of the ranks' results."""

    def __init__(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None, context=None, *,
                 ranks_per_task, backend="auto", **executor_kwargs):
        super().__init__(processes, initializer, initargs, maxtasksperchild, context, backend=backend,
                         ranks_per_task=ranks_per_task, **executor_kwargs)


def _release_and_count(room, bar, n):
    room.release()
    bar.update(n)


def _handle_results(outcomes, flags):
    """The pool's result thread: sets results and runs callbacks, in arrival order."""
    while True:
        outcome = outcomes.get()
        if outcome is None:
            return
        if flags.terminated:
            continue  # as in multiprocessing: nothing is delivered after terminate()
        target, index, success, value = outcome
        target._set(index, (success, value))
        outcome = target = value = None


def _run_callback(callback, value):
    """A callback's exception is reported; the result is still set (multiprocessing's
    result thread would die, and the pool hang)."""
    try:
        callback(value)
    except Exception:
        print(f"Exception in pmp.Pool callback {callback!r}:", file=sys.stderr)
        traceback.print_exc()


# ---------------------------------------------------------------- results

class ApplyResult:
    """The result of apply_async (and, as MapResult, of map_async and starmap_async)."""

    def __init__(self, pool, callback, error_callback):
        self._pool = pool
        self._event = threading.Event()
        self._callback = callback
        self._error_callback = error_callback

    def ready(self):
        return self._event.is_set()

    def successful(self):
        if not self.ready():
            raise ValueError("{0!r} not ready".format(self))
        return self._success

    def wait(self, timeout=None):
        if not self._event.is_set():
            self._pool._reclaim_io()
            self._event.wait(timeout)

    def get(self, timeout=None):
        """The result; the task's exception if it raised one; TimeoutError (multiprocessing's)
        if it is not ready within timeout seconds."""
        self.wait(timeout)
        if not self.ready():
            raise TimeoutError
        if self._success:
            return self._value
        raise self._value

    def _set(self, i, outcome):
        self._success, self._value = outcome
        if self._callback and self._success:
            _run_callback(self._callback, self._value)
        if self._error_callback and not self._success:
            _run_callback(self._error_callback, self._value)
        self._event.set()

    __class_getitem__ = classmethod(types.GenericAlias)


AsyncResult = ApplyResult


class MapResult(ApplyResult):
    """Ready once every chunk is done: the list, or the first exception to arrive."""

    def __init__(self, pool, chunksize, length, callback, error_callback):
        super().__init__(pool, callback, error_callback)
        self._success = True
        self._value = [None] * length
        self._chunksize = chunksize
        if chunksize <= 0:
            self._number_left = 0
            self._event.set()  # nothing to do; no callback (as in multiprocessing)
        else:
            self._number_left = length // chunksize + bool(length % chunksize)

    def _set(self, i, outcome):
        self._number_left -= 1
        success, result = outcome
        if success and self._success:
            self._value[i * self._chunksize:(i + 1) * self._chunksize] = result
        elif not success and self._success:
            self._success = False  # the first exception only
            self._value = result
        if self._number_left == 0:
            if self._success and self._callback:
                _run_callback(self._callback, self._value)
            elif not self._success and self._error_callback:
                _run_callback(self._error_callback, self._value)
            self._event.set()


class IMapIterator:
    """imap's iterator: next(timeout=None) raises TimeoutError when nothing comes in time."""

    def __init__(self, pool):
        self._pool = pool
        self._cond = threading.Condition(threading.Lock())
        self._items = collections.deque()
        self._index = 0
        self._length = None
        self._unsorted = {}

    def __iter__(self):
        return self

    def next(self, timeout=None):
        with self._cond:
            if not self._items:
                if self._index == self._length:
                    raise StopIteration
                self._pool._reclaim_io()
                self._cond.wait(timeout)
                if not self._items:
                    if self._index == self._length:
                        raise StopIteration
                    raise TimeoutError
            success, value = self._items.popleft()
        if success:
            return value
        raise value

    __next__ = next

    def _set(self, i, outcome):
        with self._cond:
            if self._index == i:
                self._items.append(outcome)
                self._index += 1
                while self._index in self._unsorted:
                    self._items.append(self._unsorted.pop(self._index))
                    self._index += 1
                self._cond.notify()
            else:
                self._unsorted[i] = outcome

    def _set_length(self, length):
        with self._cond:
            self._length = length
            if self._index == self._length:
                self._cond.notify()


class IMapUnorderedIterator(IMapIterator):
    def _set(self, i, outcome):
        with self._cond:
            self._items.append(outcome)
            self._index += 1
            self._cond.notify()
