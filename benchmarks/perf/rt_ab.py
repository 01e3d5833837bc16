"""Round-trip p50 of two pmp builds and the pyzmq+pickle floor, each in a process of its
own, taking turns in short chunks (so that the machine's load falls on all three alike).
Prints the median of the chunks' p50s and the paired ratios.
usage: rt_ab.py BASE_PYTHON_DIR NEW_PYTHON_DIR CHUNK CHUNKS   (e.g. ... 300 20)"""
import contextlib
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))


def child(which):
    """Reads a round-trip count per line from stdin; writes that chunk's p50 (us)."""
    from pmpbench import floors, tasks
    with contextlib.ExitStack() as stack:
        if which == "floor":
            import pickle
            import zmq
            context = zmq.Context()
            stack.callback(context.term)
            router, identity = stack.enter_context(floors.ping_pong_worker(context))

            def round_trip():
                router.send_multipart([identity, pickle.dumps((tasks.noop, (), {}), protocol=5)])
                pickle.loads(router.recv_multipart()[1])
        else:
            import pmp
            ex = stack.enter_context(pmp.Executor(max_workers=1, block_allocation=True, backend="local"))

            def round_trip():
                ex.submit(tasks.noop).result()
        for line in sys.stdin:
            latencies = []
            for _ in range(int(line)):
                t0 = time.perf_counter()
                round_trip()
                latencies.append(time.perf_counter() - t0)
            print(statistics.median(latencies) * 1e6, flush=True)


if __name__ == "__main__" and sys.argv[1] == "child":
    child(sys.argv[2])
elif __name__ == "__main__":
    base, new, chunk, chunks = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    procs = {}
    for name, path in (("base", base), ("new", new), ("floor", new)):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join((path, os.path.join(HERE, ".."))))
        procs[name] = subprocess.Popen([sys.executable, os.path.abspath(__file__), "child", name], env=env,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    p50s = {name: [] for name in procs}
    for i in range(chunks + 1):
        for name, proc in procs.items():
            proc.stdin.write(f"{chunk}\n")
            proc.stdin.flush()
            value = float(proc.stdout.readline())
            if i:  # the first chunk warms up
                p50s[name].append(value)
    for proc in procs.values():
        proc.stdin.close()
        proc.wait()
    m = {name: statistics.median(v) for name, v in p50s.items()}
    paired = lambda a, b: statistics.median(x / y for x, y in zip(p50s[a], p50s[b]))  # noqa: E731
    print({k: round(v, 1) for k, v in m.items()},
          "new/floor %.3f base/floor %.3f new/base %.3f (medians of paired chunks)"
          % (paired("new", "floor"), paired("base", "floor"), paired("new", "base")))
