"""Workload (8) alone: controller RSS growth per queued no-op task, beyond its pickle.
usage: memory.py [NTASKS]"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pmpbench import child, workloads  # noqa: E402

import pmp  # noqa: E402

n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
with pmp.Executor(max_workers=1, block_allocation=True, backend="local") as ex:
    ex.submit(int).result()
    m = workloads.queued_memory(ex, n, child._pmp_pickled_bytes())
print({k: round(v, 1) if isinstance(v, float) else v for k, v in m.items()})
