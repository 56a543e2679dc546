"""nblib.ledger: the claims ledger page equals the verdicts the chapters show."""

import json
import re
from pathlib import Path

import nbformat

from nblib import reference
from nblib.ledger import chapter_verdicts, ledger, ledger_html

ROOT = Path(__file__).resolve().parents[1]
WHO = {"kind": "count", "source": "notes", "criterion": "exact"}


def notebook_with(tmp_path: Path, *verdicts: reference.Verdict) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A chapter\n\ntext")]
    for v in verdicts:
        cell = nbformat.v4.new_code_cell("reference.verdict(...)")
        cell.outputs = [
            nbformat.v4.new_output(
                "execute_result",
                {"text/plain": repr(v), "text/html": v._repr_html_()},
                execution_count=1,
            )
        ]
        nb.cells.append(cell)
    cell = nbformat.v4.new_code_cell("print('REPRODUCED is a word')")
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x\n")]
    nb.cells.append(cell)
    path = tmp_path / "01_a.ipynb"
    nbformat.write(nb, path)
    return path


def test_verdicts_are_read_back_from_stored_outputs(tmp_path):
    a = reference.verdict("a holds", True, "1 = 1", **WHO)
    b = reference.not_testable(
        "b is fast", "a GPU record", kind="timing", source="paper", criterion="faster"
    )
    path = notebook_with(tmp_path, a, b)
    assert chapter_verdicts(path) == [a, b]
    table = ledger(tmp_path)
    assert list(table.status) == ["reproduced", "not testable here"]
    assert set(table.title) == {"A chapter"}
    html = ledger_html(table)
    assert "2 verdicts" in html and "1 reproduced, 0 refuted" in html
    assert f'href="chapters/01_a.html#{a.anchor}"' in html


def test_the_ledger_page_shows_exactly_the_chapters_verdicts():
    """The stored ledger output (checked by strict nbval against a fresh run) equals
    the ledger of the chapters as stored now: every verdict, none invented."""
    table = ledger(ROOT / "chapters")
    shown = [
        "".join(o["data"]["text/html"])
        for c in json.loads((ROOT / "ledger.ipynb").read_text())["cells"]
        for o in c.get("outputs", [])
        if "text/html" in o.get("data", {})
    ]
    assert shown == [ledger_html(table)]
    stored = sum(
        len(chapter_verdicts(p)) for p in sorted((ROOT / "chapters").glob("*.ipynb"))
    )
    assert len(table) == stored == int(re.search(r"(\d+) verdicts", shown[0])[1])
