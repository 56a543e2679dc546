"""How many layers lie between two tensors: conv counts on the dataflow graph of one
forward pass.

PANet (Liu et al., 2018, Sec. 3.1) argues that in FPN a low-level feature reaches the
top level only through the backbone ("100+ layers"), while its bottom-up path is a
shortcut of "less than 10 layers". `conv_path_lengths` checks such statements on the
real graph: it records every aten operator of a forward pass (with nblib.dispatch's
recorder, which `measure.op_costs` uses too), marks the outputs of one named submodule
as sources and one model output as the target, and returns the fewest and the most
convolutions on any path between them. With residual shortcuts both numbers matter:
the shortest path may take the projection shortcuts only, the longest takes every
stacked convolution.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from nblib.dispatch import AtenCall, Recorder, tensors
from nblib.measure import _example_input, run_forward

# Operators whose result depends on a tensor's shape, not on its values: no dataflow.
_SHAPE_ONLY_OPS = {
    "new_zeros",
    "new_ones",
    "new_empty",
    "new_full",
    "zeros_like",
    "ones_like",
    "empty_like",
    "full_like",
}


@dataclass(frozen=True)
class PathLengths:
    """Fewest and most counted operators (convolutions) on any source-to-target path;
    both None when no path exists."""

    shortest: int | None
    longest: int | None


class _Dataflow:
    """One node per tensor an operator writes (an in-place op makes a new node for
    the same tensor), with edges from the nodes it read; views too, for they pass
    their input on. Record order is topological.
    """

    def __init__(self) -> None:
        self.preds: list[list[int]] = []  # node -> the nodes it was computed from
        self.ops: list[str] = []  # node -> aten operator name ("" for a leaf)
        self.blocked: list[bool] = []  # node -> computed inside an avoided module
        self.current: dict[int, int] = {}  # id(tensor) -> its latest node
        self.keep: list[torch.Tensor] = []  # alive tensors keep their ids unique
        self.avoid_depth = 0

    def node(self, t: torch.Tensor) -> int:
        """The latest node of tensor t; a leaf for one no operator wrote (an input,
        a parameter)."""
        if id(t) not in self.current:
            self.current[id(t)] = self._add([], "", False)
            self.keep.append(t)
        return self.current[id(t)]

    def _add(self, preds: list[int], op: str, blocked: bool) -> int:
        self.preds.append(preds)
        self.ops.append(op)
        self.blocked.append(blocked)
        return len(self.preds) - 1

    def record(self, call: AtenCall) -> None:
        """Add the nodes of one operator call."""
        inputs = [] if call.op in _SHAPE_ONLY_OPS else call.inputs
        preds = [self.node(t) for t in inputs]
        for t in call.outputs:
            self.current[id(t)] = self._add(preds, call.op, self.avoid_depth > 0)
            self.keep.append(t)


def _check_names(model: nn.Module, names: Sequence[str], what: str) -> None:
    known = dict(model.named_modules())
    for name in names:
        if not name or name not in known:
            raise ValueError(
                f"{what} {name!r} is not a submodule of {type(model).__name__}"
            )


def _lengths(
    rec: _Dataflow, sources: set[int], target: int, counted: set[str]
) -> PathLengths:
    """Dynamic programming over the nodes in record (topological) order."""
    short: list[float] = []
    long: list[float] = []
    for n, preds in enumerate(rec.preds):
        if n in sources:
            short.append(0)
            long.append(0)
            continue
        reach = [p for p in preds if short[p] != float("inf")]
        if rec.blocked[n] or not reach:
            short.append(float("inf"))
            long.append(float("-inf"))
            continue
        cost = int(rec.ops[n] in counted)
        short.append(min(short[p] for p in reach) + cost)
        long.append(max(long[p] for p in reach) + cost)
    if short[target] == float("inf"):
        return PathLengths(None, None)
    return PathLengths(int(short[target]), int(long[target]))


def conv_path_lengths(
    model: nn.Module,
    input_shape: Sequence[int],
    source: str | None,
    target: int = -1,
    avoid: Sequence[str] = (),
    counted: Sequence[str] = ("convolution",),
) -> PathLengths:
    """Fewest and most convolutions from the output of submodule `source` (None: the
    model input) to output tensor `target` of one forward pass, on any path that runs
    through no module named in `avoid`.

    `target` indexes the model's outputs flattened (a list, a dict's values in order).
    `counted` names the aten operators that count as a layer.
    """
    _check_names(model, [] if source is None else [source], "source")
    _check_names(model, avoid, "avoid")
    modules = dict(model.named_modules())
    rec = _Dataflow()
    sources: set[int] = set()

    def mark(module: nn.Module, args: tuple, output) -> None:
        sources.update(rec.node(t) for t in tensors(output))

    def enter(module: nn.Module, args: tuple) -> None:
        rec.avoid_depth += 1

    def leave(module: nn.Module, args: tuple, output) -> None:
        rec.avoid_depth -= 1

    hooks = [modules[name].register_forward_pre_hook(enter) for name in avoid]
    hooks += [modules[name].register_forward_hook(leave) for name in avoid]
    if source is not None:
        hooks.append(modules[source].register_forward_hook(mark))
    x = _example_input(model, input_shape)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), Recorder(rec.record):
            if source is None:
                sources.add(rec.node(x))
            outputs = tensors(run_forward(model, x))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    if not sources:
        raise ValueError(f"source {source!r} did not run in the forward pass")
    if not -len(outputs) <= target < len(outputs):
        raise ValueError(f"target {target} must index the {len(outputs)} outputs")
    return _lengths(rec, sources, rec.node(outputs[target]), set(counted))
