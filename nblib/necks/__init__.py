"""Necks: modules that turn a backbone's feature levels into the maps a detection head
reads (a list of tensors in, a list out). Every neck takes `in_channels`, finest level
first, and keeps it as an attribute, so `BackboneWithNeck` can check it against the
backbone's `feature_info` before any tensor flows."""

from collections.abc import Sequence
from typing import cast

import torch
from torch import nn


def check_levels(feats: list[torch.Tensor], channels: list[int], name: str) -> None:
    """ValueError unless feats holds len(channels) 4-D maps with those channels, each
    level at least as coarse as the previous one."""
    if len(feats) != len(channels):
        raise ValueError(f"{name} expects {len(channels)} levels, got {len(feats)}")
    for i, (f, c) in enumerate(zip(feats, channels, strict=True)):
        if f.dim() != 4 or f.shape[1] != c:
            raise ValueError(
                f"{name} level {i}: expected (B, {c}, H, W), got {tuple(f.shape)}"
            )
        if i and (f.shape[-2] > feats[i - 1].shape[-2]):
            raise ValueError(f"{name}: levels must be ordered finest first")


class BackboneWithNeck(nn.Module):
    """Any nblib backbone's `forward_features`, the levels chosen by index into its
    `feature_info`, then a neck; a neck built for other widths is refused at once."""

    def __init__(self, backbone: nn.Module, neck: nn.Module, levels: list[int]) -> None:
        super().__init__()
        info = getattr(backbone, "feature_info", None)
        if info is None or not hasattr(backbone, "forward_features"):
            raise ValueError(
                f"{type(backbone).__name__} has no forward_features/feature_info"
            )
        if not levels or any(not 0 <= i < len(info) for i in levels):
            raise ValueError(
                f"levels {levels} must index the {len(info)} feature levels"
            )
        widths = [info[i]["channels"] for i in levels]
        neck_widths = list(cast(Sequence[int], neck.in_channels))
        if neck_widths != widths:
            raise ValueError(
                f"{type(neck).__name__} expects in_channels {neck_widths}, "
                f"but levels {levels} of {type(backbone).__name__} have {widths}"
            )
        self.backbone = backbone
        self.neck = neck
        self.levels = list(levels)
        self.strides = [info[i]["stride"] for i in levels]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        # nn.Module types an attribute as Tensor | Module: the checker cannot see it
        feats = self.backbone.forward_features(x)  # type: ignore[operator]
        return self.neck([feats[i] for i in self.levels])


class OneInputNeck(nn.Module):
    """A neck seen as a one-input model, for the tools that take one input shape
    (count_macs, layer_table): the input is level 0, level i a zero map of
    in_channels[i] channels at 1 / 2**i its size (zeros cost no MACs)."""

    def __init__(self, neck: nn.Module) -> None:
        super().__init__()
        self.neck = neck

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        b, _, h, w = x.shape
        channels = cast(Sequence[int], self.neck.in_channels)
        rest = [x.new_zeros(b, c, h >> i, w >> i) for i, c in enumerate(channels)]
        return self.neck([x] + rest[1:])


class BlockAsNeck(nn.Module):
    """A one-map block (SPP, ASPP, RFB) as a neck on one level, so BackboneWithNeck
    and the benchmark take it: a list of one map in, a list of one map out."""

    def __init__(self, block: nn.Module, in_channels: int) -> None:
        super().__init__()
        self.block, self.in_channels = block, [in_channels]

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        check_levels(feats, self.in_channels, type(self.block).__name__)
        return [self.block(feats[0])]
