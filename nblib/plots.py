"""One look for every figure in the book: readable on a phone, labelled axes, no chart
junk; each family of models in the same colour and marker in every figure, and the
figures of the zoo's costs and timings (nblib.analysis) and of the roofline
(nblib.roofline)."""

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.container import BarContainer

from nblib.analysis import latency_vs_macs, latest, parity_table, row_intensity
from nblib.models import REGISTRY
from nblib.roofline import attainable_tflops, device_roof

COLORS = ["#1f5fa8", "#d1495b", "#2e8b57", "#e3a008", "#6a4c93", "#555555"]
# The order families take colours and markers in every figure: kept fixed so figures
# keep their colours; a family not listed follows, in registry order.
FAMILY_ORDER = (
    "VGG",
    "ResNeXt",
    "ResNeSt",
    "Res2Net",
    "ResNet",
    "DenseNet",
    "Inception",
    "ViT",
    "MobileNet",
    "ShuffleNet",
    "Darknet/CSP",
    "VoVNet",
    "RegNet",
)
MARKERS = "osD^v"


def apply_style() -> None:
    """Set the book's matplotlib defaults (call once, in a chapter's setup cell)."""
    plt.rcParams.update(
        {
            "figure.figsize": (6.4, 3.6),
            "figure.dpi": 110,
            "savefig.bbox": "tight",
            "font.size": 10,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "legend.fontsize": 9,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.prop_cycle": plt.cycler(color=COLORS),
            "lines.linewidth": 1.8,
        }
    )


def bar_labels(ax: plt.Axes, fmt: str = "{:.3g}") -> None:
    """Write each bar's value above it, so the reader need not read the axis."""
    for container in ax.containers:
        if not isinstance(container, BarContainer):  # error bars, stems
            continue
        ax.bar_label(
            container,
            fmt=fmt,
            padding=2,
            fontsize=8,
        )


def family_style(families: Sequence[str]) -> dict[str, dict]:
    """A colour and marker per family, the same in every figure of the book."""
    order = [*dict.fromkeys([*FAMILY_ORDER, *(r.family for r in REGISTRY)]), "other"]
    return {
        f: {"color": COLORS[i % len(COLORS)], "marker": MARKERS[i // len(COLORS)]}
        for i, f in enumerate(order)
        if f in set(families)
    }


def scatter_models(
    ax: plt.Axes,
    table: pd.DataFrame,
    x: str,
    y: str,
    label: Sequence[str] | Mapping[str, tuple[int, int]] | None = None,
) -> plt.Axes:
    """Log-log scatter of models coloured by family, with the models in `label` (all if
    None; a mapping gives each name's offset in points) named in a small font."""
    style = family_style(table.family)
    for name, group in table.groupby("family"):
        ax.scatter(group[x], group[y], s=22, label=name, **style[name])
    label = table.model if label is None else label
    offsets = label if isinstance(label, Mapping) else dict.fromkeys(label, (3, 3))
    for _, row in table[table.model.isin(list(offsets))].iterrows():
        ax.annotate(
            row.model,
            (row[x], row[y]),
            xytext=offsets[row.model],
            textcoords="offset points",
            fontsize=7,
        )
    ax.set(xscale="log", yscale="log")
    return ax


def plot_roof(
    ax: plt.Axes,
    peak_tflops: float,
    bandwidth_gbs: float,
    label: str,
    span: tuple[float, float] = (0.1, 1e4),
    **style,
) -> plt.Axes:
    """Draw one roofline, attainable TFLOP/s against FLOP/byte, on log-log axes."""
    grid = np.logspace(np.log10(span[0]), np.log10(span[1]), 200)
    ax.plot(
        grid, attainable_tflops(grid, peak_tflops, bandwidth_gbs), label=label, **style
    )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="arithmetic intensity (FLOP/byte)",
        ylabel="attainable TFLOP/s",
    )
    return ax


def _one_device(rows: pd.DataFrame) -> str:
    names = rows.device_name.unique()
    if len(names) != 1:
        raise ValueError(f"rows must come from one device, got {list(names)}")
    return names[0]


def plot_speed(
    rows: pd.DataFrame,
    dtype: str = "bf16",
    memory_format: str = "channels_last",
    label: Sequence[str] | None = None,
) -> plt.Figure:
    """Latency at batch 1 and throughput at the largest recorded batch against MACs,
    log-log, for our eager rows of one device."""
    device = _one_device(rows)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
    for ax, batch, y, unit in (
        (left, 1, "median_ms", "latency (ms)"),
        (right, int(rows.batch.max()), "images_per_s", "throughput (images/s)"),
    ):
        scatter_models(
            ax, latency_vs_macs(rows, batch, dtype, memory_format), "macs", y, label
        )
        ax.set(xlabel="MACs per image", ylabel=unit, title=f"batch {batch}")
    right.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle(f"{device}, {dtype}, {memory_format}, eager", fontsize=10)
    return fig


def plot_achieved(
    rows: pd.DataFrame,
    traffic: pd.DataFrame,
    dtype: str = "bf16",
    memory_format: str = "channels_last",
) -> plt.Figure:
    """Achieved TFLOP/s of our eager rows of one device against their arithmetic
    intensity, one marker per batch, under the device's datasheet roofline."""
    device = _one_device(rows)
    keep = (
        (rows.implementation == "nblib")
        & (rows.dtype == dtype)
        & (rows.memory_format == memory_format)
        & ~rows.compiled.astype(bool)
    )
    ours = latest(rows[keep])
    ours = ours.assign(intensity=row_intensity(ours, traffic)).dropna(
        subset=["intensity"]
    )
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    try:
        roof = device_roof(device, "tf32" if dtype == "fp32" else dtype)
        plot_roof(
            ax,
            roof["peak_tflops"],
            roof["bandwidth_gbs"],
            "datasheet roofline",
            color=COLORS[-1],
        )
    except ValueError:  # a device data/devices.csv does not list: points only
        ax.set(xscale="log", yscale="log", xlabel="arithmetic intensity (FLOP/byte)")
    for i, (batch, group) in enumerate(ours.groupby("batch")):
        ax.scatter(
            group.intensity,
            group.tflops,
            s=18,
            color=COLORS[i],
            marker=MARKERS[i % len(MARKERS)],
            label=f"batch {batch}",
        )
    ax.set(ylabel="TFLOP/s", title=f"{device}, {dtype}, achieved")
    ax.legend(fontsize=7)
    return fig


def plot_parity(rows: pd.DataFrame, threshold: float = 0.95) -> plt.Figure:
    """Our speed over the reference's per model (one marker per configuration), with
    the parity threshold drawn."""
    table = parity_table(rows, threshold)
    models = sorted(table.model.unique())
    fig, ax = plt.subplots(figsize=(6.4, 0.9 + 0.16 * len(models)))
    ax.scatter(
        table.parity,
        table.model.map({m: i for i, m in enumerate(models)}),
        s=10,
        color=COLORS[0],
    )
    ax.axvline(threshold, color=COLORS[1], ls="--", label=f"{threshold:g}")
    ax.set_yticks(range(len(models)), models, fontsize=6)
    ax.set(
        xlabel="our speed / reference speed", title="speed parity, all configurations"
    )
    ax.legend(fontsize=7)
    return fig
