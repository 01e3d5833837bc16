"""Workload (5) locally by how many workers may start at once (the local backend's
max_starting, this process's CPUs by default), in turns: start to first result, and start
to all workers connected. Fewer at once gives the first worker the CPUs to itself; more
brings the whole pool up sooner (forked workers start in a few ms once the fork server is
up). Prints medians (ms).  usage: first_result_starting.py WORKERS ROUNDS [AT_ONCE,...]"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pmpbench import tasks  # noqa: E402


def measure(workers, at_once):
    import pmp
    from pmp import _backends
    _backends.LocalBackend.max_starting = lambda self: at_once  # what the executor asks at its start
    t0 = time.perf_counter()
    with pmp.Executor(max_workers=workers, block_allocation=True, backend="local", oversubscribe=True) as ex:
        ex.submit(tasks.noop).result()
        first = time.perf_counter() - t0
        if not ex.wait_for_workers(timeout=120):
            raise TimeoutError(f"{workers} workers not up in 120 s")
        return first, time.perf_counter() - t0


if __name__ == "__main__":
    workers, rounds = int(sys.argv[1]), int(sys.argv[2])
    choices = [int(x) for x in sys.argv[3].split(",")] if len(sys.argv) > 3 else [1, 2, workers]
    runs = {k: [] for k in choices}
    for r in range(rounds):
        for k in (choices if r % 2 else choices[::-1]):
            runs[k].append(measure(workers, k))
    for k, v in runs.items():
        first, up = (statistics.median(x) * 1000 for x in zip(*v))
        print(f"{workers} workers, {k} at once: first result {first:.1f} ms, all connected {up:.1f} ms")
