"""Shared checks for reference equality: same parameter count, identical outputs after
loading (references get random values everywhere: nblib.book.randomised); the feature
contract; registry models built once on the meta device."""

from functools import cache

import torch
from torch import nn

from nblib.book import on_meta


def assert_equal_to_reference(
    ours: nn.Module, reference: nn.Module, input_size: int = 64
) -> None:
    """Same parameter count, reference weights load by key, and identical eval-mode
    outputs. `ours` may be built on the meta device (no init time): it then takes the
    reference's tensors themselves."""
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in reference.parameters()
    )
    is_meta = any(t.is_meta for t in ours.state_dict().values())
    # strict: keys match both ways (a buffer left out would stay on meta and fail)
    ours.load_state_dict(reference.state_dict(), assign=is_meta)
    ours.eval(), reference.eval()
    x = torch.randn(
        2, 3, input_size, input_size, generator=torch.Generator().manual_seed(0)
    )
    with torch.no_grad():
        assert torch.equal(ours(x), reference(x))


def assert_feature_contract(model: nn.Module, input_size: int = 64) -> None:
    """forward_features returns one map per feature_info entry, with its channels and
    stride. Only shapes are checked, so `model` may be on the meta device (shapes
    without arithmetic: what torch's meta kernels compute)."""
    device = next(model.parameters()).device
    x = torch.randn(1, 3, input_size, input_size, device=device)
    with torch.no_grad():
        features = model.eval().forward_features(x)
    assert len(features) == len(model.feature_info)
    for feature, info in zip(features, model.feature_info, strict=True):
        assert feature.shape[1:] == (
            info["channels"],
            input_size // info["stride"],
            input_size // info["stride"],
        )


@cache
def shared_on_meta(name: str) -> nn.Module:
    """Registry model `name` on the meta device in eval mode, built once per test
    process for the tests that only read it (counts, shapes, traces, all in eval
    mode). A test that changes a model, or its mode, builds its own."""
    return on_meta(name).eval()
