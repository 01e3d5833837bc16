"""The driver: plans the sessions of one run, runs each in a child process with a
timeout, and hands the results to the report."""
import argparse
import collections
import dataclasses
import datetime
import importlib.metadata
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time

from . import child, config, report

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(BENCH_DIR)


@dataclasses.dataclass
class Session:
    name: str
    kind: str
    peer: str = None
    workers: int = None


def parse_args(argv):
    p = argparse.ArgumentParser(description="pmp benchmarks (issue 7): pmp beside ProcessPoolExecutor, "
                                "MPIPoolExecutor, dask.distributed and the floors, in one run.")
    p.add_argument("--quick", action="store_true", help="scaled-down sizes: the whole run in < 3 minutes")
    p.add_argument("--backend", choices=("auto", "local", "slurm"), default="auto",
                   help="pmp's backend; auto: slurm when SLURM_JOB_ID is set (run it under "
                   "`srun --pmp-workers=N` inside salloc), else local")
    p.add_argument("--slurm", dest="backend", action="store_const", const="slurm", help="--backend slurm")
    p.add_argument("--local", dest="backend", action="store_const", const="local", help="--backend local")
    p.add_argument("--peers", default=",".join(config.PEERS),
                   help=f"executors to run (default: {','.join(config.PEERS)})")
    p.add_argument("--only", default=",".join(child.KINDS),
                   help=f"session kinds to run (default: all of {','.join(child.KINDS)})")
    p.add_argument("--pmp-path", default=os.environ.get("PMP_BUILD_PYTHON", os.path.join(REPO, "build", "python")),
                   help="directory holding the pmp package under test (default: build/python)")
    p.add_argument("--out", default=os.path.join(BENCH_DIR, "results", "latest"),
                   help="path prefix of the .json and .png results (default: benchmarks/results/latest)")
    p.add_argument("--rounds", type=int, default=1,
                   help="repeat the timing sessions round-robin and report their medians (default 1)")
    p.add_argument("--timeout-factor", type=float, default=1.0, help="scale every session's timeout")
    return p.parse_args(argv)


def job_cpus():
    """CPUs of the Slurm job, from SLURM_JOB_CPUS_PER_NODE ("2(x2),1")."""
    total = 0
    for count, times in re.findall(r"(\d+)(?:\(x(\d+)\))?", os.environ.get("SLURM_JOB_CPUS_PER_NODE", "")):
        total += int(count) * int(times or 1)
    return total or 1


def plan(peers, kinds, sizes, workers, rounds=1):
    """The sessions of a run. With rounds > 1 the timing sessions repeat round-robin, so
    that pmp and each peer are measured close together in every round (a neighbour's
    load then hits both), and the report takes the median of the rounds. The starts of
    (5) follow their floor, Python starts, in each round: run once at the end, after the
    128-worker sessions, they met a load their floor measured at a round's start did not
    (1.88x against 1.28x the run before, from one session). memory (deterministic) runs
    once."""
    timed = [Session("floor-zmq", "floor-zmq"), Session("floor-import", "floor-import")]
    timed += [Session(f"startup-{p}", "startup", p, sizes["startup_workers"]) for p in peers]
    timed += [Session(f"peer-{p}", "peer", p, workers) for p in peers]
    timed.append(Session("pertask", "pertask", "pmp", workers))
    for n in sizes["scale_workers"]:
        timed += [Session(f"scale-{p}-{n}", "scale", p, n) for p in ("pmp", "process") if p in peers]
    if "pmp" in peers:
        timed.append(Session("scale-paired", "scale-paired", "pmp"))
    timed.append(Session("floor-scale", "floor-scale"))
    sessions = [dataclasses.replace(s, name=f"{s.name}-r{r}" if rounds > 1 else s.name)
                for r in range(1, rounds + 1) for s in timed]
    sessions += [Session(f"memory-{p}", "memory", p) for p in ("pmp", "process") if p in peers]
    return [s for s in sessions if s.kind in kinds]


def child_env(session, pmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (BENCH_DIR, pmp_path, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    if session.peer == "mpi":
        # Open MPI's singleton, as root, spawning more workers than this machine has
        # cores; and without the controller step's SLURM_*/PMIX_* variables, with which
        # MPI_Init takes the step for an MPI job it is not and aborts.
        env = {k: v for k, v in env.items() if not k.startswith(("SLURM_", "PMIX_"))}
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                   OMPI_MCA_rmaps_base_oversubscribe="1")
    return env


def run_session(session, spec, env, timeout, log_dir):
    """Runs one session in its own process group; returns (records, status, log path)."""
    log_path = os.path.join(log_dir, f"{session.name}.log")
    with tempfile.TemporaryFile("w+") as out, open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "pmpbench.child", json.dumps(spec)], stdout=out,
                                stderr=log, stdin=subprocess.DEVNULL, env=env, cwd=REPO, start_new_session=True)
        status, linger = "ok", 2.0
        try:
            proc.wait(timeout=timeout)
            if proc.returncode:
                status = f"exit status {proc.returncode}"
        except subprocess.TimeoutExpired:
            status, linger = f"timed out after {timeout:.0f} s", 0.0
        left = stop_group(proc, linger)  # only what outlived the session's own shutdown
        if left:
            status += f", left behind (killed): {left}"
        out.seek(0)
        records = [json.loads(line[len(child.RESULT_PREFIX):]) for line in out
                   if line.startswith(child.RESULT_PREFIX)]
    for r in records:
        r.update(session=session.name, kind=session.kind)
    return records, status, log_path


def stop_group(proc, linger, grace=5.0):
    """Ends what is left of a session's process group (its own: start_new_session):
    first lets stragglers exit by themselves for `linger` seconds (multiprocessing's
    resource tracker leaves once its parent is gone), then SIGTERM, then SIGKILL.
    Returns a description of what had to be killed, or ""."""
    if group_gone(proc, linger):
        return ""
    left = group_commands(proc.pid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        if group_gone(proc, grace):
            break
    return left


def group_gone(proc, seconds):
    """Waits up to `seconds` for the group to empty, reaping its leader (the session
    process), whose zombie would otherwise keep the group alive."""
    deadline = time.monotonic() + seconds
    while True:
        proc.poll()
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def group_commands(pgid):
    """'N x command, ...' for the live processes of a process group, from /proc."""
    found = collections.Counter()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid or fields[0] == "Z":
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            found[b" ".join(argv[:3]).decode(errors="replace")[:60]] += 1
        except (OSError, IndexError, ValueError):
            continue
    return ", ".join(f"{n} x {cmd}" for cmd, n in found.items())


def metadata(args, run, backend, workers, sizes):
    def version(dist):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    git = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"], capture_output=True, text=True)
    return {
        "run": run, "backend": backend, "workers": workers, "quick": args.quick, "rounds": args.rounds,
        "sizes": sizes, "load_before": os.getloadavg()[0],
        "date": datetime.datetime.now().isoformat(timespec="seconds"), "host": platform.node(),
        "cpus": os.cpu_count(), "python": sys.executable, "python_version": platform.python_version(),
        "pmp_path": args.pmp_path, "pmp_git": git.stdout.strip() or None,
        "slurm_job": os.environ.get("SLURM_JOB_ID"), "slurm_nodes": os.environ.get("SLURM_JOB_NODELIST"),
        "pmp_env": {k: v for k, v in os.environ.items() if k.startswith("PMP_")},  # e.g. PMP_SECURITY
        "versions": {d: version(d) for d in ("numpy", "pyzmq", "cloudpickle", "mpi4py", "distributed")},
    }


def main(argv=None):
    args = parse_args(argv)
    if not os.path.isfile(os.path.join(args.pmp_path, "pmp", "__init__.py")):
        sys.exit(f"pmp bench: no pmp package in {args.pmp_path}: build it first "
                 f"(cmake -S {REPO} -B {REPO}/build && cmake --build {REPO}/build -j2) or pass --pmp-path")
    backend = choose_backend(args.backend)
    compile_tasks()
    sizes = config.sizes(args.quick)
    workers = (int(os.environ.get("PMP_WORKERS") or job_cpus())) if backend == "slurm" else (os.cpu_count() or 1)
    sessions = plan([p for p in args.peers.split(",") if p], set(args.only.split(",")), sizes, workers,
                    max(1, args.rounds))
    meta = metadata(args, backend, backend, workers, sizes)
    t0 = time.perf_counter()
    records, statuses = run_all(sessions, args, backend, sizes)
    meta.update(seconds=time.perf_counter() - t0, load_after=os.getloadavg()[0])
    report.publish(args.out, meta, records, statuses)


def compile_tasks():
    """Byte-compiles pmpbench, whose tasks every per-task worker imports anew, as an
    installed module would be: under PYTHONDONTWRITEBYTECODE (or a read-only checkout)
    each worker would compile it from source, 8.7M instructions of a 66M-instruction
    per-task worker (callgrind), which the floors beside it do not pay."""
    import compileall
    compileall.compile_dir(os.path.dirname(os.path.abspath(__file__)), quiet=1)


def choose_backend(asked):
    in_slurm = bool(os.environ.get("SLURM_JOB_ID"))
    backend = asked if asked != "auto" else ("slurm" if in_slurm else "local")
    if backend == "slurm" and not in_slurm:
        sys.exit("pmp bench: --backend slurm needs an allocation: run it as "
                 "`salloc -N2 -n4 srun -N1 --pmp-workers=4 /usr/bin/python3 benchmarks/run.py`")
    return backend


def run_all(sessions, args, backend, sizes):
    """Runs the sessions one after the other; returns (records, status per session).
    Progress goes to stdout with the tables: srun relays stdout and stderr separately,
    and would interleave them."""
    log_dir = os.path.join(os.path.dirname(os.path.abspath(args.out)), "logs", backend)
    os.makedirs(log_dir, exist_ok=True)
    print(f"pmp bench: run '{backend}', {len(sessions)} sessions{' (quick)' if args.quick else ''}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; logs in {log_dir}", flush=True)
    records, statuses = [], {}
    for i, session in enumerate(sessions, 1):
        spec = dict(dataclasses.asdict(session), backend=backend, sizes=sizes)
        timeout = config.timeout(session.kind.split("-")[0], args.quick, args.timeout_factor)
        t0 = time.perf_counter()
        got, status, log_path = run_session(session, spec, child_env(session, args.pmp_path), timeout, log_dir)
        errors = [f"{r['workload']}/{r['peer']}: {r['error']}" for r in got if "error" in r]
        statuses[session.name] = {"status": status, "seconds": time.perf_counter() - t0, "log": log_path,
                                  "errors": errors}
        records += got
        print(f"  [{i:2}/{len(sessions)}] {session.name:<20} {time.perf_counter() - t0:6.1f} s  {status}"
              + "".join(f"\n      error {e}" for e in errors), flush=True)
    return records, statuses
