"""Helpers of the packaging tests (tests/install): the repository root, a clean
environment for child processes, and running a command that must succeed."""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: Variables of the calling shell that would change what the installs or their checks see.
_DROPPED = ("PYTHONPATH", "PYTHONHOME", "LD_PRELOAD", "LD_LIBRARY_PATH", "PKG_CONFIG_PATH", "DESTDIR",
            "CMAKE_PREFIX_PATH", "SLURM_JOB_ID", "PIP_INDEX_URL", "PIP_TARGET", "PIP_PREFIX", "VIRTUAL_ENV")


def clean_env(**extra):
    """The environment for a child process: the caller's, without the variables above and
    the PMP_* ones, plus extra."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED and not k.startswith("PMP_")}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def run(argv, **kwargs):
    """Runs argv; on failure, fails the test with its command, status and output."""
    kwargs.setdefault("env", clean_env())
    res = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kwargs)
    if res.returncode != 0:
        pytest.fail(f"{' '.join(map(str, argv))} exited with {res.returncode}\n"
                    f"stdout:\n{res.stdout[-4000:]}\nstderr:\n{res.stderr[-4000:]}", pytrace=False)
    return res
