"""Path Aggregation Network neck, PANet (Liu et al., 2018).

An FPN (P_2..P_5) followed by bottom-up path augmentation: N_2 = P_2, and
N_{i+1} = conv3x3(conv3x3_stride2(N_i) + P_{i+1}), each conv followed by ReLU as in the
paper (Sec. 3.1). The shortcut from the finest level to the top output then crosses a
handful of layers instead of the whole backbone. Levels are given finest first.
"""

import torch
from torch import nn

from nblib.necks.fpn import FPN


def conv_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution (padding 1, bias) followed by ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, 1), nn.ReLU(inplace=True)
    )


class PANet(nn.Module):
    """FPN, then a bottom-up path: stride-2 3x3 from N_i, add P_{i+1}, 3x3."""

    def __init__(self, in_channels: list[int], out_channels: int = 256) -> None:
        super().__init__()
        self.fpn = FPN(in_channels, out_channels)
        self.in_channels = self.fpn.in_channels
        n = len(in_channels) - 1
        self.downsample = nn.ModuleList(
            conv_relu(out_channels, out_channels, 2) for _ in range(n)
        )
        self.fuse = nn.ModuleList(
            conv_relu(out_channels, out_channels) for _ in range(n)
        )

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        p = self.fpn(feats)
        outs = [p[0]]
        for i in range(len(p) - 1):
            down = self.downsample[i](outs[-1])
            if down.shape[-2:] != p[i + 1].shape[-2:]:
                raise ValueError(
                    f"PANet: level {i + 1} is {tuple(p[i + 1].shape[-2:])}, the "
                    f"stride-2 path gives {tuple(down.shape[-2:])}"
                )
            outs.append(self.fuse[i](down + p[i + 1]))
        return outs
