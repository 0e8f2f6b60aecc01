"""The napari workbench in a real viewer (Xvfb): what a user sees after driving each dock widget.

Run with ``-p xvfb``. Trained runs come from the session fixture ``tiny_run`` (tests/conftest.py).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ferbench_napari import tasks

MANIFEST = Path(tasks.__file__).with_name("napari.yaml")
WIDGETS = {"ferbench.attribute_maps_widget": "Attribute maps", "ferbench.gemax_tau_widget": "GEMax tau",
           "ferbench.explain_widget": "Explain", "ferbench.results_widget": "Results",
           "ferbench.embedding_widget": "Embedding", "ferbench.predict_widget": "Predict"}
TIMEOUT_MS = 180_000   # the machine is shared; the work itself takes seconds


# ------------------------------------------------------------------------------------ manifest, pure logic

def test_manifest_declares_the_widgets():
    npe2 = pytest.importorskip("npe2")
    pm = npe2.PluginManifest.from_file(MANIFEST)
    assert {w.command: w.display_name for w in pm.contributions.widgets} == WIDGETS
    commands = {c.id: c.python_name for c in pm.contributions.commands}
    for cmd in WIDGETS:
        assert commands[cmd].startswith("ferbench_napari._qt.widgets:")


def test_paper_entropy_comes_from_gemax_table_3():
    from ferbench import papers

    t = papers.table("gemax_fa", "3")
    value, source = tasks.paper_entropy(20)
    assert value == t.cell("Entropy", "20") and str(value) == "7.811" and "Table 3" in source
    assert tasks.paper_entropy(tasks.GEMAX_N)[0] == t.cell("Entropy", "N")
    assert tasks.paper_entropy(25)[0] is None


def test_layout_helpers():
    origins = tasks.grid_origins(5, 10.0)
    assert len(origins) == 5 and len({o for o in origins}) == 5
    for i, a in enumerate(origins):              # cells never overlap
        for b in origins[i + 1:]:
            assert abs(a[0] - b[0]) >= 10 or abs(a[1] - b[1]) >= 10
    cells = tasks.explanation_cells(["gray", "lbp", "depth"], ["gradcam gray", "gradcam depth", "attention gray_lbp"])
    assert cells == [("gray", "gradcam gray"), ("lbp", None), ("depth", "gradcam depth"),
                     ("gray", "attention gray_lbp")]
    assert tasks.explanation_cells(["depth", "texture"], ["saliency"]) == [("depth", None), ("texture", None),
                                                                            ("depth", "saliency")]
    msg = tasks.short_path_error("/tmp/a/b/run7/checkpoints/r00_f01.pt: weights do not fit\nsecond line")
    assert msg == "r00_f01.pt: weights do not fit"
    assert tasks.one_line_error("explain", "x in /very/long/path/run", ValueError("/x/y/z.json: bad")) == \
        "ferbench: cannot explain x in run: z.json: bad"


def test_workers_wait_for_the_import_warm_up():
    """A dock's worker starts its work only once the warm-up's imports have ended (no two threads importing
    torchvision at once); a generator stays a generator."""
    import inspect
    import threading

    ran = threading.Event()
    wrapped = tasks.after_warm_up(lambda x: ran.set() or x + 1)
    tasks.warm_up_started()
    try:
        out = []
        t = threading.Thread(target=lambda: out.append(wrapped(1)))
        t.start()
        assert not ran.wait(0.3)                         # held while the warm-up runs
        assert "torch" in tasks.warm_up_imports()        # its end releases the worker
        t.join(10)
        assert ran.is_set() and out == [2]
    finally:
        tasks.warm_up_imports()

    def counting(n):
        yield from range(n)
        return "done"

    gen = tasks.after_warm_up(counting)
    assert inspect.isgeneratorfunction(gen)
    it = gen(3)
    assert [next(it) for _ in range(3)] == [0, 1, 2]
    with pytest.raises(StopIteration) as stop:
        next(it)
    assert stop.value.value == "done"


def test_2d_view_collapses_only_the_axes_of_hidden_scans():
    napari = pytest.importorskip("napari")
    from ferbench_napari import _viewer

    v = napari.components.ViewerModel()
    _viewer.install_viewer_hooks(v)
    rng = np.random.default_rng(0)
    verts, faces = rng.uniform(0, 40, (30, 3)), rng.integers(0, 30, (40, 3))
    scan = v.add_surface((verts, faces), metadata={tasks.KIND_KEY: "scan"})
    assert v.dims.ndisplay == 3 and v.dims.nsteps[0] > 1 and not v.scene.camera.synced
    full = tuple(v.dims.range)
    _viewer.replace_group(v, "g", [(np.zeros((8, 6)), {"name": "m", "metadata": {tasks.KIND_KEY: "map"}}, "image")])
    assert v.dims.ndisplay == 2 and not scan.visible
    assert _viewer.hidden_only_axes(v) == [0] and v.dims.nsteps[0] == 1
    ext = v.layers.extent
    np.testing.assert_array_equal(np.array(v.dims.range)[1:].T, [ext.world[0][1:], ext.world[1][1:], ext.step[1:]])
    scan.visible = True                                  # shown by hand in 2D: its depth slider is back
    assert _viewer.hidden_only_axes(v) == [] and v.dims.range[0] == full[0]
    scan.visible = False
    assert v.dims.nsteps[0] == 1
    v.dims.ndisplay = 3
    assert v.dims.range[0] == full[0] and v.dims.nsteps[0] > 1 and scan.visible
    v.dims.ndisplay = 2
    other = v.add_image(np.zeros((3, 8, 6)))            # a 3D image of the user's own keeps its slider
    assert _viewer.hidden_only_axes(v) == [] and v.dims.nsteps[0] > 1 and other.visible


def _view_rows(viewer):
    """The world rows the 2D canvas shows (camera centre and zoom over the canvas height)."""
    from ferbench_napari import _viewer

    ch, _ = _viewer._canvas_hw(viewer)
    cy = float(_viewer.camera(viewer).center[-2])
    half = ch / 2 / _viewer.camera(viewer).zoom
    return cy - half, cy + half


@pytest.mark.parametrize("canvas_hw", [(600, 800), (500, 1400)])
def test_a_framed_group_shows_no_other_group(canvas_hw):
    """A short, wide grid placed under a tall map is framed without the map's lower half showing above it."""
    napari = pytest.importorskip("napari")
    from ferbench_napari import _viewer

    v = napari.components.ViewerModel()
    v.canvas.size = canvas_hw
    meta = {"metadata": {tasks.KIND_KEY: "map"}}
    tall = _viewer.replace_group(v, "gemax", [(np.zeros((224, 224)), {"name": "gemax", **meta}, "image")])
    grid = [(np.zeros((48, 48)), {"name": f"cell{i}", "translate": (12.0, i * 70.0), **meta}, "image")
            for i in range(5)]
    grid.append((np.array([[0.0, 150.0]]), {"name": "title", "features": {"label": ["title"]},
                                                  "text": {"string": "{label}"}, **meta}, "points"))
    wide = _viewer.replace_group(v, "explain", grid)
    top, bottom = _view_rows(v)
    map_bottom = float(np.asarray(tall[0].extent.world)[1, -2])
    grid_box = _viewer._bbox(wide, 2)
    assert map_bottom < top < grid_box[0][0] and grid_box[1][0] < bottom    # only the grid is in view
    assert grid_box[0][0] - map_bottom >= _viewer.GROUP_GAP
    again = _viewer.replace_group(v, "explain", grid)   # a re-run keeps its place
    np.testing.assert_allclose(_viewer._bbox(again, 2), grid_box)


# ------------------------------------------------------------------------------------ helpers

def _viewer(make_napari_viewer):
    pytest.importorskip("napari")
    pytest.importorskip("magicgui")
    return make_napari_viewer()


def _dock(viewer, name):
    return viewer.window.add_plugin_dock_widget("ferbench", name)[1]


def _wait(qtbot, widget, attr="worker"):
    qtbot.waitUntil(lambda: getattr(widget, attr) is None, timeout=TIMEOUT_MS)


def _yx_box(layer):
    e = np.asarray(layer.extent.world, float)[:, -2:]
    return e


def _overlap(a, b) -> bool:
    return bool(np.all(a[0] < b[1]) and np.all(b[0] < a[1]))


def _assert_no_dims_slider(viewer):
    """2D view: no non-displayed axis with more than one step, and the Qt dims bar shows no slider."""
    dims = viewer.dims
    assert dims.ndisplay == 2
    assert all(dims.nsteps[ax] == 1 for ax in dims.not_displayed), dims.range
    qt_dims = viewer.window._qt_viewer.dims               # what the user sees (private Qt, test only)
    assert len(qt_dims.slider_widgets) == dims.ndim == 3
    assert not any(w.isVisibleTo(qt_dims) for w in qt_dims.slider_widgets)


@pytest.fixture(scope="module")
def scan_file(tmp_path_factory):
    """One synthetic scan written to disk (BU-3DFE layout, never part of any run)."""
    from _io_helpers import write_synthetic_scan

    return write_synthetic_scan(tmp_path_factory.mktemp("scan") / "M0042_SU03WH_F3D.wrl", "M0042", "surprise", 3,
                                seed=3, texture_size=128)


# ------------------------------------------------------------------------------------ opening scans

@pytest.mark.napari
def test_opening_scans_shows_them_in_3d_side_by_side(make_napari_viewer, scan_file):
    viewer = _viewer(make_napari_viewer)
    viewer.open(str(scan_file), plugin="ferbench")
    assert viewer.dims.ndisplay == 3
    from ferbench_napari._viewer import camera

    assert tuple(camera(viewer).angles) == (0.0, 0.0, 0.0)       # front view, upright
    viewer.open_sample("ferbench", "synthetic_face")
    surfaces = [lay for lay in viewer.layers if lay._type_string == "surface"]
    points = [lay for lay in viewer.layers if lay._type_string == "points"]
    assert len(surfaces) == 2 and len(points) == 2 and viewer.dims.ndisplay == 3
    (a0, a1), (b0, b1) = [np.asarray(s.extent.world)[:, -1] for s in surfaces]
    assert a1 < b0 or b1 < a0                        # the sample face sits beside the opened scan
    for s, p in zip(surfaces, points):
        np.testing.assert_array_equal(p.translate, s.translate)    # landmarks follow their face
        assert len(p.features["landmark"]) == len(p.data) and p.features["landmark"][0]
        assert s.visible and p.visible
    assert viewer.tooltip.visible                   # landmark names on hover


# ------------------------------------------------------------------------------------ attribute maps

@pytest.mark.napari
def test_attribute_maps_are_a_labelled_grid_replaced_on_rerun(make_napari_viewer, qtbot):
    from ferbench.maps import compute_maps

    viewer = _viewer(make_napari_viewer)
    viewer.open_sample("ferbench", "synthetic_face")
    scan = viewer.layers[0].metadata[tasks.SCAN_KEY]
    from ferbench_napari._viewer import camera

    cam3d = (tuple(camera(viewer).center), camera(viewer).zoom, tuple(camera(viewer).angles))
    range3d = tuple(viewer.dims.range)
    assert viewer.dims.nsteps[0] > 1                     # the face's depth axis (displayed in 3D)
    widget = _dock(viewer, "Attribute maps")
    names = ["geometry", "normal_z", "shape_index", "texture", "depth"]
    widget.maps = names
    widget._size.value = 32
    worker = widget.compute()
    assert worker is not None
    _wait(qtbot, widget)
    assert widget.status.endswith("5 maps at 32 px")
    assert viewer.dims.ndisplay == 2
    expected = compute_maps(scan, names, size=32)
    maps = [lay for lay in viewer.layers if lay.metadata.get("ferbench_kind") == "map"]
    assert sorted(lay.name for lay in maps) == sorted(f"F0001_HA04 {n}" for n in names)   # short, whole names
    for lay in maps:
        assert lay.visible and lay.opacity == 1.0
        np.testing.assert_array_equal(lay.data, expected[lay.metadata["ferbench_map"]])
    boxes = [_yx_box(lay) for lay in maps]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert not _overlap(boxes[i], boxes[j])      # no map covers another
    assert not viewer.layers[0].visible                  # the surface is left out of the 2D view
    _assert_no_dims_slider(viewer)                       # the hidden face's depth gives no slider
    nz = viewer.layers["F0001_HA04 normal_z"]
    assert tuple(nz.contrast_limits) == tuple(widget.view.maps["normal_z"].contrast_limits)
    assert nz.colormap.name == widget.view.maps["normal_z"].colormap
    labels = viewer.layers["F0001_HA04 map names"]
    texts = list(labels.features["label"])
    assert len(texts) == len(names) and labels.visible
    for text, lay in zip(texts, maps):
        assert text == widget.view.maps[lay.metadata["ferbench_map"]].full_name
    for (y, x), box in zip(labels.data, boxes):          # each label sits just above its own map
        assert box[0, 1] <= x <= box[1, 1] and y < box[0, 0]
    n_layers = len(viewer.layers)
    widget.maps = ["depth", "normal_x"]                   # a second run replaces that scan's maps
    widget.compute()
    _wait(qtbot, widget)
    assert len(viewer.layers) == n_layers - 3
    assert {lay.name for lay in viewer.layers if lay.metadata.get("ferbench_kind") == "map"} == {
        "F0001_HA04 depth", "F0001_HA04 normal_x"}
    _assert_no_dims_slider(viewer)                       # still none after layers were removed
    cam2d = (tuple(camera(viewer).center), camera(viewer).zoom)
    viewer.dims.ndisplay = 3                              # back to 3D: the face again, the maps hidden
    assert viewer.layers[0].visible and not viewer.layers["F0001_HA04 depth"].visible
    assert tuple(viewer.dims.range) == range3d           # the face's full depth again
    cam = camera(viewer)                                 # framed on the face as it was opened
    np.testing.assert_allclose([*cam.center, cam.zoom, *cam.angles], [*cam3d[0], cam3d[1], *cam3d[2]])
    viewer.dims.ndisplay = 2                              # the viewer's 2D/3D button, back and forth
    _assert_no_dims_slider(viewer)
    assert (tuple(camera(viewer).center), camera(viewer).zoom) == cam2d     # the maps where they were


@pytest.mark.napari
def test_attribute_maps_widget_reports_a_scan_that_fails_to_preprocess(make_napari_viewer, qtbot, monkeypatch):
    from ferbench.io.scan import Scan, ScanMeta
    from napari.layers import Layer

    import ferbench_napari
    from ferbench_napari._qt import widgets as W

    errors: list[str] = []
    monkeypatch.setattr(W, "show_error", errors.append)
    viewer = _viewer(make_napari_viewer)
    bad = Scan(vertices=np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]]), faces=np.array([[0, 1, 2]]),
               meta=ScanMeta(source_path="/nowhere/deep/flat.ply"))
    data, kw, kind = ferbench_napari.scan_to_layers(bad)[0]
    viewer.add_layer(Layer.create(data, kw, kind))
    widget = _dock(viewer, "Attribute maps")
    widget.reset_choices()
    assert widget._layer_combo.value.name == "flat"
    widget._size.value = 32
    n_layers = len(viewer.layers)
    widget.compute()
    _wait(qtbot, widget)
    assert len(errors) == 1 and "\n" not in errors[0] and "/nowhere" not in errors[0]
    assert errors[0].startswith("ferbench: cannot compute maps of flat.ply:") and widget.status == errors[0]
    assert len(viewer.layers) == n_layers
    assert widget.native.sizeHint().width() < 600        # a long error does not widen the dock


# ------------------------------------------------------------------------------------ GEMax τ

@pytest.mark.napari
def test_gemax_tau_slider_preset_and_entropy_plot(make_napari_viewer, qtbot):
    from ferbench.maps.gemax import gemax_map
    from ferbench.preprocess import preprocess_scan

    viewer = _viewer(make_napari_viewer)
    viewer.open_sample("ferbench", "synthetic_face")
    scan = viewer.layers[0].metadata[tasks.SCAN_KEY]
    widget = _dock(viewer, "GEMax tau")
    widget._size.value = 64
    grid = preprocess_scan(scan, size=64)
    assert widget._tau.max - widget._tau.min == 60 - 16 + 1       # one step per τ of Table 3, then N

    def settle(tau: int) -> None:
        qtbot.waitUntil(lambda: not widget.busy and widget.view is not None and widget.view.tau == tau
                        and widget.view.grid.shape == (64, 64), timeout=TIMEOUT_MS)

    for tau, preset in ((16, 16), (25, None), (60, 60), (tasks.GEMAX_N, tasks.GEMAX_N), (20, 20)):
        widget.tau = tau
        settle(tau)
        assert widget._preset.value == preset                      # the preset box follows the slider
        layer = [lay for lay in viewer.layers if lay.metadata.get("ferbench_kind") == "gemax"]
        assert len(layer) == 1
        np.testing.assert_array_equal(layer[0].data, gemax_map(grid.z, tau=tau, mask=grid.mask)[0])
        assert widget.marked_tau_x == (66.0 if tau == tasks.GEMAX_N else tau)
    assert "paper 7.811 bits" in widget.label_text
    widget._preset.value = 40                                      # and the slider follows the preset
    settle(40)
    assert widget.tau == 40
    curve = widget.curve
    assert curve.taus[:45] == list(range(16, 61)) and curve.taus[-1] == tasks.GEMAX_N
    line = widget._ax.lines[0]
    np.testing.assert_allclose(line.get_ydata(), curve.entropies[:45])


# ------------------------------------------------------------------------------------ runs: explain, results

@pytest.mark.napari
def test_explain_lists_runs_folds_scans_and_draws_each_heat_map_on_its_input(make_napari_viewer, qtbot, tiny_run,
                                                                             monkeypatch):
    from ferbench.eval.results import open_run
    from ferbench.eval.testing import tiny_model

    from ferbench_napari._qt import widgets as W

    errors: list[str] = []
    monkeypatch.setattr(W, "show_error", errors.append)
    run = open_run(tiny_run)
    viewer = _viewer(make_napari_viewer)
    widget = _dock(viewer, "Explain")
    widget.factory = tiny_model
    widget.set_results(Path(tiny_run).parent)                  # the results root: its runs are listed
    assert widget.run is not None and widget.run.path == run.path and not errors
    assert [c for c in widget._fold.choices if c is not None] == [f.index for f in run.folds(0)]
    assert widget._fold.native.itemText(0).startswith("fold 1 (")
    widget._fold.value = 1
    held = run.held_out(1)
    assert [c for c in widget._scan.choices if c is not None] == [h.position for h in held]
    h = held[2]
    assert widget._scan.native.itemText(2).startswith(f"3: {h.subject} {h.expression}")
    widget._scan.value = 2
    widget.explain()
    _wait(qtbot, widget)
    assert not errors, errors
    view = widget.view
    assert view.fold == 1 and view.index == 2 and "held-out scan 3/" in widget.status
    layers = [lay for lay in viewer.layers if lay.metadata.get("ferbench_group") == "explain"]
    imgs = [lay for lay in layers if lay._type_string == "image"]
    heats = [lay for lay in imgs if "ferbench_heatmap" in lay.metadata]
    assert len(heats) == len(view.heatmaps) and viewer.dims.ndisplay == 2
    for heat in heats:                                         # each heat map lies exactly over its own input
        cell = heat.metadata["ferbench_cell"]
        base = [lay for lay in imgs if lay.metadata.get("ferbench_cell") == cell and "ferbench_input" in lay.metadata]
        assert len(base) == 1
        np.testing.assert_allclose(heat.extent.world, base[0].extent.world)
    cells = {lay.metadata["ferbench_cell"]: _yx_box(lay) for lay in imgs}
    for i in cells:
        for j in cells:
            assert i == j or not _overlap(cells[i], cells[j])  # modalities side by side
    n_layers = len(viewer.layers)
    widget._method.value = "saliency"                          # another method replaces the explanation
    widget.explain()
    _wait(qtbot, widget)
    assert not errors and widget.view.method == "saliency" and len(viewer.layers) == n_layers
    widget._method.value = "gradcam"
    assert widget.explain(position=9_999) is None              # a bad choice: one short line, no new layer
    assert len(errors) == 1 and "\n" not in errors[0] and str(tiny_run) not in errors[0]
    assert errors[0] == (f"ferbench: cannot explain held-out scan 10000 of fold 2 in tiny__p__seed0: fold 2 holds "
                         f"{len(held)} held-out scans (1-{len(held)})")
    assert len(viewer.layers) == n_layers


@pytest.mark.napari
def test_results_dock_draws_the_runs_confusion_and_accuracy(make_napari_viewer, tiny_run):
    from ferbench.views.results import results_view

    viewer = _viewer(make_napari_viewer)
    widget = _dock(viewer, "Results")
    widget.set_results(tiny_run)
    view = results_view(tiny_run)
    disp = widget.confusion_display
    assert disp is not None
    np.testing.assert_array_equal(widget.view.confusion, view.confusion)
    np.testing.assert_allclose(np.asarray(disp.images_[0].get_array()), view.confusion_percent)
    s = view.summary
    assert f"accuracy {100 * s.accuracy:.1f} %" in widget.summary_text and "95 % CI" in widget.summary_text
    assert f"p = {s.p_value:.2g}" in widget.summary_text
    bars = widget.accuracy_display.bars_[0]
    np.testing.assert_allclose([b.get_height() for b in bars],
                               np.nan_to_num([view.per_class_accuracy[c] for c in view.classes]))


# ------------------------------------------------------------------------------------ embedding, predict

@pytest.mark.napari
def test_clicking_an_embedded_point_opens_its_scan_and_explanation(make_napari_viewer, qtbot, tiny_run, scan_file):
    import shutil

    from matplotlib.backend_bases import MouseEvent

    from ferbench.eval.testing import tiny_model

    viewer = _viewer(make_napari_viewer)
    widget = _dock(viewer, "Embedding")
    widget.factory = tiny_model
    widget.set_results(tiny_run)
    widget._fold.value = 0
    widget._method.value = "pca"
    widget.embed()
    _wait(qtbot, widget)
    view = widget.view
    assert view is not None and view.fold == 0 and len(view.paths) == len(widget.run.held_out(0))
    d = np.linalg.norm(view.points[:, None] - view.points[None], axis=-1) + np.eye(len(view.points)) * 1e9
    i = int(d.min(1).argmax())                 # the point farthest from the others: a click hits it alone
    target = Path(view.paths[i])               # the fake run's files are empty: give this one a real scan
    for p in scan_file.parent.iterdir():
        shutil.copy(p, target.with_name(target.stem + p.suffix) if p.stem == scan_file.stem else target.parent)
    canvas = widget._canvas
    canvas.draw()
    x, y = widget._ax.transData.transform(view.points[i])
    MouseEvent("button_press_event", canvas, x, y, button=1)._process()     # a click on the point
    assert widget.selected == i
    np.testing.assert_allclose(widget._ring.get_offsets(), view.points[i:i + 1])    # the picked point is ringed
    _wait(qtbot, widget)
    assert widget.opened_layer is not None
    assert widget.opened_layer.metadata[tasks.SOURCE_KEY] == str(target)
    assert viewer.dims.ndisplay == 3
    expl = widget.explanation
    assert expl.record["path"] == str(target) and expl.fold == 0
    assert any(lay.metadata.get("ferbench_group") == "explain" for lay in viewer.layers)
    names, opened = [lay.name for lay in viewer.layers], widget.opened_layer
    MouseEvent("button_press_event", canvas, x, y, button=1)._process()     # the same point again
    _wait(qtbot, widget)
    assert widget.explanation is not expl and widget.explanation.record["path"] == str(target)
    assert [lay.name for lay in viewer.layers] == names                      # its scan is not added twice
    assert widget.opened_layer.name == opened.name
    assert sum(lay.metadata.get(tasks.SOURCE_KEY) == str(target) for lay in viewer.layers
               if lay.metadata.get(tasks.KIND_KEY) == "scan") == 1


@pytest.mark.napari
def test_predict_on_a_scan_from_disk_equals_the_core_function(make_napari_viewer, qtbot, tiny_run, scan_file):
    from ferbench.eval.testing import tiny_model
    from ferbench.views.prediction import prediction_view

    viewer = _viewer(make_napari_viewer)
    viewer.open(str(scan_file), plugin="ferbench")
    surface = viewer.layers[0]
    before = np.array(surface.vertex_colors)
    widget = _dock(viewer, "Predict")
    widget.factory = tiny_model
    widget.set_results(tiny_run)
    assert widget._layer_combo.value is surface
    assert widget._device.value.startswith(("CPU", "CUDA"))
    widget.predict()
    _wait(qtbot, widget)
    got = widget.view
    assert got is not None, widget.status
    core = prediction_view(tiny_run, str(scan_file), "all", factory=tiny_model)
    assert got.predicted_class == core.predicted_class and got.folds == core.folds == [0, 1, 2, 3]
    np.testing.assert_allclose(got.probabilities, core.probabilities, atol=1e-6)
    assert f"predicted {core.predicted_class}" in widget.status
    heights = [b.get_width() for b in widget._ax.patches]
    np.testing.assert_allclose(heights, 100 * core.probabilities, atol=1e-4)
    assert not np.allclose(np.array(surface.vertex_colors), before)    # the CAM painted on the surface
    heats = [lay for lay in viewer.layers if "ferbench_heatmap" in lay.metadata]
    assert len(heats) == len(core.heatmaps)
    widget._folds.value = 1                                            # one fold
    widget.predict()
    _wait(qtbot, widget)
    one = prediction_view(tiny_run, str(scan_file), 1, factory=tiny_model)
    np.testing.assert_allclose(widget.view.probabilities, one.probabilities, atol=1e-6)
    assert len([lay for lay in viewer.layers if "ferbench_heatmap" in lay.metadata]) == len(heats)
