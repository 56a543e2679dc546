"""Latency and throughput of a model on the best device present, returned as a plain
record.

GPU: cudnn.benchmark on, warm-up, CUDA-synchronised timing (torch.utils.benchmark), peak
memory. CPU: torch.utils.benchmark with an explicit thread count and a small, quick
configuration.
"""

import datetime
import logging
import platform
import re
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch
from torch import nn

from nblib.blocks.checks import check_finite_positive, check_positive
from nblib.measure import check_input_shape, run_forward

# torch.utils.benchmark imports cpp_extension, which warns (with a timestamp) when a
# CUDA build of torch runs without a GPU; that line is noise in a notebook, so keep only
# errors from it.
logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
from torch.utils import benchmark  # noqa: E402  (after the logger above is quietened)

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class TimingRecord:
    """One timing: what ran, where, and how long it took (median and interquartile
    range)."""

    model: str
    device: str
    device_name: str
    torch_version: str
    cuda_version: str | None
    driver_version: str | None  # the NVIDIA kernel driver, None on CPU
    dtype: str
    memory_format: str
    compiled: bool
    batch: int
    image_size: int
    threads: int
    median_ms: float
    iqr_ms: float
    images_per_s: float
    peak_memory_mb: float | None
    date: str

    def as_dict(self) -> dict:
        return asdict(self)


def best_device() -> torch.device:
    """The GPU if there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_name(device: torch.device) -> str:
    """Marketing name of the GPU, or the CPU model from the operating system."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def nvidia_driver_version(path: str = "/proc/driver/nvidia/version") -> str | None:
    """The loaded NVIDIA driver's version (e.g. "550.54.15"), read from the kernel
    module's own report; None where there is none."""
    try:
        with open(path) as f:
            first = f.readline()
    except OSError:
        return None
    match = re.search(r"Kernel Module(?: for \S+)?\s+(\d+(?:\.\d+)+)", first)
    return match.group(1) if match else None


def time_model(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    name: str = "",
    device: str | None = None,
    dtype: str = "fp32",
    channels_last: bool = False,
    min_run_time: float = 0.5,
    threads: int | None = None,
    compile: bool = False,
) -> TimingRecord:
    """Time inference of `model` on a random batch of `input_shape` (batch, 3, H, W).

    `dtype` "bf16"/"fp16" runs under autocast (weights stay fp32, as in mixed-precision
    inference). On Hopper GPUs fp32 convolutions and matmuls may run as TF32 when torch
    allows it. `compile` times `torch.compile(model)`; compilation happens in warm-up.
    The model is moved to the device; its train/eval mode and memory format are
    restored afterwards.
    """
    shape = check_input_shape(input_shape)
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    check_finite_positive(min_run_time=min_run_time)
    check_positive(threads=threads)
    dev = check_device(device)
    threads = threads or torch.get_num_threads()
    with _kept_state(model):
        memory_format = (
            torch.channels_last if channels_last else torch.contiguous_format
        )
        model = model.to(dev).to(memory_format=memory_format).eval()
        runner: Callable[..., object] = model
        if compile:
            runner = torch.compile(model, dynamic=False)  # one static graph per shape
        x = torch.randn(shape, device=dev).to(memory_format=memory_format)
        autocast = torch.autocast(
            dev.type, dtype=DTYPES[dtype], enabled=dtype != "fp32"
        )

        def run() -> None:
            with torch.inference_mode(), autocast:
                run_forward(runner, x)

        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.cuda.reset_peak_memory_stats(dev)
        for _ in range(3):  # warm-up: cudnn autotuning, allocator, lazy init
            run()
        timer = benchmark.Timer(stmt="run()", globals={"run": run}, num_threads=threads)
        measurement = timer.blocked_autorange(min_run_time=min_run_time)
        median_s = measurement.median
        peak = (
            torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None
        )
        return TimingRecord(
            model=name or type(model).__name__,
            device=dev.type,
            device_name=device_name(dev),
            torch_version=torch.__version__,
            cuda_version=torch.version.cuda if dev.type == "cuda" else None,
            driver_version=nvidia_driver_version() if dev.type == "cuda" else None,
            dtype=dtype,
            memory_format="channels_last" if channels_last else "contiguous",
            compiled=compile,
            batch=shape[0],
            image_size=shape[-1],
            threads=threads,
            median_ms=round(median_s * 1e3, 3),
            iqr_ms=round(measurement.iqr * 1e3, 3),
            images_per_s=round(shape[0] / median_s, 1),
            peak_memory_mb=None if peak is None else round(peak, 1),
            date=datetime.date.today().isoformat(),
        )


def check_device(device: str | None) -> torch.device:
    """ "cpu", "cuda" or "cuda:N" of a GPU that is present, as a torch.device; None:
    the best device present."""
    if device is None:
        return best_device()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        dev = None
    if dev is None or dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if dev.type == "cuda" and not (
        torch.cuda.is_available() and (dev.index or 0) < torch.cuda.device_count()
    ):
        raise ValueError(
            f"device {device!r} names a GPU this machine does not have "
            f"({torch.cuda.device_count()} present); use 'cpu' or None"
        )
    return dev


@contextmanager
def _kept_state(model: nn.Module):
    """The caller's model comes back in its train/eval mode and memory format."""
    was_training = model.training
    was_channels_last = any(
        p.dim() == 4
        and p.is_contiguous(memory_format=torch.channels_last)
        and not p.is_contiguous()
        for p in model.parameters()
    )
    try:
        yield
    finally:
        model.train(was_training)
        if not was_channels_last:
            model.to(memory_format=torch.contiguous_format)
