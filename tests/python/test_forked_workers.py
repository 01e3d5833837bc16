"""The local backend's serial workers are forked by a fork server (one `python -m
pmp.worker` per executor and resources, started with the second worker of its kind; the
first is started): fresh processes, children of the controller as started ones are, that
skip Python's start. MPI workers and PMP_FORK=0 are started as before, and a fork server
that dies leaves workers starting without it."""
import os
import random
import signal
import sys

import pmp
from pmp import _backends

from _pmp_testing import pmp_fork_servers, pmp_worker_children


def was_forked(pid):
    """Whether process pid was forked by a fork server: its process image's environment,
    which a fork keeps, names PMP_FORK_FD (its os.environ must not)."""
    with open(f"/proc/{pid}/environ", "rb") as f:
        return b"\0PMP_FORK_FD=" in b"\0" + f.read()


def whoami(_=None):
    """This worker: pid, parent, PMP_WORKER_ID, and whether it was forked by a fork server
    (its process image's environment, which a fork keeps, names PMP_FORK_FD; its
    os.environ must not)."""
    return os.getpid(), os.getppid(), os.environ.get("PMP_WORKER_ID"), was_forked("self"), "PMP_FORK_FD" in os.environ


def process_name(_=None):
    with open("/proc/self/comm") as f:
        return f.read().strip()


def set_and_get_global(value):
    """A module global set by one task: a fresh worker never sees another task's."""
    seen = globals().get("_leftover")
    globals()["_leftover"] = value
    return seen, random.random()


def fork_servers():
    """Pids of this process's fork servers, not counting zombies."""
    out = []
    for pid in pmp_fork_servers():
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    out.append(pid)
        except OSError:
            pass  # gone meanwhile
    return out


def test_per_task_workers_are_forked_children_of_the_controller():
    with pmp.Executor(max_workers=2, backend="local") as ex:
        seen = list(ex.map(whoami, range(6)))
        servers = fork_servers()
        # The server's name (what ps shows) is its own: a worker has its program's back.
        assert ex.submit(process_name).result() == os.path.basename(sys.executable)[:15]
    pids = [pid for pid, *_ in seen]
    assert len(set(pids)) == 6  # a fresh process per task
    # The kind's first worker is started (a kind of one task needs no server), the rest forked.
    assert [forked for _, _, _, forked, _ in seen] == [False] + [True] * 5
    for pid, ppid, worker_id, forked, fd_in_environ in seen:
        assert ppid == os.getpid()  # the controller's child, as a started worker is
        assert not fd_in_environ
        assert worker_id is not None and worker_id.isdigit()
    assert len({w for *_, w, _, _ in seen}) == 6
    # One fork server for the executor's one kind of worker, not among the workers; gone
    # (reaped, not a zombie) once the executor is.
    assert len(servers) == 1 and servers[0] not in pids
    assert not os.path.exists(f"/proc/{servers[0]}")


def test_long_lived_workers_are_forked():
    with pmp.Executor(max_workers=3, block_allocation=True, backend="local") as ex:
        assert ex.wait_for_workers(timeout=60)
        workers = pmp_worker_children()  # this process's children, not its fork server
        assert ex.submit(whoami).result()[0] in workers
        assert sorted(was_forked(pid) for pid in workers) == [False, True, True]


def test_forked_workers_start_fresh():
    """Nothing of one task's process reaches the next, and random streams differ (Python
    reseeds random in a fork's child)."""
    with pmp.Executor(max_workers=1, backend="local") as ex:
        first = ex.submit(set_and_get_global, 1).result()
        second = ex.submit(set_and_get_global, 2).result()
    assert first[0] is None and second[0] is None
    assert first[1] != second[1]


def test_PMP_FORK_0_starts_each_worker(monkeypatch):
    monkeypatch.setenv("PMP_FORK", "0")
    with pmp.Executor(max_workers=2, backend="local") as ex:
        seen = list(ex.map(whoami, range(3)))
        assert not fork_servers()
    assert all(ppid == os.getpid() and not forked for _, ppid, _, forked, _ in seen)


def test_mpi_workers_are_not_forked():
    """mpiexec starts an MPI worker's ranks: nothing to fork."""
    backend = _backends.LocalBackend()
    backend.mpiexec = "/usr/bin/mpiexec"  # no lookup: only the arguments are asked for
    assert backend.spec_args(_backends.Resources(cores=2))[4] is False
    assert backend.spec_args(_backends.Resources(extra_args=("--bind-to", "none")))[4] is False
    assert backend.spec_args(_backends.Resources())[4] is True


def test_a_killed_fork_server_leaves_the_executor_working():
    with pmp.Executor(max_workers=2, backend="local") as ex:
        assert [ex.submit(whoami).result()[3] for _ in range(2)] == [False, True]
        servers = fork_servers()
        assert len(servers) == 1
        os.kill(servers[0], signal.SIGKILL)
        seen = list(ex.map(whoami, range(4)))
    # Started as usual once the server is found gone; every task ran.
    assert len(seen) == 4 and not any(forked for _, _, _, forked, _ in seen)
    assert not os.path.exists(f"/proc/{servers[0]}")  # reaped


def test_fork_servers_are_bounded(tmp_path):
    """Each kind of worker (here: six working directories) used more than once has a
    fork server, and only the 4 used last are kept: an idle Python process each."""
    dirs = [tmp_path / f"d{i}" for i in range(6)]
    for d in dirs:
        d.mkdir()
    with pmp.Executor(max_workers=1, backend="local") as ex:
        once = ex.submit(whoami, resource_dict={"cwd": str(dirs[0])}).result()
        assert not once[3] and not fork_servers()  # a kind used once: started, no server
        for d in dirs:
            forked = [ex.submit(whoami, resource_dict={"cwd": str(d)}).result()[3] for _ in range(2)]
            assert forked == ([True, True] if d == dirs[0] else [False, True])
        assert len(fork_servers()) == 4
        # the kind used first had its server stopped: it starts a worker, then a new server
        forked = [ex.submit(whoami, resource_dict={"cwd": str(dirs[0])}).result()[3] for _ in range(2)]
        assert forked == [False, True]
        assert len(fork_servers()) == 4


def has_cloudpickle(_=None):
    return "cloudpickle" in sys.modules


def test_the_fork_server_loads_cloudpickle_once_for_its_workers():
    """What unpickles functions of __main__ is loaded by the server after its first fork
    (off the first result's way), for every worker after it: the first worker is started,
    the second is the server's first fork."""
    with pmp.Executor(max_workers=1, backend="local") as ex:
        assert [ex.submit(has_cloudpickle).result() for _ in range(4)] == [False, False, True, True]
