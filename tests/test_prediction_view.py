"""ferbench.views.prediction_view: a trained run on a scan outside its dataset, equal to `ferbench predict`."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def face(tmp_path_factory):
    from _io_helpers import write_synthetic_scan

    return write_synthetic_scan(tmp_path_factory.mktemp("face") / "F0077_AN02WH_F3D.wrl", "F0077", "anger", 2,
                                seed=5, texture_size=64)


def one_input(view):
    """The stacked (1, C, H, W) tensor of a PredictionView's inputs (depth 1 channel, texture 3)."""
    import torch

    d = view.inputs["depth"][None]
    t = np.moveaxis(view.inputs["texture"], -1, 0)
    return torch.from_numpy(np.concatenate([d, t])[None].astype(np.float32))


def test_one_fold_equals_explain_scan_and_all_folds_average(tiny_run, face):
    from ferbench.errors import FerbenchError
    from ferbench.eval.results import open_run
    from ferbench.eval.testing import tiny_model
    from ferbench.io import read_scan
    from ferbench.views import explain_scan, prediction_view

    from ferbench.eval.inference import load_predictor, predict_scan

    run = open_run(tiny_run)
    ref = predict_scan(load_predictor(run, 2, "cpu", factory=tiny_model), str(face), cam="gradcam")
    one = prediction_view(run, str(face), 2, device="cpu", factory=tiny_model)   # = `ferbench predict`
    np.testing.assert_allclose(one.probabilities, ref.probabilities, atol=1e-6)
    assert one.predicted_class == ref.predicted_class == one.cam_class and one.folds == [2]
    assert set(one.inputs) == {"depth", "texture"} and one.device == "cpu"
    for k, v in ref.inputs.items():
        np.testing.assert_allclose(one.inputs[k], v, atol=1e-6)
    for k, v in ref.heatmaps.items():
        np.testing.assert_allclose(one.heatmaps[k.split(" ")[-1]], v, atol=1e-5)
    fm = run.load_fold_model(2, device="cpu", factory=tiny_model)     # an in-memory copy of the same input
    direct = explain_scan(fm, one_input(one))
    np.testing.assert_allclose(direct.probabilities, one.probabilities, atol=1e-6)
    every_ref = predict_scan(load_predictor(run, "all", "cpu", factory=tiny_model), str(face))

    models: dict = {}
    every = prediction_view(run, str(face), "all", device="cpu", factory=tiny_model, fold_models=models)
    assert every.folds == [0, 1, 2, 3] and sorted(models) == [0, 1, 2, 3]
    per = np.stack([prediction_view(run, str(face), f, device="cpu", factory=tiny_model,
                                    fold_models=models).probabilities for f in range(4)])
    np.testing.assert_allclose(every.fold_probabilities, per, atol=1e-6)
    np.testing.assert_allclose(every.probabilities, per.mean(0), atol=1e-6)
    np.testing.assert_allclose(every.probabilities, every_ref.probabilities, atol=1e-6)
    assert every.predicted_class == run.classes[int(per.mean(0).argmax())]
    assert abs(every.probabilities.sum() - 1) < 1e-5
    assert "4 folds averaged" in every.text() and "(synthetic)" in every.title

    scan = read_scan(face)
    other = [c for c in run.classes if c != every.predicted_class][0]
    chosen = prediction_view(run, scan, "all", class_name=other, device="cpu", factory=tiny_model, fold_models=models)
    assert chosen.cam_class == other and chosen.predicted_class == every.predicted_class
    assert chosen.cam.shape == (16, 16) and 0 <= np.nanmin(chosen.cam) and np.nanmax(chosen.cam) <= 1 + 1e-6
    assert chosen.vertex_values.shape == (scan.n_vertices,)
    inside = np.isfinite(chosen.vertex_values)
    assert inside.mean() > 0.5 and np.nanmax(chosen.vertex_values) <= 1 + 1e-6
    with pytest.raises(FerbenchError, match="unknown class"):
        prediction_view(run, scan, 0, class_name="boredom", factory=tiny_model, fold_models=models)
    with pytest.raises(FerbenchError, match="unknown CAM method"):
        prediction_view(run, scan, 0, method="saliency", factory=tiny_model, fold_models=models)
