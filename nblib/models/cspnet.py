"""CSPNet: split each stage's input into two parts, send only one through the stage's
blocks, and merge the parts again with a transition (a cross-stage partial stage).

Wang et al., "CSPNet: A New Backbone that can Enhance Learning Capability of CNN",
CVPR Workshops 2020 (arXiv:1911.11929). The split halves the channels the blocks see,
so the blocks cost about half; the transitions add a little back. `fusion` picks the
paper's Fig. 3 variant: "both" (b: transition on the block path, concatenate,
transition again; the one timm and the paper's ImageNet models use), "first" (c:
concatenate, then one transition) or "last" (d: transition on the block path, then
concatenate). Module names follow timm's `cspresnet50`, `cspresnext50` and
`cspdarknet53`, so their weights load by key. timm expands the stage input with a 1x1
conv (`conv_exp`) and splits its output, where the authors' cfg files use two 1x1
convs, one per part.
"""

from functools import partial

import torch
from torch import nn

from nblib.blocks import ActLayer, ConvNormAct
from nblib.models.darknet import ClassifierHead, DarkBlock, init_weights


class Bottleneck(nn.Module):
    """ResNet's bottleneck (1x1, 3x3, 1x1 at `mid_channels`), leaky ReLU after the add;
    the shortcut is the identity (a CSP stage keeps widths equal inside). `groups` > 1
    makes the 3x3 grouped: ResNeXt's block."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        mid_channels: int,
        act: ActLayer = nn.LeakyReLU,
        groups: int = 1,
    ) -> None:
        super().__init__()
        self.conv1 = ConvNormAct(in_channels, mid_channels, 1, act=act)
        self.conv2 = ConvNormAct(mid_channels, mid_channels, 3, groups=groups, act=act)
        self.conv3 = ConvNormAct(mid_channels, out_channels, 1, act=nn.Identity)
        self.act3 = act(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act3(x + self.conv3(self.conv2(self.conv1(x))))

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.conv3.bn.weight)


BLOCKS = {"bottleneck": Bottleneck, "dark": DarkBlock}


class CrossStage(nn.Module):
    """Downsample (3x3 stride 2, in `groups` groups), expand (1x1 to
    `expand_ratio * out_channels`), split in two halves; part 2 goes through `depth`
    blocks and a transition, part 1 skips them; both are concatenated and fused by a
    last 1x1 transition."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        depth: int,
        block: str = "bottleneck",
        expand_ratio: float = 1.0,
        block_ratio: float = 1.0,
        bottle_ratio: float = 1.0,
        down_growth: bool = False,
        cross_linear: bool = False,
        fusion: str = "both",
        groups: int = 1,
        act: ActLayer = nn.LeakyReLU,
    ) -> None:
        super().__init__()
        if fusion not in ("both", "first", "last"):
            raise ValueError(
                f"fusion must be 'both', 'first' or 'last', got {fusion!r}"
            )
        if groups != 1 and block != "bottleneck":
            raise ValueError(f"groups={groups} needs block='bottleneck', got {block!r}")
        down = out_channels if down_growth else in_channels
        self.conv_down: nn.Module
        if stride != 1:
            self.conv_down = ConvNormAct(
                in_channels, down, 3, stride, groups=groups, act=act
            )
        else:
            self.conv_down, down = nn.Identity(), in_channels
        self.expand_channels = exp = round(out_channels * expand_ratio)
        self.conv_exp = ConvNormAct(
            down, exp, 1, act=nn.Identity if cross_linear else act
        )
        block_out = round(out_channels * block_ratio)
        mid = round(block_out * bottle_ratio)
        make = partial(BLOCKS[block], act=act)
        if groups > 1:  # ResNeXt: only the bottleneck has a grouped 3x3
            make = partial(make, groups=groups)
        self.blocks = nn.Sequential(
            *[
                make(exp // 2 if i == 0 else block_out, block_out, mid)
                for i in range(depth)
            ]
        )
        self.fusion = fusion
        part2 = block_out
        if fusion != "first":  # a transition on the block path only
            self.conv_transition_b = ConvNormAct(block_out, exp // 2, 1, act=act)
            part2 = exp // 2
        if fusion != "last":  # a transition after the concatenation
            self.conv_transition = ConvNormAct(
                exp // 2 + part2, out_channels, 1, act=act
            )
        self.out_channels = out_channels if fusion != "last" else exp // 2 + part2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_exp(self.conv_down(x))
        part1, part2 = x.split(self.expand_channels // 2, dim=1)  # the split
        part2 = self.blocks(part2)  # the partial block: half the channels
        if self.fusion != "first":
            part2 = self.conv_transition_b(part2).contiguous()
        x = torch.cat([part1, part2], dim=1)
        return x if self.fusion == "last" else self.conv_transition(x)


# Per stage: (depth, out_channels, stride, expand_ratio, block_ratio, bottle_ratio);
# block type, down_growth, cross_linear and groups hold for the whole network (timm's
# cfgs). The CSP ResNe(X)ts have 13 blocks, (3, 3, 5, 2), where ResNet-50 has 16.
# fmt: off
CSP_CONFIGS: dict[str, dict] = {
    "cspresnet50": {
        "stem": (64, 7, 2, True),  # channels, kernel, stride, max-pool
        "stages": [(3, 128, 1, 2.0, 1.0, 0.5), (3, 256, 2, 2.0, 1.0, 0.5),
                (5, 512, 2, 2.0, 1.0, 0.5), (2, 1024, 2, 2.0, 1.0, 0.5)],
        "block": "bottleneck", "down_growth": False, "cross_linear": True},
    "cspresnext50": {
        "stem": (64, 7, 2, True),
        "stages": [(3, 256, 1, 1.0, 0.5, 1.0), (3, 512, 2, 1.0, 0.5, 1.0),
                (5, 1024, 2, 1.0, 0.5, 1.0), (2, 2048, 2, 1.0, 0.5, 1.0)],
        "block": "bottleneck", "down_growth": False, "cross_linear": True,
        "groups": 32},
    "cspdarknet53": {
        "stem": (32, 3, 1, False),
        "stages": [(1, 64, 2, 2.0, 1.0, 0.5), (2, 128, 2, 1.0, 0.5, 1.0),
                (8, 256, 2, 1.0, 0.5, 1.0), (8, 512, 2, 1.0, 0.5, 1.0),
                (4, 1024, 2, 1.0, 0.5, 1.0)],
        "block": "dark", "down_growth": True, "cross_linear": False},
}
# fmt: on


class CspNet(nn.Module):
    """Stem, cross-stage partial stages, global average pool, classifier."""

    def __init__(
        self,
        stem: tuple[int, int, int, bool],
        stages: list[tuple],
        block: str,
        down_growth: bool,
        cross_linear: bool,
        fusion: str = "both",
        groups: int = 1,
        num_classes: int = 1000,
        act: ActLayer = nn.LeakyReLU,
    ) -> None:
        super().__init__()
        channels, kernel, stride, pool = stem
        self.stem = nn.Sequential()
        self.stem.add_module("conv1", ConvNormAct(3, channels, kernel, stride, act=act))
        if pool:
            self.stem.add_module("pool", nn.MaxPool2d(3, stride=2, padding=1))
        net_stride = stride * (2 if pool else 1)
        self.feature_info, layers = [], []
        for depth, out, s, expand, block_ratio, bottle in stages:
            layers.append(
                CrossStage(
                    channels,
                    out,
                    s,
                    depth,
                    block,
                    expand,
                    block_ratio,
                    bottle,
                    down_growth,
                    cross_linear,
                    fusion,
                    groups,
                    act,
                )
            )
            channels, net_stride = layers[-1].out_channels, net_stride * s
            self.feature_info.append({"channels": channels, "stride": net_stride})
        self.stages = nn.Sequential(*layers)
        self.head = ClassifierHead(channels, num_classes)
        init_weights(self)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The output of each stage."""
        x = self.stem(x)
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x)[-1])


def cspresnet50(**kwargs) -> CspNet:
    """CSPResNet-50: ResNet-50's stem and (3, 3, 5, 2) bottlenecks in CSP stages."""
    return CspNet(**CSP_CONFIGS["cspresnet50"], **kwargs)


def cspresnext50(**kwargs) -> CspNet:
    """CSPResNeXt-50: (3, 3, 5, 2) ResNeXt bottlenecks (32 groups) in CSP stages."""
    return CspNet(**CSP_CONFIGS["cspresnext50"], **kwargs)


def cspdarknet53(**kwargs) -> CspNet:
    """CSPDarknet-53: Darknet-53's (1, 2, 8, 8, 4) residual units in CSP stages."""
    return CspNet(**CSP_CONFIGS["cspdarknet53"], **kwargs)
