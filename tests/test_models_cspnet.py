"""CSPResNet-50, CSPResNeXt-50 and CSPDarknet-53 equal to timm's; the partial block
sees half of the stage's channels; the three fusion strategies of the paper's Fig. 3
build and run."""

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
from nblib.models import cspnet

warnings.filterwarnings("ignore", message="IProgress not found")
timm = pytest.importorskip("timm")

NAMES = ["cspresnet50", "cspresnext50", "cspdarknet53"]


@pytest.mark.parametrize("name", NAMES)
def test_equal_to_timm(name):
    assert_equal_to_reference(on_meta(name), randomised(timm.create_model, name))


@pytest.mark.parametrize("name", NAMES)
def test_feature_contract(name):
    assert_feature_contract(shared_on_meta(name))


@pytest.mark.parametrize("name", NAMES)
def test_blocks_see_half_of_the_expanded_channels(name):
    for stage in shared_on_meta(name).stages:
        first = stage.blocks[0].conv1.conv
        assert first.in_channels == stage.expand_channels // 2


@pytest.mark.parametrize("fusion", ["both", "first", "last"])
def test_fusion_strategies(fusion):
    stage = cspnet.CrossStage(16, 32, 2, 2, "dark", 1.0, 0.5, 1.0, True, False, fusion)
    y = stage(torch.randn(1, 16, 8, 8))
    assert y.shape == (1, stage.out_channels, 4, 4)
    assert hasattr(stage, "conv_transition_b") == (fusion != "first")
    assert hasattr(stage, "conv_transition") == (fusion != "last")


def test_groups_need_the_bottleneck_block():
    with pytest.raises(ValueError, match="groups"):
        cspnet.CrossStage(16, 32, 2, 1, block="dark", groups=4)


def test_unknown_fusion_is_an_error():
    with pytest.raises(ValueError, match="fusion"):
        cspnet.CrossStage(16, 32, 2, 1, fusion="middle")
