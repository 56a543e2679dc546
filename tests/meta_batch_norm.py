"""A fast meta kernel for eval-mode batch norm, for the tests.

On the meta device torch runs `native_batch_norm` as a Python decomposition, about
0.6 ms a layer: most of a meta forward pass of a CNN, and the largest share of the unit
tests' time. In eval mode the kernel's outputs are an empty tensor like the input and
two per-channel statistics; `fast_meta_batch_norm` returns those directly (training mode
keeps torch's decomposition). torch's FlopCounterMode (under `measure.count_macs`)
decomposes batch norm into `_native_batch_norm_legit_no_training`, which gets the same
fast kernel. Kernel and operator records do not change: the dispatch
recorder sees the call before the kernel runs, and tests/test_dispatch.py checks that
both kernels return the same shapes, strides and dtypes.
"""

import torch
from torch._decomp import decomposition_table

TORCH_META_BATCH_NORM = decomposition_table[torch.ops.aten.native_batch_norm.default]
TORCH_META_NO_TRAINING = decomposition_table[
    torch.ops.aten._native_batch_norm_legit_no_training.default
]


def fast_meta_batch_norm(
    input, weight, bias, running_mean, running_var, training, momentum, eps
):
    if training:
        return TORCH_META_BATCH_NORM(
            input, weight, bias, running_mean, running_var, training, momentum, eps
        )
    low = (torch.float16, torch.bfloat16)
    stats = torch.float32 if input.dtype in low else input.dtype
    channels = input.shape[1]
    return (
        torch.empty_like(input),
        input.new_empty((channels,), dtype=stats),
        input.new_empty((channels,), dtype=stats),
    )


def fast_meta_no_training(
    input, weight, bias, running_mean, running_var, momentum, eps
):
    return fast_meta_batch_norm(
        input, weight, bias, running_mean, running_var, False, momentum, eps
    )


_LIBRARY: list[torch.library.Library] = []  # keeps the registration alive


def install() -> None:
    """Register the fast kernels for the meta device, once per process."""
    if not _LIBRARY:
        library = torch.library.Library("aten", "IMPL")
        library.impl("native_batch_norm", fast_meta_batch_norm, "Meta")
        library.impl(
            "_native_batch_norm_legit_no_training", fast_meta_no_training, "Meta"
        )
        _LIBRARY.append(library)
