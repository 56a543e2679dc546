"""Block diagrams drawn from the module itself, so a picture cannot drift from the code.

`trace` runs one forward pass (on the meta device: shapes only) and records every leaf
module call and every functional merge (add, cat, mul, split) with the tensors that
flow between them; `fuse` folds conv -> norm -> activation chains into one node; `svg`
lays the graph out top to bottom and writes an SVG whose colours follow the page's
theme (light or dark).
"""

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from html import escape
from itertools import pairwise

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from nblib.measure import check_input_shape

NORMS = (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.BatchNorm1d)
NORM_LABELS: dict[type[nn.Module], str] = {nn.BatchNorm2d: "BN", nn.BatchNorm1d: "BN"}
ACTS = (
    nn.ReLU,
    nn.ReLU6,
    nn.SiLU,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Sigmoid,
    nn.GELU,
    nn.LeakyReLU,
    nn.Mish,
    nn.Tanh,
    nn.PReLU,
)
# Functions that only relabel a tensor: the diagram follows them through.
PASS_THROUGH = {
    "view",
    "reshape",
    "flatten",
    "contiguous",
    "__getitem__",
    "squeeze",
    "unsqueeze",
    "expand_as",
    "expand",
    "clone",
    "to",
    "float",
    "type_as",
    "permute",
    "unbind",
    "__iter__",
}
# Functions drawn as a node: merges, splits and the few element-wise ops blocks use.
DRAWN = {
    "add": "+",
    "__add__": "+",
    "__iadd__": "+",
    "add_": "+",
    "__radd__": "+",
    "cat": "concat",
    "mul": "×",
    "__mul__": "×",
    "__rmul__": "×",
    "mul_": "×",
    "chunk": "split",
    "split": "split",
    "transpose": "channel shuffle",
    "relu": "ReLU",
    "relu_": "ReLU",
    "sigmoid": "sigmoid",
    "softmax": "softmax",
    "interpolate": "upsample",
    "max_pool2d": "max pool",
    "avg_pool2d": "avg pool",
    "adaptive_avg_pool2d": "global avg pool",
    "mean": "mean",
    "sum": "sum",
    "scaled_dot_product_attention": "attention",
    "matmul": "matmul",
    "__matmul__": "matmul",
    "linear": "linear",
}


@dataclass
class Node:
    """One box of the diagram: what ran, its settings, where its inputs came from."""

    id: int
    kind: str  # input, conv, linear, norm, act, pool, merge, split, other
    label: str
    detail: str = ""
    inputs: list[int] = field(default_factory=list)
    module: nn.Module | None = None
    shape: tuple[int, ...] = ()
    conv: tuple | None = None  # (in, out, kernel, stride, dilation, groups) when traced


def _conv_detail(m: nn.Conv2d) -> str:
    k = "x".join(map(str, m.kernel_size))
    parts = [f"{m.in_channels}→{m.out_channels}"]
    if m.stride != (1, 1):
        parts.append(f"s{m.stride[0]}")
    if m.dilation != (1, 1):
        parts.append(f"d{m.dilation[0]}")
    if m.groups > 1:
        parts.append("depthwise" if m.groups == m.in_channels else f"g{m.groups}")
    return f"{k}, " + ", ".join(parts)


def _describe(m: nn.Module) -> tuple[str, str, str]:
    """(kind, label, detail) of a leaf module."""
    if isinstance(m, nn.Conv2d):
        return "conv", "conv", _conv_detail(m)
    if isinstance(m, nn.Linear):
        return "linear", "linear", f"{m.in_features}→{m.out_features}"
    if isinstance(m, NORMS):
        return (
            "norm",
            NORM_LABELS.get(type(m), type(m).__name__),
            "",
        )
    if isinstance(m, ACTS):
        return "act", type(m).__name__, ""
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        k = m.kernel_size if isinstance(m.kernel_size, int) else m.kernel_size[0]
        s = m.stride if isinstance(m.stride, int) else m.stride[0]
        name = "max pool" if isinstance(m, nn.MaxPool2d) else "avg pool"
        return "pool", name, f"{k}x{k}" + (f", s{s}" if s != 1 else "")
    if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return "pool", "global pool", ""
    return "other", type(m).__name__, ""


class _Tracer(TorchFunctionMode):
    """Records functional ops outside leaf modules; leaf calls come from hooks."""

    def __init__(self, graph: "Graph") -> None:
        super().__init__()
        self.graph = graph

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.graph.depth == 0:
            self.graph.functional(
                getattr(func, "__name__", str(func)), (args, kwargs), out
            )
        return out


class Graph:
    """The traced data flow of one forward pass."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.producer: dict[int, int] = {}  # id(tensor) -> node id
        self.keep: list[
            torch.Tensor
        ] = []  # keeps traced tensors alive (ids stay unique)
        self.depth = 0

    def add(self, kind, label, detail, inputs, out, module=None) -> None:
        sources = list(
            dict.fromkeys(
                self.producer[id(t)] for t in inputs if id(t) in self.producer
            )
        )
        outs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        node = Node(
            len(self.nodes),
            kind,
            label,
            detail,
            sources,
            module,
            tuple(outs[0].shape) if outs else (),
            conv_signature(module) if isinstance(module, nn.Conv2d) else None,
        )
        self.nodes.append(node)
        for t in outs:
            self.producer[id(t)] = node.id
            self.keep.append(t)

    def functional(self, name: str, args, out) -> None:
        tensors = [t for t in tree_flatten(args)[0] if isinstance(t, torch.Tensor)]
        traced = [t for t in tensors if id(t) in self.producer]
        if not traced:
            return
        if name == "transpose" and tensors[0].dim() != 5:
            name = "view"  # only a 5-D transpose is a channel shuffle
        if name in PASS_THROUGH:  # follow the tensor through a relabelling
            source = self.producer[id(traced[0])]
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor):
                    self.producer[id(t)] = source
                    self.keep.append(t)
        elif name in DRAWN:
            label = DRAWN[name]
            kind = (
                "merge"
                if label in ("+", "concat", "×")
                else "split"
                if label == "split"
                else "linear"
                if label == "linear"
                else "pool"
                if "pool" in label
                else "act"
                if label in ("ReLU", "sigmoid", "softmax")
                else "other"
            )
            self.add(kind, label, "", tensors, out)


Shapes = tuple[int, ...] | list  # a shape, or a (nested) list of shapes


def _inputs(spec: Shapes, device: torch.device):
    """Random tensors shaped like `spec`, nested as it is (a neck takes a list)."""
    if isinstance(spec, list):
        if not spec:
            raise ValueError("input_shape must not hold an empty list")
        return [_inputs(s, device) for s in spec]
    return torch.randn(check_input_shape(spec), device=device)


def trace(module: nn.Module, input_shape: Shapes) -> Graph:
    """The data flow of one forward pass of `module` at `input_shape` (a list of shapes
    for a neck, which takes a list of maps), run where the module's parameters live
    (the meta device: shapes only), in eval mode."""
    param = next(module.parameters(), None)
    x = _inputs(input_shape, param.device if param is not None else torch.device("cpu"))
    graph = Graph()
    for t in tree_flatten(x)[0]:
        graph.add("input", "input", "×".join(map(str, t.shape[1:])), [], t)
    hooks = []

    def enter(m, args):
        graph.depth += 1

    def leave(m, args, out):
        graph.depth -= 1
        if graph.depth == 0 and isinstance(m, (nn.Identity, nn.Dropout, nn.Flatten)):
            graph.functional("view", args, out)  # drawn through, like a relabelling
        elif graph.depth == 0:
            kind, label, detail = _describe(m)
            graph.add(
                kind,
                label,
                detail,
                [t for t in tree_flatten(args)[0] if isinstance(t, torch.Tensor)],
                out,
                m,
            )

    for m in module.modules():
        if not list(m.children()) and m is not module:
            hooks += [
                m.register_forward_pre_hook(enter),
                m.register_forward_hook(leave),
            ]
    was_training = module.training
    try:
        with torch.no_grad(), _Tracer(graph):
            module.eval()(x)
    finally:
        module.train(was_training)
        for h in hooks:
            h.remove()
    graph.keep.clear()
    return graph


def fuse(graph: Graph) -> list[Node]:
    """Conv/linear -> norm -> activation chains as one node (the way papers draw them):
    a norm or activation whose only input has no other consumer joins that node."""
    consumers = Counter(i for n in graph.nodes for i in n.inputs)
    merged: dict[int, int] = {}  # node id -> the node it joined
    nodes: dict[int, Node] = {}
    for n in graph.nodes:
        inputs = [merged.get(i, i) for i in n.inputs]
        if (
            n.kind in ("norm", "act")
            and len(inputs) == 1
            and consumers[n.inputs[0]] == 1
            and nodes[inputs[0]].kind in ("conv", "linear", "norm", "act", "merge")
            and not (nodes[inputs[0]].kind == "merge" and n.kind == "norm")
        ):
            host = nodes[inputs[0]]
            host.label += f" · {n.label}"
            host.shape = n.shape
            merged[n.id] = host.id
            continue
        nodes[n.id] = Node(
            n.id, n.kind, n.label, n.detail, inputs, n.module, n.shape, n.conv
        )
    return list(nodes.values())


BOX_W, BOX_H, GAP_X, GAP_Y, LANE = 168, 40, 20, 26, 16


@dataclass
class Layout:
    """Where each node sits (centre x, layer) and the bends of every edge: an edge
    that skips layers passes through a narrow lane of its own in each one it crosses,
    so it never runs through a box."""

    x: dict[int, float]
    layer: dict[int, int]
    edges: list[tuple[int, int, list[tuple[float, int]]]]  # (from, to, bends)
    width: float
    depth: int


def layout(nodes: list[Node], by_level: bool = False, box_w: int = BOX_W) -> Layout:
    """Layers by longest path from the input; within a layer, items ordered by the
    mean x of their inputs (top-down), then of their consumers (bottom-up), then again
    top-down: the Sugiyama heuristic, enough for the blocks of this book. `by_level`
    puts each pyramid level (map size, largest first) in a column of its own, the way
    FPN-like necks are drawn."""
    layer: dict[int, int] = {}
    for n in nodes:
        layer[n.id] = 1 + max((layer[i] for i in n.inputs), default=-1)
    sizes = sorted({n.shape[-1] for n in nodes if len(n.shape) == 4}, reverse=True)
    column: dict = {
        n.id: sizes.index(n.shape[-1]) if by_level and len(n.shape) == 4 else 0
        for n in nodes
    }
    rows: dict[int, list] = defaultdict(list)  # items: node ids, or (edge, k) lanes
    preds: dict = defaultdict(list)
    succs: dict = defaultdict(list)
    chains: list[tuple[int, list[tuple[int, int, int]], int]] = []  # from, lanes, to
    for n in nodes:
        rows[layer[n.id]].append(n.id)
        for i in n.inputs:
            lanes = [(i, n.id, d) for d in range(layer[i] + 1, layer[n.id])]
            chain = [i, *lanes, n.id]
            for d, lane in enumerate(lanes, start=layer[i] + 1):
                rows[d].append(lane)
                column[lane] = column[n.id]
            for a, b in pairwise(chain):
                preds[b].append(a)
                succs[a].append(b)
            chains.append((i, lanes, n.id))
    width_of = {
        item: (box_w if isinstance(item, int) else LANE)
        for r in rows.values()
        for item in r
    }

    def cell_width(items: list) -> float:
        return sum(width_of[i] for i in items) + GAP_X * (len(items) - 1)

    columns = sorted(set(column.values()))
    span = {
        c: max(cell_width([i for i in r if column[i] == c]) for r in rows.values())
        for c in columns
    }
    left_of, left = {}, 0.0
    for c in columns:
        left_of[c], left = left, left + span[c] + GAP_X
    x: dict = {}

    def place(row: list) -> None:
        for c in columns:
            cell = [i for i in row if column[i] == c]
            start = left_of[c] + (span[c] - cell_width(cell)) / 2
            for item in cell:
                x[item] = start + width_of[item] / 2
                start += width_of[item] + GAP_X

    for depth in sorted(rows):
        place(rows[depth])
    for order, neighbours in (
        (sorted(rows), preds),
        (sorted(rows, reverse=True), succs),
        (sorted(rows), preds),
    ):
        for depth in order:
            row = rows[depth]
            key = {
                i: sum(x[j] for j in neighbours[i]) / len(neighbours[i])
                if neighbours[i]
                else x[i]
                for i in row
            }
            row.sort(key=lambda i: (column[i], key[i]))
            place(row)
    low = min(x[i] - width_of[i] / 2 for i in x)
    high = max(x[i] + width_of[i] / 2 for i in x)
    shift = -low + GAP_X / 2
    edges = [
        (a, b, [(x[lane] + shift, lane[2]) for lane in lanes]) for a, lanes, b in chains
    ]
    return Layout(
        {i: x[i] + shift for i in layer},
        layer,
        edges,
        high - low + GAP_X,
        max(layer.values()) + 1,
    )


# Colours from the book theme's variables (fallbacks for Jupyter and Colab). The wrapper
# paints the page's own background: the dark theme gives HTML outputs a light one.
STYLE = (
    "<style>.bx-diagram-wrap{background:var(--pst-color-background,transparent);"
    "padding:4px 0;overflow-x:auto}"
    ".bx-diagram{color:var(--pst-color-text-base,#222);font:11px sans-serif}"
    ".bx-diagram .box{fill:var(--pst-color-surface,#f3f4f5);stroke:currentColor;"
    "stroke-width:1}"
    ".bx-diagram .conv{fill:var(--pst-color-primary-bg,#dbe8f7)}"
    ".bx-diagram .merge{fill:var(--pst-color-warning-bg,#fbeed5)}"
    ".bx-diagram .input{fill:none;stroke-dasharray:3 2}"
    ".bx-diagram text{fill:currentColor;text-anchor:middle}"
    ".bx-diagram .edge{stroke:currentColor;fill:none;marker-end:url(#bx-arrow)}</style>"
)


def _y(depth: int) -> float:
    return GAP_Y + depth * (BOX_H + GAP_Y) + BOX_H / 2


def _shape_text(n: Node) -> str:
    if n.kind == "input" or not n.shape:
        return ""
    shape = n.shape[1:]
    if n.label == "channel shuffle" and len(shape) == 4:  # (g, C/g, H, W) -> (C, H, W)
        shape = (shape[0] * shape[1], *shape[2:])
    return "×".join(map(str, shape))


def svg(
    nodes: list[Node], title: str = "", by_level: bool = False, box_w: int = BOX_W
) -> str:
    """The diagram as inline SVG (HTML), top to bottom; scales to a phone's width."""
    where = layout(nodes, by_level, box_w)
    by_id = {n.id: n for n in nodes}
    parts = []
    for a, b, bends in where.edges:
        r_a = 13 if by_id[a].label.split(" · ")[0] in ("+", "×") else BOX_H / 2
        r_b = 13 if by_id[b].label.split(" · ")[0] in ("+", "×") else BOX_H / 2
        points = (
            [(where.x[a], _y(where.layer[a]) + r_a)]
            + [(bx, _y(d)) for bx, d in bends]
            + [(where.x[b], _y(where.layer[b]) - r_b - 1)]
        )
        path = f"M{points[0][0]:.0f},{points[0][1]:.0f}"
        for (x0, y0), (x1, y1) in pairwise(points):
            mid = (y0 + y1) / 2
            path += f" C{x0:.0f},{mid:.0f} {x1:.0f},{mid:.0f} {x1:.0f},{y1:.0f}"
        parts.append(f'<path class="edge" d="{path}"/>')
    for n in nodes:
        x, y = where.x[n.id], _y(where.layer[n.id])
        lines = [n.label] + [t for t in (n.detail, _shape_text(n)) if t]
        if n.kind == "merge" and n.label.split(" · ")[0] in ("+", "×"):
            parts.append(
                f'<circle class="box merge" cx="{x:.0f}" cy="{y:.0f}" r="13"/>'
                f'<text x="{x:.0f}" y="{y + 4:.0f}">'
                f"{escape(n.label.split(' · ')[0])}</text>"
            )
            extra = " · ".join(n.label.split(" · ")[1:])
            if extra:
                parts.append(
                    f'<text x="{x + 18:.0f}" y="{y + 4:.0f}" '
                    f'style="text-anchor:start">{escape(extra)}</text>'
                )
            continue
        parts.append(
            f'<rect class="box {n.kind}" x="{x - box_w / 2:.0f}" '
            f'y="{y - BOX_H / 2:.0f}" width="{box_w}" height="{BOX_H}" rx="5"/>'
        )
        top = y - (len(lines) - 1) * 6.5 + 4
        for k, line in enumerate(lines[:3]):
            parts.append(
                f'<text x="{x:.0f}" y="{top + 13 * k:.0f}">{escape(line)}</text>'
            )
    height = where.depth * (BOX_H + GAP_Y) + GAP_Y
    label = escape(title or "block diagram")
    # Shrinks with the page, but never below 3/4 of its size (text stays >= 8 px): a
    # wide neck scrolls sideways on a phone instead.
    least = min(where.width, max(360, 0.75 * where.width))
    return (
        f'<div class="bx-diagram-wrap">{STYLE}<svg class="bx-diagram" role="img" '
        f'aria-label="{label}" viewBox="0 0 {where.width:.0f} {height:.0f}" '
        f'width="100%" style="max-width:{where.width:.0f}px;min-width:{least:.0f}px">'
        '<defs><marker id="bx-arrow" viewBox="0 0 8 8" refX="8" refY="4" '
        'markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0L8,4L0,8z" '
        'fill="currentColor"/></marker></defs>'
        f"<title>{label}</title>{''.join(parts)}</svg></div>"
    )


@dataclass(frozen=True)
class Diagram:
    """What a notebook displays: the SVG as HTML, and a one-line text for strict nbval
    and screen readers (what the picture holds)."""

    title: str
    nodes: tuple[Node, ...]
    by_level: bool = False

    def _repr_html_(self) -> str:
        return svg(list(self.nodes), self.title, self.by_level)

    def __repr__(self) -> str:
        counts = Counter(n.kind for n in self.nodes if n.kind != "input")
        merges = Counter(
            n.label.split(" · ")[0] for n in self.nodes if n.kind in ("merge", "split")
        )
        what = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        how = ", ".join(f"{v} {k}" for k, v in sorted(merges.items()))
        return f"Diagram of {self.title}: {what}" + (f" (merges: {how})" if how else "")


def diagram(
    module: nn.Module,
    input_shape: Shapes,
    title: str = "",
    by_level: bool | None = None,
) -> Diagram:
    """Trace `module` at `input_shape` and return its drawable, fused diagram; a module
    that takes a list of maps (a neck) is drawn a column per pyramid level unless
    `by_level` says otherwise."""
    nodes = fuse(trace(module, input_shape))
    level = isinstance(input_shape, list) if by_level is None else by_level
    return Diagram(title or type(module).__name__, tuple(nodes), level)


def conv_signature(m: nn.Conv2d) -> tuple:
    """What a drawing says of a convolution:
    (in, out, kernel, stride, dilation, groups)."""
    return (
        m.in_channels,
        m.out_channels,
        m.kernel_size,
        m.stride,
        m.dilation,
        m.groups,
    )


def convolutions(nodes: list[Node] | tuple[Node, ...]) -> Counter:
    """The convolutions a diagram draws, as they were when it was traced: the drift
    test compares them with the module's own."""
    return Counter(n.conv for n in nodes if n.conv is not None)


def module_convolutions(module: nn.Module) -> Counter:
    """The same signature for every Conv2d the module holds now."""
    return Counter(
        conv_signature(m) for m in module.modules() if isinstance(m, nn.Conv2d)
    )


def block_input(
    model: nn.Module, input_shape: tuple[int, ...], block: nn.Module
) -> tuple[int, ...] | list[tuple[int, ...]]:
    """The shape (or list of shapes) `block` receives when `model` runs on
    `input_shape`: what to draw a block of a real network at."""
    seen: list = []

    def grab(m, args):
        if not seen:
            first = args[0]
            seen.append(
                [tuple(t.shape) for t in first]
                if isinstance(first, (list, tuple))
                else tuple(first.shape)
            )

    handle = block.register_forward_pre_hook(grab)
    param = next(model.parameters(), None)
    x = torch.randn(
        check_input_shape(input_shape),
        device=param.device if param is not None else "cpu",
    )
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        handle.remove()
    if not seen:
        raise ValueError(
            f"{type(block).__name__} is not called by {type(model).__name__}"
        )
    return seen[0]


# Modules an overview does not name when a stage holds anything else: they are part of
# the units around them (a norm after a convolution, the activation after a norm).
_QUIET = (*NORMS, *ACTS, nn.Identity, nn.Dropout, nn.Flatten)
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


@dataclass(frozen=True)
class Stage:
    """One box of a network's overview: consecutive units whose output has the same
    resolution (map size, token count, or a plain vector)."""

    name: str  # e.g. "layer2", "features.2–4", "maxpool + layer1"
    units: tuple[str, ...]  # the units' module paths, in call order
    kinds: str  # what they are, e.g. "4 × Bottleneck"
    out_shape: tuple[int, ...]  # without the batch dimension
    params: int
    reduction: int  # nominal stride: input size / output size (1 for tokens, vectors)


def units(
    model: nn.Module, expand: tuple[str, ...] = ()
) -> list[tuple[str, nn.Module]]:
    """The modules an overview groups into stages: walking down from the model's
    children, plain containers (Sequential, ModuleList, ModuleDict) and the paths named
    in `expand` are opened; any other module is a unit (a block class, a layer)."""
    found: list[tuple[str, nn.Module]] = []

    def walk(prefix: str, module: nn.Module) -> None:
        for name, child in module.named_children():
            path = f"{prefix}.{name}" if prefix else name
            if type(child) in _CONTAINERS or path in expand:
                walk(path, child)
            else:
                found.append((path, child))

    walk("", model)
    return found


def _resolution(shape: tuple[int, ...]) -> tuple:
    return (
        tuple(shape[2:])
        if len(shape) == 4
        else ("tokens", shape[1:2])[: len(shape) - 1]
    )


def _stride(size_in: int, size_out: int) -> int:
    """The nominal stride, a power of two: 299 -> 35 is /8 (unpadded convolutions
    shave pixels off, as in Inception v3)."""
    return 2 ** round(math.log2(size_in / size_out))


def _stage_name(paths: list[str], all_paths: list[str]) -> str:
    """'layer2' when the stage holds every unit under layer2, else an index range."""
    parts = []
    for top in dict.fromkeys(p.split(".")[0] for p in paths):
        mine = [p for p in paths if p.split(".")[0] == top]
        under = [p for p in all_paths if p.split(".")[0] == top]
        if mine == under:
            parts.append(top)
        else:
            first, last = (
                m.split(".", 1)[1].split(".")[0] for m in (mine[0], mine[-1])
            )
            parts.append(f"{top}.{first}" + (f"–{last}" if last != first else ""))
    return " + ".join(parts) if len(parts) <= 3 else f"{parts[0]} … {parts[-1]}"


def _kinds(modules: list[nn.Module]) -> str:
    shown = [m for m in modules if not isinstance(m, _QUIET)] or modules
    counts = Counter(type(m).__name__ for m in shown)
    return ", ".join(f"{n} × {k}" if n > 1 else k for k, n in counts.items())


def _params_text(n: int) -> str:
    if n == 0:
        return "no parameters"
    return f"{n / 1e6:.2f} M params" if n >= 100_000 else f"{n / 1e3:.1f} K params"


@dataclass(frozen=True)
class Overview:
    """A whole network as a column of stages (what, widths, resolution, parameters),
    drawn from one forward pass; `unused` names units that inference never calls."""

    title: str
    input_shape: tuple[int, ...]
    stages: tuple[Stage, ...]
    unused: tuple[str, ...] = ()
    loose: tuple[str, ...] = ()  # parameters of no unit (e.g. ViT's class token)

    def nodes(self) -> list[Node]:
        """The stages as diagram nodes, one column from the input down."""
        nodes = [Node(0, "input", "input", "×".join(map(str, self.input_shape[1:])))]
        for i, s in enumerate(self.stages, start=1):
            spatial = len(s.out_shape) == 3 and s.out_shape[-1] > 1
            where = f" · /{s.reduction}" if spatial and s.reduction > 1 else ""
            label = f"{s.name} · {_params_text(s.params)}"
            nodes.append(
                Node(
                    i, "stage", label, s.kinds + where, [i - 1], shape=(1, *s.out_shape)
                )
            )
        return nodes

    def _repr_html_(self) -> str:
        return svg(self.nodes(), self.title, box_w=OVERVIEW_W)

    def __repr__(self) -> str:
        rows = [f"Overview of {self.title}: {len(self.stages)} stages"]
        if self.loose:
            rows[0] += f" (and {', '.join(self.loose)})"
        for s in self.stages:
            shape = "×".join(map(str, s.out_shape))
            rows.append(f"  {s.name}: {s.kinds} -> {shape}, {s.params:,} params")
        if self.unused:
            rows.append(f"  not called at inference: {', '.join(self.unused)}")
        return "\n".join(rows)


OVERVIEW_W = 300


def overview(
    model: nn.Module,
    input_shape: tuple[int, ...],
    title: str = "",
    expand: tuple[str, ...] = (),
) -> Overview:
    """Run `model` once at `input_shape` (where its parameters live: on the meta device
    only shapes) and group its units (see `units`) into stages: a new stage starts
    whenever a unit's output resolution differs from the previous unit's. `expand`
    names units to open (e.g. ViT's "encoder", to count its blocks)."""
    shape = check_input_shape(input_shape)
    found = units(model, expand)
    missing = set(expand) - {p for p, _ in model.named_modules()}
    if missing:
        raise ValueError(f"expand names no module of the model: {sorted(missing)}")
    calls: list[tuple[str, tuple]] = []  # (unit path, output shape), in call order
    hooks = []
    for path, module in found:

        def record(m, args, out, path=path):
            result = next(
                t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)
            )
            calls.append((path, tuple(result.shape)))

        hooks.append(module.register_forward_hook(record))
    param = next(model.parameters(), None)
    x = torch.randn(shape, device=param.device if param is not None else "cpu")
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    groups: list[list] = []
    for call in calls:
        if groups and _resolution(groups[-1][-1][1]) == _resolution(call[1]):
            groups[-1].append(call)
        else:
            groups.append([call])
    module_at = dict(found)
    all_paths = list(module_at)
    counted: set[str] = set()
    stages = []
    for group in groups:
        paths = list(dict.fromkeys(path for path, _ in group))
        modules = [module_at[p] for p in paths]
        counted.update(paths)
        out = group[-1][1]
        stages.append(
            Stage(
                _stage_name(paths, all_paths),
                tuple(paths),
                _kinds(modules),
                out[1:],
                sum(p.numel() for p in nn.ModuleList(modules).parameters()),
                _stride(shape[-1], out[-1]) if len(out) == 4 else 1,
            )
        )
    unused = tuple(p for p in all_paths if p not in counted)
    in_units = {id(p) for _, m in found for p in m.parameters()}
    loose = tuple(n for n, p in model.named_parameters() if id(p) not in in_units)
    return Overview(
        title or type(model).__name__, tuple(shape), tuple(stages), unused, loose
    )
