"""Executor.map, as with concurrent.futures: results in order."""
import pmp


def calc(i):
    return i * i


with pmp.Executor(max_cores=2, block_allocation=True) as exe:
    print(list(exe.map(calc, range(8))))
    print(sum(exe.map(calc, range(1000), chunksize=100)))
