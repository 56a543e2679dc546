"""VGG: every configuration, with and without BN, equal to torchvision's."""

import pytest
import torchvision
from reference_models import (
    assert_equal_to_reference,
    assert_feature_contract,
    on_meta,
    shared_on_meta,
)

from nblib.book import randomised

NAMES = [
    "vgg11",
    "vgg13",
    "vgg16",
    "vgg19",
    "vgg11_bn",
    "vgg13_bn",
    "vgg16_bn",
    "vgg19_bn",
]


@pytest.mark.parametrize("name", NAMES)
def test_equal_to_torchvision(name):
    # ours takes the reference's tensors; neither runs its initialisation
    reference = randomised(getattr(torchvision.models, name))
    assert_equal_to_reference(on_meta(name), reference, input_size=32)


@pytest.mark.parametrize("name", ["vgg11", "vgg16_bn"])
def test_feature_contract(name):
    model = shared_on_meta(name)
    assert [f["stride"] for f in model.feature_info] == [2, 4, 8, 16, 32]
    assert_feature_contract(model)
