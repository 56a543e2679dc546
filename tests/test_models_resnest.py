"""ResNeSt: resnest50d equal to timm's; split attention mixes its radix splits with
weights that sum to 1."""

import pytest
import timm
import torch
from reference_models import (
    assert_equal_to_reference,
    assert_feature_contract,
    on_meta,
    shared_on_meta,
)

from nblib.book import randomised
from nblib.models import resnest


@pytest.mark.parametrize("name", ["resnest50d"])
def test_equal_to_timm(name):
    reference = randomised(timm.create_model, name)
    assert_equal_to_reference(on_meta(name), reference)


# timm's fast settings of the paper's Table 2: the pool before the split attention,
# radix 4 in 2 groups, and radix 1 (a sigmoid gate) in 4 groups.
FAST = {
    "resnest50d_4s2x40d": {"radix": 4, "groups": 2, "width_per_group": 40},
    "resnest50d_1s4x24d": {"radix": 1, "groups": 4, "width_per_group": 24},
}


@pytest.mark.parametrize("name", FAST)
def test_fast_settings_equal_to_timm(name):
    reference = randomised(timm.create_model, name)
    assert_equal_to_reference(
        on_meta(resnest.resnest50d, avd_first=True, **FAST[name]), reference
    )


def test_feature_contract():
    model = shared_on_meta("resnest50d")
    assert [f["stride"] for f in model.feature_info] == [4, 8, 16, 32]
    assert_feature_contract(model)


def test_split_attention_weights_sum_to_one_over_the_radix():
    unit = resnest.SplitAttention(64, 64, radix=4).eval()
    with torch.no_grad():
        splits, weights = unit.attention(torch.randn(2, 64, 8, 8))
        out = unit(torch.randn(2, 64, 8, 8))
    assert splits.shape == (2, 4, 64, 8, 8) and weights.shape == (2, 4, 64, 1, 1)
    torch.testing.assert_close(weights.sum(1), torch.ones(2, 64, 1, 1))
    assert out.shape == (2, 64, 8, 8)
    assert unit.fc1.out_channels == 64  # 64 x 4 x 0.25, timm's rounding


def test_avd_moves_the_stride_to_an_average_pool():
    block = resnest.ResNestBottleneck(256, 128, stride=2)
    assert block.conv2.conv.stride == (1, 1) and block.avd_last.stride == 2
    plain = resnest.ResNestBottleneck(256, 128, stride=2, avd=False)
    assert plain.conv2.conv.stride == (2, 2) and plain.avd_last is None
    assert resnest.ResNestBottleneck(256, 64).avd_last is None  # stride 1: no pool


def test_radix_one_is_a_gate():
    unit = resnest.SplitAttention(32, 32, radix=1).eval()
    torch.nn.init.constant_(unit.fc2.bias, -float("inf"))  # sigmoid = 0
    with torch.no_grad():
        assert torch.count_nonzero(unit(torch.randn(1, 32, 4, 4))) == 0
