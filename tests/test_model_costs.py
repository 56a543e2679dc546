"""Every registry model's params and MACs: re-counted against the committed table, and
against torchvision's own published metadata (num_params, GFLOPS = GMACs) where it has
the model. MACs are counted at (1, 3, size, size): the model's own input size from its
registry record (Inception v3: 299), which the table's input_size column repeats."""

import csv
from pathlib import Path

import pytest
import torch
import torchvision.models as tvm
from reference_models import on_meta, shared_on_meta

from nblib.measure import count_macs, count_params
from nblib.models import MODELS, image_size

with open(Path(__file__).with_name("model_costs.csv")) as costs:
    EXPECTED = {row["model"]: row for row in csv.DictReader(costs)}


# torchvision publishes googlenet's parameters without its auxiliary heads (its
# pretrained model drops them); inception_v3's count includes its head.
WITHOUT_AUX = {"googlenet"}


def input_shape(name: str) -> tuple[int, int, int, int]:
    size = image_size(name)  # the record's; the table's column is checked against it
    return (1, 3, size, size)


def test_table_covers_the_registry():
    assert set(EXPECTED) == set(MODELS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_costs_match_table(name):
    # Counted on the meta device: shapes only, the same count as on the CPU
    # (test_measure.py checks the two agree) without initialising or running weights.
    model = shared_on_meta(name)
    assert count_params(model) == int(EXPECTED[name]["params"])
    assert count_macs(model, input_shape(name)) == int(EXPECTED[name]["macs"])


@pytest.mark.parametrize("name", [n for n in sorted(MODELS) if n in tvm.list_models()])
def test_table_agrees_with_torchvision_metadata(name):
    meta = tvm.get_model_weights(
        name
    ).DEFAULT.meta  # metadata only: nothing is downloaded
    params = int(EXPECTED[name]["params"])
    if name in WITHOUT_AUX:
        params = count_params(on_meta(name, aux_logits=False))
    assert params == meta["num_params"]
    assert round(int(EXPECTED[name]["macs"]) / 1e9, 3) == pytest.approx(
        meta["_ops"], abs=1e-3
    )


@pytest.mark.parametrize("name", sorted(MODELS))
def test_reference_has_our_parameter_count(name):
    """The registry's reference map points at the model each test proves equal."""
    from nblib.models import build_reference, reference_source

    if reference_source(name) is None:
        with pytest.raises(ValueError, match="no reference"):
            build_reference(name)
        return
    ours = shared_on_meta(name)
    try:  # meta: no storage, no init time
        with torch.device("meta"):
            ref = build_reference(name)
    except NotImplementedError:  # torchvision's RegNet copies a tensor while building
        ref = build_reference(name)
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in ref.parameters()
    )
