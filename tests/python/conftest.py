"""pytest set-up for the pmp Python package.

Run from the repository root after building:

    cmake -S . -B build && cmake --build build -j2
    PYTHONPATH=build/python /usr/bin/python3 -m pytest -q tests/python

Without PYTHONPATH the build-tree package (build/python, or $PMP_BUILD_PYTHON) is put on
sys.path. Workers find pmp by themselves (pmp adds its own location to their PYTHONPATH).

Test modules define the functions, classes and exceptions their tasks use. cloudpickle
pickles those by reference (their modules are importable here), so workers must import the
test modules: pmp gives its workers the controller's sys.path, as ProcessPoolExecutor's
spawn does; nothing here helps it (test_examples.py also checks it with the test directory
neither on PYTHONPATH nor the working directory).
"""
import importlib.util
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD_PYTHON = os.environ.get("PMP_BUILD_PYTHON") or os.path.join(ROOT, "build", "python")

if not os.environ.get("PYTHONPATH") and BUILD_PYTHON not in sys.path:
    sys.path.insert(0, BUILD_PYTHON)
elif importlib.util.find_spec("pmp") is None:
    sys.path.insert(0, BUILD_PYTHON)  # PYTHONPATH set for something else: the build tree still
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # _pmp_testing (pytest puts it there too, for rootdir-less modules)

#: Variables that change an Executor's defaults or its workers' environment: tests set
#: them explicitly (monkeypatch) when they mean to, never inherit them from the shell.
ISOLATED_VARS = ("PMP_WORKERS", "PMP_CORES_PER_WORKER", "PMP_THREADS_PER_CORE", "PMP_GPUS_PER_WORKER",
                 "PMP_OVERSUBSCRIBE", "PMP_STATIC", "PMP_ROLE", "PMP_MAIN", "PMP_ENDPOINT", "PMP_WORKER_ID",
                 "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                 "NUMEXPR_NUM_THREADS", "PMP_LOG_LEVEL", "PMP_LABEL_OUTPUT", "PMP_FORK", "PMP_FORK_FD")


def _import_core():
    try:
        import pmp
        import pmp._core  # noqa: F401
    except ImportError as e:
        return None, (f"cannot import pmp._core ({e}); sys.path[0:3]={sys.path[:3]}. Build it first "
                      f"(cd {ROOT} && cmake -S . -B build && cmake --build build -j2) and run with "
                      f"PYTHONPATH={BUILD_PYTHON}")
    return pmp, None


def pytest_sessionstart(session):
    _, error = _import_core()
    if error:
        pytest.exit(error, returncode=4)


def pytest_report_header(config):
    pmp, error = _import_core()
    return f"pmp: {error or pmp.__file__}"


@pytest.fixture(scope="session", autouse=True)
def pmp_package():
    """The pmp package of the build tree; fails clearly when its C extension is missing."""
    pmp, error = _import_core()
    if error:
        pytest.fail(error, pytrace=False)
    return pmp


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in ISOLATED_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    yield


@pytest.fixture(autouse=True)
def _no_leaked_workers():
    """Every test shuts its executors down: no pmp worker it started may outlive it."""
    from _pmp_testing import pmp_fork_servers, pmp_worker_children

    def ours():
        return {**pmp_worker_children(), **pmp_fork_servers()}
    before = set(ours())
    yield
    leaked = {pid: argv for pid, argv in ours().items() if pid not in before}
    assert not leaked, f"pmp worker processes (or fork servers) outlived the test's executors: {leaked}"
