"""Futures as arguments: pmp waits for them and passes their results, wherever they are in
the arguments (lists, tuples, dicts, nested), and fails a task whose input failed."""
import collections
import concurrent.futures
import gc
import weakref

import pytest

import pmp
from _pmp_testing import TIMEOUT, Gate, gated
from pmp._deps import find_futures

MODES = [pytest.param(True, id="block"), pytest.param(False, id="per-task")]

Point = collections.namedtuple("Point", "x y")


class Payload:
    def __init__(self, value):
        self.value = value


class UpstreamError(Exception):
    pass


def inc(x):
    return x + 1


def add(x, y):
    return x + y


def echo(*args, **kwargs):
    return args, kwargs


def fail(message):
    raise UpstreamError(message)


def payload_value(_, payload):
    return Payload(payload.value)


def executor(block_allocation=True, max_workers=2):
    return pmp.Executor(max_workers=max_workers, block_allocation=block_allocation, backend="local")


@pytest.mark.parametrize("block_allocation", MODES)
def test_futures_in_nested_containers_are_replaced_by_results(block_allocation):
    with executor(block_allocation) as exe:
        a, b, c, d, e = (exe.submit(inc, i) for i in range(5))  # 1 .. 5
        future = exe.submit(echo, [a, (b, {"c": c, "list": [d, (e,)]})], Point(a, 7),
                            key={"nested": [a, {"deeper": (b, c)}]}, plain=e)
        args, kwargs = future.result(timeout=TIMEOUT)
    assert args == ([1, (2, {"c": 3, "list": [4, (5,)]})], Point(1, 7))
    assert type(args[1]) is Point
    assert kwargs == {"key": {"nested": [1, {"deeper": (2, 3)}]}, "plain": 5}


def test_the_same_future_twice_and_a_future_as_dict_key():
    with executor() as exe:
        a = exe.submit(inc, 1)
        args, _ = exe.submit(echo, a, [a, a], {a: "value"}).result(timeout=TIMEOUT)
    assert args == (2, [2, 2], {2: "value"})


def test_waits_for_a_future_set_later():
    """Any concurrent.futures.Future counts, not only pmp's: the task waits for it."""
    upstream = concurrent.futures.Future()
    with executor() as exe:
        future = exe.submit(inc, upstream)
        assert not future.done()
        upstream.set_result(41)
        assert future.result(timeout=TIMEOUT) == 42


@pytest.mark.parametrize("block_allocation", MODES)
def test_chain_of_twenty_dependent_tasks(block_allocation):
    with executor(block_allocation) as exe:
        future = exe.submit(inc, 0)
        chain = [future]
        for _ in range(19):
            future = exe.submit(inc, future)
            chain.append(future)
        assert future.result(timeout=TIMEOUT) == 20
        assert [f.result() for f in chain] == list(range(1, 21))


def test_diamond_dependencies():
    with executor() as exe:
        top = exe.submit(inc, 1)  # 2
        left = exe.submit(add, top, 10)  # 12
        right = exe.submit(add, top, 100)  # 102
        bottom = exe.submit(add, left, right)  # 114
        assert bottom.result(timeout=TIMEOUT) == 114

        fan = [exe.submit(add, top, i) for i in range(10)]
        joined = exe.submit(sum, fan)
        assert joined.result(timeout=TIMEOUT) == sum(2 + i for i in range(10))


@pytest.mark.parametrize("block_allocation", MODES)
def test_upstream_exception_fails_the_dependent_with_that_exception(block_allocation):
    with executor(block_allocation) as exe:
        upstream = exe.submit(fail, "upstream broke")
        dependent = exe.submit(inc, upstream)
        further = exe.submit(inc, dependent)
        with pytest.raises(UpstreamError, match="upstream broke"):
            dependent.result(timeout=TIMEOUT)
        with pytest.raises(UpstreamError, match="upstream broke"):
            further.result(timeout=TIMEOUT)
        assert exe.submit(inc, 1).result(timeout=TIMEOUT) == 2


def test_one_failed_input_of_several_fails_the_dependent():
    with executor() as exe:
        good = exe.submit(inc, 1)
        bad = exe.submit(fail, "one of two")
        with pytest.raises(UpstreamError, match="one of two"):
            exe.submit(add, good, bad).result(timeout=TIMEOUT)


def test_cancelled_upstream_cancels_the_dependent():
    with executor(max_workers=1) as exe, Gate() as gate:
        blocker = exe.submit(gated, gate.address, 1)
        upstream = exe.submit(inc, blocker)  # waits for blocker: cancellable
        dependent = exe.submit(inc, upstream)
        assert upstream.cancel() is True
        with pytest.raises(concurrent.futures.CancelledError):
            dependent.result(timeout=TIMEOUT)
        gate.release()
        assert blocker.result(timeout=TIMEOUT) == 1
        with pytest.raises(concurrent.futures.CancelledError):
            upstream.result()


def test_cancelled_queued_upstream_cancels_the_dependent():
    with executor(max_workers=1) as exe, Gate() as gate:
        blocker = exe.submit(gated, gate.address, 1)
        gate.wait_started(1)
        queued = [exe.submit(inc, i) for i in range(16)]  # the last is not on a worker yet
        dependent = exe.submit(inc, queued[-1])
        assert queued[-1].cancel() is True
        with pytest.raises(concurrent.futures.CancelledError):
            dependent.result(timeout=TIMEOUT)
        gate.release()
        assert blocker.result(timeout=TIMEOUT) == 1
        assert [f.result(timeout=TIMEOUT) for f in queued[:-1]] == list(range(1, 16))


def test_dependent_can_be_cancelled_while_it_waits():
    upstream = concurrent.futures.Future()
    with executor() as exe:
        dependent = exe.submit(inc, upstream)
        assert dependent.cancel() is True
        upstream.set_result(1)
        assert dependent.cancelled()
        done, not_done = concurrent.futures.wait([dependent], timeout=TIMEOUT)
        assert done == {dependent}


def test_no_stale_references_through_a_long_lived_upstream_future():
    """An upstream future the user keeps must not keep the dependents' arguments, futures
    and results alive once the dependents are done and dropped."""
    upstream = concurrent.futures.Future()
    with executor() as exe:
        argument = Payload(5)
        argument_ref = weakref.ref(argument)
        dependent = exe.submit(payload_value, upstream, argument)
        upstream.set_result(None)
        result = dependent.result(timeout=TIMEOUT)
        assert result.value == 5
        dependent_ref, result_ref = weakref.ref(dependent), weakref.ref(result)
        del argument, dependent, result
        gc.collect()
        assert upstream.done()  # still referenced here
        assert argument_ref() is None, "the upstream future keeps the dependent's argument alive"
        assert dependent_ref() is None, "the upstream future keeps the dependent future alive"
        assert result_ref() is None, "the upstream future keeps the dependent's result alive"


def test_shutdown_waits_for_dependents():
    upstream = concurrent.futures.Future()
    exe = executor()
    dependent = exe.submit(inc, upstream)
    exe.shutdown(wait=False)
    upstream.set_result(1)
    assert dependent.result(timeout=TIMEOUT) == 2
    exe.shutdown(wait=True)


class ListOf(list):
    pass


class FutureOf(concurrent.futures.Future):
    pass


def done_future(value):
    future = concurrent.futures.Future()
    future.set_result(value)
    return future


def test_futures_are_found_in_every_container_kind_once_in_the_order_first_met():
    a, b, c, d, e, f = (done_future(i) for i in range(6))
    g = FutureOf()
    ordered = collections.OrderedDict([("x", c), ("y", d)])
    ordered.move_to_end("x")  # items() gives d first, the dict under it c first
    obj = [(1, "s", b), {a: [b]}, {e}, frozenset([f]), ListOf([g]), ordered, Point(a, 2.0), None]
    assert find_futures(obj) == [b, a, e, f, g, d, c]
    assert find_futures((1, 2.5, "s", b"b", None, True, 3j)) == []
    assert find_futures(a) == [a]


def test_an_argument_that_holds_itself_is_sent_whole():
    looped = [1, 2]
    looped.append(looped)
    assert find_futures(looped) == []
    with executor() as exe:
        assert exe.submit(len, looped).result(timeout=TIMEOUT) == 3
        upstream = exe.submit(inc, 1)
        shared = [0]
        args = {"f": upstream, "twice": [shared, shared]}
        args["self"] = args
        (got,), _ = exe.submit(echo, args).result(timeout=TIMEOUT)
    assert got["f"] == 2 and got["self"] is got
    assert got["twice"][0] is got["twice"][1], "one list in two places stays one list"


def test_arguments_nested_deeper_than_the_recursion_limit_fail_the_submit_only():
    deep = []
    for _ in range(100_000):
        deep = [deep]
    with executor() as exe:
        with pytest.raises(RecursionError):
            exe.submit(len, deep)
        assert exe.submit(inc, 1).result(timeout=TIMEOUT) == 2


class ClearsWhenAsked:
    """Its __class__ (which isinstance reads) empties the list that holds it."""

    def __init__(self, box):
        self.box = box

    @property
    def __class__(self):
        self.box.clear()
        return ClearsWhenAsked


def test_the_walk_survives_an_argument_that_changes_its_container():
    box = []
    box.extend([ClearsWhenAsked(box), done_future(1), ClearsWhenAsked(box)])
    assert find_futures(box) == []  # the list was emptied before the future was met
    assert box == []
