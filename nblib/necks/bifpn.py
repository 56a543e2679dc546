"""Bidirectional FPN, BiFPN (Tan et al., 2020, EfficientDet).

One BiFPN layer has a top-down pass and a bottom-up pass over levels of one width.
Nodes with a single input are removed (the top level's top-down node, the bottom
level's bottom-up node), an extra edge joins each input to the same-level output, and
every node fuses its inputs with fast normalised fusion
O = sum_i w_i I_i / (eps + sum_j w_j), w_i = ReLU(learnable weight), followed by a
depthwise separable 3x3 conv, BatchNorm and an activation. Resizing: nearest
upsampling, 3x3 max-pooling with stride 2. Layers are repeated; 1x1 convs project the
backbone widths to the common width first. Levels are given finest first.
`fusion="softmax"` swaps in the softmax-based fusion the paper compares (Sec. 6.3).
"""

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

from nblib.necks import check_levels
from nblib.necks.fpn import check_channels


class FastFusion(nn.Module):
    """Fast normalised fusion of n same-shaped inputs (weights initialised to 1)."""

    def __init__(self, n: int, eps: float = 1e-4) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def normalised_weights(self) -> torch.Tensor:
        """ReLU keeps every weight >= 0; dividing by eps + their sum keeps the sum
        just below 1, with no exponential (Sec. 3.3)."""
        w = F.relu(self.weight)
        return w / (self.eps + w.sum())

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        if len(inputs) != self.weight.numel():
            raise ValueError(
                f"expected {self.weight.numel()} inputs, got {len(inputs)}"
            )
        w = self.normalised_weights()
        return sum(wi * x for wi, x in zip(w, inputs, strict=True))


class SoftmaxFusion(FastFusion):
    """Softmax-based fusion, O = sum_i e^w_i I_i / sum_j e^w_j: the same weighted sum,
    normalised by a softmax (the slower baseline of Sec. 3.3)."""

    def normalised_weights(self) -> torch.Tensor:
        return torch.softmax(self.weight, dim=0)


FUSIONS = {"fast": FastFusion, "softmax": SoftmaxFusion}


class SeparableConv(nn.Sequential):
    """Depthwise 3x3, pointwise 1x1, BatchNorm, SiLU."""

    def __init__(self, channels: int) -> None:
        super().__init__(
            nn.Conv2d(channels, channels, 3, 1, 1, groups=channels, bias=False),
            nn.Conv2d(channels, channels, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.SiLU(inplace=True),
        )


def resize(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Nearest upsampling or stride-2 3x3 max-pooling to like's spatial size."""
    if x.shape[-1] < like.shape[-1]:
        return F.interpolate(x, size=like.shape[-2:], mode="nearest")
    if x.shape[-1] > like.shape[-1]:
        x = F.max_pool2d(x, 3, 2, 1)
    if x.shape[-2:] != like.shape[-2:]:
        raise ValueError(f"cannot resize {tuple(x.shape)} to {tuple(like.shape)}")
    return x


class BiFPNLayer(nn.Module):
    """One top-down + bottom-up pass over `levels` maps of `channels` channels."""

    def __init__(self, levels: int, channels: int, fusion: str = "fast") -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {sorted(FUSIONS)}, got {fusion!r}")
        fuse = FUSIONS[fusion]
        self.levels, self.channels = levels, channels
        # top-down nodes for levels levels-2 .. 0 (2 inputs each)
        self.td_fuse = nn.ModuleList(fuse(2) for _ in range(levels - 1))
        self.td_conv = nn.ModuleList(SeparableConv(channels) for _ in range(levels - 1))
        # bottom-up nodes for levels 1 .. levels-1 (3 inputs, the top one 2)
        self.bu_fuse = nn.ModuleList(
            fuse(3 if i < levels - 1 else 2) for i in range(1, levels)
        )
        self.bu_conv = nn.ModuleList(SeparableConv(channels) for _ in range(levels - 1))

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        check_levels(feats, [self.channels] * self.levels, "BiFPNLayer")
        td = list(feats)  # the top level is its own input; the rest are set below
        for i in range(self.levels - 2, -1, -1):
            fused = self.td_fuse[i]([feats[i], resize(td[i + 1], feats[i])])
            td[i] = self.td_conv[i](fused)
        outs = [td[0]]
        for i in range(1, self.levels):
            inputs = [feats[i], resize(outs[-1], feats[i])]
            if i < self.levels - 1:
                inputs.insert(1, td[i])
            outs.append(self.bu_conv[i - 1](self.bu_fuse[i - 1](inputs)))
        return outs


class BiFPN(nn.Module):
    """1x1 projections to out_channels (where widths differ), then repeated layers."""

    def __init__(
        self,
        in_channels: list[int],
        out_channels: int = 64,
        num_layers: int = 1,
        fusion: str = "fast",
    ) -> None:
        super().__init__()
        check_channels(in_channels, out_channels)
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.in_channels = list(in_channels)
        self.proj = nn.ModuleList(
            nn.Identity()
            if c == out_channels
            else nn.Sequential(
                nn.Conv2d(c, out_channels, 1), nn.BatchNorm2d(out_channels)
            )
            for c in in_channels
        )
        self.layers = nn.Sequential(
            *(
                BiFPNLayer(len(in_channels), out_channels, fusion)
                for _ in range(num_layers)
            )
        )

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        check_levels(feats, self.in_channels, "BiFPN")
        return self.layers([p(f) for p, f in zip(self.proj, feats, strict=True)])


def make_separable(module: nn.Module) -> nn.Module:
    """Replace, in place, every dense 3x3 conv by a depthwise 3x3 and a pointwise 1x1
    conv, as EfficientDet does to FPN and PANet for its Table 5 comparison."""
    for name, child in module.named_children():
        if (
            isinstance(child, nn.Conv2d)
            and child.kernel_size == (3, 3)
            and (child.groups == 1)
        ):
            c_in, c_out = child.in_channels, child.out_channels
            # a 2-D conv's stride and padding (torch's stubs say tuple[int, ...])
            stride = cast(tuple[int, int], child.stride)
            padding = cast(str | tuple[int, int], child.padding)
            depthwise = nn.Conv2d(
                c_in, c_in, 3, stride, padding, groups=c_in, bias=False
            )
            pointwise = nn.Conv2d(c_in, c_out, 1, bias=child.bias is not None)
            setattr(module, name, nn.Sequential(depthwise, pointwise))
        else:
            make_separable(child)
    return module
