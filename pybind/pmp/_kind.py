"""A task's kind: a 32-bit number that the calls of one function share. Workers report
how long each task ran, and the controller keeps a typical run time by kind
(runtime/durations.h): a worker may hold more tasks of a function known to be short than
its share of a short queue, rather than run dry between answers. Calls of a function not
known yet, and of callables without a kind (0), keep the share rule."""
import functools

_CACHE_MAX = 4096
_cache = {}  # see of_function


def unwrap(fn, args):
    """(wrapper, the user's function) of a task: pmp's own wrappers (map's chunks, Pool's
    calls and chunks) take the user's function as their first argument; wrapper None
    when fn is the user's own."""
    if getattr(fn, "_pmp_wraps_first_argument", False) and args:
        return fn, args[0]
    return None, fn


def of_function(fn, args, by_reference):
    """of(fn, args), cached when by_reference: fn is a module's function, class or
    built-in, which pickles by reference (its task went with a head, _serialize.dumps_task).
    Such a kind never changes, and fn lives as long as its module anyway; computing a kind
    took 0.29 us of a 3.5 us submit (timeit), a look-up takes 0.05. Not cached: lambdas,
    closures and callable objects (a new object per call would be kept alive, with its
    closure), and pmp's wrappers (their kind is their argument's)."""
    if not by_reference:
        return of(fn, args)
    kind = _cache.get(fn)
    if kind is None:
        kind = of(fn, args)
        if not getattr(fn, "_pmp_wraps_first_argument", False):
            if len(_cache) >= _CACHE_MAX:
                _cache.clear()
            _cache[fn] = kind
    return kind


def of(fn, args):
    """The kind of fn(*args): its code's, so that a lambda made anew for each call, or an
    equal one unpickled, is of one kind. Each of pmp's wrappers of fn makes a kind of its
    own (a chunk runs as long as its calls together). A code object's hash leaves out its
    bytecode and its line, so the line is added: lambdas of one line with the same
    constants and names still share a kind."""
    wrapper, fn = unwrap(fn, args)
    while isinstance(fn, functools.partial):
        fn = fn.func
    fn = getattr(fn, "__func__", fn)  # a bound method: its function
    code = getattr(fn, "__code__", None)
    try:
        h = hash(fn) if code is None else hash((code, code.co_firstlineno))
    except TypeError:  # a callable object that cannot be hashed: no kind
        return 0
    if wrapper is not None:
        h = hash((h, wrapper))
    return (h & 0xFFFFFFFF) or 1
