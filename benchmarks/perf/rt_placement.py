"""Round-trip p50 (us) of the pyzmq+pickle ping-pong and of pmp (one local worker) by where
their threads run, in turns: unpinned (the scheduler places them, as in the benchmark), all
on the first CPU, and the caller's process on the first CPU with the worker's on the second.
A round trip is a chain of wake-ups (caller, its ZeroMQ I/O thread, the worker's, the
worker, and back); this shows what a wake-up across CPUs costs on this machine.
usage: rt_placement.py CHUNK ROUNDS   (needs 2 CPUs)"""
import contextlib
import os
import pickle
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pmpbench import floors, tasks  # noqa: E402
from pmpbench.threadstats import pmp_worker_processes, python_processes_with  # noqa: E402

ALL = os.sched_getaffinity(0)
FIRST, SECOND = sorted(ALL)[:2]
PLACEMENTS = {"unpinned": (ALL, ALL), "all on one CPU": ({FIRST}, {FIRST}),
              "caller and worker on a CPU each": ({FIRST}, {SECOND})}


def pin(pid, cpus):
    """Every thread of process pid (its ZeroMQ threads too) to cpus."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(OSError):  # a thread that just ended
            os.sched_setaffinity(int(tid), cpus)


def p50(one, n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        one()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


if __name__ == "__main__":
    import pmp
    import zmq
    chunk, rounds = int(sys.argv[1]), int(sys.argv[2])
    if len(ALL) < 2:
        sys.exit("rt_placement.py needs 2 CPUs")
    context = zmq.Context()
    with pmp.Executor(max_workers=1, block_allocation=True, backend="local") as ex, \
            floors.ping_pong_worker(context) as (router, identity):
        ex.wait_for_workers()
        message = pickle.dumps((tasks.noop, (), {}), protocol=5)
        floor_worker = python_processes_with(b"zmq-worker")  # floors.py's worker process
        sides = {"ping-pong": (lambda: (router.send_multipart([identity, message]),
                                        pickle.loads(router.recv_multipart()[1])), floor_worker),
                 "pmp": (lambda: ex.submit(tasks.noop).result(), pmp_worker_processes())}
        runs = {(s, p): [] for s in sides for p in PLACEMENTS}
        for r in range(rounds):
            for place, (mine, theirs) in (PLACEMENTS.items() if r % 2 else reversed(PLACEMENTS.items())):
                pin(os.getpid(), mine)
                for side, (one, workers) in sides.items():
                    for w in workers:
                        pin(w, theirs)
                    runs[side, place].append(p50(one, chunk))
        pin(os.getpid(), ALL)
    context.term()
    for (side, place), v in runs.items():
        base = statistics.median(runs[side, "unpinned"])
        print(f"{side}, {place}: {statistics.median(v):.1f} us, {statistics.median(v) / base:.2f}x unpinned")
