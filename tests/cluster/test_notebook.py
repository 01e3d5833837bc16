"""examples/pmp_walkthrough.ipynb as users run it: its kernel inside an allocation
(salloc -N2 -n4), its functions on Slurm workers, executed by nbclient and ipykernel."""
import json
import sys

from conftest import PYTHON, REPO

sys.path.insert(0, str(REPO / "tests"))
from run_notebook import check_walkthrough  # noqa: E402


def test_walkthrough_in_an_allocation(slurm):
    proc = slurm.run("salloc", "-N2", "-n4", PYTHON, REPO / "tests" / "run_notebook.py",
                     REPO / "examples" / "pmp_walkthrough.ipynb", "out.json",
                     env={"PYDEVD_DISABLE_FILE_VALIDATION": "1"}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    check_walkthrough(json.loads((slurm.tmp_path / "out.json").read_text()), in_allocation=True)
