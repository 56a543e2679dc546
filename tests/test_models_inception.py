"""GoogLeNet and Inception v3: equal to torchvision's (auxiliary heads included), with
the same training-mode outputs; stage features are torchvision's activations."""

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
from nblib.models import build, inception

# name, torchvision builder, input size (Inception v3's is 299; its valid-padded stem
# needs at least 75 in eval mode and 299 for the auxiliary head in training mode)
MODELS = [
    ("googlenet", torchvision.models.googlenet, 224),
    ("inception_v3", torchvision.models.inception_v3, 299),
]


def reference(builder, aux_logits=True, **kwargs):
    # init_weights: torchvision's init (skipped here) would warn without it
    return randomised(builder, aux_logits=aux_logits, init_weights=True, **kwargs)


@pytest.mark.parametrize("name, builder, size", MODELS)
@pytest.mark.parametrize("transform_input", [False, True])
def test_equal_to_torchvision(name, builder, size, transform_input):
    ours = on_meta(name, transform_input=transform_input)
    ref = reference(builder, transform_input=transform_input)
    assert_equal_to_reference(ours, ref, input_size=min(size, 128))


@pytest.mark.parametrize("name, builder, size", MODELS)
def test_training_outputs_equal_torchvision(name, builder, size):
    ours, ref = on_meta(name), reference(builder)
    # copies: training mode updates the batch-norm statistics in place
    ours.load_state_dict(
        {k: v.clone() for k, v in ref.state_dict().items()}, assign=True
    )
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    outputs = []
    for model in (ours, ref):
        torch.manual_seed(1)  # the same dropout masks, drawn in the same order
        with torch.no_grad():
            outputs.append(model.train()(x))
    a, b = outputs
    assert type(a).__name__ == type(b).__name__ and a._fields == b._fields
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))


@pytest.mark.parametrize("name, builder, size", MODELS)
def test_without_aux_heads(name, builder, size):
    # counts and the output's type only: on the meta device
    ours = on_meta(name, aux_logits=False)
    with torch.device("meta"):
        ref = builder(aux_logits=False, init_weights=True)
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in ref.parameters()
    )
    x = torch.randn(1, 3, 128, 128, device="meta")
    assert isinstance(ours.train()(x), torch.Tensor)  # no heads: logits only


def test_googlenet_without_aux_is_torchvisions_published_count():
    assert (
        sum(p.numel() for p in on_meta("googlenet", aux_logits=False).parameters())
        == (torchvision.models.GoogLeNet_Weights.DEFAULT.meta["num_params"])
    )


def test_googlenet_feature_contract():
    model = shared_on_meta("googlenet")
    assert [f["stride"] for f in model.feature_info] == [4, 8, 16, 32]
    assert_feature_contract(model)


@pytest.mark.parametrize("name, builder, size", MODELS)
def test_features_are_torchvisions_stage_outputs(name, builder, size):
    """Each level is the activation of the module torchvision runs at that point."""
    taps = {
        "googlenet": ["conv3", "inception3b", "inception4e", "inception5b"],
        "inception_v3": ["Conv2d_4a_3x3", "Mixed_5d", "Mixed_6e", "Mixed_7c"],
    }[name]
    ours, ref = on_meta(name).eval(), reference(builder).eval()
    ours.load_state_dict(ref.state_dict(), assign=True)  # eval mode: nothing changes
    kept = {}
    for tap in taps:
        getattr(ref, tap).register_forward_hook(
            lambda m, args, out, tap=tap: kept.update({tap: out})
        )
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        features = ours.forward_features(x)
        ref(x)
    assert all(torch.equal(f, kept[t]) for f, t in zip(features, taps, strict=True))
    assert [f.shape[1] for f in features] == [i["channels"] for i in ours.feature_info]


def test_inception_v3_feature_sizes_at_299():
    # valid padding: each level is a little smaller than 299 / stride
    with torch.device("meta"):
        model = build("inception_v3")
        features = model.forward_features(torch.empty(1, 3, 299, 299))
    assert [tuple(f.shape[1:]) for f in features] == [
        (192, 71, 71),
        (288, 35, 35),
        (768, 17, 17),
        (2048, 8, 8),
    ]
    assert [f["stride"] for f in model.feature_info] == [4, 8, 16, 32]


def test_paper_5x5_branch():
    module = inception.Inception(192, 64, 96, 128, 16, 32, 32, kernel_5x5=5)
    assert module.branch3[1].conv.kernel_size == (5, 5)
    x = torch.randn(1, 192, 28, 28)
    assert module.eval()(x).shape == (1, 256, 28, 28)  # 64 + 128 + 32 + 32
