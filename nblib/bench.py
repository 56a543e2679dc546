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
import math
import os
import re
import signal
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from nblib import experiments
from nblib.blocks.checks import check_finite_positive, check_positive
from nblib.datafiles import DATA_DIR, TIMING_COLUMNS, device_spec
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
from nblib.timing import TimingRecord, best_device, device_name, time_model

COLUMNS = TIMING_COLUMNS  # one row per timing; nblib.datafiles.load_timings reads them
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
    spec = device_spec(name, dtype, path)
    return None if spec is None else spec["peak_tflops"]


def implementations(name: str, references: bool) -> list[tuple[str, Callable]]:
    """(label, builder) pairs to time for one registry name: ours, then the
    reference where one is installed. Their timings alternate, repeat by repeat."""
    if name in NECK_MODELS:
        return [("nblib", NECK_MODELS[name][0])]
    pairs = [("nblib", lambda: build(name))]
    if references and (source := reference_source(name)):
        pairs.append((source, lambda: build_reference(name)))
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
) -> Iterator[tuple[str, dict, TimingRecord, float]]:
    """(implementation, config, median record, CV) for each config, config by config
    as they are timed: the implementations timed in turn, repeat by repeat, so drift
    hits ours and theirs alike."""
    for config in configs:
        shape = (config["batch"], 3, size, size)
        records: dict[str, list[TimingRecord]] = {label: [] for label in built}
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
        for label, timed in records.items():
            yield label, config, *summarise(timed)


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
) -> Iterator[dict]:
    """The CSV rows of one registry or neck model, each as soon as it is timed: every
    configuration, ours and the reference. Built on the device it runs on (initialising
    VGG's weights on a CPU takes longer than timing it on a GPU); costs counted first,
    on one image (shapes only matter: the same counts as on meta)."""
    if name in NECK_MODELS:
        size = NECK_MODELS[name][1]
    elif image_size is None or name in FIXED_SIZE:
        size = own_image_size(name)
    else:
        size = image_size
    pairs = implementations(name, references)
    with torch.device(device):
        built = {label: make() for label, make in pairs}
    costs = {
        label: architecture_costs(model, (1, 3, size, size))
        for label, model in built.items()
    }
    configs = configurations(device.type, batch, compile, eager)
    try:
        for label, config, record, cv in time_alternately(
            built, name, size, configs, repeats, min_run_time
        ):
            tflops = 2 * costs[label]["macs"] * record.images_per_s / 1e12
            peak = peak_tflops(record.device_name, config["dtype"])
            yield (
                record.as_dict()
                | {"implementation": label}
                | costs[label]
                | {
                    "cv": round(cv, 4),
                    "tflops": round(tflops, 3),
                    "peak_tflops": peak,
                    "peak_fraction": peak and round(tflops / peak, 4),
                }
            )
    finally:
        del built
        if device.type == "cuda":
            torch.cuda.empty_cache()


def out_file(out_dir: Path, device: torch.device) -> Path:
    """out_dir/<device name>.csv, e.g. nvidia-h200.csv: one file per machine."""
    name = re.sub(r"[^a-z0-9]+", "-", device_name(device).lower()).strip("-")
    return out_dir / f"{name}.csv"


def open_for_append(path: Path, columns: list[str] = COLUMNS):
    """`path` opened for appending rows, created with its header first (atomically:
    a killed run never leaves a file without one); an existing file must have the
    same header and end with a newline, or nothing is written to it."""
    if not path.exists() or path.stat().st_size == 0:
        with tempfile.NamedTemporaryFile(
            "w", newline="", dir=path.parent, suffix=".tmp", delete=False
        ) as tmp:
            csv.writer(tmp).writerow(columns)
        os.replace(tmp.name, path)
    else:
        with path.open(newline="") as f:
            header = next(csv.reader(f), [])
        if header != columns:
            raise ValueError(
                f"{path} has the columns {header}, not the benchmark's {columns}: "
                "write to another --out folder"
            )
        with path.open("rb") as f:
            f.seek(-1, os.SEEK_END)
            if f.read() != b"\n":
                raise ValueError(
                    f"{path} does not end with a newline (a row cut short?): fix or "
                    "remove its last line before appending"
                )
    return path.open("a", newline="")


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
    Each row is written and flushed as soon as it is timed. A model that fails is
    reported at the end, after every other one is written."""
    if isinstance(models, str) or not models:
        raise ValueError(f"models must be a non-empty list of names, got {models!r}")
    known = MODELS.keys() | NECK_MODELS.keys()
    unknown = [m for m in models if m not in known]
    if unknown:
        raise ValueError(
            f"models {unknown} are not registered; known: {', '.join(sorted(known))}"
        )
    check_positive(batch=batch, repeats=repeats, image_size=image_size)
    check_finite_positive(min_run_time=min_run_time)
    device = best_device()
    if device.type != "cuda" and (compile or not eager):
        raise ValueError(
            "compile and compiled-only time torch.compile on a GPU, and there is none: "
            "on a CPU only eager fp32 is timed"
        )
    out_path = out_file(Path(out_dir), device)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    failures: dict[str, str] = {}
    with open_for_append(out_path) as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        for name in tqdm(models, disable=not progress, file=sys.stderr):
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
            try:
                for row in rows:
                    writer.writerow(row)
                    f.flush()
            except Exception as error:  # noqa: BLE001 - reported below; the rest kept
                failures[name] = f"{type(error).__name__}: {error}"
                tqdm.write(f"{name} failed: {failures[name]}", file=sys.stderr)
    if failures:
        listed = "; ".join(f"{n} ({why})" for n, why in failures.items())
        raise RuntimeError(
            f"{len(failures)} of {len(models)} models failed, the others were "
            f"written to {out_path}: {listed}"
        )
    return out_path


EXPERIMENT_COLUMNS = COLUMNS + OPTIONAL_COLUMNS


def benchmark_experiment(
    name: str,
    device: torch.device,
    min_run_time: float,
    repeats: int,
    batch: int | None = None,
    hw: int | None = None,
) -> Iterator[dict]:
    """The rows of one named experiment (nblib.experiments), each as soon as it is
    timed: the variants of each group in turn, repeat by repeat, in fp32 and (on a
    GPU) bf16 channels-last. MACs and memory access are per image."""
    groups: dict[str, list] = {}
    for v in experiments.variants(name, batch, hw):
        groups.setdefault(v.experiment, []).append(v)
    configs: list[dict[str, Any]] = [{"dtype": "fp32", "channels_last": False}]
    if device.type == "cuda":
        configs.append({"dtype": "bf16", "channels_last": True})
    for group, variants in groups.items():
        with torch.device(device):
            built = [(v, v.build()) for v in variants]
        costs = {
            v.variant: architecture_costs(m, (1, *v.input_shape[1:])) for v, m in built
        }
        for config in configs:
            records: dict[str, list[TimingRecord]] = {v.variant: [] for v in variants}
            for _ in range(repeats):
                for v, module in built:
                    records[v.variant].append(
                        time_model(
                            module,
                            v.input_shape,
                            name=name,
                            min_run_time=min_run_time,
                            dtype=config["dtype"],
                            channels_last=config["channels_last"],
                        )
                    )
            for variant, timed in records.items():
                record, cv = summarise(timed)
                tflops = 2 * costs[variant]["macs"] * record.images_per_s / 1e12
                peak = peak_tflops(record.device_name, config["dtype"])
                yield (
                    record.as_dict()
                    | {"implementation": "nblib"}
                    | costs[variant]
                    | {
                        "cv": round(cv, 4),
                        "tflops": round(tflops, 3),
                        "peak_tflops": peak,
                        "peak_fraction": peak and round(tflops / peak, 4),
                        "experiment": group,
                        "variant": variant,
                        "statistic": "",
                        "source": f"python -m nblib.bench --experiments {name}",
                    }
                )
        del built
        if device.type == "cuda":
            torch.cuda.empty_cache()


def run_experiments(
    names: list[str],
    min_run_time: float,
    out_dir: Path,
    *,
    repeats: int = 3,
    batch: int | None = None,
    hw: int | None = None,
) -> Path:
    """Time the named experiments and append their rows to
    out_dir/<device>-experiments.csv (the bench's columns plus experiment and variant);
    `batch` and `hw` shrink every variant (the tests run them tiny on a CPU)."""
    if isinstance(names, str) or not names:
        raise ValueError(
            f"names must be a non-empty list of experiments, got {names!r}"
        )
    unknown = [n for n in names if n not in experiments.EXPERIMENTS]
    if unknown:
        raise ValueError(
            f"experiments {unknown} are unknown; known: "
            f"{', '.join(sorted(experiments.EXPERIMENTS))}"
        )
    check_positive(repeats=repeats)
    check_finite_positive(min_run_time=min_run_time)
    device = best_device()
    path = out_file(Path(out_dir), device)
    path = path.with_name(f"{path.stem}-experiments.csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_for_append(path, EXPERIMENT_COLUMNS) as f:
        writer = csv.DictWriter(f, fieldnames=EXPERIMENT_COLUMNS)
        for name in names:
            for row in benchmark_experiment(
                name, device, min_run_time, repeats, batch, hw
            ):
                writer.writerow(row)
                f.flush()
    return path


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def _experiment_list(text: str) -> list[str]:
    names = list(experiments.EXPERIMENTS) if text == "all" else text.split(",")
    unknown = [n for n in names if n not in experiments.EXPERIMENTS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown experiments {unknown}; "
            f"known: {', '.join(experiments.EXPERIMENTS)}"
        )
    return names


def _model_list(text: str) -> list[str]:
    names = text.split(",")
    if not all(names):
        raise argparse.ArgumentTypeError(
            f"must be comma-separated model names, none empty, got {text!r}"
        )
    return names


def main(argv: list[str] | None = None) -> None:
    summary = __doc__.split("\n\n")[0].replace("\n", " ")
    parser = argparse.ArgumentParser(prog="python -m nblib.bench", description=summary)
    parser.add_argument(
        "--models",
        type=_model_list,
        default=None,
        help="comma-separated registry names (default on GPU: every backbone and "
        f"neck; on CPU: {', '.join(CPU_MODELS)})",
    )
    parser.add_argument(
        "--batch",
        type=_positive_int,
        default=128,
        help="throughput batch size on GPU (128)",
    )
    parser.add_argument(
        "--image-size",
        type=_positive_int,
        default=None,
        help="backbones' image size (default: each model's own, 224 for most; ViTs "
        "and necks always run at their own size)",
    )
    parser.add_argument(
        "--min-run-time",
        type=_positive_seconds,
        default=1.0,
        help="seconds per timing (1.0)",
    )
    parser.add_argument(
        "--repeats",
        type=_positive_int,
        default=3,
        help="timings per configuration, for the CV",
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
    parser.add_argument(
        "--experiments",
        type=_experiment_list,
        default=None,
        help="comma-separated experiments of nblib.experiments, or 'all': time them "
        "instead of models, into <device>-experiments.csv",
    )
    parser.add_argument("--out", type=Path, default=DATA_DIR / "timings")
    args = parser.parse_args(argv)
    if args.experiments is not None:
        if args.models is not None:
            parser.error("--experiments and --models are separate runs: give one")
        path = run_experiments(
            args.experiments, args.min_run_time, args.out, repeats=args.repeats
        )
        print(f"results appended to {path}")
        return
    if args.models is not None:
        models = args.models
    elif best_device().type == "cuda":
        models = [*MODELS, *NECK_MODELS]
    else:
        models = CPU_MODELS
    # `timeout` and job schedulers stop with SIGTERM: stop as on Ctrl-C, with every
    # row timed so far already in the file.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
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
    except ValueError as error:  # a bad argument or output file, before any timing
        parser.error(str(error))
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(f"results appended to {path}")


if __name__ == "__main__":
    main()
