"""Static mode, mpipool-style: a script started as many tasks, every task runs the same
file, task 0 goes on as the main one and the others serve it.

    srun -n N --mpi=pmix --pmp-static python script.py      # or: mpiexec -n N python script.py

    with pmp.MPIExecutor() as exe:
        exe.workers_exit()             # the other tasks skip the with body
        print(list(exe.map(f, range(100))))
    # every task continues here

Task 0's constructor starts a controller and tells the others its endpoint and secret
over MPI (the job's own channel: nothing on a command line, nothing in a file); the others'
constructors connect and serve tasks until task 0 shuts down, then return."""
import os
import socket

from . import _core
from .executor import Executor
from .pool import Pool


class _WorkersExit(BaseException):
    """Raised by workers_exit() on the serving tasks: the with block swallows it."""


class _StaticBackend:
    """Workers are the job's other tasks, possibly on other nodes: listen on this node's
    address (CURVE over TCP)."""

    name = "static"

    def __init__(self, size):
        self.size = size

    def bind_address(self, hostname_localhost):
        host = "127.0.0.1" if hostname_localhost else socket.gethostbyname(socket.gethostname())
        return f"tcp://{host}:*"

    def total_cores(self):
        return self.size

    def worker_groups(self, res, n):
        return []


def _comm(comm):
    if comm is not None:
        return comm
    env = os.environ
    if int(env.get("SLURM_NTASKS", "1")) > 1 and not any(k in env for k in ("PMIX_RANK", "PMI_RANK",
                                                                            "OMPI_COMM_WORLD_RANK")):
        # Open MPI would abort in MPI_Init, with a wall of text: say it first.
        raise RuntimeError("pmp: the tasks of a static step find task 0 over MPI, and this srun step has "
                           "none: add --mpi=pmix (srun -n N --mpi=pmix --pmp-static python script.py)")
    try:
        from mpi4py import MPI
    except ImportError:
        raise RuntimeError("pmp: static mode finds its main task over MPI: install mpi4py, and start "
                           "the script with `srun --mpi=pmix --pmp-static -n N` or `mpiexec -n N`") from None
    return MPI.COMM_WORLD


class MPIExecutor(Executor):
    """pmp.Executor in static mode: task 0 submits, the other tasks of the job are its
    (serial) workers. Parameters as Executor's (max_workers is the job's size minus 1);
    comm: the MPI communicator (default COMM_WORLD)."""

    def __init__(self, comm=None, *, hostname_localhost=False, init_function=None, **kwargs):
        # What static mode decides itself (pmp.MPIPool passes them along).
        kwargs.pop("max_workers", None)
        kwargs.pop("backend", None)
        kwargs.pop("block_allocation", None)
        if int(kwargs.pop("cores_per_worker", 1)) != 1:
            raise ValueError("pmp: static mode has serial workers (one per task): use cores_per_worker=1")
        comm = _comm(comm)
        self._comm = comm
        self._rank = comm.Get_rank()
        size = comm.Get_size()
        if size < 2:
            raise ValueError("pmp: static mode needs at least 2 tasks (task 0 and a worker): start the "
                             "script with `srun -n N --mpi=pmix --pmp-static` or `mpiexec -n N`, N >= 2")
        if self._rank != 0:
            self._max_workers = self._max_cores = size - 1
            self._serve(comm.bcast(None, root=0))
            return
        self._backend_override = _StaticBackend(size - 1)
        try:
            super().__init__(max_workers=size - 1, block_allocation=True, hostname_localhost=hostname_localhost,
                             init_function=init_function, backend="local", **kwargs)
        except BaseException:
            comm.bcast(None, root=0)  # the workers give up too
            raise

    def _start_workers(self):
        self._backend = self._backend_override
        first = self._core.expect_workers(self._max_workers)
        self._comm.bcast((self._core.endpoint, self._core.secret, first), root=0)

    def _serve(self, hello):
        """A serving task: connect as worker first + rank - 1, serve until shutdown."""
        self._shutdown = True  # nothing to submit from here
        self._core = None
        if hello is None:
            raise RuntimeError("pmp: task 0 could not start the static executor (see its error)")
        from .worker import serve_serial  # not at import: `python -m pmp.worker` runs that module itself
        endpoint, secret, first = hello
        os.environ["PMP_SECRET"] = secret  # what the worker's connect reads
        try:
            worker = _core.Worker(endpoint, first + self._rank - 1)
        finally:
            os.environ.pop("PMP_SECRET", None)
        try:
            serve_serial(worker)
        finally:
            worker.close()

    def is_main(self):
        """True on task 0, the one that submits."""
        return self._rank == 0

    def workers_exit(self):
        """On the serving tasks: leave the with block now (they continue after it)."""
        if self._rank != 0:
            raise _WorkersExit()

    def submit_batch(self, fn, *iterables):
        """Futures of fn over the zipped iterables, submitted as the returned iterator is
        consumed: the arguments are read lazily, one task at a time."""
        for args in zip(*iterables):
            yield self.submit(fn, *args)

    def submit(self, fn, /, *args, **kwargs):
        if self._rank != 0:
            raise RuntimeError("pmp: only task 0 submits in static mode: call workers_exit() first in the "
                               "with block, or check is_main()")
        return super().submit(fn, *args, **kwargs)

    def shutdown(self, wait=True, *, cancel_futures=False):
        if self._rank == 0:
            super().shutdown(wait=wait, cancel_futures=cancel_futures)

    def __exit__(self, exc_type, exc, tb):
        self.shutdown(wait=True)
        return exc_type is _WorkersExit

    def __del__(self):
        if getattr(self, "_rank", 0) == 0:
            super().__del__()


class MPIPool(Pool):
    """pmp.Pool in static mode (see MPIExecutor): task 0 runs the pool, the others serve."""

    _executor_class = MPIExecutor

    def is_main(self):
        return self._executor.is_main()

    def workers_exit(self):
        self._executor.workers_exit()

    def __exit__(self, exc_type, exc, tb):
        if self.is_main():
            super().__exit__(exc_type, exc, tb)
        return exc_type is _WorkersExit
