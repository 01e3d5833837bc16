"""Where one round trip of workload (2) goes (local backend, one worker, no-op): submit(),
submit's return to the start of the delivery (the worker, the way back, the waiting
thread's turn of the I/O), the delivery (Python, on the thread that waits in result()) and
the delivery's end to result()'s return; and a submit() among many queued ones. Medians, us.
usage: rt_breakdown.py N"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pmpbench import tasks  # noqa: E402

import pmp  # noqa: E402
from pmp import executor  # noqa: E402

WARMUP = 100
marks = {}


def timed_on_events(on_events):
    def wrapper(self, events):
        marks["deliver"] = time.perf_counter_ns()
        on_events(self, events)
        marks["delivered"] = time.perf_counter_ns()
    return wrapper


if __name__ == "__main__":
    n = int(sys.argv[1])
    executor.Executor._on_events = timed_on_events(executor.Executor._on_events)
    rows = []
    with pmp.Executor(max_workers=1, block_allocation=True, backend="local") as ex:
        ex.wait_for_workers()
        for i in range(n + WARMUP):
            t0 = time.perf_counter_ns()
            f = ex.submit(tasks.noop)
            t1 = time.perf_counter_ns()
            f.result()
            t2 = time.perf_counter_ns()
            if i >= WARMUP:
                rows.append((t1 - t0, marks["deliver"] - t1, marks["delivered"] - marks["deliver"],
                             t2 - marks["delivered"], t2 - t0))
        t0 = time.perf_counter_ns()
        futures = [ex.submit(tasks.noop) for _ in range(n)]
        queued = (time.perf_counter_ns() - t0) / n
        for f in futures:
            f.result()
    names = ("submit", "submit -> delivery", "delivery", "delivery -> result()", "round trip")
    for k, name in enumerate(names):
        print(f"{name}: {statistics.median(r[k] for r in rows) / 1000:.1f} us")
    print(f"submit among {n} queued: {queued / 1000:.1f} us")
