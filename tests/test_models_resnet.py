"""ResNet: every depth equal to torchvision's; the pre-activation and plain variants
behave."""

import pytest
import torch
import torchvision

from nblib.models import build, resnet
from reference_models import assert_equal_to_reference, assert_feature_contract

NAMES = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]


@pytest.mark.parametrize("name", NAMES)
def test_equal_to_torchvision(name):
    assert_equal_to_reference(build(name), getattr(torchvision.models, name)())


@pytest.mark.parametrize("name", NAMES + ["preact_resnet18", "preact_resnet50"])
def test_feature_contract(name):
    model = build(name)
    assert [f["stride"] for f in model.feature_info] == [4, 8, 16, 32]
    assert_feature_contract(model)


def test_stride_in_1x1_moves_only_the_stride():
    v1, v15 = resnet.resnet50(stride_in_1x1=True), resnet.resnet50()
    assert v1.layer2[0].conv1.stride == (2, 2) and v1.layer2[0].conv2.stride == (1, 1)
    assert v15.layer2[0].conv1.stride == (1, 1) and v15.layer2[0].conv2.stride == (2, 2)
    v1.load_state_dict(v15.state_dict())  # same weights, only the computation differs


def test_plain_network_has_same_parameters_and_no_shortcut_effect():
    plain = resnet.resnet18(residual=False)
    assert sum(p.numel() for p in plain.parameters()) == 11_689_512
    block = resnet.BasicBlock(8, 8, residual=False).eval()
    # The branch outputs 0, so a residual block would return relu(x).
    torch.nn.init.zeros_(block.bn2.weight)
    x = torch.randn(1, 8, 5, 5)
    assert torch.count_nonzero(block(x)) == 0


@pytest.mark.parametrize("block", [resnet.PreActBasicBlock, resnet.PreActBottleneck])
def test_zero_initialised_preact_block_is_exact_identity(block):
    model = resnet.ResNet(block, (2, 2, 2, 2), zero_init_residual=True).eval()
    x = torch.randn(1, model.feature_info[0]["channels"], 8, 8)
    with torch.no_grad():
        assert torch.equal(model.layer1[1](x), x)


def test_unknown_model_name():
    with pytest.raises(ValueError, match="model name 'resnet51'"):
        build("resnet51")
