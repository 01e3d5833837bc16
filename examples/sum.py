"""1 + 1 on a worker: the smallest pmp program.

    srun --pmp-workers=1 python examples/sum.py      # inside an allocation (salloc, sbatch)
    python examples/sum.py                           # on a workstation (local backend)
"""
import pmp

with pmp.Executor(max_cores=1) as exe:
    future = exe.submit(sum, [1, 1])
    print(future.result())
