"""Logging through the "pmp" logger: PMP_LOG_LEVEL in the controller and its workers, a
`pmp: ` stderr handler only when the application configured none, worker loss as a
warning, and a clear error for a bad level. Controllers run as subprocesses: the level
is read once, at import."""
import logging
import os
import subprocess
import sys
import textwrap

import pytest

from _pmp_testing import TIMEOUT

SCRIPT = """
    import os
    import pmp

    def die():
        os._exit(3)

    with pmp.Executor(max_workers=1, block_allocation=True, backend="local") as exe:
        assert exe.submit(abs, -1).result() == 1
        try:
            exe.submit(die).result()
        except pmp.WorkerLost:
            pass
        assert exe.submit(abs, -2).result() == 2   # on the replacement worker
"""


def run(tmp_path, level=None, body=SCRIPT):
    script = tmp_path / "controller.py"
    script.write_text(textwrap.dedent(body))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    env.pop("PMP_LOG_LEVEL", None)
    if level is not None:
        env["PMP_LOG_LEVEL"] = level
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=TIMEOUT, env=env,
                          cwd=tmp_path)


def test_debug_shows_worker_starts_commands_and_shutdown_in_controller_and_workers(tmp_path):
    proc = run(tmp_path, "DEBUG")
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert "pmp: INFO starting 1 workers (backend local, 1 cores each)" in err
    assert f"pmp: DEBUG worker command: {sys.executable} -m pmp.worker" in err
    assert "pmp: DEBUG worker 0 ready: pid " in err
    assert "[worker 0] pmp: DEBUG worker 0 connected: pid " in err  # the worker logs too, labelled
    assert "pmp: WARNING worker 0 (pid " in err and "exited with status 3; the tasks it had not started go to " \
                                                     "other workers, and a new worker replaces it" in err
    assert "pmp: INFO shutting down: 0 tasks left" in err
    assert "pmp: DEBUG shut down: every worker has stopped" in err


def test_a_number_is_a_level(tmp_path):
    proc = run(tmp_path, "20")
    assert proc.returncode == 0, proc.stderr
    assert "pmp: INFO starting 1 workers" in proc.stderr
    assert "DEBUG" not in proc.stderr


def test_default_shows_warnings_only(tmp_path):
    proc = run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("pmp: ")]
    assert len(lines) == 1 and lines[0].startswith("pmp: WARNING worker 0 (pid "), proc.stderr


def test_invalid_level_says_which_are_valid(tmp_path):
    proc = run(tmp_path, "loud")
    assert proc.returncode != 0
    assert ("pmp: PMP_LOG_LEVEL='loud' is not a log level: use one of DEBUG, INFO, WARNING, ERROR, CRITICAL "
            "(or a number such as 10), or unset it") in proc.stderr


def test_the_applications_logging_configuration_wins(tmp_path):
    proc = run(tmp_path, "INFO", "import logging\n"
                                 "logging.basicConfig(format='APP %(name)s %(levelname)s %(message)s')\n"
               + textwrap.dedent(SCRIPT))
    assert proc.returncode == 0, proc.stderr
    assert "APP pmp.executor INFO starting 1 workers" in proc.stderr
    assert "pmp: INFO" not in proc.stderr  # not twice: pmp's own handler stepped aside


def test_parse_level():
    from pmp import _log
    assert _log.parse_level("debug") == logging.DEBUG
    assert _log.parse_level(" Warning ") == logging.WARNING
    assert _log.parse_level("5") == 5
    with pytest.raises(ValueError, match="^pmp: PMP_LOG_LEVEL='x' is not a log level"):
        _log.parse_level("x")


def test_loggers_are_children_of_pmp():
    assert logging.getLogger("pmp.executor").parent is logging.getLogger("pmp")
    assert logging.getLogger("pmp.worker").parent is logging.getLogger("pmp")
