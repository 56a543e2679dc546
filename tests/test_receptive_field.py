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
