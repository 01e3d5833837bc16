"""Where workload (7)'s CPU goes, by worker count: for one warm local executor per count,
the CPU time (schedstat) and context switches per no-op task of the controller and of
all the workers' threads, by thread name (the worker's main thread is "python3", its
ZeroMQ I/O thread "ZMQbg/IO/0").  usage: scale_threads.py NTASKS 2,128"""
import collections
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pmpbench import peers, workloads  # noqa: E402
from pmpbench.threadstats import children, snapshot  # noqa: E402


def per_task(before, after, n):
    """{thread name: [cpu us, switches]} per task, summed over the threads of that name."""
    sums = collections.defaultdict(lambda: [0.0, 0.0])
    for key, (ns, voluntary, involuntary) in after.items():
        ns0, voluntary0, involuntary0 = before.get(key, (0, 0, 0))
        sums[key[1]][0] += (ns - ns0) / 1000 / n
        sums[key[1]][1] += (voluntary + involuntary - voluntary0 - involuntary0) / n
    return sums


if __name__ == "__main__":
    n, counts = int(sys.argv[1]), [int(c) for c in sys.argv[2].split(",")]
    me = os.getpid()
    for workers in counts:
        with peers.open_executor("pmp", workers, "local") as ex:
            pids = children(me)
            controller, workers_before = snapshot([me]), snapshot(pids)
            rate = workloads.noop_throughput(ex, n)["tasks_per_s"]
            after = {"controller": (controller, snapshot([me])), "workers": (workers_before, snapshot(pids))}
        print(f"{workers} workers: {rate:,.0f} tasks/s")
        for side, (before, now) in after.items():
            for name, (cpu, switches) in sorted(per_task(before, now, n).items()):
                if cpu >= 0.05 or switches >= 0.01:
                    print(f"  {side:10} {name:12} {cpu:6.1f} us CPU  {switches:5.2f} switches  per task")
