"""Static mode across both nodes: srun -N2 -n3 --mpi=pmix --pmp-static python script.py."""
import ast
import textwrap

from conftest import PYTHON

SCRIPT = textwrap.dedent("""\
    import os, time
    import pmp

    def where(i):
        time.sleep(0.3)  # so that both workers get tasks
        return os.environ["SLURMD_NODENAME"]

    main = os.environ.get("PMP_MAIN")
    with pmp.MPIExecutor() as exe:
        exe.workers_exit()
        nodes = sorted(set(exe.map(where, range(6))))
        print("RESULT", repr(("main", main, os.environ["SLURMD_NODENAME"], nodes)), flush=True)
    print("RESULT", repr(("after", main)), flush=True)
    """)


def test_static_mode_over_two_nodes(slurm):
    script = slurm.tmp_path / "static.py"
    script.write_text(SCRIPT)
    proc = slurm.run("srun", "-N2", "-n3", "--mpi=pmix", "--pmp-static", PYTHON, script)
    assert proc.returncode == 0, proc.stderr
    lines = [ast.literal_eval(line[len("RESULT "):]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    main = [line for line in lines if line[0] == "main"]
    assert len(main) == 1
    _, marked_main, node, nodes = main[0]
    assert marked_main == "1"  # the plugin marks task 0, the one that submits
    assert nodes == ["node1", "node2"]
    assert sorted(line[1] for line in lines if line[0] == "after") == ["0", "0", "1"]


def test_static_mode_without_mpi_says_what_to_add(slurm):
    script = slurm.tmp_path / "static.py"
    script.write_text(SCRIPT)
    proc = slurm.run("srun", "-N2", "-n3", "--pmp-static", PYTHON, script)
    assert proc.returncode != 0
    assert "pmp: the tasks of a static step find task 0 over MPI" in proc.stderr
    assert "add --mpi=pmix" in proc.stderr
