"""Futures passed as arguments: found anywhere in lists, tuples and dicts (also nested),
and replaced by their results once they are done."""
import concurrent.futures

_CONTAINERS = (list, tuple, dict, set, frozenset)
_ATOMIC = frozenset((type(None), bool, int, float, complex, str, bytes))  # hold no future


def find_futures(obj):
    """The distinct futures in obj, in the order first met."""
    found = {}
    _walk(obj, found)
    return list(found.values())


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


def _walk(obj, found):
    if isinstance(obj, concurrent.futures.Future):
        found.setdefault(id(obj), obj)
    elif isinstance(obj, dict):
        for key, value in obj.items():
            if type(key) not in _ATOMIC:
                _walk(key, found)
            if type(value) not in _ATOMIC:
                _walk(value, found)
    elif isinstance(obj, _CONTAINERS):
        for item in obj:
            if type(item) not in _ATOMIC:
                _walk(item, found)


def resolve(obj):
    """obj with every future replaced by its result (the futures are done)."""
    if isinstance(obj, concurrent.futures.Future):
        return obj.result()
    if isinstance(obj, dict):
        return type(obj)((resolve(k), resolve(v)) for k, v in obj.items()) if type(obj) is dict \
            else obj.__class__({resolve(k): resolve(v) for k, v in obj.items()})
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # namedtuple
        return type(obj)(*(resolve(item) for item in obj))
    if isinstance(obj, _CONTAINERS):
        return type(obj)(resolve(item) for item in obj)
    return obj
