"""A local worker, which shares this machine's CPUs with the script, runs under SCHED_BATCH,
all its threads (ZeroMQ's, the watchdog, the task's): woken by a message, it does not
preempt the thread that woke it (the controller, the script submitting). PMP_SCHED_BATCH=0
keeps the default policy, and a policy somebody chose for the script (chrt) is kept.
Slurm workers: tests/cluster/test_slurm_backend.py."""
import os
import threading

import pmp

from _pmp_testing import run_controller


def thread_policies(_=None):
    """{policy} of this process's threads as the kernel has them (/proc/self/task/*/stat
    field 41), with one more thread started by the task; and the worker's pid."""
    started = threading.Event()
    done = threading.Event()
    helper = threading.Thread(target=lambda: (started.set(), done.wait()))
    helper.start()
    started.wait()
    try:
        policies = set()
        tids = os.listdir("/proc/self/task")
        for tid in tids:
            with open(f"/proc/self/task/{tid}/stat") as f:
                policies.add(int(f.read().rsplit(")", 1)[1].split()[38]))
        return policies, len(tids), os.getpid()
    finally:
        done.set()
        helper.join()


def policies_of(ex, tasks):
    seen = list(ex.map(thread_policies, range(tasks)))
    assert all(threads >= 4 for _, threads, _ in seen)  # main, ZeroMQ's, watchdog, the task's
    return set().union(*(p for p, _, _ in seen)), len({pid for _, _, pid in seen})


def test_block_and_per_task_workers_run_under_sched_batch():
    # The first worker of a kind is started, the others forked by its fork server.
    with pmp.Executor(max_workers=2, block_allocation=True, backend="local") as ex:
        assert ex.wait_for_workers(timeout=60)
        assert policies_of(ex, 8)[0] == {os.SCHED_BATCH}
    with pmp.Executor(max_workers=2, backend="local") as ex:
        assert policies_of(ex, 3) == ({os.SCHED_BATCH}, 3)
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the script's own is not touched


def test_PMP_SCHED_BATCH_0_keeps_the_default_policy(monkeypatch):
    monkeypatch.setenv("PMP_SCHED_BATCH", "0")
    with pmp.Executor(max_workers=2, backend="local") as ex:
        assert policies_of(ex, 3) == ({os.SCHED_OTHER}, 3)


def test_a_policy_chosen_for_the_script_is_kept(tmp_path):
    proc = run_controller(tmp_path, """\
        import os
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # as `chrt -i 0 python3 ...`
        import pmp
        from test_sched import policies_of
        with pmp.Executor(max_workers=2, backend="local") as ex:
            print(policies_of(ex, 3)[0] == {os.SCHED_IDLE})
        """)
    assert proc.stdout.strip() == "True", proc.stdout + proc.stderr
