"""Backbone + neck pairs for the benchmark (`python -m nblib.bench --models
resnet50_fpn`), each with the image size its paper detects at, so the neck runs on the
feature sizes it was designed for."""

from collections.abc import Callable

from torch import nn

from nblib.models import build
from nblib.necks import BackboneWithNeck
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
}
