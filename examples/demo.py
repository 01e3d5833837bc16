"""What `scripts/setup.sh` runs on the local cluster:

    salloc -N2 -n4 srun --pmp-workers=4 python3 examples/demo.py

The script runs once; its Executor starts 4 workers, one Slurm step each, spread over the
allocation's nodes, each bound to its own CPU by the pmp plugin."""
import os
import time

import pmp


def where(i):
    time.sleep(0.2)  # long enough for every worker to get tasks
    node = os.environ.get("SLURMD_NODENAME", "this machine")
    cpus = ",".join(map(str, sorted(os.sched_getaffinity(0))))
    return f"task {i}: worker {os.environ['PMP_WORKER_ID']} on {node}, cpus {cpus}, pid {os.getpid()}"


with pmp.Executor(block_allocation=True) as exe:
    print(f"pmp: {exe.max_workers} workers, backend {exe.backend}")
    for line in exe.map(where, range(2 * exe.max_workers)):
        print(line)
