"""A valid row of a benchmark CSV (nblib.bench.COLUMNS), for tests to vary, and a small
synthetic record of three models in that schema."""

import pandas as pd

from nblib import bench

H100 = "NVIDIA H100 80GB HBM3"


def timing_row(**fields) -> dict:
    """One well-formed GPU row; `fields` override columns."""
    row = {
        "model": "resnet18",
        "device": "cuda",
        "device_name": "NVIDIA H200",
        "torch_version": "2.14.1",
        "cuda_version": "13.0",
        "driver_version": "570.86.15",
        "dtype": "bf16",
        "memory_format": "channels_last",
        "compiled": False,
        "batch": 1,
        "image_size": 224,
        "threads": 1,
        "median_ms": 1.0,
        "iqr_ms": 0.01,
        "images_per_s": 1000.0,
        "peak_memory_mb": 100.0,
        "date": "2026-12-01",
        "implementation": "nblib",
        "params": 11689512,
        "macs": 1818559488,
        "memory_access": 30000000,
        "cv": 0.01,
        "tflops": 3.6,
        "peak_tflops": 989.5,
        "peak_fraction": 0.0037,
    }
    assert list(row) == bench.COLUMNS
    return row | fields


def row(**values) -> dict:
    """One recorded row in the benchmark's schema, on the H100, with round costs."""
    return (
        timing_row(
            device_name=H100,
            date="2026-01-01",
            params=1,
            macs=1_000_000_000,
            memory_access=10_000_000,
            tflops=2.0,
            peak_fraction=0.002,
        )
        | values
    )


def recorded_rows() -> pd.DataFrame:
    """Three models at batch 1 and 128, ours and torchvision's (10 % faster), one
    compiled row each, and a later re-run of one row; latency follows traffic."""
    macs = {"resnet18": 1.8e9, "resnet50": 4.1e9, "mobilenet_v2": 0.3e9}
    traffic = {"resnet18": 3e7, "resnet50": 1e8, "mobilenet_v2": 5e7}
    ms = {"resnet18": 1.0, "resnet50": 3.0, "mobilenet_v2": 2.0}  # follows traffic
    rows = []
    for model in macs:
        for batch in (1, 128):
            for impl, slower in (("nblib", 1.0), ("torchvision", 0.9)):
                t = ms[model] * batch**0.5 * slower
                rows.append(
                    row(
                        model=model,
                        batch=batch,
                        implementation=impl,
                        macs=macs[model],
                        memory_access=traffic[model],
                        median_ms=t,
                        images_per_s=1e3 * batch / t,
                        tflops=2 * macs[model] * batch / t / 1e9,
                    )
                )
        rows.append(
            row(
                model=model,
                compiled=True,
                macs=macs[model],
                memory_access=traffic[model],
                median_ms=ms[model] / 2,
            )
        )
    # a re-run appended later supersedes the first resnet18 batch-1 row of ours
    rows.append(
        row(
            model="resnet18",
            macs=macs["resnet18"],
            memory_access=traffic["resnet18"],
            median_ms=0.8,
        )
    )
    return pd.DataFrame(rows, columns=bench.COLUMNS)
