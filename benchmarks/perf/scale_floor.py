"""The floor of workload (7) on this machine: a pyzmq ROUTER and N plain Python DEALER
worker processes (fork), each task pickle.loads + call + pickle.dumps, PREFETCH tasks in
flight per worker: pmp's structure with none of its code. Prints tasks/s per worker count
and the ratio of the last to the first.
usage: scale_floor.py NTASKS 2,128 [PREFETCH] [ipc|tcp]"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pmpbench import floors  # noqa: E402

if __name__ == "__main__":
    n, counts = int(sys.argv[1]), [int(c) for c in sys.argv[2].split(",")]
    prefetch = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    transport = sys.argv[4] if len(sys.argv) > 4 else "ipc"
    rates = {w: floors.zmq_scale(n, w, prefetch, transport)["tasks_per_s"] for w in counts}
    print({w: round(r) for w, r in rates.items()}, "last/first %.2f" % (rates[counts[-1]] / rates[counts[0]]))
