"""nblib.timing: a complete record on the CPU, and clear errors for bad arguments."""

import pytest
import torch
from torch import nn

from nblib import timing


def test_cpu_record_is_complete_and_consistent():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
    record = timing.time_model(
        model, (4, 3, 32, 32), name="tiny", device="cpu", min_run_time=0.05, threads=1
    )
    assert (
        record.model,
        record.device,
        record.batch,
        record.image_size,
        record.threads,
    ) == ("tiny", "cpu", 4, 32, 1)
    assert record.dtype == "fp32" and record.memory_format == "contiguous"
    assert record.median_ms > 0 and record.iqr_ms >= 0 and record.peak_memory_mb is None
    assert record.images_per_s == pytest.approx(4 / (record.median_ms / 1e3), rel=0.01)
    assert record.device_name and record.torch_version


class Witness(nn.Module):
    """A 3x3 conv that notes, at every call, the dtype it computed in and whether its
    input and weight were channels-last (a 3x3 weight, unlike a 1x1, tells the two
    layouts apart)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.seen: set[tuple[torch.dtype, bool, bool]] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        nhwc = torch.channels_last
        self.seen.add(
            (
                y.dtype,
                x.is_contiguous(memory_format=nhwc),
                self.conv.weight.is_contiguous(memory_format=nhwc),
            )
        )
        return y


@pytest.mark.parametrize(
    "dtype, channels_last, seen",
    [
        ("bf16", True, (torch.bfloat16, True, True)),
        ("fp32", False, (torch.float32, False, False)),
    ],
)
def test_the_model_runs_in_the_recorded_dtype_and_memory_format(
    dtype, channels_last, seen
):
    """Not only the record's labels: the timed forward itself computes in bf16 under
    autocast, on channels-last input and weights (and in fp32 NCHW otherwise)."""
    model = Witness()
    record = timing.time_model(
        model,
        (1, 3, 8, 8),
        device="cpu",
        dtype=dtype,
        channels_last=channels_last,
        min_run_time=0.02,
    )
    assert model.seen == {seen}
    layout = "channels_last" if channels_last else "contiguous"
    assert (record.dtype, record.memory_format) == (dtype, layout)
    # the caller's model comes back as it was given
    assert model.conv.weight.is_contiguous() and model.training


@pytest.mark.parametrize(
    "kwargs, argument",
    [({"dtype": "fp8"}, "dtype"), ({"min_run_time": 0}, "min_run_time")],
)
def test_bad_arguments_name_themselves(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        timing.time_model(nn.Conv2d(3, 3, 1), (1, 3, 4, 4), device="cpu", **kwargs)


def test_negative_batch_is_rejected():
    with pytest.raises(ValueError, match="input_shape"):
        timing.time_model(nn.Conv2d(3, 3, 1), (-2, 3, 4, 4), device="cpu")


@pytest.mark.parametrize(
    ("first_line", "version"),
    [
        (
            "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar 5 2024",
            "550.54.15",
        ),
        (
            "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.86.15  "
            "Release",
            "570.86.15",
        ),
    ],
)
def test_driver_version_from_the_kernel_module_report(tmp_path, first_line, version):
    report = tmp_path / "version"
    report.write_text(first_line + "\nGCC version: gcc 12\n")
    assert timing.nvidia_driver_version(str(report)) == version
    assert timing.nvidia_driver_version(str(tmp_path / "absent")) is None
