"""ViT: ViT-B/16 equal to torchvision's to float32 rounding (bit for bit but for where
the q, k, v bias is added), ViT-S/16 equal to timm's through the tested renaming, one
feature level at stride 16, attention weights readable by a hook."""

import pytest
import timm
import torch
import torchvision
from reference_models import (
    assert_feature_contract,
    on_meta,
    shared_on_meta,
)

from nblib.book import randomised
from nblib.measure import count_params, mha_fast_path
from nblib.models import build, vit


@pytest.mark.parametrize("fast_path", [False, True], ids=["general", "fast_path"])
def test_vit_b_16_equals_torchvision_bit_for_bit_but_for_the_qkv_bias(fast_path):
    """Ours against torchvision's ViT-B/16, every tensor random, at batch 2.
    nn.MultiheadAttention adds the q, k, v projection's bias after the matrix product
    (its CPU fast path in a kernel of its own; its general path hands F.linear a
    transposed view of the tokens, not contiguous for a batch of two, so F.linear
    multiplies, then adds); ours, like timm, hands F.linear contiguous tokens, and the
    bias goes into the same addmm call. So the logits agree to float32 rounding
    (~5e-6 on logits up to ~5), and bit for bit once those biases are zero. The general
    path calls the same fused attention kernel as ours; the fast path does the two
    matrix products one by one, as our written-out attention does (the scale 1/8 is
    exact whether applied to q or to q k^T). Chapter 8 shows the same at batch 1."""
    # at 112 px (7 x 7 patches + the class token): the same code as at 224, 4x cheaper
    reference = randomised(torchvision.models.vit_b_16, image_size=112).eval()
    ours = on_meta("vit_b_16", image_size=112).fuse_attention(not fast_path).eval()
    assert count_params(ours) == count_params(reference)
    ours.load_state_dict(reference.state_dict(), assign=True)  # strict; shares tensors
    x = torch.randn(2, 3, 112, 112, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), mha_fast_path(fast_path):
        logits = ours(x), reference(x)
        torch.testing.assert_close(*logits, rtol=1e-5, atol=1e-5)
        assert not torch.equal(*logits)  # where the bias is added shows
        for layer in reference.encoder.layers:
            layer.self_attention.in_proj_bias.zero_()  # ours' too: the same tensor
        assert torch.equal(ours(x), reference(x))


def test_vit_s_16_equal_to_timm_after_renaming():
    reference = randomised(timm.create_model, "vit_small_patch16_224").eval()
    ours = on_meta("vit_s_16").eval()
    assert count_params(ours) == count_params(reference)
    renamed = vit.timm_to_torchvision(reference.state_dict())
    ours.load_state_dict(renamed, assign=True)  # strict; takes timm's tensors
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = reference(x)
        assert torch.equal(ours(x), expected)  # the same fused kernel
        # Written out, the softmax is summed in another order than the fused CPU
        # kernel's blocks (observed max difference about 1e-6 on logits of size 1).
        written_out = ours.fuse_attention(False)(x)
        torch.testing.assert_close(written_out, expected, rtol=1e-5, atol=1e-5)


def test_timm_renaming_maps_every_key_once():
    with torch.device("meta"):  # names only
        keys = timm.create_model("vit_small_patch16_224", pretrained=False).state_dict()
        ours = vit.vit_s_16()
    renamed = vit.timm_to_torchvision(keys)
    assert len(renamed) == len(keys)
    assert set(renamed) == set(ours.state_dict())
    assert (
        renamed["encoder.layers.encoder_layer_11.self_attention.in_proj_weight"]
        is (keys["blocks.11.attn.qkv.weight"])
    )


@pytest.mark.parametrize("variant", ["vit_l_16", "vit_h_14"])
def test_larger_configs_have_torchvision_parameter_count(variant):
    with torch.device("meta"):
        ours = vit.build_vit(variant)
        reference = getattr(torchvision.models, variant)()
    assert count_params(ours) == count_params(reference)


@pytest.mark.parametrize("name", ["vit_b_16", "vit_s_16"])
def test_feature_contract(name):
    model = shared_on_meta(name)
    assert model.feature_info == [
        {"channels": model.encoder.ln.normalized_shape[0], "stride": 16}
    ]
    assert_feature_contract(model, input_size=224)


def test_features_are_the_patch_tokens_of_the_last_block():
    model = vit.VisionTransformer(
        32, 8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32
    ).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        tokens = model.encoder(model.tokens(x))  # (2, 1 + 16, 16)
        (grid,) = model.forward_features(x)
    assert grid.shape == (2, 16, 4, 4)
    assert torch.equal(grid[:, :, 1, 2], tokens[:, 1 + 1 * 4 + 2])  # row-major order


def test_attention_weights_through_the_softmax_hook_when_written_out():
    model = vit.VisionTransformer(
        8, 2, num_layers=2, num_heads=4, hidden_dim=32, mlp_dim=64, in_channels=1
    ).eval()
    maps = []
    for block in model.encoder.layers:
        block.self_attention.softmax.register_forward_hook(
            lambda module, args, out: maps.append(out)
        )
    x = torch.randn(3, 1, 8, 8)
    with torch.no_grad():
        fused = model(x)
        assert maps == []  # the fused kernel never forms the weights
        written_out = model.fuse_attention(False)(x)
    assert [m.shape for m in maps] == [(3, 4, 17, 17)] * 2
    torch.testing.assert_close(maps[0].sum(-1), torch.ones(3, 4, 17))
    torch.testing.assert_close(written_out, fused, rtol=1e-5, atol=1e-6)


def test_wrong_image_size_or_config_raises():
    with pytest.raises(ValueError, match="does not match image_size 224"):
        build("vit_s_16")(torch.randn(1, 3, 64, 64))
    with pytest.raises(ValueError, match="not a multiple of patch_size"):
        vit.VisionTransformer(image_size=30, patch_size=16)
    with pytest.raises(ValueError, match="not divisible by num_heads"):
        vit.SelfAttention(30, 4)
    with pytest.raises(ValueError, match="variant 'vit_x'"):
        vit.build_vit("vit_x")


def test_config_fields_can_be_overridden():
    with torch.device("meta"):
        l32 = vit.build_vit("vit_l_16", patch_size=32)
        reference = torchvision.models.vit_l_32()
    assert l32.patch_size == 32
    assert count_params(l32) == count_params(reference)


def test_position_embeddings_interpolate_as_timm_does():
    """Sec. 3.2: 14x14 -> 24x24 by 2-D interpolation, equal to timm's resampling; the
    resized model runs at 384 and the class token's embedding is unchanged."""
    from timm.layers import resample_abs_pos_embed

    model = vit.VisionTransformer(
        image_size=224,
        patch_size=16,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        mlp_dim=16,
        num_classes=3,
    )
    before = model.encoder.pos_embedding.detach().clone()
    model.resize(384)
    after = model.encoder.pos_embedding
    assert after.shape == (1, 1 + 24 * 24, 8)
    assert torch.equal(after, resample_abs_pos_embed(before, [24, 24]))
    assert torch.equal(after[:, 0], before[:, 0])
    assert model(torch.zeros(1, 3, 384, 384)).shape == (1, 3)
    with pytest.raises(ValueError, match="multiple of patch_size"):
        model.resize(390)
