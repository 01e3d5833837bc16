"""A task's kind (pmp._kind): the calls of one function share one, so that the controller
learns how long that function's tasks run; other functions, and each of pmp's wrappers of
a function (map's chunks, Pool's calls and chunks), have their own; a callable that cannot
be hashed has none."""
import functools

import cloudpickle

from pmp import _kind
from pmp._calls import call as _call, call_chunk as _call_chunk, run_chunk as _run_chunk


def square(x):
    return x * x


def cube(x):
    return x * x * x


class Model:
    def predict(self, x):
        return x


class Unhashable:
    __eq__ = object.__eq__
    __hash__ = None

    def __call__(self, x):
        return x


def test_calls_of_one_function_share_a_kind():
    kind = _kind.of(square, (1,))
    assert kind != 0
    assert 0 < kind < 2**32
    assert _kind.of(square, (2,)) == kind
    assert _kind.of(cube, (1,)) != kind


def test_a_function_made_anew_or_unpickled_keeps_its_kind():
    made = [eval("lambda x: x + 1") for _ in range(2)]  # noqa: S307 - two function objects
    assert made[0] is not made[1]
    assert _kind.of(made[0], ()) == _kind.of(made[1], ())
    unpickled = cloudpickle.loads(cloudpickle.dumps(made[0]))
    assert _kind.of(unpickled, ()) == _kind.of(made[0], ())
    other = eval("\nlambda x: x - 1")  # noqa: S307 - on another line: another kind
    assert _kind.of(other, ()) != _kind.of(made[0], ())


def test_partials_and_methods_are_of_their_function():
    assert _kind.of(functools.partial(square, 3), ()) == _kind.of(square, ())
    assert _kind.of(functools.partial(functools.partial(square), 3), ()) == _kind.of(square, ())
    a, b = Model(), Model()
    assert _kind.of(a.predict, (1,)) == _kind.of(b.predict, (1,)) == _kind.of(Model.predict, ())


def test_map_chunks_are_a_kind_of_their_own():
    chunk = _kind.of(_run_chunk, (square, ((1,), (2,))))
    assert chunk not in (0, _kind.of(square, ()), _kind.of(_run_chunk, ()))
    assert _kind.of(_run_chunk, (square, ((3,),))) == chunk
    assert _kind.of(_run_chunk, (cube, ((1,), (2,)))) != chunk


def test_each_wrapper_of_a_function_is_a_kind_of_its_own():
    """Pool.apply's one call and Pool.map's chunk of the same function run for very
    different times: they must not share a kind."""
    call = _kind.of(_call, (square, (1,), {}))
    pool_chunk = _kind.of(_call_chunk, (square, [1, 2, 3], False))
    map_chunk = _kind.of(_run_chunk, (square, ((1,),)))
    assert 0 not in (call, pool_chunk, map_chunk)
    assert len({call, pool_chunk, map_chunk, _kind.of(square, ())}) == 4
    assert _kind.of(_call, (square, (2,), {})) == call


def test_an_unhashable_callable_has_no_kind():
    assert _kind.of(Unhashable(), (1,)) == 0
    assert _kind.of(abs, (1,)) not in (0, _kind.of(square, ()))


def test_kinds_of_functions_sent_by_reference_are_cached(monkeypatch):
    monkeypatch.setattr(_kind, "_cache", {})
    assert _kind.of_function(square, (1,), True) == _kind.of(square, (1,))
    assert _kind.of_function(Model, (), True) == _kind.of(Model, ())
    assert _kind.of_function(abs, (1,), True) == _kind.of(abs, (1,))
    assert set(_kind._cache) == {square, Model, abs}
    # From the cache from now on: a stale entry would show.
    _kind._cache[square] = 12345
    assert _kind.of_function(square, (2,), True) == 12345


def test_kinds_of_lambdas_closures_and_wrappers_are_not_cached(monkeypatch):
    monkeypatch.setattr(_kind, "_cache", {})
    fn = lambda x: x  # noqa: E731 - a new object per call in real code
    assert _kind.of_function(fn, (1,), False) == _kind.of(fn, (1,))
    # pmp's wrappers go by reference, but their kind is their argument's
    squares = _kind.of_function(_run_chunk, (square, ((1,),)), True)
    cubes = _kind.of_function(_run_chunk, (cube, ((1,),)), True)
    assert squares == _kind.of(_run_chunk, (square, ((1,),))) and cubes == _kind.of(_run_chunk, (cube, ((1,),)))
    assert squares != cubes
    assert _kind._cache == {}


def test_the_kind_cache_starts_afresh_when_full(monkeypatch):
    monkeypatch.setattr(_kind, "_cache", {})
    monkeypatch.setattr(_kind, "_CACHE_MAX", 2)
    for fn in (square, cube, Model, abs):
        assert _kind.of_function(fn, (1,), True) == _kind.of(fn, (1,))
        assert 1 <= len(_kind._cache) <= 2
    assert list(_kind._cache) == [Model, abs]


def test_the_executor_caches_the_kinds_of_module_functions_only(monkeypatch):
    import pmp

    monkeypatch.setattr(_kind, "_cache", {})
    local = lambda x: x * 2  # noqa: E731
    with pmp.Executor(max_workers=1, block_allocation=True, backend="local") as ex:
        assert ex.submit(square, 3).result() == 9
        assert ex.submit(local, 3).result() == 6
        assert list(ex.map(square, [1, 2], chunksize=2)) == [1, 4]
    assert set(_kind._cache) == {square}
