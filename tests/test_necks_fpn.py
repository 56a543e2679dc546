"""FPN (equal to torchvision's), PANet and BiFPN: shapes, validation, fusion weights."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.ops import FeaturePyramidNetwork

from nblib.book import randomised
from nblib.measure import count_params
from nblib.models import build
from nblib.necks import BackboneWithNeck
from nblib.necks.bifpn import (
    BiFPN,
    BiFPNLayer,
    FastFusion,
    SeparableConv,
    SoftmaxFusion,
    make_separable,
)
from nblib.necks.fpn import FPN, RepeatedNeck, from_torchvision_backbone
from nblib.necks.panet import PANet

CHANNELS = [256, 512, 1024, 2048]


def features(size: int = 64, channels=CHANNELS) -> list[torch.Tensor]:
    torch.manual_seed(0)
    return [torch.randn(2, c, size >> i, size >> i) for i, c in enumerate(channels)]


def test_fpn_equals_torchvision():
    torch.manual_seed(0)
    ref = randomised(FeaturePyramidNetwork, CHANNELS, 256).eval()
    ours = FPN(CHANNELS, 256).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in ref.parameters()
    )
    x = features()
    with torch.no_grad():
        want = list(ref({str(i): f for i, f in enumerate(x)}).values())
        got = ours(x)
    for g, w in zip(got, want, strict=True):
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
    x = [
        torch.randn(1, c, s, s)
        for c, s in zip([40, 112, 320], [25, 13, 7], strict=True)
    ]
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


def test_resnet50_fpn_equals_torchvision_resnet_fpn_backbone():
    torch.manual_seed(0)
    ref = randomised(
        resnet_fpn_backbone,
        backbone_name="resnet50",
        weights=None,
        trainable_layers=5,
        norm_layer=nn.BatchNorm2d,
    ).eval()
    ours = BackboneWithNeck(build("resnet50"), FPN(CHANNELS, 256), [0, 1, 2, 3])
    keys = ours.load_state_dict(from_torchvision_backbone(ref.state_dict()), False)
    # torchvision's body drops the classifier; everything else matches by key
    assert keys.missing_keys == ["backbone.fc.weight", "backbone.fc.bias"]
    assert keys.unexpected_keys == []
    assert count_params(ours) - count_params(ours.backbone.fc) == count_params(ref)
    x = torch.randn(2, 3, 128, 128)
    with torch.no_grad():
        got, want = ours.eval()(x), ref(x)
    assert list(want) == ["0", "1", "2", "3", "pool"]
    for g, w in zip(got, list(want.values())[:4], strict=True):
        assert torch.equal(g, w)
    assert torch.equal(want["pool"], F.max_pool2d(want["3"], 1, 2))


def test_from_torchvision_backbone_refuses_unknown_keys():
    with pytest.raises(ValueError, match="head.weight"):
        from_torchvision_backbone({"head.weight": torch.zeros(1)})


def test_repeated_neck():
    neck = RepeatedNeck(PANet, CHANNELS, 32, 3).eval()
    assert neck.in_channels == CHANNELS
    assert [m.in_channels for m in neck] == [CHANNELS] + [[32] * 4] * 2
    x = features()
    with torch.no_grad():
        out = neck(x)
    assert [tuple(o.shape) for o in out] == [(2, 32) + tuple(f.shape[-2:]) for f in x]
    with pytest.raises(ValueError, match="num_layers"):
        RepeatedNeck(FPN, CHANNELS, 32, 0)


def test_make_separable_replaces_dense_3x3_convs():
    fpn = make_separable(FPN([8, 16], 8))
    convs = [m for m in fpn.modules() if isinstance(m, nn.Conv2d)]
    # 2 lateral 1x1 convs stay; each 3x3 output conv becomes depthwise + pointwise
    assert [(c.kernel_size, c.groups) for c in convs] == [
        ((1, 1), 1),
        ((1, 1), 1),
        ((3, 3), 8),
        ((1, 1), 1),
        ((3, 3), 8),
        ((1, 1), 1),
    ]
    assert count_params(fpn) == 2 * 8 + 8 * 8 + 16 * 8 + 2 * (9 * 8 + 8 * 8 + 8)
    assert count_params(SeparableConv(8)) == 9 * 8 + 8 * 8 + 2 * 8


def test_softmax_fusion_and_fusion_argument():
    fusion = SoftmaxFusion(3)
    with torch.no_grad():
        fusion.weight.copy_(torch.tensor([0.0, 1.0, 2.0]))
    assert torch.allclose(fusion.normalised_weights(), torch.softmax(fusion.weight, 0))
    layer = BiFPNLayer(3, 8, fusion="softmax")
    assert all(isinstance(f, SoftmaxFusion) for f in [*layer.td_fuse, *layer.bu_fuse])
    with pytest.raises(ValueError, match="fusion"):
        BiFPN(CHANNELS, 8, fusion="sum")
