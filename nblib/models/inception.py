"""GoogLeNet (Inception v1) and Inception v3: parallel branches of different kernel
sizes, concatenated on the channel axis; v3 factorises the large kernels.

Szegedy et al., "Going Deeper with Convolutions", CVPR 2015 (arXiv:1409.4842);
Szegedy et al., "Rethinking the Inception Architecture for Computer Vision", CVPR 2016
(arXiv:1512.00567). Both are built as torchvision builds them (BN after every
convolution, the layout of Google's TF-slim code), with its module names, so its
weights load by key.
"""

from collections import namedtuple
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from nblib.blocks import ConvNormAct

# Training-mode outputs with the auxiliary heads, field for field torchvision's.
GoogLeNetOutputs = namedtuple(
    "GoogLeNetOutputs", ["logits", "aux_logits2", "aux_logits1"]
)
InceptionOutputs = namedtuple("InceptionOutputs", ["logits", "aux_logits"])

# ImageNet (mean, std) per RGB channel.
IMAGENET_STATS = ((0.485, 0.229), (0.456, 0.224), (0.406, 0.225))


def to_unit_range(x: torch.Tensor) -> torch.Tensor:
    """ImageNet-normalised image -> [-1, 1], the input of Google's ported weights
    (torchvision's `transform_input=True`)."""
    channels = [
        x[:, c : c + 1] * (std / 0.5) + (mean - 0.5) / 0.5
        for c, (mean, std) in enumerate(IMAGENET_STATS)
    ]
    return torch.cat(channels, 1)


# torchvision's BasicConv2d: conv (no bias, padding 0 unless given), BN with
# TensorFlow's eps 0.001, and a ReLU it calls as a function (F.relu), not a module.
BasicConv2d = partial(ConvNormAct, padding=0, eps=1e-3, functional_act=True)


def _concat(x: torch.Tensor, branches: list) -> torch.Tensor:
    """Run each branch (a module or a list of modules in sequence) on x; concatenate
    the outputs along the channels."""
    outputs = []
    for branch in branches:
        out = x
        for layer in branch if isinstance(branch, list) else [branch]:
            out = layer(out)
        outputs.append(out)
    return torch.cat(outputs, 1)  # (B, sum of branch widths, H, W)


# --- GoogLeNet --------------------------------------------------------------------


class Inception(nn.Module):
    """GoogLeNet's module (Fig. 2b): 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 pool -> 1x1.

    The widths are the columns of the paper's Table 1. torchvision's "5x5" branch is a
    3x3 (pytorch/vision#906, inherited with its weights); `kernel_5x5=5` is the paper's.
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        kernel_5x5: int = 3,
    ) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(in_channels, ch1x1, kernel_size=1)
        self.branch2 = nn.Sequential(
            BasicConv2d(in_channels, ch3x3red, kernel_size=1),
            BasicConv2d(ch3x3red, ch3x3, kernel_size=3, padding=1),
        )
        self.branch3 = nn.Sequential(
            BasicConv2d(in_channels, ch5x5red, kernel_size=1),
            BasicConv2d(
                ch5x5red, ch5x5, kernel_size=kernel_5x5, padding=kernel_5x5 // 2
            ),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(kernel_size=3, stride=1, padding=1, ceil_mode=True),
            BasicConv2d(in_channels, pool_proj, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _concat(x, [self.branch1, self.branch2, self.branch3, self.branch4])


class InceptionAux(nn.Module):
    """GoogLeNet's auxiliary classifier: 4x4 average pool, 1x1 conv to 128, FC 1024,
    dropout 0.7, FC to the classes. Trained with weight 0.3, dropped at inference."""

    def __init__(
        self, in_channels: int, num_classes: int, dropout: float = 0.7
    ) -> None:
        super().__init__()
        self.conv = BasicConv2d(in_channels, 128, kernel_size=1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.fc2 = nn.Linear(1024, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.adaptive_avg_pool2d(x, (4, 4)))  # (B, 128, 4, 4)
        x = F.relu(self.fc1(torch.flatten(x, 1)), inplace=True)
        return self.fc2(self.dropout(x))


class GoogLeNet(nn.Module):
    """Stem (7x7/2 conv, pool, 1x1 and 3x3 convs, pool), nine Inception modules in
    three stages, global average pool, one FC; auxiliary heads after 4a and 4d."""

    # set by name from GOOGLENET_MODULES (torchvision's keys): declared for the checker
    inception3a: Inception
    inception3b: Inception
    inception4a: Inception
    inception4b: Inception
    inception4c: Inception
    inception4d: Inception
    inception4e: Inception
    inception5a: Inception
    inception5b: Inception

    def __init__(
        self,
        num_classes: int = 1000,
        aux_logits: bool = True,
        transform_input: bool = False,
        kernel_5x5: int = 3,
        dropout: float = 0.2,
        dropout_aux: float = 0.7,
    ) -> None:
        super().__init__()
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        self.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(64, 64, kernel_size=1)
        self.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
        self.maxpool2 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        for name, widths in GOOGLENET_MODULES.items():
            setattr(self, name, Inception(*widths, kernel_5x5=kernel_5x5))
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        # The heads read the outputs of 4a (512 channels) and 4d (528 channels).
        self.aux1 = InceptionAux(512, num_classes, dropout_aux) if aux_logits else None
        self.aux2 = InceptionAux(528, num_classes, dropout_aux) if aux_logits else None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(1024, num_classes)
        self.feature_info = [
            {"channels": c, "stride": s}
            for c, s in ((192, 4), (480, 8), (832, 16), (1024, 32))
        ]
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _forward(
        self, x: torch.Tensor, aux: list[torch.Tensor] | None
    ) -> list[torch.Tensor]:
        """The four stage outputs; the auxiliary logits are appended to `aux` (when it
        is a list) in the order the heads run: aux1, aux2."""
        x = to_unit_range(x) if self.transform_input else x
        x = self.conv3(self.conv2(self.maxpool1(self.conv1(x))))  # (B, 192, H/4, W/4)
        c2 = x
        x = self.inception3b(self.inception3a(self.maxpool2(x)))  # (B, 480, H/8, W/8)
        c3 = x
        x = self.inception4a(self.maxpool3(x))  # (B, 512, H/16, W/16)
        if aux is not None and self.aux1 is not None:
            aux.append(self.aux1(x))
        x = self.inception4d(self.inception4c(self.inception4b(x)))  # (B, 528, ...)
        if aux is not None and self.aux2 is not None:
            aux.append(self.aux2(x))
        c4 = self.inception4e(x)  # (B, 832, H/16, W/16)
        x = self.inception5a(self.maxpool4(c4))
        c5 = self.inception5b(x)  # (B, 1024, H/32, W/32)
        return [c2, c3, c4, c5]

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """C2..C5: the stem's output and the last module of each stage, strides 4-32."""
        return self._forward(x, aux=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor | GoogLeNetOutputs:
        """Logits; in training mode with aux_logits, the tuple (logits, aux_logits2,
        aux_logits1), torchvision's order."""
        aux: list[torch.Tensor] | None = (
            [] if self.training and self.aux_logits else None
        )
        x = self._forward(x, aux)[-1]
        logits = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        return logits if aux is None else GoogLeNetOutputs(logits, aux[1], aux[0])


# --- Inception v3 -----------------------------------------------------------------


def _avg_pool(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)


def _max_pool(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, kernel_size=3, stride=2)


class InceptionA(nn.Module):
    """35x35 module (Fig. 5: the 5x5 factorised into two 3x3s; TF-slim's v3 keeps a
    5x5 branch beside them)."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _concat(x, [
            self.branch1x1,
            [self.branch5x5_1, self.branch5x5_2],
            [self.branch3x3dbl_1, self.branch3x3dbl_2, self.branch3x3dbl_3],
            [_avg_pool, self.branch_pool],
        ])  # fmt: skip


class InceptionB(nn.Module):
    """35x35 -> 17x17 grid reduction (Fig. 10): strided convs beside a strided pool."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, kernel_size=3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _concat(x, [
            self.branch3x3,
            [self.branch3x3dbl_1, self.branch3x3dbl_2, self.branch3x3dbl_3],
            _max_pool,
        ])  # fmt: skip


class InceptionC(nn.Module):
    """17x17 module (Fig. 6, n = 7): each 7x7 factorised into a 1x7 and a 7x1."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _concat(x, [
            self.branch1x1,
            [self.branch7x7_1, self.branch7x7_2, self.branch7x7_3],
            [self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3,
             self.branch7x7dbl_4, self.branch7x7dbl_5],
            [_avg_pool, self.branch_pool],
        ])  # fmt: skip


class InceptionD(nn.Module):
    """17x17 -> 8x8 grid reduction (Fig. 10), one branch with a factorised 7x7."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch3x3_2 = BasicConv2d(192, 320, kernel_size=3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, kernel_size=1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, kernel_size=3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _concat(x, [
            [self.branch3x3_1, self.branch3x3_2],
            [self.branch7x7x3_1, self.branch7x7x3_2, self.branch7x7x3_3,
             self.branch7x7x3_4],
            _max_pool,
        ])  # fmt: skip


class InceptionE(nn.Module):
    """8x8 module (Fig. 7): the 3x3s split into a 1x3 and a 3x1 side by side, widening
    the output ("expanded filter bank")."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 320, kernel_size=1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, kernel_size=1)
        self.branch3x3_2a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, kernel_size=3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.branch3x3_1(x)
        z = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        return torch.cat([
            self.branch1x1(x),
            self.branch3x3_2a(y), self.branch3x3_2b(y),  # 1x3 | 3x1 in parallel
            self.branch3x3dbl_3a(z), self.branch3x3dbl_3b(z),
            self.branch_pool(_avg_pool(x)),
        ], 1)  # fmt: skip


class InceptionAuxV3(nn.Module):
    """Inception v3's auxiliary classifier on the 17x17 grid: 5x5/3 average pool, 1x1
    conv to 128, 5x5 conv to 768, FC to the classes (Fig. 8, with BN)."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv0 = BasicConv2d(in_channels, 128, kernel_size=1)
        self.conv1 = BasicConv2d(128, 768, kernel_size=5)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv0(F.avg_pool2d(x, kernel_size=5, stride=3))  # (B, 128, 5, 5)
        x = F.adaptive_avg_pool2d(self.conv1(x), (1, 1))  # (B, 768, 1, 1)
        return self.fc(torch.flatten(x, 1))


class Inception3(nn.Module):
    """Stem of plain convs (valid padding: 299 -> 35), three 35x35, five 17x17 and two
    8x8 modules with grid reductions between; one auxiliary head on the 17x17 grid."""

    # set by name from INCEPTION_V3_MODULES (torchvision's keys): declared for the
    # checker
    Mixed_5b: nn.Module
    Mixed_5c: nn.Module
    Mixed_5d: nn.Module
    Mixed_6a: nn.Module
    Mixed_6b: nn.Module
    Mixed_6c: nn.Module
    Mixed_6d: nn.Module
    Mixed_6e: nn.Module
    Mixed_7a: nn.Module
    Mixed_7b: nn.Module
    Mixed_7c: nn.Module

    def __init__(
        self,
        num_classes: int = 1000,
        aux_logits: bool = True,
        transform_input: bool = False,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        self.aux_logits = aux_logits
        self.transform_input = transform_input
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, kernel_size=3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, kernel_size=1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, kernel_size=3)
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2)
        for name, block, args in INCEPTION_V3_MODULES:
            setattr(self, name, block(*args))
        self.AuxLogits = InceptionAuxV3(768, num_classes) if aux_logits else None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(2048, num_classes)
        self.feature_info = [
            {"channels": c, "stride": s}
            for c, s in ((192, 4), (288, 8), (768, 16), (2048, 32))
        ]
        # The auxiliary head's last layers start smaller, as in TF-slim.
        stds = {"AuxLogits.conv1.conv": 0.01, "AuxLogits.fc": 0.001}
        for name, m in self.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                std = stds.get(name, 0.1)
                nn.init.trunc_normal_(m.weight, mean=0.0, std=std, a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _forward(
        self, x: torch.Tensor, aux: list[torch.Tensor] | None
    ) -> list[torch.Tensor]:
        """The four stage outputs; the auxiliary logits are appended to `aux` (when it
        is a list)."""
        x = to_unit_range(x) if self.transform_input else x
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))  # 299: 147
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(self.maxpool1(x)))  # (B, 192, 71, 71)
        c2 = x
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(self.maxpool2(x))))  # 288 x 35^2
        c3 = x
        x = self.Mixed_6c(self.Mixed_6b(self.Mixed_6a(x)))
        c4 = self.Mixed_6e(self.Mixed_6d(x))  # (B, 768, 17, 17)
        if aux is not None and self.AuxLogits is not None:
            aux.append(self.AuxLogits(c4))
        c5 = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(c4)))  # (B, 2048, 8, 8)
        return [c2, c3, c4, c5]

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """C2..C5 at strides 4-32 (valid padding makes each map a little smaller than
        the input divided by the stride: 71, 35, 17, 8 at 299)."""
        return self._forward(x, aux=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor | InceptionOutputs:
        """Logits; in training mode with aux_logits, (logits, aux_logits)."""
        aux: list[torch.Tensor] | None = (
            [] if self.training and self.aux_logits else None
        )
        x = self._forward(x, aux)[-1]
        logits = self.fc(torch.flatten(self.dropout(self.avgpool(x)), 1))
        return logits if aux is None else InceptionOutputs(logits, aux[0])


# --- Configs ----------------------------------------------------------------------

# fmt: off
# Table 1 of the GoogLeNet paper:
#   in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
GOOGLENET_MODULES: dict[str, tuple[int, int, int, int, int, int, int]] = {
    "inception3a": (192,  64,  96, 128, 16,  32,  32),
    "inception3b": (256, 128, 128, 192, 32,  96,  64),
    "inception4a": (480, 192,  96, 208, 16,  48,  64),
    "inception4b": (512, 160, 112, 224, 24,  64,  64),
    "inception4c": (512, 128, 128, 256, 24,  64,  64),
    "inception4d": (512, 112, 144, 288, 32,  64,  64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}

# Inception v3's mixed blocks as TF-slim builds them: name, block, (in, widths...)
INCEPTION_V3_MODULES: list[tuple[str, type[nn.Module], tuple[int, ...]]] = [
    ("Mixed_5b", InceptionA, (192, 32)),    # in, pool_features
    ("Mixed_5c", InceptionA, (256, 64)),
    ("Mixed_5d", InceptionA, (288, 64)),
    ("Mixed_6a", InceptionB, (288,)),       # 35x35 -> 17x17
    ("Mixed_6b", InceptionC, (768, 128)),   # in, channels_7x7
    ("Mixed_6c", InceptionC, (768, 160)),
    ("Mixed_6d", InceptionC, (768, 160)),
    ("Mixed_6e", InceptionC, (768, 192)),
    ("Mixed_7a", InceptionD, (768,)),       # 17x17 -> 8x8
    ("Mixed_7b", InceptionE, (1280,)),
    ("Mixed_7c", InceptionE, (2048,)),
]
# fmt: on


# --- Builders ---------------------------------------------------------------------


def googlenet(**kwargs) -> GoogLeNet:
    """GoogLeNet with BN and auxiliary heads: torchvision's
    `googlenet(aux_logits=True, init_weights=True)`."""
    return GoogLeNet(**kwargs)


def inception_v3(**kwargs) -> Inception3:
    """Inception v3 (input 299x299) with its auxiliary head: torchvision's
    `inception_v3(aux_logits=True, init_weights=True)`."""
    return Inception3(**kwargs)
