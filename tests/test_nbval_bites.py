"""Strict nbval must fail when a stored output no longer matches what the code
prints."""

import subprocess
import sys

import nbformat


def run_nbval(path) -> int:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--nbval",
            "--nbval-current-env",
            str(path),
        ],
        capture_output=True,
        cwd=path.parent,
    ).returncode


def write_notebook(path, stored: str) -> None:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("print(6 * 7)", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=stored)]
    nb.cells = [cell]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


def test_matching_output_passes_and_altered_output_fails(tmp_path):
    good, bad = tmp_path / "good.ipynb", tmp_path / "bad.ipynb"
    write_notebook(good, "42\n")
    write_notebook(bad, "43\n")
    assert run_nbval(good) == 0
    assert run_nbval(bad) == 1
