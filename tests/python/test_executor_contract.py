"""pmp.Executor keeps the concurrent.futures.Executor contract as ProcessPoolExecutor keeps it.

Most tests run on three executors: pmp with block allocation (long-lived workers), pmp with
a worker per task (pmp's default), and ProcessPoolExecutor itself, which shows that what
the test expects is the standard library's behaviour."""
import concurrent.futures
import gc
import itertools
import multiprocessing
import os
import pickle
import threading
import time
import weakref

import numpy as np
import pytest

import pmp
from _pmp_testing import (TIMEOUT, Gate, child_processes, close_inherited_gates, gated, identity, os_threads,
                          pmp_worker_children)

PMP_KINDS = ["pmp-block", "pmp-per-task"]
ALL_KINDS = PMP_KINDS + ["ProcessPoolExecutor"]

#: How long to wait for futures that should be done already (they are in the reference).
SHORT = 5

#: Tasks queued behind a running one in the cancel tests: the last of them is still
#: queued (not yet handed to a worker) in every executor, which hand over at most a few
#: tasks ahead (ProcessPoolExecutor: max_workers + 1; pmp: a worker's window, 8 tasks until
#: the worker has sat idle while tasks were queued, which a worker held by a gate never has).
QUEUED = 16


def make_executor(kind, max_workers=1):
    if kind == "ProcessPoolExecutor":
        return concurrent.futures.ProcessPoolExecutor(max_workers, mp_context=multiprocessing.get_context("fork"),
                                                      initializer=close_inherited_gates)
    return pmp.Executor(max_workers=max_workers, block_allocation=kind == "pmp-block", backend="local")


# ---------------------------------------------------------------- task functions

class Payload:
    def __init__(self, value):
        self.value = value


class CustomError(Exception):
    pass


def square(x):
    return x * x


def add(x, y):
    return x + y


def square_late_for_small(x):
    time.sleep(0.002 * (9 - x % 10))  # earlier items finish later: order comes from map, not timing
    return x * x


def fail_on_three(x):
    if x == 3:
        raise ValueError("three is bad")
    return x


def raise_value_error(message):
    raise ValueError(message)


def raise_custom_error(*args):
    raise CustomError(*args)


def doubled_payload(payload):
    return Payload(payload.value * 2)


def return_lock():
    return threading.Lock()


def touch(path):
    with open(path, "w"):
        pass
    return path


def double(array):
    return array * 2


# ---------------------------------------------------------------- submit

@pytest.mark.parametrize("kind", ALL_KINDS)
def test_submit_returns_a_concurrent_future(kind):
    with make_executor(kind) as exe:
        future = exe.submit(square, 7)
        assert isinstance(future, concurrent.futures.Future)
        assert future.result(timeout=TIMEOUT) == 49
        assert future.done() and not future.cancelled() and not future.running()
        assert future.exception() is None


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("max_workers", [0, -1])
def test_max_workers_must_be_greater_than_zero(kind, max_workers):
    with pytest.raises(ValueError, match="^max_workers must be greater than 0$"):
        make_executor(kind, max_workers=max_workers)


# ---------------------------------------------------------------- map

@pytest.mark.parametrize("kind", ALL_KINDS)
def test_map_returns_results_in_order(kind):
    with make_executor(kind, max_workers=2) as exe:
        assert list(exe.map(square_late_for_small, range(12), timeout=TIMEOUT)) == [x * x for x in range(12)]
        assert list(exe.map(add, range(5), range(10, 100))) == [x + y for x, y in zip(range(5), range(10, 100))]
        assert list(exe.map(square, [])) == []


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_map_raises_a_task_exception_at_iteration(kind):
    with make_executor(kind) as exe:
        results = exe.map(fail_on_three, range(6))  # no exception here
        assert [next(results), next(results), next(results)] == [0, 1, 2]
        with pytest.raises(ValueError, match="three is bad"):
            next(results)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_map_timeout_raises_at_iteration(kind):
    with make_executor(kind) as exe, Gate() as gate:
        results = exe.map(gated, [gate.address], timeout=0.2)  # returns although the task blocks
        with pytest.raises(concurrent.futures.TimeoutError):
            next(results)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_map_chunksize_gives_the_same_results(kind):
    xs, ys = range(20), range(3, 23)
    expected = list(map(add, xs, ys))
    with make_executor(kind, max_workers=2) as exe:
        assert list(exe.map(add, xs, ys, chunksize=1)) == expected
        assert list(exe.map(add, xs, ys, chunksize=7)) == expected
        assert list(exe.map(add, xs, itertools.repeat(3), chunksize=100)) == [x + 3 for x in xs]
        assert list(exe.map(add, xs, ys, chunksize=100)) == expected


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_map_chunksize_raises_a_task_exception_at_iteration(kind):
    with make_executor(kind) as exe:
        results = exe.map(fail_on_three, range(8), chunksize=3)
        assert [next(results), next(results), next(results)] == [0, 1, 2]
        with pytest.raises(ValueError, match="three is bad"):
            next(results)


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("chunksize", [0, -1])
def test_map_chunksize_below_one_is_a_value_error(kind, chunksize):
    with make_executor(kind) as exe:
        with pytest.raises(ValueError):
            exe.map(square, range(3), chunksize=chunksize)


# ---------------------------------------------------------------- wait and as_completed

@pytest.mark.parametrize("kind", ALL_KINDS)
def test_wait_and_as_completed(kind):
    with make_executor(kind, max_workers=2) as exe:
        fs = [exe.submit(square, i) for i in range(10)]
        done, not_done = concurrent.futures.wait(fs, timeout=TIMEOUT)
        assert done == set(fs) and not not_done
        completed = list(concurrent.futures.as_completed(fs, timeout=TIMEOUT))
        assert len(completed) == 10 and set(completed) == set(fs)

        more = [exe.submit(square, i) for i in range(10)]
        assert sorted(f.result() for f in concurrent.futures.as_completed(more, timeout=TIMEOUT)) == \
            sorted(i * i for i in range(10))


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_wait_first_completed(kind):
    with make_executor(kind) as exe, Gate() as gate:
        fast = exe.submit(square, 3)
        slow = exe.submit(gated, gate.address, "slow")  # cannot finish before the release
        done, not_done = concurrent.futures.wait([slow, fast], timeout=TIMEOUT,
                                                 return_when=concurrent.futures.FIRST_COMPLETED)
        assert done == {fast} and not_done == {slow}
        gate.release()
        assert slow.result(timeout=TIMEOUT) == "slow"


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_wait_first_exception(kind):
    with make_executor(kind) as exe, Gate() as gate:
        failing = exe.submit(raise_value_error, "first")
        slow = exe.submit(gated, gate.address, "slow")
        done, not_done = concurrent.futures.wait([slow, failing], timeout=TIMEOUT,
                                                 return_when=concurrent.futures.FIRST_EXCEPTION)
        assert done == {failing} and not_done == {slow}
        gate.release()


# ---------------------------------------------------------------- shutdown

@pytest.mark.parametrize("cores_per_worker", [1, 2])
@pytest.mark.parametrize("kind", PMP_KINDS)
def test_shutdown_wait_leaves_no_thread_and_no_process(kind, cores_per_worker):
    """Compared as sets (what is new after shutdown), not counts: a thread of an earlier
    test may still be ending, at the kernel's pace, while this one runs."""
    gc.collect()  # executors of earlier tests: their resources go now, not during the test
    threads, tids, children = set(threading.enumerate()), set(os_threads()), set(child_processes())

    exe = pmp.Executor(max_workers=2, cores_per_worker=cores_per_worker, block_allocation=kind == "pmp-block",
                       backend="local")
    per_rank = (lambda v: v) if cores_per_worker == 1 else (lambda v: [v] * cores_per_worker)
    assert list(exe.map(square, range(4))) == [per_rank(x * x) for x in range(4)]
    exe.shutdown(wait=True)  # returns, and nothing of the executor is left running

    assert set(threading.enumerate()) - threads == set(), "Python threads left after shutdown(wait=True)"
    assert {pid: argv for pid, argv in child_processes().items() if pid not in children} == {}, \
        "child processes left after shutdown(wait=True)"
    assert {tid: name for tid, name in os_threads().items() if tid not in tids} == {}, \
        "OS threads left after shutdown(wait=True) while the executor object is alive"
    del exe


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_submit_after_shutdown_raises_runtime_error(kind):
    exe = make_executor(kind)
    assert exe.submit(square, 2).result(timeout=TIMEOUT) == 4
    exe.shutdown(wait=True)
    with pytest.raises(RuntimeError):
        exe.submit(square, 2)
    exe.shutdown(wait=True)  # again: harmless

    other = make_executor(kind)
    other.shutdown(wait=False)
    with pytest.raises(RuntimeError):
        other.submit(square, 2)
    other.shutdown(wait=True)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_with_block_shuts_down(kind):
    children = set(pmp_worker_children())
    with make_executor(kind) as exe:
        future = exe.submit(os.getpid)
    assert future.done()
    assert future.result() != os.getpid()
    with pytest.raises(RuntimeError):
        exe.submit(square, 2)
    assert set(pmp_worker_children()) <= children


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_shutdown_cancel_futures(kind):
    with make_executor(kind) as exe, Gate() as gate:
        running = exe.submit(gated, gate.address, "ran")
        gate.wait_started(1)
        queued = [exe.submit(square, i) for i in range(QUEUED)]
        exe.shutdown(wait=False, cancel_futures=True)
        gate.release()
        assert running.result(timeout=TIMEOUT) == "ran"  # the running one completes
        exe.shutdown(wait=True)
        assert not running.cancelled()
        assert queued[-1].cancelled()  # queued tasks are cancelled
        for i, future in enumerate(queued):
            if kind == "ProcessPoolExecutor" and not future.done():
                # CPython drops a task already in its call queue at such a shutdown, and
                # leaves its future "running" forever: pmp finishes it (checked below).
                continue
            assert future.done(), "after shutdown(wait=True) every future is done"
            assert future.cancelled() or future.result() == i * i
        with pytest.raises(concurrent.futures.CancelledError):
            queued[-1].result()


# ---------------------------------------------------------------- cancel and running

@pytest.mark.parametrize("kind", ALL_KINDS)
def test_cancel_queued_running_and_finished(kind, tmp_path):
    with make_executor(kind) as exe, Gate() as gate:
        running = exe.submit(gated, gate.address, "ran")
        gate.wait_started(1)
        queued = [exe.submit(touch, str(tmp_path / str(i))) for i in range(QUEUED)]
        last = queued[-1]
        assert last.cancel() is True  # still queued
        assert last.cancelled() and last.done()
        assert last.cancel() is True  # cancelling a cancelled future: True again
        assert running.cancel() is False  # running
        gate.release()
        assert running.result(timeout=TIMEOUT) == "ran"
        assert running.cancel() is False  # finished
        assert not running.cancelled()
        for future in queued[:-1]:
            assert future.result(timeout=TIMEOUT)
        with pytest.raises(concurrent.futures.CancelledError):
            last.result()
    assert (tmp_path / "0").exists()
    assert not (tmp_path / str(QUEUED - 1)).exists(), "a cancelled task ran"


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_running_future_reports_running(kind):
    with make_executor(kind) as exe, Gate() as gate:
        future = exe.submit(gated, gate.address, "ran")
        gate.wait_started(1)
        assert future.running(), "a task that is executing: Future.running() must be True"
        assert not future.done()
        gate.release()
        assert future.result(timeout=TIMEOUT) == "ran"
        assert not future.running()


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_cancelled_future_counts_as_done_for_wait_and_as_completed(kind):
    with make_executor(kind) as exe, Gate() as gate:
        running = exe.submit(gated, gate.address, "ran")
        gate.wait_started(1)
        queued = [exe.submit(square, i) for i in range(QUEUED)]
        assert queued[-1].cancel() is True
        gate.release()
        for future in queued[:-1]:
            future.result(timeout=TIMEOUT)
        done, not_done = concurrent.futures.wait([running] + queued, timeout=SHORT)
        assert not not_done, f"wait() does not count cancelled futures as done: {not_done}"
        assert len(list(concurrent.futures.as_completed(queued, timeout=SHORT))) == len(queued)


# ---------------------------------------------------------------- references and callbacks

@pytest.mark.parametrize("kind", ALL_KINDS)
def test_no_stale_references_to_arguments_and_results(kind):
    with make_executor(kind) as exe:
        argument = Payload(21)
        argument_ref = weakref.ref(argument)
        future = exe.submit(doubled_payload, argument)
        result = future.result(timeout=TIMEOUT)
        assert result.value == 42
        result_ref = weakref.ref(result)
        del argument, result, future
        gc.collect()
        assert argument_ref() is None, "the executor keeps a task's argument alive"
        assert result_ref() is None, "the executor keeps a task's result alive"

        failing = exe.submit(raise_custom_error, "dropped")
        exception_ref = weakref.ref(failing.exception(timeout=TIMEOUT))
        del failing
        gc.collect()
        assert exception_ref() is None, "the executor keeps a task's exception alive"


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_done_callbacks_are_called(kind):
    calls = []
    called = threading.Event()

    def callback(future):
        calls.append(future)
        if len(calls) == 2:
            called.set()

    with make_executor(kind) as exe:
        ok = exe.submit(square, 4)
        ok.add_done_callback(callback)
        failing = exe.submit(raise_value_error, "callback")
        failing.add_done_callback(callback)
        assert called.wait(TIMEOUT)
        assert sorted(calls, key=id) == sorted([ok, failing], key=id)
        assert ok.result() == 16 and isinstance(failing.exception(), ValueError)

        late = []
        ok.add_done_callback(late.append)  # on a done future: called at once, in this thread
        assert late == [ok]


# ---------------------------------------------------------------- exceptions

@pytest.mark.parametrize("kind", ALL_KINDS)
def test_remote_exception_keeps_type_message_and_traceback(kind):
    with make_executor(kind) as exe:
        future = exe.submit(raise_value_error, "bad value 42")
        with pytest.raises(ValueError, match="^bad value 42$"):
            future.result(timeout=TIMEOUT)
        exc = future.exception()
        assert type(exc) is ValueError and exc.args == ("bad value 42",)
        assert exc.__cause__ is not None, "the remote traceback is the exception's __cause__"
        remote = str(exc.__cause__)
        assert "Traceback (most recent call last)" in remote
        assert "raise_value_error" in remote  # the frame on the worker
        assert "ValueError: bad value 42" in remote


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_exception_class_of_the_test_module(kind):
    with make_executor(kind) as exe:
        future = exe.submit(raise_custom_error, "custom", 7)
        with pytest.raises(CustomError) as info:
            future.result(timeout=TIMEOUT)
        assert type(info.value) is CustomError
        assert info.value.args == ("custom", 7)
        assert "raise_custom_error" in str(info.value.__cause__)


@pytest.mark.parametrize("kind", PMP_KINDS)
def test_unpicklable_argument_makes_submit_raise(kind):
    with make_executor(kind) as exe:
        with pytest.raises((TypeError, pickle.PicklingError), match="pickle"):
            exe.submit(identity, threading.Lock())
        assert exe.submit(square, 3).result(timeout=TIMEOUT) == 9  # still usable


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_unpicklable_result_fails_the_future(kind):
    with make_executor(kind) as exe:
        future = exe.submit(return_lock)
        exc = future.exception(timeout=TIMEOUT)
        assert exc is not None
        assert "pickle" in str(exc), f"the error should say the result cannot be pickled: {exc!r}"
        assert exe.submit(square, 3).result(timeout=TIMEOUT) == 9  # still usable


# ---------------------------------------------------------------- data and volume

@pytest.mark.parametrize("kind", ALL_KINDS)
def test_large_numpy_array_round_trips(kind):
    array = np.random.default_rng(0).random(10 * 2**20 // 8)  # 10 MB of float64
    with make_executor(kind) as exe:
        back = exe.submit(identity, array).result(timeout=TIMEOUT)
        assert back.dtype == array.dtype and back.shape == array.shape
        assert np.array_equal(back, array)
        assert np.array_equal(exe.submit(double, array).result(timeout=TIMEOUT), array * 2)
        strided = array[::3]  # not contiguous: pickled in band
        assert np.array_equal(exe.submit(identity, strided).result(timeout=TIMEOUT), strided)
        fortran = np.asfortranarray(array[: 1024 * 1024].reshape(1024, 1024))
        assert np.array_equal(exe.submit(identity, fortran).result(timeout=TIMEOUT), fortran)


@pytest.mark.parametrize("kind, n", [("pmp-block", 5000), ("ProcessPoolExecutor", 5000), ("pmp-per-task", 100)])
def test_many_small_tasks_all_complete(kind, n):
    """A worker per task starts a process per task: fewer tasks for that mode."""
    with make_executor(kind, max_workers=2) as exe:
        futures = [exe.submit(identity, i) for i in range(n)]
        done, not_done = concurrent.futures.wait(futures, timeout=TIMEOUT)
        assert not not_done
        failed = [(i, f.exception()) for i, f in enumerate(futures) if f.exception() is not None]
        assert not failed, f"{len(failed)} of {n} tasks failed, e.g. {failed[:3]}"
        assert [f.result() for f in futures] == list(range(n))
