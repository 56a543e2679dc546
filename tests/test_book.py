"""nblib.book: the set-up every chapter shares."""

import numpy as np
import pandas as pd
import pytest
import torch

from nblib import book, measure
from nblib.models import build


def test_setup_seeds_and_says_where_timings_run():
    line = book.setup(seed=3)
    first = torch.rand(1)
    book.setup(seed=3)
    assert torch.equal(first, torch.rand(1))
    assert pd.get_option("display.precision") == 3
    assert ("GPU:" in line) == torch.cuda.is_available()
    if not torch.cuda.is_available():
        assert "Change runtime type > GPU" in line


def test_on_meta_builds_by_name_or_builder_without_storage():
    model = book.on_meta("resnet18")
    assert next(model.parameters()).device.type == "meta"
    assert measure.count_params(model) == measure.count_params(build("resnet18"))
    assert next(
        book.on_meta(torch.nn.Linear, in_features=2, out_features=3).parameters()
    ).is_meta


def test_live_timings_shrink_on_a_cpu_and_count_macs():
    line, table = book.live_timings(["resnet18"], cpu_size=32, min_run_time=0.01)
    if not torch.cuda.is_available():
        assert "32x32 (not 224)" in line
        macs = measure.count_macs(book.on_meta("resnet18"), (1, 3, 32, 32))
        assert table.GMACs.iloc[0] == round(macs / 1e9, 2)
    assert list(table.columns) == ["model", "GMACs", "median ms", "GMACs per s"]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: book.setup(seed="0"), "seed"),
        (lambda: book.live_timings("resnet18"), "names"),
        (lambda: book.live_timings([]), "names"),
    ],
)
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_glue_stores_numpy_scalars_as_plain_numbers(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    published = []
    shell.display_pub.publish = lambda data, metadata=None, **kw: published.append(data)
    book.glue("share", np.float64(3.86))
    book.glue("count", np.int64(12))
    texts = [d["application/papermill.record/text/plain"] for d in published]
    assert texts == ["3.86", "12"]
