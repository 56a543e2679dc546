"""Receptive fields: the theoretical one by layer arithmetic, the effective one from
gradients.

Theory (e.g. Araujo et al., Distill 2019): a layer with kernel k, stride s, dilation d
and padding p turns the receptive field r, the jump j (input pixels between
neighbouring outputs) and the start (centre of output pixel 0, in input coordinates)
into r + (d(k-1)+1 - 1) j, j s and start + ((d(k-1)+1 - 1)/2 - p) j. Output pixel i
is centred on start + i j and sees the r input pixels around that centre.
"""

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from nblib.measure import check_input_shape, run_forward

_SPATIAL = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


def _pick(value: int | Sequence[int], axis: int) -> int:
    return value if isinstance(value, int) else value[axis]


def _padding(layer: nn.Conv2d | nn.MaxPool2d | nn.AvgPool2d, axis: int) -> int:
    """Padding before the first pixel; 'same' puts any odd extra pixel at the end."""
    padding = layer.padding
    if padding == "same" and isinstance(layer, nn.Conv2d):
        dilation = _pick(layer.dilation, axis)
        return dilation * (_pick(layer.kernel_size, axis) - 1) // 2
    return 0 if isinstance(padding, str) else _pick(padding, axis)  # str: "valid"


@dataclass(frozen=True)
class RFStep:
    """Receptive field after one spatial layer: size and jump in input pixels, and
    where the centre of output pixel 0 lies in input coordinates."""

    layer: str
    kernel: int
    stride: int
    dilation: int
    size: int
    jump: int
    padding: int
    start: float


def theoretical_receptive_field(
    model: nn.Module, axis: int = 0, skip: Sequence[str] = ()
) -> list[RFStep]:
    """Walk the convolutions and pools of a sequential model in order; return the field
    after each, along `axis` (0: height, 1: width).

    Valid for chains (nn.Sequential of layers, possibly nested). For a network with
    shortcuts, `skip` names the modules off the longest path (e.g. "downsample" in a
    ResNet): any layer with such a component in its dotted name is left out.
    """
    skip = (skip,) if isinstance(skip, str) else tuple(skip)
    if axis not in (0, 1):
        raise ValueError(f"axis must be 0 (height) or 1 (width), got {axis!r}")
    parts = {part for name, _ in model.named_modules() for part in name.split(".")}
    unknown = [n for n in skip if not isinstance(n, str) or n not in parts]
    if unknown:
        raise ValueError(
            f"skip names {unknown}, which name no module of {type(model).__name__} "
            "(skip takes a module name such as 'downsample')"
        )
    size, jump, start, steps = 1, 1, 0.0, []
    for name, layer in model.named_modules():
        if not isinstance(layer, _SPATIAL) or set(name.split(".")) & set(skip):
            continue
        kernel, stride = _pick(layer.kernel_size, axis), _pick(layer.stride, axis)
        dilation = _pick(getattr(layer, "dilation", 1), axis)
        padding = _padding(layer, axis)
        span = dilation * (kernel - 1)  # extent of the dilated kernel, minus one
        size += span * jump
        start += (span / 2 - padding) * jump
        jump *= stride
        steps.append(RFStep(name, kernel, stride, dilation, size, jump, padding, start))
    if not steps:
        raise ValueError(
            "model has no Conv2d or pooling layer: its receptive field is one pixel"
        )
    return steps


@dataclass(frozen=True)
class Box:
    """Input pixels one output position sees: rows top..bottom and columns
    left..right, inclusive, clipped to the image."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top + 1

    @property
    def width(self) -> int:
        return self.right - self.left + 1


def _check_pair(name: str, value: Sequence[int], minimum: int) -> None:
    if not (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, int) and v >= minimum for v in value)
    ):
        raise ValueError(f"{name} must be two ints >= {minimum}, got {value!r}")


def receptive_field_box(
    model: nn.Module,
    position: tuple[int, int],
    image_size: tuple[int, int],
    skip: Sequence[str] = (),
) -> Box:
    """The box of input pixels that output position (i, j) of a sequential model sees,
    by layer arithmetic, clipped to an image of `image_size` (height, width)."""
    _check_pair("position", position, minimum=0)
    _check_pair("image_size", image_size, minimum=1)
    ends = []
    for axis, (index, n) in enumerate(zip(position, image_size, strict=True)):
        last = theoretical_receptive_field(model, axis, skip)[-1]
        centre, half = last.start + index * last.jump, (last.size - 1) / 2
        ends.append((max(0, int(centre - half)), min(n - 1, int(centre + half))))
    (top, bottom), (left, right) = ends
    if top > bottom or left > right:
        raise ValueError(
            f"position {position} sees no pixel of a {image_size} image: it lies "
            "outside the output"
        )
    return Box(top, left, bottom, right)


def _input_gradient(
    model: nn.Module,
    input_shape: Sequence[int],
    seed: int,
    position: tuple[int, int] | None,
) -> torch.Tensor:
    """Sum over the batch of |d output[position] / d input|, averaged over input
    channels: an (H, W) map, not normalised."""
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
    centre = (out.shape[-2] // 2, out.shape[-1] // 2)
    h, w = position if position is not None else centre
    if not (0 <= h < out.shape[-2] and 0 <= w < out.shape[-1]):
        raise ValueError(
            f"position {position} is outside the output map {tuple(out.shape[-2:])}"
        )
    # samples are independent in eval mode; the parameters' .grad is left alone
    (grad,) = torch.autograd.grad(out[..., h, w].sum(), x)
    return grad.abs().mean(dim=1).sum(dim=0)


def effective_receptive_field(
    model: nn.Module,
    input_shape: Sequence[int],
    seed: int = 0,
    position: tuple[int, int] | None = None,
) -> torch.Tensor:
    """Mean |d output / d input| over a batch of random inputs (Luo et al., NeurIPS
    2016), for output `position` (default: the centre), summed over channels.

    The result, averaged over batch and input channels, is an (H, W) map normalised to
    max 1.
    """
    erf = _input_gradient(model, input_shape, seed, position)
    return erf / erf.max()


def averaged_effective_receptive_field(
    builder: Callable[[], nn.Module],
    input_shape: Sequence[int],
    seeds: Iterable[int] = range(4),
    position: tuple[int, int] | None = None,
) -> torch.Tensor:
    """The effective receptive field averaged over random weights as well as inputs:
    for each seed, a model from `builder()` initialised under that seed and inputs
    drawn from it; the gradient maps are averaged, then normalised to max 1."""
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must name at least one seed, got none")
    total = torch.zeros(())
    for seed in seeds:
        with torch.random.fork_rng(devices=[]):  # the caller's random state is kept
            torch.manual_seed(seed)
            model = builder()
        grad = _input_gradient(model, input_shape, seed, position)
        total = total + grad
    return total / total.max()


def support_box(erf: torch.Tensor, threshold: float = 0.0) -> Box:
    """The box of input pixels whose gradient exceeds `threshold`, as a Box (to compare
    with receptive_field_box)."""
    rows = torch.nonzero(erf.amax(dim=1) > threshold)
    cols = torch.nonzero(erf.amax(dim=0) > threshold)
    if len(rows) == 0:
        raise ValueError(f"no gradient exceeds threshold {threshold}")
    return Box(int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max()))


def gradient_support(erf: torch.Tensor, threshold: float = 0.0) -> tuple[int, int]:
    """Height and width of the box of input pixels whose gradient exceeds
    `threshold`."""
    if not (erf > threshold).any():
        return 0, 0
    box = support_box(erf, threshold)
    return box.height, box.width


def holes(erf: torch.Tensor) -> int:
    """Pixels inside the support box that get no gradient at all: the holes that
    stacked dilations of one rate leave (gridding)."""
    box = support_box(erf)
    return int((erf[box.top : box.bottom + 1, box.left : box.right + 1] == 0).sum())


def mass_square(
    erf: torch.Tensor, fraction: float = 0.95, centre: tuple[int, int] | None = None
) -> int:
    """Side of the smallest square around `centre` (default: the map's centre of mass)
    that holds `fraction` of the summed gradient: the size of the effective field."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    h, w = erf.shape
    weights = erf.double() / erf.sum()
    if centre is None:
        centre = (
            round(float((weights.sum(1) * torch.arange(h)).sum())),
            round(float((weights.sum(0) * torch.arange(w)).sum())),
        )
    cy, cx = centre
    for half in range(max(h, w)):
        rows = slice(max(0, cy - half), cy + half + 1)
        window = weights[rows, max(0, cx - half) : cx + half + 1]
        if window.sum() >= fraction - 1e-12:
            return 2 * half + 1
    return 2 * max(h, w) - 1


def gradient_std(erf: torch.Tensor) -> float:
    """Standard deviation, in pixels, of the gradient map seen as a distribution over
    rows (Luo et al.: it grows as the square root of the depth)."""
    rows = (erf.double() / erf.sum()).sum(dim=1)
    index = torch.arange(len(rows), dtype=torch.float64)
    mean = (rows * index).sum()
    return math.sqrt(float((rows * (index - mean) ** 2).sum()))
