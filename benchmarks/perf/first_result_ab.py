"""Start to first result (workload (5)) of two pmp builds, side by side: each round runs
one fresh Python process per build, in turn, that creates an executor of WORKERS workers
and waits for one no-op task. Fresh processes, so each pays what a user's first executor
pays. Prints the medians and their ratio.
usage: first_result_ab.py BASE_PYTHON_DIR NEW_PYTHON_DIR WORKERS ROUNDS [local|slurm]"""
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CHILD = """
import sys, time
sys.path.insert(0, {bench!r})
from pmpbench import tasks
import pmp
t0 = time.perf_counter()
with pmp.Executor(max_workers={workers}, block_allocation=True, backend={backend!r}) as ex:
    ex.submit(tasks.noop).result(timeout=120)
    print(time.perf_counter() - t0)
"""


def first_result(python_dir, workers, backend):
    code = CHILD.format(bench=os.path.join(HERE, ".."), workers=workers, backend=backend)
    env = dict(os.environ, PYTHONPATH=python_dir)
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True,
                         text=True, timeout=300, stdin=subprocess.DEVNULL).stdout
    return float(out.split()[-1])


if __name__ == "__main__":
    base, new, workers, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    backend = sys.argv[5] if len(sys.argv) > 5 else "local"
    runs = {"base": [], "new": []}
    for _ in range(rounds):
        runs["base"].append(first_result(base, workers, backend))
        runs["new"].append(first_result(new, workers, backend))
    ms = {k: statistics.median(v) * 1000 for k, v in runs.items()}
    print(f"{workers} workers ({backend}), {rounds} rounds: base {ms['base']:.1f} ms, new {ms['new']:.1f} ms, "
          f"new/base {ms['new'] / ms['base']:.2f}")
