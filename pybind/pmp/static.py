"""Static mode, mpipool-style: a script started as many tasks, every task runs the same
file, task 0 goes on as the main one and the others serve it.

    srun -n N --pmp-static python script.py      # or: mpiexec -n N python script.py

    with pmp.MPIExecutor() as exe:
        exe.workers_exit()             # the other tasks skip the with body
        print(list(exe.map(f, range(100))))
    # every task continues here

How the tasks find task 0, with nothing on a command line and nothing in a file:
- under `srun --pmp-static`, the pmp SPANK plugin gives every task the endpoint on task
  0's node (PMP_ENDPOINT), a secret made for the step (PMP_SECRET, over Slurm's
  authenticated launch) and its worker id (PMP_WORKER_ID): no MPI needed;
- otherwise (mpiexec, or a comm given), task 0 tells the others over MPI."""
import os

from . import _backends, _core
from .executor import Executor
from .pool import Pool


class _WorkersExit(BaseException):
    """Raised by workers_exit() on the serving tasks: the with block swallows it."""


class _StaticBackend:
    """Workers are the job's other tasks, possibly on other nodes: listen on TCP."""

    name = "static"

    def __init__(self, size, bind=None):
        self.size = size
        self.bind = bind

    def bind_address(self, hostname_localhost):
        return self.bind or _backends.tcp_bind_address(hostname_localhost)

    def total_cores(self):
        return self.size

    def max_starting(self):
        return 0  # the job's tasks start themselves

    def worker_groups(self, res, n):
        return []


_step_secret = None


class _Rendezvous:
    """What the SPANK plugin set up for this task of an `srun --pmp-static` step."""

    def __init__(self, env):
        global _step_secret
        if _step_secret is None:
            # Out of the environment at once: programs this script starts do not need it.
            _step_secret = env.pop("PMP_SECRET")
        self.secret = _step_secret
        self.endpoint = env["PMP_ENDPOINT"]
        self.rank = int(env["SLURM_PROCID"])
        self.size = int(env.get("SLURM_STEP_NUM_TASKS") or env["SLURM_NTASKS"])
        self.worker_id = int(env.get("PMP_WORKER_ID", "-1"))
        self.node = env.get("PMP_STATIC_NODE", "task 0's node")

    @classmethod
    def of_this_task(cls):
        env = os.environ
        if env.get("PMP_ROLE") != "static" or "PMP_ENDPOINT" not in env:
            return None
        if "PMP_SECRET" not in env and _step_secret is None:
            return None
        return cls(env)

    def bind(self):
        return "tcp://*:" + self.endpoint.rsplit(":", 1)[1]


def _comm(comm):
    if comm is not None:
        return comm
    env = os.environ
    if int(env.get("SLURM_NTASKS", "1")) > 1 and not any(k in env for k in ("PMIX_RANK", "PMI_RANK",
                                                                            "OMPI_COMM_WORLD_RANK")):
        # Open MPI would abort in MPI_Init, with a wall of text: say it first.
        raise RuntimeError("pmp: the tasks of this srun step cannot find task 0: start the script with "
                           "`srun -n N --pmp-static python script.py` (the pmp plugin connects them), "
                           "or give MPI to the step with --mpi=pmix")
    try:
        from mpi4py import MPI
    except ImportError:
        raise RuntimeError("pmp: static mode finds its main task over MPI outside srun --pmp-static: "
                           "install mpi4py and start the script with mpiexec -n N, or use "
                           "srun -n N --pmp-static") from None
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
        rendezvous = _Rendezvous.of_this_task()  # takes the step's secret out of the environment
        if comm is not None:
            rendezvous = None  # the caller's MPI communicator decides
        self._comm = None if rendezvous else _comm(comm)
        self._rendezvous = rendezvous
        if rendezvous:
            self._rank, size = rendezvous.rank, rendezvous.size
        else:
            self._rank, size = self._comm.Get_rank(), self._comm.Get_size()
        if size < 2:
            raise ValueError("pmp: static mode needs at least 2 tasks (task 0 and a worker): start the "
                             "script with `srun -n N --pmp-static` or `mpiexec -n N`, N >= 2")
        if self._rank != 0:
            self._max_workers = self._max_cores = size - 1
            if rendezvous:
                self._serve((rendezvous.endpoint, rendezvous.secret, rendezvous.worker_id))
            else:
                hello = self._comm.bcast(None, root=0)
                self._serve(hello and (hello[0], hello[1], hello[2] + self._rank - 1))
            return
        self._static_backend = _StaticBackend(size - 1, rendezvous and rendezvous.bind())
        self._given_secret = rendezvous and rendezvous.secret
        try:
            super().__init__(max_workers=size - 1, block_allocation=True, hostname_localhost=hostname_localhost,
                             init_function=init_function, backend="local", **kwargs)
        except BaseException as e:
            if self._comm is not None:
                self._comm.bcast(None, root=0)  # the workers give up too
            if rendezvous and "cannot listen" in str(e):
                raise RuntimeError(f"pmp: task 0 cannot listen on {rendezvous.endpoint} ({e}): run the step "
                                   "again (srun draws another port), or ask your Slurm administrators to "
                                   "move static_ports in plugstack.conf") from e
            raise
        # Under srun a task that fails ends the step (the plugin sets --kill-on-bad-exit):
        # the workers do not wait for a task 0 that is gone.

    def _select_backend(self, backend):
        return self._static_backend

    def _start_workers(self):
        first = self._core.expect_workers(self._max_workers)
        if self._rendezvous:
            if first != 0:  # the plugin numbered the workers from 0
                raise RuntimeError("pmp: a static step's workers must be the controller's first: report this")
        else:
            self._comm.bcast((self._core.endpoint, self._core.secret, first), root=0)

    def _serve(self, hello):
        """A serving task: connect as its worker id, serve until shutdown."""
        self._shutdown = True  # nothing to submit from here
        self._core = None
        if hello is None:
            raise RuntimeError("pmp: task 0 could not start the static executor (see its error)")
        from .worker import serve_serial  # not at import: `python -m pmp.worker` runs that module itself
        endpoint, secret, worker_id = hello
        os.environ["PMP_SECRET"] = secret  # what the worker's connect reads
        try:
            worker = _core.Worker(endpoint, worker_id)
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
