"""Paper numbers (data/papers.csv) and recorded timings (data/timings/) next to measured
ones."""

import hashlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from numbers import Real
from pathlib import Path
from typing import cast

import numpy as np
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
    return cast(float, value)  # a Real: an int stays an int


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
    stand_in: bool = True,
) -> pd.DataFrame:
    """Rows of the recorded benchmark CSVs (one per machine) for `models` on `device`
    ("cuda"/"cpu"), each with the `file` it came from.

    Our implementation's rows by default ("torchvision"/"timm" for the references, None
    for all); with `stand_in`, a model we never recorded keeps its reference's rows,
    which stand for ours because both launch the same kernels (nblib.kernels)."""
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
    table = table[table.model.isin(names) & (table.device == device)]
    if implementation is not None:
        chosen = table.implementation == implementation
        if stand_in:
            chosen |= ~table.model.isin(table.model[chosen])
        table = table[chosen]
    return table.reset_index(drop=True)


NO_RECORD = (
    "No GPU record exists yet: `python -m nblib.bench` on a GPU machine writes one to "
    "data/timings/, and re-executing the chapter shows it here."
)
FORMATS = {"contiguous": "NCHW", "channels_last": "NHWC"}


def recorded_source(recorded: pd.DataFrame) -> str:
    """Where recorded timings come from, one line per device: GPU, driver, torch and
    CUDA versions, dates, the script and what its figure is, and the file;
    NO_RECORD when there are none."""
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
        script = first.get("source")
        how = (
            "`python -m nblib.bench`"
            if pd.isna(script)
            else f"`{script.split(' (')[0]}`"
        )
        statistic = first.get("statistic")
        what = "median of repeated runs" if pd.isna(statistic) else str(statistic)
        lines.append(
            f"Recorded by {how} on {device} ({versions}) on {when}, {what}; "
            f"{', '.join(sorted(rows.file.unique()))}"
        )
    return "\n".join(lines)


def recorded_experiment(
    experiment: str, device: str = "cuda", directory: Path | None = None
) -> pd.DataFrame:
    """Rows of a named experiment (e.g. "G1" for ShuffleNet V2's first guideline at
    every width): those whose `experiment` column starts with `experiment`."""
    if not isinstance(experiment, str) or not experiment:
        raise ValueError(f"experiment must be a non-empty name, got {experiment!r}")
    files = sorted((directory or DATA_DIR / "timings").glob("*.csv"))
    tables = [load_timings(f).assign(file=f"data/timings/{f.name}") for f in files]
    tables = [t for t in tables if "experiment" in t]
    if not tables:
        return pd.DataFrame()
    table = pd.concat(tables, ignore_index=True)
    keep = table.experiment.fillna("").str.startswith(experiment) & (
        table.device == device
    )
    rows = table[keep].reset_index(drop=True)
    return rows.assign(batches_per_s=1000 / rows.median_ms)


def timing_table(recorded: pd.DataFrame) -> pd.DataFrame:
    """Recorded timings as one row per model (per device): latency at batch 1 in ms
    (two decimals) and throughput at the largest batch in images/s (whole), a column
    per dtype, memory format and eager/compiled."""
    if recorded.empty:
        return pd.DataFrame()
    if "implementation" in recorded and (recorded.implementation != "nblib").any():
        recorded = recorded.assign(
            model=recorded.model + " (" + recorded.implementation + ")"
        )
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


# The four verdicts and the admonition class each is drawn with (the book's theme).
STATUSES = {
    "reproduced": "tip",
    "refuted": "danger",
    "inconclusive": "warning",
    "not testable here": "note",
}
# What a verdict rests on: an exact count or derivation, a timing on a named device,
# or a toy training run (data, size, seeds).
EVIDENCE_KINDS = ("count", "timing", "training")


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    if "\n" in value:
        raise ValueError(f"{name} must be one line, got {value!r}")
    return value.strip()


def _bool(name: str, value: object) -> bool:
    """A real boolean (Python or NumPy), never a truthy string, array or NaN."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(
            f"{name} must be a bool the notebook computed, got {type(value).__name__} "
            f"{value!r}"
        )
    return bool(value)


@dataclass(frozen=True)
class Verdict:
    """The visible end of every executed claim: the claim and who made it, the
    criterion fixed before the result, the status, and the evidence with its kind."""

    claim: str
    status: str
    evidence: str
    kind: str
    source: str
    criterion: str

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(
                f"status must be one of {list(STATUSES)}, got {self.status!r}"
            )
        if self.kind not in EVIDENCE_KINDS:
            raise ValueError(
                f"kind must be one of {list(EVIDENCE_KINDS)}, got {self.kind!r}"
            )
        for name in ("claim", "evidence", "source", "criterion"):
            _text(name, getattr(self, name))

    @property
    def anchor(self) -> str:
        """A stable HTML id for the verdict (the claims ledger links to it)."""
        slug = re.sub(r"[^a-z0-9]+", "-", self.claim.lower()).strip("-")[:48]
        digest = hashlib.sha1(self.claim.encode()).hexdigest()[:6]
        return f"verdict-{slug.rstrip('-')}-{digest}"

    def __repr__(self) -> str:
        return "\n".join(
            [f"{self.status.upper()}: {self.claim}"]
            + [f"  {label}: {getattr(self, name)}" for name, label in _FIELDS]
        )

    @classmethod
    def from_text(cls, text: str) -> "Verdict":
        """The inverse of repr: a verdict read back from a notebook's stored output."""
        lines = text.strip("\n").split("\n")
        head = re.fullmatch(r"([A-Z ]+): (.+)", lines[0])
        labels = [label for _, label in _FIELDS]
        matches = [re.fullmatch(r"  ([a-z]+): (.*)", line) for line in lines[1:]]
        body = [m for m in matches if m]
        if not head or len(body) != len(matches) or [m[1] for m in body] != labels:
            raise ValueError(f"not a verdict's text: {text[:200]!r}")
        values = {name: m[2] for (name, _), m in zip(_FIELDS, body, strict=True)}
        return cls(claim=head[2], status=head[1].lower(), **values)

    def _repr_html_(self) -> str:  # a Sphinx admonition, styled by the book's theme
        rows = "".join(
            f"<p><strong>{label.capitalize()}</strong> ({self.kind}): "
            f"{escape(getattr(self, name))}</p>"
            if name == "evidence"
            else f"<p><strong>{label.capitalize()}</strong>: "
            f"{escape(getattr(self, name))}</p>"
            for name, label in _FIELDS
        )
        return (
            f'<div class="admonition {STATUSES[self.status]} verdict" '
            f'id="{self.anchor}">'
            f'<p class="admonition-title">{self.status.capitalize()}: '
            f"{escape(self.claim)}</p>{rows}</div>"
        )


# The lines under a verdict's title, in order: (field, label).
_FIELDS = (
    ("source", "source"),
    ("criterion", "criterion"),
    ("kind", "kind"),
    ("evidence", "evidence"),
)


def verdict(
    claim: str, holds: bool, evidence: str, *, kind: str, source: str, criterion: str
) -> Verdict:
    """Reproduced if `holds` (a bool the notebook computed from the criterion), refuted
    otherwise. For a claim about GPU speed use `gpu_verdict`; for a toy experiment,
    `toy_verdict`: they add the rules those claims need."""
    status = "reproduced" if _bool("holds", holds) else "refuted"
    return Verdict(claim, status, evidence, kind, source, criterion)


def not_testable(
    claim: str, needs: str, *, kind: str, source: str, criterion: str
) -> Verdict:
    """A claim this build cannot test: `needs` says what would (data, hardware or an
    instrument we lack)."""
    return Verdict(
        claim,
        "not testable here",
        f"needs {_text('needs', needs)}",
        kind,
        source,
        criterion,
    )


def inconclusive(
    claim: str, evidence: str, *, kind: str, source: str, criterion: str
) -> Verdict:
    """The experiment ran but cannot decide (its control failed, or the effect is
    inside the noise): `evidence` says why."""
    return Verdict(claim, "inconclusive", evidence, kind, source, criterion)


def gpu_verdict(
    claim: str,
    rows: pd.DataFrame,
    decide: Callable[[pd.DataFrame], tuple[bool, str]],
    *,
    needs: str,
    source: str,
    criterion: str,
) -> Verdict:
    """A claim about GPU speed, judged by GPU rows only (`device` == "cuda").

    With no rows it is not testable here (`needs` names the record that would decide
    it); otherwise `decide(rows)` returns (holds, evidence) and the evidence is
    prefixed with the device(s) the rows come from. CPU rows are refused.
    """
    if not isinstance(rows, pd.DataFrame):
        raise ValueError(f"rows must be a DataFrame of recorded timings, got {rows!r}")
    if rows.empty:
        return not_testable(
            claim, needs, kind="timing", source=source, criterion=criterion
        )
    devices = set(rows.get("device", pd.Series(["(missing)"])))
    if devices != {"cuda"}:
        raise ValueError(
            "a GPU claim is judged by GPU rows only; "
            f"rows have device {sorted(devices)}"
        )
    holds, evidence = decide(rows)
    names = ", ".join(sorted(rows.device_name.astype(str).unique()))
    return verdict(
        claim,
        holds,
        f"{names}: {_text('evidence', evidence)}",
        kind="timing",
        source=source,
        criterion=criterion,
    )


@dataclass(frozen=True)
class SeedInterval:
    """Mean of an effect over seeds and its 95 % t-interval."""

    mean: float
    low: float
    high: float
    seeds: int

    def __str__(self) -> str:
        return (
            f"{self.mean:+.3g} (95 % interval {self.low:+.3g} to {self.high:+.3g}, "
            f"{self.seeds} seeds)"
        )


def seed_interval(effects: Sequence[float]) -> SeedInterval:
    """Mean and 95 % Student-t interval of one effect measured over seeds."""
    # imported here, not at the top: scipy.stats takes 0.6 s to import, which every
    # chapter and test process that imports nblib.reference would pay
    from scipy import stats

    values = np.asarray(effects, dtype=float)
    if values.ndim != 1 or len(values) < 3 or not np.isfinite(values).all():
        raise ValueError(
            f"effects must be at least 3 finite values, one per seed, got {effects!r}"
        )
    half = (
        stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    )
    mean = float(values.mean())
    return SeedInterval(mean, mean - half, mean + half, len(values))


def toy_verdict(
    claim: str,
    effects: Sequence[float],
    control: Sequence[float],
    *,
    setup: str,
    source: str,
    criterion: str,
    minimum: float = 0.0,
) -> Verdict:
    """A claim tested by a toy experiment, over seeds, with a positive control.

    `effects`: the claimed effect per seed (positive = as claimed); `control`: per
    seed, the effect of a change known to matter, which the same experiment must see.
    Reproduced if the control and the effect are both above `minimum` beyond the
    noise (95 % interval); refuted if the control is and the effect is below it beyond
    the noise; otherwise inconclusive. `setup` names the data, size and seeds.
    """
    effect, positive = seed_interval(effects), seed_interval(control)
    evidence = f"{_text('setup', setup)}; effect {effect}; control {positive}"
    status = "inconclusive"
    if positive.low > minimum:
        if effect.low > minimum:
            status = "reproduced"
        elif effect.high < minimum:
            status = "refuted"
    else:
        evidence += "; the control's effect is not beyond the noise: it cannot decide"
    return Verdict(claim, status, evidence, "training", source, criterion)
