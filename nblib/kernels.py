"""Which kernels a forward pass launches, to compare two implementations of one model
without a GPU.

Every aten operator that computes (views skipped) is recorded with the shapes, strides
and dtypes of its inputs and outputs. Two implementations that launch the same multiset
of kernels move the same bytes and do the same arithmetic on any device, so their
throughput can differ only by Python and dispatch overhead, for which the number of
module calls per forward pass is the proxy recorded here.
"""

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch import nn

from nblib.dispatch import AtenCall, Recorder
from nblib.measure import check_input_shape, mha_fast_path
from nblib.models import build, build_reference, image_size, reference_source

_COMMUTATIVE = {"add", "mul"}  # operand order does not change the kernel's work

TensorSignature = tuple[tuple[int, ...], tuple[int, ...], str]  # shape, strides, dtype


@dataclass(frozen=True, order=True)
class Kernel:
    """One operator call: its aten name and the layout of what it reads and writes.
    An in-place operator (relu_, add_) is named after its out-of-place twin: one kernel
    over the same bytes."""

    op: str
    inputs: tuple[TensorSignature, ...]
    outputs: tuple[TensorSignature, ...]

    @property
    def bytes(self) -> int:
        """Bytes read and written if every operand passes through memory once."""
        return sum(
            math.prod(shape) * getattr(torch, dtype).itemsize
            for shape, _, dtype in self.inputs + self.outputs
        )


def _signatures(tensors: list[torch.Tensor]) -> tuple[TensorSignature, ...]:
    return tuple(
        (tuple(t.shape), t.stride(), str(t.dtype).removeprefix("torch."))
        for t in tensors
    )


def _kernel(call: AtenCall) -> Kernel:
    """The kernel of a call that moves data; an in-place one named after its twin."""
    name = call.op[:-1] if call.inplace else call.op
    inputs = _signatures(call.inputs)
    if name in _COMMUTATIVE:
        inputs = tuple(sorted(inputs))
    return Kernel(name, inputs, _signatures(call.outputs))


def kernel_counts(
    model: nn.Module, input_shape: Sequence[int], channels_last: bool = False
) -> tuple[Counter[Kernel], int]:
    """The kernels one inference forward pass launches (eval mode, no grad, the
    default attention backend: the path a benchmark times), and the number of module
    calls it makes. A model on the meta device runs shapes only, in no time;
    `channels_last` converts model and input as the benchmark does."""
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device("cpu")
    x = torch.randn(check_input_shape(input_shape), device=device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    calls = 0
    launched: Counter[Kernel] = Counter()

    def count_call(module: nn.Module, args: tuple) -> None:
        nonlocal calls
        calls += 1

    def record(call: AtenCall) -> None:
        if call.moves_data:  # views and aliases launch no kernel
            launched[_kernel(call)] += 1

    handle = nn.modules.module.register_module_forward_pre_hook(count_call)
    try:
        with torch.no_grad(), Recorder(record):
            model.eval()(x)
    finally:
        handle.remove()
    return launched, calls


@dataclass(frozen=True)
class KernelComparison:
    """Kernel multisets of two implementations of one model, and what differs."""

    ours: int  # kernels launched
    reference: int
    ours_bytes: int  # their operands' bytes, read and written once each
    reference_bytes: int
    ours_calls: int  # module calls per forward pass
    reference_calls: int
    only_ours: Counter[Kernel]  # kernels ours launches beyond the reference's
    only_reference: Counter[Kernel]

    @property
    def identical(self) -> bool:
        return not self.only_ours and not self.only_reference

    @property
    def subset(self) -> bool:
        """Ours launches nothing the reference does not (it may launch fewer)."""
        return not self.only_ours

    def differences(self) -> str:
        """The differing operators by name, e.g. "cat x4 (reference only)"."""
        parts = []
        sides = {"ours": self.only_ours, "reference": self.only_reference}
        for side, kernels in sides.items():
            by_op: Counter[str] = Counter()
            for kernel, n in kernels.items():
                by_op[kernel.op] += n
            parts += [f"{op} x{n} ({side} only)" for op, n in sorted(by_op.items())]
        return ", ".join(parts) or "none"


def compare_kernels(
    ours: nn.Module,
    reference: nn.Module,
    input_shape: Sequence[int],
    channels_last: bool = False,
) -> KernelComparison:
    """Record the kernels both models launch on the same input shape; equal multisets
    mean equal work on any device."""
    a, calls_a = kernel_counts(ours, input_shape, channels_last)
    b, calls_b = kernel_counts(reference, input_shape, channels_last)
    return KernelComparison(
        ours=a.total(),
        reference=b.total(),
        ours_bytes=sum(k.bytes * n for k, n in a.items()),
        reference_bytes=sum(k.bytes * n for k, n in b.items()),
        ours_calls=calls_a,
        reference_calls=calls_b,
        only_ours=a - b,
        only_reference=b - a,
    )


def compare_with_reference(
    name: str, batch: int = 1, channels_last: bool = False
) -> KernelComparison:
    """Ours vs the reference implementation of registry model `name`, at its own image
    size. Convolutional models run on the meta device (shapes only: seconds for the
    zoo); models with attention run on the CPU, because on meta attention falls back to
    its math kernel, and torchvision's take nn.MultiheadAttention's general path, which
    calls the fused kernel as ours does."""
    (comparison,) = _compare_layouts(name, batch, [channels_last])
    return comparison


def compare_layouts(
    name: str, batch: int = 1
) -> tuple[KernelComparison, KernelComparison]:
    """compare_with_reference in NCHW and in NHWC (channels_last), from one build of
    both models."""
    nchw, nhwc = _compare_layouts(name, batch, [False, True])
    return nchw, nhwc


def _compare_layouts(
    name: str, batch: int, layouts: list[bool]
) -> list[KernelComparison]:
    # NCHW before NHWC: channels_last converts the models in place.
    size = image_size(name)
    device = "cpu" if name.startswith("vit") else "meta"
    ours, reference = (
        _build_on(device, build, name),
        _build_on(device, build_reference, name),
    )
    with mha_fast_path(False):
        return [
            compare_kernels(ours, reference, (batch, 3, size, size), channels_last)
            for channels_last in sorted(layouts)
        ]


def _build_on(device: str, builder: Callable[[str], nn.Module], name: str) -> nn.Module:
    """Build on the meta device, without initialising weights, then for the CPU give
    it storage filled with zeros: which kernels launch depends on shapes, not values
    (and ViT-B's initialisation alone took 1 s of a 3 s comparison). A builder that
    computes its configuration with tensors (torchvision's RegNet) is built on the CPU
    and moved."""
    try:
        with torch.device("meta"):
            model = builder(name)
    except NotImplementedError:  # "Cannot copy out of meta tensor"
        return builder(name).to(device)
    if device == "meta":
        return model
    model = model.to_empty(device=device)
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            tensor.zero_()
    return model


def reference_table(names: Sequence[str]) -> pd.DataFrame:
    """compare_with_reference for each registry model, one row per model: kernels
    launched, identical or not, ours over the reference's traffic and module calls, and
    what differs."""
    rows = {}
    for name in names:
        c = compare_with_reference(name)
        rows[name] = {
            "reference": reference_source(name),
            "kernels": c.ours,
            "reference kernels": c.reference,
            "identical": c.identical,
            "traffic ours / ref.": c.ours_bytes / c.reference_bytes,
            "module calls ours / ref.": c.ours_calls / c.reference_calls,
            "differences": c.differences(),
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")
