"""The functions the benchmarks run in workers. They live in an importable module (the
driver puts benchmarks/ on every child's PYTHONPATH) so that every executor pickles them
by reference, as a user's library function would be."""
import os
import select


def noop(*args):
    return None


def inc(x):
    return x + 1


def identity(x):
    return x


def run_chunk(fn, chunk):
    """A chunk of a map, for executors whose map() ignores chunksize (dask)."""
    return [fn(x) for x in chunk]


def block_until_released(started, release, timeout=900):
    """Keeps its worker busy until the controller says so, through two FIFOs: opens
    `release` for reading first (non-blocking, so the controller can always open it for
    writing once `started` arrives), says it is running on `started`, then waits for a
    byte on `release`. No sleep: each side blocks in the kernel until the other acts."""
    fd = os.open(release, os.O_RDONLY | os.O_NONBLOCK)
    try:
        with open(started, "w") as f:
            f.write("1")
        if not wait_readable(fd, timeout):
            raise TimeoutError(f"not released within {timeout} s")
        return os.read(fd, 1)
    finally:
        os.close(fd)


def wait_readable(fd, timeout):
    """True once fd has data (or its writer is gone), False after timeout seconds."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(timeout * 1000))
