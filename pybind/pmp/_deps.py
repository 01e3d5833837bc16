"""Futures passed as arguments: found anywhere in lists, tuples, dicts, sets and frozensets
(also nested), and replaced by their results once they are done."""
import concurrent.futures

from . import _core

_CONTAINERS = (list, tuple, dict, set, frozenset)
_ATOMIC = frozenset((type(None), bool, int, float, complex, str, bytes))  # hold no future


def find_futures(obj):
    """The distinct futures in obj, in the order first met (the walk is _core's)."""
    return _core.find_futures(obj, concurrent.futures.Future)


def find_in_call(args, kwargs):
    """find_futures((args, kwargs)); at once for plain values, which most calls pass (the
    walk took 0.56 us a call without arguments, this 0.12 us: timeit)."""
    for value in args:
        if type(value) not in _ATOMIC:
            return find_futures((args, kwargs))
    for value in kwargs.values():
        if type(value) not in _ATOMIC:
            return find_futures((args, kwargs))
    return []


def resolve(obj, memo=None):
    """obj with every future replaced by its result (the futures are done). A container
    met twice is copied once (memo: {id: copy}), as pickle keeps it: one list in two
    places stays one list, and a list or dict that holds itself holds its copy."""
    if type(obj) in _ATOMIC:
        return obj
    if isinstance(obj, concurrent.futures.Future):
        return obj.result()
    if not isinstance(obj, _CONTAINERS):
        return obj
    if memo is None:
        memo = {}
    copy = memo.get(id(obj))
    if copy is not None:
        return copy
    if type(obj) is list:  # made before its items: they may hold it
        copy = memo[id(obj)] = []
        copy.extend(resolve(item, memo) for item in obj)
    elif type(obj) is dict:
        copy = memo[id(obj)] = {}
        for key, value in obj.items():
            copy[resolve(key, memo)] = resolve(value, memo)
    elif isinstance(obj, dict):
        copy = obj.__class__({resolve(k, memo): resolve(v, memo) for k, v in obj.items()})
    elif isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        copy = type(obj)(*(resolve(item, memo) for item in obj))
    else:
        copy = type(obj)(resolve(item, memo) for item in obj)
    memo[id(obj)] = copy
    return copy
