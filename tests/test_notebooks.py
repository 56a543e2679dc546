"""Static checks of the chapters, so that strict nbval stays meaningful and Colab links
work."""

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
IGNORE = "nbval-ignore-output"


def cells(path: Path, kind: str = "code") -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == kind]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def output_text(cell: dict) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append("".join(out.get("text", "")))
        for key, value in out.get("data", {}).items():
            if key.startswith("text/"):
                parts.append("".join(value))
    return "\n".join(parts)


def test_there_are_chapters_and_the_toc_lists_exactly_them():
    toc = (ROOT / "_toc.yml").read_text()
    listed = set(re.findall(r"file: (chapters/\S+)", toc))
    assert CHAPTERS and listed == {f"chapters/{p.stem}" for p in CHAPTERS}


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_code_cell_ran_in_order_and_stored_its_output(path):
    code = cells(path)
    counts = [c["execution_count"] for c in code]
    assert None not in counts, "a code cell was stored without running"
    assert counts == list(range(1, len(code) + 1)), (
        "cells were not executed top to bottom in one run"
    )
    compared_outputs = [
        c for c in code if c["outputs"] and IGNORE not in c["metadata"].get("tags", [])
    ]
    assert len(compared_outputs) >= 5, "too few outputs for strict nbval to compare"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_only_timing_and_device_cells_escape_comparison(path):
    for cell in cells(path):
        tags = cell["metadata"].get("tags", [])
        assert "nbval-skip" not in tags and "NBVAL_" not in source(cell)
        if IGNORE in tags:
            assert re.search(r"time_model|device_name|best_device", source(cell)), (
                source(cell)
            )


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_outputs_are_deterministic_text(path):
    for cell in cells(path):
        if IGNORE in cell["metadata"].get("tags", []):
            continue
        text = output_text(cell)
        assert not re.search(r"0x[0-9a-f]{6,}", text), (
            "a memory address in a compared output"
        )
        assert "tensor(" not in text, "a raw tensor in a compared output"
        assert not any(o.get("output_type") == "error" for o in cell["outputs"])


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_setup_cell_installs_nblib_from_the_configured_repository(path):
    setup = source(cells(path)[0])
    urls = re.findall(r"git\+(\S+?)@main", setup)
    assert urls == [CONFIG["repository"]["url"]]
    assert 'if "google.colab" in sys.modules' in setup
    assert "hide-input" in cells(path)[0]["metadata"].get("tags", [])


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_colab_gets_a_gpu_runtime(path):
    assert json.loads(path.read_text())["metadata"].get("accelerator") == "GPU"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_anatomy(path):
    markdown = "\n".join(source(c) for c in cells(path, "markdown"))
    outputs = "\n".join(output_text(c) for c in cells(path))
    assert len(re.findall(r"^# ", markdown, flags=re.M)) == 1, "exactly one title"
    assert "{cite" in markdown, "the chapter cites its papers"
    assert "## Summary" in markdown and "## Exercises" in markdown
    assert re.search(r"(REPRODUCED|REFUTED|NOT REPRODUCIBLE HERE): ", outputs), (
        "no executed verdict"
    )


def test_book_config_keeps_launch_buttons_and_branch():
    assert CONFIG["repository"]["branch"] == "main"
    assert CONFIG["sphinx"]["recursive_update"] is True
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert CONFIG["execute"]["raise_on_error"] is True
