"""SE placement variants of the bottleneck (SENet, Sec. 6.5 and Table 15): each puts the
one `se` module where the paper says, with the channels of the tensor it rescales, and
the default is still timm's SE-ResNet-50 by key."""

import pytest
import timm
import torch
from torch import nn

from nblib.blocks import SqueezeExcitation
from nblib.models import build, resnet


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def se_params(channels: int, r: int = 16) -> int:
    """Two 1x1 convolutions with bias, C -> C/r -> C."""
    reduced = max(8, int(channels / r + 4) // 8 * 8)
    return 2 * channels * reduced + reduced + channels


@pytest.mark.parametrize(
    "placement, channels",
    [("branch", 256), ("pre", 64), ("post", 256), ("identity", 256), ("3x3", 64)],
)
def test_each_placement_has_the_se_of_its_tensor(placement, channels):
    shortcut = resnet.make_projection(64, 256, 1, "conv", norm=True)
    block = resnet.Bottleneck(
        64, 64, 1, shortcut, se_reduction=16, se_placement=placement
    )
    plain = resnet.Bottleneck(
        64, 64, 1, resnet.make_projection(64, 256, 1, "conv", norm=True)
    )
    assert block.se.fc1.in_channels == channels
    assert count(block) - count(plain) == se_params(channels)
    assert block(torch.randn(2, 64, 8, 8)).shape == (2, 256, 8, 8)


def closed_gate(block: nn.Module) -> nn.Module:
    """Every SE gate exactly 0: the SE output is zero wherever it sits."""
    nn.init.constant_(block.se.fc2.bias, -float("inf"))
    return block.eval()


def test_a_closed_gate_silences_what_each_placement_rescales():
    x = torch.randn(2, 256, 6, 6)
    with torch.no_grad():
        branch = closed_gate(resnet.Bottleneck(256, 64, se_reduction=16))
        assert torch.equal(branch(x), torch.relu(x))  # the branch only
        post = closed_gate(
            resnet.Bottleneck(256, 64, se_reduction=16, se_placement="post")
        )
        assert torch.count_nonzero(post(x)) == 0  # the whole trunk
        identity = closed_gate(
            resnet.Bottleneck(256, 64, se_reduction=16, se_placement="identity")
        )
        reference = resnet.Bottleneck(256, 64, residual=False).eval()
        reference.load_state_dict(identity.state_dict(), strict=False)
        assert torch.equal(identity(x), reference(x))  # the shortcut only
        pre = closed_gate(
            resnet.Bottleneck(256, 64, se_reduction=16, se_placement="pre")
        )
        assert torch.equal(pre(x), pre(torch.zeros_like(x)))  # the input itself


def test_default_placement_still_loads_timm_seresnet50_by_key():
    with torch.device("meta"):  # keys and shapes only
        ours = build("seresnet50")
        ours.load_state_dict(timm.create_model("seresnet50").state_dict())
    assert all(
        m.se_placement == "branch"
        for m in ours.modules()
        if isinstance(m, resnet.Bottleneck)
    )


def test_se_resnet50_parameters_per_placement():
    with torch.device("meta"):  # counts only
        counts = {
            p: count(resnet.resnet50(se_reduction=16, se_placement=p))
            for p in resnet.SE_PLACEMENTS
        }
        inside = resnet.resnet50(se_reduction=16, se_placement="3x3")
    assert counts["branch"] == counts["post"] == counts["identity"] == 28_088_024
    assert counts["3x3"] < counts["pre"] < counts["branch"]
    assert sum(isinstance(m, SqueezeExcitation) for m in inside.modules()) == 16


def test_unknown_or_unsupported_placement_is_refused():
    with pytest.raises(ValueError, match="se_placement"):
        resnet.Bottleneck(64, 16, se_reduction=16, se_placement="after")
    with pytest.raises(ValueError, match="se_placement"):
        resnet.resnet18(
            se_reduction=16, se_placement="post"
        )  # BasicBlock: no such option
