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


def _plugin_env(rank, size, endpoint, secret, worker_id=None):
    """What the SPANK plugin and srun give a task of `srun --pmp-static` (see spank/local.c)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMP_", "SLURM_"))}
    env.update(PYTHONPATH=os.pathsep.join(p for p in sys.path if p), PMP_ROLE="static", PMP_STATIC="1",
               PMP_MAIN="1" if rank == 0 else "0", PMP_ENDPOINT=endpoint, PMP_SECRET=secret,
               SLURM_PROCID=str(rank), SLURM_STEP_NUM_TASKS=str(size))
    if worker_id is not None:
        env["PMP_WORKER_ID"] = str(worker_id)
    return env


TOKEN = "token:" + "t3t9k" * 8


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_plugin_rendezvous_without_mpi(tmp_path):
    """The tasks find each other from the plugin's variables alone: no MPI, no mpi4py import."""
    script = tmp_path / "plugin_static.py"
    script.write_text(textwrap.dedent("""\
        import os, sys
        import pmp
        with pmp.MPIExecutor() as exe:
            exe.workers_exit()
            print("MAIN", sorted(exe.map(abs, [-1, -2, -3])), "mpi4py" in sys.modules, flush=True)
        print("AFTER", os.environ["SLURM_PROCID"], "PMP_SECRET" in os.environ, flush=True)
        """))
    endpoint = f"tcp://127.0.0.1:{_free_port()}"
    procs = [subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=_plugin_env(rank, 3, endpoint, TOKEN, rank - 1 if rank else None))
             for rank in range(3)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    assert outs[0][0].splitlines()[0] == "MAIN [1, 2, 3] False"
    assert sorted(out.splitlines()[-1] for out, _ in outs) == ["AFTER 0 False", "AFTER 1 False", "AFTER 2 False"]


def test_plugin_rendezvous_port_taken_says_what_to_do(tmp_path):
    import socket
    script = tmp_path / "plugin_static.py"
    script.write_text("import pmp\npmp.MPIExecutor()\n")
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                              env=_plugin_env(0, 2, f"tcp://127.0.0.1:{port}", TOKEN))
    assert proc.returncode != 0
    assert f"pmp: task 0 cannot listen on tcp://127.0.0.1:{port}" in proc.stderr
    assert "run the step again (srun draws another port)" in proc.stderr
