"""The claims ledger: every verdict of the book, read back from the chapters' stored
outputs (which strict nbval proves equal to a fresh execution), never typed by hand."""

import json
import re
from html import escape
from pathlib import Path

import pandas as pd

from nblib.reference import STATUSES, Verdict

# A verdict's text starts with its status in capitals (Verdict.__repr__).
_HEAD = re.compile(rf"^({'|'.join(s.upper() for s in STATUSES)}): ")
COLUMNS = [
    "chapter",
    "title",
    "status",
    "claim",
    "source",
    "kind",
    "evidence",
    "anchor",
]


def chapter_verdicts(path: Path) -> list[Verdict]:
    """The verdicts a stored notebook shows, in order (each shown verdict's text)."""
    verdicts = []
    for cell in json.loads(Path(path).read_text())["cells"]:
        for output in cell.get("outputs", []):
            text = "".join(output.get("data", {}).get("text/plain", ""))
            if _HEAD.match(text):
                verdicts.append(Verdict.from_text(text))
    return verdicts


def chapter_title(path: Path) -> str:
    """The notebook's one `# ` heading."""
    for cell in json.loads(Path(path).read_text())["cells"]:
        if cell["cell_type"] == "markdown":
            match = re.search(r"^# (.+)$", "".join(cell["source"]), flags=re.M)
            if match:
                return match[1].strip()
    raise ValueError(f"{path} has no '# ' title")


def ledger(chapters: Path) -> pd.DataFrame:
    """One row per verdict of every notebook in `chapters`, in reading order."""
    rows = [
        {"chapter": path.stem, "title": chapter_title(path)}
        | {name: getattr(v, name) for name in COLUMNS[2:]}
        for path in sorted(Path(chapters).glob("*.ipynb"))
        for v in chapter_verdicts(path)
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def ledger_html(table: pd.DataFrame, chapters_url: str = "chapters/") -> str:
    """The ledger as an HTML table: counts by status, then one row per verdict whose
    claim links to the verdict in its chapter."""
    counts = table.status.value_counts()
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES)
    rows = "".join(
        "<tr>"
        f'<td><a href="{chapters_url}{r.chapter}.html">{escape(r.title)}</a></td>'
        f'<td><a href="{chapters_url}{r.chapter}.html#{r.anchor}">'
        f"{escape(r.claim)}</a></td>"
        f"<td>{escape(r.source)}</td>"
        f'<td class="verdict-{STATUSES[r.status]}">{r.status}</td>'
        f"<td>{r.kind}</td><td>{escape(r.evidence)}</td>"
        "</tr>"
        for r in table.itertuples()
    )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("chapter", "claim", "source", "status", "evidence kind", "evidence")
    )
    return (
        f"<p><strong>{len(table)} verdicts</strong>: {summary}.</p>"
        f'<table class="claims-ledger"><thead><tr>{head}</tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )
