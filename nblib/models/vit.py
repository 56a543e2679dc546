"""ViT: cut the image into patches, embed each patch as a token, prepend a class token,
add learned position embeddings, and classify with a plain Transformer encoder.

Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition
at Scale", ICLR 2021 (arXiv:2010.11929). Module names follow torchvision's
VisionTransformer, so its weights load by key; `timm_to_torchvision` renames timm's.
Attention runs through the fused kernel torchvision and timm use
(`F.scaled_dot_product_attention`), or written out as matmuls with `fused = False`.
"""

import math
import re
from collections import OrderedDict
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class ViTConfig:
    patch_size: int  # side of a square patch in pixels: one token per patch
    num_layers: int  # encoder blocks
    hidden_dim: int  # D, the width of every token
    mlp_dim: int  # hidden width of each block's MLP (4 D in every variant)
    num_heads: int  # attention heads; each works on D / num_heads channels


class SelfAttention(nn.Module):
    """Multi-head self-attention: softmax(Q K^T / sqrt(d)) V per head.

    Parameters are named as in nn.MultiheadAttention (q, k and v stacked in
    `in_proj_weight`), so torchvision's weights load by key. `fused = True` calls one
    fused kernel, as torchvision and timm do (on a GPU it never stores the N x N
    weights); `fused = False` writes the formula out, with the softmax as a module so
    that a forward hook can read the attention weights, (B, heads, N, N).
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.fused = True
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        self.softmax = nn.Softmax(dim=-1)
        nn.init.xavier_uniform_(self.in_proj_weight)  # as nn.MultiheadAttention
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)  # (B, N, 3D)
        qkv = qkv.view(b, n, 3, self.num_heads, d // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, N, D / heads)
        if self.fused:
            out = F.scaled_dot_product_attention(q, k, v)
        else:
            scale = (d // self.num_heads) ** -0.5
            # (B, heads, N, N): the weights a hook on `softmax` reads
            attention = self.softmax(q @ k.transpose(-2, -1) * scale)
            out = attention @ v
        out = out.transpose(1, 2).reshape(b, n, d)  # (B, N, D): heads side by side
        return self.out_proj(out)


class EncoderBlock(nn.Module):
    """Pre-norm Transformer block: x + Attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(
        self, dim: int, num_heads: int, mlp_dim: int, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = SelfAttention(dim, num_heads)
        self.dropout = nn.Dropout(dropout)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(  # indices 0 and 3 hold the weights, as in torchvision
            nn.Linear(dim, mlp_dim),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(mlp_dim, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.self_attention(self.ln_1(x)))
        return x + self.mlp(self.ln_2(x))


class Encoder(nn.Module):
    """Add the position embeddings, run the blocks, normalise the output tokens."""

    def __init__(
        self,
        seq_length: int,
        num_layers: int,
        num_heads: int,
        dim: int,
        mlp_dim: int,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        # One learned vector per position, class token included (std 0.02, from BERT).
        self.pos_embedding = nn.Parameter(torch.randn(1, seq_length, dim) * 0.02)
        self.dropout = nn.Dropout(dropout)
        self.layers = nn.Sequential(
            OrderedDict(
                (f"encoder_layer_{i}", EncoderBlock(dim, num_heads, mlp_dim, dropout))
                for i in range(num_layers)
            )
        )
        self.ln = nn.LayerNorm(dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(self.layers(self.dropout(x + self.pos_embedding)))


class VisionTransformer(nn.Module):
    """Patch embedding (a strided convolution), class token at position 0, encoder, and
    a linear head on the class token's output."""

    def __init__(
        self,
        image_size: int = 224,
        patch_size: int = 16,
        num_layers: int = 12,
        num_heads: int = 12,
        hidden_dim: int = 768,
        mlp_dim: int = 3072,
        num_classes: int = 1000,
        in_channels: int = 3,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if image_size % patch_size:
            raise ValueError(
                f"image_size {image_size} is not a multiple of patch_size {patch_size}"
            )
        self.image_size, self.patch_size = image_size, patch_size
        self.grid_size = image_size // patch_size  # patches per side
        # A p x p convolution with stride p is a Linear layer applied to each patch.
        self.conv_proj = nn.Conv2d(
            in_channels, hidden_dim, kernel_size=patch_size, stride=patch_size
        )
        self.class_token = nn.Parameter(torch.zeros(1, 1, hidden_dim))
        seq_length = self.grid_size**2 + 1  # patches + the class token
        self.encoder = Encoder(
            seq_length, num_layers, num_heads, hidden_dim, mlp_dim, dropout
        )
        self.heads = nn.Sequential(OrderedDict(head=nn.Linear(hidden_dim, num_classes)))
        # One scale only: the patch grid, at the stride of the patch size.
        self.feature_info = [{"channels": hidden_dim, "stride": patch_size}]
        self._init_weights()

    def _init_weights(self) -> None:  # torchvision's initialisation
        fan_in = self.conv_proj.in_channels * self.patch_size**2
        nn.init.trunc_normal_(self.conv_proj.weight, std=math.sqrt(1 / fan_in))
        if self.conv_proj.bias is not None:
            nn.init.zeros_(self.conv_proj.bias)
        for name, m in self.encoder.named_modules():  # block by block: mlp.0, mlp.3
            if isinstance(m, nn.Linear) and name.split(".")[-2:-1] == ["mlp"]:
                nn.init.xavier_uniform_(m.weight)
                nn.init.normal_(m.bias, std=1e-6)
        for m in self.heads.modules():
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.weight)
                nn.init.zeros_(m.bias)

    def fuse_attention(self, fused: bool) -> "VisionTransformer":
        """Every block's attention through the fused kernel (the default, and fast) or
        written out, so that hooks on each block's `softmax` see the weights."""
        for m in self.modules():
            if isinstance(m, SelfAttention):
                m.fused = fused
        return self

    def resize(self, image_size: int) -> "VisionTransformer":
        """Run at another resolution (Sec. 3.2): same patches, a larger grid, position
        embeddings interpolated in 2-D by `interpolate_pos_embedding`."""
        if image_size % self.patch_size:
            raise ValueError(
                f"image_size {image_size} is not a multiple of patch_size "
                f"{self.patch_size}"
            )
        grid_size = image_size // self.patch_size
        with torch.no_grad():
            resized = interpolate_pos_embedding(self.encoder.pos_embedding, grid_size)
        self.encoder.pos_embedding = nn.Parameter(resized)
        self.image_size, self.grid_size = image_size, grid_size
        return self

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B, 1 + N, D): the class token, then one token per patch in
        row-major order (position embeddings are added by the encoder)."""
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(
                f"input size {tuple(x.shape[-2:])} does not match image_size "
                f"{self.image_size}: the position embeddings are learned for a "
                f"{self.grid_size}x{self.grid_size} grid of patches"
            )
        x = self.conv_proj(x)  # (B, D, H/p, W/p)
        x = x.flatten(2).transpose(1, 2)  # (B, N, D)
        class_token = self.class_token.expand(x.shape[0], -1, -1)  # (B, 1, D)
        return torch.cat([class_token, x], dim=1)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The patch tokens of the last block as a map, [(B, D, H/p, W/p)]: a single
        level at stride p (a ViT has one scale)."""
        x = self.encoder(self.tokens(x))[:, 1:]  # (B, N, D), class token dropped
        grid = x.transpose(1, 2).unflatten(2, (self.grid_size, self.grid_size))
        return [grid]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.encoder(self.tokens(x))  # (B, 1 + N, D)
        return self.heads(x[:, 0])  # classify from the class token


def interpolate_pos_embedding(
    pos_embedding: torch.Tensor, grid_size: int
) -> torch.Tensor:
    """(1, 1 + n*n, D) -> (1, 1 + grid_size**2, D): the patch embeddings resampled as an
    n x n image with D channels (bicubic, as timm's `resample_abs_pos_embed`), the class
    token's kept as it is. The paper's 2-D interpolation for fine-tuning at a higher
    resolution (Dosovitskiy et al. 2021, Sec. 3.2)."""
    if grid_size < 1:
        raise ValueError(f"grid_size must be a positive int, got {grid_size!r}")
    class_pos, patch_pos = pos_embedding[:, :1], pos_embedding[:, 1:]
    n = math.isqrt(patch_pos.shape[1])
    if n * n != patch_pos.shape[1]:
        raise ValueError(
            f"pos_embedding has {patch_pos.shape[1]} patch positions, not a square grid"
        )
    image = patch_pos.reshape(1, n, n, -1).permute(0, 3, 1, 2)  # (1, D, n, n)
    image = F.interpolate(
        image, size=(grid_size, grid_size), mode="bicubic", antialias=True
    )  # (1, D, grid, grid)
    patch_pos = image.permute(0, 2, 3, 1).flatten(1, 2)  # (1, grid * grid, D)
    return torch.cat([class_pos, patch_pos], dim=1)


# fmt: off
# ViT-B/L/H: Table 1 of the paper. ViT-S is not in it: DeiT-S (Touvron et al. 2021),
# named ViT-S by timm and by Steiner et al. 2022 ("How to train your ViT?").
VIT_CONFIGS: dict[str, ViTConfig] = {
    #                     patch, layers, dim,  mlp, heads
    "vit_s_16": ViTConfig(16,    12,     384,  1536, 6),
    "vit_b_16": ViTConfig(16,    12,     768,  3072, 12),
    "vit_l_16": ViTConfig(16,    24,     1024, 4096, 16),
    "vit_h_14": ViTConfig(14,    32,     1280, 5120, 16),
}
# fmt: on


def build_vit(variant: str, **kwargs) -> VisionTransformer:
    """A ViT from `VIT_CONFIGS`; keyword arguments override or extend the config, e.g.
    `build_vit("vit_l_16", patch_size=32, num_classes=10)`."""
    if variant not in VIT_CONFIGS:
        raise ValueError(
            f"variant {variant!r} is not in VIT_CONFIGS: {', '.join(VIT_CONFIGS)}"
        )
    return VisionTransformer(**(asdict(VIT_CONFIGS[variant]) | kwargs))


def vit_b_16(**kwargs) -> VisionTransformer:
    """ViT-B/16: 12 layers, D = 768, 12 heads; 86 M parameters."""
    return build_vit("vit_b_16", **kwargs)


def vit_s_16(**kwargs) -> VisionTransformer:
    """ViT-S/16: 12 layers, D = 384, 6 heads; 22 M parameters."""
    return build_vit("vit_s_16", **kwargs)


# timm name -> torchvision name. timm's fused `qkv` Linear stacks q, k and v rows in the
# same order as nn.MultiheadAttention's in_proj_weight, so only names change.
TIMM_RENAMES = [
    (r"^cls_token$", "class_token"),
    (r"^pos_embed$", "encoder.pos_embedding"),
    (r"^patch_embed\.proj\.", "conv_proj."),
    (r"^blocks\.(\d+)\.", r"encoder.layers.encoder_layer_\1."),
    (r"\.norm1\.", ".ln_1."),
    (r"\.norm2\.", ".ln_2."),
    (r"\.attn\.qkv\.(weight|bias)$", r".self_attention.in_proj_\1"),
    (r"\.attn\.proj\.", ".self_attention.out_proj."),
    (r"\.mlp\.fc1\.", ".mlp.0."),
    (r"\.mlp\.fc2\.", ".mlp.3."),
    (r"^norm\.", "encoder.ln."),
    (r"^head\.", "heads.head."),
]


def timm_to_torchvision(state_dict: dict[str, torch.Tensor]) -> dict:
    """Rename a timm ViT state dict (e.g. vit_small_patch16_224) to our keys."""
    renamed = {}
    for key, value in state_dict.items():
        new = key
        for pattern, replacement in TIMM_RENAMES:
            new = re.sub(pattern, replacement, new)
        renamed[new] = value
    return renamed
