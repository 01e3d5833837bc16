"""Where workload (7)'s CPU goes, by worker count: for one warm local executor per count,
the CPU time (schedstat) and context switches per no-op task of the controller and of
all the workers' threads, by thread name (the worker's main thread is "python3", its
ZeroMQ I/O thread "ZMQbg/IO/0").  usage: scale_threads.py NTASKS 2,128"""
import collections
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pmpbench import peers, workloads  # noqa: E402


def threads(pid):
    """{(tid, name): (cpu ns, context switches)} of one process."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return out
    for tid in tids:
        base = f"/proc/{pid}/task/{tid}"
        try:
            with open(f"{base}/comm") as f:
                name = f.read().strip()
            with open(f"{base}/schedstat") as f:
                cpu = int(f.read().split()[0])
            with open(f"{base}/status") as f:
                switches = sum(int(line.split(":")[1]) for line in f if "ctxt_switches" in line)
        except (FileNotFoundError, ProcessLookupError):
            continue
        out[(tid, name)] = (cpu, switches)
    return out


def children(pid):
    found = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError):
                continue
            if ppid == pid:
                found.append(int(p))
    return found


def snapshot():
    workers = {}
    for child in children(os.getpid()):
        workers.update(threads(child))
    return threads(os.getpid()), workers


def per_task(before, after, n):
    """{thread name: (cpu us, switches)} per task, summed over the threads of that name."""
    sums = collections.defaultdict(lambda: [0.0, 0.0])
    for key, (cpu, switches) in after.items():
        cpu0, switches0 = before.get(key, (0, 0))
        sums[key[1]][0] += (cpu - cpu0) / 1000 / n
        sums[key[1]][1] += (switches - switches0) / n
    return sums


if __name__ == "__main__":
    n, counts = int(sys.argv[1]), [int(c) for c in sys.argv[2].split(",")]
    for workers in counts:
        with peers.open_executor("pmp", workers, "local") as ex:
            (c0, w0) = snapshot()
            rate = workloads.noop_throughput(ex, n)["tasks_per_s"]
            (c1, w1) = snapshot()
        print(f"{workers} workers: {rate:,.0f} tasks/s")
        for side, before, after in (("controller", c0, c1), ("workers", w0, w1)):
            for name, (cpu, switches) in sorted(per_task(before, after, n).items()):
                if cpu >= 0.05 or switches >= 0.01:
                    print(f"  {side:10} {name:12} {cpu:6.1f} us CPU  {switches:5.2f} switches  per task")
