"""pmp.Pool keeps the multiprocessing.pool.Pool interface: every call is made on a pmp.Pool
and on a multiprocessing Pool (fork context) with the same inputs, and must give the same
results, or raise the same exception (type and arguments), and call the same callbacks."""
import contextlib
import itertools
import multiprocessing
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import time

import pytest

import pmp
from _pmp_testing import TIMEOUT, Gate, gated

FORK = multiprocessing.get_context("fork")


# ---------------------------------------------------------------- task functions

class CustomError(Exception):
    pass


def square(x):
    return x * x


def power(base, exp=2):
    return base ** exp


def add(x, y):
    return x + y


def fail_on_three(x):
    if x == 3:
        raise ValueError("three is bad")
    return x


def raise_custom(*args):
    raise CustomError(*args)


def nap(seconds):
    time.sleep(seconds)  # a slow task (not synchronisation)
    return seconds


INIT_VALUE = None


def set_init_value(*values):
    global INIT_VALUE
    INIT_VALUE = values


def get_init_value(_=None):
    return INIT_VALUE


def pid_and_init_value(_):
    return os.getpid(), INIT_VALUE


def fail_in_initializer():
    raise CustomError("initializer failed")


def rank_size(x=None):
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    return comm.Get_rank(), comm.Get_size()


def rank_and_item(x):
    from mpi4py import MPI
    return MPI.COMM_WORLD.Get_rank(), x


def broken_input():
    yield 1
    yield 2
    raise KeyError("the input failed")


# ---------------------------------------------------------------- helpers

@contextlib.contextmanager
def pools(processes=2, **kwargs):
    """(pmp pool, multiprocessing pool) with the same arguments, terminated at the end."""
    ref = FORK.Pool(processes, **kwargs)
    try:
        pool = pmp.Pool(processes, backend="local", **kwargs)
    except BaseException:
        ref.terminate()
        raise
    with ref, pool:
        yield pool, ref


def outcome(call):
    """("ok", value), or ("raised", type, args) of what call() raised."""
    try:
        return "ok", call()
    except Exception as e:
        return "raised", type(e), e.args


def same(pair, call):
    """call(pool) gives the same outcome on pmp's pool as on multiprocessing's; that outcome."""
    pool, ref = pair
    got, want = outcome(lambda: call(pool)), outcome(lambda: call(ref))
    assert got == want
    return got


def drain(iterator, limit=1000):
    """Every item of an imap iterator, exceptions included, until StopIteration."""
    out = []
    for _ in range(limit):
        try:
            out.append(("ok", next(iterator)))
        except StopIteration:
            return out
        except Exception as e:
            out.append(("raised", type(e), e.args))
    raise AssertionError("the iterator does not end")


def described(exc):
    return type(exc), exc.args


# ---------------------------------------------------------------- construction

@pytest.mark.parametrize("processes", [0, -1])
def test_processes_below_one_is_a_value_error(processes):
    for make in (FORK.Pool, lambda n: pmp.Pool(n, backend="local")):
        with pytest.raises(ValueError) as e:
            make(processes)
        assert e.value.args == ("Number of processes must be at least 1",)


def test_bad_initializer_and_maxtasksperchild():
    for make in (FORK.Pool, lambda *a: pmp.Pool(*a, backend="local")):
        with pytest.raises(TypeError) as e:
            make(1, 42)
        assert e.value.args == ("initializer must be a callable",)
        with pytest.raises(ValueError) as e:
            make(1, None, (), 0)
        assert e.value.args == ("maxtasksperchild must be a positive int or None",)


def test_pool_parameters():
    with pmp.Pool(2, backend="local") as pool:
        assert pool._processes == 2 and pool.executor.max_workers == 2 and pool.ranks_per_task == 1
        assert "state=RUN pool_size=2" in repr(pool)
        with pytest.raises(NotImplementedError):
            pickle.dumps(pool)
    with pytest.raises(TypeError, match="use processes"):
        pmp.Pool(2, backend="local", max_workers=2)
    with pytest.raises(TypeError, match="use ranks_per_task"):
        pmp.Pool(2, backend="local", cores_per_worker=2)
    with pytest.raises(ValueError, match="ranks_per_task"):
        pmp.Pool(2, backend="local", ranks_per_task=0)


# ---------------------------------------------------------------- apply

def test_apply():
    with pools() as pair:
        assert same(pair, lambda p: p.apply(square, (7,))) == ("ok", 49)
        assert same(pair, lambda p: p.apply(power, (2,), {"exp": 10})) == ("ok", 1024)
        assert same(pair, lambda p: p.apply(power, kwds={"base": 3})) == ("ok", 9)
        assert same(pair, lambda p: p.apply(fail_on_three, (3,))) == ("raised", ValueError, ("three is bad",))
        assert same(pair, lambda p: p.apply(raise_custom, (1, "two"))) == ("raised", CustomError, (1, "two"))
        assert same(pair, lambda p: p.apply(42))[1] is TypeError  # not callable: raised by get()
        assert same(pair, lambda p: p.apply(square, (threading.Lock(),)))[1] is TypeError  # cannot pickle


def test_task_exception_has_the_remote_traceback_as_cause():
    with pools() as (pool, ref):
        for p in (pool, ref):
            with pytest.raises(CustomError) as e:
                p.apply(raise_custom, ("x",))
            assert "raise_custom" in str(e.value.__cause__)


def test_apply_async_callbacks():
    with pools() as pair:
        calls = {}
        for p in pair:
            seen = calls[p] = []
            ok = p.apply_async(square, (5,), callback=lambda v, s=seen: s.append(("cb", v)),
                               error_callback=lambda e, s=seen: s.append(("err", described(e))))
            bad = p.apply_async(raise_custom, ("bad",), callback=lambda v, s=seen: s.append(("cb", v)),
                                error_callback=lambda e, s=seen: s.append(("err", described(e))))
            unpicklable = p.apply_async(square, (threading.Lock(),),
                                        error_callback=lambda e, s=seen: s.append(("err-pickle", type(e))))
            assert ok.get(TIMEOUT) == 25
            with pytest.raises(CustomError):
                bad.get(TIMEOUT)
            with pytest.raises(TypeError):
                unpicklable.get(TIMEOUT)
            # callbacks run before the result is ready: all three have run by now
            assert sorted(seen, key=repr) == sorted([("cb", 25), ("err", (CustomError, ("bad",))),
                                                     ("err-pickle", TypeError)], key=repr)
        assert sorted(calls[pair[0]], key=repr) == sorted(calls[pair[1]], key=repr)


def test_ready_successful_wait_and_get_timeout():
    with pools() as pair:
        for p in pair:
            with Gate() as gate:
                result = p.apply_async(gated, (gate.address, "done"))
                gate.wait_started()
                assert not result.ready()
                with pytest.raises(ValueError, match="not ready$"):
                    result.successful()
                assert result.wait(0.01) is None
                with pytest.raises(multiprocessing.TimeoutError):
                    result.get(timeout=0.01)
                gate.release()
                assert result.wait(TIMEOUT) is None
                assert result.ready() and result.successful()
                assert result.get(timeout=0) == "done"
            failed = p.apply_async(fail_on_three, (3,))
            failed.wait(TIMEOUT)
            assert failed.ready() and not failed.successful()


def test_get_timeout_on_a_slow_task():
    with pools() as pair:
        for p in pair:
            result = p.apply_async(nap, (0.3,))
            with pytest.raises(multiprocessing.TimeoutError):
                result.get(timeout=0.01)
            assert result.get(TIMEOUT) == 0.3


# ---------------------------------------------------------------- map and starmap

def test_map():
    with pools() as pair:
        for chunksize, n in itertools.product([None, 1, 3, 1000], [0, 1, 7, 50]):
            assert same(pair, lambda p: p.map(square, range(n), chunksize)) == ("ok", [x * x for x in range(n)])
            assert same(pair, lambda p: p.map(square, (x for x in range(n)), chunksize=chunksize))[0] == "ok"


def test_map_raises_the_task_exception():
    with pools() as pair:
        for chunksize in (None, 1, 2, 10):
            assert same(pair, lambda p: p.map(fail_on_three, range(8), chunksize)) == \
                ("raised", ValueError, ("three is bad",))


def test_map_default_chunksize_is_multiprocessing_s():
    with pools(processes=2) as (pool, ref):
        submitted = []
        submit = pool.executor.submit
        pool.executor.submit = lambda *a, **k: submitted.append(a) or submit(*a, **k)
        for n in (1, 7, 8, 9, 40, 100):
            submitted.clear()
            mine, theirs = pool.map_async(square, range(n)), ref.map_async(square, range(n))
            assert mine.get(TIMEOUT) == theirs.get(TIMEOUT)
            chunksize = -(-n // (4 * 2))  # divmod(n, 4 * processes), rounded up
            assert mine._chunksize == theirs._chunksize == chunksize
            assert [len(args[2]) for args in submitted] == [len(range(n)[i:i + chunksize])
                                                             for i in range(0, n, chunksize)]


def test_map_async_callbacks():
    with pools() as pair:
        calls = {}
        for p in pair:
            seen = calls[p] = []
            ok = p.map_async(square, range(10), 3, callback=seen.append,
                             error_callback=lambda e, s=seen: s.append(described(e)))
            bad = p.map_async(fail_on_three, range(10), 2, callback=seen.append,
                              error_callback=lambda e, s=seen: s.append(described(e)))
            empty = p.map_async(square, [], callback=lambda v, s=seen: s.append(("empty", v)))
            assert empty.ready() and empty.successful() and empty.get() == []
            assert ok.get(TIMEOUT) == [x * x for x in range(10)]
            with pytest.raises(ValueError):
                bad.get(TIMEOUT)
            assert ok.successful() and not bad.successful()
        # the whole list to callback, the exception to error_callback; none for the empty map
        expected = [[x * x for x in range(10)], (ValueError, ("three is bad",))]
        assert sorted(calls[pair[0]], key=repr) == sorted(calls[pair[1]], key=repr) == sorted(expected, key=repr)


def test_starmap_and_starmap_async():
    pairs = [(i, i + 1) for i in range(13)]
    with pools() as pair:
        assert same(pair, lambda p: p.starmap(add, pairs)) == ("ok", [x + y for x, y in pairs])
        assert same(pair, lambda p: p.starmap(power, pairs, 4))[0] == "ok"
        assert same(pair, lambda p: p.starmap(raise_custom, [("a", 1)])) == ("raised", CustomError, ("a", 1))
        seen = {}
        for p in pair:
            seen[p] = []
            result = p.starmap_async(add, pairs, 5, callback=seen[p].append)
            assert result.get(TIMEOUT) == [x + y for x, y in pairs]
        assert seen[pair[0]] == seen[pair[1]] == [[x + y for x, y in pairs]]


# ---------------------------------------------------------------- imap

def test_imap():
    with pools() as pair:
        for chunksize in (1, 3):
            assert same(pair, lambda p: list(p.imap(square, range(25), chunksize))) == \
                ("ok", [x * x for x in range(25)])
            assert same(pair, lambda p: list(p.imap(square, [], chunksize))) == ("ok", [])
            assert same(pair, lambda p: drain(p.imap(fail_on_three, range(7), chunksize)))[0] == "ok"
            assert same(pair, lambda p: drain(p.imap(square, broken_input(), chunksize)))[0] == "ok"


def test_imap_raises_in_place_and_goes_on():
    with pools() as pair:
        expected = [("ok", 0), ("ok", 1), ("ok", 2), ("raised", ValueError, ("three is bad",)), ("ok", 4)]
        assert same(pair, lambda p: drain(p.imap(fail_on_three, range(5)))) == ("ok", expected)
        assert same(pair, lambda p: drain(p.imap(square, broken_input()))) == \
            ("ok", [("ok", 1), ("ok", 4), ("raised", KeyError, ("the input failed",))])


@pytest.mark.parametrize("chunksize", [1, 4])
def test_imap_consumes_its_input_lazily(chunksize):
    # An endless input: the first results come while it is still being consumed. (One such
    # imap per pool: multiprocessing feeds every call's tasks from one thread, which the
    # endless input keeps for ever.)
    with pools() as pair:
        assert same(pair, lambda p: list(itertools.islice(p.imap(square, itertools.count(), chunksize), 10))) == \
            ("ok", [x * x for x in range(10)])


def test_imap_is_fed_as_the_workers_progress():
    consumed = []

    with pmp.Pool(2, backend="local") as pool, Gate() as gate:
        def source():  # endless
            while True:
                consumed.append(1)
                yield gate.address

        results = pool.imap(gated, source())
        gate.wait_started(2)  # both workers hold a blocked task: none completes
        assert len(consumed) <= 4 * 2 + 1  # the unfinished tasks at most, plus one waiting for room
        gate.release()
        assert [results.next(timeout=TIMEOUT) for _ in range(20)] == [None] * 20
    # terminate() (by with) ends the endless feeding


def test_imap_next_timeout():
    with pools() as pair:
        for p in pair:
            with Gate() as gate:
                results = p.imap(gated, [gate.address])
                gate.wait_started()
                with pytest.raises(multiprocessing.TimeoutError):
                    results.next(timeout=0.01)
                gate.release()
                assert results.next(timeout=TIMEOUT) is None
                with pytest.raises(StopIteration):
                    results.next(timeout=TIMEOUT)


def test_imap_unordered():
    with pools() as pair:
        for chunksize in (1, 4):
            got = same(pair, lambda p: sorted(p.imap_unordered(square, range(30), chunksize)))
            assert got == ("ok", sorted(x * x for x in range(30)))
            for p in pair:  # which results come before the exception is a race in both
                got = drain(p.imap_unordered(fail_on_three, range(6), chunksize))
                assert ("raised", ValueError, ("three is bad",)) in got
                assert {value for kind, value, *_ in got if kind == "ok"} <= {0, 1, 2, 4, 5}


def test_imap_chunksize_below_one():
    with pools() as pair:
        for chunksize, method in itertools.product([0, -2], ["imap", "imap_unordered"]):
            got = same(pair, lambda p: getattr(p, method)(square, range(3), chunksize))
            assert got[:2] == ("raised", ValueError) and got[2][0].startswith("Chunksize must be 1+, not ")


# ---------------------------------------------------------------- close, join, terminate

def every_call(p):
    return [lambda: p.apply(square, (1,)), lambda: p.apply_async(square, (1,)), lambda: p.map(square, [1]),
            lambda: p.map_async(square, [1]), lambda: p.starmap(add, [(1, 2)]),
            lambda: p.starmap_async(add, [(1, 2)]), lambda: p.imap(square, [1]),
            lambda: p.imap_unordered(square, [1]), lambda: p.__enter__()]


def test_join_before_close_is_a_value_error():
    with pools() as pair:
        assert same(pair, lambda p: p.join()) == ("raised", ValueError, ("Pool is still running",))


@pytest.mark.parametrize("end", ["close", "terminate"])
def test_no_new_work_after_close_or_terminate(end):
    with pools() as pair:
        for p in pair:
            getattr(p, end)()
            for call in every_call(p):
                assert outcome(call) == ("raised", ValueError, ("Pool not running",))
            p.join()
            p.close()
            p.terminate()
            p.join()
            assert p._state == "TERMINATE"


def test_close_lets_the_work_given_finish():
    with pools() as pair:
        for p in pair:
            seen = []
            mapped = p.map_async(nap, [0.05] * 6, 1, callback=seen.append)
            applied = p.apply_async(square, (9,), callback=seen.append)
            ordered = p.imap(square, range(20))
            unordered = p.imap_unordered(square, range(20), 3)
            p.close()
            p.join()
            assert mapped.ready() and applied.ready()  # and their callbacks have run
            assert sorted(seen, key=repr) == sorted([[0.05] * 6, 81], key=repr)
            assert list(ordered) == [x * x for x in range(20)]
            assert sorted(unordered) == sorted(x * x for x in range(20))


def test_terminate_drops_queued_work():
    with pools(processes=1) as pair:
        for p in pair:
            results = [p.apply_async(nap, (0.05,)) for _ in range(24)]
            p.terminate()
            p.join()
            assert not any(r.ready() for r in results[-8:])  # never run: pmp sends 1 + a window of 8 (a busy worker's never grows)
            with pytest.raises(multiprocessing.TimeoutError):
                results[-1].get(timeout=0)


def test_context_manager_terminates():
    pool, ref = pmp.Pool(2, backend="local"), FORK.Pool(2)
    for p in (pool, ref):
        with p as entered:
            assert entered is p
            assert p.map(square, range(5)) == [0, 1, 4, 9, 16]
        assert p._state == "TERMINATE"
        assert outcome(lambda: p.apply_async(square, (1,))) == ("raised", ValueError, ("Pool not running",))
        p.join()


# ---------------------------------------------------------------- initializer

def test_initializer_sets_a_global_seen_by_tasks():
    with pools(processes=2, initializer=set_init_value, initargs=("hello", 2)) as pair:
        assert same(pair, lambda p: p.map(get_init_value, range(6))) == ("ok", [("hello", 2)] * 6)
        assert same(pair, lambda p: p.apply(get_init_value)) == ("ok", ("hello", 2))
    with pools(processes=1, initializer=set_init_value) as pair:
        assert same(pair, lambda p: p.apply(get_init_value)) == ("ok", ())
    assert INIT_VALUE is None  # not in this process


def test_maxtasksperchild_runs_tasks_in_fresh_workers():
    with pools(processes=2, initializer=set_init_value, initargs=(7,), maxtasksperchild=1) as pair:
        results = {}
        for p in pair:
            results[p] = p.map(pid_and_init_value, range(4), 1)
            assert [value for _, value in results[p]] == [(7,)] * 4
            assert len({pid for pid, _ in results[p]}) == 4


def test_failing_initializer_fails_the_tasks():
    # multiprocessing restarts the failing workers for ever (its calls hang): pmp fails the tasks
    with pmp.Pool(1, initializer=fail_in_initializer, backend="local") as pool:
        with pytest.raises(CustomError, match="initializer failed"):
            pool.apply(square, (2,))


def test_initializer_in_main_script(tmp_path):
    """Functions of __main__ are pickled by value (cloudpickle): the global an initializer
    sets is still seen by the tasks, and what they assign stays, as with multiprocessing."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent("""\
        import multiprocessing, sys
        import pmp

        CONFIG = None
        COUNT = 0

        def init(value):
            global CONFIG
            CONFIG = value

        def task(x):
            global COUNT
            COUNT += 1
            return CONFIG + x, COUNT

        if __name__ == "__main__":
            out = []
            for make in (lambda: pmp.Pool(1, init, (100,), backend="local"),
                         lambda: multiprocessing.get_context("spawn").Pool(1, init, (100,))):
                with make() as pool:
                    out.append([pool.apply(task, (i,)) for i in range(3)])
            print(out[0] == out[1], out[0])
        """))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=TIMEOUT,
                          env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "True [(100, 1), (101, 2), (102, 3)]"


# ---------------------------------------------------------------- MPI spawn pools

def test_spawn_pool_runs_each_call_on_two_ranks():
    with pmp.Pool(1, ranks_per_task=2, backend="local") as pool:
        assert pool.ranks_per_task == 2
        assert pool.apply(rank_size) == [(0, 2), (1, 2)]
        assert pool.map(rank_size, range(3)) == [[(0, 2), (1, 2)]] * 3
        assert pool.map(rank_and_item, range(5), chunksize=2) == [[(0, x), (1, x)] for x in range(5)]
        assert list(pool.imap(rank_and_item, range(3))) == [[(0, x), (1, x)] for x in range(3)]
        assert sorted(pool.imap_unordered(rank_and_item, range(3), 2)) == [[(0, x), (1, x)] for x in range(3)]


def test_mpi_spawn_pool():
    with pytest.raises(TypeError):
        pmp.MPISpawnPool(1, backend="local")  # ranks_per_task is required
    with pmp.MPISpawnPool(1, set_init_value, ("mpi",), ranks_per_task=2, backend="local") as pool:
        assert isinstance(pool, pmp.Pool)
        assert pool.starmap(power, [(2, 3)]) == [[8, 8]]
        assert pool.apply(get_init_value) == [("mpi",), ("mpi",)]  # the initializer ran on every rank
