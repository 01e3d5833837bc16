"""Start to first result of workload (5) by worker count, beside its floors: one process
(Slurm: one srun step) of `python3 -c "import pmp.worker"`, and the first of 4 such
started at once; locally also with PMP_FORK=0 (every worker started, none forked), in
turns. Prints medians (ms) and their ratio to the one-process floor.
usage: first_result.py local|slurm ROUNDS   (slurm: inside salloc -N2 -n4)"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pmpbench import floors, tasks  # noqa: E402

WORKERS = (1, 2, 4)


def first_result(backend, n):
    import pmp
    t0 = time.perf_counter()
    with pmp.Executor(max_workers=n, block_allocation=True, backend=backend) as ex:
        ex.submit(tasks.noop).result()
        return time.perf_counter() - t0


if __name__ == "__main__":
    backend, rounds = sys.argv[1], int(sys.argv[2])
    argv = [sys.executable, "-c", "import pmp.worker"]
    if backend == "slurm":
        argv = floors.srun(*argv)
    forks = ("1", "0") if backend == "local" else ("1",)
    runs = {**{(n, f): [] for n in WORKERS for f in forks}, "floor": [], "floor-4-at-once": []}
    for _ in range(rounds):
        for n in WORKERS:
            for f in forks:
                os.environ["PMP_FORK"] = f
                runs[n, f].append(first_result(backend, n))
        runs["floor"].append(floors.launch_time(argv, 1)["seconds_median"])
        runs["floor-4-at-once"].append(floors.first_of_concurrent(argv, 4, 1)["seconds_median"])
    ms = {k: statistics.median(v) * 1000 for k, v in runs.items()}
    for k, v in ms.items():
        name = k if isinstance(k, str) else f"pmp, {k[0]} workers" + (", PMP_FORK=0" if k[1] == "0" else "")
        print(f"{name}: {v:.1f} ms, {v / ms['floor']:.2f}x the floor")
