"""The floors pmp is measured against: what the hardware, ZeroMQ, pickle, process
creation and Slurm cost with nothing of pmp's on top."""
import concurrent.futures
import contextlib
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from . import tasks, workloads

RECV_TIMEOUT_MS = 30_000  # a lost peer fails the floor instead of hanging it
STEP_TIMEOUT = 120  # seconds for one process or srun step

# What a worker step keeps of the controller step's SLURM_* variables: as pmp's Slurm
# backend does, so that the floors' steps are shaped like pmp's worker steps.
SLURM_KEEP = {"SLURM_JOB_ID", "SLURM_JOBID", "SLURM_CONF", "SLURM_CLUSTER_NAME", "SLURM_WORKING_CLUSTER",
              "SLURM_JOB_PARTITION", "SLURM_SUBMIT_DIR", "SLURM_SUBMIT_HOST"}


# ---- pyzmq + pickle ping-pong ----

def zmq_round_trip(transport, n, warmup=50, io_thread=False):
    """A ROUTER (the controller's side) and a DEALER in another process (a worker's):
    each round trip pickles (fn, args, kwargs) with protocol 5, the worker unpickles it,
    calls fn and pickles the result back, and the controller unpickles it.
    io_thread=True: pmp's former structure with none of its code: the caller hands each task to
    an I/O thread that owns the ROUTER, and gets the result back from it (an inproc PAIR
    each way), which is what one I/O thread costs a round trip."""
    import zmq
    context = zmq.Context()
    try:
        with ping_pong_worker(context, transport) as (router, identity):
            relay = _IORelay(context, router, identity) if io_thread else None
            try:
                if relay is not None:
                    send, recv = relay.app.send, relay.app.recv
                else:
                    send = lambda m: router.send_multipart([identity, m])  # noqa: E731
                    recv = lambda: router.recv_multipart()[1]  # noqa: E731
                latencies = [_ping(send, recv) for _ in range(warmup + n)][warmup:]
            finally:
                if relay is not None:
                    relay.stop()
    finally:
        context.term()
    return dict(workloads.latency_metrics(latencies), transport=transport, io_thread=io_thread)


def paired_round_trip(executor, transport, chunk, chunks, warmup=50):
    """(2) and its floor in turns: `chunk` round trips of the executor, then `chunk` of
    the pyzmq+pickle ping-pong (its worker a process of this one, over `transport`), and
    so on `chunks` times, each pair in the other order from the last. This machine's
    speed moves by a third within seconds, so that two sessions minutes apart compare
    two different machines; chunks taken in turns see the same one.
    Returns the medians of the chunks' p50s, pmp's and the floor's, the paired ratios
    (each pmp chunk over the floor chunk beside it) and their median, the target's ratio:
    the medians of the two sides taken apart would throw the pairing away."""
    import zmq
    context = zmq.Context()
    try:
        with ping_pong_worker(context, transport) as (router, identity):
            def ping_pong():
                return _ping(lambda m: router.send_multipart([identity, m]), lambda: router.recv_multipart()[1])

            def submit():
                return workloads.one_round_trip(executor)

            def p50(one):
                return statistics.median(one() for _ in range(chunk)) * 1e6

            for _ in range(warmup):
                ping_pong()
                submit()
            mine, floor = [], []
            for i in range(chunks):
                if i % 2:
                    floor.append(p50(ping_pong))
                    mine.append(p50(submit))
                else:
                    mine.append(p50(submit))
                    floor.append(p50(ping_pong))
    finally:
        context.term()
    ratios = [m / f for m, f in zip(mine, floor)]
    return {"n": chunk * chunks, "chunk": chunk, "transport": transport,
            "p50_us": statistics.median(mine), "floor_p50_us": statistics.median(floor),
            "ratio": statistics.median(ratios), "chunk_ratios": [round(r, 3) for r in ratios]}


@contextlib.contextmanager
def ping_pong_worker(context, transport="ipc"):
    """A ROUTER of context and a zmq_worker process connected to it, after its hello:
    yields (router, the worker's identity); then stops the worker and closes the router."""
    import zmq
    router = context.socket(zmq.ROUTER)
    router.setsockopt(zmq.RCVTIMEO, RECV_TIMEOUT_MS)
    router.setsockopt(zmq.LINGER, 0)
    identity = None
    with tempfile.TemporaryDirectory(prefix="pmpbench-zmq-") as tmp:
        endpoint = _bind(router, transport, tmp)
        worker = subprocess.Popen([sys.executable, "-m", "pmpbench.floors", "zmq-worker", endpoint],
                                  env=_with_pmpbench())
        try:
            identity, _ = router.recv_multipart()  # the worker's hello
            yield router, identity
        finally:
            if identity is not None:
                router.send_multipart([identity, b"stop"])
            try:
                worker.wait(timeout=STEP_TIMEOUT if identity is not None else 0)
            except subprocess.TimeoutExpired:
                pass
            finally:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
                router.close()


def _with_pmpbench():
    """This environment, with pmpbench importable (the perf scripts run without the driver's PYTHONPATH)."""
    env = dict(os.environ)
    bench = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (bench, env.get("PYTHONPATH")) if p)
    return env


class _IORelay:
    """An I/O thread that owns the ROUTER, blocked in zmq_poll on it and on an inproc
    PAIR from the caller (the structure of pmp's controller)."""

    def __init__(self, context, router, identity):
        import zmq
        self.app, io_end = context.socket(zmq.PAIR), context.socket(zmq.PAIR)
        self.app.bind(f"inproc://pmpbench-io-{id(self)}")
        io_end.connect(f"inproc://pmpbench-io-{id(self)}")

        def run():
            poller = zmq.Poller()
            poller.register(io_end, zmq.POLLIN)
            poller.register(router, zmq.POLLIN)
            while True:
                for sock, _ in poller.poll():
                    if sock is io_end:
                        message = io_end.recv()
                        if message == b"stop":
                            io_end.close()
                            return
                        router.send_multipart([identity, message])
                    else:
                        io_end.send(router.recv_multipart()[1])

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def stop(self):
        self.app.send(b"stop")
        self.thread.join()
        self.app.close()


def _bind(router, transport, tmp):
    if transport == "ipc":
        endpoint = f"ipc://{tmp}/floor.sock"
        router.bind(endpoint)
        return endpoint
    port = router.bind_to_random_port("tcp://127.0.0.1")
    return f"tcp://127.0.0.1:{port}"


def _ping(send, recv):
    """One round trip: the task out, pickled; its result back, unpickled."""
    t0 = time.perf_counter()
    send(pickle.dumps((tasks.noop, (), {}), protocol=5))
    pickle.loads(recv())
    return time.perf_counter() - t0


def zmq_worker(endpoint):
    import zmq
    context = zmq.Context()
    dealer = context.socket(zmq.DEALER)
    dealer.setsockopt(zmq.RCVTIMEO, RECV_TIMEOUT_MS)
    dealer.setsockopt(zmq.LINGER, 1000)
    dealer.connect(endpoint)
    dealer.send(b"hello")
    while True:
        message = dealer.recv()
        if message == b"stop":
            break
        fn, args, kwargs = pickle.loads(message)
        dealer.send(pickle.dumps(fn(*args, **kwargs), protocol=5))
    dealer.close()
    context.term()


# ---- pyzmq + pickle workers: the floor of (7) ----

def zmq_scale(n, workers, prefetch=8, transport="ipc"):
    """n no-op tasks over `workers` plain Python DEALER processes (forked) behind one
    ROUTER, `prefetch` tasks in flight per worker, each task pickle.loads + call +
    pickle.dumps: pmp's structure with none of its code. transport: "ipc" as pmp's local
    workers connect, "tcp" as its Slurm workers do. Returns tasks/s."""
    import multiprocessing
    import zmq
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    router.setsockopt(zmq.RCVTIMEO, RECV_TIMEOUT_MS)
    router.setsockopt(zmq.LINGER, 0)
    with tempfile.TemporaryDirectory(prefix="pmpbench-scale-") as tmp:
        endpoint = _bind(router, transport, tmp)
        fork = multiprocessing.get_context("fork")
        procs = [fork.Process(target=_scale_worker, args=(endpoint, i)) for i in range(workers)]
        for p in procs:
            p.start()
        try:
            ids = [router.recv_multipart()[0] for _ in range(workers)]
            body = pickle.dumps((tasks.noop, (), {}), protocol=5)
            _scale_run(router, ids, body, workers * 20, prefetch)  # warm
            t0 = time.perf_counter()
            _scale_run(router, ids, body, n, prefetch)
            seconds = time.perf_counter() - t0
            for w in ids:
                router.send_multipart([w, b"stop", b""])
        finally:
            for p in procs:
                p.join(timeout=STEP_TIMEOUT)
                if p.is_alive():
                    p.kill()
            router.close()
            context.term()
    return {"tasks": n, "workers": workers, "prefetch": prefetch, "transport": transport, "seconds": seconds,
            "tasks_per_s": n / seconds}


def _scale_run(router, ids, body, n, prefetch):
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


def _scale_worker(endpoint, i):
    import zmq
    dealer = zmq.Context().socket(zmq.DEALER)
    dealer.setsockopt(zmq.IDENTITY, b"w%d" % i)
    dealer.setsockopt(zmq.RCVTIMEO, RECV_TIMEOUT_MS)
    dealer.connect(endpoint)
    dealer.send(b"ready")
    while True:
        tid, body = dealer.recv_multipart()
        if tid == b"stop":
            return
        fn, args, kwargs = pickle.loads(body)
        dealer.send_multipart([tid, pickle.dumps(fn(*args, **kwargs), protocol=5)])


# ---- processes and Slurm steps ----

def step_env():
    """This environment without the controller step's SLURM_*, SPANK_ and PMP_*
    variables: they would shape (or block) a new step, as pmp's backend knows."""
    return {k: v for k, v in os.environ.items()
            if not ((k.startswith("SLURM_") and k not in SLURM_KEEP) or k.startswith(("SPANK_", "_SLURM_SPANK", "PMP_")))}


def srun(*argv):
    """A one-task step on one CPU of the allocation, as pmp starts a worker step."""
    return ["srun", "--exact", "--ntasks=1", "--cpus-per-task=1", "--kill-on-bad-exit=1", *argv]


def run_to_end(argv):
    """subprocess.run(argv, check=True, timeout=STEP_TIMEOUT), but told of the end at once.
    subprocess's wait with a timeout polls, sleeping 0.5 ms, then 1, 2, 4, ... up to 50 ms
    between looks: a process that ran 20 ms was seen to end at 31.5 ms, and the floors of
    (5) and (6) read 16.0 or 32.0 ms a Python start. A pidfd wakes the wait when it ends."""
    import select
    proc = subprocess.Popen(argv, env=step_env(), stdin=subprocess.DEVNULL)
    try:
        pidfd = os.pidfd_open(proc.pid)
        try:
            if not select.select([pidfd], [], [], STEP_TIMEOUT)[0]:
                raise subprocess.TimeoutExpired(argv, STEP_TIMEOUT)
        finally:
            os.close(pidfd)
        if proc.wait():  # ended: reaped at once
            raise subprocess.CalledProcessError(proc.returncode, argv)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def launch_time(argv, reps):
    """Median seconds for one process (or srun step) to run argv to its end."""
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        run_to_end(argv)
        times.append(time.perf_counter() - t0)
    return {"argv": argv, "reps": reps, "seconds": times, "seconds_median": statistics.median(times)}


def first_of_concurrent(argv, k, reps):
    """Median seconds from starting k processes (or srun steps) of argv at once to the end
    of the first one: what starting k workers together costs the first, on this machine's
    cores (the local cluster's nodes share them)."""
    import select
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        procs = [subprocess.Popen(argv, env=step_env(), stdin=subprocess.DEVNULL) for _ in range(k)]
        pidfds = [os.pidfd_open(p.pid) for p in procs]
        try:
            ready, _, _ = select.select(pidfds, [], [], STEP_TIMEOUT)
            if not ready:
                raise TimeoutError(f"none of {k} processes of {argv} ended in {STEP_TIMEOUT} s")
            times.append(time.perf_counter() - t0)
            for p in procs:
                if p.wait(timeout=STEP_TIMEOUT):  # not timed: after the first's end
                    raise subprocess.CalledProcessError(p.returncode, argv)
        finally:
            for fd in pidfds:
                os.close(fd)
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
    return {"argv": argv, "concurrent": k, "reps": reps, "seconds": times,
            "seconds_median": statistics.median(times)}


def launch_rate(argv, n, concurrency):
    """Processes (or steps) of argv per second, `concurrency` at a time: what pmp's
    per-task mode does with as many tasks at once."""
    def one(_):
        run_to_end(argv)

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, range(n)))
    seconds = time.perf_counter() - t0
    return {"argv": argv, "tasks": n, "concurrency": concurrency, "seconds": seconds, "tasks_per_s": n / seconds}


if __name__ == "__main__" and sys.argv[1:2] == ["zmq-worker"]:
    zmq_worker(sys.argv[2])
