"""VGG: very deep networks built only from 3x3 convolutions and 2x2 max-pools.

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", ICLR 2015 (arXiv:1409.1556). Module names follow torchvision, so its
weights load by key.
"""

import torch
from torch import nn

# Table 1 of the paper: an int is a 3x3 conv with that many output channels,
# "M" a 2x2 max-pool. One line per configuration, split after stage 3.
# fmt: off
VGG_CONFIGS: dict[str, list[int | str]] = {
    "A": [64, "M", 128, "M", 256, 256, "M",                     # VGG-11
          512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M",            # VGG-13
          512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M",       # VGG-16
          512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",  # VGG-19
          512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
# fmt: on


def make_features(config: list[int | str], batch_norm: bool) -> nn.Sequential:
    """The convolutional trunk: 3x3 conv (+ BN) + ReLU for each int, a 2x2 max-pool for
    each "M"."""
    layers: list[nn.Module] = []
    in_channels = 3
    for item in config:
        if isinstance(item, str):  # "M"
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, item, kernel_size=3, padding=1))
        if batch_norm:  # not in the 2014 paper; torchvision's *_bn models add it
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU(inplace=True))
        in_channels = item
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """Five conv stages, each halved by a max-pool, then three fully connected
    layers."""

    def __init__(
        self,
        config: list[int | str],
        batch_norm: bool = False,
        num_classes: int = 1000,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.features = make_features(config, batch_norm)
        # The adaptive pool lets the classifier take any input size.
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(4096, num_classes),
        )
        widths = [
            c
            for c, nxt in zip(config, config[1:] + ["M"], strict=True)
            if nxt == "M" and c != "M"
        ]
        self.feature_info = [
            {"channels": c, "stride": 2 ** (i + 1)} for i, c in enumerate(widths)
        ]
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Output of each of the five stages (after its max-pool): strides 2, 4, 8, 16,
        32."""
        features = []
        for layer in self.features:
            x = layer(x)
            if isinstance(layer, nn.MaxPool2d):
                features.append(x)
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)  # (B, 512, H/32, W/32)
        x = torch.flatten(self.avgpool(x), 1)  # (B, 512*7*7)
        return self.classifier(x)


def vgg11(batch_norm: bool = False, num_classes: int = 1000) -> VGG:
    """VGG-11 (configuration A)."""
    return VGG(VGG_CONFIGS["A"], batch_norm, num_classes)


def vgg13(batch_norm: bool = False, num_classes: int = 1000) -> VGG:
    """VGG-13 (configuration B)."""
    return VGG(VGG_CONFIGS["B"], batch_norm, num_classes)


def vgg16(batch_norm: bool = False, num_classes: int = 1000) -> VGG:
    """VGG-16 (configuration D)."""
    return VGG(VGG_CONFIGS["D"], batch_norm, num_classes)


def vgg19(batch_norm: bool = False, num_classes: int = 1000) -> VGG:
    """VGG-19 (configuration E)."""
    return VGG(VGG_CONFIGS["E"], batch_norm, num_classes)
