"""Two things called SPP.

`SpatialPyramidPooling` is SPP-net's layer (He et al., ECCV 2014 / TPAMI 2015): max-pool
a map into fixed grids of bins and flatten, so any input size gives one vector length.
`SPPBlock` is the detectors' "SPP" (YOLOv3-SPP, YOLOv4, YOLOv5): stride-1 max-pools of
several sizes concatenated with their input, a map of the same size with more context;
`SPPFBlock` computes the same map from one small pool applied in cascade.
"""

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from nblib.blocks import conv_bn_act
from nblib.blocks.checks import check_input, check_odd_kernel, check_positive

SPP_NET_LEVELS = (6, 3, 2, 1)  # He et al.: 4 levels, 36 + 9 + 4 + 1 = 50 bins


class SpatialPyramidPooling(nn.Module):
    """SPP-net's pyramid pooling: adaptive max-pooling into n x n bins per level,
    flattened and concatenated: C * sum(n^2) features whatever the input size."""

    def __init__(self, levels: Sequence[int] = SPP_NET_LEVELS) -> None:
        super().__init__()
        if not levels or not all(isinstance(n, int) and n > 0 for n in levels):
            raise ValueError(f"levels must be positive ints, got {levels!r}")
        self.levels = tuple(levels)

    def output_length(self, channels: int) -> int:
        """Length of the output vector for a map with `channels` channels."""
        return channels * sum(n * n for n in self.levels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, None)
        bins = [F.adaptive_max_pool2d(x, n).flatten(1) for n in self.levels]
        return torch.cat(bins, 1)  # (B, C, H, W) -> (B, C * sum(n^2))


def _reduce_and_fuse(
    in_channels: int, out_channels: int | None, parts: int, act: type[nn.Module]
) -> tuple[nn.Module, nn.Module]:
    """YOLOv5's 1x1 convolutions around the pools: cv1 halves the channels, cv2 fuses
    the `parts` concatenated maps into out_channels (identities if out_channels is
    None, the bare block of YOLOv3-SPP and YOLOv4)."""
    if out_channels is None:
        return nn.Identity(), nn.Identity()
    hidden = in_channels // 2
    if hidden == 0:
        raise ValueError(f"in_channels must be >= 2 to halve, got {in_channels}")
    return (
        conv_bn_act(in_channels, hidden, 1, act=act, inplace=False),
        conv_bn_act(parts * hidden, out_channels, 1, act=act, inplace=False),
    )


class SPPBlock(nn.Module):
    """The detectors' SPP: concatenate the input with stride-1 max-pools of each kernel
    ('same' padding), so every position also sees the maxima of 5x5, 9x9, 13x13
    windows."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int | None = None,
        kernels: Sequence[int] = (5, 9, 13),
        act: type[nn.Module] = nn.SiLU,
    ) -> None:
        super().__init__()
        check_positive(in_channels=in_channels, out_channels=out_channels)
        if not kernels:
            raise ValueError("kernels must name at least one pool size, got none")
        for k in kernels:
            check_odd_kernel("kernels", k)
        self.in_channels = in_channels
        self.cv1, self.cv2 = _reduce_and_fuse(
            in_channels, out_channels, len(kernels) + 1, act
        )
        self.pools = nn.ModuleList(nn.MaxPool2d(k, 1, k // 2) for k in kernels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.in_channels)
        x = self.cv1(x)  # (B, C/2, H, W), or the input itself without convolutions
        return self.cv2(torch.cat([x] + [pool(x) for pool in self.pools], 1))


class SPPFBlock(nn.Module):
    """SPP-Fast (YOLOv5): one k x k pool applied `repeats` times in cascade. Pooling a
    k-pool's output again is a (2k-1)-pool, so k = 5 thrice gives SPPBlock's 5, 9, 13;
    same module names, so SPPBlock's weights load."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int | None = None,
        kernel: int = 5,
        repeats: int = 3,
        act: type[nn.Module] = nn.SiLU,
    ) -> None:
        super().__init__()
        check_positive(in_channels=in_channels, out_channels=out_channels)
        check_odd_kernel("kernel", kernel)
        self.in_channels, self.repeats = in_channels, repeats
        check_positive(repeats=repeats)
        self.cv1, self.cv2 = _reduce_and_fuse(
            in_channels, out_channels, repeats + 1, act
        )
        self.pool = nn.MaxPool2d(kernel, 1, kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.in_channels)
        maps = [self.cv1(x)]
        for _ in range(self.repeats):  # windows k, 2k-1, 3k-2, ...
            maps.append(self.pool(maps[-1]))
        return self.cv2(torch.cat(maps, 1))
