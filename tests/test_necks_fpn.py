"""FPN (equal to torchvision's), PANet and BiFPN: shapes, validation, fusion weights."""

import pytest
import torch
from torchvision.ops import FeaturePyramidNetwork

from nblib.necks.bifpn import BiFPN, BiFPNLayer, FastFusion
from nblib.necks.fpn import FPN
from nblib.necks.panet import PANet

CHANNELS = [256, 512, 1024, 2048]


def features(size: int = 64, channels=CHANNELS) -> list[torch.Tensor]:
    torch.manual_seed(0)
    return [torch.randn(2, c, size >> i, size >> i) for i, c in enumerate(channels)]


def test_fpn_equals_torchvision():
    torch.manual_seed(0)
    ref = FeaturePyramidNetwork(CHANNELS, 256).eval()
    ours = FPN(CHANNELS, 256).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in ref.parameters()
    )
    x = features()
    with torch.no_grad():
        want = list(ref({str(i): f for i, f in enumerate(x)}).values())
        got = ours(x)
    for g, w in zip(got, want):
        assert torch.equal(g, w)


@pytest.mark.parametrize(
    "neck", [FPN(CHANNELS, 64), PANet(CHANNELS, 64), BiFPN(CHANNELS, 64, num_layers=3)]
)
def test_neck_shapes(neck):
    x = features()
    with torch.no_grad():
        out = neck.eval()(x)
    assert [tuple(o.shape) for o in out] == [(2, 64) + tuple(f.shape[-2:]) for f in x]


@pytest.mark.parametrize("cls", [FPN, PANet, BiFPN])
def test_neck_validation(cls):
    neck = cls(CHANNELS, 64)
    x = features()
    with pytest.raises(ValueError, match="levels"):
        neck(x[:3])
    with pytest.raises(ValueError, match="level 1"):
        neck(features(channels=[256, 256, 1024, 2048]))
    with pytest.raises(ValueError):
        cls([256], 64)


def test_bifpn_odd_sizes_and_layer_count():
    neck = BiFPN([40, 112, 320], 64, num_layers=2).eval()
    x = [torch.randn(1, c, s, s) for c, s in zip([40, 112, 320], [25, 13, 7])]
    with torch.no_grad():
        out = neck(x)
    assert [o.shape[-1] for o in out] == [25, 13, 7]
    assert sum(isinstance(m, BiFPNLayer) for m in neck.modules()) == 2


def test_fast_fusion_weights_normalised():
    fusion = FastFusion(3)
    with torch.no_grad():
        fusion.weight.copy_(torch.tensor([2.0, -1.0, 0.5]))
    w = fusion.normalised_weights()
    assert (w >= 0).all() and w[1] == 0
    assert abs(w.sum().item() - 1) < 1e-3
    ones = [torch.ones(1, 1, 2, 2)] * 3
    assert torch.allclose(fusion(ones), w.sum() * ones[0])
    with pytest.raises(ValueError):
        fusion(ones[:2])
