"""MobileNet v1 (Howard et al. 2017) and MobileNet v2 (Sandler et al., CVPR 2018).

v1 factorises every 3x3 convolution into a depthwise 3x3 and a pointwise 1x1 (a
*depthwise separable* convolution); v2 wraps the depthwise 3x3 in an *inverted
residual*: expand with a 1x1, filter depthwise, project back with a *linear* 1x1.
Module names follow timm's `mobilenetv1_100` and torchvision's `mobilenet_v2`, so their
weights load by key.
"""

import torch
from torch import nn

from nblib.blocks import conv_bn_act, make_divisible


class DepthwiseSeparableConv(nn.Module):
    """v1's unit: a depthwise 3x3 (one filter per channel, carries the stride), then a
    pointwise 1x1 that mixes channels; BN and ReLU6 after each (timm's names)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv_dw = nn.Conv2d(
            in_channels,
            in_channels,
            3,
            stride,
            padding=1,
            groups=in_channels,
            bias=False,
        )
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.act1 = nn.ReLU6(inplace=True)
        self.conv_pw = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.act2 = nn.ReLU6(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv_dw(x)))  # filter each channel
        return self.act2(self.bn2(self.conv_pw(x)))  # combine channels


class InvertedResidual(nn.Module):
    """v2's unit: 1x1 expansion to t * C_in (skipped when t = 1), depthwise 3x3, and a
    linear 1x1 projection (BN, no activation); a shortcut when shape is unchanged."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, expansion: int
    ) -> None:
        super().__init__()
        hidden = in_channels * expansion
        self.use_res_connect = stride == 1 and in_channels == out_channels
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(conv_bn_act(in_channels, hidden, 1, act=nn.ReLU6))  # expand
        layers += [
            conv_bn_act(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),  # dw
            nn.Conv2d(hidden, out_channels, 1, bias=False),  # project: linear
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV1(nn.Module):
    """Stem 3x3/2 conv, 13 depthwise separable units in 5 stages (stride 2 in the
    depthwise conv instead of pooling), global average pool, classifier."""

    def __init__(
        self,
        stages: list[list[tuple[int, int]]],
        width_multiplier: float = 1.0,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        if width_multiplier <= 0:
            raise ValueError(
                f"width_multiplier must be positive, got {width_multiplier}"
            )
        width = make_divisible(32 * width_multiplier)
        self.conv_stem = nn.Conv2d(3, width, 3, 2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.act1 = nn.ReLU6(inplace=True)
        blocks, self.feature_info, stride = [], [], 2
        for stage in stages:
            units = []
            for channels, s in stage:
                out = make_divisible(channels * width_multiplier)
                units.append(DepthwiseSeparableConv(width, out, s))
                width, stride = out, stride * s
            blocks.append(nn.Sequential(*units))
            self.feature_info.append({"channels": width, "stride": stride})
        self.feature_info = self.feature_info[1:]  # strides 4, 8, 16, 32
        self.blocks = nn.Sequential(*blocks)
        self.classifier = nn.Linear(width, num_classes)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.act1(self.bn1(self.conv_stem(x)))  # (B, 32, H/2, W/2)
        features = []
        for i, stage in enumerate(self.blocks):
            x = stage(x)
            if i > 0:
                features.append(x)
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(x)[-1]  # (B, 1024, H/32, W/32)
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)  # (B, 1024)
        return self.classifier(x)


class MobileNetV2(nn.Module):
    """Stem 3x3/2 conv, 17 inverted residuals, a 1x1 conv to 1280 channels, global
    average pool, dropout and classifier (torchvision's layout and names)."""

    def __init__(
        self,
        config: list[tuple[int, int, int, int]],
        width_multiplier: float = 1.0,
        num_classes: int = 1000,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        if width_multiplier <= 0:
            raise ValueError(
                f"width_multiplier must be positive, got {width_multiplier}"
            )
        width = make_divisible(32 * width_multiplier)
        last = make_divisible(1280 * max(1.0, width_multiplier))
        layers: list[nn.Module] = [conv_bn_act(3, width, 3, 2, act=nn.ReLU6)]
        widths, strides = [width], [2]  # output width and stride of each layer
        for t, c, n, s in config:
            out = make_divisible(c * width_multiplier)
            for i in range(n):  # the first unit of a row carries the stride
                layers.append(InvertedResidual(width, out, s if i == 0 else 1, t))
                widths.append(out)
                strides.append(strides[-1] * (s if i == 0 else 1))
                width = out
        layers.append(conv_bn_act(width, last, 1, act=nn.ReLU6))
        widths.append(last)
        strides.append(strides[-1])
        # taps: the last map at strides 4, 8 and 16, and the 1x1 head at stride 32
        self._taps = [
            max(i for i, s in enumerate(strides) if s == r) for r in (4, 8, 16)
        ]
        self._taps.append(len(layers) - 1)
        self.feature_info = [
            {"channels": widths[i], "stride": strides[i]} for i in self._taps
        ]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(last, num_classes)
        )

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self._taps:
                features.append(x)
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (B, 1280, H/32, W/32)
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.classifier(x)


# fmt: off
# MobileNet v1, Table 1 of the paper: (output channels, stride) of each depthwise
# separable unit, grouped in timm's five stages (one per output stride).
MOBILENET_V1_STAGES = [
    [(64, 1)],
    [(128, 2), (128, 1)],
    [(256, 2), (256, 1)],
    [(512, 2)] + [(512, 1)] * 5,
    [(1024, 2), (1024, 1)],
]

# MobileNet v2, Table 2 of the paper: expansion t, output channels c, repeats n,
# stride s of the first repeat.
MOBILENET_V2_CONFIG = [
    # t, c, n, s
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]
# fmt: on


def mobilenet_v1(width_multiplier: float = 1.0, num_classes: int = 1000) -> MobileNetV1:
    """MobileNet v1 with width multiplier alpha; alpha = 1 equals timm's
    `mobilenetv1_100`."""
    return MobileNetV1(MOBILENET_V1_STAGES, width_multiplier, num_classes)


def mobilenet_v2(width_multiplier: float = 1.0, num_classes: int = 1000) -> MobileNetV2:
    """MobileNet v2 with width multiplier alpha; alpha = 1 equals torchvision's
    `mobilenet_v2`."""
    return MobileNetV2(MOBILENET_V2_CONFIG, width_multiplier, num_classes)
