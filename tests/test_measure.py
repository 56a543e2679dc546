"""nblib.measure against hand-computed cases."""

import pytest
import torch
import torchvision
from reference_models import shared_on_meta
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from nblib import measure
from nblib.book import randomised
from nblib.models import MODELS, image_size


def test_conv3x3_macs_and_params():
    conv = nn.Conv2d(16, 32, 3, padding=1)
    assert measure.count_params(conv) == 32 * 16 * 9 + 32
    assert measure.count_macs(conv, (1, 16, 10, 12)) == 10 * 12 * 32 * 16 * 9


def test_strided_conv_macs_use_output_size():
    conv = nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=False)
    assert measure.count_macs(conv, (2, 8, 16, 16)) == 2 * 8 * 8 * 8 * 8 * 9


def test_depthwise_conv_macs():
    conv = nn.Conv2d(24, 24, 3, padding=1, groups=24, bias=False)
    assert measure.count_params(conv) == 24 * 9
    assert measure.count_macs(conv, (1, 24, 7, 7)) == 7 * 7 * 24 * 9


def test_grouped_conv_macs():
    conv = nn.Conv2d(32, 64, 3, padding=1, groups=4, bias=False)
    assert measure.count_params(conv) == 64 * (32 // 4) * 9
    assert measure.count_macs(conv, (1, 32, 5, 5)) == 5 * 5 * 64 * (32 // 4) * 9


def test_linear_on_token_sequence_counts_every_token():
    linear = nn.Linear(64, 256)
    assert measure.count_macs(linear, (2, 197, 64)) == 2 * 197 * 64 * 256


def test_attention_is_counted():
    mha = nn.MultiheadAttention(embed_dim=32, num_heads=4, batch_first=True)

    class SelfAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = mha

        def forward(self, x):
            return self.mha(x, x, x, need_weights=False)[0]

    n, d = 10, 32
    projections = 4 * n * d * d  # q, k, v and output projections
    scores_and_mix = 2 * n * n * d  # q k^T and attention @ v, over all heads together
    assert (
        measure.count_macs(SelfAttention(), (1, n, d)) == projections + scores_and_mix
    )


def test_memory_access_cost_of_1x1_conv():
    h, w, c1, c2 = 7, 9, 16, 24
    conv = nn.Conv2d(c1, c2, 1, bias=False)
    assert (
        measure.memory_access_cost(conv, (1, c1, h, w)) == h * w * (c1 + c2) + c1 * c2
    )


def test_op_costs_attribute_ops_to_innermost_module():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False), nn.ReLU())
    layers = measure.layer_costs(measure.op_costs(model, (1, 3, 6, 6)))
    assert [(layer.module, layer.ops) for layer in layers] == [
        ("0", "convolution"),
        ("1", "relu"),
    ]
    assert layers[1].mac == 2 * 8 * 4 * 4  # ReLU reads and writes each element once


def test_per_op_macs_sum_to_total_and_catch_the_residual_add():
    model = torchvision.models.resnet18()
    ops = measure.op_costs(model, (1, 3, 64, 64))
    assert sum(op.macs for op in ops) == measure.count_macs(model, (1, 3, 64, 64))
    assert any(op.module == "layer1.0" and op.op.startswith("add") for op in ops)


def test_vit_b16_macs_and_torchinfo_undercount():
    vit = randomised(torchvision.models.vit_b_16)  # values needed, not the init's
    macs = measure.count_macs(vit, (1, 3, 224, 224))
    assert round(macs / 1e9, 2) == 17.56
    assert round(measure.torchinfo_mult_adds(vit, (1, 3, 224, 224)) / 1e9, 2) == 0.17


def test_activation_memory_skips_inplace_relu():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(inplace=True), nn.Conv2d(4, 2, 1))
    assert measure.activation_memory(model, (1, 3, 5, 5)) == (4 + 2) * 25 * 4


def test_layer_table_is_trimmed():
    table = measure.layer_table(
        torchvision.models.resnet18(), (1, 3, 32, 32), depth=2, max_rows=6
    )
    assert "rows cut" in table and "Total params: 11,689,512" in table


def test_counting_restores_training_mode():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).train()
    measure.count_macs(model, (2, 3, 8, 8))
    assert model.training


@pytest.mark.parametrize(
    "shape", [(-1, 3, 8, 8), (0, 3, 8, 8), (3,), "1,3,8,8", (1, 3, 8.0, 8)]
)
def test_bad_input_shape_names_the_argument(shape):
    with pytest.raises(ValueError, match="input_shape"):
        measure.count_macs(nn.Conv2d(3, 3, 1), shape)


def test_bad_depth_names_the_argument():
    with pytest.raises(ValueError, match="depth"):
        measure.layer_table(nn.Conv2d(3, 3, 1), (1, 3, 4, 4), depth=-1)


@pytest.mark.parametrize(
    "count",
    [
        measure.count_macs,
        measure.memory_access_cost,
        measure.activation_memory,
        measure.torchinfo_mult_adds,
    ],
)
def test_wrong_input_rank_for_the_model_names_the_argument(count):
    with pytest.raises(
        ValueError, match=r"input_shape \(3, 32, 32\) does not fit ResNet"
    ):
        count(torchvision.models.resnet18(), (3, 32, 32))  # batch dimension missing


def test_cost_summary_agrees_with_the_single_counters():
    model = torchvision.models.resnet18()
    summary = measure.cost_summary(model, (1, 3, 32, 32))
    assert summary == {
        "params": 11_689_512,
        "macs": measure.count_macs(model, (1, 3, 32, 32)),
        "memory_access": measure.memory_access_cost(model, (1, 3, 32, 32)),
        "activation_bytes": measure.activation_memory(model, (1, 3, 32, 32)),
        "operators": len(measure.op_costs(model, (1, 3, 32, 32))),
    }
    # ResNet-18's operators at batch 1: 20 convolutions, 20 BNs, 17 ReLUs, 8 adds,
    # the stem's max pool, the global mean and the classifier's addmm
    assert summary["operators"] == 20 + 20 + 17 + 8 + 1 + 1 + 1


def test_activation_memory_counts_functional_ops_and_works_on_meta():
    class AddCat(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1, bias=False)

        def forward(self, x):
            y = self.conv(x)  # 4 x 25 new elements
            return torch.cat([y, y + 1], dim=1)  # add: 4 x 25, cat: 8 x 25

    assert measure.activation_memory(AddCat(), (1, 3, 5, 5)) == (4 + 4 + 8) * 25 * 4
    with torch.device("meta"):
        model = AddCat()
    assert measure.activation_memory(model, (1, 3, 5, 5)) == (4 + 4 + 8) * 25 * 4


def test_costs_on_the_meta_device_equal_costs_on_the_cpu():
    # Eval-mode batch norm's saved statistics: empty on the CPU, C floats on meta.
    torch.manual_seed(0)
    on_cpu = measure.cost_summary(torchvision.models.resnet18(), (1, 3, 32, 32))
    with torch.device("meta"):
        model = torchvision.models.resnet18()
    assert measure.cost_summary(model, (1, 3, 32, 32)) == on_cpu


class _Trace(TorchDispatchMode):
    """An independent record of what a forward dispatches: the name of every operator
    that reads a tensor (views, aliases and factories skipped, as the counter skips
    them), in order."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func._overloadpacket.__name__
        reads = any(
            isinstance(a, torch.Tensor) for a in tree_flatten((args, kwargs))[0]
        )
        if (
            reads
            and not func.is_view
            and name not in ("alias", "lift_fresh", "_unsafe_view")
        ):
            self.ops.append(name)
        return func(*args, **(kwargs or {}))


def grad_free_ops(model: nn.Module, input_shape: tuple) -> list[str]:
    """The forward with autograd on but nothing requiring grad: autograd then saves
    nothing, so no copy for backward can appear, by another route than no_grad."""
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    x = torch.randn(input_shape, device=next(model.parameters()).device)
    try:
        with (
            torch.enable_grad(),
            measure.mha_fast_path(False),
            sdpa_kernel(SDPBackend.MATH),
            _Trace() as trace,
        ):
            model.eval()(x)
    finally:
        for p in params:
            p.requires_grad_(True)
    return trace.ops


@pytest.mark.parametrize("name", sorted(MODELS))
def test_op_costs_record_exactly_what_an_inference_forward_runs(name):
    """No autograd artefact: with nothing to save for backward, an in-place op needs no
    copy, so the counter's operators equal a trace in which no tensor requires grad
    (recording with grad, as the counter once did, adds a `clone` per hardtanh_)."""
    model = shared_on_meta(name)
    size = image_size(name)
    recorded = [op.op for op in measure.op_costs(model, (1, 3, size, size))]
    assert recorded == grad_free_ops(model, (1, 3, size, size))


def test_mobilenet_v2_counts_one_operator_per_layer_op():
    model = shared_on_meta("mobilenet_v2")
    ops = [op.op for op in measure.op_costs(model, (1, 3, 224, 224))]
    assert ops.count("clone") == 0 and ops.count("hardtanh_") == 35
    # 52 conv + 52 BN + 35 ReLU6 + 10 residual adds + pool, flatten-free mean, linear
    assert len(ops) == 151
