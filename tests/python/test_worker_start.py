"""Long-lived local workers start no more than the machine's CPUs at once: beyond that they
would share the CPUs while starting, and the first task would wait for all of them."""
import os

import pmp
from pmp import _backends

from _pmp_testing import identity

# Takes a lock directory as it starts, and gives it back only once Python has started
# and is about to connect: a worker that finds the lock taken started beside another.
_LOCKED_START = ('mkdir "$PMP_TEST_DIR/lock" 2>/dev/null || echo "$PMP_WORKER_ID" >> "$PMP_TEST_DIR/overlap"; '
                 'exec "$0" -c "import os, runpy, shutil; shutil.rmtree(os.environ[\'PMP_TEST_DIR\'] + \'/lock\', True); '
                 'runpy.run_module(\'pmp.worker\', run_name=\'__main__\')"')


def test_local_backend_starts_as_many_cores_as_it_may_use():
    assert _backends.LocalBackend().max_starting() == len(os.sched_getaffinity(0))


def test_local_workers_start_one_after_another_beyond_the_limit(tmp_path, monkeypatch):
    spec_args = _backends.LocalBackend.spec_args

    def locked_start(self, res, node=None):
        argv, env, cwd, cores, _ = spec_args(self, res, node)
        assert argv[1:] == ["-m", "pmp.worker"]
        # started, not forked: each worker a Python start of its own, as the test needs
        return ["/bin/sh", "-c", _LOCKED_START, argv[0]], env + [f"PMP_TEST_DIR={tmp_path}"], cwd, cores, False

    monkeypatch.setattr(_backends.LocalBackend, "spec_args", locked_start)
    monkeypatch.setattr(_backends.LocalBackend, "max_starting", lambda self: 1)
    with pmp.Executor(max_workers=3, block_allocation=True, backend="local") as ex:
        assert ex.wait_for_workers(timeout=60)
        assert sorted(ex.map(identity, range(6))) == list(range(6))
    assert not (tmp_path / "overlap").exists()  # each started once the one before connected
    assert not (tmp_path / "lock").exists()
