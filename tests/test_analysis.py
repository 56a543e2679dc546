"""nblib.analysis: families, the zoo's counts, and the analysis of recorded timings on a
synthetic table in the benchmark's schema."""

from pathlib import Path

import pandas as pd
import pytest
import torch
from bench_rows import recorded_rows

from nblib import analysis, measure
from nblib.models import MODELS, build, image_size


@pytest.fixture
def recorded() -> pd.DataFrame:
    return recorded_rows()


def test_every_registry_model_has_a_family():
    assert {analysis.family(n) for n in MODELS} - {"other"} == {
        analysis.family(n) for n in MODELS
    }
    assert [
        analysis.family(n)
        for n in (
            "resnet50d",
            "resnext50_32x4d",
            "resnest50d",
            "res2net50_26w_4s",
            "cspresnet50",
        )
    ] == ["ResNet", "ResNeXt", "ResNeSt", "Res2Net", "Darknet/CSP"]


def test_image_sizes_are_those_of_the_committed_cost_table():
    table = pd.read_csv(Path(__file__).with_name("model_costs.csv"))
    sizes = table.input_size.fillna(224).astype(int)
    assert [image_size(m) for m in table.model] == sizes.tolist()


def test_zoo_costs_match_measure_and_scale_with_batch():
    names, sizes = ["resnet18", "mobilenet_v2"], {"resnet18": 64, "mobilenet_v2": 32}
    one = analysis.zoo_costs(names, sizes)
    two = analysis.zoo_costs(names, sizes, batch=2)
    for name, row in one.set_index("model").iterrows():
        with torch.device("meta"):
            model = build(name)
        summary = measure.cost_summary(model, (1, 3, sizes[name], sizes[name]))
        assert row[list(summary)].tolist() == list(summary.values())
    assert (two.macs == 2 * one.macs).all()
    # activations double, weights are read once: traffic grows, but less than twice
    assert (
        (two.memory_access > one.memory_access)
        & (two.memory_access < 2 * one.memory_access)
    ).all()
    with pytest.raises(ValueError, match="sizes"):
        analysis.zoo_costs(["resnet18"], {})
    with pytest.raises(ValueError, match="batch"):
        analysis.zoo_costs(names, sizes, batch=0)


def test_spearman_and_model_pairs():
    x = pd.Series([1.0, 2.0, 3.0, 4.0])
    assert analysis.spearman(x, x**3) == pytest.approx(1.0)
    assert analysis.spearman(x, -x) == pytest.approx(-1.0)
    y = pd.Series([2.0, 1.0, 4.0, 3.0])
    frame = pd.DataFrame({"x": x, "y": y})
    assert analysis.spearman(x, y) == pytest.approx(
        frame.corr(method="spearman").at["x", "y"]
    )
    table = pd.DataFrame(
        {"model": ["a", "b", "c"], "macs": [1.0, 4.0, 2.0], "traffic": [3.0, 1.0, 3.0]}
    )
    pairs = analysis.model_pairs(table, "macs", "traffic")
    assert len(pairs) == 3
    wrong = pairs[pairs["traffic ratio"] < 1]
    assert sorted(zip(wrong["first"], wrong["second"], strict=True)) == [
        ("b", "a"),
        ("b", "c"),
    ]
    assert pairs.set_index(["first", "second"]).loc[("b", "a"), "macs ratio"] == 4.0


def test_parity_is_reference_time_over_ours_from_the_latest_rows(recorded):
    table = analysis.parity_table(recorded).set_index(["model", "batch"])
    assert len(table) == 6
    assert table.at[("resnet50", 1), "parity"] == pytest.approx(0.9)
    assert not table.at[("resnet50", 1), "at parity"]
    assert table.at[("resnet18", 1), "parity"] == pytest.approx(0.9 / 0.8)
    assert table.at[("resnet18", 1), "at parity"]
    with pytest.raises(ValueError, match="threshold"):
        analysis.parity_table(recorded, threshold=0)


def test_latency_table_and_rank_correlations(recorded):
    table = analysis.latency_vs_macs(recorded, batch=1)
    assert table.model.tolist() == ["mobilenet_v2", "resnet18", "resnet50"]
    assert table.family.tolist() == ["MobileNet", "ResNet", "ResNet"]
    assert table.median_ms.tolist() == [2.0, 0.8, 3.0]
    corr = analysis.rank_correlations(
        recorded, {"resnet18": 68, "resnet50": 174, "mobilenet_v2": 186}
    )
    eager = corr[~corr.compiled & (corr.batch == 1)].iloc[0]
    assert eager.models == 3
    assert eager["rho(memory access)"] == pytest.approx(1.0)
    assert eager["rho(MACs)"] == pytest.approx(0.5)
    assert eager["rho(operators)"] == pytest.approx(0.5)


def test_compiled_speed_up(recorded):
    table = analysis.eager_vs_compiled(recorded).set_index("model")
    assert table.loc["resnet50", "speed-up"] == pytest.approx(2.0)
    assert table.loc["resnet18", "speed-up"] == pytest.approx(0.8 / 0.5)
    assert set(table.batch) == {1}


def test_row_intensity_uses_the_traffic_at_the_rows_batch(recorded):
    traffic = pd.DataFrame(
        {
            "model": ["resnet50", "resnet50"],
            "image_size": [224, 224],
            "batch": [1, 128],
            "memory_access": [1e8, 5e9],
        }
    )
    got = analysis.row_intensity(recorded, traffic)
    r50 = recorded.model == "resnet50"
    first = recorded[r50].index[0]  # batch 1, bf16: 2 FLOPs per MAC over 2 bytes
    assert got[first] == pytest.approx(2 * 4.1e9 / (2 * 1e8))
    b128 = recorded[r50 & (recorded.batch == 128)].index[0]
    assert got[b128] == pytest.approx(2 * 4.1e9 * 128 / (2 * 5e9))
    assert got[~r50].isna().all()
