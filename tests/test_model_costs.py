"""Every registry model's params and MACs: re-counted against the committed table, and
against torchvision's own published metadata (num_params, GFLOPS = GMACs) where it has
the model."""

import csv
from pathlib import Path

import pytest
import torchvision.models as tvm

from nblib.measure import count_macs, count_params
from nblib.models import MODELS, build

EXPECTED = {
    row["model"]: row
    for row in csv.DictReader(open(Path(__file__).with_name("model_costs.csv")))
}


def test_table_covers_the_registry():
    assert set(EXPECTED) == set(MODELS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_costs_match_table(name):
    model = build(name)
    assert count_params(model) == int(EXPECTED[name]["params"])
    assert count_macs(model, (1, 3, 224, 224)) == int(EXPECTED[name]["macs_224"])


@pytest.mark.parametrize("name", [n for n in sorted(MODELS) if n in tvm.list_models()])
def test_table_agrees_with_torchvision_metadata(name):
    meta = tvm.get_model_weights(
        name
    ).DEFAULT.meta  # metadata only: nothing is downloaded
    assert int(EXPECTED[name]["params"]) == meta["num_params"]
    assert round(int(EXPECTED[name]["macs_224"]) / 1e9, 3) == pytest.approx(
        meta["_ops"], abs=1e-3
    )
