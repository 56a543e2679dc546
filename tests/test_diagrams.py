"""nblib.diagrams: every block the book explains is drawn from its module, and the
drawing holds exactly the module's convolutions and merges (so it cannot drift)."""

import copy
from collections import Counter

import pytest
import torch
from reference_models import shared_on_meta
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils._python_dispatch import TorchDispatchMode

from nblib import diagrams
from nblib.blocks.aspp import ASPP
from nblib.blocks.rfb import RFB
from nblib.blocks.spp import SPPBlock, SPPFBlock
from nblib.measure import count_params
from nblib.models import (
    REGISTRY,
    cspnet,
    darknet,
    densenet,
    image_size,
    inception,
    mobilenet,
    regnet,
    res2net,
    resnest,
    resnet,
    shufflenet,
    vit,
    vovnet,
)
from nblib.necks.asff import ASFF
from nblib.necks.bifpn import BiFPN
from nblib.necks.fpn import FPN
from nblib.necks.panet import PANet
from nblib.necks.sfam import SFAM, TUM


def in_model(name: str, cls: type, index: int = 0):
    """The index-th `cls` block of registry model `name` (its shared meta build: a
    test that changes the block copies it), with the shape it receives."""
    model = shared_on_meta(name)
    block = [m for m in model.modules() if isinstance(m, cls)][index]
    size = image_size(name)
    return block, diagrams.block_input(model, (1, 3, size, size), block)


def on_meta(make, shape):
    with torch.device("meta"):
        return make(), shape


C2_C5 = [256, 512, 1024, 2048]  # ResNet-50's C2 to C5, for a 224 image
PYRAMID = [(1, c, 56 // 2**i, 56 // 2**i) for i, c in enumerate(C2_C5)]
BLOCKS = {
    "basic block": lambda: in_model("resnet18", resnet.BasicBlock, 2),
    "bottleneck": lambda: in_model("resnet50", resnet.Bottleneck, 3),
    "pre-activation bottleneck": lambda: in_model(
        "preact_resnet50", resnet.PreActBottleneck, 3
    ),
    "ResNet-D downsampling bottleneck": lambda: in_model(
        "resnet50d", resnet.Bottleneck, 3
    ),
    "SE bottleneck": lambda: in_model("seresnet50", resnet.Bottleneck, 3),
    "ResNeXt bottleneck": lambda: in_model("resnext50_32x4d", resnet.Bottleneck, 3),
    "Inception module (v1)": lambda: in_model("googlenet", inception.Inception),
    "Inception-A (v3)": lambda: in_model("inception_v3", inception.InceptionA),
    "Inception-C (v3, factorised 7x7)": lambda: in_model(
        "inception_v3", inception.InceptionC
    ),
    "dense layer": lambda: in_model("densenet121", densenet.DenseLayer),
    "transition": lambda: in_model("densenet121", densenet.Transition),
    "ViT encoder block": lambda: in_model("vit_s_16", vit.EncoderBlock),
    "depthwise separable conv": lambda: in_model(
        "mobilenet_v1", mobilenet.DepthwiseSeparableConv, 1
    ),
    "inverted residual": lambda: in_model(
        "mobilenet_v2", mobilenet.InvertedResidual, 2
    ),
    "ShuffleNet v1 unit": lambda: in_model(
        "shufflenet_v1_g3", shufflenet.ShuffleUnit, 1
    ),
    "ShuffleNet v2 unit": lambda: in_model(
        "shufflenet_v2_x1_0", shufflenet.InvertedResidual, 1
    ),
    "ShuffleNet v2 downsampling unit": lambda: in_model(
        "shufflenet_v2_x1_0", shufflenet.InvertedResidual, 0
    ),
    "Darknet block": lambda: in_model("darknet53", darknet.DarkBlock, 1),
    "CSP stage": lambda: in_model("cspdarknet53", cspnet.CrossStage, 1),
    "OSA module": lambda: in_model("vovnet39a", vovnet.OsaBlock),
    "RegNet X block": lambda: in_model("regnet_x_400mf", regnet.ResBottleneckBlock, 1),
    "RegNet Y block": lambda: in_model("regnet_y_400mf", regnet.ResBottleneckBlock, 1),
    "split attention": lambda: in_model("resnest50d", resnest.SplitAttention, 1),
    "Res2Net bottleneck": lambda: in_model("res2net50_26w_4s", res2net.Bottle2neck, 1),
    "SPP": lambda: on_meta(lambda: SPPBlock(512, 512), (1, 512, 13, 13)),
    "SPPF": lambda: on_meta(lambda: SPPFBlock(512, 512), (1, 512, 13, 13)),
    "ASPP": lambda: on_meta(lambda: ASPP(512, [6, 12, 18], 64), (1, 512, 32, 32)),
    "RFB": lambda: on_meta(lambda: RFB(256, 256), (1, 256, 38, 38)),
    "FPN": lambda: on_meta(lambda: FPN(C2_C5, 256), PYRAMID),
    "PANet": lambda: on_meta(lambda: PANet(C2_C5, 256), PYRAMID),
    "BiFPN layer": lambda: on_meta(
        lambda: BiFPN([64] * 5, 64), [(1, 64, 2**s, 2**s) for s in range(6, 1, -1)]
    ),
    "ASFF (level 0)": lambda: on_meta(
        lambda: ASFF([256, 512, 1024], 0),
        [(1, 256, 52, 52), (1, 512, 26, 26), (1, 1024, 13, 13)],
    ),
    "TUM": lambda: on_meta(lambda: TUM(768, 256, 6), (1, 768, 40, 40)),
    "SFAM": lambda: on_meta(
        lambda: SFAM(2 * 256, 3),  # two TUMs, three scales
        [[(1, 256, s, s) for s in (40, 20, 10)]] * 2,
    ),
}


def merges_in(nodes) -> Counter:
    """The additions and concatenations a diagram draws."""
    labels = Counter(n.label.split(" · ")[0] for n in nodes if n.kind == "merge")
    return Counter({k: v for k, v in labels.items() if k in ("+", "concat")})


class _Merges(TorchDispatchMode):
    """Counts aten add and cat calls made outside leaf modules (an independent oracle:
    the diagram traces torch functions, this counts the kernels they dispatch)."""

    def __init__(self) -> None:
        super().__init__()
        self.depth, self.counts = 0, Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._overloadpacket.__name__
        if self.depth == 0 and name in ("add", "add_", "cat"):
            self.counts["concat" if name == "cat" else "+"] += 1
        return func(*args, **(kwargs or {}))


def functional_merges(module: nn.Module, shape) -> Counter:
    """Adds and concatenations the forward pass runs outside leaf modules (products
    are left out: attention's math kernel scales with element-wise products too)."""
    mode = _Merges()
    hooks = []
    for m in module.modules():
        if not list(m.children()) and m is not module:
            hooks.append(
                m.register_forward_pre_hook(
                    lambda *a: setattr(mode, "depth", mode.depth + 1)
                )
            )
            hooks.append(
                m.register_forward_hook(
                    lambda *a: setattr(mode, "depth", mode.depth - 1)
                )
            )
    x = diagrams._inputs(shape, torch.device("meta"))
    try:
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), mode:
            module.eval()(x)
    finally:
        for h in hooks:
            h.remove()
    return mode.counts


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_a_diagram_draws_exactly_the_modules_convolutions_and_merges(name):
    block, shape = BLOCKS[name]()
    drawing = diagrams.diagram(block, shape, name)
    assert diagrams.convolutions(drawing.nodes) == diagrams.module_convolutions(block)
    assert merges_in(drawing.nodes) == functional_merges(block, shape)
    html = drawing._repr_html_()
    assert html.count("<rect") + html.count("<circle") == len(drawing.nodes)
    assert f'aria-label="{name}"' in html and repr(drawing).startswith(
        f"Diagram of {name}:"
    )


def test_squeeze_excitation_is_drawn_as_a_gate_on_the_residual_branch():
    block, shape = BLOCKS["SE bottleneck"]()
    labels = Counter(
        n.label.split(" · ")[0] for n in diagrams.diagram(block, shape).nodes
    )
    assert labels["×"] == 1 and labels["global pool"] + labels["mean"] == 1


def test_a_changed_module_changes_its_picture():
    block, shape = BLOCKS["bottleneck"]()
    block = copy.deepcopy(block)  # changed below
    before = diagrams.diagram(block, shape)
    block.conv2.dilation, block.conv2.padding = (2, 2), (2, 2)  # same output shape
    after = diagrams.diagram(block, shape)
    assert diagrams.convolutions(before.nodes) != diagrams.convolutions(after.nodes)


def test_the_svg_is_deterministic_and_themed():
    block, shape = BLOCKS["inverted residual"]()
    one = diagrams.diagram(block, shape)._repr_html_()
    assert one == diagrams.diagram(block, shape)._repr_html_()
    assert "var(--pst-color-text-base" in one and "currentColor" in one
    assert 'width="100%"' in one  # shrinks to a phone's width


# Stage-level overviews of whole networks.

REGISTRY_SHAPES = [(r.name, (1, 3, r.image_size, r.image_size)) for r in REGISTRY]


def unit_params(model: nn.Module, paths) -> int:
    found = dict(diagrams.units(model, EXPAND.get(type(model).__name__, ())))
    return sum(p.numel() for path in paths for p in found[path].parameters())


EXPAND = {"VisionTransformer": ("encoder",)}


@pytest.mark.parametrize(
    "name,shape", REGISTRY_SHAPES, ids=[n for n, _ in REGISTRY_SHAPES]
)
def test_an_overview_accounts_for_every_unit_and_parameter(name, shape):
    model = shared_on_meta(name)
    expand = EXPAND.get(type(model).__name__, ())
    outputs = []  # the network's output in the overview's own forward pass
    hook = model.register_forward_hook(lambda m, args, out: outputs.append(out.shape))
    try:
        view = diagrams.overview(model, shape, name, expand)
    finally:
        hook.remove()
    paths = [p for s in view.stages for p in s.units]
    assert len(paths) == len(set(paths))  # each unit in one stage
    assert sorted(paths + list(view.unused)) == sorted(
        p for p, _ in diagrams.units(model, expand)
    )
    loose = dict(model.named_parameters())
    assert sum(s.params for s in view.stages) + unit_params(model, view.unused) + sum(
        loose[n].numel() for n in view.loose
    ) == count_params(model)
    # Each stage's parameters are its units' (no unit counted twice, none missed).
    for s in view.stages:
        assert s.params == unit_params(model, s.units)
    # The last stage's output is the network's; every feature map's stride is a
    # stage's reduction (stages split where the resolution changes).
    (out_shape,) = outputs
    assert view.stages[-1].out_shape == tuple(out_shape[1:])
    strides = {info["stride"] for info in getattr(model, "feature_info", [])}
    assert strides <= {s.reduction for s in view.stages}


def test_an_overview_counts_the_blocks_of_each_resnet_stage():
    model = shared_on_meta("resnet50")
    view = diagrams.overview(model, (1, 3, 224, 224), "ResNet-50")
    for k in range(1, 5):
        stage = next(s for s in view.stages if f"layer{k}" in s.name.split(" + "))
        blocks = [u for u in stage.units if u.startswith(f"layer{k}.")]
        assert len(blocks) == len(getattr(model, f"layer{k}"))
        assert f"{len(blocks)} × Bottleneck" in stage.kinds
    html = view._repr_html_()
    assert html.count('class="box stage"') == len(view.stages)
    assert repr(view).startswith("Overview of ResNet-50: 7 stages")


def test_a_deeper_network_changes_its_overview():
    shallow = diagrams.overview(shared_on_meta("resnet50"), (1, 3, 224, 224))
    deep = diagrams.overview(shared_on_meta("resnet101"), (1, 3, 224, 224))
    assert [s.kinds for s in shallow.stages] != [s.kinds for s in deep.stages]
    with pytest.raises(ValueError, match="expand"):
        diagrams.overview(
            shared_on_meta("resnet50"), (1, 3, 224, 224), expand=("encoder",)
        )
