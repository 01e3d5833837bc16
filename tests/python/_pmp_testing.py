"""Helpers shared by the pmp test modules.

This module is imported by the tests *and* by pmp workers (tasks refer to its functions
by reference), so it must import nothing that a worker lacks: no pytest, no pmp."""
import os
import socket
import subprocess
import sys
import textwrap
import weakref

#: Upper bound for any blocking wait in the tests: a safety net against hangs, never a
#: timing assertion.
TIMEOUT = 60

#: Bound for waits that only succeed if tasks run *concurrently*: long enough for slow
#: worker start-up (MPI workers on a loaded 2-CPU machine), short enough that a failure
#: (tasks serialised on one worker) does not stall the suite.
CONCURRENCY_TIMEOUT = 20


# ---------------------------------------------------------------- processes, threads

def run_controller(tmp_path, body, env=None):
    """Runs body (dedented) as a script in a Python process of its own, whose real stdout
    and stderr, inherited by its workers, are captured; asserts it exits 0."""
    script = tmp_path / "controller.py"
    script.write_text(textwrap.dedent(body))
    full_env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), **(env or {}))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=TIMEOUT,
                          env=full_env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def os_threads():
    """{tid: name} of this process's threads as the kernel sees them (not only Python's)."""
    out = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/comm") as f:
                out[int(tid)] = f.read().strip()
        except OSError:
            pass  # ended meanwhile
    return out


def child_processes(pid=None):
    """{pid: argv} of the live direct children of pid (default: this process), read from
    /proc (psutil is not available). Zombies count: they are not reaped yet."""
    pid = os.getpid() if pid is None else pid
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
        except OSError:
            continue  # gone meanwhile
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out[int(entry)] = argv
    return out


def is_pmp_worker(argv):
    """A serial worker (python -m pmp.worker), not an mpiexec wrapping one."""
    return "pmp.worker" in argv and not any(os.path.basename(a) in ("mpiexec", "mpirun") for a in argv)


def is_mpiexec(argv):
    return bool(argv) and os.path.basename(argv[0]) in ("mpiexec", "mpirun", "orterun", "prterun")


def is_fork_server(pid):
    """A local executor's fork server (see pmp_serve_forks), which names itself so."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip() == "pmp-forkserver"
    except OSError:
        return False


def pmp_worker_children():
    """{pid: argv} of this process's children that are pmp workers (serial or mpiexec),
    not fork servers."""
    return {pid: argv for pid, argv in child_processes().items() if "pmp.worker" in argv and not is_fork_server(pid)}


def pmp_fork_servers():
    """{pid: argv} of this process's children that are fork servers."""
    return {pid: argv for pid, argv in child_processes().items() if "pmp.worker" in argv and is_fork_server(pid)}


# ---------------------------------------------------------------- a gate for tasks

class Gate:
    """Synchronises the test with tasks running in other processes, without sleeps.

    A task calling gated(gate.address, value) connects to the gate (the test learns that
    the task *runs*: wait_started), then blocks until the test calls release() (or leaves
    the with block), and returns value. A task reaching a released gate returns at once.

    Use it inside the executor's with block (`with Executor() as exe, Gate() as gate:`)
    so that a failing test releases the tasks before the executor waits for them."""

    def __init__(self):
        self._server = socket.create_server(("127.0.0.1", 0), backlog=64)
        self._server.settimeout(TIMEOUT)
        self.address = self._server.getsockname()
        self._conns = []
        _gates.add(self)

    def wait_started(self, n=1, timeout=TIMEOUT):
        """Waits until n more tasks have reached the gate; socket.timeout if they do not."""
        self._server.settimeout(timeout)
        for _ in range(n):
            conn, _ = self._server.accept()
            self._conns.append(conn)
        return len(self._conns)

    def release(self):
        for conn in self._conns:
            conn.close()
        self._conns.clear()
        self._server.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


_gates = weakref.WeakSet()


def close_inherited_gates():
    """For a forked child (ProcessPoolExecutor's initializer): its copies of the gates'
    sockets would keep a released gate open, and its tasks blocked."""
    for gate in list(_gates):
        for conn in gate._conns:
            conn.close()
        gate._server.close()


def gated(address, value=None):
    """A task: reports to the gate at address that it runs, waits for its release."""
    try:
        sock = socket.create_connection(address, timeout=TIMEOUT)
    except (ConnectionRefusedError, ConnectionResetError):
        return value  # the gate was released (closed) before this task reached it
    with sock:
        try:
            sock.recv(1)  # b"" once the test closes its end
        except ConnectionResetError:
            pass
    return value


def noop(*args, **kwargs):
    return None


def identity(x):
    return x
