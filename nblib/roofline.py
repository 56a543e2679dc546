"""The roofline model (Williams et al., 2009): the least time work can take on a device.

A kernel that does F FLOPs while moving Q bytes has arithmetic intensity I = F / Q; on a
device with peak P (FLOP/s) and memory bandwidth W (byte/s) it cannot run faster than
min(P, I * W). Below the ridge point P / W it is memory-bound. The peaks and bandwidths
are datasheet figures from data/devices.csv (read by nblib.datafiles); the zoo's
counts come from nblib.analysis; nblib.plots.plot_roof draws the roof.
"""

from pathlib import Path

import numpy as np

from nblib.datafiles import device_spec

BYTES_PER_ELEMENT = {"fp32": 4, "tf32": 4, "bf16": 2, "fp16": 2}


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
