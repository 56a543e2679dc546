"""nblib.receptive_field: layer arithmetic against known values and against gradient
support."""

import pytest
import torch
from torch import nn

from nblib import receptive_field as rf


def test_three_3x3_equal_one_7x7():
    stack = nn.Sequential(*[nn.Conv2d(4, 4, 3, padding=1) for _ in range(3)])
    assert [s.size for s in rf.theoretical_receptive_field(stack)] == [3, 5, 7]
    assert rf.theoretical_receptive_field(nn.Conv2d(4, 4, 7, padding=3))[-1].size == 7


def test_strides_and_dilation_compound():
    model = nn.Sequential(
        nn.Conv2d(1, 1, 3, stride=2), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3, dilation=2)
    )
    steps = rf.theoretical_receptive_field(model)
    # 3; then 3 + 1*2 = 5 (jump 4); then 5 + 2*2*4 = 21
    assert [(s.size, s.jump) for s in steps] == [(3, 2), (5, 4), (21, 4)]


@pytest.mark.parametrize(
    "layers",
    [
        [nn.Conv2d(2, 2, 3, padding=1), nn.ReLU(), nn.Conv2d(2, 2, 5, padding=2)],
        [
            nn.Conv2d(2, 2, 3, padding=1),
            nn.Conv2d(2, 2, 3, stride=2, padding=1),
            nn.Conv2d(2, 2, 3, padding=1),
        ],
        [nn.Conv2d(2, 2, 3, padding=2, dilation=2), nn.Conv2d(2, 2, 3, padding=1)],
    ],
)
def test_gradient_support_matches_theory(layers):
    torch.manual_seed(0)
    model = nn.Sequential(*layers)
    size = rf.theoretical_receptive_field(model)[-1].size
    erf = rf.effective_receptive_field(model, (4, 2, 33, 33))
    assert rf.gradient_support(erf) == (size, size)


def test_model_without_spatial_layers_is_rejected():
    with pytest.raises(ValueError, match="no Conv2d"):
        rf.theoretical_receptive_field(nn.Sequential(nn.ReLU()))


def test_erf_needs_an_image_shape():
    with pytest.raises(ValueError, match="input_shape"):
        rf.effective_receptive_field(nn.Conv2d(2, 2, 3), (4, 2, 9))


# Boxes: position as well as size, against the support of the input gradient.
STACKS = {
    "stride and padding": [
        nn.Conv2d(2, 2, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(2, 2, 3, stride=2, padding=0),
        nn.Conv2d(2, 2, 5, padding=2),
    ],
    "dilation and pooling": [
        nn.Conv2d(2, 2, 3, stride=2, padding=1),
        nn.Conv2d(2, 2, 5, padding=1, dilation=2),
        nn.AvgPool2d(2),
        nn.Conv2d(2, 2, 3),
    ],
    "same padding": [
        nn.Conv2d(2, 2, 4, padding="same"),
        nn.Conv2d(2, 2, 3, stride=2, padding=2),
    ],
}


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("name", STACKS)
@pytest.mark.parametrize("where", ["corner", "centre", "last"])
def test_box_matches_gradient_support(name, where):
    torch.manual_seed(0)
    model, size = nn.Sequential(*STACKS[name]), (45, 41)
    out = model(torch.zeros(1, 2, *size)).shape[-2:]
    position = {"corner": (0, 0), "centre": (out[0] // 2, out[1] // 2 + 1),
                "last": (out[0] - 1, out[1] - 1)}[where]  # fmt: skip
    erf = rf.effective_receptive_field(model, (4, 2, *size), position=position)
    assert rf.receptive_field_box(model, position, size) == rf.support_box(erf)


def test_start_offset_by_hand():
    model = nn.Sequential(
        nn.Conv2d(1, 1, 3, stride=2, padding=1), nn.Conv2d(1, 1, 3, stride=2)
    )
    # layer 1: pixel 0 centred on input 0 (padding 1 cancels the half-kernel);
    # layer 2: unpadded, its pixel 0 reads layer-1 pixels 0..2, centred on input 2
    assert [s.start for s in rf.theoretical_receptive_field(model)] == [0.0, 2.0]
    box = rf.receptive_field_box(model, (0, 3), (64, 64))
    # 7 pixels centred on 2 + 3 * 4 = 14 across; rows -1..5 clipped to the image
    assert (box.top, box.bottom, box.left, box.right) == (0, 5, 11, 17)
    assert (box.height, box.width) == (6, 7)


def test_width_axis_and_rectangular_kernels():
    model = nn.Sequential(nn.Conv2d(1, 1, (3, 1), padding=(1, 0)),
                          nn.Conv2d(1, 1, (1, 5), stride=(1, 2)))  # fmt: skip
    assert rf.theoretical_receptive_field(model, axis=0)[-1].size == 3
    assert rf.theoretical_receptive_field(model, axis=1)[-1].size == 5
    erf = rf.effective_receptive_field(model, (2, 1, 15, 15))
    assert rf.gradient_support(erf) == (3, 5)


def test_skip_follows_the_longest_path_of_a_resnet():
    from nblib.models import build

    with torch.device("meta"):
        resnet50 = build("resnet50")
    steps = rf.theoretical_receptive_field(resnet50, skip=("downsample",))
    assert (steps[-1].size, steps[-1].jump) == (427, 32)
    # without skipping, the shortcut convolutions would stride a second time
    assert rf.theoretical_receptive_field(resnet50)[-1].jump == 32 * 8


def test_same_rate_dilations_leave_a_grid_and_hdc_fills_it():
    torch.manual_seed(0)

    def stack(rates):
        return nn.Sequential(
            *[nn.Conv2d(2, 2, 3, padding=r, dilation=r) for r in rates]
        )

    gridded = rf.effective_receptive_field(stack((2, 2, 2)), (4, 2, 31, 31))
    box = rf.support_box(gridded)
    inside = gridded[box.top : box.bottom + 1, box.left : box.right + 1]
    assert (box.height, box.width) == (13, 13)
    assert int((inside > 0).sum()) == 7 * 7  # only even offsets: a checkerboard
    assert rf.holes(gridded) == 13 * 13 - 7 * 7
    hdc = rf.effective_receptive_field(stack((1, 2, 5)), (4, 2, 31, 31))
    box = rf.support_box(hdc)
    inside = hdc[box.top : box.bottom + 1, box.left : box.right + 1]
    assert (box.height, box.width) == (17, 17) and bool((inside > 0).all())
    assert rf.holes(hdc) == 0


def test_averaging_over_seeds():
    def builder():
        return nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(2, 2, 3, padding=1))  # fmt: skip

    before = torch.random.get_rng_state()
    one = rf.averaged_effective_receptive_field(builder, (2, 2, 15, 15), seeds=[3])
    torch.manual_seed(3)
    alone = rf.effective_receptive_field(builder(), (2, 2, 15, 15), seed=3)
    torch.random.set_rng_state(before)
    assert torch.equal(one, alone)  # one seed: exactly the single-model map
    many = rf.averaged_effective_receptive_field(builder, (2, 2, 15, 15), range(6))
    assert torch.equal(torch.random.get_rng_state(), before)  # caller's RNG kept
    assert not torch.allclose(many, one)
    assert rf.gradient_support(many) == (5, 5) and float(many.max()) == 1.0
    with pytest.raises(ValueError, match="seeds"):
        rf.averaged_effective_receptive_field(builder, (2, 2, 15, 15), seeds=[])


def test_mass_square_and_std_by_hand():
    delta = torch.zeros(21, 21)
    delta[10, 10] = 1
    assert rf.mass_square(delta) == 1 and rf.gradient_std(delta) == 0
    flat = torch.zeros(21, 21)
    flat[5:16, 5:16] = 1  # 11 x 11 uniform: 95 % of it needs the 11 x 11 square
    assert rf.mass_square(flat, 0.95) == 11 and rf.mass_square(flat, 0.3) == 7
    assert rf.gradient_std(flat) == pytest.approx(((11**2 - 1) / 12) ** 0.5)
    shifted = torch.zeros(21, 21)
    shifted[10, 10], shifted[10, 12] = 1, 3  # centre of mass at column 11.5 -> 12
    assert rf.mass_square(shifted, 1.0) == 5  # around (10, 12): column 10 is 2 away
    assert rf.mass_square(shifted, 1.0, centre=(10, 11)) == 3
    with pytest.raises(ValueError, match="fraction"):
        rf.mass_square(flat, 0)


def test_bad_arguments_are_named():
    model = nn.Conv2d(1, 1, 3)
    with pytest.raises(ValueError, match="axis"):
        rf.theoretical_receptive_field(model, axis=2)
    with pytest.raises(ValueError, match="position"):
        rf.receptive_field_box(model, (-1, 0), (9, 9))
    with pytest.raises(ValueError, match="outside"):
        rf.receptive_field_box(model, (20, 0), (9, 9))
    with pytest.raises(ValueError, match="position"):
        rf.effective_receptive_field(model, (1, 1, 9, 9), position=(7, 0))
    with pytest.raises(ValueError, match="threshold"):
        rf.support_box(torch.zeros(3, 3))
