"""Round-trip p50 of pmp (local, one worker, no-op) by io_lend_us, rounds interleaved:
what the I/O thread's checking back on a lend costs a sequential submit().result().
usage: rt_lend.py N ROUNDS LEND_US [LEND_US ...]   (e.g. 3000 3 1000 100000000)"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pmpbench import tasks  # noqa: E402

import pmp  # noqa: E402
from pmp import _core  # noqa: E402

WARMUP = 100


def p50_us(lend_us, n):
    controller = _core.Controller
    _core.Controller = lambda *a, **k: controller(*a, **dict(k, io_lend_us=lend_us))
    try:
        with pmp.Executor(max_workers=1, block_allocation=True, backend="local") as ex:
            latencies = []
            for i in range(WARMUP + n):
                t0 = time.perf_counter()
                ex.submit(tasks.noop).result()
                latencies.append(time.perf_counter() - t0)
            return statistics.median(latencies[WARMUP:]) * 1e6
    finally:
        _core.Controller = controller


if __name__ == "__main__":
    n, rounds, lends = int(sys.argv[1]), int(sys.argv[2]), [int(a) for a in sys.argv[3:]]
    runs = {lend: [] for lend in lends}
    for _ in range(rounds):
        for lend in lends:
            runs[lend].append(p50_us(lend, n))
    for lend, v in runs.items():
        print(f"io_lend_us={lend}: p50 {statistics.median(v):.1f} us")
