"""Feature Pyramid Network, FPN (Lin et al., 2017).

Each backbone level C_i gets a lateral 1x1 conv to a common width; starting from the
coarsest level, the running map is upsampled (nearest, to the finer level's size) and
added to the next lateral map (top-down path); a 3x3 conv on every merged map gives
the outputs P_i. Levels are given finest first (ascending stride). Module names follow
torchvision.ops.FeaturePyramidNetwork (inner_blocks, layer_blocks), so its state dict
loads by key. `RepeatedNeck` stacks a neck several times, as EfficientDet (Tan et al.,
2020, Sec. 6.2) repeats FPN and FPN+PANet for its Table 5.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from nblib.necks import check_levels


def check_channels(in_channels: list[int], out_channels: int) -> None:
    """ValueError for an empty level list or non-positive widths."""
    if len(in_channels) < 2:
        raise ValueError(f"a pyramid needs >= 2 levels, got {len(in_channels)}")
    if min(in_channels) <= 0 or out_channels <= 0:
        raise ValueError("channel counts must be positive")


def conv(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    """A biased convolution wrapped as torchvision's Conv2dNormActivation (key `0`)."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, 1, kernel // 2))


class FPN(nn.Module):
    """Lateral 1x1 convs, top-down nearest upsampling with addition, 3x3 outputs."""

    def __init__(self, in_channels: list[int], out_channels: int = 256) -> None:
        super().__init__()
        check_channels(in_channels, out_channels)
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.inner_blocks = nn.ModuleList(conv(c, out_channels, 1) for c in in_channels)
        self.layer_blocks = nn.ModuleList(
            conv(out_channels, out_channels, 3) for _ in in_channels
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, a=1)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        check_levels(feats, self.in_channels, type(self).__name__)
        inner = self.inner_blocks[-1](feats[-1])
        outs = [self.layer_blocks[-1](inner)]
        for i in range(len(feats) - 2, -1, -1):
            lateral = self.inner_blocks[i](feats[i])
            top_down = F.interpolate(inner, size=lateral.shape[-2:], mode="nearest")
            inner = lateral + top_down
            outs.insert(0, self.layer_blocks[i](inner))
        return outs


class RepeatedNeck(nn.Sequential):
    """`num_layers` necks in a row: the first maps the backbone widths to
    `out_channels`, the others map `out_channels` to itself (laterals included)."""

    def __init__(
        self,
        neck: Callable[[list[int], int], nn.Module],
        in_channels: list[int],
        out_channels: int,
        num_layers: int,
    ) -> None:
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        same = [out_channels] * len(in_channels)
        super().__init__(
            neck(in_channels, out_channels),
            *(neck(same, out_channels) for _ in range(num_layers - 1)),
        )
        self.in_channels = list(in_channels)


TORCHVISION_PREFIXES = {"body.": "backbone.", "fpn.": "neck."}


def from_torchvision_backbone(state_dict: dict) -> dict:
    """Rename the keys of torchvision's BackboneWithFPN (body.*, fpn.*) to those of
    BackboneWithNeck(resnet, FPN) (backbone.*, neck.*), so its weights load."""
    renamed = {}
    for key, value in state_dict.items():
        prefix = next((p for p in TORCHVISION_PREFIXES if key.startswith(p)), None)
        if prefix is None:
            raise ValueError(
                f"key {key!r} starts with none of {list(TORCHVISION_PREFIXES)}"
            )
        renamed[TORCHVISION_PREFIXES[prefix] + key[len(prefix) :]] = value
    return renamed
