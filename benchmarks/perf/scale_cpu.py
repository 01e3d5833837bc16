"""Where workload (7)'s time goes on any backend, by worker count: for one warm executor
per count, the whole machine's CPU time per no-op task (/proc/stat: every process, also
Slurm's daemons and the workers of srun steps, which scale_threads.py cannot see) and how
much of the run the CPUs sat idle.  usage: scale_cpu.py NTASKS 2,128 [local|slurm]
(inside an allocation for slurm: salloc -N2 -n4 srun -N1 --pmp-workers=4 ...)"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pmpbench import peers, workloads  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_times():
    """(busy, idle) seconds of all CPUs together."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields) - idle) / TICK, idle / TICK


if __name__ == "__main__":
    n, counts = int(sys.argv[1]), [int(c) for c in sys.argv[2].split(",")]
    backend = sys.argv[3] if len(sys.argv) > 3 else "local"
    for workers in counts:
        with peers.open_executor("pmp", workers, backend) as ex:
            busy0, idle0 = cpu_times()
            result = workloads.noop_throughput(ex, n)
            busy1, idle1 = cpu_times()
        busy, idle = busy1 - busy0, idle1 - idle0
        print(f"{workers} workers: {result['tasks_per_s']:,.0f} tasks/s, {busy / n * 1e6:.1f} us CPU a task "
              f"(all processes), CPUs idle {idle / (busy + idle):.0%} of the run")
