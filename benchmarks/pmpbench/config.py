"""Sizes of the workloads (the issue's, and --quick ones) and the targets of issue 7."""

# The sizes. --quick scales them so that a whole run stays under 3 minutes on
# this 2-core machine (dask alone manages ~300 no-op tasks/s here).
FULL = {
    "noop_tasks": 20_000,
    "roundtrips": 2_000,
    "paired_chunk": 200,  # (2) in turns with its floor: round trips a chunk
    "paired_chunks": 10,
    "map_items": 100_000,
    "map_chunksize": 1_000,
    "array_mbytes": 256,
    "array_reps": 3,
    "startup_workers": 4,
    "startup_reps": 5,
    "pertask_tasks": 100,
    "scale_workers": (2, 16, 64, 128),
    "scale_tasks": 20_000,
    "scale_pairs": 5,  # (7)'s target: pools of 2 and of 128 in turns, pairs a round
    "memory_tasks": 1_000_000,
    "floor_roundtrips": 5_000,
    "floor_steps": 5,
}

QUICK = dict(
    FULL,
    noop_tasks=2_000,
    roundtrips=300,
    paired_chunk=100,
    paired_chunks=4,
    array_mbytes=64,
    array_reps=2,
    startup_reps=2,
    pertask_tasks=16,
    scale_tasks=2_000,
    scale_pairs=2,
    memory_tasks=100_000,
    floor_roundtrips=1_000,
    floor_steps=3,
)

# Seconds a session may take before the driver kills its process group; the first for
# --quick, the second for the full sizes. Generous: they only stop a hang. The start (5)
# takes 5 executors of 4 workers (pmp's Slurm backend: ~2 s in all), and it is the
# session that hangs: MPIPoolExecutor's MPI_Comm_spawn now and then never returns under
# Debian 12's Open MPI 4.1 with its external PMIx 4.2 (a spawned server waits in
# PMIx_Init, the parent in PMIx_Lookup; openpmix/openpmix#2735), and 300 s of waiting
# for it cost each hang 5 minutes of the run.
TIMEOUTS = {
    "peer": (150, 900),
    "startup": (60, 120),
    "scale": (120, 600),
    "pertask": (120, 900),
    "memory": (120, 900),
    "floor": (60, 300),
}

PEERS = ("pmp", "process", "mpi", "dask")

LABELS = {
    "pmp": "pmp",
    "process": "ProcessPoolExecutor",
    "mpi": "MPIPoolExecutor",
    "dask": "dask.distributed",
    "process-per-task": "ProcessPoolExecutor(max_tasks_per_child=1)",
}


def sizes(quick):
    return dict(QUICK if quick else FULL)


def timeout(kind, quick, factor=1.0):
    return TIMEOUTS[kind][0 if quick else 1] * factor
