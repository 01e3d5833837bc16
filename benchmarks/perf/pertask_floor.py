"""Per-task mode one task at a time, beside its floor: chunks of CHUNK tasks of pmp
(max_workers=1, a fresh worker per task), of pmp with label_output=False (no output
helper per worker), of pmp running a function of __main__ (which cloudpickle pickles by
value: the worker needs cloudpickle to load it), of pmp with PMP_FORK=0 (each worker
started, not forked) and of `python3 -c "import pmp.worker"` processes (told of each end
on a pidfd), ROUNDS rounds taken in turns. Prints the median time a task and its ratio
to the floor: what pmp's per-task worker costs beyond the imports any worker pays.
usage: pertask_floor.py CHUNK ROUNDS   (PYTHONPATH: the pmp package, e.g. build/python)"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pmpbench import floors, tasks  # noqa: E402


def floor(chunk):
    t0 = time.perf_counter()
    for _ in range(chunk):
        floors.run_to_end([sys.executable, "-c", "import pmp.worker"])
    return (time.perf_counter() - t0) / chunk


def main_noop():
    """A no-op of __main__, pickled by value."""


def per_task(chunk, fn=tasks.noop, fork="1", **options):
    import pmp
    os.environ["PMP_FORK"] = fork
    with pmp.Executor(max_workers=1, backend="local", **options) as ex:
        ex.submit(fn).result()
        t0 = time.perf_counter()
        for _ in range(chunk):
            ex.submit(fn).result()
        return (time.perf_counter() - t0) / chunk


def main(chunk, rounds):
    kinds = {"floor: processes of import pmp.worker": lambda: floor(chunk),
             "pmp, a worker per task": lambda: per_task(chunk),
             "pmp, label_output=False": lambda: per_task(chunk, label_output=False),
             "pmp, a function of __main__": lambda: per_task(chunk, fn=main_noop),
             "pmp, PMP_FORK=0": lambda: per_task(chunk, fork="0")}
    seconds = {name: [] for name in kinds}
    for i in range(rounds):
        for name in (list(kinds) if i % 2 == 0 else list(kinds)[::-1]):
            seconds[name].append(kinds[name]())
    base = statistics.median(seconds["floor: processes of import pmp.worker"])
    for name, values in seconds.items():
        print(f"{name:38} {statistics.median(values) * 1e3:6.1f} ms a task  {statistics.median(values) / base:.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
