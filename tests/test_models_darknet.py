"""Darknet-53 equal to timm's `darknet53`; its depth and widths as in YOLOv3's
Table 1."""

import warnings

import pytest
import torch
from reference_models import (
    assert_equal_to_reference,
    assert_feature_contract,
    on_meta,
    shared_on_meta,
)

from nblib.book import randomised
from nblib.models import darknet

warnings.filterwarnings("ignore", message="IProgress not found")
timm = pytest.importorskip("timm")


def test_equal_to_timm():
    assert_equal_to_reference(
        on_meta("darknet53"), randomised(timm.create_model, "darknet53")
    )


def test_feature_contract():
    model = shared_on_meta("darknet53")
    assert [f["stride"] for f in model.feature_info] == [2, 4, 8, 16, 32]
    assert_feature_contract(model)


def test_53_layers_are_52_convs_and_a_classifier():
    model = shared_on_meta("darknet53")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) + 1 == 53


def test_residual_units_halve_then_restore_the_width():
    depths, channels = darknet.DARKNET_CONFIGS[53]
    for stage, depth, c in zip(
        shared_on_meta("darknet53").stages, depths, channels, strict=True
    ):
        assert len(stage.blocks) == depth
        for block in stage.blocks:
            assert block.conv1.conv.out_channels == c // 2
            assert block.conv2.conv.out_channels == c
