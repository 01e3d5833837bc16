"""Where workload (7)'s CPU goes, by worker count: for one warm executor per count, the
CPU time (schedstat) and context switches per no-op task of the controller's threads (its
main thread is "main"; pmp's are "pmp-io" and "pmp-deliver") and of all the workers'
threads, by thread name (a worker's main thread is "python3", its ZeroMQ I/O thread
"ZMQbg/IO/0"), batch by batch: the first batch on a fresh pool is workload (7)'s.
usage: scale_threads.py NTASKS 2,128 [local|slurm] [BATCHES]
(slurm: inside salloc -N2 -n4 srun -N1 --pmp-workers=4)"""
import collections
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pmpbench import peers, workloads  # noqa: E402
from pmpbench.threadstats import children, pmp_worker_processes, snapshot  # noqa: E402


def per_task(before, after, n, main_tid=None):
    """{thread name: [cpu us, switches]} per task, summed over the threads of that name."""
    sums = collections.defaultdict(lambda: [0.0, 0.0])
    for key, (ns, voluntary, involuntary) in after.items():
        ns0, voluntary0, involuntary0 = before.get(key, (0, 0, 0))
        name = "main" if key[2] == main_tid else key[1]
        sums[name][0] += (ns - ns0) / 1000 / n
        sums[name][1] += (voluntary + involuntary - voluntary0 - involuntary0) / n
    return sums


if __name__ == "__main__":
    n, counts = int(sys.argv[1]), [int(c) for c in sys.argv[2].split(",")]
    backend = sys.argv[3] if len(sys.argv) > 3 else "local"
    batches = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    me = os.getpid()
    for workers in counts:
        with peers.open_executor("pmp", workers, backend) as ex:
            # Local workers are this process's children; Slurm ones are their steps' tasks.
            pids = children(me) if backend == "local" else pmp_worker_processes()
            for batch in range(batches):
                controller, workers_before = snapshot([me]), snapshot(pids)
                rate = workloads.noop_throughput(ex, n)["tasks_per_s"]
                sides = {"controller": per_task(controller, snapshot([me]), n, str(me)),
                         "workers": per_task(workers_before, snapshot(pids), n)}
                print(f"{workers} workers, batch {batch + 1}: {rate:,.0f} tasks/s")
                for side, sums in sides.items():
                    for name, (cpu, switches) in sorted(sums.items()):
                        if cpu >= 0.05 or switches >= 0.01:
                            print(f"  {side:10} {name:12} {cpu:6.1f} us CPU  {switches:5.2f} switches  per task")
