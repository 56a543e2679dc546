"""M2Det's multi-level feature pyramid network, MLFPN (Zhao et al., AAAI 2019).

FFMv1 fuses two backbone levels into a *base* feature; a chain of thinned U-shaped
modules (TUMs) each turns its input into a pyramid of `scales` maps; FFMv2 feeds every
TUM with the base (1x1 conv) and, after the first, the previous TUM's largest map; SFAM
concatenates the TUMs' maps of equal scale and reweights the channels with
squeeze-and-excitation. Paper sizes: 8 TUMs, 6 scales, 256 channels per TUM output,
base 256 + 512, SE reduction 16. The layer layout follows the authors' code; where that
code shares one module across TUMs or scales (FFMv2's 1x1, SFAM's SE) we keep one per
use, as the paper describes.
"""

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from nblib.blocks import SqueezeExcitation, conv_bn_act
from nblib.necks import check_levels


class FFMv1(nn.Module):
    """Base feature: 3x3 conv on the shallow level, 1x1 conv + 2x upsampling on the
    deep one (stride twice the shallow's), concatenated."""

    def __init__(self, in_channels: list[int], out_channels: tuple[int, int]) -> None:
        super().__init__()
        if len(in_channels) != 2:
            raise ValueError(f"FFMv1 fuses 2 levels, got {len(in_channels)}")
        self.in_channels = list(in_channels)
        self.reduce = conv_bn_act(in_channels[0], out_channels[0], 3)
        self.up_reduce = conv_bn_act(in_channels[1], out_channels[1], 1)
        self.out_channels = sum(out_channels)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        check_levels(feats, self.in_channels, "FFMv1")
        shallow, deep = feats
        deep = F.interpolate(self.up_reduce(deep), size=shallow.shape[-2:])
        return torch.cat([self.reduce(shallow), deep], 1)


class FFMv2(nn.Module):
    """A TUM's input: the base through a 1x1 conv, concatenated with the previous
    TUM's largest map when there is one (the first TUM reads the base alone)."""

    def __init__(self, base_channels: int, out_channels: int) -> None:
        super().__init__()
        self.reduce = conv_bn_act(base_channels, out_channels, 1)

    def forward(self, base: torch.Tensor, prev: torch.Tensor | None) -> torch.Tensor:
        x = self.reduce(base)
        return x if prev is None else torch.cat([x, prev], 1)


class TUM(nn.Module):
    """Thinned U-shaped module: `scales - 1` 3x3 convs down (stride 2; the last is
    stride 1 without padding, which takes 3x3 to 1x1), a 1x1 on the top map; up by
    nearest upsampling plus a 3x3 conv of the encoder map of that size; a 1x1 smooths
    every decoder map but the top. Returns `scales` maps of `planes`, largest first."""

    def __init__(self, in_channels: int, planes: int, scales: int) -> None:
        super().__init__()
        if scales < 3:
            raise ValueError(f"a TUM needs at least 3 scales, got {scales}")
        self.in_channels = in_channels
        last = scales - 2  # index of the unpadded stride-1 conv
        self.encoder = nn.ModuleList(
            conv_bn_act(in_channels if i == 0 else planes, planes, 3, 2)
            if i < last
            else conv_bn_act(planes, planes, 3, padding=0)
            for i in range(scales - 1)
        )
        self.top = conv_bn_act(planes, planes, 1)
        self.lateral = nn.ModuleList(
            conv_bn_act(planes if i < scales - 2 else in_channels, planes, 3)
            for i in range(scales - 1)
        )  # applied to the encoder maps from the second-smallest up to the input
        self.smooth = nn.ModuleList(
            conv_bn_act(planes, planes, 1) for _ in range(scales - 1)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"TUM expects {self.in_channels} channels, got {x.shape[1]}"
            )
        # encoder: (B, C, H, W) -> ... -> the smallest map
        enc = [x]
        for conv in self.encoder:
            enc.append(conv(enc[-1]))
        # decoder: upsample, add the lateral conv of the encoder map of that size
        dec = [self.top(enc[-1])]
        for lateral, skip in zip(self.lateral, reversed(enc[:-1]), strict=True):
            up = F.interpolate(dec[-1], size=skip.shape[-2:], mode="nearest")
            dec.append(up + lateral(skip))
        # smoothing: every decoder map but the top
        outs = [dec[0]] + [s(d) for s, d in zip(self.smooth, dec[1:], strict=True)]
        return outs[::-1]


class SFAM(nn.Module):
    """Scale-wise feature aggregation: concatenate the TUMs' maps of each scale, then
    one squeeze-and-excitation per scale (avg-pool, FC C -> C/r, ReLU, FC, sigmoid;
    C/r rounded down)."""

    def __init__(self, channels: int, scales: int, reduction: int = 16) -> None:
        super().__init__()
        if reduction <= 0 or channels // reduction == 0:
            raise ValueError(f"reduction {reduction} too large for {channels} channels")
        self.se = nn.ModuleList(
            SqueezeExcitation(channels, squeeze_channels=channels // reduction)
            for _ in range(scales)
        )

    def aggregate(self, pyramids: list[list[torch.Tensor]]) -> list[torch.Tensor]:
        """Scale-wise concatenation: pyramids[t][s] -> one map per scale s."""
        return [torch.cat(maps, 1) for maps in zip(*pyramids, strict=True)]

    def attention(self, pyramids: list[list[torch.Tensor]]) -> list[torch.Tensor]:
        """The SE weights per scale, (B, C, 1, 1) each, in (0, 1)."""
        maps = self.aggregate(pyramids)
        return [
            cast(SqueezeExcitation, se).weights(f)
            for se, f in zip(self.se, maps, strict=True)
        ]

    def forward(self, pyramids: list[list[torch.Tensor]]) -> list[torch.Tensor]:
        return [se(f) for se, f in zip(self.se, self.aggregate(pyramids), strict=True)]


class MLFPN(nn.Module):
    """FFMv1 -> (FFMv2 -> TUM) x tums -> SFAM. Input: two backbone levels (strides s
    and 2s); output: `scales` maps of `tums * planes` channels, largest first (at
    320 px on VGG-16: 40, 20, 10, 5, 3, 1 pixels)."""

    def __init__(
        self,
        in_channels: list[int],
        tums: int = 8,
        scales: int = 6,
        planes: int = 256,
        base_channels: tuple[int, int] = (256, 512),
        reduction: int = 16,
    ) -> None:
        super().__init__()
        if tums < 1:
            raise ValueError(f"need at least one TUM, got {tums}")
        if planes % 2:
            raise ValueError(f"planes must be even (FFMv2 gives half), got {planes}")
        self.ffmv1 = FFMv1(in_channels, base_channels)
        self.in_channels = self.ffmv1.in_channels
        base = self.ffmv1.out_channels
        self.ffmv2 = nn.ModuleList(FFMv2(base, planes // 2) for _ in range(tums))
        widths = [planes // 2] + [planes // 2 + planes] * (tums - 1)  # TUM inputs
        self.tums = nn.ModuleList(TUM(w, planes, scales) for w in widths)
        self.sfam = SFAM(tums * planes, scales, reduction)
        self.out_channels = [tums * planes] * scales

    def pyramids(self, feats: list[torch.Tensor]) -> list[list[torch.Tensor]]:
        """Every TUM's pyramid, before SFAM."""
        base = self.ffmv1(feats)
        out, prev = [], None
        for ffm, tum in zip(self.ffmv2, self.tums, strict=True):
            out.append(tum(ffm(base, prev)))
            prev = out[-1][0]  # the largest map feeds the next TUM
        return out

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        return self.sfam(self.pyramids(feats))
