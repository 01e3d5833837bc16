"""Executor.wait_for_workers() never hangs: it returns at once when there are no
long-lived workers to wait for, raises BrokenExecutor when they cannot start, and returns
False once the executor is shut down."""
import concurrent.futures
import fcntl
import logging
import threading
import time

import pytest

import pmp
from pmp import _backends

JOIN_SECONDS = 60  # a waiter still blocked after this hangs


def in_thread(fn):
    """Runs fn in a thread: (the thread, a dict that gets fn's "result" or "error")."""
    out = {}

    def run():
        try:
            out["result"] = fn()
        except BaseException as e:  # noqa: B036 - handed to the test
            out["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def finished(thread):
    thread.join(JOIN_SECONDS)
    return not thread.is_alive()


def workers_run(monkeypatch, argv):
    """Local workers are argv instead of pmp's worker (started, not forked)."""
    spec_args = _backends.LocalBackend.spec_args

    def other_program(self, res, node=None):
        _, env, cwd, cores, _ = spec_args(self, res, node)
        return argv, env, cwd, cores, False

    monkeypatch.setattr(_backends.LocalBackend, "spec_args", other_program)


def test_true_once_every_worker_connected():
    with pmp.Executor(max_workers=2, block_allocation=True, backend="local") as ex:
        assert ex.wait_for_workers() is True
        assert ex.workers_ready == 2


def test_true_at_once_with_a_worker_per_task():
    # No long-lived worker ever connects: nothing to wait for (it waited forever).
    with pmp.Executor(max_workers=2, backend="local") as ex:
        thread, out = in_thread(ex.wait_for_workers)
        assert finished(thread)
        assert out == {"result": True}
        assert ex.workers_ready == 0
        assert ex.submit(sum, (1, 2)).result() == 3


def test_broken_executor_when_workers_cannot_start(monkeypatch):
    workers_run(monkeypatch, ["/nonexistent/pmp-test-worker"])
    ex = pmp.Executor(max_workers=2, block_allocation=True, backend="local")
    try:
        thread, out = in_thread(ex.wait_for_workers)
        assert finished(thread)
        error = out.get("error")
        assert isinstance(error, pmp.BrokenExecutor), out
        assert str(error).startswith("pmp: ")
        assert "fail to start" in str(error) and "/nonexistent/pmp-test-worker" in str(error)
        with pytest.raises(pmp.BrokenExecutor, match="fail to start"):
            ex.submit(sum, (1, 2))
    finally:
        ex.shutdown(wait=True)


def test_false_when_shut_down_while_waiting(monkeypatch):
    # Workers that start and never connect: only the shutdown can end the wait.
    workers_run(monkeypatch, ["/bin/sleep", "600"])
    ex = pmp.Executor(max_workers=2, block_allocation=True, backend="local")
    try:
        thread, out = in_thread(ex.wait_for_workers)
        deadline = time.monotonic() + JOIN_SECONDS
        while not ex._ready._waiters:  # the waiter is blocked in the Condition
            assert time.monotonic() < deadline, "wait_for_workers() never waited"
            time.sleep(0.001)
        ex.shutdown(wait=False)
        assert finished(thread)
        assert out == {"result": False}
        assert ex.wait_for_workers() is False  # and at once, after it
    finally:
        ex.shutdown(wait=True)


def test_one_error_not_one_a_task_when_workers_cannot_start(monkeypatch, tmp_path, caplog):
    # Workers that die, unconnected, once the test lets them (flock(1) waits for the lock
    # the test holds), so the tasks are queued before: each fails with the reason, and
    # the log says it once (it said it once more for every queued task).
    lock = tmp_path / "workers-may-die"
    caplog.set_level(logging.INFO, logger="pmp")
    held = open(lock, "w")
    fcntl.flock(held, fcntl.LOCK_EX)
    workers_run(monkeypatch, ["/usr/bin/flock", str(lock), "/bin/false"])
    ex = pmp.Executor(max_workers=2, block_allocation=True, backend="local")
    try:
        futures = [ex.submit(sum, (i, 1)) for i in range(20)]
        held.close()  # the workers may die now
        done, not_done = concurrent.futures.wait(futures, timeout=JOIN_SECONDS)
        assert not not_done
        for future in futures:
            assert isinstance(future.exception(), pmp.BrokenExecutor)
            assert "fail to start" in str(future.exception())
        errors = [r for r in caplog.records if r.name.startswith("pmp") and r.levelno >= logging.ERROR]
        assert [r.getMessage() for r in errors] == [str(futures[0].exception())[len("pmp: "):]]
        told = [r for r in caplog.records if r.name == "pmp.executor" and "fails:" in r.getMessage()]
        assert len(told) == 20 and all(r.levelno == logging.INFO for r in told)  # still there, for -v
    finally:
        held.close()
        ex.shutdown(wait=True)
