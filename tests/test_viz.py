"""Display objects: confusion comparison, accuracy table, explanation grids, t-SNE scatters."""
from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ferbench.labels import EXPRESSIONS  # noqa: E402
from ferbench.viz import (AccuracyTableDisplay, ConfusionComparisonDisplay, EmbeddingDisplay,  # noqa: E402
                          ExplanationGridDisplay, VizError, embedding_panels, paper_source, run_source)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _preds():
    # per class c: 4 samples; class c is right 4-c//2 times, else predicted as (c + 1) % 6
    yt, yp = [], []
    for c in range(6):
        right = 4 - c // 2
        yt += [c] * 4
        yp += [c] * right + [(c + 1) % 6] * (4 - right)
    return np.array(yt), np.array(yp)


def test_provenance_labels():
    assert paper_source("dfcnn", "V") == "paper: DF-CNN (Li et al. 2017), Table V"
    assert paper_source("dfcnn", "IV", "Gabor") == "paper: DF-CNN (Li et al. 2017), Table IV (Gabor)"
    assert paper_source("cmcnn", "fig6a") == "paper: CM-CNN (Ni et al. 2022), Fig. 6a"
    assert run_source(True) == "ferbench, synthetic data"
    assert run_source(False, "dfcnn, P-I") == "ferbench, real data (dfcnn, P-I)"


def test_confusion_from_predictions_against_given_paper_matrix():
    yt, yp = _preds()
    # paper matrix given in a different class order (reversed), must be put back into ferbench order
    paper = np.full((6, 6), 4.0)
    np.fill_diagonal(paper, 80.0)
    paper[0, 0], paper[0, 1] = 70.0, 14.0                 # anger row: 70 + 14 + 4*4 = 100
    rev = paper[::-1, ::-1]
    d = ConfusionComparisonDisplay.from_predictions(yt, yp, paper_matrix=rev, paper_labels=list(EXPRESSIONS)[::-1],
                                                    synthetic=True)
    np.testing.assert_allclose(d.ours.sum(1), 100.0)
    assert d.ours[0, 0] == 100.0 and d.ours[2, 2] == 75.0 and d.ours[2, 3] == 25.0 and d.ours[5, 0] == 50.0
    np.testing.assert_allclose(d.paper, paper)
    np.testing.assert_allclose(d.difference, d.ours - paper)
    assert d.difference[0, 0] == 30.0
    d.plot()
    assert len(d.axes_) == 3 and len(d.texts_) == 3 * 36
    assert "synthetic" in d.axes_[0].get_title()
    assert [t.get_text() for t in d.axes_[0].get_xticklabels()] == ["AN", "DI", "FE", "HA", "SA", "SU"]
    rows = d.summary_rows()
    assert rows[0] == ["anger", 70.0, 100.0, 30.0]


def test_confusion_only_ours_and_bad_inputs():
    yt, yp = _preds()
    d = ConfusionComparisonDisplay.from_predictions(yt, yp, synthetic=False).plot()
    assert len(d.axes_) == 1 and d.difference is None and "real data" in d.axes_[0].get_title()
    fig, ax = plt.subplots(1, 2)
    with pytest.raises(VizError):
        ConfusionComparisonDisplay.from_predictions(yt, yp, paper_matrix=np.eye(6) * 100).plot(ax=ax)
    with pytest.raises(VizError):
        ConfusionComparisonDisplay.from_predictions(yt, yp[:-1])
    with pytest.raises(VizError):
        ConfusionComparisonDisplay.from_predictions([0, 7], [0, 1])
    with pytest.raises(VizError):
        ConfusionComparisonDisplay.from_matrices(np.ones((6, 6)), np.ones((6, 6)), paper_labels=["AN"] * 6)
    with pytest.raises(VizError):
        ConfusionComparisonDisplay.from_matrices(-np.ones((6, 6)))


def test_empty_class_row_is_nan_not_division_error():
    counts = np.eye(6) * 5
    counts[3, 3] = 0
    d = ConfusionComparisonDisplay.from_matrices(counts, synthetic=True)
    assert np.isnan(d.ours[3]).all() and d.ours[0, 0] == 100.0
    d.plot()


def test_a_paper_matrix_without_any_cell_says_so_instead_of_blank_panels():
    """CM-CNN's Fig. 6(b) is in the paper's figure image only (every cell null): its panel and the difference
    say that, rather than showing empty axes; a matrix with some cells draws them and no note."""
    yt, yp = _preds()
    blank = np.full((6, 6), np.nan)
    d = ConfusionComparisonDisplay.from_predictions(yt, yp, paper_matrix=blank, synthetic=True).plot()

    def notes(ax):
        cells = {id(t) for t in d.texts_}
        return [t.get_text() for t in ax.texts if id(t) not in cells]

    assert notes(d.axes_[0]) == []
    assert len(notes(d.axes_[1])) == 1 and "paper's text" in notes(d.axes_[1])[0]
    assert notes(d.axes_[2]) == ["no paper cell to compare"]
    one_row = blank.copy()
    one_row[0] = [96.2, 0.0, 2.6, 0.0, 1.2, 0.0]
    d = ConfusionComparisonDisplay.from_predictions(yt, yp, paper_matrix=one_row, synthetic=True).plot()
    assert all(notes(ax) == [] for ax in d.axes_)
    assert [t.get_text() for t in d.texts_[36:42]] == ["96.2", "0.0", "2.6", "0.0", "1.2", "0.0"]


def test_accuracy_table_rows_and_mean():
    yt, yp = _preds()
    paper = {"AN": 80.0, "DI": 81.0, "FE": 82.0, "HA": 90.0, "SA": 70.0, "SU": 95.0}
    a = AccuracyTableDisplay.from_predictions(yt, yp, paper_values=paper, synthetic=True)
    assert a.header[-1] == "difference (pp)" and "synthetic" in a.header[2]
    rows = a.rows()
    assert [r[0] for r in rows] == list(EXPRESSIONS) + ["mean"]
    assert rows[0] == ["anger", 80.0, 100.0, 20.0]
    assert rows[5] == ["surprise", 95.0, 50.0, -45.0]
    ours = [100, 100, 75, 75, 50, 50]
    assert rows[6][2] == pytest.approx(np.mean(ours), abs=0.01)
    assert rows[6][1] == pytest.approx(np.mean(list(paper.values())), abs=0.01)
    a.plot()
    assert len(a.bars_) == 2 and "synthetic" in a.ax_.get_title()
    solo = AccuracyTableDisplay.from_values([1, 2, 3, 4, 5, 6], synthetic=True)
    assert solo.header == ["expression", "ferbench, synthetic data (%)"] and solo.rows()[-1][-1] == 3.5
    with pytest.raises(VizError):
        AccuracyTableDisplay.from_values([1, 2, 3])


def _write_results(tmp_path, synthetic=True):
    counts = np.diag([10, 8, 6, 10, 5, 9]).astype(int)
    counts[4, 0] = 5
    counts[5, 3] = 1
    res = {"model": "dfcnn", "paper": "dfcnn", "protocol": "P-I", "synthetic": synthetic,
           "classes": list(EXPRESSIONS), "confusion": counts.tolist(),
           "per_class_accuracy": {c: 0.5 for c in EXPRESSIONS}}
    (tmp_path / "results.json").write_text(json.dumps(res))
    return counts


def test_from_results_folder(tmp_path):
    counts = _write_results(tmp_path)
    d = ConfusionComparisonDisplay.from_results(tmp_path)
    assert d.ours[4, 0] == 50.0 and d.ours[5, 5] == 90.0
    assert d.ours_source == "ferbench, synthetic data (dfcnn, P-I)"
    a = AccuracyTableDisplay.from_results(tmp_path)
    assert a.ours["sadness"] == 50.0 and a.ours["surprise"] == 90.0     # from the counts, exact
    with pytest.raises(VizError, match="results.json"):
        ConfusionComparisonDisplay.from_results(tmp_path / "missing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.json").write_text("{not json")
    with pytest.raises(VizError, match="unreadable"):
        AccuracyTableDisplay.from_results(tmp_path / "bad")
    assert counts.sum() > 0


def test_from_results_against_stored_paper_table(tmp_path):
    papers = pytest.importorskip("ferbench.papers")
    try:
        m, labels = papers.confusion_matrix("dfcnn", "IV", "DF-CNN_svm")
    except Exception as e:  # another helper's data may still be in progress
        pytest.skip(f"paper table unavailable: {e}")
    _write_results(tmp_path)
    d = ConfusionComparisonDisplay.from_results(tmp_path, table="IV", variant="DF-CNN_svm")  # paper from results
    assert d.paper_source == "paper: DF-CNN (Li et al. 2017), Table IV (DF-CNN_svm)"
    np.testing.assert_allclose(d.paper, np.asarray(m)[:6, :6])
    np.testing.assert_allclose(d.difference, d.ours - d.paper)
    a = AccuracyTableDisplay.from_results(tmp_path, paper="dfcnn", table="IV", row="DF-CNN_svm")
    np.testing.assert_allclose([a.paper[c] for c in EXPRESSIONS], np.diag(np.asarray(m))[:6])


def test_explanation_grid_rows_per_class():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 255, size=(7, 8, 8, 3), dtype=np.uint8)
    maps = rng.random((7, 4, 4))
    labels = np.array([0, 0, 0, 3, 3, 5, 5])
    g = ExplanationGridDisplay.from_arrays(imgs, maps, labels, kind="saliency", source=run_source(True),
                                           per_class=2).plot()
    assert g.axes_.shape == (3, 2)
    assert [g.axes_[r, 0].get_ylabel() for r in range(3)] == ["anger", "happiness", "surprise"]
    assert "synthetic" in g.figure_._suptitle.get_text()
    ov = g.overlays()
    assert ov.shape == (7, 8, 8, 3) and ov.min() >= 0 and ov.max() <= 1
    z = ExplanationGridDisplay(imgs[:1], np.zeros((1, 8, 8)), [0], kind="saliency").overlays()
    np.testing.assert_allclose(z[0], np.broadcast_to([0, 0, 0.35], (8, 8, 3)))   # s = 0 -> dark blue
    with pytest.raises(VizError):
        ExplanationGridDisplay(imgs, maps[:3], labels)
    with pytest.raises(VizError):
        ExplanationGridDisplay(imgs, maps, labels, kind="nope")


def test_explanation_grid_from_cam_and_saliency():
    torch = pytest.importorskip("torch")
    from torch import nn

    class Tiny(nn.Module):
        inputs = (("texture", 3), ("depth", 1))
        target_layers = {"texture": ["conv"], "depth": ["conv"]}

        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.conv = nn.Conv2d(4, 6, 3, padding=1)
            self.fc = nn.Linear(6, 6)

        def forward_features(self, x):
            return torch.relu(self.conv(x)).mean((2, 3))

        def forward(self, x):
            return self.fc(self.forward_features(x))

    m = Tiny()
    x = torch.randn(4, 4, 12, 12)
    labels = [0, 1, 1, 4]
    g = ExplanationGridDisplay.from_cam(m, x, labels, method="gradcam", modality="depth", synthetic=True).plot()
    assert g.maps.shape == (4, 12, 12) and g.axes_.shape[0] == 3
    assert "gradcam, depth" in g.figure_._suptitle.get_text() and "synthetic" in g.figure_._suptitle.get_text()
    s = ExplanationGridDisplay.from_saliency(m, x, np.eye(6), labels, synthetic=True)
    assert s.kind == "saliency" and s.images.shape == (4, 12, 12, 3)


def test_embedding_display_and_panels():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(6), 8)
    feats = rng.normal(scale=8, size=(6, 20))[labels] + rng.normal(size=(48, 20))
    d = EmbeddingDisplay.from_features(feats, labels, feature_name="fused 32-d", synthetic=True, perplexity=10)
    d.plot()
    assert d.embedding.shape == (48, 2) and len(d.collections_) == 6
    assert "synthetic" in d.ax_.get_title() and "20-D" in d.ax_.get_title()
    colors = {tuple(np.round(c.get_facecolor()[0][:3], 3)) for c in d.collections_}
    assert len(colors) == 6                                                  # one colour per expression
    fig, disps = embedding_panels({"Gabor": feats, "conv5": feats * 2}, labels, synthetic=True, perplexity=10)
    assert len(fig.axes) == 2 and all("synthetic" in x.ax_.get_title() for x in disps)
    with pytest.raises(VizError):
        EmbeddingDisplay(np.zeros((3, 3)), [0, 1, 2])
    with pytest.raises(VizError):
        EmbeddingDisplay(np.full((2, 2), np.nan), [0, 1])


def test_explanation_grid_from_arrays_labels_synthetic_sources():
    import numpy as np

    from ferbench.viz import ExplanationGridDisplay

    imgs = np.zeros((2, 16, 16, 3))
    maps = np.zeros((2, 4, 4))
    d = ExplanationGridDisplay.from_arrays(imgs, maps, [0, 1], synthetic=True, kind="attention", method="fa")
    assert "synthetic" in d.source
    d = ExplanationGridDisplay.from_arrays(imgs, maps, [0, 1], source="mine")
    assert d.source == "mine"
