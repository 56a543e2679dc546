"""Paper numbers (data/papers.csv) and recorded timings (data/timings/) next to measured
ones."""

import math
from dataclasses import dataclass
from html import escape
from numbers import Real
from pathlib import Path

import pandas as pd

from nblib.datafiles import COUNT_UNITS, DATA_DIR, load_papers, load_timings

UNITS = COUNT_UNITS  # the units a count (params, MACs) is compared in


def paper_values(path: Path | None = None) -> pd.DataFrame:
    """All paper-reported numbers: model, metric, value, unit, source (paper and
    table/section), checked by nblib.datafiles.load_papers."""
    return load_papers(path)


def _count(item: dict, key: str) -> float:
    value = item[key]
    if (
        isinstance(value, bool)
        or not isinstance(value, Real)
        or not math.isfinite(value)
    ):
        raise ValueError(f"{key} must be a finite number (a raw count), got {value!r}")
    return value


def _paper_value(papers: pd.DataFrame, model: str, metric: str, unit: str):
    """The paper's value of model + metric converted to `unit`, and its source; (None,
    "") when the paper gives none."""
    match = papers[(papers.model == model) & (papers.metric == metric)]
    if len(match) > 1:
        raise ValueError(
            f"papers holds {len(match)} rows for {model} {metric}, not one"
        )
    if match.empty:
        return None, ""
    row = match.iloc[0]
    paper_unit = "" if pd.isna(row.unit) else row.unit
    if paper_unit not in UNITS:
        raise ValueError(
            f"the paper's {model} {metric} is in {paper_unit!r}, not a count unit "
            f"({sorted(UNITS)}): it cannot be compared with a count"
        )
    value = float(row.value)
    if paper_unit != unit:  # e.g. a paper's 0.3 G shown as 300 M
        value = float(f"{value * UNITS[paper_unit] / UNITS[unit]:.12g}")
    return value, row.source


def compare(measured: list[dict], papers: pd.DataFrame | None = None) -> pd.DataFrame:
    """Side by side: our measurement, the reference implementation's, the paper's (in
    the measured unit, whatever unit the paper used), and the gaps.

    Each item of `measured` holds model, metric ("params" or "macs"), unit ("M" or "G"),
    ours and reference (raw counts; reference may be None when no implementation
    exists).
    """
    papers = paper_values() if papers is None else papers
    missing_columns = {"model", "metric", "value", "unit", "source"} - set(papers)
    if missing_columns:
        raise ValueError(f"papers lacks the columns {sorted(missing_columns)}")
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
        ours = _count(item, "ours") / scale
        reference = item.get("reference")
        if reference is not None:
            _count(item, "reference")
        paper, source = _paper_value(
            papers, item["model"], item["metric"], item["unit"]
        )
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
                "source": source,
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
    names = [] if isinstance(models, str) else list(models)
    if not names or not all(isinstance(m, str) for m in names):
        raise ValueError(f"models must be a list of model names, got {models!r}")
    if device not in ("cuda", "cpu"):
        raise ValueError(f"device must be 'cuda' or 'cpu', got {device!r}")
    files = sorted((directory or DATA_DIR / "timings").glob("*.csv"))
    if not files:
        return pd.DataFrame()
    table = pd.concat(
        [load_timings(f).assign(file=f"data/timings/{f.name}") for f in files],
        ignore_index=True,
    )
    keep = table.model.isin(names) & (table.device == device)
    if implementation is not None:
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
