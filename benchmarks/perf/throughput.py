"""Prints the no-op throughput (tasks/s) of one warm executor: pmp (local backend) or
ProcessPoolExecutor.  usage: throughput.py NTASKS WORKERS {pmp|process}"""
import concurrent.futures
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pmpbench import tasks, workloads  # noqa: E402

n, workers, peer = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if peer == "pmp":
    import pmp
    ex = pmp.Executor(max_workers=workers, block_allocation=True, backend="local", oversubscribe=workers > 2)
    while ex.workers_ready < workers:
        time.sleep(0.01)
else:
    ex = concurrent.futures.ProcessPoolExecutor(workers)
list(ex.map(tasks.noop, range(workers * 50)))
print(round(workloads.noop_throughput(ex, n)["tasks_per_s"]))
ex.shutdown()
