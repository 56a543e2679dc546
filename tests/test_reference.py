"""nblib.reference: the paper table's schema, comparisons, recorded timings,
verdicts."""

import numpy as np
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


def test_a_reference_stands_in_where_ours_was_never_recorded(tmp_path):
    pd.DataFrame(
        [
            timing_row(implementation="nblib"),
            timing_row(implementation="torchvision"),
            timing_row(model="vgg16", implementation="torchvision"),
        ]
    ).to_csv(tmp_path / "gpu.csv", index=False)
    rows = reference.recorded_timings(["resnet18", "vgg16"], directory=tmp_path)
    assert list(zip(rows.model, rows.implementation, strict=True)) == [
        ("resnet18", "nblib"),
        ("vgg16", "torchvision"),
    ]
    alone = reference.recorded_timings(["vgg16"], directory=tmp_path, stand_in=False)
    assert alone.empty


def test_the_h100_import_reads_back_with_its_provenance():
    rows = reference.recorded_timings(["resnet50", "vit_b_16"], implementation=None)
    assert len(rows) == 4 and set(rows.implementation) == {"torchvision"}
    assert (
        rows.macs[rows.model == "vit_b_16"].iloc[0] == 17_563_828_224
    )  # attention counted
    source = reference.recorded_source(rows)
    assert "NVIDIA H100 80GB HBM3" in source and "fastest of 3 repeats" in source
    g1 = reference.recorded_experiment("G1 x1")
    assert sorted(g1.variant.unique()) == ["1:1", "1:12", "1:2", "1:6"]
    assert g1.batches_per_s.round().tolist()[:2] == [1005, 1022]  # the script's figures


WHO = {"source": "notes (ch. 3)", "criterion": "x < y exactly"}


def test_verdict_statuses_and_the_text_a_ledger_reads_back():
    assert reference.verdict("a", True, "b", kind="count", **WHO).status == "reproduced"
    refuted = reference.verdict("x < y", np.bool_(False), "3 > 2", kind="count", **WHO)
    assert refuted.status == "refuted" and "x &lt; y" in refuted._repr_html_()
    assert repr(refuted).splitlines() == [
        "REFUTED: x < y",
        "  source: notes (ch. 3)",
        "  criterion: x < y exactly",
        "  kind: count",
        "  evidence: 3 > 2",
    ]
    assert reference.Verdict.from_text(repr(refuted)) == refuted
    assert f'id="{refuted.anchor}"' in refuted._repr_html_()
    for status in reference.STATUSES:
        v = reference.Verdict("c", status, "e", "timing", "s", "k")
        assert reference.Verdict.from_text(repr(v)) == v


@pytest.mark.parametrize(
    "holds",
    ["False", 1, None, float("nan"), np.array([True, False])],
    ids=["string", "int", "None", "nan", "array"],
)
def test_a_verdict_takes_a_computed_bool_only(holds):
    with pytest.raises(ValueError, match="holds must be a bool"):
        reference.verdict("a", holds, "b", kind="count", **WHO)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("status", "probably", "status"),
        ("status", "not reproducible here", "status"),
        ("kind", "vibes", "kind"),
        ("source", "", "source"),
        ("criterion", " ", "criterion"),
        ("evidence", "two\nlines", "evidence"),
    ],
)
def test_a_verdict_names_each_bad_field(field, value, message):
    fields = {"claim": "a", "status": "refuted", "evidence": "e", "kind": "count"}
    with pytest.raises(ValueError, match=message):
        reference.Verdict(**(fields | WHO | {field: value}))


def test_gpu_claims_are_judged_by_gpu_rows_only():
    def decide(rows):
        return bool(rows.median_ms.iloc[0] < 1), f"{rows.median_ms.iloc[0]} ms"

    none = reference.gpu_verdict(
        "fast on a GPU", pd.DataFrame(), decide, needs="a GPU record of G1", **WHO
    )
    assert none.status == "not testable here" and "a GPU record of G1" in none.evidence
    gpu = pd.DataFrame(
        [{"device": "cuda", "device_name": "NVIDIA H100", "median_ms": 0.5}]
    )
    judged = reference.gpu_verdict("fast on a GPU", gpu, decide, needs="-", **WHO)
    assert judged.status == "reproduced" and judged.evidence.startswith("NVIDIA H100")
    with pytest.raises(ValueError, match="GPU rows only"):
        reference.gpu_verdict(
            "fast", gpu.assign(device="cpu"), decide, needs="-", **WHO
        )


@pytest.mark.parametrize(
    "effects, control, status",
    [
        ([0.1, 0.2, 0.15], [0.3, 0.35, 0.4], "reproduced"),
        ([-0.1, -0.2, -0.15], [0.3, 0.35, 0.4], "refuted"),
        ([-0.1, 0.2, 0.15], [0.3, 0.35, 0.4], "inconclusive"),  # inside the noise
        ([0.1, 0.2, 0.15], [-0.3, 0.35, 0.4], "inconclusive"),  # control not beyond it
        ([-0.1, -0.2, -0.15], [0.0, 0.01, -0.01], "inconclusive"),  # control failed
    ],
)
def test_toy_verdicts_need_a_positive_control_and_seeds(effects, control, status):
    v = reference.toy_verdict("claim", effects, control, setup="toy", **WHO)
    assert v.status == status and v.kind == "training" and "3 seeds" in v.evidence


def test_a_toy_verdict_needs_three_seeds():
    with pytest.raises(ValueError, match="at least 3"):
        reference.toy_verdict("c", [0.1, 0.2], [0.3, 0.4], setup="toy", **WHO)


def test_seed_interval_is_the_student_t_interval():
    interval = reference.seed_interval([1.0, 2.0, 3.0])
    # mean 2, sd 1, t(0.975, 2) = 4.303: half-width 4.303 / sqrt(3) = 2.484
    assert interval.mean == 2 and round(interval.high - 2, 3) == 2.484


def recorded_rows(tmp_path):
    """A benchmark CSV in the bench's schema: two models, batch 1 and 128, eager in two
    settings and compiled in one."""
    base = timing_row()
    rows = []
    for model, ms in (("vgg16", 4.0), ("resnet18", 1.0)):
        for batch in (1, 128):
            for dtype, layout, compiled, speed in (
                ("fp32", "contiguous", False, 1),
                ("bf16", "channels_last", False, 2),
                ("bf16", "channels_last", True, 4),
            ):
                rows.append(
                    base
                    | {
                        "model": model,
                        "batch": batch,
                        "dtype": dtype,
                        "memory_format": layout,
                        "compiled": compiled,
                        "median_ms": ms * batch / speed,
                        "images_per_s": 1e3 * speed / ms,
                    }
                )
    pd.DataFrame(rows, columns=bench.COLUMNS).to_csv(
        tmp_path / "nvidia-h200.csv", index=False
    )
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
