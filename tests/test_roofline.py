"""nblib.roofline: the roofline arithmetic, the zoo's counts, and the analysis of
recorded timings on a synthetic table in the benchmark's schema."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from bench_rows import timing_row  # noqa: E402
from torch import nn  # noqa: E402

from nblib import bench, measure, roofline  # noqa: E402
from nblib.models import MODELS, build  # noqa: E402

H100 = "NVIDIA H100 80GB HBM3"


def test_attainable_is_bandwidth_times_intensity_below_the_ridge_and_peak_above():
    peak, bandwidth = 100.0, 2000.0  # TFLOP/s, GB/s
    ridge = roofline.ridge_point(peak, bandwidth)
    assert ridge == pytest.approx(50.0)  # 100e12 / 2000e9 FLOP per byte
    got = roofline.attainable_tflops(np.array([5.0, ridge, 500.0]), peak, bandwidth)
    assert got == pytest.approx([10.0, 100.0, 100.0])
    assert roofline.attainable_tflops(5.0, peak, bandwidth) == pytest.approx(10.0)
    with pytest.raises(ValueError, match="peak_tflops"):
        roofline.attainable_tflops(1.0, 0.0, bandwidth)
    with pytest.raises(ValueError, match="intensity"):
        roofline.attainable_tflops(-1.0, peak, bandwidth)


def test_time_bound_is_the_larger_of_compute_and_transfer():
    # 1e9 MACs, 1e8 bf16 elements on 100 TFLOP/s, 1000 GB/s: 20 us vs 200 us
    bound = roofline.roofline_bound_us
    assert bound(1e9, 1e8, "bf16", 100.0, 1000.0) == pytest.approx(200.0)
    assert bound(1e12, 1e8, "bf16", 100.0, 1000.0) == pytest.approx(2e4)  # compute
    with pytest.raises(ValueError, match="dtype"):
        bound(1e9, 1e8, "int4", 100.0, 1000.0)


def test_intensity_of_a_1x1_convolution_by_hand():
    h, w, c1, c2 = 14, 14, 64, 128
    costs = roofline.module_costs(
        {"1x1": (nn.Conv2d(c1, c2, 1, bias=False), (1, c1, h, w))}
    )
    macs, elements = h * w * c1 * c2, h * w * (c1 + c2) + c1 * c2
    assert costs.loc["1x1"].tolist() == [macs, elements]
    assert roofline.intensity(macs, elements, "bf16") == 2 * macs / (2 * elements)
    assert roofline.intensity(macs, elements, "fp32") == 2 * macs / (4 * elements)
    with pytest.raises(ValueError, match="dtype"):
        roofline.intensity(macs, elements, "int8")


def test_device_roof_reads_the_datasheet_table(tmp_path):
    path = tmp_path / "devices.csv"
    path.write_text(
        "device_pattern,dtype,peak_tflops,bandwidth_gbs,source\n"
        "Fake GPU,bf16,100,2000,made up\n"
    )
    assert roofline.device_roof("ACME Fake GPU 2", "bf16", path) == {
        "peak_tflops": 100.0,
        "bandwidth_gbs": 2000.0,
        "source": "made up",
    }
    with pytest.raises(ValueError, match="name"):
        roofline.device_roof("Other GPU", "bf16", path)
    # the real table: the same peak the benchmark writes into its rows
    assert roofline.device_roof(H100, "bf16")["peak_tflops"] == bench.peak_tflops(
        H100, "bf16"
    )


def test_every_registry_model_has_a_family():
    assert {roofline.family(n) for n in MODELS} - {"other"} == {
        roofline.family(n) for n in MODELS
    }
    assert [
        roofline.family(n)
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
    assert [roofline.image_size(m) for m in table.model] == sizes.tolist()


def test_zoo_costs_match_measure_and_scale_with_batch():
    names, sizes = ["resnet18", "mobilenet_v2"], {"resnet18": 64, "mobilenet_v2": 32}
    one = roofline.zoo_costs(names, sizes)
    two = roofline.zoo_costs(names, sizes, batch=2)
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
        roofline.zoo_costs(["resnet18"], {})
    with pytest.raises(ValueError, match="batch"):
        roofline.zoo_costs(names, sizes, batch=0)


def test_spearman_and_model_pairs():
    x = pd.Series([1.0, 2.0, 3.0, 4.0])
    assert roofline.spearman(x, x**3) == pytest.approx(1.0)
    assert roofline.spearman(x, -x) == pytest.approx(-1.0)
    y = pd.Series([2.0, 1.0, 4.0, 3.0])
    frame = pd.DataFrame({"x": x, "y": y})
    assert roofline.spearman(x, y) == pytest.approx(
        frame.corr(method="spearman").at["x", "y"]
    )
    table = pd.DataFrame(
        {"model": ["a", "b", "c"], "macs": [1.0, 4.0, 2.0], "traffic": [3.0, 1.0, 3.0]}
    )
    pairs = roofline.model_pairs(table, "macs", "traffic")
    assert len(pairs) == 3
    wrong = pairs[pairs["traffic ratio"] < 1]
    assert sorted(zip(wrong["first"], wrong["second"], strict=True)) == [
        ("b", "a"),
        ("b", "c"),
    ]
    assert pairs.set_index(["first", "second"]).loc[("b", "a"), "macs ratio"] == 4.0


def row(**values) -> dict:
    """One recorded row in the benchmark's schema, on the H100, with round costs."""
    return (
        timing_row(
            device_name=H100,
            date="2026-01-01",
            params=1,
            macs=1_000_000_000,
            memory_access=10_000_000,
            tflops=2.0,
            peak_fraction=0.002,
        )
        | values
    )


@pytest.fixture
def recorded() -> pd.DataFrame:
    macs = {"resnet18": 1.8e9, "resnet50": 4.1e9, "mobilenet_v2": 0.3e9}
    traffic = {"resnet18": 3e7, "resnet50": 1e8, "mobilenet_v2": 5e7}
    ms = {"resnet18": 1.0, "resnet50": 3.0, "mobilenet_v2": 2.0}  # follows traffic
    rows = []
    for model in macs:
        for batch in (1, 128):
            for impl, slower in (("nblib", 1.0), ("torchvision", 0.9)):
                t = ms[model] * batch**0.5 * slower
                rows.append(
                    row(
                        model=model,
                        batch=batch,
                        implementation=impl,
                        macs=macs[model],
                        memory_access=traffic[model],
                        median_ms=t,
                        images_per_s=1e3 * batch / t,
                        tflops=2 * macs[model] * batch / t / 1e9,
                    )
                )
        rows.append(
            row(
                model=model,
                compiled=True,
                macs=macs[model],
                memory_access=traffic[model],
                median_ms=ms[model] / 2,
            )
        )
    # a re-run appended later supersedes the first resnet18 batch-1 row of ours
    rows.append(
        row(
            model="resnet18",
            macs=macs["resnet18"],
            memory_access=traffic["resnet18"],
            median_ms=0.8,
        )
    )
    return pd.DataFrame(rows, columns=bench.COLUMNS)


def test_parity_is_reference_time_over_ours_from_the_latest_rows(recorded):
    table = roofline.parity_table(recorded).set_index(["model", "batch"])
    assert len(table) == 6
    assert table.at[("resnet50", 1), "parity"] == pytest.approx(0.9)
    assert not table.at[("resnet50", 1), "at parity"]
    assert table.at[("resnet18", 1), "parity"] == pytest.approx(0.9 / 0.8)
    assert table.at[("resnet18", 1), "at parity"]
    with pytest.raises(ValueError, match="threshold"):
        roofline.parity_table(recorded, threshold=0)


def test_latency_table_and_rank_correlations(recorded):
    table = roofline.latency_vs_macs(recorded, batch=1)
    assert table.model.tolist() == ["mobilenet_v2", "resnet18", "resnet50"]
    assert table.family.tolist() == ["MobileNet", "ResNet", "ResNet"]
    assert table.median_ms.tolist() == [2.0, 0.8, 3.0]
    corr = roofline.rank_correlations(
        recorded, {"resnet18": 68, "resnet50": 174, "mobilenet_v2": 186}
    )
    eager = corr[~corr.compiled & (corr.batch == 1)].iloc[0]
    assert eager.models == 3
    assert eager["rho(memory access)"] == pytest.approx(1.0)
    assert eager["rho(MACs)"] == pytest.approx(0.5)
    assert eager["rho(operators)"] == pytest.approx(0.5)


def test_compiled_speed_up(recorded):
    table = roofline.eager_vs_compiled(recorded).set_index("model")
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
    got = roofline.row_intensity(recorded, traffic)
    r50 = recorded.model == "resnet50"
    first = recorded[r50].index[0]  # batch 1, bf16: 2 FLOPs per MAC over 2 bytes
    assert got[first] == pytest.approx(2 * 4.1e9 / (2 * 1e8))
    b128 = recorded[r50 & (recorded.batch == 128)].index[0]
    assert got[b128] == pytest.approx(2 * 4.1e9 * 128 / (2 * 5e9))
    assert got[~r50].isna().all()


def test_plots_draw_every_model(recorded):
    fig = roofline.plot_speed(recorded, label=["resnet50"])
    left, right = fig.axes[:2]
    assert sum(len(c.get_offsets()) for c in left.collections) == 3
    assert [t.get_text() for t in left.texts] == ["resnet50"]
    assert right.get_title() == "batch 128"
    traffic = pd.DataFrame(
        {
            "model": list(recorded.model.unique()),
            "image_size": 224,
            "batch": 1,
            "memory_access": 1e8,
        }
    )
    fig = roofline.plot_achieved(recorded, traffic)
    assert sum(len(c.get_offsets()) for c in fig.axes[0].collections) == 3
    fig = roofline.plot_parity(recorded)
    assert len(fig.axes[0].collections[0].get_offsets()) == 6
    unknown = recorded.assign(device_name="Some Other GPU")
    fig = roofline.plot_achieved(unknown, traffic.assign(memory_access=2e8))
    assert len(fig.axes[0].lines) == 0  # no datasheet row: no roofline drawn
    fig = roofline.plot_speed(recorded, label={"resnet18": (-20, 5)})
    assert fig.axes[0].texts[0].get_text() == "resnet18"
    plt.close("all")
    two = pd.concat([recorded, recorded.assign(device_name="NVIDIA H200")])
    with pytest.raises(ValueError, match="one device"):
        roofline.plot_speed(two)
