"""pmp.Executor with the Slurm backend on the real two-node cluster: worker steps and
per-task steps across the allocation, started with srun and sbatch."""
import ast
import textwrap

from conftest import PYTHON, REPO

ALLOC = ["-N2", "-n4"]
HEADER = textwrap.dedent("""\
    import os, sys, time
    import pmp

    def where(i=0, pause=0.3):
        time.sleep(pause)  # so that every worker gets a task
        return os.environ.get("SLURMD_NODENAME"), os.environ.get("SLURM_STEP_ID"), os.getpid()
    """)


def last_literal(stdout):
    """The last line of the script's output, as a Python literal."""
    lines = [line for line in stdout.splitlines() if line and not line.startswith("STEPS:")]
    return ast.literal_eval(lines[-1])


def run(slurm, body, salloc=ALLOC, srun=("--pmp-workers=4",)):
    proc, left = slurm.in_allocation(salloc, HEADER + textwrap.dedent(body), *srun)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert left == [], f"steps left after the script: {left}"
    return last_literal(proc.stdout), proc


def test_block_workers_on_both_nodes(slurm):
    result, _ = run(slurm, """\
        with pmp.Executor(block_allocation=True) as exe:
            assert exe.max_workers == 4 and exe._backend.name == "slurm"
            seen = list(exe.map(where, range(8)))
        print((sorted({node for node, _, _ in seen}), len({pid for _, _, pid in seen})))
        """)
    nodes, workers = result
    assert nodes == ["node1", "node2"]
    assert workers >= 2


def test_serial_workers_can_import_mpi4py(slurm):
    """A serial task that imports mpi4py (itself, or through a library) is a one-rank MPI
    job, in both modes: Open MPI in a step without PMI would abort the worker. The step's
    SLURM_STEP_ID, hidden from MPI_Init, is there before and after."""
    result, _ = run(slurm, """\
        def size():
            before = os.environ["SLURM_STEP_ID"]
            from mpi4py import MPI
            assert os.environ["SLURM_STEP_ID"] == before
            return MPI.COMM_WORLD.Get_size()
        with pmp.Executor(max_workers=2, block_allocation=True) as exe:
            block = exe.submit(size).result()
        with pmp.Executor(max_workers=2) as exe:
            per_task = exe.submit(size).result()
        print((block, per_task))
        """)
    assert result == (1, 1)


def test_srun_entry_point_runs_the_script_once(slurm):
    proc, left = slurm.in_allocation(ALLOC, "import os\nprint('hello from task', os.environ['SLURM_PROCID'])\n",
                                     "--pmp-workers=2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("hello from task") == 1
    assert left == []


def test_mpi_worker_spans_both_nodes(slurm):
    result, _ = run(slurm, """\
        def calc(i):
            from mpi4py import MPI
            c = MPI.COMM_WORLD
            return i, c.Get_size(), c.Get_rank(), os.environ["SLURMD_NODENAME"]
        with pmp.Executor(max_cores=2, cores_per_worker=2, block_allocation=True,
                          command_line_argument_lst=["--nodes=2"]) as exe:
            print(exe.submit(calc, 3).result())
        """, srun=("--pmp-workers=1",))
    assert [r[:3] for r in result] == [(3, 2, 0), (3, 2, 1)]
    assert {r[3] for r in result} == {"node1", "node2"}


def test_per_task_steps_with_resource_dict(slurm):
    result, _ = run(slurm, """\
        def threads():
            return os.environ["OMP_NUM_THREADS"], len(os.sched_getaffinity(0)), os.environ["SLURM_STEP_ID"]
        with pmp.Executor(max_workers=4) as exe:
            steps = [f.result()[1] for f in [exe.submit(where, i, 0) for i in range(4)]]
            two = exe.submit(threads, resource_dict={"threads_per_core": 2}).result()
        print((len(set(steps)), two[:2]))
        """)
    distinct_steps, threads = result
    assert distinct_steps == 4  # a fresh step per task
    assert threads == ("2", 2)


def test_oversubscribed_workers_share_their_nodes_cpus(slurm):
    """More workers than CPUs: each worker step may run on every CPU of its node, and the
    kernel balances them. Every one-task step was task 0 of its step, and so each worker
    was bound to its node's first CPU, all of them to one CPU of this host."""
    result, _ = run(slurm, """\
        def cpus(i):
            time.sleep(0.2)  # so that every worker gets a task
            return (os.environ["SLURMD_NODENAME"], sorted(os.sched_getaffinity(0)), os.environ["PMP_CPUS"],
                    os.getpid())
        with pmp.Executor(block_allocation=True) as exe:
            assert exe.max_workers == 8
            exe.wait_for_workers()
            seen = list(exe.map(cpus, range(16)))
        print((sorted({(node, tuple(c), listed) for node, c, listed, _ in seen}), len({s[3] for s in seen})))
        """, srun=("--pmp-workers=8", "--pmp-oversubscribe"))
    bindings, workers = result
    assert bindings == [("node1", (0, 1), "0-1"), ("node2", (0, 1), "0-1")]
    assert workers == 8


def test_oversubscribed_worker_steps_run_under_sched_batch(slurm):
    """Every thread of an oversubscribed worker step (block or per task), which shares CPUs
    with other steps, runs under SCHED_BATCH (see tests/python/test_sched.py); a bound
    worker step, on CPUs of its own, and the script keep the default policy."""
    result, _ = run(slurm, """\
        def policies(i):
            out = set()
            tids = os.listdir("/proc/self/task")
            for tid in tids:
                with open(f"/proc/self/task/{tid}/stat") as f:
                    out.add(int(f.read().rsplit(")", 1)[1].split()[38]))
            return sorted(out), len(tids), os.environ["SLURMD_NODENAME"]
        seen = {}
        for over in (True, False):
            with pmp.Executor(max_workers=4, block_allocation=True, oversubscribe=over) as exe:
                exe.wait_for_workers()
                block = list(exe.map(policies, range(8)))
            with pmp.Executor(max_workers=2, oversubscribe=over) as exe:
                per_task = list(exe.map(policies, range(2)))
            seen[over] = ([p for p, _, _ in block + per_task], min(n for _, n, _ in block + per_task),
                          sorted({node for _, _, node in block}))
        print((seen, os.sched_getscheduler(0)))
        """)
    seen, own = result
    assert seen[True] == ([[3]] * 10, seen[True][1], ["node1", "node2"])  # os.SCHED_BATCH
    assert seen[False] == ([[0]] * 10, seen[False][1], ["node1", "node2"])  # os.SCHED_OTHER
    assert seen[True][1] >= 3 and seen[False][1] >= 3 and own == 0


def test_extra_srun_arguments_are_passed(slurm):
    result, _ = run(slurm, """\
        with pmp.Executor(max_workers=1, block_allocation=True,
                          command_line_argument_lst=["--distribution=cyclic"]) as exe:
            print(repr(exe.submit(lambda: os.environ.get("SLURM_DISTRIBUTION")).result()))
        """)
    assert result == "cyclic"


def test_asking_for_more_than_the_allocation_is_a_value_error(slurm):
    result, _ = run(slurm, """\
        errors = []
        for kwargs in ({"max_workers": 8, "block_allocation": True}, {"max_workers": 1, "gpus_per_worker": 1}):
            try:
                pmp.Executor(**kwargs)
            except ValueError as e:
                errors.append(str(e))
        with pmp.Executor(max_workers=2) as exe:
            try:
                exe.submit(where, resource_dict={"cores": 8})
            except ValueError as e:
                errors.append(str(e))
        print(errors)
        """, srun=("--pmp-workers=2",))
    assert len(result) == 3
    assert "8 workers x 1 cores x 1 threads per core need 8 CPUs but job" in result[0] and "has 4" in result[0]
    assert "need 1 GPUs but job" in result[1] and "has 0" in result[1]
    assert "asks for 8 cores but the executor has 2" in result[2]


def test_no_step_left_after_an_exception_in_the_script(slurm):
    proc, left = slurm.in_allocation(ALLOC, HEADER + textwrap.dedent("""\
        exe = pmp.Executor(max_workers=2, block_allocation=True)
        exe.submit(where).result()
        raise RuntimeError("the script fails")
        """), "--pmp-workers=2")
    assert proc.returncode != 0
    assert "RuntimeError: the script fails" in proc.stderr
    assert left == []


def test_hostname_localhost(slurm):
    result, _ = run(slurm, """\
        with pmp.Executor(max_workers=2, hostname_localhost=True, block_allocation=True) as exe:
            print(exe.submit(sum, [1, 1]).result())
        """)
    assert result == 2


def test_outside_an_allocation_srun_says_what_to_add(slurm):
    script = slurm.tmp_path / "script.py"
    script.write_text("print('ran')\n")
    proc = slurm.run("srun", "--pmp-workers=2", PYTHON, script)
    assert proc.returncode != 0
    assert "ran" not in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if line.startswith("pmp: ")]
    assert len(lines) == 1 and "add -n 2 to srun" in lines[0], proc.stderr


def test_outside_an_allocation_with_n(slurm):
    script = slurm.tmp_path / "script.py"
    script.write_text(HEADER + textwrap.dedent("""\
        with pmp.Executor(block_allocation=True) as exe:
            print((sorted({n for n, _, _ in exe.map(where, range(4))}), exe.max_workers))
        """))
    proc = slurm.run("srun", "-N2", "-n2", "--pmp-workers=2", PYTHON, script)
    assert proc.returncode == 0, proc.stderr
    assert last_literal(proc.stdout) == (["node1", "node2"], 2)


def test_sbatch_entry_point(slurm):
    proc = slurm.run("sbatch", "--wait", "-o", "out.txt", REPO / "examples" / "slurm_batch.sh",
                     env={"PYTHON": PYTHON})
    assert proc.returncode == 0, proc.stderr
    out = (slurm.tmp_path / "out.txt").read_text()
    assert "workers 3 nodes ['node1', 'node2']" in out, out
