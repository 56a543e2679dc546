"""nblib.experiments: every GPU micro-experiment builds, runs, and holds fixed what its
claim holds fixed."""

import math

import pytest
import torch

from nblib import experiments, measure


def macs_by_group(name: str, **sizes) -> dict[str, dict[str, int]]:
    groups: dict[str, dict[str, int]] = {}
    for v in experiments.variants(name, **sizes):
        with torch.device("meta"):
            module = v.build()
        groups.setdefault(v.experiment, {})[v.variant] = measure.count_macs(
            module, v.input_shape
        )
    return groups


@pytest.mark.parametrize(
    "name",
    [
        "shufflenet_v2_guidelines",
        "conv_kernel_efficiency",
        "vovnet_fragmentation",
        "spp_vs_sppf",
        "bifpn_fusion",
    ],
)
def test_variants_of_a_group_do_the_same_macs(name):
    for group, macs in macs_by_group(name).items():
        assert max(macs.values()) / min(macs.values()) < 1.03, (group, macs)


def test_depthwise_and_dense_differ_by_the_width_factor():
    for group, macs in macs_by_group("depthwise_vs_dense").items():
        c = int(group.split("=")[1])
        assert macs["dense"] == c * macs["depthwise"]


def test_the_h100_scripts_g1_and_g3_did_not_hold_flops_fixed():
    """The imported H100 guideline rows come from stacks whose FLOPs grow with the
    ratio (G1) and with series fragments (G3): our experiment fixes both."""
    base = 128
    c1, c2 = (round(base * math.sqrt(2 / 13)), round(base * math.sqrt(2 / 13) * 12))
    assert round(c1 * c2 / base**2, 2) == 1.84  # the script's 1:12 vs its 1:1
    w = int(base / math.sqrt(2))  # the script's 2-series: c -> w -> c
    assert round(2 * base * w / base**2, 2) == 1.41


@pytest.mark.parametrize("name", sorted(experiments.EXPERIMENTS))
def test_every_variant_runs_tiny_on_a_cpu(name):
    torch.manual_seed(0)
    hw = {"shufflenet_v1_groups": 32, "bifpn_fusion": 16}.get(name, 8)
    for v in experiments.variants(name, batch=1, hw=hw):
        with torch.no_grad():
            out = v.build().eval()(torch.randn(v.input_shape))
        assert torch.isfinite(out).all(), (v.experiment, v.variant)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: experiments.variants("g1"), "unknown"),
        (lambda: experiments.variants("spp_vs_sppf", batch=0), "batch"),
        (lambda: experiments.variants("spp_vs_sppf", hw=2.5), "hw"),
    ],
)
def test_bad_experiment_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()
