"""`python -m nblib.bench`: time the registry's models and append the results to
data/timings/.

One CSV per machine (named after the device), one row per model x batch x dtype x memory
format, each row carrying device, torch/CUDA versions and date. On CPU the set is
reduced.
"""

import argparse
import csv
import re
import sys
from dataclasses import fields
from pathlib import Path

from nblib.measure import count_macs, count_params
from nblib.models import MODELS, build
from nblib.reference import DATA_DIR
from nblib.timing import TimingRecord, best_device, device_name, time_model

COLUMNS = [f.name for f in fields(TimingRecord)] + ["params", "macs"]


def configurations(device_type: str, batch: int) -> list[dict]:
    """What to time per model: on GPU fp32 and bf16, contiguous and channels_last; on
    CPU fp32 only."""
    if device_type != "cuda":
        return [{"batch": 1, "dtype": "fp32", "channels_last": False}]
    return [
        {"batch": b, "dtype": d, "channels_last": cl}
        for b in (1, batch)
        for d in ("fp32", "bf16")
        for cl in (False, True)
    ]


def run(
    models: list[str], batch: int, image_size: int, min_run_time: float, out_dir: Path
) -> Path:
    """Benchmark `models`, append to out_dir/<device>.csv and return that path."""
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ValueError(
            f"models {unknown} are not registered; known: {', '.join(sorted(MODELS))}"
        )
    if batch <= 0 or image_size <= 0:
        raise ValueError(
            f"batch and image_size must be positive, got batch={batch}, image_size={image_size}"
        )
    device = best_device()
    out_path = out_dir / (
        re.sub(r"[^a-z0-9]+", "-", device_name(device).lower()).strip("-") + ".csv"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    new_file = not out_path.exists()
    with out_path.open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        if new_file:
            writer.writeheader()
        for i, name in enumerate(models, 1):
            model = build(name)
            params, macs = (
                count_params(model),
                count_macs(model, (1, 3, image_size, image_size)),
            )
            for config in configurations(device.type, batch):
                record = time_model(
                    model,
                    (config["batch"], 3, image_size, image_size),
                    name=name,
                    dtype=config["dtype"],
                    channels_last=config["channels_last"],
                    min_run_time=min_run_time,
                )
                writer.writerow(record.as_dict() | {"params": params, "macs": macs})
                f.flush()
            print(f"[{i}/{len(models)}] {name}", file=sys.stderr)
    return out_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m nblib.bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--models",
        default=",".join(MODELS),
        help="comma-separated registry names (default: all)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=128,
        help="throughput batch size on GPU (default 128)",
    )
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument(
        "--min-run-time",
        type=float,
        default=1.0,
        help="seconds of timing per configuration",
    )
    parser.add_argument("--out", type=Path, default=DATA_DIR / "timings")
    args = parser.parse_args(argv)
    path = run(
        args.models.split(","), args.batch, args.image_size, args.min_run_time, args.out
    )
    print(f"results appended to {path}")


if __name__ == "__main__":
    main()
