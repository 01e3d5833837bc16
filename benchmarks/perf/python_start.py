"""What a worker's start costs beyond Python's own: N starts of each command taken in
turns (posix_spawnp, then waitpid: told of the end at once), medians and their ratio to a
bare `python3 -c pass`. Shows how much of it is loading libzmq (LD_PRELOAD) and how much
pmp's imports, and, beside them, what a worker built on pyzmq (Debian's python3-zmq) would
import before its first task: pyzmq alone, and with cloudpickle as executorlib's does.
With `slurm`, each command is a one-task srun step (inside salloc), as pmp's worker steps
are; without the preloaded row, which would preload libzmq into srun too.
usage: python_start.py N [slurm]   (PYTHONPATH: the pmp package, e.g. build/python)"""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pmpbench import floors  # noqa: E402

LIBZMQ = "/usr/lib/x86_64-linux-gnu/libzmq.so.5"


def main(n, slurm):
    py = sys.executable
    commands = {
        "python3 -c pass": ([py, "-c", "pass"], os.environ),
        "the same, libzmq preloaded": ([py, "-c", "pass"], dict(os.environ, LD_PRELOAD=LIBZMQ)),
        "python3 -c 'import pmp'": ([py, "-c", "import pmp"], os.environ),
        "python3 -c 'import pmp._core'": ([py, "-c", "import pmp._core"], os.environ),
        "python3 -c 'import pmp.worker'": ([py, "-c", "import pmp.worker"], os.environ),
        "python3 -c 'import zmq'": ([py, "-c", "import zmq"], os.environ),
        "python3 -c 'import zmq, cloudpickle'": ([py, "-c", "import zmq, cloudpickle"], os.environ),
    }
    if slurm:
        del commands["the same, libzmq preloaded"]
        commands = {name: (floors.srun(*argv), floors.step_env()) for name, (argv, _) in commands.items()}
    seconds = {name: [] for name in commands}
    for _ in range(n):
        for name, (argv, env) in commands.items():
            t0 = time.perf_counter()
            _, status = os.waitpid(os.posix_spawnp(argv[0], argv, env), 0)
            seconds[name].append(time.perf_counter() - t0)
            if status:
                sys.exit(f"{name} failed: {status:#x}")
    bare = statistics.median(seconds["python3 -c pass"])
    for name, values in seconds.items():
        print(f"{name:38} {statistics.median(values) * 1e3:6.2f} ms  {statistics.median(values) / bare:.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2:] == ["slurm"])
