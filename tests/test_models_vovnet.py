"""VoVNet-39 equal to timm's `vovnet39a`; every 3x3 conv of an OSA module has equal
input and output widths (except the first), and the concatenation happens once."""

import warnings

import pytest
import torch
from reference_models import (
    assert_equal_to_reference,
    assert_feature_contract,
    on_meta,
    shared_on_meta,
)

from nblib.book import randomised
from nblib.models import vovnet

warnings.filterwarnings("ignore", message="IProgress not found")
timm = pytest.importorskip("timm")


def test_equal_to_timm():
    assert_equal_to_reference(
        on_meta("vovnet39a"), randomised(timm.create_model, "vovnet39a")
    )


def test_feature_contract():
    model = shared_on_meta("vovnet39a")
    assert [f["stride"] for f in model.feature_info] == [4, 8, 16, 32]
    assert_feature_contract(model)


def test_osa_convs_keep_their_width():
    for stage in shared_on_meta("vovnet39a").stages:
        for block in stage.blocks:
            convs = [layer.conv for layer in block.conv_mid]
            assert len(convs) == 5
            assert all(c.in_channels == c.out_channels for c in convs[1:])
            first = convs[0].in_channels
            assert (
                block.conv_concat.conv.in_channels == first + 5 * convs[0].out_channels
            )


def test_one_concatenation_per_osa_module():
    block = vovnet.OsaBlock(8, 4, 16)
    calls = []
    original = torch.cat
    try:
        torch.cat = lambda *a, **k: calls.append(1) or original(*a, **k)
        block(torch.randn(1, 8, 6, 6))
    finally:
        torch.cat = original
    assert len(calls) == 1
