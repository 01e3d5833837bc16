"""Worker output, labelled: every line a worker writes to its stdout or stderr reaches the
user as `[worker 3, task 17] line` (or `[worker 3]` outside a task).

It works on file descriptors, not on sys.stdout: fds 1 and 2 of the worker become pipes,
so output of C extensions and of subprocesses is labelled too. A helper process, the small
C program pmp/_output_helper (pybind/output_helper/), copies the pipes to the original fds
(the controller's terminal or file locally, srun's pipes on Slurm) and labels each line
with the task running when it read it. A process rather than a thread: it copies while a
task holds the GIL in C code, and it still copies, and ends with, what a worker wrote just
before it crashed. A program started with posix_spawn rather than a fork of the worker:
a fork shares the worker's pages copy-on-write while it lives, and the worker paid a page
copy for each page it wrote after it (4-5 ms of CPU per worker start).

The running task's id is in memory shared with the helper. At the end of a task the
worker flushes Python's streams and, only if the pipes hold unread output or the helper
is busy with some (one epoll_wait and one shared-memory read, about a microsecond, when
the task printed nothing), asks the helper to finish and waits for its answer: a task's
output goes out before its result, and never under the next task's label. A serial
worker's loop does this in C (Worker.serve, pybind/_core/labels.c); begin() and end() are
for the rest (an init function, MPI workers)."""
import mmap
import os
import select
import sys

from . import _core

_HELPER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_output_helper")
# The shared slots (pybind/output_helper/slots.h): the running task (-1: none); whether
# the helper holds unwritten output.
_TASK, _BUSY = 0, 1


class Labeller:
    def __init__(self, name):
        for stream in (sys.stdout, sys.stderr):
            _core.flush(stream)
        opened = []  # closed again if the helper does not start

        def new(fd):
            opened.append(fd)
            return fd

        try:
            shared = new(os.memfd_create("pmp-output", os.MFD_CLOEXEC))
            os.ftruncate(shared, 16)
            self._shared = mmap.mmap(shared, 16)  # MAP_SHARED: one copy for worker and helper
            self._slots = memoryview(self._shared).cast("q")
            self._slots[_TASK] = -1
            pipes = [tuple(map(new, os.pipe())) for _ in range(2)]
            request_r, self._request = map(new, os.pipe())
            self._answer, answer_w = map(new, os.pipe())
            # The helper's fds (see output_helper.c): 0 requests, 1 and 2 as they are now,
            # 3 and 4 the pipes, 5 answers, 6 the shared slots; dup2'd from copies above
            # 6, so that no action overwrites the source of a later one.
            passed = {0: request_r, 3: pipes[0][0], 4: pipes[1][0], 5: answer_w, 6: shared}
            copies = [new(_dup_above(fd, 7)) for fd in passed.values()]
            actions = [(os.POSIX_SPAWN_DUP2, fd, target) for fd, target in zip(copies, passed)]
            env = {k: v for k, v in os.environ.items() if k != "PMP_SECRET"}  # the worker's alone
            pid = os.posix_spawn(_HELPER, [_HELPER, name], env, file_actions=actions)
            self._out_fds = [new(os.dup(1)), new(os.dup(2))]  # for _helper_gone; not inherited
        except BaseException:
            for fd in opened:
                os.close(fd)
            raise
        for fd in (shared, request_r, answer_w, *copies):
            os.close(fd)
        for fd, (_, w) in zip((1, 2), pipes):
            os.dup2(w, fd)  # inheritable: subprocesses write to the pipe too
            os.close(w)
        self._pipes = [r for r, _ in pipes]
        self._helper_pid = pid
        # What end() checks: output in the pipes, or the helper's death.
        self._pending = select.epoll()
        for r in self._pipes:
            self._pending.register(r, select.EPOLLIN)
        self._pidfd = os.pidfd_open(pid)
        self._pending.register(self._pidfd, select.EPOLLIN)
        # Python's stdout on a pipe is block-buffered: lines should show up while a long
        # task runs, not when the worker exits. The same for C's stdout.
        if hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(line_buffering=True)
        _line_buffer_c_stdout()

    def c_state(self):
        """What Worker.serve needs to do begin() and end() in C (pybind/_core/labels.c):
        the shared memory, the epoll's fd (kept open and the same for the Labeller's life),
        and _sync."""
        return self._shared, self._pending.fileno(), self._sync

    def begin(self, task_id):
        self._slots[_TASK] = task_id

    def end(self):
        """The task's output, to the last byte its Python code and C code wrote, goes out
        under its label before its result does; what comes until the next task is the
        worker's own. Also called after output outside tasks (start-up, init function),
        so that the next task's label does not take it."""
        _core.flush(sys.stdout)
        _core.flush(sys.stderr)
        if self._pending.poll(0) or self._slots[_BUSY]:
            self._sync()
        self._slots[_TASK] = -1

    def close(self):
        """Everything written so far goes out. The helper goes on labelling what comes
        later `[worker N]`, and ends when the worker, and the subprocesses that inherited
        its fds, are gone."""
        self.end()

    def _sync(self):
        """The helper writes out all it has (unterminated lines ended) and answers."""
        try:
            os.write(self._request, b"s")
            if os.read(self._answer, 1):
                return
        except OSError:
            pass
        self._helper_gone()

    def _helper_gone(self):
        """Killed (say, by the OOM killer): output goes, unlabelled, where it went before."""
        for r, out in zip(self._pipes, self._out_fds):
            os.set_blocking(r, False)
            try:
                while True:
                    data = os.read(r, 1 << 16)
                    if not data:
                        break
                    _write(out, data)
            except BlockingIOError:
                pass
        os.dup2(self._out_fds[0], 1)
        os.dup2(self._out_fds[1], 2)
        for fd in (*self._pipes, self._pidfd):  # nothing to watch any more; the epoll's fd
            try:                                 # stays open: Worker.serve holds its number
                self._pending.unregister(fd)
            except OSError:
                pass  # gone once before
        self._slots[_BUSY] = 0
        print(f"pmp: the output helper of this worker (pid {self._helper_pid}) is gone: its output is no "
              f"longer labelled", file=sys.stderr, flush=True)


def _write(fd, data):
    while data:
        try:
            data = data[os.write(fd, data):]
        except BlockingIOError:
            select.select([], [fd], [])  # the destination is non-blocking: wait for room
        except OSError:
            return  # the destination is gone (the controller exited): nowhere to write


def _dup_above(fd, lowest):
    """A close-on-exec copy of fd numbered lowest or above."""
    import fcntl
    return fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, lowest)


def _line_buffer_c_stdout():
    """C's stdout (printf in an extension) is block-buffered on a pipe: make it line-buffered,
    so C output shows up in order with Python's."""
    try:
        _core.line_buffer_stdout()
    except OSError:
        pass


def install(name):
    """Labels this process's output with `[name, task N]`; None where it cannot (fds 1 or
    2 closed). Call it before threads start and before MPI_Init: it moves fds 1 and 2
    under their feet."""
    try:
        os.fstat(1)
        os.fstat(2)
    except OSError:
        return None
    try:
        return Labeller(name)
    except OSError as e:  # no process or pipe to spare: the output goes unlabelled
        from . import _log
        _log.logger.getChild("worker").warning("%s: cannot label its output (%s)", name, e)
        return None
