"""Worker output, labelled: every line a worker writes to its stdout or stderr reaches the
user as `[worker 3, task 17] line` (or `[worker 3]` outside a task).

It works on file descriptors, not on sys.stdout: fds 1 and 2 of the worker become pipes,
so output of C extensions and of subprocesses is labelled too. A helper process, forked
when the worker starts, copies the pipes to the original fds (the controller's terminal
or file locally, srun's pipes on Slurm) and labels each line with the task running when
it read it. A process rather than a thread: it copies while a task holds the GIL in C
code, and it still copies, and ends with, what a worker wrote just before it crashed.

The running task's id is in memory shared with the helper. At the end of a task the
worker flushes Python's streams and, only if the pipes hold unread output or the helper
is busy with some (one epoll_wait and one shared-memory read, about a microsecond, when
the task printed nothing), asks the helper to finish and waits for its answer: a task's
output goes out before its result, and never under the next task's label."""
import mmap
import os
import select
import sys

import _signal  # signal's builtin core: signal.py imports enum, 1.5 ms of each worker's start

_LONGEST_LINE = 1 << 16  # an unterminated line goes out once it is this long
_TASK, _BUSY = 0, 1  # shared slots: the running task (-1: none); the helper holds unwritten output


class Labeller:
    def __init__(self, name):
        for stream in (sys.stdout, sys.stderr):
            _flush(stream)
        self._shared = mmap.mmap(-1, 16)  # anonymous, MAP_SHARED: one copy for worker and helper
        self._slots = memoryview(self._shared).cast("q")
        self._slots[_TASK] = -1
        self._out_fds = [os.dup(1), os.dup(2)]  # where lines go (not inherited by subprocesses)
        pipes = [os.pipe(), os.pipe()]
        request_r, self._request = os.pipe()
        self._answer, answer_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the helper; never returns
            for fd in (self._request, self._answer, *(w for _, w in pipes)):
                os.close(fd)
            _helper(name, self._slots, [r for r, _ in pipes], self._out_fds, request_r, answer_w)
        os.close(request_r)
        os.close(answer_w)
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

    def begin(self, task_id):
        self._slots[_TASK] = task_id

    def end(self):
        """The task's output, to the last byte its Python code and C code wrote, goes out
        under its label before its result does; what comes until the next task is the
        worker's own. Also called after output outside tasks (start-up, init function),
        so that the next task's label does not take it."""
        _flush(sys.stdout)
        _flush(sys.stderr)
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
        self._pending.close()
        self._pending = select.epoll()  # nothing to watch any more
        self._slots[_BUSY] = 0
        print(f"pmp: the output helper of this worker (pid {self._helper_pid}) is gone: its output is no "
              f"longer labelled", file=sys.stderr, flush=True)


def _helper(name, slots, pipes, out_fds, request, answer):
    """The helper process: copies the pipes, labelled, until every writer is gone. Leaves
    with os._exit: the worker's atexit handlers and buffers are not its own."""
    try:
        # Ctrl-C, and the controller's SIGTERM to the worker's process group (when the
        # worker is lost), stop the worker: the helper still copies what the worker wrote
        # last, and ends when every writer is gone (SIGKILL still ends it).
        for sig in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP):
            _signal.signal(sig, _signal.SIG_IGN)
        _Copier(name, slots, pipes, out_fds, request, answer).run()
    except BaseException as e:
        _write(out_fds[1], f"pmp: the output helper of {name} failed: {e!r}\n".encode())
    finally:
        os._exit(0)


class _Copier:
    def __init__(self, name, slots, pipes, out_fds, request, answer):
        self.name = name
        self.slots = slots
        self.streams = {r: _Stream(r, out) for r, out in zip(pipes, out_fds)}
        self.request = request
        self.answer = answer
        self.labels = {-1: f"[{name}] ".encode()}
        for r in pipes:
            os.set_blocking(r, False)

    def run(self):
        poll = select.poll()
        for fd in (*self.streams, self.request):
            poll.register(fd, select.POLLIN)
        open_pipes = len(self.streams)
        while open_pipes:
            for fd, _ in poll.poll():
                if fd == self.request:
                    if not self.sync():
                        poll.unregister(fd)  # the worker is gone: copy until its pipes end
                elif self.read(self.streams[fd]) == b"":
                    poll.unregister(fd)
                    open_pipes -= 1
        for s in self.streams.values():
            self.finish_line(s)

    def sync(self):
        """The worker's request: everything out, unterminated lines ended, then answer.
        False when the worker is gone."""
        request = os.read(self.request, 1)
        for s in self.streams.values():
            while self.read(s):
                pass
            self.finish_line(s)
        self.slots[_BUSY] = 0
        if request:
            _write(self.answer, b"a")
        return bool(request)

    def read(self, s):
        """Copies one read's worth from a pipe and returns it: None if the pipe is empty
        now, b"" at its end."""
        self.slots[_BUSY] = 1  # before reading: the worker sees output in the pipe, or here
        task = self.slots[_TASK]
        try:
            data = os.read(s.read_fd, 1 << 16)
        except BlockingIOError:
            data = None
        if data:
            self.copy_lines(s, self.label(task), data)
        self.slots[_BUSY] = int(any(x.partial for x in self.streams.values()))
        return data

    def label(self, task):
        label = self.labels.get(task)
        if label is None:
            if len(self.labels) > 64:
                self.labels = {-1: self.labels[-1]}
            label = self.labels[task] = f"[{self.name}, task {task}] ".encode()
        return label

    def copy_lines(self, s, label, data):
        if s.partial and s.partial_label != label:
            self.finish_line(s)
        data = s.partial + data
        s.partial_label = label
        end = data.rfind(b"\n") + 1
        s.partial = data[end:]
        if end:
            _write(s.out_fd, b"".join(label + line + b"\n" for line in data[:end - 1].split(b"\n")))
        if len(s.partial) >= _LONGEST_LINE:
            self.finish_line(s)

    def finish_line(self, s):
        """An unterminated line goes out, ended, under the label it was written under."""
        if s.partial:
            _write(s.out_fd, s.partial_label + s.partial + b"\n")
            s.partial = b""


class _Stream:
    __slots__ = ("read_fd", "out_fd", "partial", "partial_label")

    def __init__(self, read_fd, out_fd):
        self.read_fd = read_fd
        self.out_fd = out_fd
        self.partial = b""
        self.partial_label = b""


def _flush(stream):
    try:
        stream.flush()
    except (AttributeError, OSError, ValueError):
        pass  # replaced by the task, or closed: nothing of ours to flush


def _write(fd, data):
    while data:
        try:
            data = data[os.write(fd, data):]
        except BlockingIOError:
            select.select([], [fd], [])  # the destination is non-blocking: wait for room
        except OSError:
            return  # the destination is gone (the controller exited): nowhere to write


def _line_buffer_c_stdout():
    """C's stdout (printf in an extension) is block-buffered on a pipe: make it line-buffered,
    so C output shows up in order with Python's."""
    from . import _core
    try:
        _core.line_buffer_stdout()
    except OSError:
        pass


def install(name):
    """Labels this process's output with `[name, task N]`; None where it cannot (fds 1 or
    2 closed). Call it before threads start, and before MPI_Init: it forks."""
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
