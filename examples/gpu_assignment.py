"""One GPU per worker: each worker sees its own CUDA_VISIBLE_DEVICES (Slurm backend)."""
import os
import socket

import pmp


def where():
    import time
    time.sleep(0.5)  # so that every worker gets a task
    return os.environ.get("SLURMD_NODENAME", socket.gethostname()), os.environ.get("CUDA_VISIBLE_DEVICES")


with pmp.Executor(max_workers=2, gpus_per_worker=1, block_allocation=True) as exe:
    seen = sorted({f.result() for f in [exe.submit(where) for _ in range(4)]})
    print(seen)
