"""A pmp worker: `python -m pmp.worker`, started by an executor with PMP_ENDPOINT and
PMP_WORKER_ID in its environment. Receives tasks (without the GIL while it waits), runs
them, sends back results or exceptions with their tracebacks.

An MPI worker (PMP_MPI=1, started as several ranks): rank 0 talks to the controller and
broadcasts each task; every rank runs it; the results are gathered in rank order into a
list. An exception on any rank fails the task (the first failing rank's is sent).

Unless PMP_LABEL_OUTPUT=0, what the worker prints is labelled `[worker W, task T] `
(see _output.py).

With PMP_FORK_FD instead of PMP_WORKER_ID it is a fork server (a local backend's serial
workers): it imports what a worker needs once, then forks each worker the controller asks
for (pmp_serve_forks in libpmp), which goes on from there as if it had been started."""
import os
import sys

from . import _core, _serialize

# What a worker imports is on the critical path of every worker start (per-task mode
# starts one per task): logging, inspect and socket only when they are used.


def _log():
    """The "pmp.worker" logger, with PMP_LOG_LEVEL applied (imports logging)."""
    from . import _log
    return _log.logger.getChild("worker")


def _debug(*args):
    if os.environ.get("PMP_LOG_LEVEL", "").strip():  # unset: pmp does not log DEBUG
        _log().debug(*args)


def _with_init(fn, args, kwargs, init):
    """kwargs plus init's values for the parameters of fn that args and kwargs leave out."""
    if not init:
        return kwargs
    import inspect
    try:
        sig = inspect.signature(fn)
        bound = sig.bind_partial(*args, **kwargs).arguments
    except (TypeError, ValueError):
        return kwargs
    kwargs = dict(kwargs)
    for name, param in sig.parameters.items():
        if name not in bound and name in init and param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            kwargs[name] = init[name]
    return kwargs


class _Task:
    __slots__ = ("init", "init_error")

    def __init__(self):
        self.init = {}
        self.init_error = None

    def set_up(self, frames):
        try:
            init = _serialize.loads(frames)()
            if not isinstance(init, dict):
                raise TypeError(f"init_function must return a dict, not {type(init).__name__}")
            self.init = init
        except BaseException as e:
            self.init_error = e

    def run(self, frames):
        """(True, result) or (False, exception)."""
        if self.init_error is not None:
            return False, self.init_error
        try:
            fn, args, kwargs = _serialize.loads_task(frames)
            return True, fn(*args, **_with_init(fn, args, kwargs, self.init))
        except BaseException as e:
            return False, e


_MAX_MESSAGE_SIZE = int(os.environ.get("PMP_MAX_MESSAGE_SIZE") or 0)


def _answer(ok, value):
    """(status, frames) for an outcome."""
    if ok:
        try:
            frames = _serialize.dumps(value)
        except Exception as e:
            return _core.ERROR, _serialize.error_frames(e, "pmp: the task's result cannot be pickled:\n")
        size = sum(memoryview(f).nbytes for f in frames) if _MAX_MESSAGE_SIZE else 0
        if size <= _MAX_MESSAGE_SIZE or not _MAX_MESSAGE_SIZE:
            return _core.OK, frames
        value = ValueError(f"pmp: the task's result pickles to {size} bytes, more than max_message_size="
                           f"{_MAX_MESSAGE_SIZE}: return less data, or raise the limit")
    return _core.ERROR, _serialize.error_frames(value)


def _fast_state():
    """What Worker.serve needs to run a common task in C (pybind/_core/fast_task.c) as
    _Task.run and _answer would: the functions of head frames and what adds one, pickle,
    plain()'s question, _answer for every other outcome, and the limit on a result's size."""
    return (_serialize._functions, _serialize.function_of, _serialize.pickle.loads, _serialize.pickle.dumps,
            _serialize._by_reference_plainly, _answer, _MAX_MESSAGE_SIZE)


def serve_serial(worker, output=None):
    """The receive/run/send loop runs in C (pmp._core.Worker.serve), and so do common
    tasks; Python runs the others. With output (a _output.Labeller), serve names each task
    in what it prints, in C too."""
    task = _Task()

    def run(message, task_id):
        return _answer(*task.run(message))

    if output is None:
        worker.serve(run, task.set_up, None, _fast_state())
        return

    def set_up(message):
        task.set_up(message)
        output.end()  # what the init function printed goes out as the worker's, not a task's

    worker.serve(run, set_up, output.c_state(), _fast_state())


def serve_mpi(comm, worker, output=None):
    """Every rank runs every task; rank 0 (with worker) talks to the controller."""
    task = _Task()
    rank = comm.Get_rank()
    while True:
        request = None
        if rank == 0:
            kind, task_id, last, message = worker.recv()
            request = (kind, task_id, last, [bytes(f) for f in message] if message is not None else None)
        kind, task_id, last, frames = comm.bcast(request, root=0)
        if kind == _core.REQUEST_INIT:
            task.set_up(frames)
            if output is not None:
                output.end()
            continue
        if kind != _core.REQUEST_TASK:
            return
        if output is not None:
            output.begin(task_id)
        ok, value = task.run(frames)
        if output is not None:
            output.end()
        if not ok:  # exceptions travel as frames: not every exception pickles
            value = _serialize.error_frames(value, f"pmp: on MPI rank {rank} of {comm.Get_size()}:\n")
        outcomes = comm.gather((ok, value), root=0)
        if rank == 0:
            failed = [frames for ok, frames in outcomes if not ok]
            if failed:
                worker.send(task_id, _core.ERROR, failed[0])
            else:
                worker.send(task_id, *_answer(True, [v for _, v in outcomes]))
        if last:
            return


def _name(mpi):
    """"worker 3", or "worker 3 rank 1" for an MPI worker: before MPI_Init, from the
    launcher's variables (mpiexec's, PMIx's, srun's)."""
    name = f"worker {os.environ.get('PMP_WORKER_ID', '?')}"
    if mpi:
        for var in ("OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"):
            if os.environ.get(var, "").isdigit():
                return f"{name} rank {os.environ[var]}"
    return name


class _MPIInitWithoutStep:
    """Serial workers run in Slurm steps without PMI (pmp starts them with --mpi=none: a
    PMIx server doubles the cost of a step). Open MPI takes SLURM_STEP_ID for a launch by
    srun and aborts in MPI_Init for want of PMI; without it, MPI_Init makes a one-rank
    MPI_COMM_WORLD, as in a plain process. This import hook hides SLURM_STEP_ID while
    mpi4py.MPI loads (it calls MPI_Init), and only then: tasks still see their step."""

    def find_spec(self, name, path=None, target=None):
        if name != "mpi4py.MPI":
            return None
        from importlib.machinery import PathFinder
        spec = PathFinder.find_spec(name, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = _StepHiddenLoader(spec.loader)
        return spec


class _StepHiddenLoader:
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        with _step_hidden():
            return self._loader.create_module(spec)

    def exec_module(self, module):
        with _step_hidden():
            self._loader.exec_module(module)


class _step_hidden:
    def __enter__(self):
        self._step = os.environ.pop("SLURM_STEP_ID", None)

    def __exit__(self, *exc):
        if self._step is not None:
            os.environ["SLURM_STEP_ID"] = self._step


def _without_pmi():
    env = os.environ
    return "SLURM_STEP_ID" in env and not any(v in env for v in ("PMIX_RANK", "PMI_RANK", "PMI_FD"))


def main():
    mpi = os.environ.get("PMP_MPI") == "1"
    if not mpi and _without_pmi():
        sys.meta_path.insert(0, _MPIInitWithoutStep())
    name = _name(mpi)
    output = None
    if os.environ.get("PMP_LABEL_OUTPUT", "1") != "0":
        from . import _output
        output = _output.install(name)  # it moves fds 1 and 2: before MPI_Init and any thread
    comm = None
    if mpi:
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
    worker = None
    try:
        if comm is None or comm.Get_rank() == 0:
            worker = _core.Worker()
            _debug("%s connected: pid %d on %s", name, os.getpid(),
                   os.environ.get("SLURMD_NODENAME") or os.uname().nodename)
        if output is not None:
            output.end()  # start-up output (MPI's, the log line) is the worker's, not its first task's
        os.environ.pop("PMP_SECRET", None)  # connected: the tasks' code has no business with it
        if comm is not None and comm.Get_size() > 1:
            serve_mpi(comm, worker, output)
        else:
            serve_serial(worker, output)
        _debug("%s done", name)
    except _core.Error as e:
        print(e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 1
    finally:
        if worker is not None:
            worker.close()
        if output is not None:
            output.close()
    return 0


def _serve_forks(fd):
    """Returns in each forked worker, its PMP_WORKER_ID set; the server ends here."""
    if os.environ.get("PMP_LABEL_OUTPUT", "1") != "0":
        from . import _output  # noqa: F401  what main() imports next, imported once

    # cloudpickle, which unpickles every function of __main__ (8 ms), once the first
    # worker is on its way: not on the way to the first result.
    to_load = [_serialize._load_cloudpickle]

    def idle():
        while to_load:
            try:
                to_load.pop()()
            except ImportError:
                pass  # a task that needs it says so

    worker_id = _core.serve_forks(fd, idle)
    if worker_id is None:  # the controller is gone
        _core.exit(0)
    del os.environ["PMP_FORK_FD"]
    os.environ["PMP_WORKER_ID"] = str(worker_id)


def _exit(code):
    """Ends the worker as a forked multiprocessing child ends, without the interpreter's
    teardown, which frees every object one by one for memory the kernel takes back at
    once: an eighth of a per-task worker's instructions (callgrind), 2-3 ms of CPU. What
    the end of a program owes the tasks' code still happens, in Python's own order:
    non-daemon threads are joined, atexit functions run, Python's streams are flushed,
    then C's exit() flushes C's stdio and runs C's atexit functions and destructors.
    Left out are the finalizers of objects still alive, which CPython does not promise
    either, and the C extensions' Py_AtExit functions: mpi4py's MPI_Finalize is one,
    so a worker that loaded MPI ends the usual way."""
    if "mpi4py.MPI" in sys.modules:
        sys.exit(code)
    threading = sys.modules.get("threading")
    if threading is not None:
        threading._shutdown()  # what the interpreter calls first at its end
    import atexit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        _core.flush(stream)  # unless a task replaced or closed it
    _core.exit(code)


if __name__ == "__main__":
    if "PMP_FORK_FD" in os.environ:
        try:
            _serve_forks(int(os.environ["PMP_FORK_FD"]))
        except (_core.Error, ValueError, OSError) as e:
            # The controller starts its workers as usual when its fork server fails.
            print(f"pmp: the fork server of this executor failed ({e}); workers start without it", file=sys.stderr)
            _core.exit(1)
    _exit(main())
