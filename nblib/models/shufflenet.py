"""ShuffleNet v1 and v2: cheap 1x1 layers, and a channel shuffle so that groups talk.

Zhang et al., "ShuffleNet: An Extremely Efficient Convolutional Neural Network for
Mobile Devices", CVPR 2018 (arXiv:1707.01083): v1 makes the 1x1 convolutions of a
depthwise bottleneck *grouped* (g groups) and shuffles the channels between them. There
is no reference implementation in torchvision or timm; v1 follows the paper's Fig. 2
and Table 1.

Ma et al., "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design",
ECCV 2018 (arXiv:1807.11164): v2 splits the channels in two, leaves one half alone,
transforms the other with dense 1x1 convolutions of equal widths, concatenates and
shuffles. Module names follow torchvision, so its weights load by key.
"""

import torch
from torch import nn

from nblib.blocks import channel_shuffle, conv_bn_act


class ShuffleUnit(nn.Module):
    """ShuffleNet v1 unit (Fig. 2 b, c): 1x1 GConv-BN-ReLU, channel shuffle, 3x3 DWConv
    (stride s)-BN, 1x1 GConv-BN; then add the input (s = 1) or concatenate a 3x3
    average pool of it (s = 2), and ReLU. The bottleneck is a quarter of the unit's
    output width; the first 1x1 of the network is dense (`first_groups=1`)."""

    def __init__(
        self, c_in: int, c_out: int, stride: int, groups: int, first_groups: int
    ) -> None:
        super().__init__()
        self.stride, self.groups = stride, first_groups
        mid = c_out // 4
        branch_out = c_out - c_in if stride == 2 else c_out
        self.gconv1 = conv_bn_act(c_in, mid, 1, groups=first_groups)
        self.dwconv = conv_bn_act(mid, mid, 3, stride, groups=mid, act=None)
        self.gconv2 = conv_bn_act(mid, branch_out, 1, groups=groups, act=None)
        self.shortcut = nn.AvgPool2d(3, 2, 1) if stride == 2 else nn.Identity()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.gconv1(x)
        if self.groups > 1:
            out = channel_shuffle(out, self.groups)
        out = self.gconv2(self.dwconv(out))
        if self.stride == 2:
            return self.act(torch.cat((self.shortcut(x), out), 1))
        return self.act(out + x)


class InvertedResidual(nn.Module):
    """ShuffleNet v2 unit (Fig. 3 c, d), named as torchvision's. Stride 1: split the
    channels in two, keep the first half, pass the second through 1x1-BN-ReLU,
    3x3 DW-BN, 1x1-BN-ReLU (equal widths), concatenate, shuffle with 2 groups.
    Stride 2: no split; both branches read the input (branch1: 3x3 DW-BN,
    1x1-BN-ReLU) and the concatenation doubles the width."""

    def __init__(self, inp: int, oup: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        half = oup // 2
        if stride == 1 and inp != 2 * half:
            raise ValueError(f"stride 1 needs inp == oup, got {inp} and {oup}")
        self.branch1 = nn.Sequential()
        if stride > 1:
            self.branch1 = nn.Sequential(
                *conv_bn_act(inp, inp, 3, stride, groups=inp, act=None),
                *conv_bn_act(inp, half, 1),
            )
        # torchvision's branches are flat Sequentials (keys 0-7): unpack each layer
        self.branch2 = nn.Sequential(
            *conv_bn_act(inp if stride > 1 else half, half, 1),
            *conv_bn_act(half, half, 3, stride, groups=half, act=None),
            *conv_bn_act(half, half, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)  # channel split
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNet(nn.Module):
    """Both versions: 3x3 stem (stride 2), 3x3 max pool, three stages (the first unit
    of each has stride 2), [v2: a 1x1 conv5], global average pool, FC.

    `unit(c_in, c_out, stride, first)` builds one unit; `head_channels` adds v2's
    conv5. Attribute names are torchvision's (conv1, maxpool, stage2-4, conv5, fc).
    """

    # set by name in a loop (torchvision's keys): declared for the type checker
    stage2: nn.Sequential
    stage3: nn.Sequential
    stage4: nn.Sequential

    def __init__(
        self,
        unit,
        stage_repeats: list[int],
        stage_channels: list[int],
        head_channels: int | None = None,
        num_classes: int = 1000,
    ) -> None:
        super().__init__()
        stem = stage_channels[0]
        self.conv1 = conv_bn_act(3, stem, 3, 2)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        c_in, self.feature_info = stem, [{"channels": stem, "stride": 4}]
        for i, (repeats, c_out) in enumerate(
            zip(stage_repeats, stage_channels[1:], strict=True)
        ):
            units = [unit(c_in, c_out, 2, i == 0)]
            units += [unit(c_out, c_out, 1, False) for _ in range(repeats - 1)]
            self.add_module(f"stage{i + 2}", nn.Sequential(*units))
            self.feature_info.append({"channels": c_out, "stride": 8 * 2**i})
            c_in = c_out
        self.conv5: nn.Module = nn.Identity()
        if head_channels is not None:
            self.conv5 = conv_bn_act(c_in, head_channels, 1)
            self.feature_info[-1] = {"channels": head_channels, "stride": 32}
            c_in = head_channels
        self.fc = nn.Linear(c_in, num_classes)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The maps at strides 4 (after the max pool), 8, 16 and 32 (after conv5 in
        v2)."""
        features = [x := self.maxpool(self.conv1(x))]
        for stage in (self.stage2, self.stage3, self.stage4):
            features.append(x := stage(x))
        features[-1] = self.conv5(features[-1])
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x)[-1].mean((2, 3)))


# fmt: off
# v1, Table 1 of Zhang et al.: output channels of stages 2-4 per group count g (1x).
V1_CHANNELS: dict[int, list[int]] = {
    1: [144, 288, 576], 2: [200, 400, 800], 3: [240, 480, 960],
    4: [272, 544, 1088], 8: [384, 768, 1536],
}
V1_REPEATS = [4, 8, 4]
# v2, Table 5 of Ma et al.: stem, stages 2-4 and conv5 channels per width multiplier.
V2_CHANNELS: dict[str, list[int]] = {
    "0.5": [24, 48, 96, 192, 1024], "1.0": [24, 116, 232, 464, 1024],
    "1.5": [24, 176, 352, 704, 1024], "2.0": [24, 244, 488, 976, 2048],
}
V2_REPEATS = [4, 8, 4]
# fmt: on


def shufflenet_v1(groups: int = 3, scale: float = 1.0, **kwargs) -> ShuffleNet:
    """ShuffleNet v1 "scale x (g = groups)": Table 1's widths times `scale`."""
    if groups not in V1_CHANNELS:
        raise ValueError(f"groups must be one of {sorted(V1_CHANNELS)}, got {groups!r}")
    widths = [24] + [int(c * scale) for c in V1_CHANNELS[groups]]

    def unit(c_in, c_out, stride, first):
        return ShuffleUnit(c_in, c_out, stride, groups, 1 if first else groups)

    return ShuffleNet(unit, V1_REPEATS, widths, **kwargs)


def shufflenet_v2(width: str = "1.0", **kwargs) -> ShuffleNet:
    """ShuffleNet v2 "width x" (0.5, 1.0, 1.5, 2.0), equal to torchvision's."""
    if width not in V2_CHANNELS:
        raise ValueError(f"width must be one of {sorted(V2_CHANNELS)}, got {width!r}")
    channels = V2_CHANNELS[width]

    def unit(c_in, c_out, stride, first):
        return InvertedResidual(c_in, c_out, stride)

    return ShuffleNet(unit, V2_REPEATS, channels[:4], channels[4], **kwargs)
