"""Static checks of the chapters, so that strict nbval stays meaningful and Colab links
work."""

import ast
import json
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from nblib.ledger import chapter_verdicts

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
IGNORE = "nbval-ignore-output"
# The pin (tools/release.py): chapters install nblib at this tag, opened there by Colab
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RELEASE = f"v{PROJECT['version']}"


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
            assert re.search(
                r"time_model|device_name|best_device|live_timings|setup\(", source(cell)
            ), source(cell)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_no_verdict_escapes_comparison(path):
    """A verdict in a cell strict nbval does not compare could change its status with
    the machine that builds the page, unseen by any test (and the ledger lists it)."""
    for cell in cells(path):
        if IGNORE in cell["metadata"].get("tags", []):
            assert not re.search(
                r"\b(\w*verdict|not_testable|inconclusive|Verdict)\(", source(cell)
            ), source(cell)[:200]


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
    """At the release tag pyproject.toml names, not a branch: a notebook opened at tag
    vX installs the nblib of tag vX, whatever main holds later."""
    setup = source(cells(path)[0])
    installs = re.findall(r'%pip install -q "nblib @ git\+(\S+?)@(\S+?)"', setup)
    assert installs == [(CONFIG["repository"]["url"], RELEASE)]
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
    assert re.search(
        r"^(REPRODUCED|REFUTED|INCONCLUSIVE|NOT TESTABLE HERE): ", outputs, flags=re.M
    ), "no executed verdict"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_verdict_follows_the_protocol(path):
    """Each displayed verdict reads back as a Verdict (status, source, criterion, kind,
    evidence), no cell prints an old-style one, and a timing decided on a CPU is a claim
    about CPUs (a GPU claim is judged by GPU rows only)."""
    old = re.compile(r"^(REPRODUCED|REFUTED|INCONCLUSIVE|NOT [A-Z ]+):", flags=re.M)
    shown = sum(len(old.findall(output_text(c))) for c in cells(path))
    verdicts = chapter_verdicts(path)
    # a verdict's text/plain and its HTML title are the two places its status appears
    assert len(verdicts) > 0 and shown == len(verdicts), (
        f"{shown} status lines but {len(verdicts)} protocol verdicts"
    )
    for v in verdicts:
        decided = v.status in ("reproduced", "refuted")
        if (
            v.kind == "timing"
            and decided
            and not re.search(r"NVIDIA|H100|H200|A100|GPU", v.evidence)
        ):
            assert "CPU" in v.claim, f"a timing verdict without a GPU row: {v.claim}"


# Words after which a number names a thing (Table 3, stage 4), not a quantity.
_REFERENCE_WORDS = (
    r"(?:Tables?|Sections?|Sec\.|Eqs?\.|Equations?|Figures?|Fig\.|[Cc]hapters?"
    r"|[Ss]teps?|[Ss]tages?|[Ll]evels?|issue|Appendix|[Ee]xercises?)"
)
_UNITS = {
    "",
    "x",
    "×",
    "%",
    "M",
    "G",
    "K",
    "k",
    "ms",
    "s",
    "B",
    "GB",
    "MB",
    "KB",
    "MACs",
    "GMACs",
    "FLOPs",
    "GFLOPs",
    "px",
    "TFLOP",
}


def unglued_numbers(markdown: str) -> list[str]:
    """Quantities written as digits in prose: a decimal, a percentage, a ratio (12x) or
    a number of 10 or more, outside glue and other roles, math, code and links. Shapes
    (3x3), names (ResNet-50, V2, 1k), years and references (Table 3) are not
    quantities."""
    text = re.sub(
        r"\{[\w:-]+\}`[^`]*`|`[^`]*`|\$\$.*?\$\$|\$[^$]*\$|\]\([^)]*\)|<!--.*?-->",
        " ",
        markdown,
        flags=re.S,
    )
    text = re.sub(r"^\s*\d+\.\s", " ", text, flags=re.M)  # numbered list items
    text = re.sub(rf"{_REFERENCE_WORDS}\s+[\d.,–-]+", " ", text)
    found = []
    for m in re.finditer(
        r"(?<![\w\-./^])(\d+(?:,\d{3})*(?:\.\d+)?)([A-Za-z%×]*)(\d*)", text
    ):
        number, suffix, tail = m.groups()
        if tail or suffix not in _UNITS:
            continue  # a shape (3x3) or a name (1k, 2d)
        value = float(number.replace(",", ""))
        if value.is_integer() and 1950 <= value <= 2030 and not suffix:
            continue  # a year
        if suffix in ("x", "×") and value == 1:
            continue  # a baseline width (1x), never a computed ratio
        if "." in number or suffix in ("x", "×", "%") or value >= 10:
            found.append(m[0])
    return found


def closing_sections(path: Path) -> str:
    """The markdown of the chapter's Summary and Takeaways sections."""
    parts, inside = [], False
    for cell in cells(path, "markdown"):
        for line in source(cell).splitlines():
            if line.startswith("## "):
                inside = bool(re.match(r"## (Summary|Takeaways)", line))
            elif inside:
                parts.append(line)
    return "\n".join(parts)


def test_the_number_detector_sees_quantities_and_spares_names():
    text = (
        "ResNet-50 has 13.6x fewer MACs, 22 pairs, 8.2 %, 3x3 and 1x1 convs, "
        "Table 12, {glue:text}`n:.1f` and $k^2=9$ in 2016; V2 1x at 3.4 M params"
    )
    assert unglued_numbers(text) == ["13.6x", "22", "8.2", "3.4"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_numbers_in_summary_and_takeaways_are_glued(path):
    """A number the chapter computes reaches its closing prose through myst-nb glue
    (from a computed value or from data/papers.csv), so the prose cannot drift."""
    assert unglued_numbers(closing_sections(path)) == []


def test_book_config_keeps_launch_buttons_and_branch():
    assert CONFIG["repository"]["branch"] == RELEASE  # the Colab button's ref
    assert CONFIG["sphinx"]["recursive_update"] is True
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert CONFIG["execute"]["raise_on_error"] is True


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_glued_values_are_plain_literals(path):
    """myst-nb formats `{glue:text}` from the stored text, which must read back as a
    Python literal (NumPy 2 writes np.float64(3.86): use nblib.book.glue)."""
    for cell in cells(path):
        for out in cell.get("outputs", []):
            text = out.get("data", {}).get("application/papermill.record/text/plain")
            if text is not None:
                ast.literal_eval("".join(text))


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_exercise_has_a_worked_solution(path):
    """Each numbered exercise is followed by a dropdown 'Solution N', executed like
    every other cell."""
    markdown = [source(c) for c in cells(path, "markdown")]
    exercises = "\n".join(markdown).split("## Exercises")[-1]
    numbers = re.findall(r"^(\d+)\. ", exercises.split(":::{dropdown}")[0], flags=re.M)
    solutions = re.findall(
        r"^:::\{dropdown\} Solution (\d+)", "\n".join(markdown), flags=re.M
    )
    assert numbers and solutions == numbers


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_shows_a_figure_or_a_diagram(path):
    outputs = [o for c in cells(path) for o in c.get("outputs", [])]
    assert any(
        "image/png" in o.get("data", {})
        or "bx-diagram" in "".join(o.get("data", {}).get("text/html", ""))
        for o in outputs
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_the_setup_cell_says_whether_a_gpu_is_attached(path):
    assert "print(setup())" in source(cells(path)[0])
