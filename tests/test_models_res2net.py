"""Res2Net: res2net50_26w_4s equal to timm's; the splits are chained inside a block."""

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
from nblib.models import res2net


@pytest.mark.parametrize("name", ["res2net50_26w_4s"])
def test_equal_to_timm(name):
    reference = randomised(timm.create_model, name)
    assert_equal_to_reference(on_meta(name), reference)


def test_feature_contract():
    model = shared_on_meta("res2net50_26w_4s")
    assert [f["stride"] for f in model.feature_info] == [4, 8, 16, 32]
    assert_feature_contract(model)


def test_block_widths():
    block = res2net.Bottle2neck(256, 64)
    assert block.width == 26 and block.conv1.out_channels == 104  # 4 splits of 26
    assert len(block.convs) == 3 and block.pool is None  # the last split is kept
    first = res2net.Bottle2neck(256, 128, stride=2, downsample=torch.nn.Identity())
    assert first.is_first and first.pool.stride == 2


def test_last_split_passes_unchanged_and_splits_are_chained():
    block = res2net.Bottle2neck(256, 64).eval()
    x = torch.randn(1, 104, 9, 9)
    y = x.clone()
    y[:, 26:52] = 0  # change split 2 only
    with torch.no_grad():
        a, b = block.multiscale(x), block.multiscale(y)
    torch.testing.assert_close(a[:, 78:], x[:, 78:], rtol=0, atol=0)
    assert torch.equal(a[:, :26], b[:, :26])  # split 1 does not see split 2
    assert not torch.equal(a[:, 52:78], b[:, 52:78])  # split 3 does
