"""Receptive fields: the theoretical one by layer arithmetic, the effective one from
gradients.

Theory (e.g. Araujo et al., Distill 2019): a layer with kernel k, stride s, dilation d
turns the receptive field r and the jump j (input pixels between neighbouring outputs)
into r + (d(k-1)+1 - 1) * j and j * s.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from nblib.measure import check_input_shape, run_forward

_SPATIAL = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


def _first(value: int | Sequence[int]) -> int:
    return value if isinstance(value, int) else value[0]


@dataclass(frozen=True)
class RFStep:
    """Receptive field after one spatial layer: size and jump in input pixels."""

    layer: str
    kernel: int
    stride: int
    dilation: int
    size: int
    jump: int


def theoretical_receptive_field(model: nn.Module) -> list[RFStep]:
    """Walk the convolutions and pools of a sequential model in order; return the field
    after each.

    Valid for chains (nn.Sequential of layers, possibly nested); branches and shortcuts
    need the effective receptive field below. Square kernels assumed (the height is
    used).
    """
    size, jump, steps = 1, 1, []
    for name, layer in model.named_modules():
        if not isinstance(layer, _SPATIAL):
            continue
        kernel, stride = _first(layer.kernel_size), _first(layer.stride)
        dilation = _first(getattr(layer, "dilation", 1))
        size += dilation * (kernel - 1) * jump
        jump *= stride
        steps.append(RFStep(name, kernel, stride, dilation, size, jump))
    if not steps:
        raise ValueError(
            "model has no Conv2d or pooling layer: its receptive field is one pixel"
        )
    return steps


def effective_receptive_field(
    model: nn.Module, input_shape: Sequence[int], seed: int = 0
) -> torch.Tensor:
    """Mean |d output_centre / d input| over a batch of random inputs (Luo et al.,
    NeurIPS 2016).

    The output's centre position, summed over channels, is back-propagated to the input;
    the result, averaged over batch and input channels, is an (H, W) map normalised to
    max 1.
    """
    shape = check_input_shape(input_shape)
    if len(shape) != 4:
        raise ValueError(
            f"input_shape must be (batch, channels, height, width), got {shape}"
        )
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=generator).requires_grad_(True)
    was_training = model.training
    model.eval()
    try:
        out = run_forward(model, x)
    finally:
        model.train(was_training)
    h, w = out.shape[-2] // 2, out.shape[-1] // 2
    out[..., h, w].sum().backward()
    erf = x.grad.abs().mean(dim=(0, 1))
    return erf / erf.max()


def gradient_support(erf: torch.Tensor, threshold: float = 0.0) -> tuple[int, int]:
    """Height and width of the box of input pixels whose gradient exceeds `threshold`."""
    rows = torch.nonzero(erf.amax(dim=1) > threshold)
    cols = torch.nonzero(erf.amax(dim=0) > threshold)
    if len(rows) == 0:
        return 0, 0
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
