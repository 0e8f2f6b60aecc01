"""``ferbench predict`` and :mod:`ferbench.eval.inference` on a real (tiny) trained run of SYNTHETIC scans."""
from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def cm_run(tmp_path_factory):
    """CM-CNN (gray, LBP, depth: texture maps) at 32 px, 1 epoch, 2 subject folds, on 3 generated subjects."""
    from ferbench.eval.commands import train
    from ferbench.synth import generate_dataset

    root = tmp_path_factory.mktemp("predict")
    generate_dataset(root / "data", n_subjects=3, seed=1, layouts=("bu3dfe",), progress=False, workers=1,
                     texture_size=64, image_size=96, scanner_traits=0.0)
    return train("cmcnn", "bu3dfe_p1_paper", root / "data", root / "res", epochs=1, folds=2, size=32, seed=0,
                 progress=False, workers=0)


def _saved(run_dir, fold):
    return json.loads((run_dir / "folds" / f"r00_f{fold:02d}.json").read_text())


def test_predict_equals_the_folds_evaluation(cm_run):
    """A fold's predictions on its held-out scan files equal the probabilities training saved for them
    (same read -> preprocess -> maps -> stack pipeline, no map cache), and all-folds is their mean."""
    from ferbench.eval.inference import predict_scans
    from ferbench.eval.results import open_run

    run = open_run(cm_run)
    for fold in (0, 1):
        held = run.held_out(fold)
        table = predict_scans(run, [h.path for h in held], folds=fold, device="cpu", batch_size=3, workers=2,
                              progress=False)
        saved = _saved(cm_run, fold)
        assert [p.path for p in table] == [h.path for h in held]
        assert not table.failed and table.folds == (fold,) and table.device == "cpu"
        np.testing.assert_allclose(table.probabilities(), np.asarray(saved["probabilities"]), atol=1e-5)
        assert [p.predicted_index for p in table] == [int(v) for v in saved["pred"]]
        assert all(p.synthetic for p in table) and "(synthetic)" in table.summary_text()

    files = [h.path for h in run.held_out(0)]
    one = [predict_scans(run, files, folds=f, device="cpu", workers=0, progress=False).probabilities()
           for f in (0, 1)]
    both = predict_scans(run, files, device="cpu", workers=1, batch_size=4, progress=False)
    assert both.folds == (0, 1) and both.predictions[0].folds_label == "folds 1-2 (mean)"
    np.testing.assert_allclose(both.probabilities(), (one[0] + one[1]) / 2, atol=1e-12)
    # worker processes read and map exactly as threads do
    proc = predict_scans(run, files, folds=0, device="cpu", workers=1, processes=True, progress=False)
    np.testing.assert_allclose(proc.probabilities(), one[0], atol=1e-6)


def test_predict_scan_in_memory_equals_the_file(cm_run):
    """The single-scan entry (the napari dock's) gives the same answer on a Scan as on its file."""
    from ferbench.eval.inference import load_predictor, predict_scan, predict_scans
    from ferbench.io import read_scan

    pred = load_predictor(cm_run, folds=1, device="cpu")
    path = pred.fold_models[0].records[pred.fold_models[0].test[0]]["path"]
    p_mem = predict_scan(pred, read_scan(path), cam="gradcam")
    p_file = predict_scans(pred, [path], progress=False).predictions[0]
    np.testing.assert_allclose(p_mem.probabilities, p_file.probabilities, atol=1e-6)
    assert p_mem.predicted_class == p_file.predicted_class and p_mem.folds == (1,)
    assert set(p_mem.heatmaps) == {"gradcam gray", "gradcam lbp", "gradcam depth"}
    assert all(h.shape == (32, 32) and 0 <= h.min() and h.max() <= 1 for h in p_mem.heatmaps.values())


def test_cli_predict_folder_with_a_corrupt_file(cm_run, tmp_path, capsys):
    """A folder (searched recursively) with one corrupt file: the others are predicted, the CSV has a row
    per scan, the corrupt one is named on one line and the exit code is non-zero; --cam writes PNGs."""
    from PIL import Image

    from ferbench.cli import main
    from ferbench.eval.results import open_run

    run = open_run(cm_run)
    src = [h.path for h in run.held_out(0)][:3]
    scans = tmp_path / "scans"
    (scans / "sub").mkdir(parents=True)
    import os

    for i, p in enumerate(src):     # scan + its texture (+ landmarks) beside it
        dst = scans / ("sub" if i == 2 else "")
        for sib in os.listdir(os.path.dirname(p)):
            if sib.startswith(os.path.basename(p)[:-4]):
                shutil.copy(os.path.join(os.path.dirname(p), sib), dst / sib)
    (scans / "sub" / "broken_F3D.wrl").write_text("#VRML V2.0 utf8\nShape { geometry IndexedFaceSet { coord")
    (scans / "notes.txt").write_text("not a scan")          # ignored: not a scan suffix
    out = tmp_path / "out"
    code = main(["predict", str(cm_run), str(scans), "--fold", "1", "--out", str(out), "--cam", "gradcam",
                 "--device", "cpu", "--no-progress", "--batch-size", "2"])
    cap = capsys.readouterr()
    assert code == 1
    err_lines = [ln for ln in cap.err.splitlines() if "broken_F3D.wrl" in ln]
    assert len(err_lines) == 1 and err_lines[0].startswith("ferbench predict: error: ")
    assert "3 scan(s) predicted (synthetic)" in cap.out and "1 scan(s) failed" in cap.out
    with open(out / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    classes = run.classes
    assert list(rows[0]) == ["file", "predicted_expression", "probability", "folds", "device", "source",
                             "error"] + [f"p_{c}" for c in classes]
    assert len(rows) == 4 and sum(bool(r["error"]) for r in rows) == 1
    ok = [r for r in rows if not r["error"]]
    for r in ok:
        p = np.array([float(r[f"p_{c}"]) for c in classes])
        assert abs(p.sum() - 1) < 1e-4 and r["predicted_expression"] == classes[int(p.argmax())]
        assert r["folds"] == "1" and r["device"] == "cpu" and r["source"] == "synthetic"
    pngs = sorted((out / "cam").glob("*.png"))
    assert len(pngs) == 3 * 3                                   # 3 scans x (gray, lbp, depth)
    with Image.open(pngs[0]) as im:
        assert im.width > 2 * 224 - 10 and im.height >= 224      # input + overlay, enlarged from 32 px

    code = main(["predict", str(cm_run), src[0], "--fold", "3", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "no fold 3" in err and "folds 1-2" in err


def test_predict_texture_model_on_a_scan_without_texture(cm_run, tmp_path):
    """A scan whose texture file is missing fails with the reason (CM-CNN needs texture), not a crash."""
    from ferbench.eval.inference import predict_scans
    from ferbench.eval.results import open_run

    p = open_run(cm_run).held_out(0)[0].path
    shutil.copy(p, tmp_path / "lonely_F3D.wrl")
    table = predict_scans(cm_run, [tmp_path], folds=0, device="cpu", progress=False)
    assert len(table.failed) == 1 and "texture" in table.failed[0].error and "\n" not in table.failed[0].error


def test_cam_file_stems_are_unique_also_against_suffixed_stems():
    """``a/x``, ``b/x`` and ``c/x-2``: the second ``x`` must not take ``x-2`` from the third (whose PNGs it
    overwrote)."""
    from ferbench.eval.inference import _unique_stems

    stems = _unique_stems(["a/x.obj", "b/x.obj", "c/x-2.obj", "d/x-2.wrl", "e/X.obj", "f/.obj"])
    assert len({s.casefold() for s in stems}) == len(stems)
    assert stems[0] == "x"
    assert stems[2] in ("x-2", "x-2-2")
    assert _unique_stems(["a/x.obj", "b/y.obj"]) == ["x", "y"]


def test_explanation_on_surface_carries_a_held_out_cam_onto_its_scan(cm_run):
    from ferbench.eval.results import open_run
    from ferbench.io import read_scan
    from ferbench.views import explanation_on_surface

    run = open_run(cm_run)
    held = run.held_out(0)
    want = next((h for h in held if h.expression == "surprise" and h.intensity == 4), held[0])
    face = explanation_on_surface(run, 0)                          # default: a level-4 surprise scan
    assert face.view.record["path"] == want.path
    assert face.heat_name == "gradcam gray" and face.heat_name in face.view.heatmaps
    assert len(face.values) == len(read_scan(want.path).vertices) == len(face.scan.vertices)
    inside = np.isfinite(face.values)
    assert 0.3 < inside.mean() < 1.0                               # the crop holds the face, not the whole scan
    assert face.values[inside].min() >= 0.0 and face.values[inside].max() <= 1.0
    assert face.title == f"gradcam gray, predicted {face.view.predicted_class} (synthetic)"
    other = explanation_on_surface(run, 0, held[0].position, "saliency")
    assert other.heat_name == "saliency" and other.view.record["path"] == held[0].path
