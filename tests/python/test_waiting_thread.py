"""Future.result() and exception() run the controller's I/O on the waiting thread (no hand-off
to and from the I/O thread): the result arrives there, a timeout or Ctrl-C still ends the
wait, other threads still get theirs, and results nobody waits for still arrive."""
import concurrent.futures
import signal
import threading
import time

import pytest

import pmp


def fail_later(message):
    time.sleep(0.3)  # the waiter runs the I/O by then
    raise ValueError(message)


@pytest.fixture
def ex():
    with pmp.Executor(max_workers=2, block_allocation=True, backend="local") as executor:
        yield executor


def delivered_on(future):
    """The thread that settles future (its done-callbacks run there)."""
    seen = {}
    done = threading.Event()

    def record(_):
        seen["thread"] = threading.get_ident()
        done.set()

    future.add_done_callback(record)
    return seen, done


def test_result_arrives_on_the_waiting_thread(ex):
    future = ex.submit(time.sleep, 0.5)
    seen, _ = delivered_on(future)
    assert future.result() is None
    assert seen["thread"] == threading.get_ident()


def test_exception_arrives_on_the_waiting_thread_with_its_traceback(ex):
    future = ex.submit(fail_later, "boom")
    seen, _ = delivered_on(future)
    exc = future.exception(timeout=30)
    assert seen["thread"] == threading.get_ident()
    assert isinstance(exc, ValueError) and str(exc) == "boom"
    assert "fail_later" in str(exc.__cause__)
    with pytest.raises(ValueError, match="boom"):
        future.result()


def test_a_result_nobody_waits_for_still_arrives(ex):
    assert ex.submit(pow, 2, 3).result() == 8  # the I/O is lent to this thread now
    future = ex.submit(time.sleep, 0.3)
    seen, done = delivered_on(future)
    assert done.wait(30)  # threading.Event: this thread does not run the I/O
    assert seen["thread"] != threading.get_ident()


def test_timeout_ends_the_wait_not_the_task(ex):
    future = ex.submit(time.sleep, 1.5)
    t0 = time.monotonic()
    with pytest.raises(concurrent.futures.TimeoutError):
        future.result(timeout=0.2)
    assert time.monotonic() - t0 < 1.2
    assert not future.done()
    assert future.result(timeout=30) is None


@pytest.fixture
def ctrl_c_raises():
    """Ctrl-C raises KeyboardInterrupt, as in any interactive Python, also when the tests
    run where SIGINT is ignored (a background job of a script, nohup): Python then leaves
    it ignored, and the signal would never reach the wait."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_ctrl_c_ends_the_wait_and_the_executor_stays_usable(ex, ctrl_c_raises):
    future = ex.submit(time.sleep, 2)
    main = threading.get_ident()
    timer = threading.Timer(0.3, signal.pthread_kill, (main, signal.SIGINT))
    t0 = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            future.result()
    finally:
        timer.join()
    assert time.monotonic() - t0 < 1.8
    assert ex.submit(pow, 2, 5).result(timeout=30) == 32
    assert future.result(timeout=30) is None


def test_threads_waiting_at_once_each_get_their_result(ex):
    results = {}

    def run(k):
        for i in range(20):
            results[(k, i)] = ex.submit(pow, k, i).result(timeout=60)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2, 6)]
    for t in threads:
        t.start()
    slow = ex.submit(time.sleep, 0.3)
    assert slow.result(timeout=60) is None
    for t in threads:
        t.join(60)
    assert results == {(k, i): k ** i for k in range(2, 6) for i in range(20)}


@pytest.fixture
def long_lend(monkeypatch):
    """Executors whose result() keeps the I/O for 600 s after it returns (the default is
    1 ms, growing to 16 ms): a result nobody waits for in result() arrives within the tests'
    time only if waiting for it some other way takes the I/O back at once."""
    from pmp import _core
    controller = _core.Controller
    monkeypatch.setattr(_core, "Controller", lambda *a, **k: controller(*a, **dict(k, io_lend_us=600_000_000)))


def test_wait_and_as_completed_take_the_io_back(long_lend):
    with pmp.Executor(max_workers=2, block_allocation=True, backend="local") as ex:
        assert ex.submit(pow, 2, 3).result(timeout=30) == 8  # the I/O is lent to this thread now
        future = ex.submit(pow, 3, 2)
        done, _ = concurrent.futures.wait([future], timeout=30)
        assert done == {future} and future.result() == 9
        assert ex.submit(pow, 2, 4).result(timeout=30) == 16  # lent again
        future = ex.submit(pow, 4, 2)
        assert [f.result() for f in concurrent.futures.as_completed([future], timeout=30)] == [16]


def test_pool_results_take_the_io_back(long_lend):
    with pmp.Pool(2, backend="local") as pool:
        slow = pool.apply_async(time.sleep, (0.5,))  # its callback is set now, before the lend
        assert pool.executor.submit(pow, 2, 2).result(timeout=30) == 4  # lent while slow runs
        assert slow.get(timeout=30) is None
        assert pool.executor.submit(pow, 2, 3).result(timeout=30) == 8
        assert list(pool.imap(abs, [-1, -2], chunksize=1)) == [1, 2]
