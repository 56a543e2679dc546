"""nblib.book: the set-up every chapter shares."""

import sys
import types

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


@pytest.fixture
def colab(monkeypatch):
    """Colab's kernel as nblib sees it: google.colab imported before the first cell."""
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))


def cpu_only(monkeypatch):
    monkeypatch.setattr(book.timing, "best_device", lambda: torch.device("cpu"))


def test_in_colab_without_a_gpu_setup_says_how_to_switch_one_on(colab, monkeypatch):
    cpu_only(monkeypatch)
    line = book.setup()
    assert "no GPU runtime attached" in line
    assert "Runtime > Change runtime type > GPU" in line and "Runtime > Run all" in line
    assert line.endswith(book.COLAB_GPU_HINT)


def test_in_colab_with_a_gpu_setup_names_it(colab, monkeypatch):
    monkeypatch.setattr(book.timing, "best_device", lambda: torch.device("cuda"))
    monkeypatch.setattr(book.timing, "device_name", lambda device: "Tesla T4")
    assert book.setup() == "GPU: Tesla T4"


def test_outside_colab_the_stored_cpu_line_is_unchanged(monkeypatch):
    """The chapters' stored setup output (a CPU run outside Colab) stays what the code
    prints there."""
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    cpu_only(monkeypatch)
    assert not book.on_colab()
    assert book.setup() == f"{book.timing.device_name(torch.device('cpu'))}: " + (
        "no GPU attached: timings run on the CPU, at a reduced image size. In Colab, "
        "Runtime > Change runtime type > GPU, then run the chapter again."
    )


def test_on_meta_builds_by_name_or_builder_without_storage():
    model = book.on_meta("resnet18")
    assert next(model.parameters()).device.type == "meta"
    assert measure.count_params(model) == measure.count_params(build("resnet18"))
    assert next(
        book.on_meta(torch.nn.Linear, in_features=2, out_features=3).parameters()
    ).is_meta


def test_randomised_leaves_no_init_value_and_repeats_with_its_seed():
    model = book.randomised("resnet18")
    state = model.state_dict()
    for name, tensor in state.items():
        if name.endswith("num_batches_tracked"):
            assert tensor.item() == 0
            continue
        assert torch.isfinite(tensor).all(), name
        # no tensor constant (an init's zeros or ones), running variances positive
        assert tensor.std() > 0, name
        if name.endswith("running_var"):
            assert (tensor > 0).all()
    # tensors of one shape get different values (each reads the pool elsewhere)
    assert not torch.equal(
        state["layer1.0.conv1.weight"], state["layer1.0.conv2.weight"]
    )
    again = book.randomised("resnet18").state_dict()
    assert all(torch.equal(again[k], v) for k, v in state.items())
    other = book.randomised("resnet18", seed=1).state_dict()
    assert not torch.equal(other["fc.weight"], state["fc.weight"])
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        logits = model.eval()(x)
    assert torch.isfinite(logits).all() and not torch.allclose(logits[0], logits[1])


class MeanlessBatchNorm(torch.nn.BatchNorm2d):
    """A defect an init hides: eval-mode batch norm that forgets the running mean."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.weight / (self.running_var + self.eps).sqrt()
        return x * scale[:, None, None] + self.bias[:, None, None]


def test_randomise_shows_what_an_init_hides():
    x = torch.randn(2, 4, 5, 5)
    right, wrong = torch.nn.BatchNorm2d(4).eval(), MeanlessBatchNorm(4).eval()
    with torch.no_grad():
        assert torch.equal(right(x), wrong(x))  # running mean 0: the defect hides
        wrong.load_state_dict(book.randomise(right).state_dict())
        assert not torch.allclose(right(x), wrong(x))


def test_randomise_refuses_a_buffer_it_does_not_know():
    model = torch.nn.Linear(2, 2)
    model.register_buffer("index", torch.arange(4).view(2, 2))
    with pytest.raises(ValueError, match="'index'"):
        book.randomise(model)


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


def test_glue_without_myst_nb_publishes_nothing_unless_asked(monkeypatch):
    """Colab has no myst-nb: glue must not break the chapter there."""
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.setitem(sys.modules, "myst_nb", None)  # `import myst_nb` raises
    shell = InteractiveShell.instance()
    published = []
    monkeypatch.setattr(
        shell.display_pub,
        "publish",
        lambda data, metadata=None, **kw: published.append(data),
    )
    book.glue("share", np.float64(3.86))
    assert published == []
    book.glue("share", 3.86, display=True)
    assert [d["text/plain"] for d in published] == ["3.86"]
