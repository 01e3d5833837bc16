"""pmp.Executor: a concurrent.futures.Executor whose tasks run in worker processes,
serial or MPI-parallel, on this machine or across a Slurm allocation."""
import atexit
import concurrent.futures
import itertools
import logging
import os
import threading
import time
import weakref

from . import _backends, _calls, _config, _core, _future, _kind, _progress, _serialize
from . import _log  # noqa: F401 - its import applies PMP_LOG_LEVEL before the executor logs
from ._deps import find_in_call, resolve
from ._errorlog import ErrorLog, function_name
from ._future import Future
from .errors import BrokenExecutor, WorkerLost

log = logging.getLogger("pmp.executor")

_SECURITY = {"auto": _core.SECURITY_AUTO, "curve": _core.SECURITY_CURVE, "token": _core.SECURITY_TOKEN}
RESOURCE_KEYS = ("cores", "threads_per_core", "gpus_per_core", "cwd", "openmpi_oversubscribe", "slurm_cmd_args")

_live = set()  # controllers whose I/O thread may still run: joined at exit
_live_lock = threading.Lock()
_in_io_thread = threading.local()


class Executor(concurrent.futures.Executor):
    """Runs Python functions in worker processes.

    max_workers: workers (block allocation) or tasks at once (per task); default from
        PMP_WORKERS, else max_cores // cores_per_worker, else one per core.
    max_cores: cores for all workers together.
    cores_per_worker: MPI ranks of each worker (> 1: mpi4py functions, results in a list).
    threads_per_core: OMP_NUM_THREADS and the like in each worker (unless set already).
    gpus_per_worker: GPUs of each worker (Slurm backend).
    oversubscribe: let workers share cores.
    cwd: working directory of the workers.
    hostname_localhost: listen on localhost instead of this node's name (Slurm backend).
    backend: "auto" (Slurm inside an allocation, else local), "local" (alias "mpi"), "slurm".
    block_allocation: True: fixed workers, reused; False: a fresh worker for each task,
        with that task's resource_dict.
    init_function: (block allocation) run once per worker; its dict fills the missing
        parameters of every function by name.
    command_line_argument_lst: extra arguments for each srun / mpiexec.
    disable_dependencies: refuse futures as arguments instead of waiting for them.
    refresh_rate: accepted for compatibility with pympipool; pmp does not poll.
    max_message_size: largest task or result, in bytes (pickled, buffers included);
        larger ones are refused with a clear error. None: no limit.
    label_output: prefix every line the workers print (stdout and stderr, C code and
        subprocesses included) with `[worker W, task T] `.
    error_log_file: a path; each failed task appends a record to it (time, task, worker,
        node, function, exception, the worker's traceback).
    """

    def __init__(self, max_workers=None, max_cores=None, cores_per_worker=_config.ONE,
                 threads_per_core=_config.ONE, gpus_per_worker=_config.ZERO, oversubscribe=False,
                 cwd=None, hostname_localhost=False, backend="auto", block_allocation=False,
                 init_function=None, command_line_argument_lst=(), disable_dependencies=False,
                 refresh_rate=0.01, max_message_size=None, label_output=True, error_log_file=None):
        cores_per_worker = _config.given_or_env(cores_per_worker, "PMP_CORES_PER_WORKER", 1)
        threads_per_core = _config.given_or_env(threads_per_core, "PMP_THREADS_PER_CORE", 1)
        gpus_per_worker = _config.given_or_env(gpus_per_worker, "PMP_GPUS_PER_WORKER", 0)
        oversubscribe = bool(oversubscribe) or _config.env_flag("PMP_OVERSUBSCRIBE")
        for name, value, low in (("cores_per_worker", cores_per_worker, 1), ("threads_per_core", threads_per_core, 1),
                                 ("gpus_per_worker", gpus_per_worker, 0)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, not {value!r}")
        if max_workers is not None and max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if max_cores is not None and max_cores <= 0:
            raise ValueError("max_cores must be greater than 0")
        if init_function is not None and not block_allocation:
            raise ValueError("init_function requires block_allocation=True: per-task workers start fresh "
                             "for every task")
        if init_function is not None and not callable(init_function):
            raise TypeError("init_function must be callable")
        if max_message_size is not None and (not isinstance(max_message_size, int) or max_message_size <= 0):
            raise ValueError(f"max_message_size must be a positive number of bytes or None, not {max_message_size!r}")
        if cwd is not None and not os.path.isdir(cwd):
            raise ValueError(f"cwd={cwd!r} is not a directory")
        self._backend = self._select_backend(backend)
        if max_workers is None and max_cores is not None:
            max_workers = max_cores // cores_per_worker
            if max_workers == 0:
                raise ValueError(f"max_cores={max_cores} is less than cores_per_worker={cores_per_worker}: "
                                 f"ask for at least {cores_per_worker} cores")
        if max_workers is None:
            max_workers = _config.env_int("PMP_WORKERS", 1)
        if max_workers is None:
            max_workers = max(1, self._backend.total_cores() // (cores_per_worker * threads_per_core))
        self._max_workers = max_workers
        self._max_cores = max_cores if max_cores is not None else max_workers * cores_per_worker
        if gpus_per_worker % cores_per_worker:
            raise ValueError(f"gpus_per_worker={gpus_per_worker} must be a multiple of "
                             f"cores_per_worker={cores_per_worker}: each MPI rank gets the same number of GPUs")
        self._resources = _backends.Resources(cores_per_worker, threads_per_core,
                                              gpus_per_worker // cores_per_worker, cwd, oversubscribe,
                                              command_line_argument_lst, max_message_size, bool(label_output))
        self._error_log = ErrorLog(error_log_file) if error_log_file is not None else None
        self._worker_nodes = {}  # worker id -> its node, while it runs (error_log_file's records)
        self._max_message_size = max_message_size
        self._block_allocation = bool(block_allocation)
        self._disable_dependencies = bool(disable_dependencies)
        self._refresh_rate = refresh_rate
        if hasattr(self._backend, "check"):
            self._backend.check(self._resources, self._max_workers, self._max_cores)

        self._futures = {}  # task id -> Future, until its result arrives
        self._waiting = set()  # futures waiting for the futures they take as arguments
        self._ids = itertools.count(1)
        self._specs = {}
        self._shutdown_lock = threading.Lock()
        self._shutdown = False
        self._core_stopping = False
        self.workers_ready = 0  # workers that connected so far (replacements too)
        self._broken = None  # why, once workers cannot start (the controller gave up)
        self._ready = threading.Condition()  # workers_ready, _broken, or shutdown changed

        this = weakref.ref(self)
        self._core = _core.Controller(lambda events: _deliver(this, events),
                                      bind=self._backend.bind_address(hostname_localhost),
                                      security=_SECURITY[os.environ.get("PMP_SECURITY", "auto")],
                                      # a worker's frames beyond the limit (its error report has
                                      # room) end its connection: a backstop against a broken peer
                                      max_message_size=max_message_size + (1 << 16) if max_message_size else 0,
                                      secret=self._given_secret,
                                      max_starting=self._backend.max_starting())
        with _live_lock:
            _live.add(self._core)
        try:
            if init_function is not None:
                self._core.set_init(_serialize.dumps(init_function))
            self._start_workers()
        except BaseException:
            self._stop_core(wait=True)
            raise

    _given_secret = None  # static mode: the secret the SPANK plugin made for the step

    def _select_backend(self, backend):
        return _backends.select(backend)

    def _start_workers(self):
        """Long-lived workers now (block allocation), or room for per-task ones."""
        if self._block_allocation:
            log.info("starting %d workers (backend %s, %d cores each)", self._max_workers, self._backend.name,
                     self._resources.cores)
            for node, count in self._backend.worker_groups(self._resources, self._max_workers):
                self._core.add_workers(self._spec(self._resources, node), count)
        else:
            log.info("a worker per task (backend %s), up to %d cores at once", self._backend.name, self._max_cores)
            # Per-task workers run side by side while their CPUs fit the executor's.
            self._core.set_capacity(self._max_cores * self._resources.threads_per_core)

    def wait_for_workers(self, timeout=None):
        """Blocks until each long-lived worker (block allocation) has connected: True, or
        False after timeout seconds or once the executor is shut down. True at once for a
        worker per task: there are none to wait for. BrokenExecutor when workers cannot
        start. Tasks need not wait for this; benchmarks and tests that must know where
        tasks go do."""
        if not self._block_allocation:
            return True
        self._reclaim_io()
        with self._ready:
            self._ready.wait_for(lambda: self.workers_ready >= self._max_workers or self._broken is not None
                                 or self._shutdown, timeout)
            if self._broken is not None and self.workers_ready < self._max_workers:
                raise BrokenExecutor(self._broken)
            return self.workers_ready >= self._max_workers

    @property
    def max_workers(self):
        """Workers (block allocation), or tasks at once (per task)."""
        return self._max_workers

    @property
    def max_cores(self):
        return self._max_cores

    @property
    def backend(self):
        """"local" or "slurm": where the workers run."""
        return self._backend.name

    # ---- submitting ----

    def submit(self, fn, /, *args, resource_dict=None, **kwargs):
        if not callable(fn):
            raise TypeError(f"{fn!r} is not callable")
        spec = self._spec_for(resource_dict)
        # Pickled before the lock: pickling errors propagate, and a large task does not
        # hold up other threads' submits.
        deps = find_in_call(args, kwargs) if args or kwargs else None
        frames = None if deps else self._frames(fn, args, kwargs)
        with self._shutdown_lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            future = Future()
            if self._error_log is not None:
                future._pmp_function = function_name(fn, args)  # for its record, if it fails
            if not deps:
                self._queue(future, fn, args, frames, spec)
                return future
            if self._disable_dependencies:
                raise ValueError("a future was passed as an argument but disable_dependencies=True: "
                                 "pass its result, or create the executor with disable_dependencies=False")
            self._waiting.add(future)
            future._pmp_executor = self  # nothing was sent yet: cancel() takes it back
        _after(deps, lambda failed: self._dependencies_done(future, fn, args, kwargs, spec, failed))
        return future

    submit.__doc__ = concurrent.futures.Executor.submit.__doc__

    def _frames(self, fn, args, kwargs):
        """The task's frames (_serialize.dumps_task), within max_message_size."""
        frames = _serialize.dumps_task(fn, args, kwargs)
        if self._max_message_size is not None:
            size = sum(memoryview(f).nbytes for f in frames)
            if size > self._max_message_size:
                raise ValueError(f"pmp: this task pickles to {size} bytes, more than max_message_size="
                                 f"{self._max_message_size}: pass less data, or raise the limit")
        return frames

    def _queue(self, future, fn, args, frames, spec):
        """Gives the task of future, fn(*args, ...) as _frames made it, to the controller."""
        kind = _kind.of_function(fn, args, len(frames[0]) > 0)  # a head: fn went by reference
        task = next(self._ids)
        self._futures[task] = future
        future._pmp_executor, future._pmp_task = self, task
        try:
            self._core.submit(task, frames, spec, kind)
        except _core.Error as e:
            self._futures.pop(task, None)
            future._pmp_executor = None
            raise BrokenExecutor(str(e)) from None

    def _send(self, future, fn, args, kwargs, spec):
        """Pickles and queues a task; pickling errors propagate to the caller."""
        self._queue(future, fn, args, self._frames(fn, args, kwargs), spec)

    def _wait(self, task, timeout):
        """Runs the controller's I/O on this thread until task's result is delivered (a
        no-op round trip then skips the I/O thread's two hand-offs), or until another
        thread runs it. Returns the part of timeout (seconds, or None) left."""
        if getattr(_in_io_thread, "active", False):
            return timeout  # from a done-callback: this thread runs the I/O already
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            self._core.wait(task, -1.0 if timeout is None else max(0.0, timeout))
        except _core.Error:  # closed: the result came before
            pass
        return None if deadline is None else max(0.0, deadline - time.monotonic())

    def _reclaim_io(self):
        """Before a thread waits for events without running the I/O (a Condition, an
        Event): the I/O thread takes it back from the last _wait's lend at once."""
        self._core.reclaim_io()

    def _cancel(self, task):
        if self._core_stopping and task not in self._futures:
            return False
        if self._core.cancel(task):
            self._futures.pop(task, None)
            return True
        return False

    def _dependencies_done(self, future, fn, args, kwargs, spec, failed):
        try:
            if future.done():  # cancelled meanwhile
                return
            if failed is not None:
                future.set_running_or_notify_cancel()
                future.set_exception(failed)
                return
            try:
                self._send(future, fn, resolve(args), resolve(kwargs), spec)
            except BaseException as e:
                if future.set_running_or_notify_cancel():
                    future.set_exception(e)
        finally:
            with self._shutdown_lock:
                self._waiting.discard(future)
                self._stop_core_if_idle()

    # ---- resources ----

    def _spec(self, res, node=None):
        key = (res.key(), node)
        spec = self._specs.get(key)
        if spec is None:
            argv, env, cwd, cores, forked = self._backend.spec_args(res, node)
            log.debug("worker command: %s", " ".join(argv))
            # What it takes from the capacity: its CPUs; one larger than all runs alone.
            cpus = min(cores * res.threads_per_core, self._max_cores * self._resources.threads_per_core)
            spec = self._specs[key] = self._core.spec(argv, env, cwd, cpus, forked)
        return spec

    def _spec_for(self, resource_dict):
        if not resource_dict:
            return None if self._block_allocation else self._spec(self._resources)
        if not isinstance(resource_dict, dict):
            raise TypeError("resource_dict must be a dict")
        unknown = sorted(set(resource_dict) - set(RESOURCE_KEYS))
        if unknown:
            raise ValueError(f"resource_dict has unknown key(s) {', '.join(map(repr, unknown))}: "
                             f"use {', '.join(RESOURCE_KEYS)}")
        base = self._resources
        res = _backends.Resources(
            resource_dict.get("cores", base.cores),
            resource_dict.get("threads_per_core", base.threads_per_core),
            resource_dict.get("gpus_per_core", base.gpus_per_core),
            resource_dict.get("cwd", base.cwd),
            resource_dict.get("openmpi_oversubscribe", base.oversubscribe),
            base.extra_args + tuple(resource_dict.get("slurm_cmd_args", ())), base.max_message_size,
            base.label_output)
        for name in ("cores", "threads_per_core"):
            value = getattr(res, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"resource_dict[{name!r}] must be an integer >= 1, not {value!r}")
        if res.cwd is not None and not os.path.isdir(res.cwd):
            raise ValueError(f"resource_dict['cwd']={res.cwd!r} is not a directory")
        if self._block_allocation:
            if res.key() != base.key():
                raise ValueError(f"resource_dict={resource_dict!r} differs from the executor's workers: with "
                                 f"block_allocation=True every task runs on the same workers; create the "
                                 f"executor with these resources, or use block_allocation=False")
            return None
        if res.cores > self._max_cores:
            raise ValueError(f"resource_dict asks for {res.cores} cores but the executor has {self._max_cores} "
                             f"(max_cores): ask for fewer, or create the executor with more")
        if hasattr(self._backend, "check"):
            self._backend.check(res, 1, res.cores)
        return self._spec(res)

    # ---- map and shutdown ----

    def map(self, fn, *iterables, timeout=None, chunksize=1, progress=None):
        """concurrent.futures.Executor.map; chunksize > 1 sends that many calls per task.
        progress: a bar of the calls done; None shows it on a terminal or in Jupyter."""
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        sized = iterables and all(hasattr(it, "__len__") for it in iterables)
        bar = _progress.bar(progress, min(map(len, iterables)) if sized else None,
                            getattr(fn, "__name__", "pmp map"))
        if bar is None:
            return _map(self, fn, iterables, timeout, chunksize)
        counting = _Counting(self, bar)
        try:
            results = _map(counting, fn, iterables, timeout, chunksize)
        except BaseException:
            bar.close()
            raise
        bar.finish_at(counting.calls)
        return _progress.until_done(results, bar)

    def shutdown(self, wait=True, *, cancel_futures=False):
        with self._shutdown_lock:
            if not self._shutdown:
                log.info("shutting down: %d tasks left%s", len(self._futures) + len(self._waiting),
                         ", cancelling those not started" if cancel_futures else "")
            self._shutdown = True
            pending = list(self._waiting) + list(self._futures.values()) if cancel_futures else ()
        with self._ready:  # wait_for_workers() ends: no more workers come
            self._ready.notify_all()
        for future in pending:
            future.cancel()
        with self._shutdown_lock:
            self._stop_core_if_idle()
        if wait:
            self._join()

    def _stop_core_if_idle(self):
        """After shutdown, once no task waits for its arguments, nothing new can come."""
        if self._shutdown and not self._waiting and not self._core_stopping:
            self._core_stopping = True
            self._core.shutdown()

    def _join(self):
        if getattr(_in_io_thread, "active", False):
            return  # shutdown(wait=True) from a done-callback: the I/O thread cannot wait for itself
        self._core.join()
        self._core.close()  # no thread of the executor's is left, ZeroMQ's included
        with _live_lock:
            _live.discard(self._core)
        log.debug("shut down: every worker has stopped")

    def _stop_core(self, wait):
        with self._shutdown_lock:
            self._shutdown = True
            self._stop_core_if_idle()
        if wait:
            self._join()

    def __del__(self):
        core = getattr(self, "_core", None)
        if core is not None and not getattr(self, "_core_stopping", True):
            core.shutdown()  # the I/O thread ends once the workers are gone

    # ---- events from the I/O thread ----

    def _on_events(self, events):
        # Plain results of futures nobody watches are settled in C: what the loop below
        # does for them, 8 of the 180 us of a round trip in Python.
        events = _core.settle(events, self._futures, _future.SETTLE, _serialize.loads)
        for kind, task, worker, status, message, text in events:
            if kind == _core.EVENT_RESULT:
                future = self._futures.pop(task, None)
                if future is None:
                    continue
                future._pmp_executor = None
                if not future.set_running_or_notify_cancel():
                    continue
                if status == _core.OK:
                    try:
                        result = _serialize.loads(message)
                    except BaseException as e:
                        future.set_exception(e)
                    else:
                        future.set_result(result)
                else:
                    exc = _serialize.load_error(message)
                    if self._error_log is not None:
                        self._record_failure(task, future, worker, exc)
                    future.set_exception(exc)
            elif kind in (_core.EVENT_TASK_LOST, _core.EVENT_TASK_FAILED):
                lost = kind == _core.EVENT_TASK_LOST
                # A lost worker has its own warning (EVENT_WORKER_EXIT), and workers that
                # cannot start their one error (EVENT_BROKEN, before the queued tasks'
                # failures): one line, not one a queued task. Any other failure: an error.
                said = lost or (self._broken is not None and text == self._broken)
                (log.info if said else log.error)("task %d fails: %s", task, _unprefixed(text))
                future = self._futures.pop(task, None)
                if future is not None and future.set_running_or_notify_cancel():
                    future._pmp_executor = None
                    future.set_exception(WorkerLost(text) if kind == _core.EVENT_TASK_LOST else BrokenExecutor(text))
                    if self._error_log is not None:
                        self._record_failure(task, future, worker, future.exception())
            elif kind == _core.EVENT_WORKER_READY:
                with self._ready:
                    self.workers_ready += 1
                    self._ready.notify_all()
                self._worker_nodes[worker] = text.rpartition(" on ")[2]  # text: "pid PID on NODE"
                log.debug("worker %d ready: %s", worker, text)
            elif kind == _core.EVENT_WORKER_EXIT:
                self._worker_nodes.pop(worker, None)
                self._log_exit(status, text)
            elif kind == _core.EVENT_BROKEN:
                log.error("%s", _unprefixed(text))
                with self._ready:
                    self._broken = text
                    self._ready.notify_all()

    def _record_failure(self, task, future, worker, exc):
        self._error_log.record(task, getattr(future, "_pmp_function", None), worker,
                               self._worker_nodes.get(worker), exc)

    def _log_exit(self, status, text):
        if status == 0:
            log.debug("%s", _unprefixed(text))
        elif self._block_allocation and not self._core_stopping:
            log.warning("%s; the tasks it had not started go to other workers, and a new worker replaces it",
                        _unprefixed(text))
        else:
            log.warning("%s", _unprefixed(text))


def _deliver(executor_ref, events):
    executor = executor_ref()
    if executor is None:
        return
    _in_io_thread.active = True
    try:
        executor._on_events(events)
    finally:
        _in_io_thread.active = False


def _after(futures, then):
    """Calls then(None) once all futures are done, or then(exception) at the first that
    failed (or was cancelled). An upstream future keeps its done-callbacks: once fired,
    they let go of `then` (and so of the task's function and arguments)."""
    state = [len(futures), then]  # futures left, what to call
    lock = threading.Lock()

    def done(f):
        failed = None
        if f.cancelled():
            failed = concurrent.futures.CancelledError("a future this task takes as an argument was cancelled")
        elif f.exception() is not None:
            failed = f.exception()
        with lock:
            if state[1] is None:
                return
            state[0] -= 1
            if failed is None and state[0] > 0:
                return
            call, state[1] = state[1], None
        call(failed)

    for f in futures:
        f.add_done_callback(done)


def _unprefixed(text):
    return text[5:] if text.startswith("pmp: ") else text


def _map(executor, fn, iterables, timeout, chunksize):
    """concurrent.futures.Executor.map on executor (a pmp.Executor, or a _Counting around one)."""
    if chunksize == 1:
        return concurrent.futures.Executor.map(executor, fn, *iterables, timeout=timeout)
    chunks = concurrent.futures.Executor.map(executor, _calls.run_chunk, itertools.repeat(fn),
                                             _chunks(iterables, chunksize), timeout=timeout)
    return itertools.chain.from_iterable(chunks)


class _Counting:
    """An executor for concurrent.futures.Executor.map that moves a progress bar as the
    futures it submits finish: map itself, its ordering, timeout and cancelling, stay
    the standard library's."""

    def __init__(self, executor, bar):
        self._executor = executor
        self._bar = bar
        self.calls = 0

    def submit(self, fn, /, *args, **kwargs):
        future = self._executor.submit(fn, *args, **kwargs)
        n = len(args[1]) if fn is _calls.run_chunk else 1
        self.calls += n  # the total, once map has submitted everything
        future.add_done_callback(lambda _: self._bar.update(n))
        return future


def _chunks(iterables, chunksize):
    it = zip(*iterables)
    while True:
        chunk = tuple(itertools.islice(it, chunksize))
        if not chunk:
            return
        yield chunk


@atexit.register
def _shutdown_all():
    """At exit, let every controller finish its tasks and stop its workers, so that no
    worker outlives the script and no I/O thread runs while Python finalises."""
    with _live_lock:
        cores = list(_live)
    for core in cores:
        core.shutdown()
    for core in cores:
        core.join()
        core.close()
