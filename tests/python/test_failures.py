"""Workers that die: the task they ran fails with pmp.WorkerLost, the executor goes on."""
import concurrent.futures
import multiprocessing
import os
import signal
import sys

import pytest

import pmp
from _pmp_testing import TIMEOUT

MODES = [pytest.param(True, id="block"), pytest.param(False, id="per-task")]


def get_pid():
    return os.getpid()


def kill_self():
    os.kill(os.getpid(), signal.SIGKILL)


def exit_hard(status):
    os._exit(status)


def exit_soft(status):
    sys.exit(status)


def inc(x):
    return x + 1


def init_that_fails():
    raise RuntimeError("init failed")


def kill_rank_one():
    from mpi4py import MPI

    if MPI.COMM_WORLD.Get_rank() == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    MPI.COMM_WORLD.Barrier()
    return "unreachable"


@pytest.mark.parametrize("block_allocation", MODES)
def test_sigkill_fails_the_task_with_worker_lost_naming_the_signal(block_allocation):
    with pmp.Executor(max_workers=1, block_allocation=block_allocation, backend="local") as exe:
        before = exe.submit(get_pid).result(timeout=TIMEOUT)
        future = exe.submit(kill_self)
        with pytest.raises(pmp.WorkerLost) as info:
            future.result(timeout=TIMEOUT)
        assert "SIGKILL" in str(info.value)
        assert isinstance(info.value, RuntimeError)
        # the executor stays usable: a replacement worker runs the next tasks
        after = [exe.submit(get_pid).result(timeout=TIMEOUT) for _ in range(3)]
        assert before not in after
        if block_allocation:
            assert len(set(after)) == 1  # one new long-lived worker
        assert exe.submit(inc, 1).result(timeout=TIMEOUT) == 2


def test_tasks_queued_behind_a_killed_task_still_run():
    """Only the task that was running is lost: those submitted with it, which had not
    started, run on the replacement worker."""
    with pmp.Executor(max_workers=1, block_allocation=True, backend="local") as exe:
        killed = exe.submit(kill_self)
        behind = [exe.submit(inc, i) for i in range(5)]
        with pytest.raises(pmp.WorkerLost):
            killed.result(timeout=TIMEOUT)
        lost = [i for i, f in enumerate(behind) if f.exception(timeout=TIMEOUT) is not None]
        assert not lost, f"tasks that never started were lost with the killed one: " \
                         f"{[behind[i].exception() for i in lost]}"
        assert [f.result() for f in behind] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("block_allocation", MODES)
def test_os_exit_fails_the_task_with_worker_lost_naming_the_status(block_allocation):
    with pmp.Executor(max_workers=1, block_allocation=block_allocation, backend="local") as exe:
        future = exe.submit(exit_hard, 3)
        with pytest.raises(pmp.WorkerLost, match="status 3"):
            future.result(timeout=TIMEOUT)
        assert exe.submit(inc, 1).result(timeout=TIMEOUT) == 2


@pytest.mark.parametrize("block_allocation", MODES)
def test_sys_exit_in_a_task_is_the_futures_exception(block_allocation):
    """sys.exit() raises SystemExit, an exception like any other: the worker catches it,
    sends it back as the future's exception and lives on. ProcessPoolExecutor does the
    same (checked below), so this is the expected behaviour, not WorkerLost."""
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as reference:
        ref = reference.submit(exit_soft, 2).exception(timeout=TIMEOUT)
        assert type(ref) is SystemExit and ref.code == 2

    with pmp.Executor(max_workers=1, block_allocation=block_allocation, backend="local") as exe:
        before = exe.submit(get_pid).result(timeout=TIMEOUT)
        future = exe.submit(exit_soft, 2)
        exc = future.exception(timeout=TIMEOUT)
        assert type(exc) is SystemExit and exc.code == 2
        with pytest.raises(SystemExit):
            future.result()
        after = exe.submit(get_pid).result(timeout=TIMEOUT)
        if block_allocation:
            assert after == before  # the worker survived the task's sys.exit()
        assert exe.submit(inc, 1).result(timeout=TIMEOUT) == 2


def test_killed_mpi_rank_fails_the_task_with_worker_lost():
    with pmp.Executor(max_workers=1, cores_per_worker=2, block_allocation=True, backend="local") as exe:
        future = exe.submit(kill_rank_one)
        with pytest.raises(pmp.WorkerLost):
            future.result(timeout=TIMEOUT)
        assert exe.submit(inc, 1).result(timeout=TIMEOUT) == [2, 2]


def test_failing_init_function_fails_the_tasks_with_its_exception():
    with pmp.Executor(max_workers=1, init_function=init_that_fails, block_allocation=True,
                      backend="local") as exe:
        with pytest.raises(RuntimeError, match="init failed"):
            exe.submit(inc, 1).result(timeout=TIMEOUT)
