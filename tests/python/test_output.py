"""Worker output reaches the user labelled `[worker W, task T] `: stdout and stderr, from
Python, from C (fd 1 directly) and from subprocesses; before the task's result; off with
label_output=False. The controller runs as a subprocess so that its real stdout and
stderr (which the workers inherit) are captured."""
import re

import pytest

from _pmp_testing import run_controller

LABEL = re.compile(r"^\[worker (\d+)(?: rank (\d+))?(?:, task (\d+))?\] (.*)$")


TALK = """
    import os, sys
    import pmp

    def talk(i):
        print(f"py {i}")
        print(f"err {i}", file=sys.stderr)
        os.write(1, f"fd {i}\\n".encode())              # what C code does: no Python buffer
        os.system(f"echo sh {i}")                        # a subprocess inherits the fds
        print(f"partial {i}", end="")                   # no newline: ended for it
        return i
"""


def labelled(text):
    """[(worker, rank, task, text)] of the labelled lines; asserts every line is labelled."""
    out = []
    for line in text.splitlines():
        m = LABEL.match(line)
        assert m, f"unlabelled worker line: {line!r}"
        worker, rank, task, rest = m.groups()
        out.append((int(worker), rank and int(rank), task and int(task), rest))
    return out


def test_every_line_names_its_worker_and_task(tmp_path):
    proc = run_controller(tmp_path, TALK + """
    with pmp.Executor(max_workers=2, block_allocation=True, backend="local") as exe:
        for i, r in enumerate(exe.map(talk, range(6))):
            assert r == i
    """)
    out, err = labelled(proc.stdout), labelled(proc.stderr)
    tasks = {}
    for worker, rank, task, text in out + err:
        kind, i = text.split()
        assert rank is None and task is not None
        tasks.setdefault(int(i), set()).add((worker, task))
    assert sorted(tasks) == list(range(6))
    assert all(len(where) == 1 for where in tasks.values()), tasks  # one label per item, on both streams
    assert len({task for where in tasks.values() for _, task in where}) == 6  # a task id each
    for i in range(6):
        assert sorted(t for _, _, _, t in out if t.endswith(f" {i}")) == [f"fd {i}", f"partial {i}", f"py {i}",
                                                                          f"sh {i}"]
        assert [t for _, _, _, t in err if t.endswith(f" {i}")] == [f"err {i}"]


def test_a_tasks_output_comes_before_its_result(tmp_path):
    proc = run_controller(tmp_path, TALK + """
    with pmp.Executor(max_workers=1, block_allocation=True, backend="local") as exe:
        for i in range(3):
            exe.submit(talk, i).result()
            print(f"result {i}", flush=True)
    """)
    lines = [line.split("] ")[-1] for line in proc.stdout.splitlines()]
    for i in range(3):
        assert lines.index(f"result {i}") > max(lines.index(f"{kind} {i}") for kind in ("py", "fd", "sh", "partial"))


def test_per_task_workers_and_init_output(tmp_path):
    proc = run_controller(tmp_path, TALK + """
    def init():
        print("loading")
        return {}

    with pmp.Executor(max_workers=1, backend="local") as exe:   # a fresh worker per task
        exe.submit(talk, 0).result()
    with pmp.Executor(max_workers=1, block_allocation=True, init_function=init, backend="local") as exe:
        exe.submit(talk, 1).result()
    """)
    out = labelled(proc.stdout)
    assert {t for _, _, task, t in out if task is not None} == {"py 0", "fd 0", "sh 0", "partial 0", "py 1",
                                                                  "fd 1", "sh 1", "partial 1"}
    assert [(task, t) for _, _, task, t in out if t == "loading"] == [(None, "loading")]  # outside any task


def test_label_output_false_leaves_output_alone(tmp_path):
    proc = run_controller(tmp_path, TALK + """
    with pmp.Executor(max_workers=1, block_allocation=True, backend="local", label_output=False) as exe:
        exe.submit(talk, 0).result()
    """)
    assert sorted(proc.stdout.split()) == ["0", "0", "0", "0", "fd", "partial", "py", "sh"]
    assert proc.stderr.strip() == "err 0"


def test_mpi_workers_name_their_rank(tmp_path):
    proc = run_controller(tmp_path, """
    import pmp

    def hello():
        from mpi4py import MPI
        print("rank", MPI.COMM_WORLD.Get_rank())

    with pmp.Executor(max_workers=1, cores_per_worker=2, block_allocation=True, backend="local") as exe:
        exe.submit(hello).result()
    """)
    out = [(rank, text) for _, rank, task, text in labelled(proc.stdout) if task is not None]
    assert sorted(out) == [(0, "rank 0"), (1, "rank 1")]


def test_a_crashing_workers_last_words_arrive(tmp_path):
    """The helper that copies output is a process of its own: it outlives the worker
    (killed by a segfault, its process group then sent SIGTERM by the controller)."""
    proc = run_controller(tmp_path, """
    import ctypes, os
    import pmp

    def crash():
        print("about to crash")
        os.write(2, b"last words")                       # unterminated, from C's side
        ctypes.string_at(0)

    with pmp.Executor(max_workers=1, block_allocation=True, backend="local") as exe:
        try:
            exe.submit(crash).result()
        except pmp.WorkerLost:
            print("lost", flush=True)
    """)
    out, err = proc.stdout.splitlines(), proc.stderr.splitlines()
    assert out == ["[worker 0, task 1] about to crash", "lost"] or out == ["lost", "[worker 0, task 1] about to crash"]
    # (under ASan, its report of the segfault follows on the same line)
    assert any(line.startswith("[worker 0, task 1] last words") for line in err), err
    assert any(line.startswith("pmp: WARNING worker 0 (pid ") for line in err)


def test_a_long_unterminated_line_goes_out_in_labelled_pieces(tmp_path):
    """Output with no newline is not held without end: each 64 KiB goes out as a line."""
    proc = run_controller(tmp_path, """
    import os
    import pmp

    def shout():
        os.write(1, b"x" * 150_000)
        os.write(1, b"y\\n")

    with pmp.Executor(max_workers=1, block_allocation=True, backend="local") as exe:
        exe.submit(shout).result()
    """)
    pieces = [text for _, _, task, text in labelled(proc.stdout) if task == 1]
    assert [len(p) for p in pieces] == [65536, 65536, 150_000 - 2 * 65536 + 1], [len(p) for p in pieces]
    assert "".join(pieces) == "x" * 150_000 + "y"


def test_output_goes_on_unlabelled_when_the_helper_is_killed(tmp_path):
    """The helper is killed (say, by the OOM killer): the worker says so once, and its
    output goes, unlabelled, where it went before; the executor stays usable."""
    proc = run_controller(tmp_path, """
    import os, signal
    import pmp

    def kill_helper():
        from _pmp_testing import child_processes
        helpers = [pid for pid, argv in child_processes().items() if argv[0].endswith("/_output_helper")]
        for pid in helpers:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        return len(helpers)

    def say(text):
        print(text)
        return text

    with pmp.Executor(max_workers=1, block_allocation=True, backend="local") as exe:
        assert exe.submit(say, "before").result() == "before"
        assert exe.submit(kill_helper).result() == 1
        assert exe.submit(say, "after").result() == "after"
        assert exe.submit(say, "and after").result() == "and after"
    """)
    assert proc.stdout.splitlines() == ["[worker 0, task 1] before", "after", "and after"], proc.stdout
    gone = [line for line in proc.stderr.splitlines() if "output helper" in line]
    assert len(gone) == 1 and gone[0].startswith("pmp: the output helper of this worker (pid "), proc.stderr


@pytest.mark.parametrize("block_allocation", [True, False])
def test_a_task_may_close_or_replace_its_streams(tmp_path, block_allocation):
    """The worker flushes Python's streams after each task and at its end: a stream the
    task closed (ValueError), replaced by something without flush() (AttributeError) or
    set to None is skipped, and the task's result still arrives. A per-task worker ends
    (pmp.worker's _exit) without a traceback, and the executor stays usable."""
    proc = run_controller(tmp_path, f"""
    import sys
    import pmp

    def close_stdout():
        print("before close")
        sys.stdout.close()
        return "closed"

    def replace_stderr():
        sys.stderr = object()
        return "replaced"

    def none_stdout():
        sys.stdout = None
        return "none"

    with pmp.Executor(max_workers=1, block_allocation={block_allocation}, backend="local") as exe:
        for fn in (close_stdout, replace_stderr, none_stdout):
            print(exe.submit(fn).result(timeout=60), flush=True)
    with pmp.Executor(max_workers=1, block_allocation={block_allocation}, backend="local") as exe:
        print(exe.submit(pow, 2, 5).result(timeout=60), flush=True)
    """)
    assert [line for line in proc.stdout.splitlines() if "] " not in line] == ["closed", "replaced", "none", "32"]
    assert "[worker 0, task 1] before close" in proc.stdout.splitlines()
    assert proc.stderr == "", proc.stderr
