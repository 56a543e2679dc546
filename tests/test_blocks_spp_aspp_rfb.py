"""nblib.blocks.spp, aspp, rfb: shapes, SPP == SPPF, SPP-net's fixed length, ASPP
equal to torchvision's, RFB's widths and branch receptive fields, argument errors."""

import pytest
import torch
from torch import nn
from torchvision.models.segmentation.deeplabv3 import ASPP as TorchvisionASPP

from nblib import measure
from nblib import receptive_field as rf
from nblib.blocks.aspp import ASPP
from nblib.blocks.rfb import RFB
from nblib.blocks.spp import SpatialPyramidPooling, SPPBlock, SPPFBlock
from nblib.book import randomised


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# SPP: the detectors' block and SPP-net's layer


@pytest.mark.parametrize("out_channels, expected", [(None, 4 * 32), (48, 48)])
def test_spp_block_shapes(out_channels, expected):
    for block in (SPPBlock(32, out_channels), SPPFBlock(32, out_channels)):
        assert block(randn(2, 32, 13, 11)).shape == (2, expected, 13, 11)


@pytest.mark.parametrize("out_channels", [None, 64])
def test_sppf_equals_spp_with_the_same_weights(out_channels):
    spp, sppf = SPPBlock(64, out_channels).eval(), SPPFBlock(64, out_channels).eval()
    sppf.load_state_dict(spp.state_dict())  # strict: identical module names
    x = randn(2, 64, 19, 19)
    with torch.no_grad():
        assert torch.equal(spp(x), sppf(x))
    assert measure.count_params(spp) == measure.count_params(sppf)


def test_max_of_max_holds_at_the_border():
    x = randn(1, 1, 7, 7)  # smaller than the 13 x 13 window
    five = nn.MaxPool2d(5, 1, 2)
    assert torch.equal(five(five(x)), nn.MaxPool2d(9, 1, 4)(x))
    assert torch.equal(five(five(five(x))), nn.MaxPool2d(13, 1, 6)(x))


@pytest.mark.parametrize("size", [(13, 13), (24, 17), (6, 6), (3, 5)])
def test_spp_net_gives_one_length_for_every_input_size(size):
    layer = SpatialPyramidPooling()
    out = layer(randn(2, 256, *size))
    assert out.shape == (2, 256 * 50) and layer.output_length(256) == 12800


def test_spp_net_bins_are_maxima():
    x = randn(1, 3, 12, 12)
    out = SpatialPyramidPooling((1, 2))(x)
    assert torch.equal(out[:, :3], x.amax((2, 3)))
    assert torch.equal(out[0, 3:7], x[0, 0].view(2, 6, 2, 6).amax((1, 3)).flatten())


# ASPP: DeepLab v3's module, equal to torchvision's


def test_aspp_equals_torchvision():
    ours = ASPP(128, (6, 12, 18), 32).eval()
    theirs = randomised(TorchvisionASPP, 128, [6, 12, 18], 32).eval()
    assert measure.count_params(ours) == measure.count_params(theirs)
    ours.load_state_dict(theirs.state_dict())  # strict
    x = randn(2, 128, 33, 33)
    with torch.no_grad():
        assert torch.equal(ours(x), theirs(x))


def test_aspp_paper_setting_counts():
    with torch.device("meta"):
        ours, theirs = ASPP(2048), TorchvisionASPP(2048, [6, 12, 18])
    assert measure.count_params(ours) == measure.count_params(theirs)
    convs = [m for m in ours.modules() if isinstance(m, nn.Conv2d)]
    assert [c.dilation[0] for c in convs if c.kernel_size == (3, 3)] == [6, 12, 18]
    assert {c.out_channels for c in convs} == {256}
    # batch 2: the image-pooling branch's BN sees one value per channel and image
    assert ASPP(16, out_channels=8)(randn(2, 16, 9, 9)).shape == (2, 8, 9, 9)


def test_aspp_branch_fields():
    aspp = ASPP(8, (1, 3, 6), 4)
    sizes = [rf.theoretical_receptive_field(b)[-1].size for b in aspp.convs[1:-1]]
    assert sizes == [3, 7, 13]  # 2r + 1
    assert rf.theoretical_receptive_field(aspp.convs[0])[-1].size == 1


# RFB: the authors' widths, branch receptive fields


def authors_rfb_params(c_in: int, c_out: int) -> int:
    """BasicRFB's parameters by hand (inter = c_in // 8; conv weights + BN affine)."""
    i = c_in // 8
    convs = [(c_in, 2 * i, 1), (2 * i, 2 * i, 3),  # branch 0
             (c_in, i, 1), (i, 2 * i, 3), (2 * i, 2 * i, 3),  # branch 1
             (c_in, i, 1), (i, 3 * i // 2, 3), (3 * i // 2, 2 * i, 3),
             (2 * i, 2 * i, 3),  # branch 2
             (6 * i, c_out, 1), (c_in, c_out, 1)]  # fuse, shortcut  # fmt: skip
    return sum(a * b * k * k + 2 * b for a, b, k in convs)


def test_rfb_shapes_and_the_authors_widths():
    block = RFB(64, 96)
    assert block(randn(2, 64, 12, 12)).shape == (2, 96, 12, 12)
    assert RFB(64, 32, "rfb_s")(randn(1, 64, 7, 9)).shape == (1, 32, 7, 9)
    assert measure.count_params(RFB(1024, 1024)) == authors_rfb_params(1024, 1024)
    ends = [b[-1][0].out_channels for b in RFB(512, 512, "rfb_s").branches]
    assert ends == [128] * 4 and RFB(512, 512, "rfb_s").fuse[0].in_channels == 512


@pytest.mark.parametrize(
    "variant, fields",
    [
        ("rfb", [(3, 3), (9, 9), (15, 15)]),
        ("rfb_s", [(3, 3), (9, 7), (7, 9), (13, 13)]),
    ],  # fmt: skip
)
def test_rfb_branch_fields_equal_theory_and_gradient_support(variant, fields):
    torch.manual_seed(0)
    block = RFB(16, 16, variant)
    theory = [
        tuple(rf.theoretical_receptive_field(b, axis)[-1].size for axis in (0, 1))
        for b in block.branches
    ]
    assert theory == fields
    support = [rf.gradient_support(rf.effective_receptive_field(b, (2, 16, 31, 31)))
               for b in block.branches]  # fmt: skip
    assert support == fields
    whole = rf.effective_receptive_field(block, (2, 16, 31, 31))
    assert rf.gradient_support(whole) == max(fields)


# Argument errors name the argument


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SPPBlock(32, kernels=(5, 8)), "kernels must be an odd"),
        (lambda: SPPBlock(32, kernels=()), "kernels"),
        (lambda: SPPFBlock(32, kernel=4), "kernel must be an odd"),
        (lambda: SPPFBlock(32, repeats=0), "repeats"),
        (lambda: SPPBlock(0), "in_channels"),
        (lambda: SPPBlock(1, 8), "in_channels"),
        (lambda: SPPFBlock(32, -1), "out_channels"),
        (lambda: SpatialPyramidPooling((4, 0)), "levels"),
        (lambda: ASPP(0), "in_channels"),
        (lambda: ASPP(16, out_channels=0), "out_channels"),
        (lambda: ASPP(16, (6, 0)), "atrous_rates"),
        (lambda: ASPP(16, ()), "atrous_rates"),
        (lambda: ASPP(16, dropout=1.0), "dropout"),
        (lambda: RFB(16, 0), "out_channels"),
        (lambda: RFB(4, 4, "rfb_s"), "in_channels must be at least 8"),
        (lambda: RFB(16, 16, "rfb_x"), "variant"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    "block", [SPPBlock(8), SPPFBlock(8, 8), ASPP(8, out_channels=4), RFB(8, 8)]
)
def test_wrong_input_channels(block):
    with pytest.raises(ValueError, match=r"input must be \(B, 8, H, W\)"):
        block(randn(1, 6, 9, 9))


def test_spp_net_needs_a_map():
    with pytest.raises(ValueError, match="input must be"):
        SpatialPyramidPooling()(randn(2, 16))
