"""pmp: scale Python functions over the nodes of a Slurm allocation.

    import pmp
    with pmp.Executor(max_workers=2) as exe:
        print(exe.submit(sum, [1, 1]).result())
"""
from .errors import BrokenExecutor, RemoteError, RemoteTraceback, WorkerLost
from .executor import Executor, Future
from .pool import MPISpawnPool, Pool
from .static import MPIExecutor, MPIPool

__all__ = ["Executor", "Future", "Pool", "MPISpawnPool", "MPIExecutor", "MPIPool", "BrokenExecutor", "RemoteError",
           "RemoteTraceback", "WorkerLost"]
__version__ = "0.1.0"
