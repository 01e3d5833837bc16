"""Coupled functions: a future passed as an argument; the second task runs when the first
is done, with its result."""
import pmp


def calc_add(a, b):
    return a + b


with pmp.Executor(max_cores=2) as exe:
    first = exe.submit(calc_add, 1, 1)
    second = exe.submit(calc_add, first, 1)
    third = exe.submit(sum, [first, second, {"not": "a future"}.get("x", 0)])
    print(second.result(), third.result())
