"""A fast meta kernel for eval-mode batch norm, for the tests.

On the meta device torch runs `native_batch_norm` as a Python decomposition, about
0.6 ms a layer: most of a meta forward pass of a CNN, and the largest share of the unit
tests' time. In eval mode the kernel's outputs are an empty tensor like the input and
two per-channel statistics; `fast_meta_batch_norm` returns those directly (training mode
keeps torch's decomposition). Kernel and operator records do not change: the dispatch
recorder sees the call before the kernel runs, and tests/test_dispatch.py checks that
both kernels return the same shapes, strides and dtypes.
"""

import torch
from torch._decomp import decomposition_table

TORCH_META_BATCH_NORM = decomposition_table[torch.ops.aten.native_batch_norm.default]


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


_LIBRARY: list[torch.library.Library] = []  # keeps the registration alive


def install() -> None:
    """Register the fast kernel for the meta device, once per process."""
    if not _LIBRARY:
        library = torch.library.Library("aten", "IMPL")
        library.impl("native_batch_norm", fast_meta_batch_norm, "Meta")
        _LIBRARY.append(library)
