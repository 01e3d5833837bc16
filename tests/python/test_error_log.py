"""error_log_file: every failed task appends a record (time, task, worker, node, function,
exception, the worker's traceback); tasks that succeed leave nothing; Pool passes it on."""
import os
import re
import socket

import pytest

import pmp

RECORD = re.compile(r"^=== \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} task (\d+) failed: (\S+) on (.*)$")


def fails_on_odd(i):
    if i % 2:
        raise ValueError(f"odd input {i}")
    return i


def dies():
    os._exit(7)


def records(path):
    """[(task, function, where, body)] of the file's records."""
    out = []
    for block in path.read_text().split("\n\n"):
        if block.strip():
            head, _, body = block.partition("\n")
            m = RECORD.match(head)
            assert m, f"not a record: {block!r}"
            out.append((int(m.group(1)), m.group(2), m.group(3), body))
    return out


def test_failed_tasks_are_recorded_with_their_traceback(tmp_path):
    log = tmp_path / "errors.log"
    with pmp.Executor(max_workers=2, block_allocation=True, backend="local", error_log_file=log) as exe:
        futures = [exe.submit(fails_on_odd, i) for i in range(6)]
        errors = [f.exception() for f in futures]
    found = records(log)
    assert len(found) == 3
    host = socket.gethostname()
    for (task, function, where, body), i in zip(sorted(found), (1, 3, 5)):
        assert function == "test_error_log.fails_on_odd"
        assert re.fullmatch(rf"worker [01] \({re.escape(host)}\)", where), where
        assert body.startswith(f"ValueError: odd input {i}\nTraceback (most recent call last):\n")
        assert 'in fails_on_odd\n    raise ValueError(f"odd input {i}")' in body
        assert body.rstrip().endswith(f"ValueError: odd input {i}")
        assert str(errors[i]) == f"odd input {i}"  # the futures are failed as before
    assert len({task for task, *_ in found}) == 3


def test_lost_workers_and_map_chunks_are_recorded(tmp_path):
    log = tmp_path / "errors.log"
    with pmp.Executor(max_workers=1, block_allocation=True, backend="local", error_log_file=str(log)) as exe:
        with pytest.raises(pmp.WorkerLost):
            exe.submit(dies).result()
        with pytest.raises(ValueError):
            list(exe.map(fails_on_odd, range(4), chunksize=2))
    (_, f1, _, b1), *chunks = records(log)
    assert f1 == "test_error_log.dies" and b1.startswith("pmp.errors.WorkerLost: pmp: worker 0 (pid ")
    assert "exited with status 7" in b1
    # Both chunks fail ([0, 1] and [2, 3]), named by the function map runs, not by pmp's chunk runner.
    assert sorted((f, b.splitlines()[0]) for _, f, _, b in chunks) == [
        ("test_error_log.fails_on_odd", "ValueError: odd input 1"),
        ("test_error_log.fails_on_odd", "ValueError: odd input 3")]


def test_pool_records_the_users_function(tmp_path):
    log = tmp_path / "errors.log"
    with pmp.Pool(1, backend="local", error_log_file=log) as pool:
        with pytest.raises(ValueError, match="odd input 3"):
            pool.map(fails_on_odd, [2, 3])
        with pytest.raises(ValueError, match="odd input 5"):
            pool.apply(fails_on_odd, (5,))
    assert [(f, b.splitlines()[0]) for _, f, _, b in records(log)] == [
        ("test_error_log.fails_on_odd", "ValueError: odd input 3"),
        ("test_error_log.fails_on_odd", "ValueError: odd input 5")]


def test_no_failure_no_record(tmp_path):
    log = tmp_path / "errors.log"
    with pmp.Executor(max_workers=1, backend="local", error_log_file=log) as exe:
        assert list(exe.map(abs, [-1, -2])) == [1, 2]
    assert log.read_text() == ""


def test_unwritable_path_is_refused_at_once(tmp_path):
    with pytest.raises(ValueError, match=r"^pmp: cannot write error_log_file='.*/missing/errors.log' \(No such "
                                         r"file or directory\): give a path in a writable directory"):
        pmp.Executor(max_workers=1, backend="local", error_log_file=tmp_path / "missing" / "errors.log")
