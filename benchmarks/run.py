#!/usr/bin/python3
"""pmp's benchmark driver (issue 7). Locally:

    /usr/bin/python3 benchmarks/run.py [--quick]

and inside a Slurm allocation, as a pmp controller step (the job's CPUs go to the workers):

    salloc -N2 -n4 srun --pmp-workers=4 /usr/bin/python3 benchmarks/run.py [--quick]

or both, with a build and the cluster started first: scripts/bench.sh [--quick].
See benchmarks/README.md."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pmpbench.driver import main  # noqa: E402

if __name__ == "__main__":
    main()
