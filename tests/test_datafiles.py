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


@pytest.mark.parametrize("path", TIMING_FILES, ids=lambda p: p.name)
def test_the_committed_timing_files_load(path):
    table = datafiles.load_timings(path)
    assert set(datafiles.TIMING_COLUMNS) <= set(table.columns)
    models = table.model[table.get("experiment", pd.Series(dtype=str)).isna()]
    assert set(models) <= set(MODELS) | set(NECK_MODELS), path  # experiments aside


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
