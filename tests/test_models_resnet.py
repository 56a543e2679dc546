"""ResNet: every depth and ResNeXt equal to torchvision's, ResNet-D and SE-ResNet equal
to timm's; the pre-activation, plain and SE variants behave."""

import pytest
import timm
import torch
import torchvision
from reference_models import (
    assert_equal_to_reference,
    assert_feature_contract,
    on_meta,
    shared_on_meta,
)

from nblib.blocks import SqueezeExcitation
from nblib.book import randomised
from nblib.models import build, resnet

NAMES = [
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
]
TIMM_NAMES = ["resnet50d", "seresnet50"]


@pytest.mark.parametrize("name", NAMES)
def test_equal_to_torchvision(name):
    assert_equal_to_reference(
        on_meta(name), randomised(getattr(torchvision.models, name))
    )


@pytest.mark.parametrize("name", TIMM_NAMES)
def test_equal_to_timm(name):
    reference = randomised(timm.create_model, name)
    assert_equal_to_reference(on_meta(name), reference)


@pytest.mark.parametrize(
    "name", NAMES + TIMM_NAMES + ["preact_resnet18", "preact_resnet50"]
)
def test_feature_contract(name):
    model = shared_on_meta(name)
    assert [f["stride"] for f in model.feature_info] == [4, 8, 16, 32]
    assert_feature_contract(model)


def test_stride_in_1x1_moves_only_the_stride():
    v1, v15 = resnet.resnet50(stride_in_1x1=True), resnet.resnet50()
    assert v1.layer2[0].conv1.stride == (2, 2) and v1.layer2[0].conv2.stride == (1, 1)
    assert v15.layer2[0].conv1.stride == (1, 1) and v15.layer2[0].conv2.stride == (2, 2)
    v1.load_state_dict(v15.state_dict())  # same weights, only the computation differs


def test_plain_network_has_same_parameters_and_no_shortcut_effect():
    plain = resnet.resnet18(residual=False)
    assert sum(p.numel() for p in plain.parameters()) == 11_689_512
    block = resnet.BasicBlock(8, 8, residual=False).eval()
    # The branch outputs 0, so a residual block would return relu(x).
    torch.nn.init.zeros_(block.bn2.weight)
    x = torch.randn(1, 8, 5, 5)
    assert torch.count_nonzero(block(x)) == 0


@pytest.mark.parametrize("block", [resnet.PreActBasicBlock, resnet.PreActBottleneck])
def test_zero_initialised_preact_block_is_exact_identity(block):
    model = resnet.ResNet(block, (2, 2, 2, 2), zero_init_residual=True).eval()
    x = torch.randn(1, model.feature_info[0]["channels"], 8, 8)
    with torch.no_grad():
        assert torch.equal(model.layer1[1](x), x)


def test_resnext_template_widths():
    block = resnet.Bottleneck(256, 64, groups=32, width_per_group=4)
    assert block.conv2.in_channels == block.conv2.out_channels == 128  # 32 x 4d
    assert block.conv2.groups == 32 and block.conv2.weight.shape == (128, 4, 3, 3)


def test_resnet_d_shortcut_pools_then_projects():
    d, b = resnet.resnet50(downsample="avg"), resnet.resnet50()
    pool, conv, _ = d.layer2[0].downsample
    assert isinstance(pool, torch.nn.AvgPool2d) and conv.stride == (1, 1)
    assert isinstance(d.layer1[0].downsample[0], torch.nn.Identity)  # stride 1: no pool
    assert b.layer2[0].downsample[0].stride == (2, 2)
    x = torch.randn(1, 256, 7, 7)  # odd size: ceil_mode keeps the last row and column
    with torch.no_grad():
        assert d.layer2[0].downsample(x).shape == b.layer2[0].downsample(x).shape


def test_squeeze_excitation_widths_follow_timm():
    se = SqueezeExcitation(256, reduction=16)
    assert (se.fc1.in_channels, se.fc1.out_channels) == (256, 16)
    assert sum(p.numel() for p in se.parameters()) == 2 * 256 * 16 + 16 + 256
    assert SqueezeExcitation(64, reduction=16).fc1.out_channels == 8  # at least 8
    with pytest.raises(ValueError, match="reduction"):
        SqueezeExcitation(64, reduction=0)


@pytest.mark.parametrize("block", [resnet.Bottleneck, resnet.PreActBottleneck])
def test_squeeze_excitation_sits_on_the_branch(block):
    # A closed gate (sigmoid(-inf) = 0) silences the branch; the shortcut must survive.
    unit = block(256, 64, se_reduction=16).eval()
    torch.nn.init.constant_(unit.se.fc2.bias, -float("inf"))
    x = torch.randn(2, 256, 6, 6)
    expected = x if block is resnet.PreActBottleneck else torch.relu(x)
    with torch.no_grad():
        assert torch.equal(unit(x), expected)


def test_invalid_variant_arguments():
    with pytest.raises(ValueError, match="stem"):
        resnet.resnet50(stem="5x5")
    with pytest.raises(ValueError, match="downsample"):
        resnet.resnet50(downsample="max")
    with pytest.raises(ValueError, match="groups"):
        resnet.resnet18(groups=32, width_per_group=4)


def test_unknown_model_name():
    with pytest.raises(ValueError, match="model name 'resnet51'"):
        build("resnet51")


def test_blocks_take_only_the_options_they_name():
    """ResNet hands each block the options its constructor names; `expansion` and
    `preact` are class attributes, the same for every family's block."""
    from nblib.models import res2net, resnest

    for block in (resnet.BasicBlock, resnet.PreActBasicBlock):
        assert resnet.block_options(block, dict(resnet.BLOCK_OPTIONS)) == {
            "residual": True,
            "se_reduction": None,
        }
    with torch.device("meta"):  # structure only
        res2, preact = res2net.res2net50(scale=8), resnet.resnet50(preact=True)
    assert res2.layer1[0].scale == 8 and not res2.preact
    assert {type(b) for b in res2.layer4} == {res2net.Bottle2neck}
    assert preact.preact
    assert resnet.PreActBottleneck.preact and resnet.PreActBottleneck.expansion == 4
    with pytest.raises(ValueError, match="Bottle2neck takes no se_reduction=16"):
        res2net.res2net50(se_reduction=16)
    with pytest.raises(ValueError, match="stride_in_1x1=True"):
        resnest.resnest50d(stride_in_1x1=True)
    with pytest.raises(ValueError, match="BasicBlock takes no radix=2"):
        resnet.ResNet(resnet.BasicBlock, (2, 2, 2, 2), extra_options={"radix": 2})
