"""One checked loader per data file: data/papers.csv, data/devices.csv and the
benchmark's data/timings/*.csv.

Every reader in nblib goes through these, so a bad row stops with the file, the CSV
line and what is allowed, instead of turning into a wrong number later. Empty cells
come back as NaN, as `pandas.read_csv` gives them.
"""

import csv
import datetime
import math
from dataclasses import fields
from pathlib import Path

import pandas as pd

from nblib.timing import DTYPES, TimingRecord

# nblib/data is a link to the repository's data/ (and a copy of it in a wheel).
DATA_DIR = Path(__file__).resolve().parent / "data"

# Units of a count (params, MACs) and their scale; papers.csv also has other units.
COUNT_UNITS = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}
PAPER_UNITS = {*COUNT_UNITS, "%", "x", "ch", "layers", "AP", "bins", "px", "cells"}
PAPER_COLUMNS = ["model", "metric", "value", "unit", "source"]

DEVICE_DTYPES = {"fp32", "tf32", "bf16", "fp16"}
DEVICE_COLUMNS = ["device_pattern", "dtype", "peak_tflops", "bandwidth_gbs", "source"]

# The benchmark's row (python -m nblib.bench writes exactly these columns; other files
# may add columns of their own, which are kept unchecked).
TIMING_COLUMNS = [f.name for f in fields(TimingRecord)] + [
    "implementation",
    "params",
    "macs",
    "memory_access",
    "cv",
    "tflops",
    "peak_tflops",
    "peak_fraction",
]
# Numeric columns of a timing row: (integer, zero allowed, may be empty).
TIMING_NUMBERS = {
    "batch": (True, False, False),
    "image_size": (True, False, False),
    "threads": (True, False, True),
    "median_ms": (False, False, False),
    "iqr_ms": (False, True, True),
    "images_per_s": (False, False, True),
    "peak_memory_mb": (False, False, True),
    "params": (True, False, True),
    "macs": (True, False, True),
    "memory_access": (True, False, True),
    "cv": (False, True, True),
    "tflops": (False, True, True),
    "peak_tflops": (False, False, True),
    "peak_fraction": (False, True, True),
}
# Text columns of a timing row that must hold one of a few values.
TIMING_CHOICES = {
    "device": {"cpu", "cuda"},
    "dtype": set(DTYPES),
    "memory_format": {"contiguous", "channels_last"},
    "compiled": {"True", "False"},
}
TIMING_TEXT = ["model", "device_name", "implementation"]  # must not be empty


def _rows(path: Path, columns: list[str], extra: bool) -> list[tuple[int, dict]]:
    """(CSV line, {column: text}) of every row, after checking the header and that
    each row has as many fields as the header."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        wanted = f"{columns}" + (" (more columns allowed)" if extra else "")
        if header is None:
            raise ValueError(f"{path} is empty: its first line must name {wanted}")
        missing = [c for c in columns if c not in header]
        if (
            missing
            or len(set(header)) < len(header)
            or (not extra and len(header) != len(columns))
        ):
            raise ValueError(
                f"{path}, line 1: the columns must be {wanted}, got {header}"
            )
        rows = []
        for fields_ in reader:
            if not fields_:  # a blank line
                continue
            if len(fields_) != len(header):
                raise ValueError(
                    f"{path}, line {reader.line_num}: {len(fields_)} fields where the "
                    f"header has {len(header)} (a row cut short, or two rows run "
                    "together?)"
                )
            rows.append((reader.line_num, dict(zip(header, fields_, strict=True))))
    return rows


def _bad(path: Path, line: int, column: str, allowed: str, text: str) -> ValueError:
    return ValueError(f"{path}, line {line}: {column} must be {allowed}, got {text!r}")


def _number(
    path: Path,
    line: int,
    column: str,
    text: str,
    integer: bool = False,
    zero: bool = False,
    empty: bool = False,
):
    """The cell as a finite int or float, > 0 (>= 0 with `zero`); NaN if empty and
    `empty` allows it."""
    if text == "" and empty:
        return math.nan
    allowed = (
        f"{'an integer' if integer else 'a finite number'} "
        f"{'>= 0' if zero else '> 0'}{' or empty' if empty else ''}"
    )
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise _bad(path, line, column, allowed, text) from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
        raise _bad(path, line, column, allowed, text)
    return value


def _text(path: Path, line: int, column: str, text: str) -> str:
    """A non-empty cell without surrounding spaces (a trailing space makes a key that
    never matches)."""
    if not text or text != text.strip():
        raise _bad(
            path, line, column, "non-empty text without surrounding spaces", text
        )
    return text


def _unique(path: Path, rows: list[tuple[int, dict]], key: list[str]) -> None:
    seen: dict[tuple, int] = {}
    for line, row in rows:
        k = tuple(row[c] for c in key)
        if k in seen:
            raise ValueError(
                f"{path}, line {line}: {dict(zip(key, k, strict=True))} "
                f"repeats line {seen[k]}; "
                f"each {' + '.join(key)} may appear once"
            )
        seen[k] = line


def _frame(records: list[dict], columns: list[str]) -> pd.DataFrame:
    """Records as a table; empty text cells become NaN, as read_csv makes them."""
    empty_as_nan = [
        {k: math.nan if v == "" else v for k, v in r.items()} for r in records
    ]
    return pd.DataFrame(empty_as_nan, columns=columns)


def load_papers(path: Path | None = None) -> pd.DataFrame:
    """data/papers.csv: model, metric, value (finite, > 0), unit (one of PAPER_UNITS; a
    count unit for params and macs), source; each model + metric once."""
    path = path or DATA_DIR / "papers.csv"
    rows = _rows(path, PAPER_COLUMNS, extra=False)
    records = []
    for line, row in rows:
        for column in ("model", "metric", "source"):
            _text(path, line, column, row[column])
        units = COUNT_UNITS if row["metric"] in ("params", "macs") else PAPER_UNITS
        if row["unit"] not in units:
            raise _bad(path, line, "unit", f"one of {sorted(units)}", row["unit"])
        value = _number(path, line, "value", row["value"])
        records.append(row | {"value": value})
    _unique(path, rows, ["model", "metric"])
    return _frame(records, PAPER_COLUMNS)


def load_devices(path: Path | None = None) -> pd.DataFrame:
    """data/devices.csv: device_pattern (text found in the device's name), dtype,
    datasheet peak_tflops and bandwidth_gbs (finite, > 0), source; each pattern +
    dtype once, and no pattern inside another of the same dtype (a name would match
    both)."""
    path = path or DATA_DIR / "devices.csv"
    rows = _rows(path, DEVICE_COLUMNS, extra=False)
    records = []
    for line, row in rows:
        _text(path, line, "device_pattern", row["device_pattern"])
        _text(path, line, "source", row["source"])
        if row["dtype"] not in DEVICE_DTYPES:
            raise _bad(
                path, line, "dtype", f"one of {sorted(DEVICE_DTYPES)}", row["dtype"]
            )
        numbers = {
            c: _number(path, line, c, row[c]) for c in ("peak_tflops", "bandwidth_gbs")
        }
        records.append(row | numbers)
    _unique(path, rows, ["device_pattern", "dtype"])
    for line, row in rows:
        for other_line, other in rows:
            if (
                row["dtype"] == other["dtype"]
                and row["device_pattern"] != other["device_pattern"]
                and row["device_pattern"] in other["device_pattern"]
            ):
                raise ValueError(
                    f"{path}, line {line}: device_pattern {row['device_pattern']!r} "
                    f"occurs in {other['device_pattern']!r} (line {other_line}): a "
                    "device name would match both"
                )
    return _frame(records, DEVICE_COLUMNS)


def device_spec(name: str, dtype: str, path: Path | None = None) -> dict | None:
    """Datasheet peak (TFLOP/s), bandwidth (GB/s) and source of the device whose
    devices.csv pattern occurs in `name` (e.g. torch's device name); None if none."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a device name, got {name!r}")
    if dtype not in DEVICE_DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DEVICE_DTYPES)}, got {dtype!r}")
    table = load_devices(path)
    match = table[
        table.device_pattern.map(lambda p: p in name) & (table.dtype == dtype)
    ]
    if match.empty:
        return None
    if len(match) > 1:
        raise ValueError(
            f"name {name!r} matches several device patterns: "
            f"{list(match.device_pattern)}"
        )
    row = match.iloc[0]
    return {
        "peak_tflops": float(row.peak_tflops),
        "bandwidth_gbs": float(row.bandwidth_gbs),
        "source": row.source,
    }


def load_timings(path: Path) -> pd.DataFrame:
    """One benchmark CSV (data/timings/*.csv): at least TIMING_COLUMNS (more are kept,
    unchecked); numbers finite and positive (empty where nothing was recorded, for the
    optional ones), dtype, device, memory format and compiled from their few values,
    date ISO (YYYY-MM-DD) or empty."""
    rows = _rows(path, TIMING_COLUMNS, extra=True)
    records = []
    for line, row in rows:
        for column in TIMING_TEXT:
            _text(path, line, column, row[column])
        for column, allowed in TIMING_CHOICES.items():
            if row[column] not in allowed:
                raise _bad(path, line, column, f"one of {sorted(allowed)}", row[column])
        if row["date"]:
            try:
                datetime.date.fromisoformat(row["date"])
            except ValueError:
                raise _bad(
                    path, line, "date", "YYYY-MM-DD or empty", row["date"]
                ) from None
        numbers = {
            c: _number(path, line, c, row[c], integer, zero, empty)
            for c, (integer, zero, empty) in TIMING_NUMBERS.items()
        }
        records.append(row | numbers | {"compiled": row["compiled"] == "True"})
    return _frame(records, list(rows[0][1]) if rows else TIMING_COLUMNS)
