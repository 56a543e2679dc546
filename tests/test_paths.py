"""conv_path_lengths: fewest and most convs on the recorded dataflow graph."""

import pytest
import torch
from torch import nn

from nblib.models import build
from nblib.necks import BackboneWithNeck, OneInputNeck
from nblib.necks.bifpn import BiFPN
from nblib.necks.fpn import FPN
from nblib.necks.panet import PANet
from nblib.paths import PathLengths, conv_path_lengths

R50 = [256, 512, 1024, 2048]
STAGES = ["backbone.layer2", "backbone.layer3", "backbone.layer4"]


def conv(c: int = 4, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c, c, 3, stride, 1)


class Residual(nn.Module):
    """conv -> ReLU (in place) -> conv, plus a shortcut (identity or a 1x1 conv)."""

    def __init__(self, projection: bool) -> None:
        super().__init__()
        self.conv1, self.conv2 = conv(), conv()
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Conv2d(4, 4, 1) if projection else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.relu(self.conv1(x))) + self.shortcut(x)


class Features(nn.Module):
    """A backbone's forward_features as its forward: C2..C5 are the outputs."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.net.forward_features(x)


def test_chain_of_three_convs():
    chain = nn.Sequential(conv(), nn.ReLU(inplace=True), conv(), conv())
    assert conv_path_lengths(chain, (1, 4, 8, 8), None) == PathLengths(3, 3)


def test_chain_from_a_named_submodule():
    chain = nn.Sequential(conv(), conv(), conv())
    assert conv_path_lengths(chain, (1, 4, 8, 8), "0") == PathLengths(2, 2)


@pytest.mark.parametrize("projection, want", [(False, (0, 2)), (True, (1, 2))])
def test_residual_block(projection, want):
    block = Residual(projection)
    assert conv_path_lengths(block, (1, 4, 8, 8), None) == PathLengths(*want)


def test_avoiding_a_module_cuts_its_paths():
    block = Residual(projection=True)
    got = conv_path_lengths(block, (1, 4, 8, 8), None, avoid=["conv1"])
    assert got == PathLengths(1, 1)
    chain = nn.Sequential(conv(), conv())
    assert conv_path_lengths(chain, (1, 4, 8, 8), None, avoid=["1"]) == PathLengths(
        None, None
    )


def test_shape_only_ops_carry_no_dataflow():
    # OneInputNeck makes levels 1.. with new_zeros: no path from level 0 to them
    neck = OneInputNeck(FPN([4, 4], 4))
    assert conv_path_lengths(neck, (1, 4, 8, 8), None, target=0) == PathLengths(2, 2)
    got = conv_path_lengths(neck, (1, 4, 8, 8), None, target=1)
    assert got == PathLengths(None, None)


def test_resnet50_c2_to_c5():
    with torch.device("meta"):
        net = build("resnet50")
    got = conv_path_lengths(Features(net), (1, 3, 64, 64), "net.layer1", target=3)
    # shortest: the projection shortcuts of layer2..4; longest: 4 + 6 + 3 bottlenecks
    assert got == PathLengths(3, 3 * (4 + 6 + 3))


@pytest.mark.parametrize(
    "neck, full, augmented",
    [(FPN, (5, 41), (None, None)), (PANet, (6, 47), (8, 8))],
)
def test_panet_adds_a_short_path_that_avoids_the_backbone(neck, full, augmented):
    with torch.device("meta"):
        model = BackboneWithNeck(build("resnet50"), neck(R50, 16), [0, 1, 2, 3])
    shape = (1, 3, 64, 64)
    assert conv_path_lengths(model, shape, "backbone.layer1") == PathLengths(*full)
    got = conv_path_lengths(model, shape, "backbone.layer1", avoid=STAGES)
    assert got == PathLengths(*augmented)


def test_bifpn_same_level_edge_goes_through_one_separable_conv():
    model = OneInputNeck(BiFPN([8] * 3, 8))
    got = conv_path_lengths(model, (1, 8, 16, 16), "neck.proj.1", target=1)
    # extra edge: one separable conv (2 conv ops); longest: td conv 1, td conv 0,
    # bottom-up 1 (each 2 ops)
    assert got == PathLengths(2, 6)


def test_arguments_are_checked():
    chain = nn.Sequential(conv(), conv())
    with pytest.raises(ValueError, match="source 'nope'"):
        conv_path_lengths(chain, (1, 4, 8, 8), "nope")
    with pytest.raises(ValueError, match="avoid 'x'"):
        conv_path_lengths(chain, (1, 4, 8, 8), None, avoid=["x"])
    with pytest.raises(ValueError, match="target 1"):
        conv_path_lengths(chain, (1, 4, 8, 8), None, target=1)
    with pytest.raises(ValueError, match="input_shape"):
        conv_path_lengths(chain, (1, 3, 8, 8), None)
    unused = nn.ModuleDict({"a": conv(), "b": conv()})
    unused.forward = lambda x: unused["a"](x)
    with pytest.raises(ValueError, match="did not run"):
        conv_path_lengths(unused, (1, 4, 8, 8), "b")
