"""nblib.dispatch: the one recorder measure, kernels and paths consume."""

import meta_batch_norm
import pytest
import torch

from nblib.dispatch import DATA_FREE_OPS, AtenCall, Recorder


def record(fn, *args) -> list[AtenCall]:
    calls: list[AtenCall] = []
    with torch.no_grad(), Recorder(calls.append):
        fn(*args)
    return calls


def test_each_call_is_recorded_once_with_its_tensors():
    x, w = torch.randn(2, 3, 8, 8), torch.randn(4, 3, 1, 1)

    def forward(x, w):
        y = torch.conv2d(x, w)  # (2, 4, 8, 8)
        y.relu_()
        return y.flatten(1) @ torch.randn(256, 5)  # a view, a factory, a matmul

    calls = record(forward, x, w)
    conv = next(c for c in calls if c.op == "convolution")
    assert [t.shape for t in conv.inputs] == [x.shape, w.shape]
    assert [t.shape for t in conv.outputs] == [(2, 4, 8, 8)]
    assert conv.moves_data and not conv.inplace
    relu = next(c for c in calls if c.op == "relu_")
    assert relu.inplace and relu.outputs[0] is relu.inputs[0]
    view = next(c for c in calls if c.op == "view")
    assert not view.moves_data and view.func.is_view
    assert {c.op for c in calls} >= {"convolution", "relu_", "view", "randn", "mm"}
    assert len([c for c in calls if c.op == "convolution"]) == 1


def test_reshapes_aten_does_not_mark_as_views_move_no_data():
    calls = record(lambda a, b: a @ b, torch.randn(2, 3, 4), torch.randn(4, 5))
    unsafe = [c for c in calls if c.op == "_unsafe_view"]
    assert unsafe and not unsafe[0].func.is_view  # aten hides it from view tracking
    assert not any(c.moves_data for c in unsafe)
    assert "_unsafe_view" in DATA_FREE_OPS
    assert [c.op for c in calls if c.moves_data] == ["mm"]


@pytest.mark.parametrize(
    "shape,layout,dtype",
    [
        ((2, 64, 7, 5), torch.contiguous_format, torch.float32),
        ((2, 64, 7, 5), torch.channels_last, torch.float32),
        ((1, 8, 3, 3), torch.channels_last, torch.bfloat16),
        ((2, 16, 9), torch.contiguous_format, torch.float16),
        ((4, 32), torch.contiguous_format, torch.float64),
    ],
)
@pytest.mark.parametrize("affine", [True, False])
def test_the_tests_fast_meta_batch_norm_returns_what_torchs_does(
    shape, layout, dtype, affine
):
    x = torch.empty(shape, device="meta", dtype=dtype)
    if len(shape) == 4:
        x = x.to(memory_format=layout)
    c = shape[1]
    weight = torch.empty(c, device="meta") if affine else None
    stats = torch.empty(c, device="meta")
    args = (x, weight, weight, stats, stats, False, 0.1, 1e-5)
    fast = meta_batch_norm.fast_meta_batch_norm(*args)
    torchs = meta_batch_norm.TORCH_META_BATCH_NORM(*args)
    assert [(t.shape, t.stride(), t.dtype) for t in fast] == [
        (t.shape, t.stride(), t.dtype) for t in torchs
    ]
    no_training = (*args[:5], *args[6:])  # the op count_macs' FlopCounterMode runs
    fast = meta_batch_norm.fast_meta_no_training(*no_training)
    torchs = meta_batch_norm.TORCH_META_NO_TRAINING(*no_training)
    assert [(t.shape, t.stride(), t.dtype) for t in fast] == [
        (t.shape, t.stride(), t.dtype) for t in torchs
    ]
