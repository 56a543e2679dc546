"""One look for every figure in the book: readable on a phone, labelled axes, no chart
junk; each family of models in the same colour and marker in every figure, and the
figures of the zoo's costs and timings (nblib.analysis) and of the roofline
(nblib.roofline)."""

import io
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.collections import PathCollection
from matplotlib.container import BarContainer
from matplotlib.figure import Figure

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


@dataclass(frozen=True)
class InlineFigure:
    """What a notebook displays: the HTML (inline SVG or a table), and a one-line text
    for strict nbval and screen readers."""

    html: str
    text: str

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text


SVG_NS, XLINK_NS = "http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"


def _prefix_ids(root: ET.Element, prefix: str) -> None:
    """Prefix every id of a matplotlib SVG (and every reference to one), so two
    figures inline in one page cannot share an id."""
    href = f"{{{XLINK_NS}}}href"
    for el in root.iter():
        if "id" in el.attrib:
            el.set("id", f"{prefix}-{el.get('id')}")
        target = el.get(href, "")
        if target.startswith("#"):
            el.set(href, f"#{prefix}-{target[1:]}")
        for name in ("clip-path", "style", "mask"):
            if "url(#" in el.get(name, ""):
                el.set(name, el.get(name, "").replace("url(#", f"url(#{prefix}-"))


def linked_points(
    fig: Figure,
    x: Sequence[float],
    y: Sequence[float],
    titles: Sequence[str],
    hrefs: Sequence[str],
    anchor: str,
    alt: str,
) -> InlineFigure:
    """`fig` as inline SVG in which the scatter point at (x[k], y[k]) (data
    coordinates) carries titles[k] as its tooltip and links to hrefs[k], a row of a key
    table (`key_table`): every point can be named, offline, without a script. Closes
    `fig`; a wide figure scrolls sideways on a phone rather than shrink below 3/4."""
    if not len(x) == len(y) == len(titles) == len(hrefs) > 0:
        raise ValueError(
            f"x, y, titles and hrefs must have one equal, non-zero length, got "
            f"{len(x)}, {len(y)}, {len(titles)}, {len(hrefs)}"
        )
    if not anchor.isidentifier():
        raise ValueError(f"anchor must be an identifier, got {anchor!r}")
    wanted = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
    order: dict[str, list[int]] = {}  # gid -> row of each point, in drawing order
    for ax in fig.axes:
        for collection in ax.collections:
            if not isinstance(collection, PathCollection):
                continue
            rows = []
            for point in np.asarray(collection.get_offsets(), float):
                match = np.flatnonzero(np.isclose(wanted, point, rtol=1e-9).all(axis=1))
                if len(match) != 1:
                    raise ValueError(
                        f"the point {tuple(point)} matches {len(match)} of x, y"
                    )
                rows.append(int(match[0]))
            gid = f"points{len(order)}"
            collection.set_gid(gid)
            order[gid] = rows
    drawn = sorted(k for rows in order.values() for k in rows)
    if drawn != list(range(len(titles))):
        raise ValueError(f"fig draws {len(drawn)} of the {len(titles)} points")
    buffer = io.StringIO()
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": anchor}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    ET.register_namespace("", SVG_NS)
    ET.register_namespace("xlink", XLINK_NS)
    root = ET.fromstring(buffer.getvalue())
    for metadata in root.findall(f"{{{SVG_NS}}}metadata"):  # RDF licence boilerplate
        root.remove(metadata)
    for group in root.iter(f"{{{SVG_NS}}}g"):
        drawn_rows = order.get(group.get("id", ""))
        if drawn_rows is None:
            continue
        marks = list(group.iter(f"{{{SVG_NS}}}use"))
        if len(marks) != len(drawn_rows):
            raise ValueError(f"matplotlib wrote {len(marks)} marks, not one per point")
        parents = {c: p for p in group.iter() for c in p}
        for mark, k in zip(marks, drawn_rows, strict=True):
            link = ET.Element(f"{{{SVG_NS}}}a", {"href": hrefs[k]})
            ET.SubElement(link, f"{{{SVG_NS}}}title").text = titles[k]
            parent = parents[mark]
            parent.insert(list(parent).index(mark), link)
            parent.remove(mark)
            link.append(mark)
    _prefix_ids(root, anchor)
    # Labels and guide lines drawn over a point must not take the pointer from it.
    style = ET.Element(f"{{{SVG_NS}}}style")
    style.text = (
        "svg.bx-figure *{pointer-events:none}svg.bx-figure a *{pointer-events:all}"
    )
    root.insert(0, style)
    width = float(root.get("width", "0").removesuffix("pt")) * 4 / 3  # pt -> CSS px
    least = min(width, max(360, 0.75 * width))
    for name in ("width", "height"):
        root.attrib.pop(name, None)
    root.set("class", "bx-figure")
    root.set("role", "img")
    root.set("aria-label", alt)
    root.set("style", f"width:100%;max-width:{width:.0f}px;min-width:{least:.0f}px")
    svg = ET.tostring(root, encoding="unicode")
    return InlineFigure(
        f'<div class="bx-figure-wrap" style="overflow-x:auto">{svg}</div>',
        f"Figure: {alt} ({len(titles)} points, each named by a tooltip and a link "
        f"to its row)",
    )


def key_table(table: pd.DataFrame, anchor: str) -> InlineFigure:
    """`table` as HTML whose row for index value i has the id `{anchor}-{i}`: the
    target of `linked_points`' links."""
    if not anchor.isidentifier():
        raise ValueError(f"anchor must be an identifier, got {anchor!r}")
    html = table.to_html()
    head, _, body = html.partition("<tbody>")
    rows = body.split("<tr>")
    if len(rows) - 1 != len(table):
        raise ValueError("table must have one index level and plain cells")
    ids = [f'<tr id="{anchor}-{escape(str(i))}">' for i in table.index]
    body = rows[0] + "".join(i + r for i, r in zip(ids, rows[1:], strict=True))
    return InlineFigure(head + "<tbody>" + body, repr(table))


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
