"""What a worker's start costs beyond Python's own: N starts of each command taken in
turns (posix_spawn, then waitpid: told of the end at once), medians and their ratio to a
bare `python3 -c pass`. Shows how much of it is loading libzmq (LD_PRELOAD) and how much
pmp's imports.
usage: python_start.py N   (PYTHONPATH: the pmp package, e.g. build/python)"""
import os
import statistics
import sys
import time

LIBZMQ = "/usr/lib/x86_64-linux-gnu/libzmq.so.5"


def main(n):
    py = sys.executable
    commands = {
        "python3 -c pass": ([py, "-c", "pass"], os.environ),
        "the same, libzmq preloaded": ([py, "-c", "pass"], dict(os.environ, LD_PRELOAD=LIBZMQ)),
        "python3 -c 'import pmp'": ([py, "-c", "import pmp"], os.environ),
        "python3 -c 'import pmp._core'": ([py, "-c", "import pmp._core"], os.environ),
        "python3 -c 'import pmp.worker'": ([py, "-c", "import pmp.worker"], os.environ),
    }
    seconds = {name: [] for name in commands}
    for _ in range(n):
        for name, (argv, env) in commands.items():
            t0 = time.perf_counter()
            _, status = os.waitpid(os.posix_spawn(argv[0], argv, env), 0)
            seconds[name].append(time.perf_counter() - t0)
            if status:
                sys.exit(f"{name} failed: {status:#x}")
    bare = statistics.median(seconds["python3 -c pass"])
    for name, values in seconds.items():
        print(f"{name:34} {statistics.median(values) * 1e3:6.2f} ms  {statistics.median(values) / bare:.2f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]))
