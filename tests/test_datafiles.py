"""nblib.datafiles: every committed data file loads through its checked loader (a bad
row fails CI with its file and line), and the loaders return what the readers use."""

import math

import pandas as pd
import pytest
from bench_rows import timing_row

from nblib import datafiles
from nblib.models import MODELS
from nblib.necks.zoo import NECK_MODELS

TIMING_FILES = sorted((datafiles.DATA_DIR / "timings").glob("*.csv"))


def test_the_committed_papers_table_loads():
    papers = datafiles.load_papers()
    assert list(papers.columns) == datafiles.PAPER_COLUMNS and len(papers) > 100
    assert (papers.value > 0).all()
    assert papers.source.str.contains(r"\d{4}").all()  # every source names a year
    counts = papers[papers.metric.isin(["params", "macs"])]
    assert set(counts.unit.fillna("")) <= set(datafiles.COUNT_UNITS)


def test_the_committed_device_table_loads():
    devices = datafiles.load_devices()
    assert list(devices.columns) == datafiles.DEVICE_COLUMNS
    assert datafiles.device_spec("NVIDIA H200", "bf16")["peak_tflops"] == 989.5
    assert datafiles.device_spec("AMD EPYC 9654", "fp32") is None


def unregistered_models(table: pd.DataFrame) -> set[str]:
    """Models a timing table names that neither registry knows (experiment rows, which
    name their own variants, aside; a table without that column has none)."""
    timed = (
        table.model[table["experiment"].isna()]
        if "experiment" in table
        else table.model
    )
    return set(timed) - set(MODELS) - set(NECK_MODELS)


def test_the_timing_files_are_found():
    # An empty glob would make the parametrised test below pass by running nothing.
    assert [p.name for p in TIMING_FILES] == [
        "h100_reference_models_2026-11-23.csv",
        "h100_shufflenet_guidelines_2026-11-23.csv",
    ]


@pytest.mark.parametrize("path", TIMING_FILES, ids=lambda p: p.name)
def test_the_committed_timing_files_load(path):
    table = datafiles.load_timings(path)
    assert set(datafiles.TIMING_COLUMNS) <= set(table.columns)
    assert not unregistered_models(table), path


@pytest.mark.parametrize(
    "experiment", [None, "", "G1 x1"], ids=["no column", "empty", "set"]
)
def test_an_unregistered_model_in_a_timing_file_is_caught(tmp_path, experiment):
    """The check above can fail: a model row naming no registered model is reported,
    whether or not the file has an experiment column; an experiment row is not."""
    rows = [timing_row(model="resnet51"), timing_row(model="resnet18")]
    extra = [] if experiment is None else ["experiment"]
    path = tmp_path / "cpu.csv"
    lines = [",".join([*datafiles.TIMING_COLUMNS, *extra])]
    for row in rows:
        values = [str(row[c]) for c in datafiles.TIMING_COLUMNS]
        lines.append(",".join(values + ([experiment] if extra else [])))
    path.write_text("\n".join(lines) + "\n")
    found = unregistered_models(datafiles.load_timings(path))
    assert found == (set() if experiment else {"resnet51"})


def test_timings_keep_extra_columns_and_empty_optional_values(tmp_path):
    path = tmp_path / "h100.csv"
    header = ",".join([*datafiles.TIMING_COLUMNS, "experiment", "statistic"])
    row = timing_row(cv="", peak_tflops="", driver_version="") | {
        "experiment": "import",
        "statistic": "median",
    }
    path.write_text(header + "\n" + ",".join(map(str, row.values())) + "\n")
    (loaded,) = datafiles.load_timings(path).to_dict("records")
    assert loaded["experiment"] == "import" and loaded["compiled"] is False
    assert math.isnan(loaded["cv"]) and math.isnan(loaded["peak_tflops"])
    assert loaded["batch"] == 1 and loaded["median_ms"] == 1.0
