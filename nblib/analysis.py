"""The zoo as tables: each registry model's family, its costs counted on the meta
device, rank statistics, and what the timings `python -m nblib.bench` records say.

Costs come from nblib.measure (shapes only, no arithmetic); recorded rows are in the
benchmark's schema (nblib.bench.COLUMNS, read by nblib.datafiles.load_timings). The
roofline they are placed on is nblib.roofline; their figures are in nblib.plots.
"""

from collections.abc import Mapping, Sequence
from itertools import combinations

import pandas as pd
import torch
from torch import nn

from nblib.measure import count_params, op_costs
from nblib.models import REGISTRY, build
from nblib.roofline import BYTES_PER_ELEMENT

# Registry name -> family, from the registry's records; a name a registry name
# prefixes (a neck model: "resnet50_fpn") takes that model's family. Longest first, so
# the first match is the most specific.
FAMILIES = sorted(
    ((r.name, r.family) for r in REGISTRY), key=lambda pair: -len(pair[0])
)
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


# --- recorded timings (rows in the schema of nblib.bench.COLUMNS) -------------------


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
