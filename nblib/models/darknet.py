"""Darknet-53: YOLOv3's backbone, a plain stack of 3x3 stride-2 convolutions and
residual pairs of 1x1 (halve the channels) and 3x3 (restore them) convolutions.

Redmon and Farhadi, "YOLOv3: An Incremental Improvement", 2018 (arXiv:1804.02767),
Table 1. Every convolution is followed by batch norm and a leaky ReLU; 52 convolutions
plus the fully connected classifier make the 53 layers. Module names follow timm's
`darknet53` (timm.models.cspnet), so its weights load by key. `DarkBlock` and
`ClassifierHead` are shared with nblib.models.cspnet (and the last with
nblib.models.vovnet), whose timm counterparts use the same names. The activation is an
argument: timm's leaky ReLU has slope 0.01 (`nn.LeakyReLU`'s default), Darknet's cfg
files 0.1 (`functools.partial(nn.LeakyReLU, 0.1)`).
"""

import torch
import torch.nn.functional as F
from torch import nn

from nblib.blocks import ActLayer, ConvNormAct

# Table 1 of the YOLOv3 paper: residual blocks per stage, each stage opening with a
# 3x3 stride-2 convolution that doubles the channels.
# fmt: off
DARKNET_CONFIGS: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {
    # depth: (residual blocks per stage, output channels per stage)
    53: ((1, 2, 8, 8, 4), (64, 128, 256, 512, 1024)),
}
# fmt: on


class DarkBlock(nn.Module):
    """Darknet's residual unit: x + conv3x3(conv1x1(x)), the 1x1 to `mid_channels`."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        mid_channels: int,
        act: ActLayer = nn.LeakyReLU,
    ) -> None:
        super().__init__()
        self.conv1 = ConvNormAct(in_channels, mid_channels, 1, act=act)
        self.conv2 = ConvNormAct(mid_channels, out_channels, 3, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.conv1(x))

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.conv2.bn.weight)


class ClassifierHead(nn.Module):
    """Global average pool and one fully connected layer (timm's `head.fc`)."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class DarkStage(nn.Module):
    """A 3x3 stride-2 convolution to `out_channels`, then `depth` residual units
    (1x1 to out_channels / 2, 3x3 back to out_channels)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        depth: int,
        act: ActLayer = nn.LeakyReLU,
    ) -> None:
        super().__init__()
        self.conv_down = ConvNormAct(in_channels, out_channels, 3, 2, act=act)
        self.blocks = nn.Sequential(
            *[
                DarkBlock(out_channels, out_channels, out_channels // 2, act)
                for _ in range(depth)
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.conv_down(x))


class Darknet(nn.Module):
    """Stem (3x3 conv, 32 channels, stride 1), five DarkStages (stride 2 each), global
    average pool and a fully connected classifier."""

    def __init__(
        self,
        depths: tuple[int, ...] = (1, 2, 8, 8, 4),
        channels: tuple[int, ...] = (64, 128, 256, 512, 1024),
        stem_channels: int = 32,
        num_classes: int = 1000,
        act: ActLayer = nn.LeakyReLU,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential()
        self.stem.add_module("conv1", ConvNormAct(3, stem_channels, 3, act=act))
        stages, in_channels = [], stem_channels
        for depth, out_channels in zip(depths, channels, strict=True):
            stages.append(DarkStage(in_channels, out_channels, depth, act))
            in_channels = out_channels
        self.stages = nn.Sequential(*stages)
        self.feature_info = [
            {"channels": c, "stride": 2 ** (i + 1)} for i, c in enumerate(channels)
        ]
        self.head = ClassifierHead(in_channels, num_classes)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The output of each stage, at strides 2, 4, 8, 16, 32."""
        x = self.stem(x)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x)[-1])


def init_weights(model: nn.Module) -> None:
    """As timm's cspnet: He-normal (fan_out) convolutions, N(0, 0.01) classifier,
    the last BN of every residual branch zero (each block starts as the identity)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)
        elif callable(zero_init_last := getattr(m, "zero_init_last", None)):
            zero_init_last()


def darknet53(**kwargs) -> Darknet:
    """Darknet-53 (YOLOv3, Table 1): 52 convolutions and a classifier."""
    depths, channels = DARKNET_CONFIGS[53]
    return Darknet(depths, channels, **kwargs)
