"""RegNet: the AnyNet body (stem, four stages of residual bottleneck blocks, head) and
the quantised linear rule that turns six numbers into its sixteen per-stage settings.

Radosavovic, Kosaraju, Girshick, He & Dollar, "Designing Network Design Spaces", CVPR
2020 (arXiv:2003.13678). Module names follow torchvision's `RegNet`, so its weights
load by key.
"""

import math
from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

from nblib.blocks import SqueezeExcitation, conv_bn_act, make_divisible

QUANT = 8  # block widths are multiples of 8 (Sec. 3.3)


# ---------------------------------------------------------------- design rule
def quantized_linear_widths(
    depth: int, w_0: int, w_a: float, w_m: float, q: int = QUANT
) -> list[int]:
    """One width per block j < depth: u_j = w_0 + w_a j, s_j = log(u_j / w_0) /
    log(w_m), w_j = w_0 w_m^round(s_j), rounded to a multiple of q (Eqs. 2-4)."""
    widths = []
    for j in range(depth):
        u = w_0 + w_a * j  # the linear rule: a continuous width per block
        s = math.log(u / w_0) / math.log(w_m)  # its position on the w_m grid
        w = w_0 * w_m ** round(s)  # the piecewise-constant (quantised) width
        widths.append(int(round(w / q) * q))
    return widths


def compatible_width(
    width: int, bottleneck_ratio: float, group_width: int, rounding: str = "torchvision"
) -> tuple[int, int]:
    """Make the bottleneck width a multiple of the group width (which is capped at the
    bottleneck width): -> (stage width, group width). rounding="pycls" rounds to the
    nearest multiple, halves to even (the paper's code); "torchvision" rounds halves up
    and never goes more than 10 % down (its `_make_divisible`)."""
    w_b = int(width * bottleneck_ratio)
    g = min(group_width, w_b)
    if rounding == "pycls":
        w_b = int(round(w_b / g) * g)
    elif rounding == "torchvision":
        w_b = make_divisible(w_b, g)
    else:
        raise ValueError(f"rounding must be 'pycls' or 'torchvision', got {rounding!r}")
    return int(w_b / bottleneck_ratio), g


@dataclass
class AnyNetConfig:
    """AnyNet's degrees of freedom, one entry per stage: depth d_i, width w_i,
    bottleneck ratio b_i, group width g_i; optional SE ratio (RegNetY)."""

    depths: list[int]
    widths: list[int]
    bottleneck_ratios: list[float]
    group_widths: list[int]
    se_ratio: float | None = None


def regnet_config(
    depth: int,
    w_0: int,
    w_a: float,
    w_m: float,
    group_width: int,
    bottleneck_ratio: float = 1.0,
    se_ratio: float | None = None,
    rounding: str = "torchvision",
) -> AnyNetConfig:
    """RegNet's (d, w_0, w_a, w_m, g, b) -> AnyNet's per-stage settings: a stage is a
    run of equal block widths."""
    block_widths = quantized_linear_widths(depth, w_0, w_a, w_m)
    depths: list[int] = []
    widths: list[int] = []
    for w in block_widths:
        if widths and widths[-1] == w:
            depths[-1] += 1
        else:
            depths.append(1)
            widths.append(w)
    pairs = [
        compatible_width(w, bottleneck_ratio, group_width, rounding) for w in widths
    ]
    return AnyNetConfig(
        depths=depths,
        widths=[w for w, _ in pairs],
        bottleneck_ratios=[bottleneck_ratio] * len(widths),
        group_widths=[g for _, g in pairs],
        se_ratio=se_ratio,
    )


# ---------------------------------------------------------------- closed-form cost
def anynet_costs(
    config: AnyNetConfig,
    resolution: int = 224,
    stem_width: int = 32,
    num_classes: int = 1000,
) -> dict[str, int]:
    """Parameters, MACs and activations (elements of every conv and linear output)
    of an AnyNet, counted layer by layer without building it."""
    total = {"params": 0, "macs": 0, "activations": 0}

    def conv(c_in, c_out, k, size, groups=1, norm=True):
        total["params"] += k * k * c_in // groups * c_out + (2 * c_out if norm else 0)
        total["macs"] += k * k * c_in // groups * c_out * size * size
        total["activations"] += c_out * size * size

    size = (resolution - 1) // 2 + 1
    conv(3, stem_width, 3, size)
    w_in = stem_width
    for d, w, b, g in zip(
        config.depths,
        config.widths,
        config.bottleneck_ratios,
        config.group_widths,
        strict=True,
    ):
        for i in range(d):
            stride = 2 if i == 0 else 1
            out = (size - 1) // stride + 1
            w_b = round(w * b)
            conv(w_in, w_b, 1, size)  # f.a
            conv(w_b, w_b, 3, out, groups=w_b // g)  # f.b
            if config.se_ratio:  # f.se: two 1x1 convs with bias on a 1x1 map
                w_se = round(config.se_ratio * w_in)
                conv(w_b, w_se, 1, 1, norm=False)
                conv(w_se, w_b, 1, 1, norm=False)
                total["params"] += w_se + w_b
            conv(w_b, w, 1, out)  # f.c
            if w_in != w or stride != 1:
                conv(w_in, w, 1, out)  # proj
            w_in, size = w, out
    total["params"] += w_in * num_classes + num_classes  # fc
    total["macs"] += w_in * num_classes
    total["activations"] += num_classes
    return total


# ---------------------------------------------------------------- blocks
class BottleneckTransform(nn.Sequential):
    """The X block's residual branch: 1x1 (w_in -> w_b), 3x3 with w_b / g groups (the
    stride), optional SE, 1x1 (w_b -> w_out), no ReLU at the end."""

    def __init__(self, w_in, w_out, stride, group_width, bottleneck_ratio, se_ratio):
        w_b = round(w_out * bottleneck_ratio)
        layers = OrderedDict(
            a=conv_bn_act(w_in, w_b, 1),
            b=conv_bn_act(w_b, w_b, 3, stride, groups=w_b // group_width),
        )
        if se_ratio:
            layers["se"] = SqueezeExcitation(
                w_b, squeeze_channels=round(se_ratio * w_in)
            )
        layers["c"] = conv_bn_act(w_b, w_out, 1, act=None)
        super().__init__(layers)


class ResBottleneckBlock(nn.Module):
    """x + F(x), with a 1x1 projection (conv + BN) on the shortcut when the shape
    changes, then ReLU."""

    def __init__(self, w_in, w_out, stride, group_width, bottleneck_ratio, se_ratio):
        super().__init__()
        needs_proj = w_in != w_out or stride != 1
        self.proj = (
            conv_bn_act(w_in, w_out, 1, stride, act=None) if needs_proj else None
        )
        self.f = BottleneckTransform(
            w_in, w_out, stride, group_width, bottleneck_ratio, se_ratio
        )
        self.activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.proj is None else self.proj(x)
        return self.activation(shortcut + self.f(x))


# ---------------------------------------------------------------- network
class AnyNet(nn.Module):
    """Stem (3x3, stride 2, 32 channels), one stage per config entry (first block
    strided), global pool, fc. RegNets are AnyNets whose config is `regnet_config`."""

    def __init__(
        self, config: AnyNetConfig, num_classes: int = 1000, stem_width: int = 32
    ) -> None:
        super().__init__()
        self.config = config
        self.stem = conv_bn_act(3, stem_width, 3, stride=2)
        stages, w_in = {}, stem_width
        self.feature_info = []
        for i, (d, w, b, g) in enumerate(
            zip(
                config.depths,
                config.widths,
                config.bottleneck_ratios,
                config.group_widths,
                strict=True,
            ),
            start=1,
        ):
            blocks = nn.Sequential()
            for j in range(d):
                block = ResBottleneckBlock(
                    w_in if j == 0 else w, w, 2 if j == 0 else 1, g, b, config.se_ratio
                )
                blocks.add_module(f"block{i}-{j}", block)
            stages[f"block{i}"] = blocks
            self.feature_info.append({"channels": w, "stride": 2 ** (i + 1)})
            w_in = w
        self.trunk_output = nn.Sequential(OrderedDict(stages))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(w_in, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """torchvision's (ResNet-style) initialisation."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                nn.init.normal_(m.weight, mean=0.0, std=math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, mean=0.0, std=0.01)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The output of each stage, at strides 4, 8, 16, 32."""
        x = self.stem(x)
        features = []
        for stage in self.trunk_output:
            x = stage(x)
            features.append(x)
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(x)[-1]
        return self.fc(self.avgpool(x).flatten(1))


# ---------------------------------------------------------------- configs
# (d, w_0, w_a, w_m, g) of the paper's RegNetX / RegNetY models as torchvision builds
# them; RegNetY adds SE with ratio 0.25. Bottleneck ratio b = 1 throughout.
# fmt: off
REGNET_TABLE: dict[str, tuple[int, int, float, float, int]] = {
    "regnet_x_400mf":  (22, 24, 24.48, 2.54, 16),
    "regnet_x_800mf":  (16, 56, 35.73, 2.28, 16),
    "regnet_x_1_6gf":  (18, 80, 34.01, 2.25, 24),
    "regnet_x_3_2gf":  (25, 88, 26.31, 2.25, 48),
    "regnet_x_8gf":    (23, 80, 49.56, 2.88, 120),
    "regnet_x_16gf":   (22, 216, 55.59, 2.1, 128),
    "regnet_x_32gf":   (23, 320, 69.86, 2.0, 168),
    "regnet_y_400mf":  (16, 48, 27.89, 2.09, 8),
    "regnet_y_800mf":  (14, 56, 38.84, 2.4, 16),
    "regnet_y_1_6gf":  (27, 48, 20.71, 2.65, 24),
    "regnet_y_3_2gf":  (21, 80, 42.63, 2.66, 24),
    "regnet_y_8gf":    (17, 192, 76.82, 2.19, 56),
    "regnet_y_16gf":   (18, 200, 106.23, 2.48, 112),
    "regnet_y_32gf":   (20, 232, 115.89, 2.53, 232),
    "regnet_y_128gf":  (27, 456, 160.83, 2.52, 264),
}
# fmt: on
REGNET_PARAMS: dict[str, dict] = {
    name: {
        "depth": d,
        "w_0": w_0,
        "w_a": w_a,
        "w_m": w_m,
        "group_width": g,
        "se_ratio": 0.25 if name.startswith("regnet_y") else None,
    }
    for name, (d, w_0, w_a, w_m, g) in REGNET_TABLE.items()
}


# ---------------------------------------------------------------- builders
def regnet(name: str, num_classes: int = 1000, rounding: str = "torchvision") -> AnyNet:
    """Any of the named RegNets in REGNET_PARAMS; rounding="pycls" gives the paper's
    widths where the two group-width roundings differ."""
    config = regnet_config(**REGNET_PARAMS[name], rounding=rounding)
    return AnyNet(config, num_classes=num_classes)


def regnet_x_400mf(num_classes: int = 1000, rounding: str = "torchvision") -> AnyNet:
    return regnet("regnet_x_400mf", num_classes, rounding)


def regnet_y_400mf(num_classes: int = 1000, rounding: str = "torchvision") -> AnyNet:
    return regnet("regnet_y_400mf", num_classes, rounding)
