"""The first batches on a fresh pool, by worker count: for each count, a fresh executor,
warmed up as workload (7) warms it (4 tasks a worker) with the batches' own function or,
with `new`, with another one; then BATCHES batches of 20,000 tasks that return their
worker's pid. Prints each batch's tasks/s and how many workers ran it.
usage: first_batch.py local|slurm 2,128 [BATCHES] [same|new]
(slurm: inside salloc -N2 -n4 srun -N1 --pmp-workers=4)"""
import collections
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pmpbench import peers, tasks  # noqa: E402

TASKS = 20_000


def batch(executor):
    t0 = time.perf_counter()
    pids = collections.Counter(f.result() for f in [executor.submit(os.getpid) for _ in range(TASKS)])
    return TASKS / (time.perf_counter() - t0), len(pids)


if __name__ == "__main__":
    backend, counts = sys.argv[1], [int(c) for c in sys.argv[2].split(",")]
    batches = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    warm_with = os.getpid if (sys.argv[4] if len(sys.argv) > 4 else "same") == "same" else tasks.noop
    for n in counts:
        with peers.open_executor("pmp", n, backend, ready=False) as ex:
            peers._wait_pmp_workers(ex, n)  # all connected, as workload (7) waits
            for f in [ex.submit(warm_with) for _ in range(4 * n)]:
                f.result()
            seen = [batch(ex) for _ in range(batches)]
        print(f"{n} workers: " + ", ".join(f"{rate:,.0f} tasks/s on {used}" for rate, used in seen), flush=True)
