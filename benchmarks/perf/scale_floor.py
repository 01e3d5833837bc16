"""The floor of workload (7) on this machine: a pyzmq ROUTER and N plain Python DEALER
worker processes (fork), each task pickle.loads + call + pickle.dumps, PREFETCH tasks in
flight per worker: pmp's structure with none of its code. Prints tasks/s per worker count
and the ratio of the last to the first.  usage: scale_floor.py NTASKS 2,128 [PREFETCH]"""
import multiprocessing as mp
import os
import pickle
import sys
import time

import zmq

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pmpbench import tasks  # noqa: E402


def worker(endpoint, i):
    s = zmq.Context().socket(zmq.DEALER)
    s.setsockopt(zmq.IDENTITY, b"w%d" % i)
    s.connect(endpoint)
    s.send(b"ready")
    while True:
        tid, body = s.recv_multipart()
        if tid == b"stop":
            return
        fn, args, kwargs = pickle.loads(body)
        s.send_multipart([tid, pickle.dumps(fn(*args, **kwargs), protocol=5)])


def run(n, workers, prefetch):
    router = zmq.Context().socket(zmq.ROUTER)
    endpoint = f"ipc:///tmp/pmp-scale-floor-{os.getpid()}"
    router.bind(endpoint)
    procs = [mp.get_context("fork").Process(target=worker, args=(endpoint, i)) for i in range(workers)]
    for p in procs:
        p.start()
    ids = [router.recv_multipart()[0] for _ in range(workers)]
    body = pickle.dumps((tasks.noop, (), {}), protocol=5)

    def go(n):
        inflight, sent, done = dict.fromkeys(ids, 0), 0, 0
        for w in ids:
            while inflight[w] < prefetch and sent < n:
                router.send_multipart([w, b"%d" % sent, body])
                sent, inflight[w] = sent + 1, inflight[w] + 1
        while done < n:
            w, _, result = router.recv_multipart()
            pickle.loads(result)
            done, inflight[w] = done + 1, inflight[w] - 1
            if sent < n:
                router.send_multipart([w, b"%d" % sent, body])
                sent, inflight[w] = sent + 1, inflight[w] + 1

    go(workers * 20)  # warm
    t0 = time.perf_counter()
    go(n)
    seconds = time.perf_counter() - t0
    for w in ids:
        router.send_multipart([w, b"stop", b""])
    for p in procs:
        p.join()
    return n / seconds


if __name__ == "__main__":
    n, counts = int(sys.argv[1]), [int(c) for c in sys.argv[2].split(",")]
    prefetch = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    rates = {w: run(n, w, prefetch) for w in counts}
    print({w: round(r) for w, r in rates.items()}, "last/first %.2f" % (rates[counts[-1]] / rates[counts[0]]))
