"""`pip install --no-build-isolation .` offline, with Debian's setuptools: the package and
its C extension install into the chosen interpreter (a venv, or a --target directory),
and a real Executor runs tasks on local workers from there."""
import os
import re
import shutil
import sys

import pytest

from _install_testing import ROOT, clean_env, run

PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

#: Runs in the installed interpreter: where pmp comes from, a task on each worker, and a
#: line a task prints, labelled by the installed output helper.
CHECK = """
import os
import pmp
print(os.path.dirname(pmp.__file__), flush=True)
with pmp.Executor(max_workers=2, backend="local", block_allocation=True) as exe:
    assert exe.submit(sum, [1, 2]).result() == 3
    exe.submit(print, "hello").result()
    pids = set(exe.map(lambda _: os.getpid(), range(8), chunksize=1))
    assert os.getpid() not in pids, pids
print("ok")
"""


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """The repository's sources, without build trees: what a fresh clone has."""
    dest = tmp_path_factory.mktemp("src") / "pmp"
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns("build*", ".git", "__pycache__", "*.egg-info",
                                                              ".pytest_cache", "results"))
    return dest


def pip_install(python, source, *args):
    run([python, "-m", "pip", "install", "--no-build-isolation", "--no-index", "--no-cache-dir",
         "--disable-pip-version-check", *args, source], timeout=600)


def check_runs(python, expected_dir, **env):
    res = run([python, "-c", CHECK], env=clean_env(**env), cwd="/", timeout=120)
    where, *printed, status = res.stdout.splitlines()
    assert where == os.path.join(expected_dir, "pmp") and status == "ok"
    labelled = re.fullmatch(r"\[worker \d, task \d+\] hello", printed[0]) if len(printed) == 1 else None
    assert labelled, res.stdout + res.stderr
    assert any(name.startswith("_core.") for name in os.listdir(where))


def test_pip_installs_into_a_venv(source, tmp_path):
    """The venv sees Debian's cloudpickle: pip resolves the dependency offline."""
    venv = tmp_path / "venv"
    run([PYTHON, "-m", "venv", "--system-site-packages", "--without-pip", venv])
    python = str(venv / "bin" / "python")
    pip_install(python, source)
    site = run([python, "-c", "import sysconfig; print(sysconfig.get_path('platlib'))"]).stdout.strip()
    check_runs(python, site)


def test_pip_installs_into_a_target_directory(source, tmp_path):
    """--target ignores installed packages, so dependencies come from the system (--no-deps)."""
    target = tmp_path / "target"
    pip_install(PYTHON, source, "--no-deps", "--target", target)
    check_runs(PYTHON, str(target), PYTHONPATH=target)
