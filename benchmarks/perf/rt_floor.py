"""Round-trip floors of workload (2), back to back with pmp (ipc, one worker, no-op):
  floor            pyzmq+pickle ping-pong, the main thread on the ROUTER (benchmarks' floor)
  floor+io_thread  the same with pmp's structure: the main thread hands each task to an I/O
                   thread that owns the ROUTER, and gets the result back from it (an inproc
                   PAIR each way): what one I/O thread costs, with no pmp code
  pmp              Executor.submit(noop).result()
Prints the p50s (us), medians over ROUNDS.  usage: rt_floor.py N ROUNDS"""
import os
import pickle
import statistics
import subprocess
import sys
import threading
import time

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pmpbench import tasks  # noqa: E402

WORKER = r'''
import pickle, sys, zmq
sys.path.insert(0, sys.argv[2])
s = zmq.Context().socket(zmq.DEALER); s.connect(sys.argv[1]); s.send(b"hi")
while True:
    body = s.recv()
    if body == b"x":
        break
    fn, a, k = pickle.loads(body)
    s.send(pickle.dumps(fn(*a, **k), protocol=5))
'''
WARMUP = 50


def p50(seconds):
    return statistics.median(seconds) * 1e6


def zmq_floor(n, io_thread):
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    endpoint = f"ipc:///tmp/pmp-rt-floor-{os.getpid()}"
    router.bind(endpoint)
    bench = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    proc = subprocess.Popen([sys.executable, "-c", WORKER, endpoint, bench])
    ident, _ = router.recv_multipart()
    if io_thread:
        app, io_end = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
        app.bind("inproc://io")
        io_end.connect("inproc://io")

        def io():
            poller = zmq.Poller()
            poller.register(io_end, zmq.POLLIN)
            poller.register(router, zmq.POLLIN)
            while True:
                for sock, _ in poller.poll():
                    if sock is io_end:
                        m = io_end.recv()
                        if m == b"stop":
                            return
                        router.send_multipart([ident, m])
                    else:
                        io_end.send(router.recv_multipart()[1])

        thread = threading.Thread(target=io)
        thread.start()
        send, recv = app.send, app.recv
    else:
        send, recv = (lambda m: router.send_multipart([ident, m])), (lambda: router.recv_multipart()[1])
    latencies = []
    for i in range(n + WARMUP):
        t0 = time.perf_counter()
        send(pickle.dumps((tasks.noop, (), {}), protocol=5))
        pickle.loads(recv())
        if i >= WARMUP:
            latencies.append(time.perf_counter() - t0)
    if io_thread:
        app.send(b"stop")
        thread.join()
    router.send_multipart([ident, b"x"])
    proc.wait()
    return p50(latencies)


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
