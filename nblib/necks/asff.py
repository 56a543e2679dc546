"""Adaptively spatial feature fusion, ASFF (Liu et al., 2019).

For output level l, every level n is first resized to level l's grid and width
(finer levels: stride-2 3x3 convs, with 3x3 max-pools of stride 2 before the last one
when the factor exceeds 2; coarser levels: a 1x1 conv where the widths differ, then
nearest upsampling). A 1x1 conv per level compresses each resized map to a few
channels (16 in the authors' code), a 1x1 conv on their concatenation gives one logit
per level and pixel, and a softmax across levels turns them into weights (alpha,
beta, gamma for three levels) that sum to one at every pixel. The fused map is the
weighted sum, followed by a 3x3 conv (the authors' YOLOv3 widths: 256, 256, 512 in,
256, 512, 1024 out). Levels are given finest first (ascending stride, factor 2
between neighbours), as every neck here.
"""

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from nblib.blocks import conv_bn_act
from nblib.necks import check_levels

# YOLOv3's activation, which ASFF keeps: a leaky ReLU of slope 0.1.
LEAKY = partial(nn.LeakyReLU, 0.1)


def resizer(in_channels: int, out_channels: int, steps: int) -> nn.Module:
    """Maps level n to level n + steps: steps > 0 downsamples by 2**steps (max-pools,
    then one stride-2 conv), steps < 0 upsamples (nearest, after a 1x1 conv if the
    widths differ), 0 is identity (a 1x1 conv if the widths differ)."""
    if steps > 0:
        pools = [nn.MaxPool2d(3, 2, 1) for _ in range(steps - 1)]
        return nn.Sequential(
            *pools, conv_bn_act(in_channels, out_channels, 3, 2, act=LEAKY)
        )
    width = (
        nn.Identity()
        if in_channels == out_channels
        else conv_bn_act(in_channels, out_channels, 1, act=LEAKY)
    )
    if steps < 0:
        return nn.Sequential(width, nn.Upsample(scale_factor=2**-steps, mode="nearest"))
    return width


class ASFF(nn.Module):
    """Fuses all levels into level `level` (0 = finest) with per-pixel softmax
    weights; `compress` channels per level feed the weight logits."""

    def __init__(
        self,
        in_channels: list[int],
        level: int,
        out_channels: int | None = None,
        compress: int = 16,
    ) -> None:
        super().__init__()
        if not 0 <= level < len(in_channels):
            raise ValueError(f"level {level} not in 0..{len(in_channels) - 1}")
        if len(in_channels) < 2:
            raise ValueError("ASFF fuses at least 2 levels")
        self.in_channels, self.level = list(in_channels), level
        inter = in_channels[level]
        self.resize = nn.ModuleList(
            resizer(c, inter, level - n) for n, c in enumerate(in_channels)
        )
        self.weight_level = nn.ModuleList(
            conv_bn_act(inter, compress, 1, act=LEAKY) for _ in in_channels
        )
        self.weight_levels = nn.Conv2d(compress * len(in_channels), len(in_channels), 1)
        self.expand = conv_bn_act(inter, out_channels or inter, 3, act=LEAKY)

    def weights(
        self, feats: list[torch.Tensor]
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The resized maps and the weights (B, levels, H, W), softmax over dim 1."""
        check_levels(feats, self.in_channels, f"ASFF level {self.level}")
        size = feats[self.level].shape[-2:]
        resized = []
        for n, (f, resize) in enumerate(zip(feats, self.resize, strict=True)):
            r = resize(f)
            if r.shape[-2:] != size:
                raise ValueError(
                    f"level {n} resizes to {tuple(r.shape[-2:])}, not {tuple(size)}: "
                    "neighbouring levels must differ by a stride of exactly 2"
                )
            resized.append(r)
        logits = torch.cat(
            [w(r) for w, r in zip(self.weight_level, resized, strict=True)], 1
        )
        return resized, F.softmax(self.weight_levels(logits), dim=1)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        resized, w = self.weights(feats)
        fused = sum(r * w[:, n : n + 1] for n, r in enumerate(resized))
        return self.expand(fused)


class ASFFNeck(nn.Module):
    """One ASFF per level: a list in, a list of the same length out."""

    def __init__(
        self,
        in_channels: list[int],
        out_channels: list[int] | None = None,
        compress: int = 16,
    ) -> None:
        super().__init__()
        out_channels = out_channels or list(in_channels)
        if len(out_channels) != len(in_channels):
            raise ValueError(
                f"{len(in_channels)} input levels but {len(out_channels)} outputs"
            )
        self.fuse = nn.ModuleList(
            ASFF(in_channels, n, c, compress) for n, c in enumerate(out_channels)
        )
        self.in_channels, self.out_channels = list(in_channels), list(out_channels)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        return [fuse(feats) for fuse in self.fuse]
