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
