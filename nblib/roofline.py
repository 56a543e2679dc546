"""The roofline model (Williams et al., 2009) applied to the zoo, and the analysis of
recorded timings that tests it.

A kernel that does F FLOPs while moving Q bytes has arithmetic intensity I = F / Q; on a
device with peak P (FLOP/s) and memory bandwidth W (byte/s) it cannot run faster than
min(P, I * W). Below the ridge point P / W it is memory-bound. Costs are counted with
nblib.measure on the meta device (shapes only, no arithmetic); recorded timings are the
rows `python -m nblib.bench` writes (schema: nblib.bench.COLUMNS).
"""

from collections.abc import Mapping, Sequence
from itertools import combinations
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from nblib.datafiles import device_spec
from nblib.measure import count_params, op_costs
from nblib.models import (  # noqa: F401 (the chapter uses image_size from here)
    REGISTRY,
    build,
    image_size,
)
from nblib.plots import COLORS

BYTES_PER_ELEMENT = {"fp32": 4, "tf32": 4, "bf16": 2, "fp16": 2}
# Registry name -> family, from the registry's records; a name a registry name
# prefixes (a neck model: "resnet50_fpn") takes that model's family. Longest first, so
# the first match is the most specific.
FAMILIES = sorted(
    ((r.name, r.family) for r in REGISTRY), key=lambda pair: -len(pair[0])
)
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
# A configuration of the benchmark: one timing per model and implementation.
CONFIG = ["device_name", "dtype", "memory_format", "compiled", "batch"]


def family(name: str) -> str:
    """The architecture family of a registry name ("resnet50d" -> "ResNet")."""
    return next((f for prefix, f in FAMILIES if name.startswith(prefix)), "other")


def zoo_costs(
    names: Sequence[str], sizes: Mapping[str, int], batch: int = 1
) -> pd.DataFrame:
    """Params, MACs, memory access (elements), activation bytes and operator count of
    each registry model at its image size, counted on the meta device (no storage)."""
    if batch <= 0:
        raise ValueError(f"batch must be positive, got {batch}")
    missing = [n for n in names if n not in sizes]
    if missing:
        raise ValueError(f"sizes lacks an image size for {missing}")
    rows = []
    for name in names:
        with torch.device("meta"):
            model = build(name)
        ops = op_costs(model, (batch, 3, sizes[name], sizes[name]))
        rows.append(
            {
                "model": name,
                "family": family(name),
                "image_size": sizes[name],
                "batch": batch,
                "params": count_params(model),
                "macs": sum(o.macs for o in ops),
                "memory_access": sum(o.mac for o in ops),
                "activation_bytes": sum(o.allocated for o in ops),
                "operators": len(ops),
            }
        )
    return pd.DataFrame(rows)


def module_costs(
    modules: Mapping[str, tuple[nn.Module, Sequence[int]]],
) -> pd.DataFrame:
    """MACs and memory access (elements) of single modules, each at its input shape."""
    rows = {}
    for name, (module, shape) in modules.items():
        ops = op_costs(module, shape)
        rows[name] = {
            "macs": sum(o.macs for o in ops),
            "memory_access": sum(o.mac for o in ops),
        }
    return pd.DataFrame(rows).T


def _bytes_per_element(dtype: str) -> int:
    if dtype not in BYTES_PER_ELEMENT:
        raise ValueError(
            f"dtype must be one of {sorted(BYTES_PER_ELEMENT)}, got {dtype!r}"
        )
    return BYTES_PER_ELEMENT[dtype]


def intensity(macs, elements, dtype: str):
    """Arithmetic intensity in FLOP per byte: 2 FLOPs per MAC over the bytes moved
    when every element is stored in `dtype`."""
    return 2 * macs / (_bytes_per_element(dtype) * elements)


def device_roof(name: str, dtype: str, path: Path | None = None) -> dict:
    """Datasheet peak (TFLOP/s), bandwidth (GB/s) and source of the device whose
    data/devices.csv pattern occurs in `name` (e.g. torch's device name)."""
    roof = device_spec(name, dtype, path)
    if roof is None:
        raise ValueError(
            f"no row of devices.csv matches name={name!r}, dtype={dtype!r}"
        )
    return roof


def _check_roof(peak_tflops: float, bandwidth_gbs: float) -> None:
    if not peak_tflops > 0 or not bandwidth_gbs > 0:
        raise ValueError(
            f"peak_tflops and bandwidth_gbs must be positive, got {peak_tflops} "
            f"and {bandwidth_gbs}"
        )


def ridge_point(peak_tflops: float, bandwidth_gbs: float) -> float:
    """The intensity (FLOP/byte) above which a kernel can be compute-bound."""
    _check_roof(peak_tflops, bandwidth_gbs)
    return peak_tflops * 1e12 / (bandwidth_gbs * 1e9)


def attainable_tflops(intensity, peak_tflops: float, bandwidth_gbs: float):
    """The roofline: min(peak, intensity x bandwidth), in TFLOP/s (scalar or array)."""
    _check_roof(peak_tflops, bandwidth_gbs)
    if np.any(np.asarray(intensity) < 0):
        raise ValueError("intensity must be non-negative")
    return np.minimum(peak_tflops, np.asarray(intensity) * bandwidth_gbs / 1e3)


def roofline_bound_us(
    macs, elements, dtype: str, peak_tflops: float, bandwidth_gbs: float
):
    """Lower bound on the time (µs) of work that does `macs` and moves `elements`:
    max(compute time at peak, transfer time at full bandwidth)."""
    _check_roof(peak_tflops, bandwidth_gbs)
    compute = 2 * macs / (peak_tflops * 1e12)
    transfer = _bytes_per_element(dtype) * elements / (bandwidth_gbs * 1e9)
    return 1e6 * np.maximum(compute, transfer)


def spearman(x: pd.Series, y: pd.Series) -> float:
    """Spearman's rank correlation: Pearson's on the ranks (ties share their mean rank),
    without scipy."""
    return float(x.rank().corr(y.rank()))


def model_pairs(table: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """Every pair of models, the one with more `x` first, with the ratios of `x` and
    of `y` (first over second): a ranking by `x` orders the pair wrongly by `y` where
    the `y` ratio is below 1."""
    rows = []
    for (_, a), (_, b) in combinations(table.iterrows(), 2):
        big, small = (a, b) if a[x] >= b[x] else (b, a)
        rows.append(
            {
                "first": big.model,
                "second": small.model,
                f"{x} ratio": big[x] / small[x],
                f"{y} ratio": big[y] / small[y],
            }
        )
    return pd.DataFrame(rows)


# --- recorded timings (rows in the schema of nblib.bench.COLUMNS) ---------------------


def latest(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per model, implementation and configuration: the last one recorded (the
    benchmark appends, so a re-run supersedes)."""
    return rows.drop_duplicates(["model", "implementation", *CONFIG], keep="last")


def latency_vs_macs(
    rows: pd.DataFrame,
    batch: int,
    dtype: str = "bf16",
    memory_format: str = "channels_last",
    compiled: bool = False,
) -> pd.DataFrame:
    """Our rows of one configuration: MACs, memory access, latency, throughput, achieved
    TFLOP/s, fraction of peak and CV, by MACs."""
    keep = (
        (rows.batch == batch)
        & (rows.dtype == dtype)
        & (rows.memory_format == memory_format)
        & (rows.compiled == compiled)
        & (rows.implementation == "nblib")
    )
    columns = [
        "model",
        "device_name",
        "macs",
        "memory_access",
        "median_ms",
        "images_per_s",
        "tflops",
        "peak_fraction",
        "cv",
    ]
    table = latest(rows[keep])[columns].sort_values("macs").reset_index(drop=True)
    return table.assign(family=table.model.map(family))


def rank_correlations(
    rows: pd.DataFrame, operators: Mapping[str, int] | None = None
) -> pd.DataFrame:
    """Per configuration of our rows: Spearman's correlation of latency with MACs, with
    memory access and (given a model -> count map) with the operator count."""
    ours = latest(rows[rows.implementation == "nblib"])
    out = []
    for config, group in ours.groupby(CONFIG):
        item = dict(zip(CONFIG, config, strict=True)) | {"models": len(group)}
        item["rho(MACs)"] = spearman(group.macs, group.median_ms)
        item["rho(memory access)"] = spearman(group.memory_access, group.median_ms)
        if operators is not None:
            counts = group.model.map(operators)
            item["rho(operators)"] = spearman(counts, group.median_ms)
        out.append(item)
    return pd.DataFrame(out)


def parity_table(rows: pd.DataFrame, threshold: float = 0.95) -> pd.DataFrame:
    """Our speed over the reference implementation's, per model and configuration
    (reference ms / our ms); at parity if at least `threshold`."""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    rows = latest(rows)
    keys = ["model", *CONFIG]
    ours = rows[rows.implementation == "nblib"][[*keys, "median_ms", "cv"]]
    theirs = rows[rows.implementation != "nblib"][
        [*keys, "implementation", "median_ms", "cv"]
    ]
    table = ours.merge(theirs, on=keys, suffixes=("_ours", "_reference"))
    table["parity"] = table.median_ms_reference / table.median_ms_ours
    table["at parity"] = table.parity >= threshold
    return table.reset_index(drop=True)


def eager_vs_compiled(rows: pd.DataFrame) -> pd.DataFrame:
    """torch.compile's speed-up per model and configuration: eager ms / compiled ms,
    for our rows that were timed both ways."""
    ours = latest(rows[rows.implementation == "nblib"])
    keys = ["model", *(c for c in CONFIG if c != "compiled")]
    compiled = ours[ours.compiled.astype(bool)][[*keys, "median_ms"]]
    eager = ours[~ours.compiled.astype(bool)][[*keys, "median_ms"]]
    table = eager.merge(compiled, on=keys, suffixes=("_eager", "_compiled"))
    table["speed-up"] = table.median_ms_eager / table.median_ms_compiled
    return table.reset_index(drop=True)


def row_intensity(rows: pd.DataFrame, traffic: pd.DataFrame) -> pd.Series:
    """FLOP per byte of each recorded row, with memory access counted at the row's own
    batch and image size (`traffic`: zoo_costs tables); NaN where none was counted."""
    key = ["model", "image_size", "batch"]
    counted = rows[key].merge(
        traffic[[*key, "memory_access"]].drop_duplicates(key), on=key, how="left"
    )
    per_element = rows.dtype.map(BYTES_PER_ELEMENT).to_numpy()
    flops = 2 * rows.macs.to_numpy() * rows.batch.to_numpy()
    return pd.Series(
        flops / (per_element * counted.memory_access.to_numpy()), index=rows.index
    )


# --- plots ----------------------------------------------------------------------------


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
