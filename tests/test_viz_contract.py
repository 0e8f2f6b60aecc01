"""One contract for every Display (scikit-learn's): ``from_*`` -> ``plot(ax=None)`` returns self and sets
``figure_`` plus ``ax_`` (single-axes displays) or ``axes_`` (grids); plotting into a given Axes / Figure /
array of Axes draws there and opens no figure; no figure is left open."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ferbench.viz import (AccuracyTableDisplay, ConfusionComparisonDisplay, EmbeddingDisplay,  # noqa: E402
                          ExplanationGridDisplay, MapGridDisplay, TauSweepDisplay)
from ferbench.viz._common import Display  # noqa: E402

from test_preprocess_fixture import make_face  # noqa: E402


@pytest.fixture(scope="module")
def face():
    return make_face(step=4.0)


def _preds():
    yt = np.repeat(np.arange(6), 3)
    return yt, (yt + (np.arange(18) % 3 == 0)) % 6      # one in three predicted as the next class


def _depth():
    yy, xx = np.mgrid[0:24, 0:24]
    return (60.0 - 0.1 * ((yy - 12) ** 2 + (xx - 12) ** 2)).astype(np.float32)


FACTORIES = {   # name -> (build from a from_* constructor, attribute set by plot)
    "confusion": (lambda face: ConfusionComparisonDisplay.from_predictions(
        *_preds(), paper_matrix=np.full((6, 6), 100 / 6), synthetic=True), "axes_"),
    "accuracy": (lambda face: AccuracyTableDisplay.from_predictions(*_preds(), synthetic=True), "ax_"),
    "explanation_grid": (lambda face: ExplanationGridDisplay.from_arrays(
        np.random.default_rng(0).random((5, 8, 8, 3)), np.random.default_rng(1).random((5, 4, 4)),
        [0, 0, 2, 2, 5], synthetic=True, per_class=2), "axes_"),
    "embedding": (lambda face: EmbeddingDisplay.from_embedding(
        np.random.default_rng(0).normal(size=(12, 2)), np.arange(12) % 6, title="t-SNE (synthetic)"), "ax_"),
    "map_grid": (lambda face: MapGridDisplay.from_scan(face, names=["texture", "geometry", "normal_z"],
                                                       size=32), "axes_"),
    "tau_sweep": (lambda face: TauSweepDisplay.from_scan(_depth(), taus=(16, 40), N=4096), "axes_"),
}
OLD_FIG_KEYWORD = {"explanation_grid", "map_grid", "tau_sweep"}   # took fig= before the shared contract
PARAMS = pytest.mark.parametrize("name", sorted(FACTORIES))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _axes(d) -> list:
    return [d.ax_] if hasattr(d, "ax_") else list(np.asarray(d.axes_, dtype=object).ravel())


@PARAMS
def test_plot_returns_self_and_sets_one_attribute(name, face):
    make, attr = FACTORIES[name]
    d = make(face)
    assert isinstance(d, Display) and not hasattr(d, "figure_")
    before = plt.get_fignums()
    assert d.plot() is d
    assert len(plt.get_fignums()) == len(before) + 1              # exactly one new figure
    other = {"ax_": "axes_", "axes_": "ax_"}[attr]
    assert hasattr(d, attr) and not hasattr(d, other)
    if attr == "axes_":
        assert isinstance(d.axes_, np.ndarray) and d.axes_.size >= 2
    assert all(a.figure is d.figure_ for a in _axes(d))
    assert all(a in d.figure_.axes for a in _axes(d))
    plt.close(d.figure_)
    assert plt.get_fignums() == before                            # closing figure_ closes everything drawn


@PARAMS
def test_plot_into_given_axes_and_figure(name, face):
    make, attr = FACTORIES[name]
    n = len(_axes(make(face).plot()))
    plt.close("all")
    fig = plt.figure()
    given = fig.subplots(1, n, squeeze=False)[0]
    d = make(face).plot(ax=given[0] if attr == "ax_" else given)
    assert plt.get_fignums() == [fig.number]                      # drew there, opened nothing
    assert d.figure_ is fig and _axes(d) == list(given)
    if attr == "axes_":                                           # a grid lays itself out in a given Figure
        fig2 = plt.figure()
        d2 = make(face).plot(ax=fig2)
        assert d2.figure_ is fig2 and len(plt.get_fignums()) == 2
        assert all(a in fig2.axes for a in _axes(d2))
        if name in OLD_FIG_KEYWORD:
            with pytest.warns(DeprecationWarning, match="fig="):  # the old keyword still works
                d3 = make(face).plot(fig=plt.figure())
            assert len(_axes(d3)) == len(_axes(d2))
    else:
        d2 = make(face).plot(ax=fig)                             # a Figure gets one new Axes
        assert d2.figure_ is fig and d2.ax_ in fig.axes
    with pytest.raises(ValueError):
        make(face).plot(ax="not axes")
