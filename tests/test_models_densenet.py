"""DenseNet: every configuration equal to torchvision's; growth, compression and the
memory-efficient variant behave as the paper says."""

import pytest
import torch
import torchvision
from reference_models import (
    assert_equal_to_reference,
    assert_feature_contract,
    on_meta,
    shared_on_meta,
)

from nblib.book import randomised
from nblib.models import densenet

NAMES = ["densenet121", "densenet161", "densenet169", "densenet201"]


@pytest.mark.parametrize("name", NAMES)
def test_equal_to_torchvision(name):
    assert_equal_to_reference(
        on_meta(name), randomised(getattr(torchvision.models, name))
    )


@pytest.mark.parametrize("name", NAMES)
def test_feature_contract(name):
    model = shared_on_meta(name)
    assert [f["stride"] for f in model.feature_info] == [4, 8, 16, 32]
    assert_feature_contract(model)


def test_densenet121_block_widths():
    widths = [f["channels"] for f in shared_on_meta("densenet121").feature_info]
    assert widths == [64 + 6 * 32, 128 + 12 * 32, 256 + 24 * 32, 512 + 16 * 32]


@pytest.mark.parametrize("depth", sorted(densenet.DENSENET_CONFIGS))
def test_layer_inputs_follow_k0_plus_l_minus_1_times_k(depth):
    k, blocks = densenet.DENSENET_CONFIGS[depth]
    model = shared_on_meta(f"densenet{depth}")
    k0 = 2 * k  # the stem's width
    for b, num_layers in enumerate(blocks, 1):
        block = getattr(model.features, f"denseblock{b}")
        assert [layer.conv1.in_channels for layer in block.values()] == [
            k0 + (n - 1) * k for n in range(1, num_layers + 1)
        ]
        assert {layer.conv1.out_channels for layer in block.values()} == {4 * k}
        assert {layer.conv2.out_channels for layer in block.values()} == {k}
        k0 = (k0 + num_layers * k) // 2  # compression 0.5 at the transition


def test_depth_in_the_name_counts_weighted_layers():
    for depth in densenet.DENSENET_CONFIGS:
        model = shared_on_meta(f"densenet{depth}")
        convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        assert len(convs) + 1 == depth  # + the classifier


def test_compression_one_keeps_every_channel():
    model = densenet.densenet121(compression=1.0)
    for i in (1, 2, 3):
        conv = getattr(model.features, f"transition{i}").conv
        assert conv.in_channels == conv.out_channels
    with pytest.raises(ValueError, match="compression"):
        densenet.densenet121(compression=0.0)


def test_memory_efficient_changes_nothing_but_memory():
    # A small DenseNet in training mode: outputs and gradients bit for bit equal to
    # torchvision's memory-efficient model and to our plain one.
    config = {"growth_rate": 8, "block_config": (2, 3, 2, 2), "num_init_features": 16}
    tv = torchvision.models.DenseNet(**config, memory_efficient=True)
    ours = {
        flag: densenet.DenseNet(**config, memory_efficient=flag)
        for flag in (False, True)
    }
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    results = []
    for model in [tv, *ours.values()]:
        model.load_state_dict(tv.state_dict())
        inp = x.clone().requires_grad_()
        out = model.train()(inp)
        out.square().sum().backward()
        results.append((out.detach(), inp.grad))
    for out, grad in results[1:]:
        assert torch.equal(out, results[0][0])
        assert torch.equal(grad, results[0][1])
