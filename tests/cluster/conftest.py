"""Integration tests on the real local Slurm cluster started by scripts/cluster.sh.

Nothing here is mocked: real slurmctld and slurmd daemons, real srun/sbatch/salloc,
and the freshly built spank_pmp.so loaded through the cluster's plugstack.conf.
"""
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "scripts" / "cluster.sh"
REPORT = Path(__file__).with_name("report_task.py")
# The pmp package the jobs import: the normal build's, or (PMP_TEST_BUILD=build-sanitize,
# as scripts/test.sh runs it a second time) the ASan+UBSan build's, with ASan's runtime
# preloaded into every process of the jobs (the interpreter is not instrumented).
BUILD_PYTHON = REPO / os.environ.get("PMP_TEST_BUILD", "build") / "python"
SANITIZER_ENV = {}
if os.environ.get("PMP_TEST_BUILD", "build") != "build":
    _asan = subprocess.run(["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True).stdout.strip()
    SANITIZER_ENV = {"LD_PRELOAD": _asan, "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",
                     "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1"}
PYTHON = "/usr/bin/python3"  # Debian's interpreter, on every node
TIMEOUT = 120


def _cluster_env():
    out = subprocess.run([str(CLUSTER), "env"], check=True, capture_output=True, text=True).stdout
    env = dict(os.environ)
    for line in out.splitlines():
        parts = shlex.split(line)
        if parts and parts[0] == "export":
            for assignment in parts[1:]:
                name, _, value = assignment.partition("=")
                env[name] = value
    env["PYTHONPATH"] = str(BUILD_PYTHON)
    env.update(SANITIZER_ENV)
    env["PATH"] = "/usr/bin:" + env.get("PATH", "")  # python3 is Debian's, with its packages
    # A test run from inside an allocation must not leak it into the jobs it starts.
    for name in list(env):
        if name.startswith(("SLURM_", "PMP_", "SPANK_", "OMP_", "_SLURM_SPANK")) and name != "SLURM_CONF":
            del env[name]
    return env


@pytest.fixture(scope="session")
def slurm_env():
    status = subprocess.run([str(CLUSTER), "status"], capture_output=True, text=True)
    if status.returncode != 0:
        pytest.exit("pmp: the local cluster is not up: run scripts/cluster.sh start (or scripts/test.sh)\n"
                    + status.stdout + status.stderr, returncode=1)
    return _cluster_env()


class Slurm:
    """Runs Slurm commands against the local cluster."""

    def __init__(self, env, tmp_path):
        self.env = env
        self.tmp_path = tmp_path

    def run(self, *args, env=None, input=None, timeout=TIMEOUT):
        full_env = dict(self.env)
        full_env.update(env or {})
        return subprocess.run([str(a) for a in args], capture_output=True, text=True, env=full_env,
                              input=input, timeout=timeout, cwd=self.tmp_path)

    def in_allocation(self, salloc_args, script_text, *srun_args, env=None, timeout=TIMEOUT):
        """Writes script_text to a file and runs `salloc SALLOC_ARGS bash -c 'srun SRUN_ARGS
        python script; squeue --steps of the job'`. Returns (proc, steps left after srun)."""
        script = self.tmp_path / "script.py"
        script.write_text(script_text)
        srun = " ".join(["srun", *srun_args, PYTHON, str(script)])
        # slurmctld learns of a step's end a moment after its srun exits: give the
        # steps up to 5 s to be gone, then report those left.
        steps = 'squeue --steps -h -j $SLURM_JOB_ID -o %i | tr "\\n" " "'
        shell = (f'{srun}; rc=$?; for i in $(seq 50); do left=$({steps}); [ -z "$left" ] && break; sleep 0.1; done; '
                 f'echo "STEPS:$left"; exit $rc')
        proc = self.run("salloc", *salloc_args, "bash", "-c", shell, env=env, timeout=timeout)
        steps = [line for line in proc.stdout.splitlines() if line.startswith("STEPS:")]
        left = steps[-1][len("STEPS:"):].split() if steps else None
        return proc, left

    def reports(self, *srun_args, env=None):
        """srun report_task.py in every task; returns one dict per task, by task id."""
        proc = self.run("srun", *srun_args, PYTHON, REPORT, env=env)
        assert proc.returncode == 0, proc.stderr
        # srun's own word that the job waited for the previous test's job to release its
        # nodes is scheduling, not the plugin: drop it so tests can check stderr is clean.
        proc.stderr = "".join(line for line in proc.stderr.splitlines(keepends=True)
                              if not re.fullmatch(r"srun: job \d+ (queued and waiting for resources|"
                                                  r"has been allocated resources)\n?", line))
        tasks = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        return sorted(tasks, key=lambda t: t["task"]), proc


@pytest.fixture
def slurm(slurm_env, tmp_path):
    return Slurm(slurm_env, tmp_path)


def pmp_lines(text):
    return [line for line in text.splitlines() if line.startswith("pmp: ")]


sys.path.insert(0, str(Path(__file__).parent))


_FAULT_TIMES = {}


@pytest.fixture
def fault_times():
    """name -> seconds a fault took to be resolved; printed at the end of the run."""
    return _FAULT_TIMES


@pytest.fixture
def cluster_node(slurm_env):
    """Runs scripts/cluster.sh ARGS (e.g. "crash", "node2"; "start" brings it back)."""
    def run(*args):
        proc = subprocess.run([str(CLUSTER), *args], capture_output=True, text=True, timeout=180)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return run


def pytest_terminal_summary(terminalreporter):
    if _FAULT_TIMES:
        terminalreporter.section("pmp fault injection: time to resolve each fault")
        for name, seconds in _FAULT_TIMES.items():
            terminalreporter.write_line(f"{seconds:8.2f} s  {name}")
