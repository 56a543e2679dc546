"""nblib.plots: the zoo's figures draw every model of a synthetic record."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from bench_rows import recorded_rows  # noqa: E402

from nblib import plots  # noqa: E402


@pytest.fixture
def recorded() -> pd.DataFrame:
    return recorded_rows()


def test_plots_draw_every_model(recorded):
    fig = plots.plot_speed(recorded, label=["resnet50"])
    left, right = fig.axes[:2]
    assert sum(len(c.get_offsets()) for c in left.collections) == 3
    assert [t.get_text() for t in left.texts] == ["resnet50"]
    assert right.get_title() == "batch 128"
    traffic = pd.DataFrame(
        {
            "model": list(recorded.model.unique()),
            "image_size": 224,
            "batch": 1,
            "memory_access": 1e8,
        }
    )
    fig = plots.plot_achieved(recorded, traffic)
    assert sum(len(c.get_offsets()) for c in fig.axes[0].collections) == 3
    fig = plots.plot_parity(recorded)
    assert len(fig.axes[0].collections[0].get_offsets()) == 6
    unknown = recorded.assign(device_name="Some Other GPU")
    fig = plots.plot_achieved(unknown, traffic.assign(memory_access=2e8))
    assert len(fig.axes[0].lines) == 0  # no datasheet row: no roofline drawn
    fig = plots.plot_speed(recorded, label={"resnet18": (-20, 5)})
    assert fig.axes[0].texts[0].get_text() == "resnet18"
    plt.close("all")
    two = pd.concat([recorded, recorded.assign(device_name="NVIDIA H200")])
    with pytest.raises(ValueError, match="one device"):
        plots.plot_speed(two)
