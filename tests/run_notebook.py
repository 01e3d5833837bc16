"""Executes a notebook with nbclient and an ipykernel kernel of this interpreter, and writes
the text its tagged code cells wrote to OUT as JSON: {tag: {"stdout": ..., "stderr": ...}}
(not to stdout: the kernel's own fds are this process's, and worker output reaches them).

    python3 tests/run_notebook.py NOTEBOOK OUT [--backend local]

--backend rewrites the cells' backend="slurm" (for a run outside an allocation). A cell
that raises makes it exit 1 with the cell and the error."""
import json
import os
import re
import sys

#: What the walkthrough's cells print (the worker lines of "errors" checked apart).
EXPECTED_STDOUT = {
    "sum": "2\n",
    "serial": "[2, 4, 6, 8]\n",
    "map": "[0, 1, 4, 9, 16, 25, 36, 49]\n332833500\n",
    "init_function": "10\n",
    "mpi4py": "[(3, 2, 0), (3, 2, 1)]\n",
    "resource_dict": "[(3, 2, 0), (3, 2, 1)]\n8\n",
    "coupled": "3\n",
}


def check_walkthrough(out, in_allocation):
    """Asserts the outputs of examples/pmp_walkthrough.ipynb."""
    assert out["imports"]["stdout"] == f"allocation: {in_allocation}\n"
    for tag, text in EXPECTED_STDOUT.items():
        assert out[tag]["stdout"] == text, (tag, out[tag])
    assert "square: 100%" in out["map"]["stderr"] and "1000/1000" in out["map"]["stderr"]  # Jupyter: bar on
    errors = out["errors"]["stdout"] + out["error_log"]["stdout"]
    assert "[True, True, True, False, True]\n" in errors
    # Worker output, labelled (Slurm relays it a moment later: it may land in the next cell).
    checked = sorted(re.findall(r"^\[worker \d+, task \d+\] checking (\d)$", errors, re.M))
    assert checked == ["0", "1", "2", "3", "4"], errors
    assert "pmp wait: 100%" in out["errors"]["stderr"]
    log = out["error_log"]["stdout"]
    assert re.search(r"^=== .* task \d+ failed: risky on worker \d+ \(\S+\)\nValueError: x == 3 is not "
                     r"allowed\nTraceback \(most recent call last\):\n", log, re.M), log
    assert log.count("=== ") == 1


def main():
    import nbclient
    import nbformat

    # ipykernel captures fds 1 and 2 (where worker output arrives) only outside pytest.
    os.environ.pop("PYTEST_CURRENT_TEST", None)
    path, out_path = sys.argv[1:3]
    backend = sys.argv[sys.argv.index("--backend") + 1] if "--backend" in sys.argv else None
    nb = nbformat.read(path, as_version=4)
    if backend:
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.source = cell.source.replace('backend="slurm"', f'backend="{backend}"')
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": os.getcwd()}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as e:
        print(e, file=sys.stderr)
        return 1
    out = {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        text = out.setdefault(cell.metadata.get("tags", ["untagged"])[0], {"stdout": "", "stderr": ""})
        for output in cell.outputs:
            if output.output_type == "stream":
                text[output.name] += output.text
    with open(out_path, "w") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
