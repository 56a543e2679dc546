"""Argument checks shared by the blocks and the tools: a ValueError that names the
argument and the value, at the public edge, instead of a shape error deep inside torch
(or a NaN that makes a timing loop run forever)."""

import math

import torch


def check_positive(**values: int | None) -> None:
    """Every named value must be a positive int (None means "not used" and passes)."""
    for name, value in values.items():
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value <= 0
        ):
            raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_finite_positive(**values: float) -> None:
    """Every named value must be a finite number > 0 (seconds, a threshold)."""
    for name, value in values.items():
        if (
            not isinstance(value, (int, float))
            or isinstance(value, bool)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def check_odd_kernel(name: str, kernel: int) -> None:
    """A stride-1 'same' window needs a centre pixel: odd sizes only."""
    if not isinstance(kernel, int) or kernel <= 0 or kernel % 2 == 0:
        raise ValueError(
            f"{name} must be an odd positive int ('same' padding needs a centre), "
            f"got {kernel!r}"
        )


def check_input(x: torch.Tensor, channels: int | None) -> None:
    """The input must be (B, channels, H, W); channels None accepts any width."""
    if x.dim() != 4 or (channels is not None and x.shape[1] != channels):
        expected = f"(B, {channels}, H, W)" if channels else "(B, C, H, W)"
        raise ValueError(f"input must be {expected}, got {tuple(x.shape)}")
