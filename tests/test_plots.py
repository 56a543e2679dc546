"""nblib.plots: the zoo's figures draw every model of a synthetic record; the linked
figure names every point, and rejects what it cannot link."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from bench_rows import recorded_rows  # noqa: E402

from nblib import plots  # noqa: E402


def two_points():
    fig, ax = plt.subplots()
    ax.scatter([1.0, 2.0], [3.0, 4.0])
    return fig


def test_linked_points_titles_and_links_every_point():
    figure = plots.linked_points(
        two_points(), [2.0, 1.0], [4.0, 3.0], ["b", "a"], ["#k-2", "#k-1"], "k", "two"
    )
    assert '<a href="#k-1"><title>a</title>' in figure.html
    assert '<a href="#k-2"><title>b</title>' in figure.html
    assert "<script" not in figure.html and 'id="figure_1"' not in figure.html
    assert repr(figure).startswith("Figure: two (2 points")


def test_linked_points_rejects_a_point_it_cannot_name():
    with pytest.raises(ValueError, match="matches 0"):
        plots.linked_points(two_points(), [1.0], [3.0], ["a"], ["#k-1"], "k", "one")
    with pytest.raises(ValueError, match="equal"):
        plots.linked_points(two_points(), [1.0, 2.0], [3.0], ["a"], ["#"], "k", "x")


def test_key_table_gives_each_row_its_id():
    key = plots.key_table(pd.DataFrame({"m": ["a", "b"]}, index=[1, 2]), "k")
    assert key.html.count('<tr id="k-') == 2 and '<tr id="k-2">' in key.html


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
