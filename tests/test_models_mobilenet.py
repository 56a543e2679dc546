"""MobileNet: v1 equal to timm's `mobilenetv1_100`, v2 equal to torchvision's
`mobilenet_v2`; width multipliers, the linear bottleneck and the shortcut behave."""

import pytest
import timm
import torch
import torchvision
from reference_models import (
    assert_equal_to_reference,
    assert_feature_contract,
    on_meta,
)

from nblib.book import randomised
from nblib.models import build, mobilenet


def test_v1_equal_to_timm():
    reference = randomised(timm.create_model, "mobilenetv1_100")
    assert_equal_to_reference(on_meta("mobilenet_v1"), reference)


def test_v2_equal_to_torchvision():
    assert_equal_to_reference(
        on_meta("mobilenet_v2"), randomised(torchvision.models.mobilenet_v2)
    )


@pytest.mark.parametrize("name", ["mobilenet_v1", "mobilenet_v2"])
def test_feature_contract(name):
    model = build(name)
    assert [f["stride"] for f in model.feature_info] == [4, 8, 16, 32]
    assert_feature_contract(model)


@pytest.mark.parametrize("alpha", [0.5, 0.75, 1.4])
def test_v2_width_multiplier_equal_to_torchvision(alpha):
    reference = randomised(torchvision.models.mobilenet_v2, width_mult=alpha)
    assert_equal_to_reference(
        on_meta(mobilenet.mobilenet_v2, width_multiplier=alpha), reference
    )


@pytest.mark.parametrize("alpha", [1.0, 0.75, 0.5, 0.25])
def test_v1_width_multiplier_scales_every_width(alpha):
    model = mobilenet.mobilenet_v1(width_multiplier=alpha)
    assert model.conv_stem.out_channels == int(32 * alpha)
    assert [f["channels"] for f in model.feature_info] == [
        int(c * alpha) for c in (128, 256, 512, 1024)
    ]


def test_depthwise_conv_filters_each_channel_alone():
    unit = mobilenet.DepthwiseSeparableConv(16, 32, stride=2)
    assert unit.conv_dw.groups == 16 and unit.conv_dw.weight.shape == (16, 1, 3, 3)
    assert unit.conv_dw.stride == (2, 2) and unit.conv_pw.stride == (1, 1)


def test_inverted_residual_is_linear_at_the_output_and_has_a_shortcut():
    unit = mobilenet.InvertedResidual(24, 24, stride=1, expansion=6).eval()
    assert unit.conv[0][0].out_channels == 144  # expand 24 -> 6 x 24
    assert isinstance(unit.conv[-1], torch.nn.BatchNorm2d)  # no activation after
    torch.nn.init.zeros_(unit.conv[-1].weight)
    x = torch.randn(1, 24, 8, 8)
    with torch.no_grad():
        assert torch.equal(unit(x), x)  # branch silenced: the shortcut alone remains
        unit.conv[-1].bias.fill_(-1.0)
        assert (unit.conv(x) < 0).all()  # linear: negative outputs survive
    assert not mobilenet.InvertedResidual(24, 32, 1, 6).use_res_connect


def test_invalid_width_multiplier():
    with pytest.raises(ValueError, match="width_multiplier"):
        mobilenet.mobilenet_v1(width_multiplier=0)
    with pytest.raises(ValueError, match="width_multiplier"):
        mobilenet.mobilenet_v2(width_multiplier=-1)
