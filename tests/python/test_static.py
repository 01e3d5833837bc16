"""Static mode under mpiexec: every rank runs the script, rank 0 is the main one."""
import ast
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""\
    import os, sys, time
    import pmp

    def report(*what):
        # one file per rank and line: mpiexec interleaves the ranks' stdout
        with open(os.path.join(sys.argv[1], f"{what[0]}-{os.getpid()}"), "w") as f:
            f.write(repr(what))

    def where(i):
        time.sleep(0.2)  # so that both workers get tasks
        return i * i, os.getpid()

    with pmp.MPIExecutor() as exe:
        exe.workers_exit()
        assert exe.is_main()
        results = list(exe.map(where, range(8)))
        batch = exe.submit_batch(where, iter(range(3)))
        report("main", [r for r, _ in results], len({p for _, p in results}), [f.result()[0] for f in batch])
    report("after", os.getpid())
    with pmp.MPIPool() as pool:
        pool.workers_exit()
        report("pool", pool.map(abs, [-1, -2, -3]), pool.is_main())
    """)


def run(tmp_path, n):
    script = tmp_path / "static_script.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = tmp_path / "reports"
    out.mkdir()
    proc = subprocess.run(["mpiexec", "-n", str(n), "--oversubscribe", sys.executable, str(script), str(out)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [ast.literal_eval(p.read_text()) for p in sorted(out.iterdir())]


def test_three_ranks_under_mpiexec(tmp_path):
    lines = run(tmp_path, 3)
    main = [line for line in lines if line[0] == "main"]
    assert main == [("main", [i * i for i in range(8)], 2, [0, 1, 4])]  # both workers served
    assert len([line for line in lines if line[0] == "after"]) == 3  # every rank goes on after the with block
    assert [line for line in lines if line[0] == "pool"] == [("pool", [1, 2, 3], True)]


def test_one_rank_is_refused(tmp_path):
    script = tmp_path / "alone.py"
    script.write_text("import pmp\npmp.MPIExecutor()\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)))
    assert proc.returncode != 0
    assert "pmp: static mode needs at least 2 tasks" in proc.stderr
