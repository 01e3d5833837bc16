"""pmp's own threads carry names, so that top -H, perf and /proc/PID/task tell them from
the application's: the controller's I/O thread is "pmp-io", a worker's watchdog
"pmp-watchdog" (both would inherit "python3"). The delivery thread ("pmp-deliver") starts
only when results arrive with nobody waiting for them, which a test cannot make sure of."""
import pmp

from _pmp_testing import os_threads


def test_controller_io_thread_and_worker_watchdog_are_named():
    with pmp.Executor(max_workers=1, backend="local") as ex:
        worker_threads = list(ex.submit(os_threads).result(timeout=60).values())
        assert "pmp-io" in os_threads().values()
    assert worker_threads.count("pmp-watchdog") == 1
    assert "pmp-io" not in worker_threads  # a worker runs no controller
