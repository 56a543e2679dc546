"""A valid row of a benchmark CSV (nblib.bench.COLUMNS), for tests to vary."""

from nblib import bench


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
