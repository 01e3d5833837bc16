"""An mpi4py function on two MPI ranks: every rank runs it, the results come back as a list."""
import pmp


def calc(i):
    from mpi4py import MPI

    size = MPI.COMM_WORLD.Get_size()
    rank = MPI.COMM_WORLD.Get_rank()
    return i, size, rank


with pmp.Executor(max_cores=2, cores_per_worker=2, block_allocation=True) as exe:
    print(exe.submit(calc, 3).result())
