"""VoVNet: one-shot aggregation (OSA). Each 3x3 convolution of a block reads only the
previous layer's output; all of them are concatenated once, at the end, and fused by
a 1x1 convolution.

Lee et al., "An Energy and GPU-Computation Efficient Backbone Network for Real-Time
Object Detection", CVPR Workshops 2019 (arXiv:1904.09730), Table 2. A DenseNet layer
instead reads the concatenation of every earlier layer, so its input grows with depth;
in an OSA module every 3x3 conv has equal input and output widths, the shape that
minimises memory access for its FLOPs. Module names follow timm's `vovnet39a`, so its
weights load by key.
"""

import torch
from torch import nn

from nblib.blocks import ConvNormAct
from nblib.models.darknet import ClassifierHead

# Table 2 of the paper; every OSA module has 5 conv layers.
# fmt: off
VOVNET_CONFIGS: dict[int, dict] = {
    39: {"stem": (64, 64, 128), "conv": (128, 160, 192, 224),
         "out": (256, 512, 768, 1024), "blocks": (1, 1, 2, 2)},
    57: {"stem": (64, 64, 128), "conv": (128, 160, 192, 224),
         "out": (256, 512, 768, 1024), "blocks": (1, 1, 4, 3)},
}
# fmt: on


class OsaBlock(nn.Module):
    """`layers` 3x3 convs in a chain (each to `mid_channels`), then one concatenation
    of the input and every conv output, and a 1x1 conv to `out_channels`."""

    def __init__(
        self, in_channels: int, mid_channels: int, out_channels: int, layers: int = 5
    ) -> None:
        super().__init__()
        self.conv_mid = nn.Sequential(
            *[
                ConvNormAct(in_channels if i == 0 else mid_channels, mid_channels, 3)
                for i in range(layers)
            ]
        )  # fmt: skip
        self.conv_concat = ConvNormAct(
            in_channels + layers * mid_channels, out_channels, 1
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [x]
        for conv in self.conv_mid:
            outputs.append(conv(outputs[-1]))  # reads one map, not all earlier ones
        return self.conv_concat(torch.cat(outputs, dim=1))  # aggregated once


class OsaStage(nn.Module):
    """An optional 3x3 stride-2 max-pool, then `blocks` OSA modules."""

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        blocks: int,
        layers: int = 5,
        downsample: bool = True,
    ) -> None:
        super().__init__()
        self.pool = (
            nn.MaxPool2d(3, stride=2, ceil_mode=True) if downsample else nn.Identity()
        )
        self.blocks = nn.Sequential(
            *[
                OsaBlock(in_channels if i == 0 else out_channels, mid_channels,
                         out_channels, layers)
                for i in range(blocks)
            ]
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.pool(x))


class VoVNet(nn.Module):
    """Stem (three 3x3 convs, strides 2, 1, 2), four OSA stages (the last three open
    with a max-pool), global average pool and a classifier."""

    def __init__(
        self,
        stem: tuple[int, int, int],
        conv: tuple[int, ...],
        out: tuple[int, ...],
        blocks: tuple[int, ...],
        layers: int = 5,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            ConvNormAct(3, stem[0], 3, stride=2),
            ConvNormAct(stem[0], stem[1], 3),
            ConvNormAct(stem[1], stem[2], 3, stride=2),
        )
        stages, channels = [], stem[2]
        self.feature_info = []
        for i, (mid, out_channels, n) in enumerate(zip(conv, out, blocks, strict=True)):
            stages.append(OsaStage(channels, mid, out_channels, n, layers, i > 0))
            channels = out_channels
            self.feature_info.append({"channels": channels, "stride": 4 * 2**i})
        self.stages = nn.Sequential(*stages)
        self.head = ClassifierHead(channels, num_classes)
        for m in self.modules():  # as timm
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The output of each stage, at strides 4, 8, 16, 32."""
        x = self.stem(x)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x)[-1])


def vovnet39(**kwargs) -> VoVNet:
    """VoVNet-39 (timm's vovnet39a): OSA modules per stage (1, 1, 2, 2)."""
    return VoVNet(**VOVNET_CONFIGS[39], **kwargs)


def vovnet57(**kwargs) -> VoVNet:
    """VoVNet-57 (timm's vovnet57a): OSA modules per stage (1, 1, 4, 3)."""
    return VoVNet(**VOVNET_CONFIGS[57], **kwargs)
