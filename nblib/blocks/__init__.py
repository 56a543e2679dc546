"""Building blocks shared by several model families (one definition, imported
everywhere)."""

from torch import nn


def conv3x3(
    in_channels: int, out_channels: int, stride: int = 1, groups: int = 1
) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias (a BatchNorm follows it everywhere it
    is used)."""
    return nn.Conv2d(
        in_channels,
        out_channels,
        3,
        stride=stride,
        padding=1,
        groups=groups,
        bias=False,
    )


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution without bias: mixes channels, or projects a shortcut to a new
    width/stride."""
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
