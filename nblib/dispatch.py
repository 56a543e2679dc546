"""One recorder of the aten operators a forward pass runs, for every tool that counts
them: `measure.op_costs` (MACs and memory traffic), `kernels.kernel_counts` (the kernels
launched) and `paths.conv_path_lengths` (the dataflow graph).

Under `Recorder(on_call)`, each aten call is handed once to `on_call` as an `AtenCall`,
with the tensors it read and wrote; a tool keeps what it needs and the rest is freed as
the forward pass goes on. Calls reach the recorder below autograd, after composite
operators have been split into the kernels that run.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

# Operators that only relabel memory, beyond those aten marks as views (`func.is_view`):
# `_unsafe_view` is a reshape aten hides from autograd's view tracking; the others are
# marked as views in recent torch and listed so the rule does not depend on it.
DATA_FREE_OPS = frozenset({"_unsafe_view", "alias", "detach", "lift_fresh"})


def tensors(tree: Any) -> list[torch.Tensor]:
    """The tensors in a nest of arguments or results, in order."""
    return [t for t in tree_flatten(tree)[0] if isinstance(t, torch.Tensor)]


@dataclass(frozen=True)
class AtenCall:
    """One operator call: the aten overload, its arguments and result, and the tensors
    among them (inputs in argument order)."""

    func: torch._ops.OpOverload
    args: tuple
    kwargs: dict
    out: Any
    inputs: list[torch.Tensor] = field(init=False)
    outputs: list[torch.Tensor] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tensors((self.args, self.kwargs)))
        object.__setattr__(self, "outputs", tensors(self.out))

    @property
    def packet(self) -> torch._ops.OpOverloadPacket:
        """The operator without its overload (aten.add for aten.add.Tensor)."""
        return self.func._overloadpacket

    @property
    def op(self) -> str:
        """The operator's aten name: "convolution", "relu_", "_unsafe_view"."""
        return self.packet.__name__

    @property
    def inplace(self) -> bool:
        """aten names in-place operators with a trailing underscore (relu_, add_): they
        write into their input and allocate nothing."""
        return self.op.endswith("_") and not self.op.startswith("_")

    @property
    def moves_data(self) -> bool:
        """False for views and aliases: they read, write and launch nothing."""
        return not (self.func.is_view or self.op in DATA_FREE_OPS)


class Recorder(TorchDispatchMode):
    """Runs each aten call and hands it, with its result, to `on_call`."""

    def __init__(self, on_call: Callable[[AtenCall], None]) -> None:
        super().__init__()
        self.on_call = on_call

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        self.on_call(AtenCall(func, args, kwargs, out))
        return out
