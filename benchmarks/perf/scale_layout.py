"""Workload (7) on the Slurm backend by CPU layout: 2 bound workers (each node binds its
worker step to its first CPU; on the local cluster both nodes' first CPU is this host's
CPU 0), 2 unbound (oversubscribe=True: --cpu-bind=none) and 128 (oversubscribed, so
unbound), a fresh executor each, taking turns; each executor runs BATCHES batches of
20,000 no-op tasks. Prints each side's batches and the medians.
usage (inside salloc -N2 -n4 srun -N1 --pmp-workers=4): scale_layout.py [ROUNDS] [BATCHES]
PMP_SCHED_BATCH=0 or 1 in the environment fixes the workers' policy for all three."""
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from pmpbench import peers, workloads  # noqa: E402

SIDES = {"2 bound": (2, False), "2 unbound": (2, True), "128": (128, True)}


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    batches = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    seen = {name: [] for name in SIDES}
    for _ in range(rounds):
        for name, (workers, unbound) in SIDES.items():
            with peers.open_executor("pmp", workers, "slurm", oversubscribe=unbound) as ex:
                rates = [workloads.noop_throughput(ex, 20_000)["tasks_per_s"] for _ in range(batches)]
            seen[name] += rates
            print(f"{name:10} " + " ".join(f"{r:,.0f}" for r in rates), flush=True)
    medians = {name: statistics.median(v) for name, v in seen.items()}
    print("medians: " + ", ".join(f"{name} {m:,.0f}" for name, m in medians.items()) +
          f" tasks/s; 128 / 2 bound {medians['128'] / medians['2 bound']:.2f}x, "
          f"128 / 2 unbound {medians['128'] / medians['2 unbound']:.2f}x")


if __name__ == "__main__":
    main()
