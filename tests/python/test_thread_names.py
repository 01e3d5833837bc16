"""pmp's own threads carry names, so that top -H, perf and /proc/PID/task tell them from
the application's: the controller's I/O thread is "pmp-io", a worker's watchdog
"pmp-watchdog" (both would inherit "python3"). The delivery thread ("pmp-deliver") starts
only when results arrive with nobody waiting for them, which a test cannot make sure of."""
import os

import pmp


def thread_names(_=None):
    names = []
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                names.append(f.read().strip())
        except FileNotFoundError:  # a thread that ended meanwhile
            pass
    return names


def test_controller_io_thread_and_worker_watchdog_are_named():
    with pmp.Executor(max_workers=1, backend="local") as ex:
        worker_threads = ex.submit(thread_names).result(timeout=60)
        assert "pmp-io" in thread_names()
    assert worker_threads.count("pmp-watchdog") == 1
    assert "pmp-io" not in worker_threads  # a worker runs no controller
