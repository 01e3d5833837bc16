"""Start to first result (workload (5)) of two pmp builds, side by side: each round runs
first_result.py's measurement once per build, in turn, each in a fresh Python process, so
each pays what a user's first executor pays. Prints the medians and their ratio.
usage: first_result_ab.py BASE_PYTHON_DIR NEW_PYTHON_DIR WORKERS ROUNDS [local|slurm]"""
import os
import statistics
import subprocess
import sys


def first_result(python_dir, workers, backend):
    env = dict(os.environ, PYTHONPATH=python_dir)
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "child", backend, str(workers)], env=env,
                         check=True, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL).stdout
    return float(out.split()[-1])


if __name__ == "__main__" and sys.argv[1] == "child":
    import first_result as measured  # this directory's first_result.py: the same measurement
    print(measured.first_result(sys.argv[2], int(sys.argv[3])))
elif __name__ == "__main__":
    base, new, workers, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    backend = sys.argv[5] if len(sys.argv) > 5 else "local"
    runs = {"base": [], "new": []}
    for _ in range(rounds):
        runs["base"].append(first_result(base, workers, backend))
        runs["new"].append(first_result(new, workers, backend))
    ms = {k: statistics.median(v) * 1000 for k, v in runs.items()}
    print(f"{workers} workers ({backend}), {rounds} rounds: base {ms['base']:.1f} ms, new {ms['new']:.1f} ms, "
          f"new/base {ms['new'] / ms['base']:.2f}")
