"""Static mode across both nodes: srun -N2 -n3 --pmp-static python script.py, where the
plugin connects the tasks (with or without MPI in the step), and MPI's own rendezvous."""
import ast
import textwrap
import time

import pytest

from conftest import PYTHON

SCRIPT = textwrap.dedent("""\
    import os, time
    import pmp

    def where(i):
        time.sleep(0.3)  # so that both workers get tasks
        return os.environ["SLURMD_NODENAME"]

    main = os.environ.get("PMP_MAIN")
    comm = None
    if os.environ.get("USE_MPI_COMM"):
        from mpi4py import MPI
        comm = MPI.COMM_WORLD
    with pmp.MPIExecutor(comm) as exe:
        exe.workers_exit()
        nodes = sorted(set(exe.map(where, range(6))))
        print("RESULT", repr(("main", main, os.environ["SLURMD_NODENAME"], nodes)), flush=True)
    # the step's secret is out of the environment of what the script starts next
    print("RESULT", repr(("after", main, "PMP_SECRET" in os.environ)), flush=True)
    """)


def _check_over_two_nodes(proc):
    assert proc.returncode == 0, proc.stderr
    lines = [ast.literal_eval(line[len("RESULT "):]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    main = [line for line in lines if line[0] == "main"]
    assert len(main) == 1
    _, marked_main, node, nodes = main[0]
    assert marked_main == "1"  # the plugin marks task 0, the one that submits
    assert node == "node1"  # task 0 runs on the step's first node, where the endpoint is
    assert nodes == ["node1", "node2"]
    assert sorted(line[1:] for line in lines if line[0] == "after") == [("0", False), ("0", False), ("1", False)]


@pytest.mark.parametrize("mpi", [[], ["--mpi=pmix"]], ids=["plugin-no-mpi", "plugin-with-pmix"])
def test_static_mode_over_two_nodes(slurm, mpi):
    """The plugin gives every task the endpoint and the secret: MPI in the step or not."""
    script = slurm.tmp_path / "static.py"
    script.write_text(SCRIPT)
    _check_over_two_nodes(slurm.run("srun", "-N2", "-n3", *mpi, "--pmp-static", PYTHON, script))


def test_static_mode_over_mpi_comm_on_two_nodes(slurm):
    """A comm given: task 0 tells the others its TCP endpoint over MPI (mpiexec's way)."""
    script = slurm.tmp_path / "static.py"
    script.write_text(SCRIPT)
    proc = slurm.run("srun", "-N2", "-n3", "--mpi=pmix", "--pmp-static", PYTHON, script, env={"USE_MPI_COMM": "1"})
    _check_over_two_nodes(proc)


def test_static_step_ends_when_task_zero_fails_first(slurm):
    """Task 0 dies before it listens: the serving tasks do not wait for it forever."""
    script = slurm.tmp_path / "static.py"
    script.write_text("import os\nif os.environ['PMP_MAIN'] == '1':\n    raise SystemExit('task 0 gives up')\n" + SCRIPT)
    started = time.monotonic()
    proc = slurm.run("srun", "-N2", "-n3", "--pmp-static", PYTHON, script, timeout=60)
    print(f"task 0 failed -> step ended in {time.monotonic() - started:.2f} s")
    assert proc.returncode != 0
    assert "task 0 gives up" in proc.stderr
    assert "RESULT" not in proc.stdout


def test_static_task_zero_must_be_on_the_first_node(slurm):
    hostfile = slurm.tmp_path / "hosts"
    hostfile.write_text("node2\nnode1\nnode1\n")
    script = slurm.tmp_path / "static.py"
    script.write_text(SCRIPT)
    proc = slurm.run("srun", "-N2", "-n3", "-m", "arbitrary", "--pmp-static", PYTHON, script,
                     env={"SLURM_HOSTFILE": str(hostfile)}, timeout=60)
    assert proc.returncode != 0
    assert ("pmp: --pmp-static needs task 0 on the step's first node, node1, but it runs on node2: "
            "drop the -m/--distribution option that moved it") in proc.stderr


def test_many_tasks_without_static_says_what_to_add(slurm):
    script = slurm.tmp_path / "static.py"
    script.write_text(SCRIPT)
    proc = slurm.run("srun", "-N2", "-n3", PYTHON, script, timeout=60)
    assert proc.returncode != 0
    assert "pmp: the tasks of this srun step cannot find task 0" in proc.stderr
    assert "srun -n N --pmp-static python script.py" in proc.stderr
