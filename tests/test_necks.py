"""BackboneWithNeck: any neck on any backbone's levels, refused at once when the widths
do not fit."""

import pytest
import torch

from nblib.models import build
from nblib.necks import BackboneWithNeck
from nblib.necks.asff import ASFFNeck
from nblib.necks.bifpn import BiFPN
from nblib.necks.fpn import FPN
from nblib.necks.panet import PANet
from nblib.necks.sfam import MLFPN


def widths(backbone, levels):
    return [backbone.feature_info[i]["channels"] for i in levels]


@pytest.mark.parametrize(
    "backbone, levels",
    [("resnet18", [1, 2, 3]), ("mobilenet_v2", [1, 2, 3]), ("darknet53", [2, 3, 4])],
)
@pytest.mark.parametrize(
    "make_neck",
    [
        lambda c: FPN(c, 32),
        lambda c: PANet(c, 32),
        lambda c: BiFPN(c, 32, num_layers=2),
        lambda c: ASFFNeck(c, [32] * len(c), compress=4),
    ],
    ids=["fpn", "panet", "bifpn", "asff"],
)
def test_every_neck_on_every_backbone(backbone, levels, make_neck):
    with torch.device("meta"), torch.no_grad():  # shapes and strides only
        net = build(backbone)
        model = BackboneWithNeck(net, make_neck(widths(net, levels)), levels).eval()
        out = model(torch.randn(1, 3, 64, 64))
    want = [(1, 32, 64 // s, 64 // s) for s in model.strides]
    assert [tuple(o.shape) for o in out] == want
    assert model.strides == [net.feature_info[i]["stride"] for i in levels]


def test_mlfpn_on_two_levels():
    net = build("resnet18")
    neck = MLFPN(
        [128, 256],
        tums=2,
        scales=3,
        planes=16,
        base_channels=(16, 32),
        reduction=4,
    )
    model = BackboneWithNeck(net, neck, [1, 2]).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
    want = [(1, 32, 8, 8), (1, 32, 4, 4), (1, 32, 2, 2)]
    assert [tuple(o.shape) for o in out] == want


def test_mismatched_widths_are_refused_before_running():
    with torch.device("meta"):  # widths only
        net = build("resnet50")
    with pytest.raises(
        ValueError,
        match=r"expects in_channels \[64, 128, 256\].*"
        r"\[512, 1024, 2048\]",
    ):
        BackboneWithNeck(net, FPN([64, 128, 256], 32), [1, 2, 3])
    with pytest.raises(ValueError, match="must index the 4 feature levels"):
        BackboneWithNeck(net, FPN([512, 1024], 32), [2, 4])
    with pytest.raises(ValueError, match="no forward_features"):
        BackboneWithNeck(torch.nn.Conv2d(3, 8, 3), FPN([8, 8], 8), [0, 1])


def test_one_input_neck_counts_the_neck_alone():
    from nblib.measure import count_macs, count_params
    from nblib.necks import OneInputNeck

    neck = FPN([8, 16], 4)
    # laterals 1x1 at 8x8 and 4x4, outputs 3x3 at both: weights x positions
    want = 8 * 4 * 64 + 16 * 4 * 16 + 9 * 4 * 4 * (64 + 16)
    assert count_macs(OneInputNeck(neck), (1, 8, 8, 8)) == want
    assert count_params(OneInputNeck(neck)) == count_params(neck)


def test_block_as_neck_runs_a_block_on_one_level():
    from nblib.blocks.spp import SPPFBlock
    from nblib.necks import BlockAsNeck

    net = build("resnet18")
    model = BackboneWithNeck(net, BlockAsNeck(SPPFBlock(512, 64), 512), [3]).eval()
    with torch.no_grad():
        (out,) = model(torch.randn(1, 3, 64, 64))
    assert tuple(out.shape) == (1, 64, 2, 2)
    with pytest.raises(ValueError, match=r"expects in_channels \[256\]"):
        BackboneWithNeck(net, BlockAsNeck(SPPFBlock(256, 64), 256), [3])


ZOO_OUTPUTS = {  # (C, H, W) of every output at the entry's own image size
    "resnet50_fpn": [(256, s, s) for s in (128, 64, 32, 16)],
    "resnet50_panet": [(256, s, s) for s in (128, 64, 32, 16)],
    "resnet50_bifpn": [(64, s, s) for s in (64, 32, 16)],
    "resnet50_mlfpn": [(2048, s, s) for s in (40, 20, 10, 5, 3, 1)],
    "darknet53_asff": [(256, 52, 52), (512, 26, 26), (1024, 13, 13)],
    "darknet53_spp": [(1024, 19, 19)],
    "darknet53_sppf": [(1024, 19, 19)],
    "resnet50_aspp": [(256, 17, 17)],
    "vgg16_rfb": [(512, 18, 18)],
    "vgg16_rfb_s": [(512, 18, 18)],
}


def test_zoo_entries_build_and_run_at_their_size():
    from nblib.necks.zoo import NECK_MODELS

    assert sorted(NECK_MODELS) == sorted(ZOO_OUTPUTS)
    for name, (make, size) in NECK_MODELS.items():
        with torch.device("meta"):  # shapes only
            out = make().eval()(torch.empty(1, 3, size, size))
        assert [tuple(o.shape[1:]) for o in out] == ZOO_OUTPUTS[name], name
