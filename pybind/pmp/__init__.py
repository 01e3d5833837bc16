"""pmp: scale Python functions over the nodes of a Slurm allocation.

    import pmp
    with pmp.Executor(max_workers=2) as exe:
        print(exe.submit(sum, [1, 1]).result())
"""
import importlib

# The public names, imported on first use (PEP 562): a worker (`python -m pmp.worker`,
# started once per task in per-task mode) imports the package without the executor, the
# pools and their imports (logging among them: pmp._log, which applies PMP_LOG_LEVEL,
# comes with the executor).
_EXPORTS = {
    "Executor": "executor", "Future": "executor", "Pool": "pool", "MPISpawnPool": "pool",
    "MPIExecutor": "static", "MPIPool": "static", "BrokenExecutor": "errors", "RemoteError": "errors",
    "RemoteTraceback": "errors", "WorkerLost": "errors", "wait": "_waiting", "as_completed": "_waiting",
}
__all__ = list(_EXPORTS)
__version__ = "0.1.0"


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pmp' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
