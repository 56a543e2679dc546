"""The paper's shortcut options (He et al. 2016, Sec. 3.3 and Table 3) as an argument of
one ResNet: A zero-pads an identity, B projects where the shape changes (torchvision's,
the default), C projects in every block."""

import pytest
import torch

from nblib.measure import count_params
from nblib.models import build, resnet


def shortcuts(model: torch.nn.Module) -> list:
    return [
        block.downsample
        for stage in (model.layer1, model.layer2, model.layer3, model.layer4)
        for block in stage
    ]


def test_option_b_is_the_default_and_loads_torchvision_keys():
    with torch.device("meta"):  # keys and counts only, here and below
        b, default = resnet.resnet34(shortcut="B"), build("resnet34")
    assert b.state_dict().keys() == default.state_dict().keys()
    assert sum(s is not None for s in shortcuts(b)) == 3


@pytest.mark.parametrize("builder", [resnet.resnet34, resnet.resnet50])
def test_option_a_adds_no_parameter(builder):
    with torch.device("meta"):
        a, b = builder(shortcut="A"), builder()
    projections = sum(count_params(s) for s in shortcuts(b) if s is not None)
    assert count_params(a) == count_params(b) - projections
    assert all(s is None or isinstance(s, resnet.ZeroPadShortcut) for s in shortcuts(a))


def test_zero_padding_subsamples_and_appends_zero_channels():
    pad = resnet.ZeroPadShortcut(64, 128, stride=2)
    x = torch.randn(2, 64, 9, 9)  # odd: the 3x3 conv with stride 2 also gives 5x5
    y = pad(x)
    assert y.shape == (2, 128, 5, 5)
    assert torch.equal(y[:, :64], x[:, :, ::2, ::2])
    assert torch.count_nonzero(y[:, 64:]) == 0
    with pytest.raises(ValueError, match="out_channels"):
        resnet.ZeroPadShortcut(128, 64, stride=1)


def test_option_c_projects_in_every_block():
    with torch.device("meta"):
        b, c = resnet.resnet34(), resnet.resnet34(shortcut="C")
    assert all(s is not None for s in shortcuts(c))
    assert len(shortcuts(c)) - 3 == 13  # the paper's "thirteen" extra projections
    # each extra projection is a 1x1 conv (c^2) and a BN (2c) at its stage's width
    widths = [64] * 3 + [128] * 3 + [256] * 5 + [512] * 2
    assert count_params(c) - count_params(b) == sum(w * w + 2 * w for w in widths)


@pytest.mark.parametrize("option", resnet.SHORTCUTS)
@pytest.mark.parametrize("builder", [resnet.resnet18, resnet.resnet50])
def test_every_option_keeps_the_shapes(builder, option):
    with torch.device("meta"), torch.no_grad():  # shapes only
        model = builder(shortcut=option).eval()
        features = model.forward_features(torch.randn(1, 3, 64, 64))
    assert [f.shape[1] for f in features] == [i["channels"] for i in model.feature_info]
    assert [f.shape[-1] for f in features] == [16, 8, 4, 2]


def test_invalid_shortcut_arguments():
    with pytest.raises(ValueError, match="shortcut"):
        resnet.resnet50(shortcut="D")
    with pytest.raises(ValueError, match="shortcut 'A'"):
        resnet.resnet50(shortcut="A", downsample="avg")
