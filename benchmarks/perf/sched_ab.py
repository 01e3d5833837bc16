"""Workers under SCHED_BATCH (pmp's default) against the default policy
(PMP_SCHED_BATCH=0), in one process: two executors of the same build side by side, used
in turns in short chunks, so that the machine's load falls on both alike.
Prints the medians of the chunks and of the paired ratios (batch / other):
- round trip p50 of one block worker (`rt`, chunks of 300 sequential no-op tasks);
- no-op throughput of N block workers (`throughput`, chunks of one batch of 20,000).
usage: sched_ab.py rt|throughput [WORKERS] [CHUNKS] [BACKEND]
       (e.g. `rt 1 20 local`; `throughput 128 8 slurm` inside salloc -N2 -n4)"""
import contextlib
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from pmpbench import peers, tasks, workloads  # noqa: E402


def executor(stack, batch, workers, backend):
    os.environ["PMP_SCHED_BATCH"] = "1" if batch else "0"  # read by each worker as it connects
    try:
        ex = stack.enter_context(peers.open_executor("pmp", workers, backend))
    finally:
        del os.environ["PMP_SCHED_BATCH"]
    want = os.SCHED_BATCH if batch else os.SCHED_OTHER
    assert ex.submit(os.sched_getscheduler, 0).result() == want
    return ex


def rt_chunk(ex):
    latencies = []
    for _ in range(300):
        t0 = time.perf_counter()
        ex.submit(tasks.noop).result()
        latencies.append(time.perf_counter() - t0)
    return statistics.median(latencies) * 1e6


def throughput_chunk(ex):
    return workloads.noop_throughput(ex, 20_000)["tasks_per_s"]


def main():
    what = sys.argv[1]
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    chunks = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    backend = sys.argv[4] if len(sys.argv) > 4 else "local"
    chunk = {"rt": rt_chunk, "throughput": throughput_chunk}[what]
    values = {"other": [], "batch": []}
    with contextlib.ExitStack() as stack:
        sides = {name: executor(stack, name == "batch", workers, backend) for name in values}
        for i in range(chunks + 1):
            order = list(sides.items())
            for name, ex in order if i % 2 else order[::-1]:
                value = chunk(ex)
                if i:  # the first chunk warms up
                    values[name].append(value)
    ratio = statistics.median(b / o for b, o in zip(values["batch"], values["other"]))
    unit = "us" if what == "rt" else "tasks/s"
    print(f"{what}, {workers} workers ({backend}), {chunks} chunks in turns: "
          f"other {statistics.median(values['other']):,.1f} {unit}, batch {statistics.median(values['batch']):,.1f} "
          f"{unit}, batch/other {ratio:.3f} (median of paired chunks)")


if __name__ == "__main__":
    main()
