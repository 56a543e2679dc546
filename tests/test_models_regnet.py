"""RegNet: the two registered models equal torchvision's, the quantised linear rule
regenerates every torchvision RegNet's stages, and the closed-form costs equal the
measured ones."""

import pytest
import torchvision
from reference_models import (
    assert_equal_to_reference,
    assert_feature_contract,
    on_meta,
)
from torchvision.models.regnet import BlockParams

from nblib import measure
from nblib.book import randomise
from nblib.models import build, regnet

NAMES = ["regnet_x_400mf", "regnet_y_400mf"]


@pytest.mark.parametrize("name", NAMES)
def test_equal_to_torchvision(name):
    # torchvision's RegNet computes its widths with tensors: not buildable on meta
    reference = randomise(getattr(torchvision.models, name)())
    assert_equal_to_reference(on_meta(name), reference)


@pytest.mark.parametrize("name", NAMES)
def test_feature_contract(name):
    assert_feature_contract(build(name))


@pytest.mark.parametrize("name", sorted(regnet.REGNET_PARAMS))
def test_rule_regenerates_torchvision_stages(name):
    params = regnet.REGNET_PARAMS[name]
    ours = regnet.regnet_config(**params)
    theirs = BlockParams.from_init_params(**params)
    assert ours.depths == theirs.depths
    assert ours.widths == theirs.widths
    assert ours.group_widths == theirs.group_widths


def test_pycls_rounding_differs_only_at_halves():
    params = regnet.REGNET_PARAMS["regnet_x_400mf"]
    assert regnet.regnet_config(**params, rounding="pycls").widths[-1] == 384
    assert regnet.regnet_config(**params).widths[-1] == 400
    with pytest.raises(ValueError):
        regnet.compatible_width(392, 1.0, 16, rounding="nearest")


@pytest.mark.parametrize("name", NAMES)
def test_closed_form_costs_equal_measured(name):
    model = build(name)
    costs = regnet.anynet_costs(model.config)
    assert costs["params"] == measure.count_params(model)
    assert costs["macs"] == measure.count_macs(model, (1, 3, 224, 224))


def test_closed_form_costs_of_an_anynet():
    config = regnet.AnyNetConfig(
        [1, 2, 1, 3], [24, 48, 96, 200], [1, 2, 4, 1], [8, 4, 16, 8], se_ratio=0.25
    )
    model = regnet.AnyNet(config)
    costs = regnet.anynet_costs(config, resolution=96)
    assert costs["params"] == measure.count_params(model)
    assert costs["macs"] == measure.count_macs(model, (1, 3, 96, 96))
