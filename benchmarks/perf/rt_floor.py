"""Round-trip floors of workload (2), back to back with pmp (ipc, one worker, no-op):
  floor            pyzmq+pickle ping-pong, the main thread on the ROUTER (benchmarks' floor)
  floor+io_thread  the same with an I/O thread (pmp's structure until result() ran the I/O
                   on the waiting thread): the main thread hands each task to an I/O
                   thread that owns the ROUTER, and gets the result back from it (an inproc
                   PAIR each way): what one I/O thread costs, with no pmp code
  pmp              Executor.submit(noop).result()
Prints the p50s (us), medians over ROUNDS.  usage: rt_floor.py N ROUNDS"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pmpbench import floors, tasks  # noqa: E402

WARMUP = 50


def p50(seconds):
    return statistics.median(seconds) * 1e6


def zmq_floor(n, io_thread):
    return floors.zmq_round_trip("ipc", n, WARMUP, io_thread=io_thread)["p50_us"]


def pmp_round_trip(n):
    import pmp
    with pmp.Executor(max_workers=1, block_allocation=True, backend="local") as ex:
        latencies = []
        for i in range(n + WARMUP):
            t0 = time.perf_counter()
            ex.submit(tasks.noop).result()
            if i >= WARMUP:
                latencies.append(time.perf_counter() - t0)
    return p50(latencies)


if __name__ == "__main__":
    n, rounds = int(sys.argv[1]), int(sys.argv[2])
    runs = {"floor": [], "floor+io_thread": [], "pmp": []}
    for _ in range(rounds):
        runs["floor"].append(zmq_floor(n, False))
        runs["floor+io_thread"].append(zmq_floor(n, True))
        runs["pmp"].append(pmp_round_trip(n))
    m = {k: round(statistics.median(v), 1) for k, v in runs.items()}
    print(m, "pmp/floor %.2f, pmp/(floor+io_thread) %.2f, (floor+io_thread)/floor %.2f"
          % (m["pmp"] / m["floor"], m["pmp"] / m["floor+io_thread"], m["floor+io_thread"] / m["floor"]))
