"""Worker output, labelled: every line a worker writes to its stdout or stderr reaches the
user as `[worker 3, task 17] line` (or `[worker 3]` outside a task).

It works on file descriptors, not on sys.stdout: fds 1 and 2 of the worker become pipes,
so output of C extensions and of subprocesses is labelled too. A thread copies the pipes
to the original fds (the controller's terminal or file locally, srun's pipes on Slurm),
labelling complete lines with the task that was running when they were read. At the end
of each task the worker flushes Python's streams and drains what is left in the pipes
before the result goes back: a task's output comes before its result, under its own
label. Per task that is two flushes, one epoll_wait(0) and one lock: about 1.5 us."""
import os
import select
import sys
import threading

_LONGEST_LINE = 1 << 16  # an unterminated line is written out once it is this long


class _Stream:
    """One redirected fd: the pipe's read end, where its lines go, an unfinished line."""

    __slots__ = ("read_fd", "out_fd", "partial", "partial_label")

    def __init__(self, read_fd, out_fd):
        self.read_fd = read_fd
        self.out_fd = out_fd
        self.partial = b""
        self.partial_label = b""


class Labeller:
    def __init__(self, name):
        self._name = name
        self._lock = threading.Lock()
        self._task = None  # the running task's id (the last one's between tasks)
        self._labels = (None, f"[{name}] ".encode())  # (task, its label): made when output comes
        self._streams = []
        for stream in (sys.stdout, sys.stderr):
            _flush(stream)
        for fd in (1, 2):
            out_fd = os.dup(fd)  # the original destination (not inherited by subprocesses)
            read_fd, write_fd = os.pipe()
            os.dup2(write_fd, fd)  # inheritable: subprocesses write to the pipe too
            os.close(write_fd)
            os.set_blocking(read_fd, False)
            self._streams.append(_Stream(read_fd, out_fd))
        # Python's stdout on a pipe is block-buffered: lines should show up while a long
        # task runs, not when the worker exits.
        if hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(line_buffering=True)
        _line_buffer_c_stdout()
        self._pending = select.epoll()  # the task thread's (the cheapest check: no fd list per call)
        for s in self._streams:
            self._pending.register(s.read_fd, select.EPOLLIN)
        self._stop_read, self._stop_write = os.pipe()
        self._thread = threading.Thread(target=self._copy, name="pmp output", daemon=True)
        self._thread.start()

    # ---- called by the worker around each task ----

    def begin(self, task_id):
        with self._lock:  # the copying thread reads and labels under this lock
            self._task = task_id

    def end(self):
        """The task's output, to the last byte its Python code and C code wrote, goes out
        under its label before its result does."""
        _flush(sys.stdout)
        _flush(sys.stderr)
        out, err = self._streams
        if self._pending.poll(0) or out.partial or err.partial:
            with self._lock:
                self._drain()
                for s in self._streams:
                    self._finish_line(s)

    def close(self):
        """Everything written so far goes out; fds 1 and 2 are the original ones again."""
        _flush(sys.stdout)
        _flush(sys.stderr)
        with self._lock:
            self._drain()
            for i, s in enumerate(self._streams):
                self._finish_line(s)
                os.dup2(s.out_fd, (1, 2)[i])
        os.write(self._stop_write, b"x")
        self._thread.join()
        for s in self._streams:
            os.close(s.read_fd)
            os.close(s.out_fd)
        os.close(self._stop_read)
        os.close(self._stop_write)
        self._pending.close()

    # ---- the copying thread ----

    def _copy(self):
        waiting = select.poll()
        for s in self._streams:
            waiting.register(s.read_fd, select.POLLIN)
        waiting.register(self._stop_read, select.POLLIN)
        while True:
            ready = waiting.poll()  # without the GIL
            if any(fd == self._stop_read for fd, _ in ready):
                return
            with self._lock:
                for fd, event in ready:
                    if not self._drain_one(next(s for s in self._streams if s.read_fd == fd)):
                        waiting.unregister(fd)  # every writer is gone

    # ---- under the lock ----

    def _drain(self):
        for s in self._streams:
            self._drain_one(s)

    def _drain_one(self, s):
        """Copies what the pipe holds; False at its end."""
        while True:
            try:
                data = os.read(s.read_fd, 1 << 16)
            except BlockingIOError:
                return True
            if not data:
                return False
            self._copy_lines(s, data)

    def _label(self):
        task, label = self._labels
        if task != self._task:
            label = f"[{self._name}, task {self._task}] ".encode()
            self._labels = (self._task, label)
        return label

    def _copy_lines(self, s, data):
        label = self._label()
        if s.partial and s.partial_label != label:
            self._finish_line(s)
        data = s.partial + data
        s.partial_label = label
        end = data.rfind(b"\n") + 1
        s.partial = data[end:]
        if end:
            lines = data[:end - 1].split(b"\n")
            _write(s.out_fd, b"".join(label + line + b"\n" for line in lines))
        if len(s.partial) >= _LONGEST_LINE:
            self._finish_line(s)

    def _finish_line(self, s):
        """An unterminated line goes out, ended, under the label it was written under."""
        if s.partial:
            _write(s.out_fd, s.partial_label + s.partial + b"\n")
            s.partial = b""


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
            select.select([], [fd], [])  # the destination was non-blocking: wait for room
        except OSError:
            return  # the destination is gone (the controller exited): nowhere to write


def _line_buffer_c_stdout():
    """C's stdout (printf in an extension) is block-buffered on a pipe: make it line-buffered,
    so C output shows up in order with Python's. Best effort: only glibc-like libcs."""
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        stdout = ctypes.c_void_p.in_dll(libc, "stdout")
        libc.setvbuf(stdout, None, 1, 0)  # _IOLBF
    except (OSError, ValueError, AttributeError):
        pass


def install(name):
    """Labels this process's output with `[name, task N]`; None where it cannot (no fds 1
    and 2, e.g. a worker started with them closed)."""
    try:
        os.fstat(1)
        os.fstat(2)
    except OSError:
        return None
    return Labeller(name)
