"""A task's kind: a 32-bit number that the calls of one function share. Workers report
how long each task ran, and the controller keeps a typical run time by kind
(runtime/durations.h): a worker may hold more tasks of a function known to be short than
its share of a short queue, rather than run dry between answers. Calls of a function not
known yet, and of callables without a kind (0), keep the share rule."""
import functools


def of(fn, args):
    """The kind of fn(*args): its code's, so that a lambda made anew for each call, or an
    equal one unpickled, is of one kind. map's chunks of fn are a kind of their own (a
    chunk runs as long as its calls together). A code object's hash leaves out its
    bytecode and its line, so the line is added: lambdas of one line with the same
    constants and names still share a kind."""
    chunk = getattr(fn, "_pmp_wraps_first_argument", False) and args
    if chunk:
        fn = args[0]
    while isinstance(fn, functools.partial):
        fn = fn.func
    fn = getattr(fn, "__func__", fn)  # a bound method: its function
    code = getattr(fn, "__code__", None)
    try:
        h = hash(fn) if code is None else hash((code, code.co_firstlineno))
    except TypeError:  # a callable object that cannot be hashed: no kind
        return 0
    if chunk:
        h = hash((h, "chunk"))
    return (h & 0xFFFFFFFF) or 1
