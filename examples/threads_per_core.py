"""threads_per_core: each worker's OpenMP/BLAS thread pools get that many threads."""
import os

import pmp


def threads():
    return os.environ.get("OMP_NUM_THREADS"), len(os.sched_getaffinity(0))


with pmp.Executor(max_workers=1, threads_per_core=2, block_allocation=True) as exe:
    print(exe.submit(threads).result())
