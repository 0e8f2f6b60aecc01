"""The napari dock widgets (attribute maps, GEMax tau, explain) in a real viewer (Xvfb), against ferbench's
public API."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ferbench_napari import tasks

MANIFEST = Path(tasks.__file__).with_name("napari.yaml")
WIDGETS = {"ferbench.attribute_maps_widget": "Attribute maps", "ferbench.gemax_tau_widget": "GEMax tau",
           "ferbench.explain_widget": "Explain"}
TIMEOUT_MS = 120_000   # the machine is shared; the work itself takes well under a second


# ------------------------------------------------------------------------------------ manifest, pure logic

def test_manifest_declares_the_widgets():
    npe2 = pytest.importorskip("npe2")
    pm = npe2.PluginManifest.from_file(MANIFEST)
    assert {w.command: w.display_name for w in pm.contributions.widgets} == WIDGETS
    commands = {c.id: c.python_name for c in pm.contributions.commands}
    for cmd in WIDGETS:
        assert commands[cmd].startswith("ferbench_napari._qt.widgets:")
    installed = npe2.PluginManifest.from_distribution("ferbench")
    assert {w.display_name for w in installed.contributions.widgets} == set(WIDGETS.values())


def test_paper_entropy_comes_from_gemax_table_3():
    from ferbench import papers

    t = papers.table("gemax_fa", "3")
    value, source = tasks.paper_entropy(20)
    assert value == t.cell("Entropy", "20") and str(value) == "7.811" and "Table 3" in source
    assert tasks.paper_entropy(tasks.GEMAX_N)[0] == t.cell("Entropy", "N")
    assert tasks.paper_entropy(25)[0] is None
    text = tasks.entropy_text(25, 7.5, True, None, source)
    assert "synthetic" in text and "no value" in text and "Table 3" in text


def test_gemax_view_is_the_public_gemax_map():
    from ferbench.maps.gemax import gemax_map
    from ferbench.preprocess import FaceGrid

    yy, xx = np.mgrid[-20:20, -20:20].astype(float)
    z = 40.0 - 0.03 * (xx ** 2 + yy ** 2)
    grid = FaceGrid.from_depth(np.where(xx ** 2 + yy ** 2 < 400, z, np.nan))
    view = tasks.gemax_view(grid, 30)
    levels, res = gemax_map(grid.z, tau=30, mask=grid.mask)
    np.testing.assert_array_equal(view.map, levels)
    assert view.entropy == res.entropy and not view.synthetic and view.grid is grid
    assert f"{res.entropy:.3f}" in view.text() and "7.931" in view.text()


# ------------------------------------------------------------------------------------ widgets in a viewer

def _viewer_with_sample(make_napari_viewer):
    pytest.importorskip("napari")
    pytest.importorskip("magicgui")
    viewer = make_napari_viewer()
    viewer.open_sample("ferbench", "synthetic_face")
    surface = viewer.layers[0]
    scan = surface.metadata[tasks.SCAN_KEY]
    assert scan.meta.synthetic and "(synthetic)" in surface.name
    return viewer, scan


@pytest.mark.napari
def test_attribute_maps_widget_adds_the_maps(make_napari_viewer, qtbot):
    from ferbench.maps import compute_maps

    viewer, scan = _viewer_with_sample(make_napari_viewer)
    _, widget = viewer.window.add_plugin_dock_widget("ferbench", "Attribute maps")
    names = ["geometry", "normal_z", "shape_index", "texture"]
    widget._maps.value = names
    widget._size.value = 64
    worker = widget.compute()
    assert worker is not None
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)
    assert worker.pbar.total == len(names) + 1 and worker.pbar.n == len(names) + 1   # preprocess + one per map

    expected = compute_maps(scan, names, size=64)
    for name in names:
        layer_name = tasks.map_layer_name(scan, name)
        assert layer_name.endswith(f" {name} (synthetic)")
        layer = viewer.layers[layer_name]
        assert layer._type_string == "image" and layer.metadata["synthetic"] is True
        assert layer.data.shape == ((64, 64, 3) if name == "texture" else (64, 64))
        np.testing.assert_array_equal(layer.data, expected[name])
    assert viewer.layers[tasks.map_layer_name(scan, "texture")].rgb

    n_layers = len(viewer.layers)          # recomputing updates the layers in place
    widget.compute()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)
    assert len(viewer.layers) == n_layers


@pytest.mark.napari
def test_attribute_maps_widget_reports_a_scan_that_fails_to_preprocess(make_napari_viewer, qtbot, monkeypatch):
    from ferbench.io.scan import Scan, ScanMeta
    from napari.layers import Layer

    import ferbench_napari
    from ferbench_napari._qt import widgets as W

    errors: list[str] = []
    monkeypatch.setattr(W, "show_error", errors.append)
    viewer, _ = _viewer_with_sample(make_napari_viewer)
    bad = Scan(vertices=np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]]), faces=np.array([[0, 1, 2]]),
               meta=ScanMeta(source_path="/nowhere/flat.ply"))
    data, kw, kind = ferbench_napari.scan_to_layers(bad)[0]
    viewer.add_layer(Layer.create(data, kw, kind))
    _, widget = viewer.window.add_plugin_dock_widget("ferbench", "Attribute maps")
    widget.reset_choices()
    assert widget._layer_combo.value.name == "flat.ply"
    widget._size.value = 32
    n_layers = len(viewer.layers)
    widget.compute()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)
    assert len(errors) == 1 and "\n" not in errors[0]
    assert errors[0].startswith("ferbench: cannot compute maps of flat.ply:") and "flat.ply" in widget.status
    assert len(viewer.layers) == n_layers


@pytest.mark.napari
def test_gemax_tau_widget_matches_the_public_gemax_map(make_napari_viewer, qtbot):
    from ferbench.maps.gemax import gemax_map
    from ferbench.preprocess import preprocess_scan

    viewer, scan = _viewer_with_sample(make_napari_viewer)
    _, widget = viewer.window.add_plugin_dock_widget("ferbench", "GEMax tau")
    size = 64
    widget._size.value = size
    grid = preprocess_scan(scan, size=size)
    layer_name = tasks.gemax_layer_name(scan)
    assert layer_name.endswith("GEMax (synthetic)")

    def settle(tau: int) -> None:
        qtbot.waitUntil(lambda: not widget.busy and widget.view is not None and widget.view.tau == tau
                        and widget.view.grid.shape == (size, size), timeout=TIMEOUT_MS)

    entropies = {}
    for tau, printed in ((16, "7.606"), (60, "7.987"), (25, None)):
        widget.tau = tau
        settle(tau)
        levels, res = gemax_map(grid.z, tau=tau, mask=grid.mask)
        layer = viewer.layers[layer_name]
        assert layer.data.shape == (size, size)
        np.testing.assert_array_equal(layer.data, levels)
        assert widget.view.entropy == res.entropy
        text = widget.label_text
        assert f"entropy {res.entropy:.3f} bits" in text and "synthetic" in text and "Table 3" in text
        assert (f"paper {printed} bits" in text) if printed else ("no value" in text)
        entropies[tau] = res.entropy
    assert entropies[60] >= entropies[16]
    assert [layer.name for layer in viewer.layers].count(layer_name) == 1     # one layer, updated in place

    # a burst of changes: the last value wins
    for tau in (30, 40, 50, 20):
        widget.tau = tau
    settle(20)
    np.testing.assert_array_equal(viewer.layers[layer_name].data, gemax_map(grid.z, tau=20, mask=grid.mask)[0])
    assert widget._preset.value == 20


# ------------------------------------------------------------------------------------ explaining a trained fold

@pytest.fixture(scope="module")
def trained_fold(tmp_path_factory):
    """A CM-CNN trained for one epoch on 4 synthetic subjects (2 subject folds, 32 px)."""
    from ferbench.eval.commands import train
    from ferbench.synth import generate_dataset

    tasks.block_late_triton_import()   # training imports torch._dynamo -> triton: segfault after Mesa's GL
    root = tmp_path_factory.mktemp("explain")
    generate_dataset(root / "data", n_subjects=4, seed=2, layouts=("bu3dfe",), progress=False)
    return train("cmcnn", "bu3dfe_p1_paper", root / "data", root / "res", epochs=1, folds=2, size=32, seed=0,
                 progress=False, workers=0)


def test_explain_view_gives_the_folds_prediction_and_heat_maps(trained_fold):
    import json

    from ferbench.errors import FerbenchError

    saved = json.loads((trained_fold / "folds" / "r00_f01.json").read_text())
    view = tasks.explain_view(trained_fold, fold=1, index=2, method="gradcam")
    rec_idx = saved["test"][2]
    assert view.record["path"] == json.loads((trained_fold / "splits.json").read_text())["records"][rec_idx]["path"]
    assert view.classes.index(view.predicted_class) == int(saved["pred"][2])       # the same prediction as training
    np.testing.assert_allclose(view.probabilities, saved["probabilities"][2], atol=1e-5)
    assert view.n_test == len(saved["test"]) and view.synthetic
    assert set(view.inputs) == {"gray", "lbp", "depth"} and all(a.shape == (32, 32) for a in view.inputs.values())
    pairs = {f"{a}_{b}" for a in ("gray", "lbp", "depth") for b in ("gray", "lbp", "depth") if a != b}
    assert set(view.heatmaps) == {"gradcam gray", "gradcam lbp", "gradcam depth"} | {f"attention {p}" for p in pairs}
    for h in view.heatmaps.values():
        assert h.shape == (32, 32) and 0.0 <= h.min() and h.max() <= 1.0 + 1e-6
    names = [kw["name"] for _, kw, _ in view.layers()]
    assert names[0] == "input gray [fold 2] (synthetic)" and len(names) == 3 + 3 + 6 and len(set(names)) == 12
    assert "held-out scan 3/" in view.text() and f"predicted {view.predicted_class}" in view.text()
    sal = tasks.explain_view(trained_fold, fold=1, index=2, method="saliency")
    assert list(sal.heatmaps)[0] == "saliency" and len(sal.heatmaps) == 7
    assert sal.predicted_class == view.predicted_class
    with pytest.raises(FerbenchError, match="out of range"):
        tasks.explain_view(trained_fold, fold=1, index=view.n_test)
    with pytest.raises(FerbenchError, match="unknown method"):
        tasks.explain_view(trained_fold, fold=1, method="magic")


@pytest.mark.napari
def test_explain_widget_adds_inputs_and_heat_maps(make_napari_viewer, qtbot, trained_fold, monkeypatch):
    pytest.importorskip("napari")
    from ferbench_napari._qt import widgets as W

    errors: list[str] = []
    monkeypatch.setattr(W, "show_error", errors.append)
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("ferbench", "Explain")
    widget._folder.value = str(trained_fold)
    widget._fold.value = 2
    widget._index.value = 3
    assert widget.explain() is not None
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)
    assert not errors and widget.view is not None and widget.status == widget.view.text()
    for data, kw, _ in widget.view.layers():
        layer = viewer.layers[kw["name"]]
        np.testing.assert_array_equal(layer.data, data)
    n_layers = len(viewer.layers)
    widget.explain()                                  # again: layers updated in place
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)
    assert len(viewer.layers) == n_layers

    widget._index.value = 10_000                      # out of range: one line, no new layer
    widget.explain()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=TIMEOUT_MS)
    assert len(errors) == 1 and "\n" not in errors[0] and "out of range" in errors[0]
    assert errors[0].startswith("ferbench: cannot explain held-out scan 10000 of fold 2")
    assert len(viewer.layers) == n_layers
    widget._folder.value = str(trained_fold / "missing")
    assert widget.explain() is None and "choose a results folder" in errors[-1]
