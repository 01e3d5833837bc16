"""Fault injection on the real cluster, Slurm backend: dead workers, cancelled steps,
exiting functions, a dead controller, a hostile peer. Each test records how long the
fault took to be resolved (printed at the end of the run)."""
import ast
import subprocess
import textwrap
import time

import pytest

from conftest import PYTHON

ALLOC = ["-N2", "-n4"]
HEADER = textwrap.dedent("""\
    import os, signal, subprocess, sys, time
    import pmp

    def node():
        return os.environ.get("SLURMD_NODENAME")

    def timed(future):
        start = time.monotonic()
        try:
            future.result(timeout=60)
            outcome = "no error"
        except BaseException as e:
            outcome = f"{type(e).__name__}: {e}"
        return outcome, round(time.monotonic() - start, 2)
    """)


def run(slurm, body, srun=("--pmp-workers=2",)):
    proc, left = slurm.in_allocation(ALLOC, HEADER + textwrap.dedent(body), *srun)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert left == [], f"steps left: {left}"
    lines = [line for line in proc.stdout.splitlines() if line and not line.startswith("STEPS:")]
    return ast.literal_eval(lines[-1])


def test_worker_killed_mid_task(slurm, fault_times):
    (outcome, seconds), after = run(slurm, """\
        with pmp.Executor(max_workers=2, block_allocation=True) as exe:
            exe.submit(node).result()
            lost = timed(exe.submit(lambda: os.kill(os.getpid(), signal.SIGKILL)))
            after = [f.result(timeout=60) for f in [exe.submit(node) for _ in range(4)]]
        print((lost, after))
        """)
    fault_times["worker SIGKILL mid-task -> WorkerLost"] = seconds
    assert outcome.startswith("WorkerLost: pmp: worker "), outcome
    assert " on node" in outcome and "SIGKILL" in outcome
    assert seconds < 10
    assert len(after) == 4 and set(after) <= {"node1", "node2"}  # replaced; usable


def test_worker_step_cancelled(slurm, fault_times):
    (outcome, seconds), after = run(slurm, """\
        def cancel_my_step():
            step = f"{os.environ['SLURM_JOB_ID']}.{os.environ['SLURM_STEP_ID']}"
            subprocess.run(["scancel", step], check=True)
            time.sleep(60)
        with pmp.Executor(max_workers=2, block_allocation=True) as exe:
            lost = timed(exe.submit(cancel_my_step))
            after = exe.submit(sum, [1, 1]).result(timeout=60)
        print((lost, after))
        """)
    fault_times["worker step scancel -> WorkerLost"] = seconds
    assert outcome.startswith("WorkerLost: pmp: worker "), outcome
    assert seconds < 15
    assert after == 2


def test_function_calling_os_exit(slurm, fault_times):
    (outcome, seconds), after = run(slurm, """\
        with pmp.Executor(max_workers=1, block_allocation=True) as exe:
            lost = timed(exe.submit(os._exit, 3))
            after = exe.submit(sum, [1, 2]).result(timeout=60)
        print((lost, after))
        """, srun=("--pmp-workers=1",))
    fault_times["os._exit(3) in a task -> WorkerLost"] = seconds
    assert outcome.startswith("WorkerLost: ") and "status 3" in outcome, outcome
    assert after == 3


def test_function_calling_sys_exit(slurm, fault_times):
    (outcome, seconds), after = run(slurm, """\
        with pmp.Executor(max_workers=1, block_allocation=True) as exe:
            failed = timed(exe.submit(sys.exit, 2))
            after = exe.submit(sum, [2, 2]).result(timeout=60)
        print((failed, after))
        """, srun=("--pmp-workers=1",))
    fault_times["sys.exit(2) in a task -> SystemExit"] = seconds
    assert outcome == "SystemExit: 2", outcome  # as with ProcessPoolExecutor; the worker lives on
    assert after == 4


def test_mpi_function_raising_on_one_rank(slurm, fault_times):
    (outcome, seconds), after = run(slurm, """\
        def fail_on_rank_1():
            from mpi4py import MPI
            if MPI.COMM_WORLD.Get_rank() == 1:
                raise ValueError("rank 1 fails")
            return "ok"
        with pmp.Executor(max_cores=2, cores_per_worker=2, block_allocation=True) as exe:
            failed = timed(exe.submit(fail_on_rank_1))
            after = exe.submit(lambda: 5).result(timeout=60)
        print((failed, after))
        """)
    fault_times["MPI function raising on one rank -> its exception"] = seconds
    assert outcome == "ValueError: rank 1 fails", outcome
    assert after == [5, 5]


def test_controller_killed_leaves_no_worker_and_no_step(slurm, fault_times):
    script = slurm.tmp_path / "victim.py"
    script.write_text(textwrap.dedent("""\
        import os, time, pmp
        exe = pmp.Executor(max_workers=2, block_allocation=True)
        futures = [exe.submit(time.sleep, 120) for _ in range(2)]
        time.sleep(3)  # let the workers start their tasks
        print("ready", flush=True)
        os.kill(os.getpid(), 9)
        """))
    shell = textwrap.dedent(f"""\
        srun --pmp-workers=2 {PYTHON} {script}
        start=$(date +%s.%N)
        for i in $(seq 300); do
          left=$(squeue --steps -h -j $SLURM_JOB_ID -o %i)
          [ -z "$left" ] && break
          sleep 0.1
        done
        echo "GONE_AFTER $(echo "$(date +%s.%N) - $start" | bc) LEFT:$left"
        """)
    proc = slurm.run("salloc", *ALLOC, "bash", "-c", shell, timeout=120)
    assert "ready" in proc.stdout, proc.stderr
    line = [x for x in proc.stdout.splitlines() if x.startswith("GONE_AFTER")][0]
    seconds, left = float(line.split()[1]), line.split("LEFT:")[1]
    fault_times["controller SIGKILL -> every worker step gone"] = seconds
    assert left == "", f"steps left 30 s after the controller died: {left}"
    assert seconds < 15


def test_hostile_peer_on_the_endpoint(slurm, fault_times):
    result = run(slurm, """\
        import pickle, zmq
        MARK = os.path.join(os.getcwd(), "attack-ran")
        class Evil:
            def __reduce__(self):
                return (os.system, (f"touch {MARK}",))
        with pmp.Executor(max_workers=2, block_allocation=True) as exe:
            exe.submit(sum, [1]).result()
            endpoint = exe._core.endpoint
            replies = []
            start = time.monotonic()
            for kind in (zmq.DEALER, zmq.REQ, zmq.PUSH, zmq.PAIR):
                ctx = zmq.Context()
                s = ctx.socket(kind)
                s.setsockopt(zmq.LINGER, 0)
                if kind == zmq.DEALER:
                    s.setsockopt(zmq.ROUTING_ID, b"w\\x00\\x00\\x00\\x00")  # poses as worker 0
                s.connect(endpoint)
                head = b"PMP1" + bytes([5, 0, 0, 0]) + (1).to_bytes(8, "little")
                try:
                    s.send_multipart([head, pickle.dumps(Evil())], zmq.NOBLOCK)
                except zmq.ZMQError:
                    pass
                replies.append(s.poll(1000))
                s.close()
                ctx.term()
            still = exe.submit(sum, [2, 2]).result(timeout=60)
        print((endpoint.split(":")[0], replies, os.path.exists(MARK), still, round(time.monotonic() - start, 2)))
        """)
    scheme, replies, ran, still, seconds = result
    fault_times["hostile peers (4 socket types) -> ignored"] = seconds
    assert scheme == "tcp"  # the Slurm backend's TCP endpoint, token-checked
    assert replies == [0, 0, 0, 0]
    assert ran is False
    assert still == 4


NODE_DEATH = textwrap.dedent("""\
    import faulthandler, os, time
    from concurrent.futures import wait
    import pmp

    def hold(i):
        node = os.environ["SLURMD_NODENAME"]
        if node == "node2":
            print("RUNNING on", node, flush=True)  # to srun's stdout: the test's cue
            time.sleep(600)
        return node

    with pmp.Executor(max_workers=4, block_allocation=True) as exe:
        assert exe.wait_for_workers(timeout=120)
        futures = [exe.submit(hold, i) for i in range(4)]  # one per worker: two on each node
        done, _ = wait(futures, timeout=120)
        outcomes = []
        for f in futures:
            e = f.exception() if f in done else TimeoutError("still running")
            outcomes.append(f"{type(e).__name__}: {e}" if e else f.result())
        print("LOST", flush=True)
        # Should what follows hang, every thread's stack goes to stderr (the test shows it).
        faulthandler.dump_traceback_later(100, exit=True)
        after = [f.result(timeout=120) for f in [exe.submit(abs, -i) for i in range(4)]]
    print("RESULT", repr((outcomes, after)), flush=True)
    """)


@pytest.mark.parametrize("fault", ["crash", "freeze"])
def test_node_death_fails_its_tasks_and_the_executor_goes_on(slurm, fault_times, cluster_node, fault):
    """node2 dies: crash (its slurmd, slurmstepd and worker tasks all killed at once: the
    kernel closes their connections) or freeze (all of them stopped: silence, as when a node
    hangs or its network goes, found by ZMTP heartbeats). The tasks its workers were running
    fail with WorkerLost, the rest ran on node1, the executor stays usable."""
    cluster_node("start")  # both nodes up and ready, also right after the other case
    script = slurm.tmp_path / "node_death.py"
    script.write_text(NODE_DEATH)
    proc = subprocess.Popen(["timeout", "300", "salloc", *ALLOC, "srun", "--pmp-workers=4", PYTHON, str(script)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=slurm.env,
                            cwd=slurm.tmp_path)
    crashed = lost = None
    lines = []
    try:
        for line in proc.stdout:  # blocking reads: the script's own output paces the test
            lines.append(line)
            if crashed is None and "RUNNING on node2" in line:
                cluster_node(fault, "node2")
                crashed = time.monotonic()
            elif crashed is not None and line.startswith("LOST"):
                lost = time.monotonic()
        stderr = proc.stderr.read()
        proc.wait()
    finally:
        if crashed is not None:
            if fault == "freeze":
                cluster_node("crash", "node2")
            cluster_node("start")  # node2 back for the tests after this one
    assert crashed is not None, "".join(lines) + stderr
    assert lost is not None, "".join(lines) + stderr
    fault_times[f"node {fault} (slurmd, steps, tasks) -> WorkerLost"] = round(lost - crashed, 2)
    result = [line for line in lines if line.startswith("RESULT")]
    assert result, "".join(lines) + stderr
    outcomes, after = ast.literal_eval(result[0][len("RESULT "):])
    lost_tasks = [o for o in outcomes if o != "node1"]
    assert lost_tasks and all(o.startswith("WorkerLost: pmp: worker ") and "node2" in o for o in lost_tasks), outcomes
    assert "node1" in outcomes  # the tasks not on the dead node ran
    assert after == [0, 1, 2, 3]
    assert lost - crashed < 15
