"""ResNet: residual learning, y = x + F(x), and the variants that are options of it.

He et al., "Deep Residual Learning for Image Recognition", CVPR 2016 (arXiv:1512.03385);
He et al., "Identity Mappings in Deep Residual Networks", ECCV 2016 (arXiv:1603.05027);
He et al., "Bag of Tricks for Image Classification with CNNs", CVPR 2019 (ResNet-B/C/D);
Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018 (SE-ResNet);
Xie et al., "Aggregated Residual Transformations for Deep Neural Networks", CVPR 2017
(ResNeXt). Module names follow torchvision (timm for the stem, shortcut and SE options),
so their weights load by key.
"""

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any, ClassVar

import torch
from torch import nn

from nblib.blocks import SqueezeExcitation, conv1x1, conv3x3

# Table 1 of the paper: blocks per stage (conv2_x .. conv5_x).
RESNET_DEPTHS: dict[int, tuple[int, int, int, int]] = {
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
}
STEMS = ("7x7", "deep")
DOWNSAMPLES = ("conv", "avg")
# Where a bottleneck's SE block sits (SENet, Sec. 6.5, Fig. 5 and Table 15): on the
# branch before the addition (the standard design), before the whole unit, after the
# addition (and its ReLU), on the shortcut, or inside the branch after the 3x3.
SE_PLACEMENTS = ("branch", "pre", "post", "identity", "3x3")
# The paper's shortcut options (Sec. 3.3, Table 3): A zero-pads an identity where the
# shape changes, B projects only there, C projects in every block.
SHORTCUTS = ("A", "B", "C")


def make_stem(stem: str) -> nn.Module:
    """The first convolution(s), 3 -> 64 channels at stride 2: the paper's 7x7, or
    ResNet-C's three 3x3 (32, 32, 64 channels), laid out as timm's `resnet50d.conv1`."""
    if stem == "7x7":
        return nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return nn.Sequential(
        conv3x3(3, 32, stride=2),
        nn.BatchNorm2d(32),
        nn.ReLU(inplace=True),
        conv3x3(32, 32),
        nn.BatchNorm2d(32),
        nn.ReLU(inplace=True),
        conv3x3(32, 64),
    )


def make_projection(
    in_channels: int, out_channels: int, stride: int, downsample: str, norm: bool
) -> nn.Module:
    """Projection shortcut (option B of the paper): a 1x1 conv with the block's stride,
    then BN. ResNet-D (`downsample="avg"`) gives the stride to a 2x2 average pool, so
    that the 1x1 conv sees every input position."""
    layers: list[nn.Module]
    if downsample == "conv":
        layers = [conv1x1(in_channels, out_channels, stride)]
    else:
        pool = (
            nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)
            if stride > 1
            else nn.Identity()
        )
        layers = [pool, conv1x1(in_channels, out_channels)]
    if norm:
        layers.append(nn.BatchNorm2d(out_channels))
    return layers[0] if len(layers) == 1 else nn.Sequential(*layers)


class ZeroPadShortcut(nn.Module):
    """Option A of the paper: the identity, subsampled with the block's stride, with
    zero channels appended up to the block's output width. It has no parameters."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(
                f"zero-padding can only widen: out_channels {out_channels} < "
                f"in_channels {in_channels}"
            )
        self.stride, self.extra = stride, out_channels - in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]  # (B, C_in, H/s, W/s)
        return nn.functional.pad(x, (0, 0, 0, 0, 0, self.extra))  # (B, C_out, ...)


def _optional_se(channels: int, se_reduction: int | None) -> nn.Module | None:
    return None if se_reduction is None else SqueezeExcitation(channels, se_reduction)


# What ResNet may hand a block, with the value that means "not asked for". A block
# takes the ones its constructor names; asking a block for one it lacks is an error.
BLOCK_OPTIONS: dict[str, Any] = {
    "residual": True,
    "stride_in_1x1": False,
    "groups": 1,
    "width_per_group": 64,
    "se_reduction": None,
    "se_placement": "branch",
}


class ResNetBlock(nn.Module):
    """What `ResNet` stacks: built as `block(in_channels, width, stride, downsample,
    **options)` with the options its constructor names. `expansion`: output channels
    per unit of width; `preact`: the block ends on a bare addition."""

    expansion: ClassVar[int] = 1
    preact: ClassVar[bool] = False


def block_options(block: type[ResNetBlock], asked: dict[str, Any]) -> dict[str, Any]:
    """The options in `asked` that `block`'s constructor names; a ValueError names any
    other that was asked for (an option of BLOCK_OPTIONS away from its default, or any
    block-specific one)."""
    takes = inspect.signature(block).parameters
    refused = [
        f"{name}={value!r}"
        for name, value in asked.items()
        if name not in takes
        and (name not in BLOCK_OPTIONS or value != BLOCK_OPTIONS[name])
    ]
    if refused:
        raise ValueError(f"{block.__name__} takes no {', '.join(refused)}")
    return {name: value for name, value in asked.items() if name in takes}


class BasicBlock(ResNetBlock):
    """Two 3x3 convs; the ReLU comes after the addition (the original, "post-activation"
    order).

    `residual=False` drops the shortcut: the paper's plain baseline with the same
    layers.
    """

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        width: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        *,
        residual: bool = True,
        se_reduction: int | None = None,
    ) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, width, stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(width, width)
        self.bn2 = nn.BatchNorm2d(width)
        self.se = _optional_se(width, se_reduction)
        self.downsample = downsample
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.se is not None:
            out = self.se(out)
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class Bottleneck(ResNetBlock):
    """1x1 reduce -> 3x3 -> 1x1 expand (x4). torchvision puts the stride on the 3x3
    ("ResNet v1.5", ResNet-B in Bag of Tricks); `stride_in_1x1=True` gives the paper's
    original placement. ResNeXt: the 3x3 is a grouped conv of `groups` (the cardinality
    C) paths of `width_per_group` (d) channels each. SE rescales the branch before the
    addition; `se_placement` moves it (SENet's integration variants, `SE_PLACEMENTS`),
    always under the name `se` so that weights load by key."""

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        width: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        *,
        residual: bool = True,
        stride_in_1x1: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
        se_reduction: int | None = None,
        se_placement: str = "branch",
    ) -> None:
        super().__init__()
        if se_placement not in SE_PLACEMENTS:
            raise ValueError(
                f"se_placement must be one of {SE_PLACEMENTS}, got {se_placement!r}"
            )
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        # torchvision's formula: d channels per path at width 64, scaled with the stage
        inner = int(width * (width_per_group / 64.0)) * groups
        self.conv1 = conv1x1(in_channels, inner, stride_1x1)
        self.bn1 = nn.BatchNorm2d(inner)
        self.conv2 = conv3x3(inner, inner, stride_3x3, groups)
        self.bn2 = nn.BatchNorm2d(inner)
        self.conv3 = conv1x1(inner, width * self.expansion)
        self.bn3 = nn.BatchNorm2d(width * self.expansion)
        # SE sees the channels of the tensor it rescales
        se_channels = {"pre": in_channels, "3x3": inner}.get(
            se_placement, width * self.expansion
        )
        self.se = _optional_se(se_channels, se_reduction)
        self.se_placement = se_placement
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.residual = residual

    def _se(self, x: torch.Tensor, here: str) -> torch.Tensor:
        return x if self.se is None or self.se_placement != here else self.se(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._se(x, "pre")  # SE-PRE: the unit's input, both paths
        out = self.relu(self.bn1(self.conv1(x)))
        out = self._se(self.relu(self.bn2(self.conv2(out))), "3x3")
        out = self._se(self.bn3(self.conv3(out)), "branch")  # the standard SE
        if self.residual:
            shortcut = x if self.downsample is None else self.downsample(x)
            out = out + self._se(shortcut, "identity")
        return self._se(self.relu(out), "post")  # SE-POST: rescales the trunk


class PreActBasicBlock(ResNetBlock):
    """Pre-activation: BN-ReLU-conv twice, and nothing after the addition, so x_{l+1} =
    x_l + F(x_l) is an exact identity path (Identity Mappings, Fig. 4e)."""

    expansion = 1
    preact = True

    def __init__(
        self,
        in_channels: int,
        width: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        *,
        residual: bool = True,
        se_reduction: int | None = None,
    ) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = conv3x3(in_channels, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width)
        self.se = _optional_se(width, se_reduction)
        self.downsample = downsample
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.relu(self.bn1(x))
        # A projection shortcut sees the pre-activated input, as in the paper's code.
        shortcut = x if self.downsample is None else self.downsample(pre)
        out = self.conv2(self.relu(self.bn2(self.conv1(pre))))
        if self.se is not None:
            out = self.se(out)
        return out + shortcut if self.residual else out


class PreActBottleneck(ResNetBlock):
    """Pre-activation bottleneck: (BN-ReLU-conv) x 3 with 1x1, 3x3, 1x1 kernels;
    identity after the add."""

    expansion = 4
    preact = True

    def __init__(
        self,
        in_channels: int,
        width: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        *,
        residual: bool = True,
        stride_in_1x1: bool = False,
        groups: int = 1,
        width_per_group: int = 64,
        se_reduction: int | None = None,
    ) -> None:
        super().__init__()
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        inner = int(width * (width_per_group / 64.0)) * groups
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = conv1x1(in_channels, inner, stride_1x1)
        self.bn2 = nn.BatchNorm2d(inner)
        self.conv2 = conv3x3(inner, inner, stride_3x3, groups)
        self.bn3 = nn.BatchNorm2d(inner)
        self.conv3 = conv1x1(inner, width * self.expansion)
        self.se = _optional_se(width * self.expansion, se_reduction)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.relu(self.bn1(x))
        shortcut = x if self.downsample is None else self.downsample(pre)
        out = self.conv1(pre)
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        if self.se is not None:
            out = self.se(out)
        return out + shortcut if self.residual else out


class ResNet(nn.Module):
    """Stem (7x7/2 conv, 3x3/2 max-pool), four stages of blocks (the first block of
    stages 2-4 halves the resolution), global average pool, one fully connected layer.

    Variants are arguments: `stem="deep"` (ResNet-C), `downsample="avg"` (ResNet-D),
    `stride_in_1x1=True` (the paper's ResNet-50, "ResNet-A"), `se_reduction=r`
    (SE-ResNet; `se_placement` for SENet's integration variants), `groups=C,
    width_per_group=d` (ResNeXt Cxd), `shortcut="A"` or `"C"` (the paper's
    zero-padding or all-projection shortcuts; "B", projections only where the shape
    changes, is torchvision's and the default). Each block gets the options its
    constructor names (`block_options`); `extra_options` are options of one block
    class only (Res2Net's `scale`, ResNeSt's `radix`).
    """

    # set by name in a loop (torchvision's keys): declared for the type checker
    layer1: nn.Sequential
    layer2: nn.Sequential
    layer3: nn.Sequential
    layer4: nn.Sequential

    def __init__(
        self,
        block: type[ResNetBlock],
        layers: tuple[int, ...],
        num_classes: int = 1000,
        residual: bool = True,
        stride_in_1x1: bool = False,
        zero_init_residual: bool = False,
        stem: str = "7x7",
        downsample: str = "conv",
        groups: int = 1,
        width_per_group: int = 64,
        se_reduction: int | None = None,
        se_placement: str = "branch",
        shortcut: str = "B",
        extra_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if shortcut not in SHORTCUTS:
            raise ValueError(f"shortcut must be one of {SHORTCUTS}, got {shortcut!r}")
        if shortcut == "A" and downsample != "conv":
            raise ValueError(
                f"downsample={downsample!r} shapes a projection; shortcut 'A' has none"
            )
        if stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}, got {stem!r}")
        if downsample not in DOWNSAMPLES:
            raise ValueError(
                f"downsample must be one of {DOWNSAMPLES}, got {downsample!r}"
            )
        self.preact = block.preact
        self.conv1 = make_stem(stem)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.in_channels = 64
        self.feature_info = []
        asked = {
            "residual": residual,
            "stride_in_1x1": stride_in_1x1,
            "groups": groups,
            "width_per_group": width_per_group,
            "se_reduction": se_reduction,
            "se_placement": se_placement,
            **(extra_options or {}),
        }
        make_block = partial(block, **block_options(block, asked))
        for i, (width, depth) in enumerate(
            zip((64, 128, 256, 512), layers, strict=True)
        ):
            stride = 1 if i == 0 else 2
            out_channels = width * block.expansion
            stage = self._make_stage(
                make_block, width, out_channels, depth, stride, downsample, shortcut
            )
            setattr(self, f"layer{i + 1}", stage)
            self.feature_info.append({"channels": out_channels, "stride": 4 * 2**i})
        # Pre-activation blocks end on an addition: normalise and activate once before
        # pooling.
        self.post_norm = (
            nn.Sequential(nn.BatchNorm2d(self.in_channels), nn.ReLU(inplace=True))
            if self.preact
            else nn.Identity()
        )
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(self.in_channels, num_classes)
        self._init_weights(zero_init_residual)

    def _make_stage(
        self,
        make_block: Callable[..., nn.Module],
        width: int,
        out_channels: int,
        depth: int,
        stride: int,
        downsample: str,
        shortcut: str = "B",
    ) -> nn.Sequential:
        def make_shortcut(in_channels: int, stride: int) -> nn.Module | None:
            if stride == 1 and in_channels == out_channels and shortcut != "C":
                return None  # the identity
            if shortcut == "A":
                return ZeroPadShortcut(in_channels, out_channels, stride)
            return make_projection(
                in_channels, out_channels, stride, downsample, not self.preact
            )

        blocks = [
            make_block(
                self.in_channels, width, stride, make_shortcut(self.in_channels, stride)
            )
        ]
        self.in_channels = out_channels
        blocks += [
            make_block(out_channels, width, 1, make_shortcut(out_channels, 1))
            for _ in range(depth - 1)
        ]
        return nn.Sequential(*blocks)

    def _init_weights(self, zero_init_residual: bool) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if (
            zero_init_residual
        ):  # each residual branch starts as zero, so each block starts as identity
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)
                elif isinstance(m, BasicBlock):
                    nn.init.zeros_(m.bn2.weight)
                elif isinstance(m, (PreActBasicBlock, PreActBottleneck)):
                    nn.init.zeros_(
                        m.conv3.weight
                        if isinstance(m, PreActBottleneck)
                        else m.conv2.weight
                    )

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """C2, C3, C4, C5: the output of each stage, at strides 4, 8, 16, 32."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))  # (B, 64, H/4, W/4)
        features = []
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
            features.append(x)
        features[-1] = self.post_norm(features[-1])
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(x)[-1]  # (B, C5, H/32, W/32)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _resnet(depth: int, preact: bool, **kwargs) -> ResNet:
    block: type[ResNetBlock]
    if depth < 50:
        block = PreActBasicBlock if preact else BasicBlock
    else:
        block = PreActBottleneck if preact else Bottleneck
    return ResNet(block, RESNET_DEPTHS[depth], **kwargs)


def resnet18(preact: bool = False, **kwargs) -> ResNet:
    """ResNet-18: basic blocks (2, 2, 2, 2)."""
    return _resnet(18, preact, **kwargs)


def resnet34(preact: bool = False, **kwargs) -> ResNet:
    """ResNet-34: basic blocks (3, 4, 6, 3)."""
    return _resnet(34, preact, **kwargs)


def resnet50(preact: bool = False, **kwargs) -> ResNet:
    """ResNet-50: bottleneck blocks (3, 4, 6, 3)."""
    return _resnet(50, preact, **kwargs)


def resnet101(preact: bool = False, **kwargs) -> ResNet:
    """ResNet-101: bottleneck blocks (3, 4, 23, 3)."""
    return _resnet(101, preact, **kwargs)


def resnet152(preact: bool = False, **kwargs) -> ResNet:
    """ResNet-152: bottleneck blocks (3, 8, 36, 3)."""
    return _resnet(152, preact, **kwargs)
