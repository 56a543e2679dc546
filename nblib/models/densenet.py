"""DenseNet: every layer reads the concatenation of all earlier feature maps of its
block and adds k new ones (the growth rate).

Huang et al., "Densely Connected Convolutional Networks", CVPR 2017 (arXiv:1608.06993).
The ImageNet models are DenseNet-BC: a 1x1 bottleneck to 4k channels before each 3x3,
and transitions that compress the channels by theta = 0.5. Module names follow
torchvision, so its weights load by key.
"""

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from nblib.blocks import conv1x1, conv3x3

# Table 1 of the paper (k = 32); DenseNet-161 (k = 48) is from the authors' code
# release.
# fmt: off
DENSENET_CONFIGS: dict[int, tuple[int, tuple[int, int, int, int]]] = {
    # depth: (growth rate k, dense layers per block)
    121: (32, (6, 12, 24, 16)),
    161: (48, (6, 12, 36, 24)),
    169: (32, (6, 12, 32, 32)),
    201: (32, (6, 12, 48, 32)),
}
# fmt: on


class DenseLayer(nn.Module):
    """H_l of DenseNet-B: BN-ReLU-1x1 conv (to bn_size * k channels), BN-ReLU-3x3 conv
    (to k channels), applied to the concatenation of every earlier feature map.

    `memory_efficient=True` recomputes the concatenation, BN, ReLU and 1x1 conv during
    the backward pass instead of storing them (Pleiss et al. 2017): same results, less
    memory, more time.
    """

    def __init__(
        self,
        in_channels: int,
        growth_rate: int,
        bn_size: int = 4,
        memory_efficient: bool = False,
    ) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = conv1x1(in_channels, bn_size * growth_rate)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(bn_size * growth_rate, growth_rate)
        self.memory_efficient = memory_efficient

    def bottleneck(self, *features: torch.Tensor) -> torch.Tensor:
        x = torch.cat(features, 1)  # (B, k0 + (l-1)k, H, W): a new copy in every layer
        return self.conv1(self.relu1(self.norm1(x)))  # (B, 4k, H, W)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        if (
            self.memory_efficient
            and torch.is_grad_enabled()
            and any(f.requires_grad for f in features)
        ):
            out = checkpoint(self.bottleneck, *features, use_reentrant=False)
        else:
            out = self.bottleneck(*features)
        return self.conv2(self.relu2(self.norm2(out)))  # (B, k, H, W)


class DenseBlock(nn.ModuleDict):
    """`num_layers` dense layers at one resolution: layer l reads k0 + (l-1)k channels,
    and the block returns all k0 + num_layers * k of them."""

    def __init__(
        self,
        num_layers: int,
        in_channels: int,
        growth_rate: int,
        bn_size: int = 4,
        memory_efficient: bool = False,
    ) -> None:
        super().__init__(
            {
                f"denselayer{i + 1}": DenseLayer(
                    in_channels + i * growth_rate,
                    growth_rate,
                    bn_size,
                    memory_efficient,
                )
                for i in range(num_layers)
            }
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Sequential):
    """Between two dense blocks: BN-ReLU-1x1 conv to the compressed width, then a 2x2
    average pool that halves the resolution."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            OrderedDict(
                norm=nn.BatchNorm2d(in_channels),
                relu=nn.ReLU(inplace=True),
                conv=conv1x1(in_channels, out_channels),
                pool=nn.AvgPool2d(kernel_size=2, stride=2),
            )
        )


class DenseNet(nn.Module):
    """Stem (7x7/2 conv with 2k channels, 3x3/2 max-pool), dense blocks joined by
    transitions that keep floor(compression * m) of m channels, a final BN, global
    average pool and one fully connected layer."""

    def __init__(
        self,
        growth_rate: int = 32,
        block_config: tuple[int, ...] = (6, 12, 24, 16),
        num_init_features: int | None = None,
        bn_size: int = 4,
        compression: float = 0.5,
        num_classes: int = 1000,
        memory_efficient: bool = False,
    ) -> None:
        super().__init__()
        if not 0 < compression <= 1:
            raise ValueError(f"compression must be in (0, 1], got {compression}")
        channels = num_init_features or 2 * growth_rate
        self.features = nn.Sequential(
            OrderedDict(
                conv0=nn.Conv2d(3, channels, 7, stride=2, padding=3, bias=False),
                norm0=nn.BatchNorm2d(channels),
                relu0=nn.ReLU(inplace=True),
                pool0=nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            )
        )
        self.feature_info = []
        for i, num_layers in enumerate(block_config):
            block = DenseBlock(
                num_layers, channels, growth_rate, bn_size, memory_efficient
            )
            self.features.add_module(f"denseblock{i + 1}", block)
            channels += num_layers * growth_rate
            self.feature_info.append({"channels": channels, "stride": 4 * 2**i})
            if i < len(block_config) - 1:
                out_channels = math.floor(compression * channels)
                self.features.add_module(
                    f"transition{i + 1}", Transition(channels, out_channels)
                )
                channels = out_channels
        self.features.add_module("norm5", nn.BatchNorm2d(channels))
        self.classifier = nn.Linear(channels, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:  # as torchvision (from the authors' Torch code)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The output of each dense block, at strides 4, 8, 16, 32; the last one after
        norm5 and ReLU, the map the classifier pools."""
        features = []
        for name, module in self.features.named_children():
            x = module(x)
            if name.startswith("denseblock"):
                features.append(x)
        features[-1] = F.relu(x)  # x = norm5(last block)
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(x)[-1]  # (B, C, H/32, W/32)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def _densenet(depth: int, **kwargs) -> DenseNet:
    growth_rate, block_config = DENSENET_CONFIGS[depth]
    return DenseNet(growth_rate, block_config, **kwargs)


def densenet121(**kwargs) -> DenseNet:
    """DenseNet-121: k = 32, dense blocks of (6, 12, 24, 16) layers."""
    return _densenet(121, **kwargs)


def densenet161(**kwargs) -> DenseNet:
    """DenseNet-161: k = 48 (96 stem channels), dense blocks of (6, 12, 36, 24)."""
    return _densenet(161, **kwargs)


def densenet169(**kwargs) -> DenseNet:
    """DenseNet-169: k = 32, dense blocks of (6, 12, 32, 32) layers."""
    return _densenet(169, **kwargs)


def densenet201(**kwargs) -> DenseNet:
    """DenseNet-201: k = 32, dense blocks of (6, 12, 48, 32) layers."""
    return _densenet(201, **kwargs)
