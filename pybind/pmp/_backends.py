"""Where workers run and how they are started. Each backend turns a worker's resources
into the command line and environment of its process; the C runtime starts it, watches
it, and replaces it."""
import os
import sys

# shutil and socket (5 ms of imports) are imported where used: an executor's start is on
# the way to its first result, and the local backend needs neither.

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tcp_bind_address(hostname_localhost):
    """A TCP endpoint on this node's address (any free port), for workers on other nodes;
    127.0.0.1 when hostname_localhost."""
    import socket
    host = "127.0.0.1" if hostname_localhost else socket.gethostbyname(socket.gethostname())
    return f"tcp://{host}:*"


class Resources:
    """What one worker gets: MPI ranks (cores), threads per core, GPUs per core, its
    working directory, oversubscription, extra launcher arguments, its largest message,
    and whether it labels its output."""

    __slots__ = ("cores", "threads_per_core", "gpus_per_core", "cwd", "oversubscribe", "extra_args",
                 "max_message_size", "label_output")

    def __init__(self, cores=1, threads_per_core=1, gpus_per_core=0, cwd=None, oversubscribe=False,
                 extra_args=(), max_message_size=None, label_output=True):
        self.cores = cores
        self.threads_per_core = threads_per_core
        self.gpus_per_core = gpus_per_core
        self.cwd = cwd
        self.oversubscribe = oversubscribe
        self.extra_args = tuple(extra_args)
        self.max_message_size = max_message_size
        self.label_output = label_output

    def key(self):
        return tuple(getattr(self, name) for name in self.__slots__)


def _import_path():
    """The controller's sys.path (as multiprocessing's spawn passes it on), so a worker
    imports what the controller imports: this very pmp, and the modules of functions
    pickled by reference (a test module, a package the script put on sys.path)."""
    entries = [_PACKAGE_PARENT]
    for entry in sys.path:
        entry = os.path.abspath(entry or os.getcwd()) if isinstance(entry, str) else None
        if entry and entry not in entries and os.path.exists(entry):
            entries.append(entry)
    return os.pathsep.join(entries)


def worker_environment(res, shares_cpus):
    """This process's environment, plus what a worker needs to import what the
    controller imports and to size its thread pools (the user's own settings win).
    shares_cpus: the workers share CPUs with each other or with this script (all local
    ones, oversubscribed Slurm ones), and so run under SCHED_BATCH (see README, "On a
    workstation"), unless PMP_SCHED_BATCH says otherwise."""
    env = dict(os.environ)
    env.setdefault("PMP_SCHED_BATCH", "1" if shares_cpus else "0")
    env["PYTHONPATH"] = _import_path()
    for name in THREAD_VARS:
        if name not in os.environ:
            env[name] = str(res.threads_per_core)
    env["PMP_MPI"] = "1" if res.cores > 1 else "0"
    env["PMP_MAX_MESSAGE_SIZE"] = str(res.max_message_size or 0)
    env["PMP_LABEL_OUTPUT"] = "1" if res.label_output else "0"
    for name in ("PMP_ROLE", "PMP_WORKERS", "PMP_STATIC", "PMP_MAIN", "PMP_CPUS", "PMP_GPUS"):
        env.pop(name, None)  # the controller's, not the worker's
    return env


def worker_command():
    return [sys.executable, "-m", "pmp.worker"]


class LocalBackend:
    """Workers on this machine: a Python process each, or `mpiexec -n cores` for MPI workers."""

    name = "local"

    def __init__(self):
        self.mpiexec = None

    def bind_address(self, hostname_localhost):
        return None  # ipc:// in a private directory: workers are on this machine

    def total_cores(self):
        return os.cpu_count() or 1

    def worker_groups(self, res, n):
        """[(placement, count)]: how n long-lived workers are placed."""
        return [(None, n)]

    def max_starting(self):
        """Cores' worth of long-lived workers that start at once. They share this machine's
        CPUs: more starting together than it has make the first one (and the first result)
        wait for all of them."""
        return len(os.sched_getaffinity(0))

    def spec_args(self, res, node=None):
        """(argv, env, cwd, cores, forked) for Controller.spec(). A serial worker is forked
        by a fork server, one `python -m pmp.worker` that has started and imported what a
        worker needs: a fresh process without Python's start (see README, "On a
        workstation"). PMP_FORK=0 starts each one instead."""
        env = worker_environment(res, shares_cpus=True)
        argv = worker_command()
        mpi = res.cores > 1 or res.extra_args  # extra arguments are mpiexec's
        if mpi:
            argv = self._mpiexec(res, env) + argv
        forked = not mpi and os.environ.get("PMP_FORK", "1").strip() != "0"
        return argv, [f"{k}={v}" for k, v in env.items()], res.cwd, res.cores, forked

    def _mpiexec(self, res, env):
        if self.mpiexec is None:
            import shutil
            self.mpiexec = shutil.which("mpiexec") or shutil.which("mpirun")
            if self.mpiexec is None:
                raise ValueError("pmp: cores_per_worker > 1 needs mpiexec on PATH for the local backend: "
                                 "install Open MPI (apt-get install openmpi-bin) or use cores_per_worker=1")
        argv = [self.mpiexec, "-n", str(res.cores)]
        if os.geteuid() == 0:  # Open MPI refuses root unless told twice
            env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
            env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        if res.oversubscribe or res.cores > self.total_cores():
            argv.append("--oversubscribe")
        return argv + list(res.extra_args)


def select(backend):
    """The backend object for a backend= name."""
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a string, not {type(backend).__name__}")
    name = backend.lower()
    if name == "auto":
        name = "slurm" if os.environ.get("SLURM_JOB_ID") and _slurm_available() else "local"
    if name in ("local", "mpi"):
        return LocalBackend()
    if name == "slurm":
        from ._slurm import SlurmBackend
        return SlurmBackend()
    if name == "flux":
        raise ValueError("pmp: backend='flux' is not supported: use backend='slurm' inside a Slurm "
                         "allocation, or backend='local' on this machine")
    raise ValueError(f"pmp: unknown backend {backend!r}: use 'auto', 'local' (alias 'mpi') or 'slurm'")


def _slurm_available():
    try:
        from . import _slurm  # noqa: F401
    except ImportError:
        return False
    import shutil
    return shutil.which("srun") is not None
