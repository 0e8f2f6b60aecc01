"""Screenshots of every ferbench napari widget state, as a user drives them (for the README and reviews).

    python scripts/napari_screenshots.py --out docs/images/napari [--results RESULTS_ROOT] [--scan SCAN]

Without ``--results`` a small synthetic dataset (4 subjects) is generated and a CM-CNN trained on it for
two epochs at 48 px under ``--work`` (reused on the next call). Needs a display (run under ``xvfb-run`` on a
server). PNGs are downscaled to at most ``--width`` pixels and palette-compressed (small files).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _wait(app, cond, timeout=600.0):
    t0 = time.time()
    while not cond():
        app.processEvents()
        time.sleep(0.02)
        if time.time() - t0 > timeout:
            raise TimeoutError("widget did not finish")
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)


def _save(img, path: Path, width: int) -> None:
    from PIL import Image

    im = Image.fromarray(img[..., :3]) if not isinstance(img, Image.Image) else img.convert("RGB")
    if im.width > width:
        im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
    im.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(path, optimize=True)
    print(f"{path} ({path.stat().st_size // 1024} KB)", flush=True)


def _grab(viewer):
    """The whole window (canvas, layer list and docks) as an RGB array."""
    from PIL import Image
    from qtpy.QtCore import QBuffer, QIODevice

    pix = viewer.window._qt_window.grab()
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    pix.save(buf, "PNG")
    import io

    return Image.open(io.BytesIO(bytes(buf.data())))


def _make_run(work: Path) -> Path:
    from ferbench.eval.commands import train
    from ferbench.eval.results import list_runs
    from ferbench.synth import generate_dataset

    res = work / "results"
    if res.is_dir() and list_runs(res):
        return res
    if not (work / "data").is_dir():
        generate_dataset(work / "data", n_subjects=4, seed=2, layouts=("bu3dfe",), progress=False, workers=1)
    train("cmcnn", "bu3dfe_p1_paper", work / "data", res, epochs=2, folds=2, size=48, seed=0, progress=False,
          workers=0)
    return res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="docs/images/napari")
    p.add_argument("--results", default=None, help="a results root or run (default: train a small one)")
    p.add_argument("--scan", default=None, help="a scan file to open (default: one of the generated dataset)")
    p.add_argument("--work", default="ferbench_output/napari_screens")
    p.add_argument("--width", type=int, default=1100)
    a = p.parse_args(argv)

    from ferbench_napari import tasks

    tasks.block_late_triton_import()
    import napari
    from qtpy.QtWidgets import QApplication

    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(a.work)
    results = Path(a.results) if a.results else _make_run(work)
    scan = a.scan or str(sorted((work / "data").rglob("*_SA04??_F3D.wrl"))[0])

    viewer = napari.Viewer(title="ferbench", show=True)
    viewer.window._qt_window.resize(1500, 920)
    app = QApplication.instance()
    docks = []

    def dock(name: str):
        for d in docks:
            viewer.window.remove_dock_widget(d)
        docks.clear()
        dw, w = viewer.window.add_plugin_dock_widget("ferbench", name)
        docks.append(dw)
        _wait(app, lambda: True)
        return w

    def shot(name: str) -> None:
        _wait(app, lambda: True)
        _save(_grab(viewer), out / f"{name}.png", a.width)

    viewer.open(scan, plugin="ferbench")
    shot("01_open_scan_3d")
    viewer.open_sample("ferbench", "synthetic_face")
    shot("02_sample_beside_scan")

    maps = dock("Attribute maps")
    maps._layer_combo.value = viewer.layers[0]
    maps.maps = ["depth", "gray", "texture", "geometry", "normal_x", "normal_y", "normal_z", "shape_index",
                 "lbp", "gemax", "range", "histeq"]
    maps.compute()
    _wait(app, lambda: maps.worker is None)
    shot("03_attribute_maps")

    tau = dock("GEMax tau")
    tau._layer_combo.value = viewer.layers[0]
    tau.tau = 30
    _wait(app, lambda: not tau.busy and tau.view is not None and tau.view.tau == 30 and tau.curve is not None)
    shot("04_gemax_tau")

    ex = dock("Explain")
    ex.set_results(results)
    ex._scan.value = 1
    ex.explain()
    _wait(app, lambda: ex.worker is None)
    shot("05_explain_gradcam")
    ex._method.value = "saliency"
    ex.explain()
    _wait(app, lambda: ex.worker is None)
    shot("06_explain_saliency_replaces")

    res = dock("Results")
    res.set_results(results)
    _wait(app, lambda: True)
    shot("07_results")

    emb = dock("Embedding")
    emb.set_results(results)
    emb.embed()
    _wait(app, lambda: emb.worker is None)
    emb.select(int(emb.view.misclassified.argmax()))
    _wait(app, lambda: emb.worker is None)
    shot("08_embedding_opens_scan")

    pr = dock("Predict")
    pr.set_results(results)
    pr._layer_combo.value = viewer.layers[0]
    pr.predict()
    _wait(app, lambda: pr.worker is None)
    shot("09_predict_maps")
    from ferbench_napari._viewer import show_3d

    show_3d(viewer)
    shot("10_predict_surface")
    _wait(app, lambda: not tau.busy and all(w.worker is None for w in (maps, ex, emb, pr)))
    import os

    os._exit(0)      # skip Qt teardown (a finished worker's signals may outlive the closed widgets)


if __name__ == "__main__":
    sys.exit(main())
