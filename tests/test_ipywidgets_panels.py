"""The notebook panels of ferbench._ipywidgets, driven without a browser or kernel.

Each panel is built on a tiny synthetic dataset (1 subject), a control is changed from code (what a user's
click does), and the panel's pure function is checked. Also: the core never imports ipywidgets.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("ipywidgets")


@pytest.fixture(scope="module")
def dataset(one_subject_dataset):
    return one_subject_dataset


@pytest.fixture(scope="module")
def grid(dataset):
    from ferbench.preprocess import preprocess_scan

    rec = next(r for r in dataset if r.expression == "happiness" and r.intensity == 4)
    return preprocess_scan(rec.load(), size=64)


def test_core_does_not_import_ipywidgets():
    code = ("import ferbench, ferbench.maps, ferbench.viz, ferbench.papers, ferbench.io, ferbench.models, "
            "ferbench.eval, sys; assert 'ipywidgets' not in sys.modules, 'core imported ipywidgets'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_only_the_frontend_subpackage_imports_ipywidgets():
    from pathlib import Path

    import ferbench

    root = Path(ferbench.__file__).parent
    offenders = [p.relative_to(root) for p in root.rglob("*.py") if "_ipywidgets" not in p.parts
                 and "ipywidgets" in p.read_text(encoding="utf-8")]
    assert not offenders, offenders


def test_tau_slider_recomputes_and_entropy_grows_with_tau(grid):
    from ferbench._ipywidgets import TauSlider, paper_entropies, tau_view

    panel = TauSlider(grid, tau=20)
    assert panel.view.synthetic
    h20 = panel.view.entropy
    panel.slider.value = 30                                   # what dragging the slider does
    assert panel.slider.value == 30 and set(panel.history) == {20, 30}
    h30 = panel.view.entropy
    m30, e30 = tau_view(grid, 30)[:2]
    assert e30 == pytest.approx(h30) and np.array_equal(m30, panel.view.map)
    assert h30 >= h20 - 1e-9
    entropies = [tau_view(grid, t).entropy for t in (16, 20, 30, 40, 60)]
    assert np.all(np.diff(entropies) >= -1e-9), entropies
    # labels: ferbench's number says synthetic, the paper's says its table, current tau bracketed
    assert "synthetic" in panel.label.value and "synthetic sanity check" in panel.source.value
    assert "Table 3" in panel.label.value and "[30: 7.931]" in panel.label.value
    assert paper_entropies()["20"] == pytest.approx(7.811)
    # the map is the GEMax map: K levels at most, background 0
    v = panel.view
    assert v.map.dtype == np.uint8 and v.map.shape == grid.shape
    assert (v.map[~v.valid] == 0).all() and v.map[v.valid].max() <= 255
    panel.d_dis.value = 100
    assert set(panel.history) == {30}
    with pytest.raises(ValueError):
        TauSlider(grid, tau_range=(8, 60))                    # K * tau < N is infeasible


def test_paper_table_panel_shows_selected_table():
    from ferbench import papers
    from ferbench._ipywidgets import PaperTablePanel, table_options, table_text

    panel = PaperTablePanel()
    assert panel.paper.value == "dfcnn"
    panel.paper.value = "gemax_fa"                             # table list follows the paper
    assert [v for _, v in panel.table.options] == [tid for _, tid, _ in papers.list_tables("gemax_fa")]
    panel.table.value = "3"
    caption = papers.table("gemax_fa", "3").caption
    assert caption in panel.text.value and "[gemax_fa] Table 3" in panel.text.value
    assert "7.811" in panel.text.value
    panel.table.value = "5"
    assert papers.table("gemax_fa", "5").caption in panel.text.value and caption not in panel.text.value
    assert "fig12a" in [v for _, v in table_options("attention_transformer")]
    assert "transcribed as printed" in table_text("mffcnn", "6")


def test_scan_maps_panel_switches_scan_and_map(dataset):
    from ferbench._ipywidgets import ScanMapsPanel, maps_view, scan_options

    opts = scan_options(dataset)
    assert len(opts) == len(dataset) and opts[0][0].startswith(dataset[0].subject)
    panel = ScanMapsPanel(dataset, size=48, map_names=["depth", "normal_z", "lbp"], map_name="depth")
    assert list(panel.display_.maps) == ["depth"] and panel.display_.synthetic
    panel.map.value = "normal_z"
    assert list(panel.display_.maps) == ["normal_z"]
    target = next(i for lab, i in opts if "surprise · 4" in lab)
    panel.scan.value = target
    assert "surprise" in panel.display_.title
    direct = maps_view(panel.grid(target), "normal_z", size=48)
    assert np.array_equal(direct.maps["normal_z"], panel.display_.maps["normal_z"])
    panel.map.value = "all maps"
    assert list(panel.display_.maps) == ["depth", "normal_z", "lbp"]


def _fake_results(folder, paper="dfcnn"):
    """A results folder as train() writes it, reduced to what the displays read (no training here)."""
    folder.mkdir(parents=True)
    classes = ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]
    rng = np.random.default_rng(0)
    conf = (np.eye(6) * 6 + rng.integers(0, 3, size=(6, 6))).astype(int)
    res = {"label": "synthetic", "synthetic": True, "model": paper, "paper": paper, "protocol": "bu3dfe_subset2_cv10",
           "classes": classes, "confusion": conf.tolist(), "accuracy_pooled": float(np.trace(conf) / conf.sum()),
           "n_splits_done": 2, "init_note": "random initialisation",
           "chance_test": {"accuracy": 0.45, "n": 40, "ci95": [0.3, 0.6], "p_value": 1.5e-5, "scope": "first round"}}
    (folder / "results.json").write_text(json.dumps(res))
    return conf


def test_results_panel_compares_with_paper(tmp_path):
    from ferbench._ipywidgets import ResultsPanel, comparison_options, find_results, results_view

    conf = _fake_results(tmp_path / "runs" / "dfcnn__bu3dfe_subset2_cv10__seed0")
    assert len(find_results(tmp_path / "runs")) == 1
    panel = ResultsPanel(tmp_path / "runs")
    # defaults: the demo's choice for DF-CNN, Table IV (DF-CNN_svm)
    assert panel.confusion.value == ("IV", "DF-CNN_svm") and panel.accuracy.value == ("IV", "DF-CNN_svm")
    v = panel.view
    assert v.confusion.paper is not None and "Table IV" in v.confusion.paper_source
    assert "synthetic" in v.confusion.ours_source and "synthetic" in panel.summary.value
    assert "40 scans of the first round: 95 % CI 30.0-60.0 %, p = 1.5e-05" in panel.summary.value
    expected = 100 * conf[0, 0] / conf[0].sum()
    assert v.accuracy.ours["anger"] == pytest.approx(expected)
    assert v.accuracy.paper["anger"] == pytest.approx(82.08)
    # switch to the fine-tuned table (VI) and then to ferbench only
    panel.confusion.value = ("VI", "DF-CNN_svm")
    assert "Table VI" in panel.view.confusion.paper_source
    panel.confusion.value = ()
    assert panel.view.confusion.paper is None
    conf_opts, acc_opts = comparison_options("mffcnn")
    assert ("fig4", None) in [v for _, v in conf_opts]
    assert ("6", "MFF-CNN") in [v for _, v in acc_opts]       # the per-class ablation table
    # a table without per-expression values is reported, not raised
    rv = results_view(tmp_path / "runs" / "dfcnn__bu3dfe_subset2_cv10__seed0", accuracy=("II", None))
    assert rv.accuracy.paper is None and rv.notes


def test_results_panel_defaults_to_matrix_diagonal_when_demo_table_has_no_per_class_values(tmp_path):
    from ferbench._ipywidgets import ResultsPanel

    _fake_results(tmp_path / "mffcnn__mffcnn_2d_cv10__seed0", paper="mffcnn")
    panel = ResultsPanel(tmp_path)
    assert panel.confusion.value == ("fig4", None) and panel.accuracy.value == ("fig4", None)
    assert "Fig. 4" in panel.view.accuracy.paper_source and not panel.view.notes


def test_results_panel_without_runs(tmp_path):
    from ferbench._ipywidgets import ResultsPanel

    panel = ResultsPanel(tmp_path)
    assert panel.view is None and "No results folder" in panel.summary.value


# ------------------------------------------------------------------ ExplanationPanel / EmbeddingPanel (a trained run)

def test_explanation_panel_draws_the_core_view(tiny_run):
    from ferbench._ipywidgets import ExplanationPanel, fold_options, scan_options_for_fold
    from ferbench.eval.results import open_run
    from ferbench.views import explanation_view

    from ferbench.eval.testing import tiny_model as f

    run = open_run(tiny_run)
    assert [v for _, v in fold_options(run)] == [0, 1, 2, 3]          # every split of the tiny run is trained
    held = run.held_out(0)
    assert [v for _, v in scan_options_for_fold(run, 0)] == list(range(len(held)))
    p = ExplanationPanel(run, fold=0, scan_index=1, factory=f)
    core = explanation_view(run, 0, 1, "gradcam", factory=f)
    assert p.view.predicted_class == core.predicted_class and p.view.record == core.record
    assert list(p.view.heatmaps) == list(core.heatmaps) == ["gradcam all"]   # the tiny net: one CAM for all inputs
    for k in core.heatmaps:
        np.testing.assert_allclose(p.view.heatmaps[k], core.heatmaps[k], atol=1e-6)
    assert p.text.value == core.text()
    titles = [a.get_title() for a in p.display_.axes_.ravel()]
    assert titles[:2] == ["input: depth", "input: texture"] and "gradcam all" in titles
    p.method.value = "saliency"                                   # what picking a method does
    assert p.view.method == "saliency" and list(p.view.heatmaps) == ["saliency"]
    p.fold.value = 2                                              # another fold: its own held-out scans
    assert [v for _, v in p.scan.options] == list(range(len(run.held_out(2))))
    assert p.view.fold == 2 and p.view.record == dict(run.records[run.held_out(2)[0].record_index])


def test_embedding_panel_links_points_to_scans(tiny_run):
    from ferbench._ipywidgets import EmbeddingPanel, point_explanation, point_options, point_position
    from ferbench.eval.results import open_run
    from ferbench.views import embedding_view

    from ferbench.eval.testing import tiny_model as f

    run = open_run(tiny_run)
    e = EmbeddingPanel(run, fold=1, method="pca", factory=f)
    core = embedding_view(run, 1, "pca", factory=f)
    np.testing.assert_allclose(e.view.points, core.points, atol=1e-6)
    assert len(point_options(e.view)) == len(core.points) == len(run.held_out(1))
    held = {h.position: h for h in run.held_out(1)}
    for i, rec in enumerate(core.record_indices):
        assert held[point_position(run, core, i)].record_index == rec
    e.slider.value = 3                                            # the slider and the list move together
    assert e.point.value == 3
    assert e.explanation.record == point_explanation(run, core, 3, factory=f).record
    assert e.explanation.record["path"] == held[point_position(run, core, 3)].path
    fig = e.figure(3)
    assert len(fig.axes) >= 3                                     # scatter + inputs + heat maps


def test_nearest_point_on_a_hand_built_view():
    from ferbench.errors import FerbenchError
    from ferbench.views import EmbeddingView, nearest_point

    pts = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 3.0], [4.0, 0.0]])   # point 3 duplicates point 1
    v = EmbeddingView(points=pts, paths=["a", "b", "c", "d"], subjects=["s"] * 4, record_indices=[0, 1, 2, 3],
                      y_true=np.zeros(4, np.int64), y_pred=np.zeros(4, np.int64), classes=["x"],
                      misclassified=np.zeros(4, bool), method="pca", fold=0, feature_layer="f", synthetic=True,
                      title="t")
    assert nearest_point(v, 0.1, 0.2) == 0
    assert nearest_point(v, 3.0, 0.0) == 1                       # a tie goes to the lower index
    assert nearest_point(v, 0.0, 2.0) == 2                       # distance 1 to point 2, 2 to point 0
    assert nearest_point(v, 0.0, 2.0, max_distance=1.0) == 2     # exactly at the limit still counts
    assert nearest_point(v, 0.0, 2.0, max_distance=0.99) is None
    assert nearest_point(v, 40.0, 30.0) == 1                     # no limit: always the nearest
    assert nearest_point(pts[:3] * 10, 38.0, 1.0, max_distance=3.0) == 1   # an (N, 2) array, e.g. pixels
    assert nearest_point(np.zeros((0, 2)), 0.0, 0.0) is None
    assert nearest_point(v, float("nan"), 0.0) is None
    with pytest.raises(FerbenchError, match=r"\(N, 2\)"):
        nearest_point(np.zeros(3), 0.0, 0.0)


def test_embedding_panel_click_and_hover_choose_points(tiny_run):
    pytest.importorskip("ipympl")
    import matplotlib
    from matplotlib.backend_bases import MouseEvent

    from ferbench._ipywidgets import HOVER_RADIUS_PX, EmbeddingPanel, point_options
    from ferbench.eval.results import open_run
    from ferbench.eval.testing import tiny_model as f

    backend = matplotlib.rcParams._get_backend_or_none()
    run = open_run(tiny_run)
    e = EmbeddingPanel(run, fold=1, method="pca", factory=f)
    assert matplotlib.rcParams._get_backend_or_none() == backend      # ipympl did not take over pyplot
    assert type(e.canvas).__module__ == "ipympl.backend_nbagg" and e.canvas in e.widget.children[-1].children
    assert e.scatter_figure.canvas is e.canvas and not e.canvas.toolbar_visible
    held = {h.position: h for h in run.held_out(1)}
    labels = [label for label, _ in point_options(e.view)]
    pix = e.scatter_ax.transData.transform(e.view.points)
    # CSS pixels from the top-left (device pixel ratio 1 here): matplotlib's y is flipped
    h = e.scatter_figure.bbox.height
    np.testing.assert_allclose([e.point_pixel(i) for i in range(len(pix))], np.c_[pix[:, 0], h - pix[:, 1]])

    def mouse(kind, xy, **kw):
        MouseEvent(kind, e.canvas, float(xy[0]), float(xy[1]), **kw)._process()

    k = 5
    assert e.point.value == 0
    mouse("button_press_event", pix[k] + 2.0, button=1)           # a click on (2 px beside) point k chooses it
    assert e.point.value == e.slider.value == k
    assert e.explanation.record["path"] == e.view.paths[k]
    assert e.view.record_indices[k] in {h.record_index for h in held.values()}
    np.testing.assert_allclose(e._ring.get_offsets()[0], e.view.points[k])     # the ring moved
    assert e._ring_label.get_text() == str(k + 1)
    far = np.array([pix[:, 0].max(), pix[:, 1].max()]) + HOVER_RADIUS_PX + 1.0
    assert np.hypot(*(pix - far).T).min() > HOVER_RADIUS_PX
    before = e.explanation
    mouse("button_press_event", far, button=1)                    # far from every point: nothing changes
    assert e.point.value == k and e.explanation is before
    mouse("button_press_event", pix[2], button=3)                 # a right click does not choose
    assert e.point.value == k
    j = 2
    mouse("motion_notify_event", pix[j])                          # hovering names the scan, explains nothing
    assert e.hover.value.endswith(f"hover: {labels[j]}</span>".replace("&", "&amp;"))
    assert e.point.value == k and e.explanation is before
    mouse("motion_notify_event", far)
    assert "hover:" not in e.hover.value and "click" in e.hover.value
    e.slider.value = 1                                            # slider and list still choose, ring follows
    assert e.point.value == 1 and e.explanation.record["path"] == e.view.paths[1]
    np.testing.assert_allclose(e._ring.get_offsets()[0], e.view.points[1])


def test_embedding_panel_without_ipympl_says_clicking_needs_it(tiny_run):
    from ferbench._ipywidgets import EmbeddingPanel
    from ferbench.eval.testing import tiny_model as f

    e = EmbeddingPanel(tiny_run, fold=1, method="pca", factory=f, interactive=False)   # as without ipympl
    assert e.canvas is None and e.output in e.widget.children
    assert "needs ipympl" in e.hover.value
    assert e.output.outputs[0]["data"]["image/png"]               # scatter and explanation as one picture
