"""The book's GPU micro-experiments, named, so one benchmark run answers every chapter's
speed question (`python -m nblib.bench --experiments NAME,...`).

Each experiment is a list of variants: a module and the input it runs on. Variants of
one experiment hold what the chapter's claim holds fixed (MACs, usually) and change
one thing. The ShuffleNet V2 stacks hold FLOPs fixed as the paper's Tables 1 and 3 do;
the script behind the imported H100 rows (tools/h100_2026-11-23/
shufflenet_guidelines_gpu.py) did not for G1 (its 1:12 pair does 1.84x the MACs of
1:1) nor for G3's series variants (1.41x and 1.5x): `tests/test_experiments.py`
pins both.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import nn
from torch.nn import functional as F

from nblib.blocks.spp import SPPBlock, SPPFBlock
from nblib.necks.bifpn import BiFPN


@dataclass(frozen=True)
class Variant:
    """One thing to time: `build()` makes the module, run on `input_shape`."""

    experiment: str  # the group the chapter compares within, e.g. "G1 x2"
    variant: str  # e.g. "1:6"
    build: Callable[[], nn.Module]
    input_shape: tuple[int, int, int, int]  # (B, C, H, W)


def _stack(make: Callable[[], nn.Module], blocks: int = 10) -> nn.Sequential:
    return nn.Sequential(*(make() for _ in range(blocks)))


# ShuffleNet V2 (Ma et al. 2018, Tables 1-4): 10 blocks on 56x56 maps, batch 8.


def g1_pair(c1: int, c2: int) -> nn.Sequential:
    """G1: a 1x1 pair c1 -> c2 -> c1."""
    return nn.Sequential(nn.Conv2d(c1, c2, 1), nn.Conv2d(c2, c1, 1))


class Fragments(nn.Module):
    """G3: one 1x1 conv of `c` channels split into `n` fragments, in parallel (n convs
    c -> c/n, concatenated) or in series (n convs of c/sqrt(n) channels): the same
    FLOPs as the single conv either way."""

    def __init__(self, c: int, n: int, parallel: bool) -> None:
        super().__init__()
        self.parallel = parallel
        self.b: nn.ModuleList | nn.Sequential
        if parallel:
            self.b = nn.ModuleList(nn.Conv2d(c, c // n, 1) for _ in range(n))
        else:
            w = series_width(c, n)
            self.b = nn.Sequential(*(nn.Conv2d(w, w, 1) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.b], 1) if self.parallel else self.b(x)


def series_width(c: int, n: int) -> int:
    """Width of each of n convs in series that together do the FLOPs of one c x c."""
    return round(c / math.sqrt(n))


class G4Bottleneck(nn.Module):
    """G4: ResNet's bottleneck 256 -> 64 -> 64 -> 256, with or without its ReLUs and
    its shortcut (the element-wise operators the guideline is about)."""

    def __init__(self, relu: bool, shortcut: bool, c: int = 256, m: int = 64) -> None:
        super().__init__()
        self.relu, self.shortcut = relu, shortcut
        self.c1 = nn.Conv2d(c, m, 1)
        self.c2 = nn.Conv2d(m, m, 3, padding=1)
        self.c3 = nn.Conv2d(m, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        for conv in (self.c1, self.c2, self.c3):
            y = F.relu(conv(y)) if self.relu else conv(y)
        return y + x if self.shortcut else y


def shufflenet_v2_guidelines(batch: int = 8, hw: int = 56) -> list[Variant]:
    """G1 at base widths 128/256/512, G2 at 128/256/512, G3, G4."""
    out = []
    for scale in (1, 2, 4):
        base = 128 * scale
        for r in (1, 2, 6, 12):  # c1 * c2 = base^2: the FLOPs of every ratio equal
            c1, c2 = round(base / math.sqrt(r)), round(base * math.sqrt(r))
            out.append(
                Variant(
                    f"G1 x{scale}",
                    f"1:{r}",
                    partial(_stack, partial(g1_pair, c1, c2)),
                    (batch, c1, hw, hw),
                )
            )
    for base in (128, 256, 512):
        for g in (1, 2, 4, 8):
            c = (
                int(round(base * math.sqrt(g) / g)) * g
            )  # FLOPs fixed: c grows as sqrt(g)
            out.append(
                Variant(
                    f"G2 c={base}@g1",
                    f"g={g}",
                    partial(_stack, partial(nn.Conv2d, c, c, 1, groups=g)),
                    (batch, c, hw, hw),
                )
            )
    for n, parallel in ((1, False), (2, False), (4, False), (2, True), (4, True)):
        name = "1-fragment" if n == 1 else f"{n}-{'parallel' if parallel else 'series'}"
        c = 128 if parallel else series_width(128, n)
        out.append(
            Variant(
                "G3",
                name,
                partial(_stack, partial(Fragments, 128, n, parallel)),
                (batch, c, hw, hw),
            )
        )
    for relu, shortcut, name in (
        (True, True, "relu+short"),
        (False, True, "no relu"),
        (True, False, "no short"),
        (False, False, "neither"),
    ):
        out.append(
            Variant(
                "G4",
                name,
                partial(_stack, partial(G4Bottleneck, relu, shortcut)),
                (batch, 256, hw, hw),
            )
        )
    return out


def conv_kernel_efficiency(batch: int = 8, hw: int = 56) -> list[Variant]:
    """k x k convolutions of equal MACs (k^2 c^2 held at 9 * 256^2): does cuDNN get
    more FLOP/s out of 3x3 than out of 1x1, 5x5 and 7x7?"""
    out = []
    for k in (1, 3, 5, 7):
        c = round(256 * 3 / k)
        out.append(
            Variant(
                "kernel size",
                f"{k}x{k} (c={c})",
                partial(
                    _stack, partial(nn.Conv2d, c, c, k, padding=k // 2, bias=False)
                ),
                (batch, c, hw, hw),
            )
        )
    return out


def depthwise_vs_dense(batch: int = 8, hw: int = 56) -> list[Variant]:
    """3x3 depthwise vs dense convolutions at the same width: achieved FLOP/s of each
    (the MobileNet and ShuffleNet chapters' "depthwise uses the GPU poorly")."""
    out = []
    for c in (128, 512):
        for groups, name in ((c, "depthwise"), (1, "dense")):
            out.append(
                Variant(
                    f"3x3 at c={c}",
                    name,
                    partial(
                        _stack,
                        partial(
                            nn.Conv2d, c, c, 3, padding=1, groups=groups, bias=False
                        ),
                    ),
                    (batch, c, hw, hw),
                )
            )
    return out


class Fragmented(nn.Module):
    """One 3x3 convolution to c_out channels computed as `parts` convolutions of
    c_out / parts channels, concatenated: same MACs, more operators (VoVNet's
    argument against many small layers)."""

    def __init__(self, c: int, parts: int) -> None:
        super().__init__()
        self.parts = nn.ModuleList(
            nn.Conv2d(c, c // parts, 3, padding=1, bias=False) for _ in range(parts)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([p(x) for p in self.parts], 1)


def vovnet_fragmentation(batch: int = 8, hw: int = 56) -> list[Variant]:
    return [
        Variant(
            "3x3, 256 channels",
            f"{n} part(s)",
            partial(_stack, partial(Fragmented, 256, n)),
            (batch, 256, hw, hw),
        )
        for n in (1, 2, 4, 8)
    ]


class Pyramid(nn.Module):
    """Runs a multi-level neck on one input: the levels are the input average-pooled
    by 1, 2, 4, ... (the same work for every neck compared)."""

    def __init__(self, neck: nn.Module, levels: int) -> None:
        super().__init__()
        self.neck, self.levels = neck, levels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [F.avg_pool2d(x, 2**i) if i else x for i in range(self.levels)]
        return torch.cat([f.flatten(1) for f in self.neck(feats)], 1)


def bifpn_fusion(batch: int = 8, hw: int = 64) -> list[Variant]:
    """EfficientDet's fast normalised fusion vs softmax fusion, in a 3-layer BiFPN at
    64 channels on 5 levels (P3 64x64 to P7 4x4 for a 512 image)."""

    def _bifpn_pyramid(fusion: str) -> nn.Module:
        return Pyramid(BiFPN([64] * 5, 64, 3, fusion=fusion), 5)

    return [
        Variant(
            "BiFPN, 5 levels, 64 channels",
            fusion,
            partial(_bifpn_pyramid, fusion),
            (batch, 64, hw, hw),
        )
        for fusion in ("fast", "softmax")
    ]


def spp_vs_sppf(batch: int = 8, hw: int = 20) -> list[Variant]:
    """YOLOv5's SPPF (one 5x5 pool thrice) vs SPP (5, 9, 13 pools) at 1024 channels on
    the 20x20 map of a 640 image: the same output, the claim is that SPPF is faster."""
    return [
        Variant("1024 channels", name, block, (batch, 1024, hw, hw))
        for name, block in (
            ("SPP", lambda: SPPBlock(1024, 1024)),
            ("SPPF", lambda: SPPFBlock(1024, 1024)),
        )
    ]


def shufflenet_v1_groups(batch: int = 8, hw: int = 224) -> list[Variant]:
    """ShuffleNet v1 1x at g = 1, 3, 8 (about the same MACs, Table 2)."""
    from nblib.models.shufflenet import shufflenet_v1

    return [
        Variant(
            "ShuffleNet v1 1x",
            f"g={g}",
            partial(shufflenet_v1, groups=g),
            (batch, 3, hw, hw),
        )
        for g in (1, 3, 8)
    ]


EXPERIMENTS: dict[str, Callable[..., list[Variant]]] = {
    "shufflenet_v2_guidelines": shufflenet_v2_guidelines,
    "shufflenet_v1_groups": shufflenet_v1_groups,
    "conv_kernel_efficiency": conv_kernel_efficiency,
    "depthwise_vs_dense": depthwise_vs_dense,
    "vovnet_fragmentation": vovnet_fragmentation,
    "bifpn_fusion": bifpn_fusion,
    "spp_vs_sppf": spp_vs_sppf,
}


def variants(
    name: str, batch: int | None = None, hw: int | None = None
) -> list[Variant]:
    """The variants of experiment `name`, at the paper's batch and map size unless
    `batch` / `hw` shrink them (the tests run them tiny on a CPU)."""
    if name not in EXPERIMENTS:
        raise ValueError(
            f"experiment {name!r} is unknown; known: {sorted(EXPERIMENTS)}"
        )
    sizes = {k: v for k, v in (("batch", batch), ("hw", hw)) if v is not None}
    for key, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{key} must be a positive int, got {value!r}")
    return EXPERIMENTS[name](**sizes)
