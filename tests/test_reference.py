"""nblib.reference: the paper table's schema, comparisons, recorded timings, verdicts."""

import pandas as pd
import pytest
from bench_rows import timing_row

from nblib import bench, reference


def test_papers_csv_rows_are_complete_and_sourced():
    papers = reference.paper_values()
    assert list(papers.columns) == ["model", "metric", "value", "unit", "source"]
    assert papers[["model", "metric", "value", "source"]].notna().all().all()
    assert (papers.value > 0).all()
    assert papers.source.str.contains(
        r"\d{4}"
    ).all()  # every source names a paper (author year)
    assert not papers.duplicated(["model", "metric"]).any()


def test_compare_lines_up_ours_reference_and_paper():
    papers = pd.DataFrame(
        [
            {
                "model": "net",
                "metric": "macs",
                "value": 2.0,
                "unit": "G",
                "source": "X 2020, Table 1",
            }
        ]
    )
    table = reference.compare(
        [
            {
                "model": "net",
                "metric": "macs",
                "unit": "G",
                "ours": 2.1e9,
                "reference": 2.1e9,
            }
        ],
        papers,
    )
    row = table.iloc[0]
    assert (row.ours, row.reference, row["ours = reference"], row.paper) == (
        2.1,
        2.1,
        True,
        2.0,
    )
    assert row["ours vs paper"] == "+5.0%" and row.source == "X 2020, Table 1"


def test_compare_without_paper_or_reference():
    table = reference.compare(
        [{"model": "net", "metric": "params", "unit": "M", "ours": 5e6}],
        pd.DataFrame(columns=["model", "metric", "value", "unit", "source"]),
    )
    assert table.iloc[0].paper is None and table.iloc[0].reference is None


@pytest.mark.parametrize(
    "item, message",
    [
        ({"model": "n", "metric": "macs", "unit": "G"}, "lacks"),
        ({"model": "n", "metric": "macs", "unit": "T", "ours": 1}, "unit"),
    ],
)
def test_compare_rejects_bad_items(item, message):
    with pytest.raises(ValueError, match=message):
        reference.compare([item])


def test_recorded_timings_filters_models_and_device(tmp_path):
    pd.DataFrame(
        [
            timing_row(model="resnet18", device="cuda"),
            timing_row(model="resnet18", device="cpu"),
            timing_row(model="vgg16", device="cuda"),
        ]
    ).to_csv(tmp_path / "gpu.csv", index=False)
    table = reference.recorded_timings(["resnet18"], "cuda", directory=tmp_path)
    assert table.to_dict("records") == [
        timing_row(model="resnet18", device="cuda") | {"file": "data/timings/gpu.csv"}
    ]
    assert reference.recorded_timings(["resnet18"], directory=tmp_path / "none").empty


def test_recorded_timings_keep_our_implementation_by_default(tmp_path):
    pd.DataFrame(
        [
            timing_row(implementation="nblib"),
            timing_row(implementation="torchvision"),
        ]
    ).to_csv(tmp_path / "gpu.csv", index=False)
    ours = reference.recorded_timings(["resnet18"], directory=tmp_path)
    assert list(ours.implementation) == ["nblib"]
    both = reference.recorded_timings(
        ["resnet18"], directory=tmp_path, implementation=None
    )
    assert list(both.implementation) == ["nblib", "torchvision"]


def test_verdicts():
    assert reference.verdict("a", True, "b").status == "reproduced"
    refuted = reference.verdict("x < y", False, "3 > 2")
    assert refuted.status == "refuted" and "x &lt; y" in refuted._repr_html_()
    assert repr(refuted).startswith("REFUTED: x < y")
    with pytest.raises(ValueError, match="status"):
        reference.Verdict("a", "probably", "b")


def recorded_rows(tmp_path):
    """A benchmark CSV in the bench's schema: two models, batch 1 and 128, eager in two
    settings and compiled in one."""
    base = timing_row()
    rows = []
    for model, ms in (("vgg16", 4.0), ("resnet18", 1.0)):
        for batch in (1, 128):
            for dtype, layout, compiled, speed in (
                ("fp32", "contiguous", False, 1), ("bf16", "channels_last", False, 2),
                ("bf16", "channels_last", True, 4),
            ):
                rows.append(base | {
                    "model": model, "batch": batch, "dtype": dtype,
                    "memory_format": layout, "compiled": compiled,
                    "median_ms": ms * batch / speed,
                    "images_per_s": 1e3 * speed / ms,
                })
    pd.DataFrame(rows, columns=bench.COLUMNS).to_csv(tmp_path / "nvidia-h200.csv",
                                                    index=False)
    return reference.recorded_timings(["resnet18", "vgg16"], directory=tmp_path)


def test_timing_table_has_one_row_per_model_and_a_column_per_setting(tmp_path):
    table = reference.timing_table(recorded_rows(tmp_path))
    assert list(table.index) == ["vgg16", "resnet18"]  # the order recorded
    latency = table["latency, batch 1 (ms)"]
    assert list(latency.columns) == ["fp32 NCHW", "bf16 NHWC", "bf16 NHWC compiled"]
    assert latency.loc["resnet18"].tolist() == [1.0, 0.5, 0.25]
    throughput = table["throughput, batch 128 (images/s)"]
    assert throughput.loc["vgg16", "bf16 NHWC"] == 500.0
    assert reference.timing_table(pd.DataFrame()).empty


def test_recorded_source_names_device_versions_and_file(tmp_path):
    line = reference.recorded_source(recorded_rows(tmp_path))
    assert line == (
        "Recorded by `python -m nblib.bench` on NVIDIA H200 (driver 570.86.15, torch "
        "2.14.1, CUDA 13.0) on 2026-12-01, median of repeated runs; "
        "data/timings/nvidia-h200.csv"
    )
    assert reference.recorded_source(pd.DataFrame()) == reference.NO_RECORD
