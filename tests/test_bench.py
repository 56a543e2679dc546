"""python -m nblib.bench: appends complete rows for the requested models."""

import csv

import pytest

from nblib import bench


def test_bench_appends_rows(tmp_path):
    for _ in range(2):  # a second run appends below the same header
        path = bench.run(
            ["resnet18"], batch=2, image_size=32, min_run_time=0.02, out_dir=tmp_path
        )
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == 2 and set(rows[0]) == set(bench.COLUMNS)
    assert rows[0]["model"] == "resnet18" and int(rows[0]["params"]) == 11_689_512
    assert float(rows[0]["median_ms"]) > 0


def test_bench_rejects_unknown_models(tmp_path):
    with pytest.raises(ValueError, match="not registered"):
        bench.run(
            ["resnet51"], batch=1, image_size=32, min_run_time=0.02, out_dir=tmp_path
        )
