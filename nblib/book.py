"""What every chapter does first, and the cells chapters share: one import gives a
chapter its set-up (`from nblib.book import setup, on_meta, live_timings`)."""

import sys
from collections.abc import Callable, Sequence

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


def on_meta(builder: str | Callable[..., nn.Module], **kwargs) -> nn.Module:
    """Build a model on the meta device (shapes, parameters and MACs, no storage):
    `builder` is a registry name or a function returning a module."""
    with torch.device("meta"):
        return (
            build(builder, **kwargs) if isinstance(builder, str) else builder(**kwargs)
        )


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
