"""Receptive Field Block (Liu et al., ECCV 2018, RFBNet).

Each branch pairs a kernel with a dilation rate that grows with it (small kernel, small
rate; large kernel, large rate), as the size of a population receptive field grows with
its eccentricity in the visual cortex. The branches are concatenated, fused by a 1x1
convolution, scaled and added to a 1x1 shortcut, as in Inception-ResNet. Layout and
widths follow the authors' BasicRFB (RFB, Fig. 4a) and BasicRFB_a (RFB-s, Fig. 4b).
"""

import torch
from torch import nn

from nblib.blocks import conv_bn_act
from nblib.blocks.checks import check_input, check_positive

# name: (reduction, branches). A branch lists the convolutions before its dilated 3x3 as
# (kernel height, kernel width, width in units of in_channels // reduction), then the
# rate of that 3x3, which keeps the last width.
Branch = tuple[list[tuple[int, int, float]], int]
RFB_CONFIGS: dict[str, tuple[int, list[Branch]]] = {
    "rfb": (8, [  # Fig. 4(a); the authors build the 5x5 from two 3x3 convolutions
        ([(1, 1, 2)], 1),  # 1x1, 3x3 rate 1
        ([(1, 1, 1), (3, 3, 2)], 3),  # 1x1, 3x3, 3x3 rate 3
        ([(1, 1, 1), (3, 3, 1.5), (3, 3, 2)], 5),  # 1x1, 5x5, 3x3 rate 5
    ]),
    "rfb_s": (4, [  # Fig. 4(b): more, thinner branches; 1x3 and 3x1 for 3x3
        ([(1, 1, 1)], 1),  # 1x1, 3x3 rate 1
        ([(1, 1, 1), (3, 1, 1)], 3),  # 1x1, 3x1, 3x3 rate 3
        ([(1, 1, 1), (1, 3, 1)], 3),  # 1x1, 1x3, 3x3 rate 3
        ([(1, 1, 0.5), (1, 3, 0.75), (3, 1, 1)], 5),  # 1x1, 1x3 + 3x1, 3x3 rate 5
    ]),
}  # fmt: skip


def rfb_branch(
    in_channels: int, unit: int, convs: list[tuple[int, int, float]], rate: int
) -> nn.Sequential:
    """One branch: the listed convolutions (widths in units of `unit` channels), then
    a 3x3 convolution at dilation `rate` without ReLU (the fusion comes first)."""
    layers, channels = [], in_channels
    for kh, kw, width in convs:
        layers.append(conv_bn_act(channels, int(width * unit), (kh, kw)))
        channels = int(width * unit)
    layers.append(conv_bn_act(channels, channels, 3, dilation=rate, act=nn.Identity))
    return nn.Sequential(*layers)


class RFB(nn.Module):
    """Receptive Field Block: multi-branch (kernel, dilation) pairs, concatenated,
    1x1 fusion, `scale` x fusion + 1x1 shortcut, ReLU. `variant`: "rfb" or "rfb_s"."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        variant: str = "rfb",
        scale: float = 0.1,
    ) -> None:
        super().__init__()
        check_positive(in_channels=in_channels, out_channels=out_channels)
        if variant not in RFB_CONFIGS:
            raise ValueError(
                f"variant must be one of {sorted(RFB_CONFIGS)}, got {variant!r}"
            )
        reduction, branches = RFB_CONFIGS[variant]
        unit = in_channels // reduction
        narrowest = min(w for convs, _ in branches for _, _, w in convs)
        if int(narrowest * unit) < 1:
            raise ValueError(
                f"in_channels must be at least {int(reduction / narrowest)} for "
                f"{variant!r} (branch widths are fractions of in_channels // "
                f"{reduction}), got {in_channels}"
            )
        self.in_channels, self.scale = in_channels, scale
        self.branches = nn.ModuleList(
            rfb_branch(in_channels, unit, convs, rate) for convs, rate in branches
        )
        width = sum(int(convs[-1][2] * unit) for convs, _ in branches)
        self.fuse = conv_bn_act(width, out_channels, 1, act=nn.Identity)
        self.shortcut = conv_bn_act(in_channels, out_channels, 1, act=nn.Identity)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.in_channels)
        branches = torch.cat([branch(x) for branch in self.branches], 1)
        return self.relu(self.fuse(branches) * self.scale + self.shortcut(x))
