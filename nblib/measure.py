"""What a model costs: parameters, MACs, activation memory and memory-access cost.

Units: a MAC is one multiply-accumulate; papers that say "FLOPs" almost always mean
MACs. Memory-access cost (MAC in ShuffleNet V2, Ma et al. 2018) is the number of
elements read and written; we report it per operator and per layer, and in bytes for the
tensor's real dtype.
"""

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torchinfo
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode, flop_registry

from nblib.dispatch import AtenCall, Recorder


def check_input_shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    """Validate a (batch, channels, ...) shape at the public edge."""
    shape = (
        tuple(input_shape)
        if isinstance(input_shape, (tuple, list, torch.Size))
        else None
    )
    if (
        shape is None
        or len(shape) < 2
        or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape)
    ):
        raise ValueError(
            "input_shape must be a tuple of ints (batch, channels, ...), "
            f"got {input_shape!r}"
        )
    if any(d <= 0 for d in shape):
        raise ValueError(
            "input_shape must be positive in every dimension (batch included), "
            f"got {shape}"
        )
    return shape


def run_forward(model: Callable[[torch.Tensor], Any], x: torch.Tensor) -> Any:
    """Call the model; a shape it cannot take is a ValueError naming input_shape."""
    try:
        return model(x)
    except (RuntimeError, ValueError, IndexError) as err:
        raise ValueError(
            f"input_shape {tuple(x.shape)} does not fit {type(model).__name__}: {err}"
        ) from err


def _example_input(model: nn.Module, input_shape: Sequence[int]) -> torch.Tensor:
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = (
        param.dtype
        if param is not None and param.is_floating_point()
        else torch.float32
    )
    return torch.randn(check_input_shape(input_shape), device=device, dtype=dtype)


@contextmanager
def mha_fast_path(enabled: bool) -> Iterator[None]:
    """Switch nn.MultiheadAttention's inference fast path (torchvision's ViT uses it):
    on a CPU it is one fused operator whose inner kernels no recorder sees."""
    before = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(enabled)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(before)


@contextmanager
def _counting_mode(model: nn.Module) -> Iterator[None]:
    """An inference forward (eval mode, no autograd) with every matmul visible.

    Without autograd, no `clone` is inserted before in-place ops: the count is what
    inference executes. Attention runs through SDPA's math kernel and MHA's general
    path, because their fused kernels are single operators no counter can look into.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), mha_fast_path(False), sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        model.train(was_training)


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (shared parameters counted once)."""
    return sum(
        p.numel() for p in model.parameters() if p.requires_grad or not trainable_only
    )


def count_macs(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-accumulates of one forward pass, from torch's FlopCounterMode (FLOPs /
    2).

    Counts convolutions, matmuls and attention; element-wise ops (BN, ReLU, add) count
    zero, the convention of the papers.
    """
    x = _example_input(model, input_shape)
    with _counting_mode(model), FlopCounterMode(display=False) as counter:
        run_forward(model, x)
    return counter.get_total_flops() // 2


def _torchinfo(model: nn.Module, input_shape: Sequence[int], depth: int):
    try:
        return torchinfo.summary(
            model,
            input_size=check_input_shape(input_shape),
            depth=depth,
            verbose=0,
            col_names=("output_size", "num_params", "mult_adds"),
            col_width=18,
            row_settings=("var_names",),
        )
    except RuntimeError as err:  # torchinfo wraps the model's own error: show that
        cause = err.__cause__ or err
        raise ValueError(
            f"input_shape {tuple(input_shape)} does not fit {type(model).__name__}: "
            f"{cause}"
        ) from err


def torchinfo_mult_adds(model: nn.Module, input_shape: Sequence[int]) -> int:
    """torchinfo's "Total mult-adds": shown as a lesson, not used as a MAC figure (it
    misses attention and counts a Linear layer once per sample rather than once per
    token)."""
    return _torchinfo(model, input_shape, depth=3).total_mult_adds


def layer_table(
    model: nn.Module,
    input_shape: Sequence[int],
    depth: int = 1,
    max_rows: int | None = 30,
) -> str:
    """torchinfo's layer table (output shape, params, mult-adds), cut to `max_rows`
    layer rows (the first and the last ones; None: all)."""
    for arg, value in (("depth", depth), ("max_rows", max_rows)):
        if value is None and arg == "max_rows":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{arg} must be an int >= 0, got {value!r}")
    stats = _torchinfo(model, input_shape, depth)
    lines = str(stats).splitlines()
    rule = [i for i, line in enumerate(lines) if line.startswith("=")]
    head, rows, tail = (
        lines[: rule[1] + 1],
        lines[rule[1] + 1 : rule[2]],
        lines[rule[2] :],
    )
    if max_rows is not None and len(rows) > max_rows:
        first, last = max_rows // 2, max_rows - max_rows // 2
        cut = f"... {len(rows) - max_rows} rows cut ..."
        rows = rows[:first] + [cut] + rows[len(rows) - last :]
    return "\n".join(head + rows + tail)


@dataclass(frozen=True)
class OpCost:
    """One operator call: the innermost module it ran in, elements read and written,
    bytes moved, bytes of new floating-point tensors it allocated, and MACs."""

    module: str
    op: str
    reads: int
    writes: int
    bytes: int
    allocated: int
    macs: int

    @property
    def mac(self) -> int:
        """Memory-access cost in elements: everything read plus everything written."""
        return self.reads + self.writes


def _op_cost(call: AtenCall, module: str) -> OpCost:
    """The cost of one call that moves data, run inside `module`."""
    outputs = call.outputs
    if call.packet is torch.ops.aten.native_batch_norm and not call.args[5]:
        # Eval mode writes the normalised map only: the saved statistics are empty
        # on CPU and GPU (the meta kernel alone returns C floats for them).
        outputs = outputs[:1]
    flops = (
        flop_registry[call.packet](*call.args, **call.kwargs, out_val=call.out)
        if call.packet in flop_registry
        else 0
    )
    new = [] if call.inplace else [t for t in outputs if t.is_floating_point()]
    return OpCost(
        module=module,
        op=call.op,
        reads=sum(t.numel() for t in call.inputs),
        writes=sum(t.numel() for t in outputs),
        bytes=sum(t.numel() * t.element_size() for t in call.inputs + outputs),
        allocated=sum(t.numel() * t.element_size() for t in new),
        macs=flops // 2,
    )


def op_costs(model: nn.Module, input_shape: Sequence[int]) -> list[OpCost]:
    """Every operator of one forward pass with its memory traffic and MACs (ShuffleNet
    V2's MAC: a 1x1 conv without bias reads h*w*c1 + c1*c2 and writes h*w*c2 elements).
    """
    x = _example_input(model, input_shape)
    stack = ["(model)"]

    def leave(module: nn.Module, args: tuple, output) -> None:
        stack.pop()

    hooks = []
    for name, module in model.named_modules():
        if name:
            hooks.append(
                module.register_forward_pre_hook(
                    lambda m, a, name=name: stack.append(name)
                )
            )
            hooks.append(module.register_forward_hook(leave))
    ops: list[OpCost] = []

    def record(call: AtenCall) -> None:
        # Views move no data; a call that reads no tensor (a factory) is not counted.
        if call.moves_data and call.inputs:
            ops.append(_op_cost(call, stack[-1]))

    try:
        with _counting_mode(model), Recorder(record):
            run_forward(model, x)
    finally:
        for hook in hooks:
            hook.remove()
    return ops


@dataclass(frozen=True)
class LayerCost:
    """Totals of the operators that ran directly in one module (its children listed
    separately)."""

    module: str
    ops: str
    macs: int
    mac: int
    bytes: int


def layer_costs(ops: list[OpCost]) -> list[LayerCost]:
    """Group operator costs by module, in order of first appearance."""
    grouped: dict[str, list[OpCost]] = defaultdict(list)
    for op in ops:
        grouped[op.module].append(op)
    return [
        LayerCost(
            module=name,
            ops="+".join(dict.fromkeys(o.op for o in group)),
            macs=sum(o.macs for o in group),
            mac=sum(o.mac for o in group),
            bytes=sum(o.bytes for o in group),
        )
        for name, group in grouped.items()
    ]


def memory_access_cost(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Total memory-access cost of one forward pass, in elements (reads + writes of
    every operator)."""
    return sum(op.mac for op in op_costs(model, input_shape))


def activation_memory(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Bytes of the feature maps one forward pass creates: every floating-point tensor
    an operator allocates, whether in a module or in a forward's own code (a residual
    add, a concatenation); in-place operators allocate nothing."""
    return sum(op.allocated for op in op_costs(model, input_shape))


def totals(ops: Sequence[OpCost]) -> dict[str, int]:
    """What a forward pass's recorded operators add up to: MACs, memory-access cost
    (elements read + written), activation memory (bytes), and how many operators ran."""
    return {
        "macs": sum(op.macs for op in ops),
        "memory_access": sum(op.mac for op in ops),
        "activation_bytes": sum(op.allocated for op in ops),
        "operators": len(ops),
    }


def cost_summary(model: nn.Module, input_shape: Sequence[int]) -> dict[str, int]:
    """The architecture costs of one forward pass as one record for a table row:
    parameters, then the `totals` of its operators (MACs, memory-access cost,
    activation memory, operators)."""
    return {"params": count_params(model)} | totals(op_costs(model, input_shape))
