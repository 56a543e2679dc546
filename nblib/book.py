"""What every chapter does first, and the cells chapters share: one import gives a
chapter its set-up (`from nblib.book import setup, on_meta, live_timings`) and the
random weights it compares a model with its reference under (`randomised`)."""

import sys
from collections.abc import Callable, Sequence
from functools import cache

import numpy as np
import pandas as pd
import torch
from torch import nn

from nblib import measure, plots, timing
from nblib.models import build

GPU_HINT = (
    "no GPU attached: timings run on the CPU, at a reduced image size. In Colab, "
    "Runtime > Change runtime type > GPU, then run the chapter again."
)
# In Colab the hint is an instruction: switching the runtime restarts it, which loses
# the installed nblib, so the chapter must run again from its first cell.
COLAB_GPU_HINT = (
    "no GPU runtime attached: timings run on the CPU, at a reduced image size. To "
    "switch one on: Runtime > Change runtime type > GPU (T4 on the free tier) > Save, "
    "then Runtime > Run all (the new runtime installs nblib again)."
)


def on_colab() -> bool:
    """Whether this kernel is Colab's (it imports google.colab before any cell)."""
    return "google.colab" in sys.modules


def setup(seed: int = 0) -> str:
    """Seed torch, set pandas' precision and the book's figure style; return one line
    saying which device the chapter's timings will use, and, without a GPU, how to get
    one (in Colab's words when running in Colab)."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    torch.manual_seed(seed)
    pd.set_option("display.precision", 3)
    plots.apply_style()
    device = timing.best_device()
    if device.type == "cuda":
        return f"GPU: {timing.device_name(device)}"
    return f"{timing.device_name(device)}: {COLAB_GPU_HINT if on_colab() else GPU_HINT}"


def on_meta(builder: str | Callable[..., nn.Module], *args, **kwargs) -> nn.Module:
    """Build a model on the meta device (shapes, parameters and MACs, no storage):
    `builder` is a registry name or a function returning a module."""
    with torch.device("meta"):
        if isinstance(builder, str):
            return build(builder, *args, **kwargs)
        return builder(*args, **kwargs)


# Random values are read from one seeded draw, at a different offset per tensor:
# drawing VGG-16's 138 M values one by one takes ~0.7 s, copying them from the pool
# ~0.1 s. The length is prime, so no layer's rows line up with the pool's period.
POOL_LENGTH = 1_000_003
OFFSET_STEP = 104_729  # a prime too: consecutive tensors start far apart in the pool
BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


@cache
def _random_pool(seed: int) -> torch.Tensor:
    return torch.randn(POOL_LENGTH, generator=torch.Generator().manual_seed(seed))


def _pool_values(pool: torch.Tensor, offset: int, n: int) -> torch.Tensor:
    """`n` values of the pool from `offset` on, wrapping round (at most the pool)."""
    start, n = offset % POOL_LENGTH, min(n, POOL_LENGTH)
    if start + n <= POOL_LENGTH:
        return pool[start : start + n]
    return torch.cat([pool[start:], pool[: start + n - POOL_LENGTH]])


def randomise(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every parameter and batch-norm statistic of `model` seeded random values,
    in place, and return it. For comparing a model with its reference: an init's zeros
    and ones (zero biases, a zeroed head or last BN, statistics at 0 and 1) can hide a
    difference. Weights get He's scale sqrt(2 / fan-in), norm scales 1 + 0.1 r, biases
    and running means 0.01 r, running variances 1 + 0.1 |r|, so outputs stay finite
    and depend on the input. Any other buffer (one a constructor computes, such as an
    index table) is refused rather than overwritten."""
    pool = _random_pool(seed)
    tensors = [*model.named_parameters(), *model.named_buffers()]
    with torch.no_grad():
        for index, (name, tensor) in enumerate(tensors):
            statistic = name.rsplit(".", 1)[-1]
            if not isinstance(tensor, nn.Parameter) and statistic not in BN_BUFFERS:
                raise ValueError(f"randomise refuses {name!r}: not a BN statistic")
            if statistic == "num_batches_tracked":
                tensor.zero_()
                continue
            r = _pool_values(pool, index * OFFSET_STEP, tensor.numel())
            if tensor.dim() > 1:  # weights, embeddings: fan-in over the first dim
                source = r * (2 * tensor.shape[0] / tensor.numel()) ** 0.5
            elif statistic == "running_var":
                source = 1 + 0.1 * r.abs()
            elif statistic == "weight":
                source = 1 + 0.1 * r  # a norm layer's scale
            else:  # biases, running means, 1-d parameters of other names
                source = 0.01 * r
            flat = tensor.view(-1)
            for first in range(0, flat.numel(), POOL_LENGTH):  # a larger tensor repeats
                chunk = flat[first : first + POOL_LENGTH]
                chunk.copy_(source[: chunk.numel()])
    return model


def randomised(
    builder: str | Callable[..., nn.Module], *args, seed: int = 0, **kwargs
) -> nn.Module:
    """`builder` (a registry name or a function returning a module) built without
    running its initialisation (on the meta device), then given random values on the
    CPU by `randomise`: a reference to compare with in a fraction of its init time."""
    return randomise(on_meta(builder, *args, **kwargs).to_empty(device="cpu"), seed)


def live_timings(
    names: Sequence[str],
    gpu_size: int = 224,
    cpu_size: int = 112,
    min_run_time: float = 0.3,
) -> tuple[str, pd.DataFrame]:
    """Time registry models at batch 1 on the best device, beside their counted MACs:
    (a line naming the device, threads and size; a table of GMACs, median ms and
    GMAC/s). On a CPU the image shrinks to `cpu_size` so that CI stays fast, and the
    line says so.
    """
    if isinstance(names, str) or not names:
        raise ValueError(
            f"names must be a non-empty list of model names, got {names!r}"
        )
    device = timing.best_device()
    size = gpu_size if device.type == "cuda" else cpu_size
    line = (
        f"{timing.device_name(device)}, {torch.get_num_threads()} thread(s), batch 1, "
        f"{size}x{size}" + ("" if size == gpu_size else f" (not {gpu_size})")
    )
    rows = []
    for name in names:
        image = (1, 3, size, size)
        ms = timing.time_model(
            build(name), image, name=name, min_run_time=min_run_time
        ).median_ms
        gmacs = measure.count_macs(on_meta(name), image) / 1e9
        rows.append(
            {
                "model": name,
                "GMACs": gmacs,
                "median ms": ms,
                "GMACs per s": 1e3 * gmacs / ms,
            }
        )
    return line, pd.DataFrame(rows).round(2)


def glue(name: str, value, display: bool = False) -> None:
    """myst-nb's glue for a number the prose quotes (`{glue:text}`name:.1f``), with
    NumPy scalars turned into Python numbers first: myst-nb formats a glued value from
    its text, and NumPy 2 writes `np.float64(3.86)`, which it cannot read. Without
    myst-nb (Colab does not have it) there is no page to glue into: the value is only
    shown, if asked."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        if display:
            from IPython.display import display as show

            show(value)
        return

    if isinstance(value, np.generic):
        value = value.item()
    myst_glue(name, value, display=display)
