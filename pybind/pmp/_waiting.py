"""pmp.wait and pmp.as_completed: concurrent.futures' own, with a progress bar when
someone watches (see _progress). With no bar they are concurrent.futures.wait and
as_completed themselves, for any futures, pmp's or not."""
import concurrent.futures
from concurrent.futures import ALL_COMPLETED
from concurrent.futures._base import DoneAndNotDoneFutures

from . import _progress


def wait(fs, timeout=None, return_when=ALL_COMPLETED, *, progress=None, desc="pmp wait"):
    """concurrent.futures.wait(fs, timeout, return_when), with a bar of the futures done
    while it waits. progress: None (a bar on a terminal or in Jupyter), True, False."""
    fs = set(fs)
    bar = _progress.bar(progress, len(fs), desc)
    if bar is None:
        return concurrent.futures.wait(fs, timeout, return_when)
    for f in fs:
        f.add_done_callback(lambda _: bar.update())  # at once for those done already
    try:
        done, not_done = concurrent.futures.wait(fs, timeout, return_when)
    except BaseException:
        bar.close()
        raise
    if not_done:
        bar.close()
    else:
        bar.complete()  # the last done-callbacks may be on their way still
    return DoneAndNotDoneFutures(done, not_done)


def as_completed(fs, timeout=None, *, progress=None, desc="pmp"):
    """concurrent.futures.as_completed(fs, timeout), with a bar that moves as the futures
    are yielded. progress: None (a bar on a terminal or in Jupyter), True, False."""
    fs = set(fs)
    bar = _progress.bar(progress, len(fs), desc)
    if bar is None:
        yield from concurrent.futures.as_completed(fs, timeout)
        return
    try:
        for f in concurrent.futures.as_completed(fs, timeout):
            bar.update()
            yield f
    finally:
        bar.close()
