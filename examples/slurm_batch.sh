#!/bin/bash
# A Slurm batch script: the Python script runs once, in the batch step; its Executor
# starts 3 workers in steps of their own, spread over the job's nodes.
#   sbatch examples/slurm_batch.sh
#SBATCH --job-name=pmp-example
#SBATCH --nodes=2
#SBATCH --ntasks=4
#SBATCH --pmp-workers=3
#SBATCH --output=pmp-example-%j.out
"${PYTHON:-python3}" - <<'PY'
import os
import socket

import pmp


def where(i):
    import time
    time.sleep(0.5)  # so that every worker gets a task
    return os.environ["SLURMD_NODENAME"]


with pmp.Executor(block_allocation=True) as exe:  # 3 workers, from #SBATCH --pmp-workers=3
    nodes = sorted(set(exe.map(where, range(6))))
    print("workers", exe.max_workers, "nodes", nodes)
PY
