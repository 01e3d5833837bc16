"""Progress bars for long maps and for waiting on many futures.

progress=None (the default) shows a bar only where someone watches: stderr is a terminal,
or the code runs in a Jupyter kernel; True and False force it. The bar is tqdm's when
tqdm is installed (Debian: python3-tqdm), else a plain one: a line rewritten in place on a
terminal, a few lines (every 10%) in a file. Bars move when futures finish (their
done-callbacks, or as_completed): nothing polls."""
import sys
import threading
import time


def wanted(progress):
    """Whether to show a bar for progress=None/True/False."""
    if progress is None:
        return _isatty(sys.stderr) or _in_jupyter()
    return bool(progress)


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _in_jupyter():
    """stderr is an IPython kernel's stream (the notebook shows it under the cell)."""
    return type(sys.stderr).__module__.startswith("ipykernel")


def bar(progress, total=None, desc="pmp"):
    """A bar (update(n), add_total(n), close()) or None when progress says none."""
    if not wanted(progress):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return TextBar(total, desc, sys.stderr)
    return TqdmBar(tqdm, total, desc, sys.stderr)


def until_done(results, bar):
    """A map's results; once the last is out, the bar is complete. Every call is done by
    then, but the done-callbacks of the last may not have moved the bar yet: its final
    line comes before whatever the caller prints next."""
    yield from results
    bar.complete()


class _Bar:
    """What the bars share: a count that threads (the executor's I/O thread, the caller's)
    move under one lock, and a total that may grow while a map submits."""

    def __init__(self, total):
        self._lock = threading.Lock()
        self._closed = False
        self._final = False  # the total is known for good: the bar closes when n reaches it
        self.n = 0
        self.total = total

    def update(self, n=1):
        with self._lock:
            if self._closed:
                return  # a future finishing after wait() returned, say
            self.n += n
            self._show(n)
            if self._final and self.n >= self.total:
                self._close()

    def finish_at(self, total):
        """Everything is submitted: total is final, and the bar closes once n reaches it
        (now, if the futures are done already)."""
        with self._lock:
            if self._closed:
                return
            self.total, self._final = total, True
            self._show(0)
            if self.n >= total:
                self._close()

    def complete(self):
        """Every item is done, whatever the callbacks still on their way say: full, closed."""
        with self._lock:
            if not self._closed and self.total is not None and self.n < self.total:
                n, self.n = self.total - self.n, self.total
                self._show(n)
            self._close()

    def close(self):
        with self._lock:
            self._close()

    def _close(self):
        if not self._closed:
            self._closed = True
            self._finish()


class TqdmBar(_Bar):
    def __init__(self, tqdm, total, desc, stream):
        super().__init__(total)
        # In a file, a line every 10 s rather than a carriage return every 0.1 s.
        self._tqdm = tqdm(total=total, desc=desc, file=stream, unit="task", dynamic_ncols=True,
                          mininterval=0.1 if _isatty(stream) or _in_jupyter() else 10)

    def _show(self, n):
        if self.total != self._tqdm.total:
            self._tqdm.total = self.total
            self._tqdm.refresh()
        if n:
            self._tqdm.update(n)

    def _finish(self):
        self._tqdm.close()


class TextBar(_Bar):
    """Without tqdm: `desc: 40/100 (40%) 1.2 s` rewritten in place on a terminal (at most
    10 times a second), or printed at every tenth of the total in a file."""

    def __init__(self, total, desc, stream):
        super().__init__(total)
        self._desc = desc
        self._stream = stream
        self._tty = _isatty(stream)
        self._start = self._shown_at = time.monotonic()
        self._tenth = 0  # the last tenth of the total printed (files)
        self._last = 0.0  # when the last line went out (files without a total: every 10 s)
        self._printed = None  # the count the last line showed

    def _line(self):
        elapsed = time.monotonic() - self._start
        if self.total:
            return f"{self._desc}: {self.n}/{self.total} ({100 * self.n // self.total}%) {elapsed:.1f} s"
        return f"{self._desc}: {self.n} done {elapsed:.1f} s"

    def _show(self, n):
        now = time.monotonic()
        if self._tty:
            if now - self._shown_at >= 0.1 or (self.total and self.n >= self.total):
                self._shown_at = now
                self._write("\r" + self._line())
            return
        if self.total:
            tenth = 10 * self.n // self.total
            if tenth > self._tenth:
                self._tenth = tenth
                self._write(self._line() + "\n")
        elif n and now - self._last >= 10:
            self._last = now
            self._write(self._line() + "\n")

    def _finish(self):
        if self._tty:
            self._write("\r" + self._line() + "\n")
        elif self._printed != self.n:
            self._write(self._line() + "\n")

    def _write(self, text):
        self._printed = self.n
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):
            pass  # stderr closed: progress is not worth an exception
