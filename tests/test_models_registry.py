"""The registry: one record per model, and every table the book reads is a view of the
records, so adding a backbone is adding one record."""

import csv
import sys
import types
from pathlib import Path

import pytest
import torch
import torchvision

from nblib import analysis, models, plots
from nblib.models import (
    FIXED_SIZE,
    IMAGE_SIZES,
    MODELS,
    RECORDS,
    REGISTRY,
    TIMM_NAMES,
    TORCHVISION_NAMES,
    ModelRecord,
    image_size,
    reference_source,
    resnet,
)

COSTS = Path(__file__).with_name("model_costs.csv")


def test_names_are_unique():
    assert len(RECORDS) == len(REGISTRY) == len(MODELS)


def test_every_table_is_what_the_records_say():
    # what the records say == the table the book reads
    assert {r.name: r.builder for r in REGISTRY} == MODELS
    assert [r.name for r in REGISTRY] == list(MODELS)  # chapters list them in order
    torchvision_names = [r.name for r in REGISTRY if r.reference == "torchvision"]
    assert torchvision_names == TORCHVISION_NAMES
    assert {
        r.name: r.reference_name or r.name for r in REGISTRY if r.reference == "timm"
    } == TIMM_NAMES
    assert {
        r.name: r.image_size for r in REGISTRY if r.image_size != 224
    } == IMAGE_SIZES
    assert {r.name for r in REGISTRY if r.fixed_size} == FIXED_SIZE
    assert sorted(analysis.FAMILIES) == sorted((r.name, r.family) for r in REGISTRY)
    for r in REGISTRY:
        assert analysis.family(r.name) == r.family
        assert reference_source(r.name) == r.reference
        assert image_size(r.name) == r.image_size


def test_every_family_has_a_colour_of_its_own():
    families = {r.family for r in REGISTRY}
    style = plots.family_style(sorted(families))
    assert set(style) == families
    assert len({(s["color"], s["marker"]) for s in style.values()}) == len(families)


def test_a_neck_model_takes_its_backbone_s_family():
    assert analysis.family("resnet50_fpn") == "ResNet"
    assert analysis.family("darknet53_asff") == "Darknet/CSP"
    assert analysis.family("not_a_model") == "other"


def test_the_cost_table_counts_each_model_at_its_record_s_size():
    """tests/model_costs.csv repeats the size for readers of the table; the record
    decides it."""
    with open(COSTS) as f:
        rows = list(csv.DictReader(f))
    assert {row["model"]: int(row["input_size"]) for row in rows} == {
        r.name: r.image_size for r in REGISTRY
    }


def test_a_record_with_an_unknown_reference_is_refused():
    with pytest.raises(ValueError, match="unknown reference 'keras'"):
        ModelRecord("x", resnet.resnet18, "ResNet", "keras")


def test_adding_a_record_is_the_only_edit(monkeypatch):
    """The registry's source with one more record (torchvision's Wide ResNet-50-2,
    which is ResNet-50 at twice the bottleneck width): every table has the model, and
    its reference is the one torchvision builds."""
    source = Path(models.__file__).read_text()
    closing = "\n)\n# fmt: on"
    assert source.count(closing) == 1
    record = (
        '\n    R("wide_resnet50_2", partial(resnet.resnet50, width_per_group=128),'
        ' "ResNet", TORCHVISION, image_size=232),'
    )
    module = types.ModuleType("nblib.models_plus_one")
    module.__file__ = models.__file__
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(
        compile(source.replace(closing, record + closing), "registry", "exec"),
        vars(module),
    )

    name = "wide_resnet50_2"
    assert module.MODELS[name].keywords == {"width_per_group": 128}
    assert (
        name in module.TORCHVISION_NAMES
        and module.reference_source(name) == "torchvision"
    )
    assert module.image_size(name) == 232 and module.IMAGE_SIZES[name] == 232
    assert module.RECORDS[name].family == "ResNet" and name not in module.FIXED_SIZE
    with torch.device("meta"):  # key names and shapes only
        ours, theirs = module.build(name), module.build_reference(name)
    assert isinstance(theirs, torchvision.models.ResNet)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in theirs.state_dict().items()
    }
    assert name not in MODELS  # the real registry is untouched
