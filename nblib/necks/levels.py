"""A neck seen as a one-input model, for the tools that take one input shape
(`measure.count_macs`, `measure.layer_table`, `timing.time_model`, `paths`)."""

from collections.abc import Sequence

import torch
from torch import nn


class LevelsAsInput(nn.Module):
    """Level 0 is the input; level i is zeros with `channels[i]` channels at 1/2**i
    of its size (new_zeros costs no MACs and carries no dataflow)."""

    def __init__(self, neck: nn.Module, channels: Sequence[int]) -> None:
        super().__init__()
        self.neck, self.channels = neck, list(channels)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        b, _, h, w = x.shape
        rest = [
            x.new_zeros(b, c, h >> i, w >> i)
            for i, c in enumerate(self.channels)
            if i > 0
        ]
        return self.neck([x, *rest])
