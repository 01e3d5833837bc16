"""Progress bars: off by default when nobody watches (stderr not a terminal), on when
forced, tqdm's when tqdm imports, else the plain one (a line rewritten in place on a
terminal, a line per tenth in a file); results and the concurrent.futures contract are
unchanged either way."""
import concurrent.futures
import io
import re
import sys

import pytest

import pmp
from pmp import _progress


def square(x):
    return x * x


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def no_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # `from tqdm import tqdm` raises ImportError


@pytest.fixture
def exe():  # per test: the leak check of conftest.py counts the workers of each
    with pmp.Executor(max_workers=2, block_allocation=True, backend="local") as exe:
        yield exe


def test_off_by_default_when_stderr_is_not_a_terminal(exe, capsys):
    assert not _progress.wanted(None)
    assert list(exe.map(square, range(20))) == [x * x for x in range(20)]
    assert pmp.wait([exe.submit(square, 2)]).done
    assert [f.result() for f in pmp.as_completed([exe.submit(square, 3)])] == [9]
    assert capsys.readouterr().err == ""


def test_on_by_default_on_a_terminal_or_in_jupyter(monkeypatch):
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert _progress.wanted(None) and not _progress.wanted(False)
    kernel_stream = type("OutStream", (io.StringIO,), {"__module__": "ipykernel.iostream"})
    monkeypatch.setattr(sys, "stderr", kernel_stream())
    assert _progress.wanted(None)


def test_tqdm_bar_for_map(exe, capsys):
    pytest.importorskip("tqdm")
    assert list(exe.map(square, range(30), progress=True)) == [x * x for x in range(30)]
    err = capsys.readouterr().err
    assert "square: 100%" in err and "30/30" in err


def test_plain_bar_in_a_file_prints_a_line_per_tenth(exe, capsys, no_tqdm):
    assert list(exe.map(square, range(50), chunksize=5, progress=True)) == [x * x for x in range(50)]
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" (")[0] for line in lines] == [f"square: {n}/50" for n in range(5, 55, 5)]
    assert lines[-1].startswith("square: 50/50 (100%) ")


def test_plain_bar_on_a_terminal_rewrites_one_line(monkeypatch, no_tqdm):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    bar = _progress.bar(None, None, "work")
    assert isinstance(bar, _progress.TextBar)
    for _ in range(3):
        bar.update()
    bar.finish_at(3)  # the total is known: the bar is complete, and closes
    bar.update()      # late: ignored
    text = terminal.getvalue()
    assert text.startswith("\rwork: ") and "\n" not in text[:-1]
    assert re.search(r"\rwork: 3/3 \(100%\) \d+\.\d s\n$", text), repr(text)


def test_wait_and_as_completed_keep_their_contract(exe, capsys, no_tqdm):
    futures = [exe.submit(square, i) for i in range(10)]
    done, not_done = pmp.wait(futures, progress=True, desc="waiting")
    assert done == set(futures) and not not_done
    assert capsys.readouterr().err.splitlines()[-1].startswith("waiting: 10/10 (100%)")
    assert sorted(f.result() for f in pmp.as_completed(futures, progress=True)) == [i * i for i in range(10)]
    assert capsys.readouterr().err.splitlines()[-1].startswith("pmp: 10/10 (100%)")
    pending = concurrent.futures.Future()
    done, not_done = pmp.wait([pending, futures[0]], timeout=0, return_when=concurrent.futures.FIRST_COMPLETED,
                              progress=True)
    assert done == {futures[0]} and not_done == {pending}
    assert capsys.readouterr().err.splitlines()[-1].startswith("pmp wait: 1/2 (50%)")
    with pytest.raises(concurrent.futures.TimeoutError):
        list(pmp.as_completed([pending], timeout=0, progress=True))
    capsys.readouterr()


def test_map_with_a_bar_keeps_timeout_and_errors(exe, no_tqdm, capsys):
    with pytest.raises(TypeError):
        list(exe.map(square, [1, "x", 3], progress=True))
    results = exe.map(square, iter(range(4)), progress=True)  # no len(): the total comes after submitting
    assert list(results) == [0, 1, 4, 9]
    assert capsys.readouterr().err.splitlines()[-1].startswith("square: 4/4 (100%)")


def test_pool_bars(no_tqdm, capsys):
    with pmp.Pool(2, backend="local") as pool:
        assert pool.map(square, range(12), progress=True) == [x * x for x in range(12)]
        assert capsys.readouterr().err.splitlines()[-1].startswith("square: 12/12 (100%)")
        assert list(pool.imap(square, iter(range(7)), progress=True)) == [x * x for x in range(7)]
        assert list(pool.imap_unordered(square, range(9), chunksize=4, progress=False)) is not None
        assert pool.starmap(pow, [(2, 3)] * 4, progress=False) == [8] * 4
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1].startswith("square: 7/7 (100%)"), lines
    assert not any("pow" in line for line in lines)
