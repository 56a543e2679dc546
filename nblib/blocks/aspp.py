"""Atrous spatial pyramid pooling (DeepLab v2, Chen et al. TPAMI 2018; with image-level
features and batch norm, DeepLab v3, Chen et al. 2017).

Parallel branches read the same map: a 1x1 convolution, 3x3 convolutions at several
atrous rates, and global average pooling; their outputs are concatenated and projected.
Module names follow torchvision's `deeplabv3.ASPP`, so its state dict loads by key.
"""

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from nblib.blocks import conv_bn_act
from nblib.blocks.checks import check_input, check_positive

DEEPLABV3_RATES = {16: (6, 12, 18), 8: (12, 24, 36)}  # output stride: atrous rates


class ImagePooling(nn.Sequential):
    """The image-level branch: global average pool, 1x1 conv, BN, ReLU, and bilinear
    upsampling back to the map, so every position sees the whole image."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        pool = nn.AdaptiveAvgPool2d(1)
        super().__init__(pool, *conv_bn_act(in_channels, out_channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        x = super().forward(x)  # (B, C, 1, 1)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """DeepLab v3's ASPP: 1x1 conv, one 3x3 conv per atrous rate, image pooling (all
    `out_channels` wide, BN, ReLU); concatenated, 1x1 projection, BN, ReLU, dropout."""

    def __init__(
        self,
        in_channels: int,
        atrous_rates: Sequence[int] = DEEPLABV3_RATES[16],
        out_channels: int = 256,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        check_positive(in_channels=in_channels, out_channels=out_channels)
        if not atrous_rates:
            raise ValueError("atrous_rates must name at least one rate, got none")
        for rate in atrous_rates:
            check_positive(atrous_rates=rate)
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.in_channels = in_channels
        atrous = [
            conv_bn_act(in_channels, out_channels, 3, dilation=r) for r in atrous_rates
        ]
        self.convs = nn.ModuleList(
            [conv_bn_act(in_channels, out_channels, 1)]
            + atrous
            + [ImagePooling(in_channels, out_channels)]
        )
        self.project = nn.Sequential(
            *conv_bn_act(len(self.convs) * out_channels, out_channels, 1),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.in_channels)
        branches = [conv(x) for conv in self.convs]  # each (B, out_channels, H, W)
        return self.project(torch.cat(branches, 1))
