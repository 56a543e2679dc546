"""Backbone + neck pairs for the benchmark (`python -m nblib.bench --models
resnet50_fpn`), each with the image size its paper detects at, so the neck runs on the
feature sizes it was designed for."""

from collections.abc import Callable

from torch import nn

from nblib.blocks.aspp import ASPP
from nblib.blocks.rfb import RFB
from nblib.blocks.spp import SPPBlock, SPPFBlock
from nblib.models import build
from nblib.necks import BackboneWithNeck, BlockAsNeck
from nblib.necks.asff import ASFFNeck
from nblib.necks.bifpn import BiFPN
from nblib.necks.fpn import FPN
from nblib.necks.panet import PANet
from nblib.necks.sfam import MLFPN

C2_C5 = [256, 512, 1024, 2048]  # ResNet-50 widths at strides 4, 8, 16, 32


def _on(backbone: str, neck: nn.Module, levels: list[int]) -> nn.Module:
    return BackboneWithNeck(build(backbone), neck, levels)


NECK_MODELS: dict[str, tuple[Callable[[], nn.Module], int]] = {
    # name: (builder, image size)
    "resnet50_fpn": (lambda: _on("resnet50", FPN(C2_C5, 256), [0, 1, 2, 3]), 512),
    "resnet50_panet": (lambda: _on("resnet50", PANet(C2_C5, 256), [0, 1, 2, 3]), 512),
    "resnet50_bifpn": (
        lambda: _on("resnet50", BiFPN(C2_C5[1:], 64, num_layers=3), [1, 2, 3]),
        512,
    ),
    "resnet50_mlfpn": (lambda: _on("resnet50", MLFPN(C2_C5[1:3]), [1, 2]), 320),
    "darknet53_asff": (
        lambda: _on("darknet53", ASFFNeck([256, 512, 1024]), [2, 3, 4]),
        416,
    ),
    # receptive-field blocks on one level: YOLOv5's SPP(F) on C5 at 608 px (19x19),
    # ASPP on ResNet-50's C5 (output stride 32 here, 16 in DeepLab v3), RFB on VGG-16's
    # stride-16 level at SSD's 300 px
    "darknet53_spp": (
        lambda: _on("darknet53", BlockAsNeck(SPPBlock(1024, 1024), 1024), [4]),
        608,
    ),
    "darknet53_sppf": (
        lambda: _on("darknet53", BlockAsNeck(SPPFBlock(1024, 1024), 1024), [4]),
        608,
    ),
    "resnet50_aspp": (lambda: _on("resnet50", BlockAsNeck(ASPP(2048), 2048), [3]), 513),
    "vgg16_rfb": (lambda: _on("vgg16", BlockAsNeck(RFB(512, 512), 512), [3]), 300),
    "vgg16_rfb_s": (
        lambda: _on("vgg16", BlockAsNeck(RFB(512, 512, "rfb_s"), 512), [3]),
        300,
    ),
}
