"""Building blocks shared by several model families (one definition, imported
everywhere)."""

from collections.abc import Callable

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


# An activation class, or a factory such as functools.partial(nn.LeakyReLU, 0.1): the
# conv-BN-activation layers below call it with inplace=True (unless told otherwise),
# as torchvision does.
ActLayer = Callable[..., nn.Module]


def make_divisible(
    value: float,
    divisor: int = 8,
    min_value: int | None = None,
    round_limit: float = 0.9,
) -> int:
    """Round a scaled width to the nearest multiple of `divisor` (at least `min_value`,
    default `divisor`), adding one `divisor` if that lost more than 1 - `round_limit`
    of `value` (the TensorFlow reference's rule, as torchvision's `_make_divisible`
    and timm's `make_divisible`; timm's SE passes round_limit=0)."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < round_limit * value else rounded


def _same_padding(kernel: int | tuple[int, int], dilation: int = 1) -> tuple[int, int]:
    kh, kw = kernel if isinstance(kernel, tuple) else (kernel, kernel)
    return dilation * (kh - 1) // 2, dilation * (kw - 1) // 2


class ConvBNAct(nn.Sequential):
    """A Sequential of conv, BN and activation (keys 0, 1, 2) under a name that says so
    in layer tables and overviews; built by `conv_bn_act`."""


def conv_bn_act(
    in_channels: int,
    out_channels: int,
    kernel: int | tuple[int, int],
    stride: int = 1,
    *,
    dilation: int = 1,
    groups: int = 1,
    padding: int | tuple[int, int] | None = None,
    act: ActLayer | None = nn.ReLU,
    inplace: bool = True,
) -> ConvBNAct:
    """Conv (no bias), BN, `act` as a Sequential with keys 0, 1, 2: torchvision's
    `Conv2dNormActivation` (MobileNet v2, ShuffleNet v2, RegNet weights load by key).

    'Same' padding for odd kernels unless `padding` is given; `kernel` may be (kh, kw);
    `act=None` leaves the activation out (keys 0, 1: a linear layer); `inplace=False`
    keeps the activation's input (YOLOv5's SiLU)."""
    pad = _same_padding(kernel, dilation) if padding is None else padding
    layers = [
        nn.Conv2d(
            in_channels, out_channels, kernel, stride, pad, dilation, groups, bias=False
        ),
        nn.BatchNorm2d(out_channels),
    ]
    if act is not None:
        layers.append(act(inplace=inplace))
    return ConvBNAct(*layers)


class ConvNormAct(nn.Module):
    """Conv (no bias), BN, activation named `conv`, `bn`, `act`: timm's `ConvNormAct`
    (Darknet, CSPNet, VoVNet) and, with eps=1e-3 and padding=0, torchvision's Inception
    `BasicConv2d`.

    'Same' padding for odd kernels unless `padding` is given; `kernel_size` may be
    (kh, kw); `act=nn.Identity` makes the layer linear. `functional_act=True` applies
    the activation as a function, not a module call, as torchvision's BasicConv2d
    (`F.relu`): the same kernels, one module call fewer (nblib.kernels counts calls)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        *,
        padding: int | tuple[int, int] | None = None,
        groups: int = 1,
        act: ActLayer = nn.ReLU,
        eps: float = 1e-5,
        functional_act: bool = False,
    ) -> None:
        super().__init__()
        pad = _same_padding(kernel_size) if padding is None else padding
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            pad,
            groups=groups,
            bias=False,
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=eps)
        self.act = act(inplace=True)
        self.functional_act = functional_act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return self.act.forward(x) if self.functional_act else self.act(x)


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation (Hu et al., CVPR 2018): average-pool each channel, FC
    C -> C/r, ReLU, FC C/r -> C, sigmoid, and rescale each channel by the result.

    The FCs are 1x1 convolutions with bias, named as in timm's `SEModule` and
    torchvision's `SqueezeExcitation` (`fc1`, `fc2`) so both load by key. As in timm,
    C/r is rounded to the nearest multiple of 8 (at least 8); `squeeze_channels` sets
    the width directly (RegNetY: a quarter of the block's *input* width).
    """

    def __init__(
        self, channels: int, reduction: int = 16, squeeze_channels: int | None = None
    ) -> None:
        super().__init__()
        if reduction <= 0:
            raise ValueError(f"reduction must be positive, got {reduction}")
        reduced = (
            make_divisible(channels / reduction, 8, round_limit=0.0)
            if squeeze_channels is None
            else squeeze_channels
        )
        self.fc1 = nn.Conv2d(channels, reduced, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(reduced, channels, 1)
        self.gate = nn.Sigmoid()

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """The channel weights, (B, C, 1, 1) in (0, 1): squeeze, then excitation."""
        s = x.mean((2, 3), keepdim=True)  # squeeze: (B, C, H, W) -> (B, C, 1, 1)
        return self.gate(self.fc2(self.act(self.fc1(s))))  # excitation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weights(x)  # scale


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """ShuffleNet's channel shuffle: view the C channels as a (groups, C / groups)
    grid, transpose it, and flatten, so that channel j of group i moves to position
    j * groups + i and each group of the next grouped layer reads from every group."""
    b, c, h, w = x.shape
    x = x.view(b, groups, c // groups, h, w)  # reshape: (g, C/g)
    x = torch.transpose(x, 1, 2).contiguous()  # transpose: (C/g, g)
    return x.view(b, c, h, w)  # flatten
