"""The pmp SPANK plugin on the real two-node cluster: options, errors, environment, binding."""
import itertools
import json
import re
import textwrap

import pytest

from conftest import PYTHON, REPORT, pmp_lines

OPTIONS = ["--pmp-workers=N", "--pmp-cores-per-worker=N", "--pmp-threads-per-core=N",
           "--pmp-gpus-per-worker=N", "--pmp-oversubscribe", "--pmp-static",
           "--pmp-endpoint=URI", "--pmp-worker-id=ID"]
THREAD_VARS = ["OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"]


@pytest.mark.parametrize("command", ["srun", "sbatch", "salloc"])
def test_help_lists_every_option(slurm, command):
    proc = slurm.run(command, "--help")
    for option in OPTIONS:
        assert option in proc.stdout, f"{command} --help does not list {option}"


BAD_VALUES = [
    ("--pmp-workers=abc", "pmp: --pmp-workers=abc is not a whole number: give one from 1 to 65536"),
    ("--pmp-workers=0", "pmp: --pmp-workers=0 is out of range: give a number from 1 to 65536"),
    ("--pmp-cores-per-worker=-2", "pmp: --pmp-cores-per-worker=-2 is not a whole number"),
    ("--pmp-threads-per-core=5000", "pmp: --pmp-threads-per-core=5000 is out of range: give a number from 1 to 1024"),
    ("--pmp-gpus-per-worker=1.5", "pmp: --pmp-gpus-per-worker=1.5 is not a whole number"),
    ("--pmp-endpoint=localhost", "pmp: --pmp-endpoint=localhost is not a ZeroMQ endpoint"),
    ("--pmp-worker-id=x", "pmp: --pmp-worker-id=x is not a whole number"),
]


@pytest.mark.parametrize("option,message", BAD_VALUES)
def test_srun_rejects_bad_value_before_any_task(slurm, option, message):
    proc = slurm.run("srun", "-n1", option, "touch", "task-ran")
    assert proc.returncode != 0
    lines = pmp_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(message)
    assert not (slurm.tmp_path / "task-ran").exists()


@pytest.mark.parametrize("option,message", BAD_VALUES[:2])
def test_sbatch_rejects_bad_value_without_submitting(slurm, option, message):
    before = slurm.run("squeue", "-h", "-o", "%i").stdout
    proc = slurm.run("sbatch", option, "--wrap", "touch task-ran")
    assert proc.returncode != 0
    assert "Submitted batch job" not in proc.stdout
    lines = pmp_lines(proc.stderr)
    assert len(lines) == 1 and lines[0].startswith(message), proc.stderr
    assert slurm.run("squeue", "-h", "-o", "%i").stdout == before


def test_salloc_rejects_bad_value(slurm):
    proc = slurm.run("salloc", "-n1", "--pmp-threads-per-core=0", "touch", "task-ran")
    assert proc.returncode != 0
    assert pmp_lines(proc.stderr) == [
        "pmp: --pmp-threads-per-core=0 is out of range: give a number from 1 to 1024"]
    assert not (slurm.tmp_path / "task-ran").exists()


def test_worker_id_without_endpoint_is_refused(slurm):
    proc = slurm.run("srun", "-n1", "--pmp-worker-id=2", "touch", "task-ran")
    assert proc.returncode != 0
    assert pmp_lines(proc.stderr)[0].startswith("pmp: --pmp-worker-id=2 needs --pmp-endpoint")
    assert not (slurm.tmp_path / "task-ran").exists()


DOES_NOT_FIT = [
    (["-N1", "-n2", "--pmp-threads-per-core=2"],
     r"pmp: --pmp-threads-per-core=2 needs 4 CPUs for the 2 tasks on node[12] but the step has 2 there: "
     r"ask srun for 2 CPUs per task \(-c 2\)"),
    (["-N1", "-n1", "--pmp-gpus-per-worker=1"],
     r"pmp: --pmp-gpus-per-worker=1 needs 1 GPUs for the 1 tasks on node[12] but the step has 0 there: "
     r"ask srun for them \(--gpus-per-task=1\)"),
    (["-N1", "-n2", "--gres=gpu:2", "--pmp-gpus-per-worker=2"],
     r"pmp: --pmp-gpus-per-worker=2 needs 4 GPUs for the 2 tasks on node[12] but the step has 2 there"),
    (["-n1", "--pmp-workers=9"],
     r"pmp: --pmp-workers=9 needs 9 CPUs \(9 workers x 1 cores x 1 threads per core\) but job \d+ has 1: "
     r"add -n 9 to srun \(the script still runs once; the other tasks reserve CPUs for the workers\), run "
     r"it in an allocation with 9 CPUs \(salloc -n 9\), ask for fewer workers, or add --pmp-oversubscribe"),
]


@pytest.mark.parametrize("args,message", DOES_NOT_FIT)
def test_request_that_does_not_fit_the_step_stops_it(slurm, args, message):
    proc = slurm.run("srun", *args, "touch", "task-ran")
    assert proc.returncode != 0
    lines = pmp_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    assert re.fullmatch(message + ".*", lines[0]), lines[0]
    assert not (slurm.tmp_path / "task-ran").exists()


def test_tasks_on_both_nodes_see_the_options(slurm):
    tasks, _ = slurm.reports("-N2", "-n4", "--pmp-cores-per-worker=2", "--pmp-gpus-per-worker=0")
    assert {t["node"] for t in tasks} == {"node1", "node2"}
    for t in tasks:
        env = t["env"]
        assert "PMP_WORKERS" not in env
        assert env["PMP_CORES_PER_WORKER"] == "2"
        assert env["PMP_THREADS_PER_CORE"] == "1"
        assert env["PMP_GPUS_PER_WORKER"] == "0"
        assert env["PMP_OVERSUBSCRIBE"] == "0"
        assert env["PMP_ROLE"] == "tasks"


def test_controller_step_runs_once_and_leaves_the_cpus_to_workers(slurm):
    """srun --pmp-workers=N in a 4-task allocation: one task, overlapping the other steps."""
    script = slurm.tmp_path / "job.sh"
    script.write_text(textwrap.dedent(f"""\
        srun --pmp-workers=4 {PYTHON} {REPORT}
        srun -n4 --pmp-workers=4 {PYTHON} {REPORT}
        """))
    proc = slurm.run("salloc", "-N2", "-n4", "bash", script)
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr, proc.stderr  # no "can't run 1 processes on 2 nodes"
    tasks = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(tasks) == 2  # once per srun, also with -n4 given explicitly
    for t in tasks:
        assert t["task"] == 0
        env = t["env"]
        assert env["PMP_WORKERS"] == "4"
        assert env["PMP_ROLE"] == "controller"
        assert "PMP_CPUS" not in env and "OMP_NUM_THREADS" not in env  # workers are bound in their own steps
        assert "PMP_JOB_NUM_NODES" not in env


def test_each_task_bound_to_its_own_cpus(slurm):
    tasks, proc = slurm.reports("-N2", "-n4", "--pmp-threads-per-core=1")
    assert proc.stderr == ""
    assert {t["node"] for t in tasks} == {"node1", "node2"}
    for node, group in itertools.groupby(sorted(tasks, key=lambda t: t["node"]), key=lambda t: t["node"]):
        group = list(group)
        assert len(group) == 2
        for t in group:
            assert len(t["cpus"]) == 1
            assert t["env"]["PMP_CPUS"] == str(t["cpus"][0])
            for var in THREAD_VARS:
                assert t["env"][var] == "1"
            assert t["env"]["PMP_ROLE"] == "tasks"
        assert not set(group[0]["cpus"]) & set(group[1]["cpus"]), f"tasks on {node} share CPUs"


def test_threads_per_core_binds_that_many_cpus(slurm):
    tasks, _ = slurm.reports("-N1", "-n1", "-c2", "--pmp-threads-per-core=2")
    assert tasks[0]["cpus"] == [0, 1]
    assert tasks[0]["env"]["PMP_CPUS"] == "0-1"
    assert tasks[0]["env"]["OMP_NUM_THREADS"] == "2"


def test_users_own_thread_settings_win(slurm):
    tasks, _ = slurm.reports("-n1", "--pmp-threads-per-core=1", env={"OMP_NUM_THREADS": "3"})
    assert tasks[0]["env"]["OMP_NUM_THREADS"] == "3"
    assert tasks[0]["env"]["OPENBLAS_NUM_THREADS"] == "1"


def test_oversubscribe_lets_tasks_share_cpus(slurm):
    tasks, _ = slurm.reports("-N1", "-n2", "--pmp-threads-per-core=2", "--pmp-oversubscribe")
    assert [t["cpus"] for t in tasks] == [[0, 1], [0, 1]]
    assert all(t["env"]["PMP_OVERSUBSCRIBE"] == "1" for t in tasks)


def test_gpus_distinct_per_task_on_both_nodes(slurm):
    tasks, _ = slurm.reports("-N2", "-n4", "--gres=gpu:2", "--pmp-gpus-per-worker=1")
    for node in ("node1", "node2"):
        gpus = sorted(t["env"]["CUDA_VISIBLE_DEVICES"] for t in tasks if t["node"] == node)
        assert gpus == ["0", "1"], tasks
    for t in tasks:
        assert t["env"]["ROCR_VISIBLE_DEVICES"] == t["env"]["CUDA_VISIBLE_DEVICES"]
        assert t["env"]["PMP_GPUS"] == t["env"]["CUDA_VISIBLE_DEVICES"]


def test_two_gpus_per_worker(slurm):
    tasks, _ = slurm.reports("-N1", "-n1", "--gres=gpu:2", "--pmp-gpus-per-worker=2")
    assert tasks[0]["env"]["CUDA_VISIBLE_DEVICES"] == "0,1"


def test_worker_step_gets_endpoint_and_identity(slurm):
    tasks, _ = slurm.reports("-n1", "--pmp-endpoint=tcp://node1:7000", "--pmp-worker-id=3")
    env = tasks[0]["env"]
    assert env["PMP_ENDPOINT"] == "tcp://node1:7000"
    assert env["PMP_WORKER_ID"] == "3"
    assert env["PMP_ROLE"] == "worker"
    assert len(tasks[0]["cpus"]) == 1


def test_static_step_marks_task_zero_main(slurm):
    tasks, _ = slurm.reports("-N2", "-n3", "--pmp-static")
    assert [t["env"]["PMP_MAIN"] for t in tasks] == ["1", "0", "0"]
    assert all(t["env"]["PMP_STATIC"] == "1" for t in tasks)
    assert {t["node"] for t in tasks} == {"node1", "node2"}


def test_plain_jobs_are_untouched(slurm):
    tasks, proc = slurm.reports("-N2", "-n4")
    assert proc.stderr == ""
    for t in tasks:
        assert t["env"] == {}, "a job without --pmp-* options got pmp variables"


def test_sbatch_option_reaches_the_batch_script_and_its_steps(slurm):
    script = slurm.tmp_path / "job.sh"
    script.write_text(textwrap.dedent(f"""\
        #!/bin/bash
        #SBATCH -N2 -n3
        #SBATCH --pmp-workers=3
        echo "batch PMP_WORKERS=$PMP_WORKERS PMP_THREADS_PER_CORE=$PMP_THREADS_PER_CORE"
        srun -n1 {PYTHON} {REPORT}
        """))
    proc = slurm.run("sbatch", "--wait", "-o", "out.txt", script)
    assert proc.returncode == 0, proc.stderr
    out = (slurm.tmp_path / "out.txt").read_text()
    assert "batch PMP_WORKERS=3 PMP_THREADS_PER_CORE=1" in out
    assert '"PMP_WORKERS": "3"' in out
    # #SBATCH options give the script's steps the variables, not a controller's shape
    assert '"PMP_ROLE": "inherited"' in out


def test_plain_batch_job_is_untouched(slurm):
    proc = slurm.run("sbatch", "--wait", "-o", "out.txt", "--wrap", "env")
    assert proc.returncode == 0, proc.stderr
    out = (slurm.tmp_path / "out.txt").read_text()
    assert "PMP_" not in out
    assert "OMP_NUM_THREADS" not in out


def test_salloc_shell_sees_the_options(slurm):
    proc = slurm.run("salloc", "-n2", "--pmp-workers=2", "printenv", "PMP_WORKERS")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "2"
