"""Workload (7)'s measure on two builds, in turns: each round starts one fresh process
per build (the order alternating), which opens fresh pools of the given worker counts one
after the other, as the benchmark's sessions do, each warmed up as workload (7) warms it,
and runs one batch of N no-op tasks on each; the last pool's tasks/s is the round's.
Prints medians, new/base and in how many rounds the new build was faster.
usage: fresh_pools_ab.py BASE_PY NEW_PY N COUNTS ROUNDS [local|slurm]
  e.g. fresh_pools_ab.py /tmp/base/python build/python 20000 2,128 16
  (slurm: inside salloc -N2 -n4; each process is then a step of its own, as
  `srun -N1 --pmp-workers=4` starts the benchmark's)"""
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))


def last_pool_rate(counts, n, backend):
    from pmpbench import peers, workloads
    rate = None
    for workers in counts:
        with peers.open_executor("pmp", workers, backend) as ex:
            rate = workloads.noop_throughput(ex, n)["tasks_per_s"]
    return rate


def one_process(python_dir, n, counts, backend):
    argv = [sys.executable, os.path.abspath(__file__), "--one", str(n), counts, backend]
    if backend == "slurm":
        argv = ["srun", "-N1", "--pmp-workers=4", *argv]
    out = subprocess.run(argv, env={**os.environ, "PYTHONPATH": python_dir}, check=True,
                         stdout=subprocess.PIPE, text=True, timeout=600).stdout
    return float(out.split()[-1])


if __name__ == "__main__":
    if sys.argv[1] == "--one":
        n, counts, backend = int(sys.argv[2]), [int(c) for c in sys.argv[3].split(",")], sys.argv[4]
        print(last_pool_rate(counts, n, backend))
        sys.exit(0)
    base, new, n, counts, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
    backend = sys.argv[6] if len(sys.argv) > 6 else "local"
    runs = {"base": [], "new": []}
    for i in range(rounds):
        for name in ("base", "new") if i % 2 == 0 else ("new", "base"):
            runs[name].append(one_process(base if name == "base" else new, n, counts, backend))
    b, m = statistics.median(runs["base"]), statistics.median(runs["new"])
    faster = sum(x > y for x, y in zip(runs["new"], runs["base"]))
    print(f"base {b:,.0f} tasks/s ({min(runs['base']):,.0f}-{max(runs['base']):,.0f}), "
          f"new {m:,.0f} ({min(runs['new']):,.0f}-{max(runs['new']):,.0f}): new/base {m / b:.2f}, "
          f"new faster in {faster} of {rounds} rounds")
