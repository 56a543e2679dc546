"""`python -m nblib.bench`: time the registry's models, ours and their torchvision/timm
references side by side, and append the results to data/timings/<device>.csv.

One CSV per machine (named after the device), one row per model x implementation x
batch x dtype x memory format x eager/compiled, each row carrying device, torch/CUDA
versions, date, params, MACs, memory access, achieved TFLOP/s, the fraction of the
device's peak (data/devices.csv) and the coefficient of variation over repeated runs.
On CPU the set is reduced. Backbone + neck pairs (nblib.necks.zoo) and ViTs run at
their own image size.
"""

import argparse
import csv
import re
import statistics
import sys
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import torch
from tqdm import tqdm

from nblib.measure import cost_summary
from nblib.models import (
    FIXED_SIZE,
    MODELS,
    build,
    build_reference,
    reference_source,
)
from nblib.models import image_size as own_image_size
from nblib.necks.zoo import NECK_MODELS
from nblib.reference import DATA_DIR
from nblib.timing import TimingRecord, best_device, device_name, time_model

COLUMNS = [f.name for f in fields(TimingRecord)] + [
    "implementation",
    "params",
    "macs",
    "memory_access",
    "cv",
    "tflops",
    "peak_tflops",
    "peak_fraction",
]
# Columns a recorded file may add: a named experiment's rows (experiment, variant), and
# for rows imported from another script, what median_ms holds and where it came from.
OPTIONAL_COLUMNS = ["experiment", "variant", "statistic", "source"]
CPU_MODELS = ["resnet18", "resnet50", "mobilenet_v2", "shufflenet_v2_x1_0"]
# The compiled stage of tools/gpu_bench.sh: one model per thesis of the synthesis
# chapter (each compile takes tens of seconds, so not the whole zoo in one device call).
COMPILED_MODELS = [
    "resnet50",
    "mobilenet_v2",
    "densenet121",
    "shufflenet_v2_x1_0",
    "vit_b_16",
]


def configurations(
    device_type: str, batch: int, compile: bool, eager: bool = True
) -> list[dict]:
    """What to time per model: on GPU batch 1 and `batch`, fp32 and bf16, contiguous
    and channels_last, eager (and compiled in bf16 channels_last when asked; `eager`
    False times the compiled ones only); on CPU batch 1, fp32, eager."""
    if device_type != "cuda":
        return [{"batch": 1, "dtype": "fp32", "channels_last": False, "compile": False}]
    eagerly = [
        {"batch": b, "dtype": d, "channels_last": cl, "compile": False}
        for b in (1, batch)
        for d in ("fp32", "bf16")
        for cl in (False, True)
    ]
    compiled = [
        {"batch": b, "dtype": "bf16", "channels_last": True, "compile": True}
        for b in (1, batch)
    ]
    return (eagerly if eager else []) + (compiled if compile else [])


def peak_tflops(name: str, dtype: str, path: Path | None = None) -> float | None:
    """The datasheet peak (dense) of the device called `name` for `dtype`, from
    data/devices.csv; fp32 convolutions count as TF32 where cuDNN allows it."""
    if dtype == "fp32" and torch.backends.cudnn.allow_tf32:
        dtype = "tf32"
    with open(path or DATA_DIR / "devices.csv") as f:
        for row in csv.DictReader(f):
            if row["device_pattern"] in name and row["dtype"] == dtype:
                return float(row["peak_tflops"])
    return None


def implementations(name: str, references: bool) -> list[tuple[str, Callable]]:
    """(label, builder) pairs to time for one registry name: ours, then the
    reference where one is installed. Their timings alternate, repeat by repeat."""
    if name in NECK_MODELS:
        return [("nblib", NECK_MODELS[name][0])]
    pairs = [("nblib", lambda: build(name))]
    if references and reference_source(name):
        pairs.append((reference_source(name), lambda: build_reference(name)))
    return pairs


def architecture_costs(model: torch.nn.Module, input_shape: tuple) -> dict[str, int]:
    """Params, MACs and memory access of one forward pass at `input_shape`."""
    summary = cost_summary(model, input_shape)
    return {k: summary[k] for k in ("params", "macs", "memory_access")}


def summarise(records: list[TimingRecord]) -> tuple[TimingRecord, float]:
    """The median-latency record of repeated timings and the coefficient of variation
    of their medians (how well repeated runs agree)."""
    medians = [r.median_ms for r in records]
    cv = statistics.stdev(medians) / statistics.mean(medians) if len(records) > 1 else 0
    return sorted(records, key=lambda r: r.median_ms)[len(records) // 2], cv


def time_alternately(
    built: dict[str, torch.nn.Module],
    name: str,
    size: int,
    configs: list[dict],
    repeats: int,
    min_run_time: float,
) -> list[tuple[str, dict, TimingRecord, float]]:
    """(implementation, config, median record, CV) for each config: the
    implementations timed in turn, repeat by repeat, so drift hits ours and theirs
    alike."""
    timings = []
    for config in configs:
        shape = (config["batch"], 3, size, size)
        records = {label: [] for label in built}
        for _ in range(repeats):
            for label, model in built.items():
                records[label].append(
                    time_model(
                        model,
                        shape,
                        name=name,
                        dtype=config["dtype"],
                        channels_last=config["channels_last"],
                        compile=config["compile"],
                        min_run_time=min_run_time,
                    )
                )
        timings += [(label, config, *summarise(r)) for label, r in records.items()]
    return timings


def benchmark_model(
    name: str,
    device: torch.device,
    batch: int,
    image_size: int | None,
    min_run_time: float,
    *,
    references: bool,
    compile: bool,
    eager: bool,
    repeats: int,
) -> list[dict]:
    """The CSV rows of one registry or neck model: every configuration, ours and the
    reference. Built on the device it runs on (initialising VGG's weights on a CPU takes
    longer than timing it on a GPU); costs counted afterwards on meta, shapes only."""
    if name in NECK_MODELS:
        size = NECK_MODELS[name][1]
    elif image_size is None or name in FIXED_SIZE:
        size = own_image_size(name)
    else:
        size = image_size
    pairs = implementations(name, references)
    with torch.device(device):
        built = {label: make() for label, make in pairs}
    configs = configurations(device.type, batch, compile, eager)
    timings = time_alternately(built, name, size, configs, repeats, min_run_time)
    costs = {
        label: {"implementation": label}
        | architecture_costs(model.to("meta"), (1, 3, size, size))
        for label, model in built.items()
    }
    del built
    if device.type == "cuda":
        torch.cuda.empty_cache()
    rows = []
    for label, config, record, cv in timings:
        tflops = 2 * costs[label]["macs"] * record.images_per_s / 1e12
        peak = peak_tflops(record.device_name, config["dtype"])
        rows.append(
            record.as_dict()
            | costs[label]
            | {
                "cv": round(cv, 4),
                "tflops": round(tflops, 3),
                "peak_tflops": peak,
                "peak_fraction": peak and round(tflops / peak, 4),
            }
        )
    return rows


def run(
    models: list[str],
    batch: int,
    image_size: int | None,
    min_run_time: float,
    out_dir: Path,
    *,
    references: bool = True,
    compile: bool = False,
    eager: bool = True,
    repeats: int = 3,
    progress: bool = False,
) -> Path:
    """Benchmark `models`, append to out_dir/<device>.csv and return that path.
    `image_size` None: each model at its own size; ViTs and necks always at theirs.
    A model that fails is reported at the end, after every other one is written."""
    known = MODELS.keys() | NECK_MODELS.keys()
    unknown = [m for m in models if m not in known]
    if unknown:
        raise ValueError(
            f"models {unknown} are not registered; known: {', '.join(sorted(known))}"
        )
    if batch <= 0 or (image_size is not None and image_size <= 0) or repeats <= 0:
        raise ValueError(
            "batch, image_size and repeats must be positive, "
            f"got batch={batch}, image_size={image_size}, repeats={repeats}"
        )
    device = best_device()
    out_path = out_dir / (
        re.sub(r"[^a-z0-9]+", "-", device_name(device).lower()).strip("-") + ".csv"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    new_file = not out_path.exists()
    failures: dict[str, str] = {}
    with out_path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        if new_file:
            writer.writeheader()
        for name in tqdm(models, disable=not progress, file=sys.stderr):
            try:
                rows = benchmark_model(
                    name,
                    device,
                    batch,
                    image_size,
                    min_run_time,
                    references=references,
                    compile=compile,
                    eager=eager,
                    repeats=repeats,
                )
            except Exception as error:  # noqa: BLE001 - reported below; the rest kept
                failures[name] = f"{type(error).__name__}: {error}"
                tqdm.write(f"{name} failed: {failures[name]}", file=sys.stderr)
                continue
            writer.writerows(rows)
            f.flush()
    if failures:
        listed = "; ".join(f"{n} ({why})" for n, why in failures.items())
        raise RuntimeError(
            f"{len(failures)} of {len(models)} models failed, the others were "
            f"written to {out_path}: {listed}"
        )
    return out_path


def main(argv: list[str] | None = None) -> None:
    summary = __doc__.split("\n\n")[0].replace("\n", " ")
    parser = argparse.ArgumentParser(prog="python -m nblib.bench", description=summary)
    parser.add_argument(
        "--models",
        default=None,
        help="comma-separated registry names (default on GPU: every backbone and "
        f"neck; on CPU: {', '.join(CPU_MODELS)})",
    )
    parser.add_argument(
        "--batch", type=int, default=128, help="throughput batch size on GPU (128)"
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="backbones' image size (default: each model's own, 224 for most; ViTs "
        "and necks always run at their own size)",
    )
    parser.add_argument(
        "--min-run-time", type=float, default=1.0, help="seconds per timing (1.0)"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timings per configuration, for the CV"
    )
    parser.add_argument(
        "--compile", action="store_true", help="also time torch.compile (bf16, NHWC)"
    )
    parser.add_argument(
        "--compiled-only",
        action="store_true",
        help="time torch.compile only (bf16, NHWC), not the eager grid",
    )
    parser.add_argument(
        "--no-references", action="store_true", help="time our models only"
    )
    parser.add_argument("--out", type=Path, default=DATA_DIR / "timings")
    args = parser.parse_args(argv)
    if args.models:
        models = args.models.split(",")
    elif best_device().type == "cuda":
        models = [*MODELS, *NECK_MODELS]
    else:
        models = CPU_MODELS
    path = run(
        models,
        args.batch,
        args.image_size,
        args.min_run_time,
        args.out,
        references=not args.no_references,
        compile=args.compile or args.compiled_only,
        eager=not args.compiled_only,
        repeats=args.repeats,
        progress=True,
    )
    print(f"results appended to {path}")


if __name__ == "__main__":
    main()
