"""The workloads of issue 7, each written once against the concurrent.futures interface
and run unchanged on every executor. Each returns a dict of metrics."""
import functools
import gc
import itertools
import os
import statistics
import tempfile
import time

from . import tasks

RESULT_TIMEOUT = 300  # seconds for any one result: a hung executor fails, never blocks


def noop_throughput(executor, n):
    """(1), (7): n no-op tasks submitted at once, then awaited."""
    t0 = time.perf_counter()
    futures = [executor.submit(tasks.noop) for _ in range(n)]
    for f in futures:
        f.result(timeout=RESULT_TIMEOUT)
    seconds = time.perf_counter() - t0
    return {"tasks": n, "seconds": seconds, "tasks_per_s": n / seconds}


def round_trip(executor, n, warmup=20):
    """(2): one task at a time, submit to result."""
    latencies = [one_round_trip(executor) for _ in range(warmup + n)][warmup:]
    return latency_metrics(latencies)


def one_round_trip(executor):
    """Seconds from submitting a no-op task to its result."""
    t0 = time.perf_counter()
    executor.submit(tasks.noop).result(timeout=RESULT_TIMEOUT)
    return time.perf_counter() - t0


def latency_metrics(seconds):
    seconds = sorted(seconds)
    return {"n": len(seconds), "p50_us": percentile(seconds, 50) * 1e6,
            "p99_us": percentile(seconds, 99) * 1e6, "mean_us": statistics.fmean(seconds) * 1e6}


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list."""
    rank = max(1, -(-len(sorted_values) * p // 100))
    return sorted_values[int(rank) - 1]


def map_throughput(executor, n, chunksize, native_chunks=True):
    """(3): map over n items in chunks. native_chunks=False chunks by hand, for an
    executor whose map() ignores chunksize (dask's), so all do the same work per task."""
    t0 = time.perf_counter()
    if native_chunks:
        results = executor.map(tasks.inc, range(n), chunksize=chunksize, timeout=RESULT_TIMEOUT)
    else:
        chunks = [range(i, min(i + chunksize, n)) for i in range(0, n, chunksize)]  # dask maps lists only
        results = itertools.chain.from_iterable(
            executor.map(functools.partial(tasks.run_chunk, tasks.inc), chunks, timeout=RESULT_TIMEOUT))
    total = sum(results)
    seconds = time.perf_counter() - t0
    if total != n * (n + 1) // 2:
        raise AssertionError(f"map returned wrong results (sum {total})")
    return {"items": n, "chunksize": chunksize, "seconds": seconds, "items_per_s": n / seconds}


def large_array(executor, mbytes, reps):
    """(4): a numpy array to a worker and back (identity). GB/s counts both ways."""
    import numpy as np
    array = np.arange(mbytes * 2**20 // 8, dtype=np.float64)
    executor.submit(tasks.identity, array[:1024]).result(timeout=RESULT_TIMEOUT)  # numpy imported there
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        back = executor.submit(tasks.identity, array).result(timeout=RESULT_TIMEOUT)
        times.append(time.perf_counter() - t0)
        if back.nbytes != array.nbytes or back[-1] != array[-1]:
            raise AssertionError("the array came back different")
        del back
    moved = 2 * array.nbytes / 1e9
    return {"mbytes": mbytes, "reps": reps, "seconds": times,
            "gbps": moved / statistics.median(times), "best_gbps": moved / min(times)}


def first_result(open_executor, reps):
    """(5): executor creation to the first result (shutdown not counted)."""
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        with open_executor() as executor:
            executor.submit(tasks.noop).result(timeout=RESULT_TIMEOUT)
            times.append(time.perf_counter() - t0)
    return {"reps": reps, "seconds": times, "seconds_median": statistics.median(times)}


def queued_memory(executor, n, pickled_bytes=None):
    """(8): the controller's RSS growth per queued no-op task. Its one worker is held by a
    task blocked on a FIFO (not a sleep), so all n tasks stay queued in the controller;
    then they are cancelled and the worker released."""
    with tempfile.TemporaryDirectory(prefix="pmpbench-") as tmp:
        started, release = os.path.join(tmp, "started"), os.path.join(tmp, "release")
        os.mkfifo(started)
        os.mkfifo(release)
        started_fd = os.open(started, os.O_RDONLY | os.O_NONBLOCK)
        try:
            blocker = executor.submit(tasks.block_until_released, started, release)
            if not tasks.wait_readable(started_fd, RESULT_TIMEOUT):
                raise TimeoutError("the blocking task never started")
        finally:
            os.close(started_fd)
        metrics = _measure_queue(executor, n)
        t0 = time.perf_counter()
        executor.shutdown(wait=False, cancel_futures=True)
        metrics["cancel_s"] = time.perf_counter() - t0
        release_fd = os.open(release, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO, not a hang, if the task died
        os.write(release_fd, b"1")
        os.close(release_fd)
        blocker.result(timeout=RESULT_TIMEOUT)
    if pickled_bytes is not None:
        metrics["pickled_bytes"] = pickled_bytes
        metrics["beyond_pickle_bytes"] = metrics["per_task_bytes"] - pickled_bytes
    return metrics


def _measure_queue(executor, n):
    gc.collect()
    before = rss_bytes()
    t0 = time.perf_counter()
    futures = [executor.submit(tasks.noop) for _ in range(n)]
    submit_s = time.perf_counter() - t0
    gc.collect()
    growth = rss_bytes() - before
    del futures  # the executor still holds them until cancelled
    return {"tasks": n, "rss_growth_bytes": growth, "per_task_bytes": growth / n, "submit_s": submit_s}


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
