"""Res2Net: hierarchical residual-like connections inside one bottleneck.

Gao et al., "Res2Net: A New Multi-scale Backbone Architecture", IEEE TPAMI 2021
(arXiv:1904.01169). The 1x1 output is cut into `scale` splits of `w` channels
(`width_per_group`, "26w"); split i > 1 goes through a 3x3 after the previous split's
output has been added to it, so later splits see a stack of 3x3s and a larger
receptive field; the last split is passed through unchanged. Res2Net-50 26w4s is
ResNet-50 with these blocks. Module names follow timm's `res2net50_26w_4s`, so its
weights load by key.
"""

import math

import torch
from torch import nn

from nblib.models.resnet import ResNet, ResNetBlock


class Bottle2neck(ResNetBlock):
    """1x1 to `scale` x w channels -> hierarchical 3x3s on the splits -> 1x1 expand
    (x4), on a residual shortcut. In the first block of a stage (stride or new width)
    the splits are not chained: each gets its own strided 3x3, and the last split a
    3x3 average pool with the stride, as in the authors' code."""

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        width: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        *,
        residual: bool = True,
        groups: int = 1,
        width_per_group: int = 26,
        scale: int = 4,
    ) -> None:
        super().__init__()
        self.scale = scale
        self.is_first = stride > 1 or downsample is not None
        self.width = math.floor(width * (width_per_group / 64.0)) * groups
        splits = max(1, scale - 1)  # splits with a 3x3
        self.conv1 = nn.Conv2d(in_channels, self.width * scale, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(self.width * scale)
        self.convs = nn.ModuleList(
            nn.Conv2d(self.width, self.width, 3, stride, 1, groups=groups, bias=False)
            for _ in range(splits)
        )
        self.bns = nn.ModuleList(nn.BatchNorm2d(self.width) for _ in range(splits))
        self.pool = nn.AvgPool2d(3, stride, padding=1) if self.is_first else None
        self.conv3 = nn.Conv2d(
            self.width * scale, width * self.expansion, 1, bias=False
        )
        self.bn3 = nn.BatchNorm2d(width * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.residual = residual

    def multiscale(self, x: torch.Tensor) -> torch.Tensor:
        """y_1 = K_1(x_1), y_i = K_i(x_i + y_{i-1}), ..., last split x_s unchanged."""
        xs = torch.split(x, self.width, 1)
        ys, y = [], xs[0]
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns, strict=True)):
            y = xs[i] if i == 0 or self.is_first else y + xs[i]
            y = self.relu(bn(conv(y)))
            ys.append(y)
        if self.scale > 1:
            ys.append(xs[-1] if self.pool is None else self.pool(xs[-1]))
        return torch.cat(ys, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.multiscale(self.relu(self.bn1(self.conv1(x))))
        out = self.bn3(self.conv3(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


def res2net50(scale: int = 4, width_per_group: int = 26, **kwargs) -> ResNet:
    """Res2Net-50 (26w4s by default, timm's `res2net50_26w_4s`): ResNet-50 with
    Bottle2neck blocks of `scale` splits of `width_per_group` channels (at width 64)."""
    return ResNet(
        Bottle2neck,
        (3, 4, 6, 3),
        width_per_group=width_per_group,
        extra_options={"scale": scale},
        **kwargs,
    )
