"""ResNeSt: split attention, a softmax over `radix` parallel 3x3 convolutions.

Li et al., "Selective Kernel Networks", CVPR 2019 (arXiv:1903.06586): two branches
with different kernels are summed, pooled, and mixed back with per-channel softmax
weights across the branches. Zhang et al., "ResNeSt: Split-Attention Networks", CVPR
Workshops 2022 (arXiv:2004.08955): the branches become `radix` splits of the same 3x3
(inside each of `cardinality` groups), and the attention replaces ResNet's 3x3.
ResNeSt-50 is ResNet-50 with the deep stem (ResNet-C), average-pool shortcuts
(ResNet-D), split-attention 3x3s with radix 2, and the stride done by a 3x3 average pool
after the split attention ("avd"). Module names follow timm's `resnest50d`, so its
weights load by key.
"""

import torch
import torch.nn.functional as F
from torch import nn

from nblib.blocks import make_divisible
from nblib.models.resnet import ResNet, ResNetBlock


class RadixSoftmax(nn.Module):
    """Attention logits (B, cardinality * radix * C) -> weights: a softmax across the
    radix splits of each channel (so the splits' weights sum to 1), or a sigmoid
    gate when radix is 1 (which makes the block a squeeze-excitation)."""

    def __init__(self, radix: int, cardinality: int) -> None:
        super().__init__()
        self.radix = radix
        self.cardinality = cardinality

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.size(0)
        if self.radix == 1:
            return torch.sigmoid(x)
        x = x.view(batch, self.cardinality, self.radix, -1).transpose(1, 2)
        return F.softmax(x, dim=1).reshape(batch, -1)


class SplitAttention(nn.Module):
    """A 3x3 convolution computed `radix` times (one grouped conv of radix x
    cardinality groups), BN, ReLU; the splits are summed, average-pooled and passed
    through a two-layer bottleneck (fc1, BN, ReLU, fc2) whose output gives one weight
    per split and channel; the result is the weighted sum of the splits."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        groups: int = 1,
        radix: int = 2,
        reduction: float = 0.25,
    ) -> None:
        super().__init__()
        self.radix = radix
        mid = out_channels * radix
        attn = make_divisible(in_channels * radix * reduction, min_value=32)
        self.conv = nn.Conv2d(
            in_channels, mid, 3, stride, 1, groups=groups * radix, bias=False
        )
        self.bn0 = nn.BatchNorm2d(mid)
        self.act0 = nn.ReLU(inplace=True)
        self.fc1 = nn.Conv2d(out_channels, attn, 1, groups=groups)
        self.bn1 = nn.BatchNorm2d(attn)
        self.act1 = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(attn, mid, 1, groups=groups)
        self.rsoftmax = RadixSoftmax(radix, groups)

    def attention(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The splits (B, radix, C, H, W) and their weights (B, radix, C, 1, 1)."""
        x = self.act0(self.bn0(self.conv(x)))
        batch, rc, height, width = x.shape
        x = x.reshape(batch, self.radix, rc // self.radix, height, width)
        pooled = x.sum(dim=1).mean((2, 3), keepdim=True)  # (B, C, 1, 1)
        logits = self.fc2(self.act1(self.bn1(self.fc1(pooled))))
        weights = self.rsoftmax(logits).view(batch, -1, 1, 1)
        return x, weights.reshape(batch, self.radix, rc // self.radix, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.radix == 1:  # no splits to mix: a gated convolution
            x = self.act0(self.bn0(self.conv(x)))
            gate = self.fc2(self.act1(self.bn1(self.fc1(x.mean((2, 3), True)))))
            return (x * self.rsoftmax(gate).view(x.size(0), -1, 1, 1)).contiguous()
        splits, weights = self.attention(x)
        return (splits * weights).sum(dim=1).contiguous()


class ResNestBottleneck(ResNetBlock):
    """1x1 reduce -> split-attention 3x3 -> (3x3 average pool with the block's stride)
    -> 1x1 expand (x4), on a residual shortcut. With `avd=False` the split attention
    itself takes the stride; with `avd_first=True` the pool comes before it, so that
    it runs at the lower resolution (the paper's "fast" variants). `groups` is the
    cardinality, `width_per_group` the width of a group at 64 channels (as in
    ResNeXt)."""

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
        width_per_group: int = 64,
        radix: int = 2,
        avd: bool = True,
        avd_first: bool = False,
    ) -> None:
        super().__init__()
        inner = int(width * (width_per_group / 64.0)) * groups
        avd_stride, stride = (stride, 1) if avd and stride > 1 else (0, stride)
        self.conv1 = nn.Conv2d(in_channels, inner, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(inner)
        self.act1 = nn.ReLU(inplace=True)
        pool = nn.AvgPool2d(3, avd_stride, padding=1) if avd_stride else None
        self.avd_first = pool if avd_first else None
        self.conv2 = SplitAttention(inner, inner, stride, groups, radix)
        self.avd_last = None if avd_first else pool
        self.conv3 = nn.Conv2d(inner, width * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * self.expansion)
        self.act3 = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        if self.avd_first is not None:
            out = self.avd_first(out)
        out = self.conv2(out)
        if self.avd_last is not None:
            out = self.avd_last(out)
        out = self.bn3(self.conv3(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.act3(out)


def resnest50d(
    radix: int = 2, avd: bool = True, avd_first: bool = False, **kwargs
) -> ResNet:
    """ResNeSt-50 (timm's `resnest50d`): ResNet-50 with the deep stem, average-pool
    shortcuts and split-attention blocks, radix 2, cardinality 1, width 64.
    `avd_first=True` gives the paper's "ResNeSt-50-fast"; `groups` and
    `width_per_group` give the other settings of its Table 2 (e.g. timm's
    `resnest50d_4s2x40d`: radix 4, groups 2, width 40, avd_first)."""
    kwargs = {"stem": "deep", "downsample": "avg", **kwargs}
    options = {"radix": radix, "avd": avd, "avd_first": avd_first}
    return ResNet(ResNestBottleneck, (3, 4, 6, 3), extra_options=options, **kwargs)
