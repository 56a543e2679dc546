"""Paper numbers (data/papers.csv) and recorded timings (data/timings/) next to measured
ones."""

from dataclasses import dataclass
from html import escape
from pathlib import Path

import pandas as pd

# nblib/data is a link to the repository's data/ (and a copy of it in a wheel).
DATA_DIR = Path(__file__).resolve().parent / "data"
UNITS = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}


def paper_values(path: Path | None = None) -> pd.DataFrame:
    """All paper-reported numbers: model, metric, value, unit, source (paper and
    table/section)."""
    return pd.read_csv(path or DATA_DIR / "papers.csv")


def compare(measured: list[dict], papers: pd.DataFrame | None = None) -> pd.DataFrame:
    """Side by side: our measurement, the reference implementation's, the paper's, and
    the gaps.

    Each item of `measured` holds model, metric ("params" or "macs"), unit ("M" or "G"),
    ours and reference (raw counts; reference may be None when no implementation
    exists).
    """
    papers = paper_values() if papers is None else papers
    rows = []
    for item in measured:
        missing = {"model", "metric", "unit", "ours"} - item.keys()
        if missing:
            raise ValueError(f"measured item {item!r} lacks {sorted(missing)}")
        if item["unit"] not in UNITS:
            raise ValueError(
                f"unit must be one of {sorted(UNITS)}, got {item['unit']!r}"
            )
        scale = UNITS[item["unit"]]
        match = papers[
            (papers.model == item["model"]) & (papers.metric == item["metric"])
        ]
        paper = float(match.value.iloc[0]) if len(match) else None
        ours = item["ours"] / scale
        reference = item.get("reference")
        rows.append(
            {
                "model": item["model"],
                "metric": f"{item['metric']} ({item['unit']})",
                "ours": round(ours, 2),
                "reference": None if reference is None else round(reference / scale, 2),
                "ours = reference": None
                if reference is None
                else item["ours"] == reference,
                "paper": paper,
                "ours vs paper": None
                if paper is None
                else f"{100 * (ours - paper) / paper:+.1f}%",
                "source": match.source.iloc[0] if len(match) else "",
            }
        )
    return pd.DataFrame(rows)


def recorded_timings(
    models: list[str],
    device: str = "cuda",
    directory: Path | None = None,
    implementation: str | None = "nblib",
) -> pd.DataFrame:
    """Rows of the recorded benchmark CSVs (one per machine) for `models` on `device`
    ("cuda"/"cpu"), of our implementation by default ("torchvision"/"timm" for the
    references, None for all), each with the `file` it came from."""
    files = sorted((directory or DATA_DIR / "timings").glob("*.csv"))
    if not files:
        return pd.DataFrame()
    table = pd.concat(
        [pd.read_csv(f).assign(file=f"data/timings/{f.name}") for f in files],
        ignore_index=True,
    )
    keep = table.model.isin(models) & (table.device == device)
    if implementation is not None and "implementation" in table:
        keep &= table.implementation == implementation
    return table[keep].reset_index(drop=True)


NO_RECORD = (
    "No GPU record exists yet: `python -m nblib.bench` on a GPU machine writes one to "
    "data/timings/, and re-executing the chapter shows it here."
)
FORMATS = {"contiguous": "NCHW", "channels_last": "NHWC"}


def recorded_source(recorded: pd.DataFrame) -> str:
    """Where recorded timings come from, one line per device: GPU, driver, torch and
    CUDA versions, dates and file; NO_RECORD when there are none."""
    if recorded.empty:
        return NO_RECORD
    lines = []
    for device, rows in recorded.groupby("device_name", sort=False):
        first = rows.iloc[0]
        versions = ", ".join(
            f"{label} {first[column]}"
            for label, column in (
                ("driver", "driver_version"),
                ("torch", "torch_version"),
                ("CUDA", "cuda_version"),
            )
            if pd.notna(first.get(column))
        )
        dates = sorted(rows.date.astype(str).unique())
        when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
        lines.append(
            f"Recorded by `python -m nblib.bench` on {device} ({versions}) on {when}, "
            f"median of repeated runs; {', '.join(sorted(rows.file.unique()))}"
        )
    return "\n".join(lines)


def timing_table(recorded: pd.DataFrame) -> pd.DataFrame:
    """Recorded timings as one row per model (per device): latency at batch 1 in ms
    (two decimals) and throughput at the largest batch in images/s (whole), a column
    per dtype, memory format and eager/compiled."""
    if recorded.empty:
        return pd.DataFrame()
    table = recorded.assign(
        setting=recorded.dtype
        + " "
        + recorded.memory_format.map(FORMATS)
        + recorded.compiled.map({True: " compiled", False: ""})
    )
    largest = table.batch.max()
    columns = [(1, "median_ms", "latency, batch 1 (ms)", 2)]
    if largest > 1:
        label = f"throughput, batch {largest} (images/s)"
        columns.append((largest, "images_per_s", label, 0))
    parts = {}
    for batch, value, label, decimals in columns:
        rows = table[table.batch == batch]
        if not rows.empty:
            parts[label] = rows.pivot_table(
                index=["device_name", "model"],
                columns="setting",
                values=value,
                aggfunc="median",
                sort=False,
            ).round(decimals)
    wide = pd.concat(parts, axis=1)
    order = list(dict.fromkeys(recorded.model))
    wide = wide.reindex(order, level="model")
    if wide.index.get_level_values("device_name").nunique() == 1:
        wide = wide.droplevel("device_name")
    return wide


STATUSES = {
    "reproduced": "tip",
    "refuted": "danger",
    "not reproducible here": "warning",
}


@dataclass(frozen=True)
class Verdict:
    """The visible end of every executed claim: what was claimed, the status, and the
    evidence."""

    claim: str
    status: str
    evidence: str

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(
                f"status must be one of {sorted(STATUSES)}, got {self.status!r}"
            )

    def __repr__(self) -> str:
        return f"{self.status.upper()}: {self.claim}\n  evidence: {self.evidence}"

    def _repr_html_(self) -> str:  # a Sphinx admonition, styled by the book's theme
        return (
            f'<div class="admonition {STATUSES[self.status]}"><p class="admonition-title">'
            f"{self.status.capitalize()}: {escape(self.claim)}</p><p>{escape(self.evidence)}</p></div>"
        )


def verdict(claim: str, holds: bool, evidence: str) -> Verdict:
    """Reproduced if `holds` (a boolean the notebook computed), refuted otherwise."""
    return Verdict(claim, "reproduced" if holds else "refuted", evidence)
