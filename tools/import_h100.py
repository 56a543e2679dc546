"""Import the H100 measurements of 2026-11-23 (../shared/measurements, scripts and
README copied to tools/h100_2026-11-23/) into data/timings/ in the benchmark's row
schema.

`python tools/import_h100.py [MEASUREMENTS_DIR]` rewrites two files:
- h100_reference_models_2026-11-23.csv: ten torchvision/timm models, batch 128, bf16
  autocast, channels-last, eager and compiled. They launch the same kernels as ours
  (nblib.kernels), so they stand for ours. Params, MACs and memory access are counted
  here with nblib.measure on the same reference model (the script's MAC column misses
  ViT attention).
- h100_shufflenet_guidelines_2026-11-23.csv: ShuffleNet V2's G1-G4 stacks, batch 8.
The `statistic` column says what `median_ms` holds: the script recorded the fastest of
three repeats (a mean per call), not a median, and no spread.
"""

import csv
import sys
from pathlib import Path

import torch

from nblib.bench import COLUMNS, OPTIONAL_COLUMNS, peak_tflops
from nblib.measure import cost_summary
from nblib.models import build_reference

COMMON = {
    "device": "cuda",
    "device_name": "NVIDIA H100 80GB HBM3",
    "torch_version": "2.11.0",
    "cuda_version": "13.0",
    "driver_version": "",
    "threads": "",
    "iqr_ms": "",
    "cv": "",
    "peak_memory_mb": "",
    "date": "2026-11-23",
}
HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "data" / "timings"


def reference_rows(path: Path) -> list[dict]:
    rows, costs = [], {}
    for r in csv.DictReader(path.open()):
        name, size = r["model"], int(r["image_size"])
        if name not in costs:
            torch.manual_seed(0)
            costs[name] = cost_summary(build_reference(name), (1, 3, size, size))
        cost, images_per_s = costs[name], float(r["images_per_s"])
        tflops = 2 * cost["macs"] * images_per_s / 1e12
        peak = peak_tflops(COMMON["device_name"], "bf16")
        rows.append(
            COMMON
            | {
                "model": name,
                "implementation": r["library"],
                "dtype": "bf16",
                "memory_format": r["memory_format"],
                "compiled": r["mode"] == "torch.compile",
                "batch": int(r["batch"]),
                "image_size": size,
                "median_ms": float(r["batch_ms_best_of_3"]),
                "images_per_s": images_per_s,
                "params": cost["params"],
                "macs": cost["macs"],
                "memory_access": cost["memory_access"],
                "tflops": round(tflops, 2),
                "peak_tflops": peak,
                "peak_fraction": round(tflops / peak, 4),
                "experiment": "",
                "variant": "",
                "statistic": "fastest of 3 repeats, mean of 30 calls (bf16 autocast)",
                "source": "tools/h100_2026-11-23/reference_models_gpu.py "
                f"({path.name})",
            }
        )
    return rows


def guideline_rows(path: Path) -> list[dict]:
    rows = []
    for r in csv.DictReader(path.open()):
        per_s = float(r["batches_per_s"])
        bf16 = r["precision"] == "bf16cl"
        rows.append(
            COMMON
            | {
                "model": "shufflenet_v2_guidelines",
                "implementation": "stack",
                "dtype": "bf16" if bf16 else "fp32",
                "memory_format": "channels_last" if bf16 else "contiguous",
                "compiled": False,
                "batch": 8,
                "image_size": 56,
                "median_ms": round(1000 / per_s, 4),
                "images_per_s": per_s * 8,
                "params": "",
                "macs": "",
                "memory_access": "",
                "tflops": "",
                "peak_tflops": "",
                "peak_fraction": "",
                "experiment": r["experiment"],
                "variant": r["variant"],
                "statistic": "fastest of 3 repeats of 200 calls; "
                "median_ms = 1000 / batches per s"
                + (
                    "; bf16 weights and input (not autocast)"
                    if bf16
                    else "; fp32 convolutions run as TF32 (cuDNN's default)"
                ),
                "source": "tools/h100_2026-11-23/shufflenet_guidelines_gpu.py "
                f"({path.name})",
            }
        )
    return rows


def write(rows: list[dict], path: Path) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS + OPTIONAL_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def main(measurements: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for stem, convert in (
        ("h100_reference_models_2026-11-23", reference_rows),
        ("h100_shufflenet_guidelines_2026-11-23", guideline_rows),
    ):
        write(convert(measurements / f"{stem}.csv"), OUT / f"{stem}.csv")


if __name__ == "__main__":
    main(
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else HERE.parents[1] / "shared" / "measurements"
    )
