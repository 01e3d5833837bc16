"""What callgrind.sh runs: a warm local executor, then N no-op tasks submitted at once and
awaited (workload (1)), or N sequential round trips (rt), then shutdown.
usage: cg_run.py N WORKERS {noop|rt} [WORKER_CALLGRIND_OUT]"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pmpbench import tasks, workloads  # noqa: E402

import pmp  # noqa: E402
from pmp import _backends  # noqa: E402

n, workers, kind = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if len(sys.argv) > 4:  # the (single) worker under callgrind instead of the controller
    _backends.worker_command = lambda: ["valgrind", "--tool=callgrind", f"--callgrind-out-file={sys.argv[4]}",
                                        sys.executable, "-m", "pmp.worker"]
ex = pmp.Executor(max_workers=workers, block_allocation=True, backend="local")
list(ex.map(tasks.noop, range(200)))
if n and kind == "noop":
    workloads.noop_throughput(ex, n)
for _ in range(n if kind == "rt" else 0):
    ex.submit(tasks.noop).result()
ex.shutdown()
