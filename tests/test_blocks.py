"""nblib.blocks: the shared layers agree with torchvision's and timm's, and each is
defined once (every family imports it from nblib.blocks)."""

import ast
import re
from pathlib import Path

import pytest
import timm.layers
import torch
import torchvision
from torch import nn
from torchvision.models._utils import _make_divisible

from nblib.blocks import ConvNormAct, SqueezeExcitation, conv_bn_act, make_divisible
from nblib.book import randomised

NBLIB = Path(__file__).resolve().parent.parent / "nblib"
BLOCKS = NBLIB / "blocks"


@pytest.mark.parametrize("value", [4, 11.2, 33.6, 100, 1280 * 0.35, 7.5, 150.5])
def test_make_divisible_equals_torchvision_and_timm(value):
    assert make_divisible(value) == _make_divisible(value, 8)
    assert make_divisible(value, 8, min_value=32) == timm.layers.make_divisible(
        value, 8, min_value=32
    )
    assert make_divisible(value, 8, round_limit=0.0) == timm.layers.make_divisible(
        value, 8, round_limit=0.0
    )


def test_make_divisible_values():
    assert make_divisible(32 * 0.35) == 16  # 8 would lose more than 10 %
    assert make_divisible(24 * 1.4) == 32
    assert make_divisible(4) == 8
    assert make_divisible(8, min_value=32) == 32 and make_divisible(100) == 104


def test_conv_bn_act_has_torchvisions_keys():
    ours = conv_bn_act(16, 32, 3, 2, groups=4, act=nn.ReLU6)
    theirs = randomised(
        torchvision.ops.Conv2dNormActivation,
        16,
        32,
        3,
        2,
        groups=4,
        activation_layer=nn.ReLU6,
    )
    ours.load_state_dict(theirs.state_dict())  # strict
    x = torch.randn(2, 16, 9, 9)
    assert torch.equal(ours.eval()(x), theirs.eval()(x))
    assert list(conv_bn_act(16, 32, 1, act=None).state_dict()) == [
        k for k in theirs.state_dict() if not k.startswith("2.")
    ]


def test_conv_norm_act_names_and_eps():
    layer = ConvNormAct(8, 16, (1, 7), padding=(0, 3), eps=1e-3)
    assert [name for name, _ in layer.named_children()] == ["conv", "bn", "act"]
    assert layer.bn.eps == 1e-3 and layer.conv.padding == (0, 3)
    assert ConvNormAct(8, 16, 5, 2).conv.padding == (2, 2)  # 'same' by default
    assert layer(torch.randn(1, 8, 10, 10)).shape == (1, 16, 10, 10)


def test_squeeze_excitation_widths_follow_timm_and_torchvision():
    assert SqueezeExcitation(256, 16).fc1.out_channels == 16
    assert SqueezeExcitation(64, 16).fc1.out_channels == 8  # timm's minimum of 8
    theirs = randomised(torchvision.ops.SqueezeExcitation, 96, 12)  # RegNetY's width
    ours = SqueezeExcitation(96, squeeze_channels=12)
    ours.load_state_dict(theirs.state_dict())  # strict: fc1, fc2
    x = torch.randn(2, 96, 5, 5)
    assert torch.equal(ours(x), theirs(x))


# ---------------------------------------------------------------- defined once
# The shared layers, and names that would define one of them again.
SHARED = {"make_divisible", "conv_bn_act", "ConvNormAct", "SqueezeExcitation"}
REDEFINITION = re.compile(
    r"(?i)^_?(make_divisible|conv_?(bn|norm)\w*|basic_?conv\w*|\w*squeeze_?excit\w*|"
    r"se_?(module|layer|block)|conv2d_?norm_?activation)$"
)


def _definitions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.ClassDef)
    ]


def test_shared_layers_are_defined_only_in_blocks():
    """No module outside nblib/blocks defines a make_divisible, a conv-BN-activation
    layer or an SE module under any of the usual names."""
    again = [
        f"{path.relative_to(NBLIB)}: {name}"
        for path in sorted(NBLIB.rglob("*.py"))
        if BLOCKS not in path.parents
        for name in _definitions(path)
        if REDEFINITION.match(name)
    ]
    assert again == []


def test_shared_layers_are_imported_from_blocks():
    """A module that imports a shared layer takes it from nblib.blocks, not from a
    family that happens to use it."""
    wrong = []
    for path in sorted(NBLIB.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module != "nblib.blocks":
                wrong += [
                    f"{path.relative_to(NBLIB)}: {a.name} from {node.module}"
                    for a in node.names
                    if a.name in SHARED
                ]
    assert wrong == []


def test_activations_are_classes_not_strings():
    """No family resolves an activation from a string (no `make_act("relu")`)."""
    found = [
        f"{path.relative_to(NBLIB)}: {name}"
        for path in sorted(NBLIB.rglob("*.py"))
        for name in _definitions(path)
        if re.match(r"(?i)^_?(make|get|create)_?act", name)
    ]
    assert found == []
