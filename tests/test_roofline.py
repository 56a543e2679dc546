"""nblib.roofline: the roofline arithmetic and the datasheet table it reads."""

import numpy as np
import pytest
from bench_rows import H100
from torch import nn

from nblib import analysis, bench, roofline


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
    costs = analysis.module_costs(
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
