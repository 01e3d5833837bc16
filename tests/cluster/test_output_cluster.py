"""Worker output and logging on the Slurm backend: lines relayed by srun arrive labelled
with the worker (and MPI rank) and task, the last words of a crashing worker included;
PMP_LOG_LEVEL reaches the worker steps, and DEBUG shows their srun command lines."""
import re

from conftest import SANITIZER_ENV

SCRIPT = """
import ctypes, os, sys
import pmp

def talk(i):
    print(f"py {i} on {os.environ['SLURMD_NODENAME']}")
    os.system(f"echo sh {i} >&2")
    return i

def ranks():
    from mpi4py import MPI
    print("rank", MPI.COMM_WORLD.Get_rank())

def crash():
    os.write(2, b"last words\\n")
    ctypes.string_at(0)

with pmp.Executor(max_workers=2, block_allocation=True) as exe:
    assert list(exe.map(talk, range(4))) == [0, 1, 2, 3]
with pmp.Executor(max_workers=1, cores_per_worker=2, block_allocation=True) as exe:
    exe.submit(ranks).result()
with pmp.Executor(max_workers=1) as exe:
    try:
        exe.submit(crash).result()
    except pmp.WorkerLost as e:
        print("lost:", e)
"""

LABEL = re.compile(r"^\[worker (\d+)(?: rank (\d))?, task (\d+)\] (.*)$", re.M)


def test_labelled_output_and_logging_on_slurm(slurm):
    proc, left = slurm.in_allocation(["-N2", "-n4"], SCRIPT, "--pmp-workers=2", env={"PMP_LOG_LEVEL": "DEBUG"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = LABEL.findall(proc.stdout)
    err = LABEL.findall(proc.stderr)
    items = {}
    for worker, rank, task, text in out + err:
        if text.startswith(("py ", "sh ")):
            items.setdefault(text.split()[1], set()).add((worker, task))
    # Each item's lines, from Python (stdout) and from a shell (stderr), under one label.
    assert sorted(items) == ["0", "1", "2", "3"] and all(len(w) == 1 for w in items.values()), items
    assert sorted((rank, text) for _, rank, _, text in out if text.startswith("rank")) == [("0", "rank 0"),
                                                                                           ("1", "rank 1")]
    assert [text for _, _, _, text in err if text == "last words"] == ["last words"]
    # Under the sanitizer run ASan's SEGV handler reports the fault, then aborts (abort_on_error=1).
    signal = "SIGABRT" if SANITIZER_ENV else "SIGSEGV"
    assert re.search(rf"^lost: pmp: worker 0 \(pid \d+ on node\d\) .*{signal}", proc.stdout, re.M), proc.stdout
    assert re.search(r"^pmp: DEBUG worker command: \S*srun --pmp-endpoint=\{endpoint\} --pmp-worker-id=\{worker_id\} ",
                     proc.stderr, re.M), proc.stderr
    assert re.search(r"^\[worker 0\] pmp: DEBUG worker 0 connected: pid \d+ on node\d$", proc.stderr, re.M)
    assert left == []
