"""Four tasks of a function defined in this script, on two workers."""
import pmp


def calc(*args):
    return sum(*args)


with pmp.Executor(max_cores=2) as exe:
    futures = [exe.submit(calc, [i, i]) for i in range(1, 5)]
    print([f.result() for f in futures])
