"""One look for every figure in the book: readable on a phone, labelled axes, no chart
junk."""

import matplotlib.pyplot as plt
from matplotlib.container import BarContainer

COLORS = ["#1f5fa8", "#d1495b", "#2e8b57", "#e3a008", "#6a4c93", "#555555"]


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
