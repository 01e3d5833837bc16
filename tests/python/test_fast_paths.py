"""The hot path's shortcuts keep their contracts: plain pickle only where it writes what
cloudpickle writes, and pmp's Future (no Condition until one is needed) behaves as
concurrent.futures.Future does."""
import concurrent.futures
import functools
import math
import os
import pickle
import subprocess
import sys
import threading
import types

import cloudpickle
import pytest

import pmp
from _pmp_testing import TIMEOUT
from pmp import _core, _serialize
from pmp._future import SETTLE, Future


def library_function(x):
    return x + 1


def test_plain_task_pickles_as_cloudpickle_does():
    task = (library_function, (1, 2.5, "s", b"b", None, True, (1, [2, {"k": 3}])), {"key": "value"})
    frames = _serialize.dumps(task)
    assert frames == [cloudpickle.dumps(task, protocol=5)]
    assert _serialize.loads(frames) == task
    assert _serialize.dumps((math.sqrt, (4.0,), {})) == [cloudpickle.dumps((math.sqrt, (4.0,), {}), protocol=5)]


def test_functions_pickled_by_value_still_go_through_cloudpickle():
    def local(x):
        return x * 2

    main = eval("lambda x: x")  # noqa: S307 - a function of no importable module
    main.__module__ = "__main__"
    for fn in (local, main, lambda x: x):
        frames = _serialize.dumps((fn, (1,), {}))
        assert frames == [cloudpickle.dumps((fn, (1,), {}), protocol=5)]
        loaded, args, _ = _serialize.loads(frames)
        assert loaded(*args) == fn(1)
    with pytest.raises(Exception):
        pickle.dumps(local)


def test_objects_go_through_cloudpickle():
    class Local:
        pass

    for obj in ({"k": Local}, Local(), bytearray(b"x"), [1] * 100 + [Local()]):
        frames = _serialize.dumps(obj)
        assert len(frames) == 1 and type(_serialize.loads(frames)) is type(obj)


def test_large_and_nested_containers_pickle_as_cloudpickle_does():
    """However long: a map's chunk of arguments, its list of results, dicts with tuple
    keys; and a function by value anywhere in them, or below the depth that the plain
    check looks at, still goes through cloudpickle."""
    def local(x):
        return x * 2

    chunk = (library_function, (tuple((i,) for i in range(1000)),), {})
    nested = [1]
    for _ in range(40):
        nested = [nested, 2.5]
    plain = [chunk, list(range(1000)), {(1, "a"): [b"x"] * 100, "k": {"n": None}}, nested, 3 + (1 << 80)]
    by_value = [[1] * 100 + [local], {(1, 2): {"deep": [[local]]}}, [[[local]]] + [nested]]
    for i in range(40):  # below the plain check's depth
        by_value.append([local] if i == 0 else [by_value[-1]])
    looped = [1]
    looped.append(looped)  # past the depth too: pickle's memo writes it
    for obj in plain + by_value + [looped]:
        frames = _serialize.dumps(obj)
        assert frames == [cloudpickle.dumps(obj, protocol=5)]
    assert _serialize.loads(_serialize.dumps(by_value[0]))[-1](2) == 4


def test_a_settled_future_made_no_condition():
    f = Future()
    assert f.set_running_or_notify_cancel()
    f.set_result(42)
    assert f.done() and not f.running() and f.result() == 42 and f.exception() is None
    g = Future()
    g.set_running_or_notify_cancel()
    g.set_result(1)
    assert g._pmp_cond is None and g.result() == 1 and g.done() and g._pmp_cond is None


def test_fast_settled_future_raises_its_exception_and_refuses_a_second_result():
    f = Future()
    f.set_running_or_notify_cancel()
    f.set_exception(ValueError("boom"))
    with pytest.raises(ValueError, match="boom"):
        f.result()
    assert isinstance(f.exception(), ValueError)
    with pytest.raises(concurrent.futures.InvalidStateError):
        f.set_result(1)


def test_done_callbacks_run_once_before_and_after_settling():
    calls = []
    f = Future()
    f.add_done_callback(lambda fut: calls.append(("before", fut.result())))
    f.set_running_or_notify_cancel()
    f.set_result(7)
    f.add_done_callback(lambda fut: calls.append(("after", fut.result())))
    assert calls == [("before", 7), ("after", 7)]


def test_a_thread_waiting_on_result_is_woken():
    f = Future()
    got, started = [], threading.Event()

    def wait():
        started.set()
        got.append(f.result(timeout=30))

    t = threading.Thread(target=wait)
    t.start()
    started.wait()
    f.set_running_or_notify_cancel()
    f.set_result("done")
    t.join(30)
    assert got == ["done"]


@pytest.mark.parametrize("settle_first", [True, False])
def test_wait_and_as_completed_see_fast_settled_futures(settle_first):
    futures = [Future() for _ in range(4)]

    def settle():
        for i, f in enumerate(futures):
            f.set_running_or_notify_cancel()
            f.set_result(i)

    if settle_first:
        settle()
        done, pending = concurrent.futures.wait(futures, timeout=30)
    else:
        t = threading.Timer(0.05, settle)
        t.start()
        done, pending = concurrent.futures.wait(futures, timeout=30)
        t.join()
    assert not pending and sorted(f.result() for f in done) == [0, 1, 2, 3]
    assert sorted(f.result() for f in concurrent.futures.as_completed(futures, timeout=30)) == [0, 1, 2, 3]


def test_cancel_before_running():
    f = Future()
    assert f.cancel() and f.cancelled() and f.done()
    assert not f.set_running_or_notify_cancel()
    with pytest.raises(concurrent.futures.CancelledError):
        f.result()


class _FakeExecutor:
    def __init__(self, queued):
        self.queued, self.asked = queued, []

    def _cancel(self, task):
        self.asked.append(task)
        return self.queued

    def _reclaim_io(self):
        pass


@pytest.mark.parametrize("queued", [True, False])
def test_cancel_of_a_sent_task_asks_the_executor(queued):
    calls = []
    f = Future()
    f._pmp_executor, f._pmp_task = _FakeExecutor(queued), 7
    if not queued:
        f.add_done_callback(calls.append)
    assert f.cancel() is queued
    assert f._pmp_executor is None if queued else f._pmp_executor.asked[0] == 7
    if queued:
        assert f.cancelled() and f.done() and not f.running()
        with pytest.raises(RuntimeError):  # told already, as concurrent.futures' executors do
            f.set_running_or_notify_cancel()
        with pytest.raises(concurrent.futures.CancelledError):
            f.result()
        done, pending = concurrent.futures.wait([f], timeout=0)
        assert done == {f} and not pending
    else:
        assert not f.cancelled() and not f.done() and calls == []


def test_fast_cancel_runs_callbacks_once():
    f = Future()
    f._pmp_executor, f._pmp_task = _FakeExecutor(True), 1
    g = Future()
    calls = []
    g.add_done_callback(calls.append)  # made g's Condition: the general path
    g._pmp_executor, g._pmp_task = _FakeExecutor(True), 2
    assert f.cancel() and g.cancel() and g.cancelled()
    assert calls == [g]
    assert f.cancel()  # again: still cancelled


# ---- pmp._core.settle: the executor's delivery of plain results, in C

def _event(kind, task, status=None, message=None):
    return (kind, task, 0, _core.OK if status is None else status, message, "")


def _settle(events, futures):
    return _core.settle(events, futures, SETTLE, pickle.loads)


def test_settle_finishes_unwatched_futures_and_returns_the_other_events():
    done, failed, gone = Future(), Future(), Future()
    futures = {1: done, 2: failed, 3: gone}
    failed_event = _event(_core.EVENT_RESULT, 2, _core.ERROR, b"traceback")
    ready = _event(_core.EVENT_WORKER_READY, 0)
    left = _settle([_event(_core.EVENT_RESULT, 1, message=pickle.dumps([1, 2])), failed_event, ready,
                    _event(_core.EVENT_RESULT, 9, message=pickle.dumps(0))], futures)
    assert left == [failed_event, ready]  # in order; task 9's future is gone: dropped, as in Python
    assert done.done() and done.result() == [1, 2] and done._pmp_cond is None
    assert futures == {2: failed, 3: gone} and not failed.done()


def test_settle_gives_a_result_that_does_not_unpickle_as_the_futures_exception():
    f = Future()
    futures = {5: f}
    assert _settle([_event(_core.EVENT_RESULT, 5, message=b"not a pickle")], futures) == []
    assert isinstance(f.exception(), pickle.UnpicklingError) and futures == {}


def test_settle_tells_the_waiters_and_callbacks_of_a_watched_future():
    f = Future()
    called = []
    f.add_done_callback(lambda fut: called.append(fut.result()))  # makes its Condition
    waiter = threading.Thread(target=lambda: called.append(("waited", f.result(timeout=30))))
    waiter.start()
    assert _settle([_event(_core.EVENT_RESULT, 1, message=pickle.dumps("x"))], {1: f}) == []
    waiter.join(30)
    assert sorted(map(str, called)) == ["('waited', 'x')", "x"]


def test_settle_leaves_cancelled_and_foreign_futures_alone():
    cancelled, foreign = Future(), concurrent.futures.Future()
    assert cancelled.cancel()
    foreign_event = _event(_core.EVENT_RESULT, 2, message=pickle.dumps(2))
    futures = {1: cancelled, 2: foreign}
    assert _settle([_event(_core.EVENT_RESULT, 1, message=pickle.dumps(1)), foreign_event], futures) == \
        [foreign_event]
    assert cancelled.cancelled() and futures == {2: foreign} and not foreign.done()


def test_classes_of_modules_pickle_plainly_and_local_ones_through_cloudpickle():
    class Local:
        pass

    assert _serialize.dumps((int, ("7",), {})) == [cloudpickle.dumps((int, ("7",), {}), protocol=5)]
    assert _serialize.dumps(concurrent.futures.Future) == [cloudpickle.dumps(concurrent.futures.Future, protocol=5)]
    frames = _serialize.dumps(Local)
    assert frames == [cloudpickle.dumps(Local, protocol=5)]
    assert _serialize.loads(frames).__name__ == "Local"


def test_a_function_of_a_dynamic_module_pickles_as_cloudpickle_does():
    """A module made at run time (no file, no import spec): whatever cloudpickle makes of
    its functions (by reference while the module is in sys.modules, in cloudpickle 2),
    pmp writes the same bytes."""
    module = types.ModuleType("pmp_test_dynamic_module")
    exec("def double(x):\n    return 2 * x\n", module.__dict__)
    sys.modules[module.__name__] = module
    try:
        frames = _serialize.dumps((module.double, (3,), {}))
        assert frames == [cloudpickle.dumps((module.double, (3,), {}), protocol=5)]
        fn, args, _ = _serialize.loads(frames)
        assert fn(*args) == 6
    finally:
        del sys.modules[module.__name__]


def test_a_module_registered_by_value_goes_through_cloudpickle():
    module = sys.modules[__name__]
    plain = _serialize.dumps((library_function, (1,), {}))
    assert plain == [pickle.dumps((library_function, (1,), {}), protocol=5)]  # cached as by reference
    cloudpickle.register_pickle_by_value(module)
    try:
        frames = _serialize.dumps((library_function, (1,), {}))
        assert frames == [cloudpickle.dumps((library_function, (1,), {}), protocol=5)]
        assert frames != plain
    finally:
        cloudpickle.unregister_pickle_by_value(module)
    assert _serialize.dumps((library_function, (1,), {})) == plain


def test_a_worker_starts_without_the_controllers_imports():
    """Every worker start (one per task in per-task mode) pays for its imports: the worker
    and its output labeller leave logging, cloudpickle, inspect, socket, ctypes and
    concurrent.futures (and the executor) until a task needs them."""
    heavy = ("logging", "cloudpickle", "inspect", "socket", "ctypes", "concurrent.futures", "pmp.executor", "re")
    code = ("import sys, pmp.worker, pmp._output, pmp._serialize as s\n"
            "s.loads(s.dumps((abs, (-1,), {}))); s.dumps(None)\n"
            "s.loads(s.dumps((abs, (tuple((i,) for i in range(1000)),), {}))); s.dumps(list(range(1000)))\n"
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    env.pop("PMP_LOG_LEVEL", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_map_and_pool_tasks_do_not_import_the_executor_into_workers():
    """Executor.map's chunks and Pool's tasks run pmp's wrappers, pickled by reference:
    a worker imports their module (pmp._calls) for them, not pmp.executor or pmp.pool
    and what those import (16 ms and more, at each worker's first map)."""
    heavy = ("pmp.executor", "pmp.pool", "concurrent.futures", "multiprocessing", "logging", "threading")
    probe = f"sorted(m for m in {heavy!r} if m in __import__('sys').modules)"
    with pmp.Executor(max_workers=1, block_allocation=True, backend="local") as exe:
        assert list(exe.map(abs, range(-30, 0), chunksize=10)) == list(range(30, 0, -1))
        assert exe.submit(eval, probe, {}).result(timeout=TIMEOUT) == []
    with pmp.Pool(1) as pool:
        assert pool.map(abs, range(-30, 0), chunksize=10) == list(range(30, 0, -1))
        assert pool.apply(abs, (-1,)) == 1
        assert pool.apply(eval, (probe, {})) == []


def test_a_task_carries_its_functions_pickle_once_pickled_and_once_unpickled():
    """dumps_task: a function pickled by reference goes as a head frame the controller
    pickles once; loads_task unpickles a head once, then takes it from its cache."""
    frames = _serialize.dumps_task(library_function, (1,), {"k": 2})
    assert frames[0] == pickle.dumps(library_function, protocol=5)
    assert frames[1:] == _serialize.dumps(((1,), {"k": 2}))
    assert _serialize.dumps_task(library_function, (5,), {})[0] is frames[0]
    assert _serialize.loads_task(frames) == (library_function, (1,), {"k": 2})
    key = bytes(frames[0])
    _serialize._functions[key] = math.sqrt  # what the cache holds is what the task calls
    try:
        assert _serialize.loads_task(frames)[0] is math.sqrt
    finally:
        del _serialize._functions[key]
    assert _serialize.loads_task(_serialize.dumps_task(math.sqrt, (4.0,), {}))[0] is math.sqrt


def test_a_task_of_any_other_function_carries_it_whole():
    twice = lambda x: 2 * x  # noqa: E731
    for fn in (twice, functools.partial(returns)):
        frames = _serialize.dumps_task(fn, (3,), {})
        assert frames[0] == b"" and frames[1:] == _serialize.dumps((fn, (3,), {}))
        loaded, args, kwargs = _serialize.loads_task(frames)
        assert loaded(*args, **kwargs) == fn(3)


def test_a_module_registered_by_value_sends_no_head():
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        assert _serialize.dumps_task(library_function, (1,), {})[0] == b""
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert _serialize.dumps_task(library_function, (1,), {})[0] == pickle.dumps(library_function, protocol=5)


def test_the_function_caches_start_afresh_when_full(monkeypatch):
    monkeypatch.setattr(_serialize, "_CACHE_MAX", 2)
    monkeypatch.setattr(_serialize, "_heads", {})
    monkeypatch.setattr(_serialize, "_functions", {})
    for fn in (math.sqrt, math.floor, math.ceil, library_function):
        _serialize.loads_task(_serialize.dumps_task(fn, (1.5,), {}))
        assert 1 <= len(_serialize._heads) <= 2 and 1 <= len(_serialize._functions) <= 2
    assert list(_serialize._heads) == [math.ceil, library_function]


class Unpicklable:
    def __reduce__(self):
        raise TypeError("no pickling this")


def raises_value_error(text):
    raise ValueError(text)


def returns(value):
    return value


def unpicklable():
    return Unpicklable()


def bytes_of(size):
    return b"x" * size


def test_every_outcome_of_a_task_run_in_c(tmp_path):
    """A serial worker runs a function pickled by reference in C (pybind/_core/fast_task.c),
    and leaves every other outcome to Python's _answer: each must read as before."""
    with pmp.Executor(max_workers=1, block_allocation=True, backend="local", max_message_size=10_000) as exe:
        assert exe.submit(library_function, 41).result(timeout=TIMEOUT) == 42
        assert exe.submit(returns, value={"k": [1, 2.5]}).result(timeout=TIMEOUT) == {"k": [1, 2.5]}
        assert exe.submit(math.sqrt, 16.0).result(timeout=TIMEOUT) == 4.0
        assert exe.submit(returns, {1, 2}).result(timeout=TIMEOUT) == {1, 2}  # not plain: cloudpickle
        assert exe.submit(returns, Unpicklable).result(timeout=TIMEOUT) is Unpicklable  # a class, by reference
        with pytest.raises(ValueError, match="^bad value$") as caught:
            exe.submit(raises_value_error, "bad value").result(timeout=TIMEOUT)
        remote = str(caught.value.__cause__)
        assert "in raises_value_error" in remote and "raise ValueError(text)" in remote
        with pytest.raises(TypeError, match="unexpected keyword argument"):
            exe.submit(library_function, y=1).result(timeout=TIMEOUT)
        with pytest.raises(ValueError, match="the task's result pickles to .* more than max_message_size=10000"):
            exe.submit(bytes_of, 20_000).result(timeout=TIMEOUT)
        with pytest.raises(TypeError, match="no pickling this") as caught:
            exe.submit(unpicklable).result(timeout=TIMEOUT)
        assert "pmp: the task's result cannot be pickled" in str(caught.value.__cause__)
        assert exe.submit(library_function, 1).result(timeout=TIMEOUT) == 2  # and the worker goes on
