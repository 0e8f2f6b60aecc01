"""Figures read well: titles wrapped to the figure, legends outside what they would cover, heat maps visible."""
from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


def test_wrap_title_fits_the_width():
    from ferbench.viz._common import wrap_title

    text = "Attribute maps F0001 anger with a long subject label (synthetic)"
    out = wrap_title(text, 2.6, 11)
    assert out.replace("\n", " ") == text
    assert max(len(line) for line in out.split("\n")) <= int(2.6 * 72 / (0.58 * 11)) - 2


def test_contrast_stretch_makes_weak_maps_visible():
    from ferbench.viz._common import contrast_stretch

    m = np.zeros((40, 40))
    m[0, 0] = 1.0                       # one hot pixel dominates a max-normalised map
    m[1:, :] = 0.01
    out = contrast_stretch(m)
    assert out.max() == 1.0 and out[5, 5] == 1.0    # the bulk is now at the 99th percentile, i.e. bright
    assert contrast_stretch(np.zeros((3, 3))).sum() == 0


def _renderer_boxes(fig, *artists):
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    return [a.get_window_extent(r) for a in artists]


def test_map_grid_title_is_not_clipped():
    from ferbench.viz import MapGridDisplay

    d = MapGridDisplay({"normal_z": np.random.default_rng(0).random((16, 16))}, synthetic=True,
                       title="Attribute maps F0001 anger").plot()
    fig = d.figure_
    (box,) = _renderer_boxes(fig, fig._suptitle)
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width
    assert "(synthetic)" in fig._suptitle.get_text()


def test_accuracy_legend_hides_no_bar():
    from ferbench.viz import AccuracyTableDisplay

    labels = ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]
    d = AccuracyTableDisplay({c: 90.0 for c in labels}, {c: 95.0 for c in labels}, labels,
                             "ferbench, synthetic data (a long run name)", "paper: DF-CNN Table IV").plot()
    fig = d.figure_
    leg, ax = _renderer_boxes(fig, d.ax_.get_legend(), d.ax_)
    assert leg.y1 <= ax.y0 + 1                  # below the axes, so over no bar
    # every line says what it is: the dotted one is ferbench's mean over the expressions
    texts = [t.get_text() for t in d.ax_.get_legend().get_texts()]
    assert "ferbench, synthetic data (a long run name): mean over expressions 90.0" in texts


def test_embedding_legend_outside_points():
    from ferbench.viz import EmbeddingDisplay

    rng = np.random.default_rng(0)
    d = EmbeddingDisplay(rng.normal(size=(30, 2)), np.arange(30) % 6, title="t-SNE (synthetic)").plot()
    leg, ax = _renderer_boxes(d.figure_, d.ax_.get_legend(), d.ax_)
    assert leg.x0 >= ax.x1 - 1


def test_explanation_display_labels_columns():
    from ferbench.viz import ExplanationDisplay

    rng = np.random.default_rng(0)
    d = ExplanationDisplay({"depth": rng.random((8, 8)), "texture": rng.random((8, 8, 3))},
                           {"gradcam depth": rng.random((8, 8)), "gradcam texture": rng.random((8, 8)),
                            "attention fused": rng.random((2, 2))}, title="scan (synthetic)").plot()
    titles = [a.get_title() for a in d.axes_.ravel()]
    assert titles == ["input: depth", "input: texture", "", "gradcam depth", "gradcam texture", "attention fused"]
    assert d.base_for("gradcam depth") == "depth" and d.base_for("attention fused") == "depth"


def test_embedding_rings_misclassified_and_the_chosen_point_in_the_core():
    from ferbench.viz import EmbeddingDisplay

    rng = np.random.default_rng(0)
    pts, bad = rng.normal(size=(30, 2)), np.arange(30) % 4 == 0
    d = EmbeddingDisplay(pts, np.arange(30) % 6, title="PCA (synthetic)", misclassified=bad).plot(misclassified=True)
    np.testing.assert_allclose(d.misclassified_.get_offsets(), pts[bad])
    assert "misclassified" in [t.get_text() for t in d.ax_.get_legend().get_texts()]
    leg, ax = _renderer_boxes(d.figure_, d.ax_.get_legend(), d.ax_)
    assert leg.x0 >= ax.x1 - 1                                     # the legend stays outside the points
    limits = (d.ax_.get_xlim(), d.ax_.get_ylim())
    assert d.chosen_ is None
    d.mark(3).mark(7, "8")                                         # one ring, moved; a label beside it
    np.testing.assert_allclose(d.chosen_.get_offsets(), pts[7:8])
    assert d.chosen_label_.get_text() == "8" and tuple(d.chosen_.get_edgecolor()[0][:3]) == (1.0, 0.0, 0.0)
    d.figure_.canvas.draw()
    assert (d.ax_.get_xlim(), d.ax_.get_ylim()) == limits
    plain = EmbeddingDisplay(pts, np.arange(30) % 6).plot(chosen=2, chosen_label="3")
    assert plain.misclassified_ is None and tuple(plain.chosen_.get_edgecolor()[0][:3]) == (0.0, 0.0, 0.0)
    assert len(plain.collections_) == 6
