"""examples/pmp_walkthrough.ipynb, executed by nbclient with an ipykernel kernel, on the
local backend (the notebook's backend="slurm" rewritten; tests/cluster/test_notebook.py
runs it as written, inside an allocation)."""
import json
import os
import subprocess
import sys

from conftest import ROOT

sys.path.insert(0, os.path.join(ROOT, "tests"))
from run_notebook import check_walkthrough  # noqa: E402


def test_walkthrough_on_the_local_backend(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p), PYDEVD_DISABLE_FILE_VALIDATION="1")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "run_notebook.py"),
                           os.path.join(ROOT, "examples", "pmp_walkthrough.ipynb"), "out.json", "--backend", "local"],
                          capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    check_walkthrough(json.loads((tmp_path / "out.json").read_text()), in_allocation=False)
