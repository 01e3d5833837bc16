"""Every program in examples/ on the local cluster, with srun and with sbatch (and the batch
script examples/slurm_batch.sh in test_slurm_backend.py), checked against the output
pympipool documents."""
import pytest

from conftest import PYTHON, REPO

EXPECTED = {
    "sum.py": "2",
    "serial.py": "[2, 4, 6, 8]",
    "map.py": "[0, 1, 4, 9, 16, 25, 36, 49]\n332833500",
    "init_function.py": "10",
    "mpi4py_function.py": "[(3, 2, 0), (3, 2, 1)]",
    "coupled_functions.py": "3 5",
    "threads_per_core.py": "('2', 2)",
    "gpu_assignment.py": "[('node1', '0'), ('node2', '0')]",
}


def test_demo(slurm):
    proc, left = slurm.in_allocation(["-N2", "-n4"], (REPO / "examples" / "demo.py").read_text(), "--pmp-workers=4")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "pmp: 4 workers, backend slurm"
    tasks = [line for line in lines if line.startswith("task ")]
    assert len(tasks) == 8
    assert any(" on node1," in t for t in tasks) and any(" on node2," in t for t in tasks)
    assert left == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_with_srun(slurm, name):
    example = (REPO / "examples" / name).read_text()
    proc, left = slurm.in_allocation(["-N2", "-n4", "--gres=gpu:2"], example, "--pmp-workers=2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    output = "\n".join(line for line in proc.stdout.splitlines() if not line.startswith("STEPS:"))
    assert output == EXPECTED[name]
    assert left == []


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_with_sbatch(slurm, name):
    """The script in the batch step (plain python, as in a batch script), #SBATCH-style
    options on sbatch's command line."""
    proc = slurm.run("sbatch", "--wait", "-N2", "-n4", "--gres=gpu:2", "--pmp-workers=2", "-o", "out.txt",
                     "-e", "err.txt", "--wrap", f"{PYTHON} {REPO / 'examples' / name}")
    err = (slurm.tmp_path / "err.txt").read_text()
    assert proc.returncode == 0, proc.stderr + err
    assert (slurm.tmp_path / "out.txt").read_text().strip() == EXPECTED[name], err


def test_every_example_is_tested():
    programs = {p.name for p in (REPO / "examples").glob("*.py")} - {"task_info.py", "demo.py"}
    assert programs == set(EXPECTED)
