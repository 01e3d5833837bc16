"""Workload (4) beside its transport floor, back to back: a numpy array of MB megabytes to
one worker and back (identity), GB/s both ways, medians over ROUNDS, for pmp (the backend
auto picks: Slurm inside an allocation, so tcp), a pyzmq+pickle-5 floor (ROUTER/DEALER over
tcp on this host's address, buffers out of band and zero-copy) and ProcessPoolExecutor.
usage: bw_floor.py MB REPS ROUNDS"""
import concurrent.futures
import os
import pickle
import socket
import statistics
import subprocess
import sys
import time

import numpy as np
import zmq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pmpbench import workloads  # noqa: E402

WORKER = r'''
import pickle, sys, zmq
s = zmq.Context().socket(zmq.DEALER); s.connect(sys.argv[1]); s.send(b"hi")
while True:
    parts = s.recv_multipart(copy=False)
    if len(parts) == 1:
        break
    obj = pickle.loads(parts[0].buffer, buffers=[p.buffer for p in parts[1:]])
    bufs = []
    main = pickle.dumps(obj, protocol=5, buffer_callback=bufs.append)
    s.send_multipart([main] + [b.raw() for b in bufs], copy=False)
'''


def zmq_floor(array, reps):
    host = socket.gethostbyname(socket.gethostname())
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    port = router.bind_to_random_port(f"tcp://{host}")
    proc = subprocess.Popen([sys.executable, "-c", WORKER, f"tcp://{host}:{port}"])
    ident, _ = router.recv_multipart()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        bufs = []
        main = pickle.dumps(array, protocol=5, buffer_callback=bufs.append)
        router.send_multipart([ident, main] + [b.raw() for b in bufs], copy=False)
        parts = router.recv_multipart(copy=False)
        back = pickle.loads(parts[1].buffer, buffers=[p.buffer for p in parts[2:]])
        times.append(time.perf_counter() - t0)
        assert back.nbytes == array.nbytes
    router.send_multipart([ident, b"x"])
    proc.wait()
    router.close()
    ctx.term()
    return 2 * array.nbytes / 1e9 / statistics.median(times)


def executor_gbps(make, mb, reps):
    with make() as ex:
        return workloads.large_array(ex, mb, reps)["gbps"]


if __name__ == "__main__":
    mb, reps, rounds = (int(a) for a in sys.argv[1:4])
    import pmp
    array = np.arange(mb * 2**20 // 8, dtype=np.float64)
    runs = {"pmp": [], "floor_zmq_tcp": [], "process": []}
    for _ in range(rounds):
        runs["pmp"].append(executor_gbps(lambda: pmp.Executor(max_workers=1, block_allocation=True), mb, reps))
        runs["floor_zmq_tcp"].append(zmq_floor(array, reps))
        runs["process"].append(executor_gbps(lambda: concurrent.futures.ProcessPoolExecutor(1), mb, reps))
    m = {k: round(statistics.median(v), 3) for k, v in runs.items()}
    print(os.environ.get("SLURM_JOB_ID", "local"), m, "pmp/floor %.2f pmp/process %.2f"
          % (m["pmp"] / m["floor_zmq_tcp"], m["pmp"] / m["process"]))
