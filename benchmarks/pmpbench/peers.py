"""The executors under test, each opened and shut down the way its users do, behind one
concurrent.futures-like interface: submit(), map(), shutdown()."""
import contextlib
import logging
import os
import time

from . import tasks

READY_TIMEOUT = 300  # seconds for all workers of an executor to come up


@contextlib.contextmanager
def open_executor(peer, workers, backend="local", ready=True, **options):
    """Yields an executor of `workers` workers. ready=True waits until every worker is up
    and has run a task, so that throughput is measured on a warm pool."""
    opener = {"pmp": _pmp, "process": _process, "mpi": _mpi, "dask": _dask}[peer]
    with opener(workers, backend=backend, ready=ready, **options) as executor:
        if ready:
            warm_up(executor, workers)
        yield executor


def warm_up(executor, workers):
    """A few rounds of no-op tasks: every worker has imported what the tasks need."""
    futures = [executor.submit(tasks.noop) for _ in range(4 * workers)]
    for f in futures:
        f.result(timeout=READY_TIMEOUT)


@contextlib.contextmanager
def _pmp(workers, backend, ready, block_allocation=True, oversubscribe=None, **_):
    import pmp
    if oversubscribe is None:
        oversubscribe = workers > _cpus(backend)
    executor = pmp.Executor(max_workers=workers, block_allocation=block_allocation, backend=backend,
                            oversubscribe=oversubscribe)
    try:
        if ready and block_allocation:
            _wait_pmp_workers(executor, workers)
        yield executor
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _wait_pmp_workers(executor, workers):
    """pmp starts workers in the background and counts them as they connect; poll that
    count (not a fixed sleep) so no task lands before all are there."""
    deadline = time.monotonic() + READY_TIMEOUT
    while executor.workers_ready < workers:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {executor.workers_ready} of {workers} pmp workers up "
                               f"after {READY_TIMEOUT} s")
        time.sleep(0.005)


def _cpus(backend):
    if backend == "slurm":
        import pmp._slurm
        return pmp._slurm.SlurmBackend().total_cores()
    return os.cpu_count() or 1


@contextlib.contextmanager
def _process(workers, per_task=False, **_):
    import concurrent.futures
    import multiprocessing
    if per_task:  # a fresh process per task: pmp's per-task mode on one machine
        executor = concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), max_tasks_per_child=1)
    else:  # the default (fork on Linux), as users get it
        executor = concurrent.futures.ProcessPoolExecutor(workers)
    try:
        yield executor
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _mpi(workers, ready, **_):
    # The child runs as an MPI singleton (no mpiexec): Open MPI 4.1 starts its own orted
    # and MPI_Comm_spawn works from there. The driver gives this child the environment it
    # needs (root allowed, oversubscription, no SLURM_* variables).
    from mpi4py.futures import MPIPoolExecutor
    executor = MPIPoolExecutor(max_workers=workers)
    try:
        if ready:
            executor.bootup(wait=True)
        yield executor
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _dask(workers, ready, **_):
    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    client = Client(cluster)
    try:
        if ready:
            client.wait_for_workers(workers, timeout=READY_TIMEOUT)
        # pure=False: dask would otherwise run identical calls (no-op tasks) only once.
        yield client.get_executor(pure=False)
    finally:
        client.close()
        cluster.close()
