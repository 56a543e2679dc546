"""Building blocks shared by several model families (one definition, imported
everywhere)."""

import torch
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


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation (Hu et al., CVPR 2018): average-pool each channel, FC
    C -> C/r, ReLU, FC C/r -> C, sigmoid, and rescale each channel by the result.

    The FCs are 1x1 convolutions with bias, named as in timm's `SEModule` so its weights
    load by key; as there, C/r is rounded to the nearest multiple of 8 (at least 8).
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        if reduction <= 0:
            raise ValueError(f"reduction must be positive, got {reduction}")
        reduced = max(8, int(channels / reduction + 4) // 8 * 8)
        self.fc1 = nn.Conv2d(channels, reduced, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(reduced, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)  # squeeze: (B, C, H, W) -> (B, C, 1, 1)
        s = self.gate(self.fc2(self.act(self.fc1(s))))  # excitation: (0, 1) per channel
        return x * s  # scale


def conv_bn_act(
    in_channels: int,
    out_channels: int,
    kernel: int | tuple[int, int],
    stride: int = 1,
    dilation: int = 1,
    act: nn.Module | None = None,
    padding: int | None = None,
) -> nn.Sequential:
    """Convolution ('same' padding for odd kernels unless `padding` is given, no bias),
    BatchNorm, activation (ReLU unless `act` is given): keys 0, 1, 2 as torchvision's
    Conv2dNormActivation, so reference weights load by key. `kernel` may be (kh, kw)."""
    kh, kw = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    pad = (
        padding
        if padding is not None
        else (dilation * (kh - 1) // 2, dilation * (kw - 1) // 2)
    )
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride, pad, dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        act if act is not None else nn.ReLU(inplace=True),
    )


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle: view the C channels as a (groups, C / groups)
    grid, transpose it, and flatten, so that channel j of group i moves to position
    j * groups + i and each group of the next grouped layer reads from every group."""
    b, c, h, w = x.shape
    x = x.view(b, groups, c // groups, h, w)  # reshape: (g, C/g)
    x = torch.transpose(x, 1, 2).contiguous()  # transpose: (C/g, g)
    return x.view(b, c, h, w)  # flatten
