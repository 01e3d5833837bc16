"""Per thread, per round trip: CPU time (schedstat) and context switches, of pmp (local,
one worker, no-op) and of the pyzmq+pickle ping-pong floor, in one process, back to back.
Shows which thread a round trip's time goes to, and who wakes more often than the floor.
usage: rt_threads.py N ROUNDS"""
import os
import pickle
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pmpbench import floors, tasks  # noqa: E402
from pmpbench.threadstats import children, snapshot  # noqa: E402

import pmp  # noqa: E402
import zmq  # noqa: E402


def measure(name, pids, round_trip, n):
    before, t0 = snapshot(pids), time.perf_counter()
    for _ in range(n):
        round_trip()
    seconds, after = time.perf_counter() - t0, snapshot(pids)
    print(f"{name}: {seconds / n * 1e6:.1f} us a round trip")
    total = 0.0
    for key in sorted(after):
        if key in before:
            cpu, vol, inv = ((a - b) / n for a, b in zip(after[key], before[key]))
            total += cpu / 1000
            if cpu > 200:
                print(f"  pid {key[0]} {key[1]:12s} cpu {cpu / 1000:6.1f} us, switches {vol:.2f} + {inv:.2f} preempted")
    print(f"  all threads: cpu {total:.1f} us")


if __name__ == "__main__":
    n, rounds = int(sys.argv[1]), int(sys.argv[2])
    context = zmq.Context()
    me = os.getpid()
    with floors.ping_pong_worker(context) as (router, identity):
        floor_pids = [me] + children(me)  # this process and the floor's worker

        def floor_round_trip():
            router.send_multipart([identity, pickle.dumps((tasks.noop, (), {}), protocol=5)])
            pickle.loads(router.recv_multipart()[1])

        with pmp.Executor(max_workers=1, block_allocation=True, backend="local") as ex:
            def pmp_round_trip():
                ex.submit(tasks.noop).result()

            for _ in range(200):
                floor_round_trip()
                pmp_round_trip()
            pmp_pids = [me] + [p for p in children(me) if p not in floor_pids]
            for _ in range(rounds):
                measure("floor", floor_pids, floor_round_trip, n)
                measure("pmp", pmp_pids, pmp_round_trip, n)
    context.term()
