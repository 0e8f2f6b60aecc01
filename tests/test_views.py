"""The views layer: each view computed once in the core, and every front end shows exactly that view."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ferbench.eval.results import open_run
from ferbench.eval.testing import tiny_model

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def dataset(one_subject_dataset):
    return one_subject_dataset


@pytest.fixture(scope="module")
def scan(dataset):
    return next(r for r in dataset if r.expression == "happiness" and r.intensity == 4).load()


def test_title_label():
    from ferbench.views import title_label

    assert title_label("F0001 GEMax", synthetic=True) == "F0001 GEMax (synthetic)"
    assert title_label("F0001 GEMax", synthetic=False) == "F0001 GEMax"
    assert title_label("entropy", source="GEMax Table 3 (BU-3DFE)") == "entropy [GEMax Table 3 (BU-3DFE)]"


def test_scan_maps_view_shares_one_context_and_equals_compute_maps(scan, monkeypatch):
    import ferbench.maps.base as base
    from ferbench.maps import compute_maps
    from ferbench.preprocess import preprocess_scan
    from ferbench.views import scan_maps_view

    grid = preprocess_scan(scan, size=48)
    made = []
    orig = base.MapContext.__init__
    monkeypatch.setattr(base.MapContext, "__init__", lambda self, *a, **k: (made.append(1), orig(self, *a, **k))[1])
    names = ["normal_x", "normal_y", "normal_z", "shape_index", "geometry", "texture"]
    view = scan_maps_view(grid, names)
    assert len(made) == 1                     # one plane fit for the three normals and the shape index
    ref = compute_maps(grid, names)
    assert list(view.maps) == names and view.missing == {} and view.synthetic
    for n in names:
        np.testing.assert_array_equal(view.maps[n].data, ref[n])
    nx, si, geo = view.maps["normal_x"], view.maps["shape_index"], view.maps["geometry"]
    assert (nx.colormap, nx.contrast_limits, nx.full_name) == ("RdBu_r", (0.0, 1.0), "surface normal, x component")
    assert si.colormap == "RdBu_r" and si.contrast_limits == (0.0, 1.0)
    fg = geo.data[geo.data > 0]
    assert geo.colormap == "gray" and geo.contrast_limits == (float(fg.min()), float(fg.max()))
    assert view.maps["texture"].rgb and view.maps["normal_x"].title.endswith("normal_x (synthetic)")
    # a scan without texture: texture maps are listed as missing, with the reason
    grid.texture = None
    bare = scan_maps_view(grid, ["texture", "depth"])
    assert list(bare.maps) == ["depth"] and "needs a texture" in bare.missing["texture"]


def test_napari_and_notebook_maps_equal_the_core_view(scan):
    from ferbench._ipywidgets.scan_maps import maps_view
    from ferbench.views import scan_maps_view
    from ferbench_napari import tasks

    names = ["normal_x", "shape_index", "depth"]
    core = scan_maps_view(scan, names, size=40)
    gen = tasks.iter_attribute_maps(scan, names, 40)
    steps = []
    while True:
        try:
            steps.append(next(gen))
        except StopIteration as stop:
            napari_view = stop.value
            break
    assert steps == ["preprocess", *names]
    layers = tasks.attribute_map_layers(scan, napari_view)
    for (data, kw, kind), n in zip(layers, names):
        np.testing.assert_array_equal(data, core.maps[n].data)
        assert kw["colormap"] == core.maps[n].colormap and kw["contrast_limits"] == core.maps[n].contrast_limits
    disp = maps_view(scan, names, size=40)
    for n in names:
        np.testing.assert_array_equal(disp.maps[n], core.maps[n].data)


def test_gemax_view_one_table3_lookup_and_front_ends(scan):
    import ferbench.viz.maps as vmaps
    from ferbench import papers
    from ferbench._ipywidgets.tau import paper_entropies, tau_view
    from ferbench.maps.gemax import gemax_map
    from ferbench.preprocess import preprocess_scan
    from ferbench.views import entropy_curve, gemax_view, paper_table3_entropies, paper_table3_entropy
    from ferbench_napari import tasks

    grid = preprocess_scan(scan, size=48)
    v = gemax_view(grid, 30)
    levels, res = gemax_map(grid.z, tau=30, mask=grid.mask)
    np.testing.assert_array_equal(v.map, levels)
    assert v.entropy == pytest.approx(res.entropy) and v.grid is grid and v.synthetic
    assert v.title.endswith("(synthetic)") and "7.931" in v.text()
    t = papers.table("gemax_fa", "3")
    assert paper_table3_entropy(20)[0] == t.cell("Entropy", "20") and paper_table3_entropy(25)[0] is None
    assert paper_table3_entropy(4096)[0] == t.cell("Entropy", "N")
    assert paper_entropies() == paper_table3_entropies() and paper_table3_entropies()["20"] == 7.811
    assert not hasattr(vmaps, "paper_table3_entropies")        # one lookup left
    assert tasks.gemax_view is gemax_view and tasks.paper_entropy(20) == paper_table3_entropy(20)
    tv = tau_view(grid, 30)
    np.testing.assert_array_equal(tv.map, v.map)
    assert tv.entropy == v.entropy
    curve = entropy_curve(grid, (16, 30, "N"))
    assert curve.labels == ["16", "30", "N"] and curve.entropies[1] == pytest.approx(v.entropy)
    assert curve.paper_entropies.tolist() == [float(t.cell("Entropy", c)) for c in ("16", "30", "N")]


def test_explanation_view_equals_training_and_napari(tiny_run):
    from ferbench.views import explain_scan, explanation_view
    from ferbench_napari import tasks

    saved = json.loads((tiny_run / "folds" / "r00_f01.json").read_text())
    v = explanation_view(open_run(tiny_run), 1, 2, "saliency", factory=tiny_model)
    assert v.record["path"] == open_run(tiny_run).records[saved["test"][2]]["path"]
    assert v.classes.index(v.predicted_class) == int(saved["pred"][2])
    np.testing.assert_allclose(v.probabilities, saved["probabilities"][2], atol=1e-5)
    assert set(v.inputs) == {"depth", "texture"}
    assert v.inputs["depth"].shape == (16, 16) and v.inputs["texture"].shape == (16, 16, 3)
    assert list(v.heatmaps) == ["saliency"] and v.heatmaps["saliency"].shape == (16, 16)
    assert "held-out scan 3/" in v.text() and v.title.endswith("(synthetic)")
    nv = tasks.explain_view(tiny_run, 1, 2, "saliency", factory=tiny_model)
    assert nv.text() == v.text()
    heat = [t for t in nv.layers() if "ferbench_heatmap" in t[1]["metadata"]]
    assert [t[1]["metadata"]["ferbench_heatmap"] for t in heat] == ["saliency"]     # drawn over its input
    np.testing.assert_array_equal(nv.heatmaps["saliency"], v.heatmaps["saliency"])
    # an arbitrary input through the same model gives the same prediction
    fm = open_run(tiny_run).load_fold_model(1, factory=tiny_model, device="cpu")
    x, _ = fm.inputs([fm.test[2]])
    other = explain_scan(fm, x, "saliency")
    np.testing.assert_allclose(other.probabilities, v.probabilities, atol=1e-6)
    assert other.true_class is None and other.predicted_class == v.predicted_class


def test_heat_base_one_rule_for_the_display_and_the_napari_grid():
    from ferbench.views.explanation import heat_base
    from ferbench.viz import ExplanationDisplay
    from ferbench_napari import tasks

    inputs = ["depth", "gray", "lbp"]
    heat = ["gradcam++ gray", "saliency", "attention lbp_gray", "attention fused", "gradcam depth"]
    want = ["gray", "depth", "lbp", "depth", "depth"]     # modality; first input; attention a_b over a; first
    assert [heat_base(h, inputs) for h in heat] == want
    rng = np.random.default_rng(0)
    d = ExplanationDisplay({k: rng.random((4, 4)) for k in inputs}, {h: rng.random((4, 4)) for h in heat})
    assert [d.base_for(h) for h in heat] == want
    cells = tasks.explanation_cells(inputs, heat)
    assert {h: base for base, h in cells if h is not None} == dict(zip(heat, want))


def test_inputs_for_scan_equals_the_training_inputs(dataset):
    from ferbench.eval import inputs_for_scan
    from ferbench.eval.data import compute_input, record_to_dict
    from ferbench.models import create_model

    rec = next(r for r in dataset if r.expression == "anger" and r.intensity == 4)
    model = create_model("cmcnn", n_classes=6, input_size=32)
    x = inputs_for_scan(rec.path, model)
    ref = compute_input(record_to_dict(rec), model.inputs, 32)
    assert tuple(x.shape) == (1, model.in_channels, 32, 32)
    np.testing.assert_array_equal(x[0].numpy(), ref)


def test_embedding_view(tiny_run):
    import dataclasses

    from ferbench.errors import FerbenchError
    from ferbench.views import embedding_view, point_position
    from ferbench.viz import EmbeddingDisplay

    saved = json.loads((tiny_run / "folds" / "r00_f00.json").read_text())
    v = embedding_view(tiny_run, 0, "pca", factory=tiny_model)
    assert v.points.shape == (len(saved["test"]), 2) and v.record_indices == saved["test"]
    assert v.y_pred.tolist() == [int(p) for p in saved["pred"]]
    np.testing.assert_array_equal(v.misclassified, v.y_true != v.y_pred)
    assert v.title.startswith("PCA of the") and v.title.endswith("(synthetic)")
    d = EmbeddingDisplay.from_view(v)
    np.testing.assert_array_equal(d.embedding, v.points)
    held = open_run(tiny_run).held_out(0)            # each point -> its scan's held-out position (both front ends)
    for i in range(len(v.paths)):
        assert held[point_position(tiny_run, v, i)].record_index == v.record_indices[i]
    other = dataclasses.replace(v, fold=1)
    with pytest.raises(FerbenchError, match="not held out in fold 1"):
        point_position(tiny_run, other, 0)
    t = embedding_view(tiny_run, 0, "tsne", factory=tiny_model, max_scans=8)
    assert t.points.shape == (8, 2) and len(set(t.record_indices)) == 8


def test_results_view_and_its_front_ends(tiny_run):
    from ferbench._ipywidgets.results import results_view as panel_view
    from ferbench.views import results_view
    from ferbench.viz import AccuracyTableDisplay, ConfusionComparisonDisplay

    run = open_run(tiny_run)
    v = results_view(run)
    counts = np.array(run.results["confusion"], dtype=float)
    np.testing.assert_array_equal(v.confusion, counts)
    assert v.per_class_accuracy["anger"] == pytest.approx(100 * counts[0, 0] / counts[0].sum())
    assert v.paper_confusion is None and v.summary.accuracy == run.summary().accuracy
    cm = ConfusionComparisonDisplay.from_run(run)
    np.testing.assert_array_equal(cm.ours, v.confusion_percent)
    p = panel_view(tiny_run)
    np.testing.assert_array_equal(p.confusion.ours, v.confusion_percent)
    assert p.accuracy.ours == AccuracyTableDisplay.from_view(v).ours
    # beside a paper's matrix: the difference is ours - paper, in percentage points
    w = results_view(run, ("IV", "DF-CNN_svm"), paper="dfcnn")
    np.testing.assert_allclose(w.confusion_difference, w.confusion_percent - w.paper_confusion)
    assert w.paper_source.startswith("paper: ") and w.paper_per_class["anger"] == w.paper_confusion[0, 0]
    pw = panel_view(tiny_run, ("IV", "DF-CNN_svm"), ("IV", "DF-CNN_svm"), paper="dfcnn")
    np.testing.assert_array_equal(pw.confusion.paper, w.paper_confusion)
    assert pw.notes == []
