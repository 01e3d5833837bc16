"""One benchmark session, in a process of its own: `python -m pmpbench.child SPEC_JSON`.

A fresh process per session keeps the executors apart (MPI can be initialised once per
process, RSS is measured from a clean start) and lets the driver kill a hung session's
whole process group. Each result is printed as soon as it exists, one line each
(RESULT_PREFIX + JSON), so a session killed half-way keeps what it measured."""
import functools
import json
import os
import statistics
import sys
import time
import traceback

from . import floors, peers, workloads

RESULT_PREFIX = "@@pmpbench "


def emit(workload, peer, metrics=None, error=None, **extra):
    record = {"workload": workload, "peer": peer, **extra}
    if error is not None:
        record["error"] = error
    else:
        record["metrics"] = metrics
    print(RESULT_PREFIX + json.dumps(record), flush=True)


def measure(workload, peer, fn, *args, **kwargs):
    """Runs one measurement and emits its result or its error. A timeout means the
    executor is stuck: report it and leave at once, since a clean shutdown would hang
    too (the driver kills what is left of the process group)."""
    try:
        metrics = fn(*args, **kwargs)
    except Exception as e:
        emit(workload, peer, error=f"{type(e).__name__}: {e}")
        traceback.print_exc()
        if isinstance(e, TimeoutError):
            sys.stdout.flush()
            os._exit(3)
        return None
    emit(workload, peer, metrics)
    return metrics


def run_peer(spec):
    """(1)-(4) on one executor, kept open across them; latency first, on a quiet pool."""
    s, peer = spec["sizes"], spec["peer"]
    try:
        with peers.open_executor(peer, spec["workers"], spec["backend"]) as ex:
            measure("roundtrip", peer, workloads.round_trip, ex, s["roundtrips"])
            if peer == "pmp":  # the target's ratio: taken in turns with its floor
                measure("roundtrip-paired", peer, floors.paired_round_trip, ex,
                        "tcp" if spec["backend"] == "slurm" else "ipc", s["paired_chunk"], s["paired_chunks"])
            measure("noop", peer, workloads.noop_throughput, ex, s["noop_tasks"])
            measure("map", peer, workloads.map_throughput, ex, s["map_items"], s["map_chunksize"],
                    native_chunks=peer != "dask")
            measure("array", peer, workloads.large_array, ex, s["array_mbytes"], s["array_reps"])
    except Exception as e:
        emit("open", peer, error=f"{type(e).__name__}: {e}")
        traceback.print_exc()


def run_startup(spec):
    """(5): a new executor per repetition, not warmed up."""
    opener = functools.partial(peers.open_executor, spec["peer"], spec["workers"], spec["backend"], ready=False)
    measure("startup", spec["peer"], workloads.first_result, opener, spec["sizes"]["startup_reps"])


def run_scale(spec):
    """(7): throughput of a pool of spec["workers"], once all of them are up."""
    peer, n = spec["peer"], spec["workers"]

    def scaled():
        t0 = time.perf_counter()
        with peers.open_executor(peer, n, spec["backend"]) as ex:
            ready_s = time.perf_counter() - t0
            return dict(workloads.noop_throughput(ex, spec["sizes"]["scale_tasks"]), workers=n, ready_s=ready_s)

    measure("scale", peer, scaled)


def run_scale_paired(spec):
    """(7)'s target in turns: fresh pools of the fewest and of the most workers, each
    measured as run_scale measures it, one after the other, pair by pair (the order
    alternating, so that neither always goes first); the ratio is the median of the
    pairs' ratios. Sessions seconds apart see this machine at different speeds: the
    2-worker sessions of the full run at bc926b6 read 139,159-189,518 tasks/s, those of
    runs of (7) two days later 110,054-122,267."""
    s = spec["sizes"]
    few, many = s["scale_workers"][0], s["scale_workers"][-1]

    def in_turns():
        rates, ratios = {few: [], many: []}, []
        for i in range(s["scale_pairs"]):
            for n in (few, many) if i % 2 == 0 else (many, few):
                with peers.open_executor("pmp", n, spec["backend"]) as ex:
                    rates[n].append(workloads.noop_throughput(ex, s["scale_tasks"])["tasks_per_s"])
            ratios.append(rates[many][-1] / rates[few][-1])
        return {"few": few, "many": many, "few_tasks_per_s": statistics.median(rates[few]),
                "many_tasks_per_s": statistics.median(rates[many]), "ratio": statistics.median(ratios),
                "ratios": [round(r, 3) for r in ratios]}

    measure("scale-paired", "pmp", in_turns)


def run_pertask(spec):
    """(6): a fresh worker per task, beside the raw launch rate at the same concurrency:
    `srun true` steps inside Slurm, `python -c pass` processes on this machine."""
    s, k, backend = spec["sizes"], spec["workers"], spec["backend"]
    floor_argv = floors.srun("true") if backend == "slurm" else [sys.executable, "-c", "pass"]
    measure("pertask", "floor-launch", floors.launch_rate, floor_argv, s["pertask_tasks"], k)
    # The floor of any design that starts Python per task: what a worker imports, no pmp work.
    python_argv = [sys.executable, "-c", "import pmp.worker"]
    if backend == "slurm":
        python_argv = floors.srun(*python_argv)
    measure("pertask", "floor-launch-python", floors.launch_rate, python_argv, s["pertask_tasks"], k)

    def per_task(peer, **options):
        with peers.open_executor(peer, k, backend, ready=False, **options) as ex:
            return dict(workloads.noop_throughput(ex, s["pertask_tasks"]), concurrency=k)

    measure("pertask", "pmp", per_task, "pmp", block_allocation=False)
    measure("pertask", "process-per-task", per_task, "process", per_task=True)


def run_memory(spec):
    """(8): one worker, held busy, and n tasks queued behind it."""
    peer = spec["peer"]
    pickled = _pmp_pickled_bytes() if peer == "pmp" else None

    def queued():
        with peers.open_executor(peer, 1, spec["backend"]) as ex:
            return workloads.queued_memory(ex, spec["sizes"]["memory_tasks"], pickled)

    measure("memory", peer, queued)


def _pmp_pickled_bytes():
    """What pmp pickles for one no-op task: the frames it hands to its runtime."""
    from pmp import _serialize
    from . import tasks
    return sum(len(frame) for frame in _serialize.dumps((tasks.noop, (), {})))


def run_floor_zmq(spec):
    for transport in ("ipc", "tcp"):
        measure("roundtrip", f"floor-zmq-{transport}", floors.zmq_round_trip, transport,
                spec["sizes"]["floor_roundtrips"])
        measure("roundtrip", f"floor-zmq-io-{transport}", floors.zmq_round_trip, transport,
                spec["sizes"]["floor_roundtrips"], io_thread=True)


def run_floor_scale(spec):
    """The floor of (7): plain pyzmq+pickle worker processes, no pmp code, over the
    transport pmp's workers use on this backend."""
    s = spec["sizes"]
    transport = "tcp" if spec["backend"] == "slurm" else "ipc"
    for n in s["scale_workers"]:
        measure("scale", "floor-zmq", floors.zmq_scale, s["scale_tasks"], n, transport=transport)


def run_floor_import(spec):
    """The floor of (5): one process (one srun step in Slurm) that imports pmp."""
    argv = [sys.executable, "-c", "import pmp"]
    if spec["backend"] == "slurm":
        argv = floors.srun(*argv)
    measure("startup", "floor-import", floors.launch_time, argv, spec["sizes"]["floor_steps"])
    # What any worker of pmp's runtime imports before it can connect: pmp._core, which
    # loads libzmq and the libraries it links.
    worker_argv = [sys.executable, "-c", "import pmp.worker"]
    if spec["backend"] == "slurm":
        worker_argv = floors.srun(*worker_argv)
    measure("startup", "floor-import-worker", floors.launch_time, worker_argv, spec["sizes"]["floor_steps"])
    if spec["backend"] == "slurm":
        # pmp's Slurm backend starts all its worker steps at once (the local backend, no
        # more than this machine's cores): the first of them, beside the others
        measure("startup", "floor-import-concurrent", floors.first_of_concurrent, argv,
                spec["sizes"]["startup_workers"], spec["sizes"]["floor_steps"])


KINDS = {"peer": run_peer, "startup": run_startup, "scale": run_scale, "scale-paired": run_scale_paired,
         "pertask": run_pertask,
         "memory": run_memory, "floor-zmq": run_floor_zmq, "floor-import": run_floor_import,
         "floor-scale": run_floor_scale}


def main():
    spec = json.loads(sys.argv[1])
    KINDS[spec["kind"]](spec)


if __name__ == "__main__":  # the guard matters: MPI and dask workers import __main__
    main()
