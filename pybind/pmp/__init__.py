"""pmp: scale Python functions over the nodes of a Slurm allocation.

    import pmp
    with pmp.Executor(max_workers=2) as exe:
        print(exe.submit(sum, [1, 1]).result())
"""
from . import _log

_log.configure()  # PMP_LOG_LEVEL, before anything logs

from ._waiting import as_completed, wait  # noqa: E402
from .errors import BrokenExecutor, RemoteError, RemoteTraceback, WorkerLost  # noqa: E402
from .executor import Executor, Future  # noqa: E402
from .pool import MPISpawnPool, Pool  # noqa: E402
from .static import MPIExecutor, MPIPool  # noqa: E402

__all__ = ["Executor", "Future", "Pool", "MPISpawnPool", "MPIExecutor", "MPIPool", "BrokenExecutor", "RemoteError",
           "RemoteTraceback", "WorkerLost", "wait", "as_completed"]
__version__ = "0.1.0"
