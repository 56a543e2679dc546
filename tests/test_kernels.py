"""Kernel records: hand-checked on small cases, meta equal to CPU, and every registry
model (the two exceptions pinned and explained), ResNet-50 + FPN and ASPP launching
their reference's kernels."""

import pickle
from collections import Counter
from functools import cache

import pytest
import torch
from torch import nn
from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
from torchvision.models.segmentation.deeplabv3 import ASPP as TorchvisionASPP

from nblib.blocks.aspp import ASPP
from nblib.kernels import (
    Kernel,
    compare_kernels,
    compare_layouts,
    compare_with_reference,
    kernel_counts,
    reference_table,
)
from nblib.models import MODELS, build, reference_source
from nblib.necks import BackboneWithNeck
from nblib.necks.fpn import FPN


class Scale(nn.Module):
    def __init__(self, scale_first: bool) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1, 4, 1, 1))
        self.scale_first = scale_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x if self.scale_first else x * self.scale


def test_a_convolution_is_one_kernel_with_its_bytes():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    kernels, calls = kernel_counts(conv, (1, 3, 8, 8))
    (kernel,) = kernels
    assert kernel.op == "convolution" and kernels[kernel] == 1 and calls == 1
    assert kernel.outputs == (((1, 8, 8, 8), (512, 64, 8, 1), "float32"),)
    assert kernel.bytes == 4 * (3 * 8 * 8 + 8 * 3 * 3 * 3 + 8 * 8 * 8)  # in, w, out


def test_in_place_and_operand_order_do_not_change_the_kernel():
    inplace = compare_kernels(nn.ReLU(inplace=True), nn.ReLU(), (1, 4, 5, 5))
    assert inplace.identical
    order = compare_kernels(Scale(True), Scale(False), (1, 4, 5, 5))
    assert order.identical and order.ours == 1


def test_an_extra_kernel_is_named_and_counted():
    ours = nn.Sequential(nn.Conv2d(4, 4, 1), nn.ReLU())
    reference = nn.Conv2d(4, 4, 1)
    comparison = compare_kernels(ours, reference, (1, 4, 5, 5))
    assert not comparison.identical and not comparison.subset
    assert comparison.differences() == "relu x1 (ours only)"
    assert (comparison.ours, comparison.reference) == (2, 1)
    assert (comparison.ours_calls, comparison.reference_calls) == (3, 1)
    assert comparison.ours_bytes - comparison.reference_bytes == 2 * (4 * 5 * 5) * 4


def test_channels_last_converts_model_and_input():
    kernels, _ = kernel_counts(nn.Conv2d(4, 8, 1), (1, 4, 5, 5), channels_last=True)
    (kernel,) = kernels
    assert [strides for _, strides, _ in kernel.inputs[:2]] == [
        (100, 1, 20, 4),  # input (1, 4, 5, 5) channels-last
        (4, 1, 4, 4),  # weight (8, 4, 1, 1)
    ]
    assert kernel.outputs[0][1] == (200, 1, 40, 8)


def test_a_contiguous_copy_is_a_different_layout():
    ours = nn.Conv2d(4, 4, 1).to(memory_format=torch.channels_last)
    reference = nn.Conv2d(4, 4, 1)
    reference.load_state_dict(ours.state_dict())
    assert not compare_kernels(ours, reference, (1, 4, 5, 5)).identical


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "inception_v3"])
def test_meta_device_records_the_cpu_kernels(name):
    size = 299 if name == "inception_v3" else 64
    torch.manual_seed(0)
    on_cpu, calls = kernel_counts(build(name), (1, 3, size, size))
    with torch.device("meta"):
        on_meta, meta_calls = kernel_counts(build(name), (1, 3, size, size))
    assert meta_calls == calls and on_meta.total() == on_cpu.total()

    # Same operators on the same inputs with the same result; only eval-mode batch
    # norm's unused saved statistics differ (C floats on meta, empty on the CPU).
    def main(kernels):
        counts = Counter()
        for kernel, n in kernels.items():
            counts[kernel.op, kernel.inputs, kernel.outputs[0]] += n
        return counts

    assert main(on_meta) == main(on_cpu)
    assert {k.op for k in on_meta - on_cpu} <= {"native_batch_norm"}


# Where ours launches other kernels than its reference, and why ours moves fewer bytes.
FEWER_KERNELS = {
    # One concatenation of the six branch outputs in each InceptionE block, where
    # torchvision concatenates 384 + 384 channels twice and then all four branches.
    "inception_v3": "cat x2 (ours only), cat x6 (reference only)",
    # nn.MultiheadAttention copies q, k, v into one contiguous (3, N, B, D) block and
    # adds the residual across a transposed layout; ours reads q, k, v in place.
    "vit_b_16": "_scaled_dot_product_flash_attention_for_cpu x12 (ours only), "
    "add x12 (ours only), _scaled_dot_product_flash_attention_for_cpu x12 (reference "
    "only), add x12 (reference only), clone x12 (reference only)",
}


# Both layouts from one build of ours and the reference (the two tests of a model run
# one after the other); compare_with_reference is the same comparison, one layout at a
# time (test_reference_table_has_a_row_per_model).
both_layouts = cache(compare_layouts)


@pytest.mark.parametrize("channels_last", [False, True], ids=["NCHW", "NHWC"])
@pytest.mark.parametrize("name", [n for n in MODELS if reference_source(n)])
def test_ours_launches_the_reference_kernels(name, channels_last):
    comparison = both_layouts(name)[channels_last]
    if name in FEWER_KERNELS:
        assert comparison.differences() == FEWER_KERNELS[name]
        assert comparison.ours <= comparison.reference
        assert comparison.ours_bytes < comparison.reference_bytes
    else:
        assert comparison.identical, comparison.differences()
    # Python overhead: at most one module call more per ten than the reference's.
    assert comparison.ours_calls <= 1.1 * comparison.reference_calls


def plain_leaves(value) -> list:
    """Every leaf of a nested tuple."""
    if isinstance(value, tuple):
        return [leaf for item in value for leaf in plain_leaves(item)]
    return [value]


def test_kernel_records_are_plain_values_equal_across_runs():
    """A record holds no tensor, dtype or device object, only ints and strings: it
    outlives the forward pass, pickles, and is the same Counter key in another run
    (what comparing ours with a reference relies on)."""
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    first, _ = kernel_counts(model, (1, 3, 6, 6))
    second, _ = kernel_counts(model, (1, 3, 6, 6))
    assert first == second and len(first) == 2
    for kernel in first:
        leaves = plain_leaves((kernel.op, kernel.inputs, kernel.outputs))
        assert all(type(leaf) in (int, str) for leaf in leaves), kernel
        assert pickle.loads(pickle.dumps(kernel)) == kernel
        assert hash(kernel) == hash(Kernel(kernel.op, kernel.inputs, kernel.outputs))
    assert sorted(first)[0].op == "convolution"  # ordered: differences() is stable


def test_kernel_bytes_follow_the_dtype():
    def add(dtype: str) -> Kernel:
        return Kernel("add", (((2,), (1,), dtype),) * 2, (((2,), (1,), dtype),))

    assert add("float32").bytes == 3 * 2 * 4 and add("bfloat16").bytes == 3 * 2 * 2


def test_aspp_launches_torchvision_kernels():
    with torch.device("meta"):
        comparison = compare_kernels(
            ASPP(2048), TorchvisionASPP(2048, [6, 12, 18]), (2, 2048, 33, 33)
        )
    assert comparison.identical, comparison.differences()


def test_resnet50_fpn_launches_torchvision_kernels_but_the_pool_level():
    with torch.device("meta"):
        fpn = FPN([256, 512, 1024, 2048], 256)
        ours = BackboneWithNeck(build("resnet50"), fpn, [0, 1, 2, 3])
        reference = resnet_fpn_backbone(
            backbone_name="resnet50", weights=None, norm_layer=nn.BatchNorm2d
        )
        comparison = compare_kernels(ours, reference, (1, 3, 224, 224))
    # torchvision adds a fifth level, max_pool2d(P5, 1, 2), for the detection heads;
    # everything else is kernel for kernel the same.
    assert comparison.differences() == "max_pool2d_with_indices x1 (reference only)"


def test_reference_table_has_a_row_per_model():
    table = reference_table(["resnet18", "inception_v3"])
    assert list(table.index) == ["resnet18", "inception_v3"]
    assert table.identical.tolist() == [True, False]
    assert table.loc["resnet18", "traffic ours / ref."] == 1.0
    assert table.loc["inception_v3", "differences"] == FEWER_KERNELS["inception_v3"]
    assert table.loc["resnet18", "module calls ours / ref."] == pytest.approx(77 / 76)


def test_both_layouts_from_one_build_equal_one_layout_at_a_time():
    assert compare_layouts("resnet18") == (
        compare_with_reference("resnet18"),
        compare_with_reference("resnet18", channels_last=True),
    )
