"""A worker ends without the interpreter's teardown (pmp.worker._exit), but with what the
end of a program owes the tasks' code: their non-daemon threads finish, their atexit
functions run, C's stdio buffers are written, and MPI is finalized. Checked for per-task
and long-lived workers, once the executor's shutdown(wait=True) has returned, which waits
for the worker processes to end."""
import pytest

from _pmp_testing import run_controller

MODES = {"per-task": "block_allocation=False", "long-lived": "block_allocation=True"}

LEFTOVERS = """
    import atexit, ctypes, os, sys, threading, time
    import pmp

    def leave_work(directory):
        def late():
            # Work that outlasts the task, not a synchronisation: the worker must wait
            # for it however long it takes. (Released instead through a FIFO by the
            # controller once it has the result, the thread often ended before the worker
            # did, and the test passed without the join.)
            time.sleep(0.3)
            with open(os.path.join(directory, "thread"), "w") as f:
                f.write("done")

        def at_exit():
            with open(os.path.join(directory, "atexit"), "w") as f:
                f.write("done")

        threading.Thread(target=late).start()
        atexit.register(at_exit)
        ctypes.CDLL(None).printf(b"buffered in C")  # no newline, stdout a pipe: held by C's stdio
        return os.getpid()
"""


@pytest.mark.parametrize("mode", MODES)
def test_a_tasks_leftover_work_is_done_when_its_worker_ends(tmp_path, mode):
    proc = run_controller(tmp_path, LEFTOVERS + f"""
    with pmp.Executor(max_workers=1, {MODES[mode]}, backend="local", label_output=False) as exe:
        pid = exe.submit(leave_work, {str(tmp_path)!r}).result()
    assert not os.path.exists(f"/proc/{{pid}}"), "shutdown(wait=True) returned before the worker ended"
    """, env={"PYTHONUNBUFFERED": ""})  # set, it would leave C's stdio unbuffered too
    assert (tmp_path / "thread").read_text() == "done"  # a non-daemon thread was joined
    assert (tmp_path / "atexit").read_text() == "done"
    assert "buffered in C" in proc.stdout
    assert "WARNING" not in proc.stderr, proc.stderr  # the worker ended with exit code 0


def test_an_mpi_worker_still_finalizes_mpi(tmp_path):
    """mpi4py finalizes MPI in a Py_AtExit function, which only the interpreter's
    teardown calls: without it mpiexec reports its ranks as "exiting improperly"."""
    proc = run_controller(tmp_path, """
    import pmp

    def rank():
        from mpi4py import MPI
        return MPI.COMM_WORLD.Get_rank()

    with pmp.Executor(max_workers=1, cores_per_worker=2, block_allocation=True, backend="local") as exe:
        assert exe.submit(rank).result() == [0, 1]
    """)
    assert "improperly" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
