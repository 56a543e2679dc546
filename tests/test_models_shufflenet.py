"""ShuffleNet: v2 equal to torchvision's at every width; v1 (no reference
implementation) checked against the paper's Table 1 and the shuffle's definition."""

import pytest
import torch
import torchvision
from reference_models import (
    assert_equal_to_reference,
    assert_feature_contract,
    on_meta,
)

from nblib.blocks import channel_shuffle
from nblib.book import randomised
from nblib.models import build, shufflenet

V2 = [
    "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0",
    "shufflenet_v2_x1_5",
    "shufflenet_v2_x2_0",
]


@pytest.mark.parametrize("name", V2)
def test_equal_to_torchvision(name):
    assert_equal_to_reference(
        on_meta(name), randomised(getattr(torchvision.models, name))
    )


@pytest.mark.parametrize("name", ["shufflenet_v1_g3", *V2])
def test_feature_contract(name):
    model = build(name)
    assert [f["stride"] for f in model.feature_info] == [4, 8, 16, 32]
    assert_feature_contract(model)


def test_channel_shuffle_is_torchvisions_and_a_transpose():
    from torchvision.models.shufflenetv2 import channel_shuffle as tv_shuffle

    x = torch.arange(12.0).view(1, 12, 1, 1)
    assert torch.equal(channel_shuffle(x, 3), tv_shuffle(x, 3))
    # channel j of group i (of 3 groups of 4) moves to position j * 3 + i
    assert channel_shuffle(x, 3).flatten().tolist() == [
        float(i * 4 + j) for j in range(4) for i in range(3)
    ]


@pytest.mark.parametrize("groups", sorted(shufflenet.V1_CHANNELS))
def test_v1_widths_follow_table_1(groups):
    model = shufflenet.shufflenet_v1(groups)
    widths = [f["channels"] for f in model.feature_info[1:]]
    assert widths == shufflenet.V1_CHANNELS[groups]
    units = [u for s in (model.stage2, model.stage3, model.stage4) for u in s]
    assert len(units) == 16
    # the first 1x1 of the network is dense, every other 1x1 has g groups
    assert units[0].gconv1[0].groups == 1
    assert {u.gconv1[0].groups for u in units[1:]} == {groups}
    assert {u.gconv2[0].groups for u in units} == {groups}
    # bottleneck = a quarter of the unit's output; 3x3 is depthwise
    for unit in units:
        dw = unit.dwconv[0]
        assert dw.groups == dw.in_channels == unit.gconv2[0].in_channels
    assert units[1].dwconv[0].in_channels == widths[0] // 4


def test_v2_split_keeps_half_untouched():
    unit = shufflenet.InvertedResidual(116, 116, 1).eval()
    x = torch.randn(1, 116, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        out = unit(x)
    # after the 2-group shuffle, the even channels are the untouched first half
    assert torch.equal(out[:, 0::2], x[:, :58])
