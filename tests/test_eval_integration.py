"""The evaluation machinery with the real parts: synthetic generator, dataset index, maps, models, CLI.

Skipped when one of those parts is not importable. Everything here runs on SYNTHETIC data.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)


def _need(module: str, attr: str):
    mod = pytest.importorskip(module)
    if not hasattr(mod, attr):
        pytest.skip(f"{module}.{attr} not available yet")
    return getattr(mod, attr)


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    generate_dataset = _need("ferbench.synth", "generate_dataset")
    root = tmp_path_factory.mktemp("synth")
    generate_dataset(root / "data", n_subjects=4, seed=0, layouts=("bu3dfe", "bosphorus"), workers=1,
                     progress=False, texture_size=64, image_size=96)
    return root


def test_train_and_evaluate_on_synthetic_scans(synth_root, tmp_path):
    _need("ferbench.maps", "compute_maps")
    _need("ferbench.models", "create_model")
    from ferbench.eval.commands import evaluate, train
    from ferbench.io.dataset import index_dataset

    idx = index_dataset(synth_root / "data").filter(dataset="bu3dfe", intensity=[4])  # 4 subjects x 6 scans
    out = train("mffcnn", "bu3dfe_p1_paper", str(synth_root / "data"), tmp_path, epochs=1, batch_size=8, lr=1e-3,
                folds=2, seed=0, progress=False, workers=1, index=idx, cache_dir=synth_root / "cache")
    res = json.loads((out / "results.json").read_text())
    assert res["synthetic"] and res["label"] == "synthetic" and "(synthetic)" in res["accuracy_text"]
    assert res["init_note"] and res["paper"] == "mffcnn" and res["complete"]
    assert np.array(res["confusion"]).sum() == sum(f["n_test"] for f in res["folds"])
    assert res["train_config"]["optimizer"] == "adam" and "override" in res["train_config"]["source"]
    ev = evaluate(out / "checkpoints" / "r00_f00.pt", str(synth_root / "data"), progress=False)
    assert ev["label"] == "synthetic" and ev["n"] == res["folds"][0]["n_test"]
    assert ev["accuracy"] == pytest.approx(res["folds"][0]["accuracy"])


def test_2d_protocol_reads_the_frontal_images(synth_root):
    from ferbench.eval.data import MapCache, record_to_dict
    from ferbench.eval.protocols import image_path_2d, make_splits
    from ferbench.io.dataset import index_dataset

    ps = make_splits("mffcnn_2d_oulu", index_dataset(synth_root / "data"), folds=4, seed=0)
    assert {r.dataset for r in ps.records} == {"bu3dfe", "bosphorus"}
    r = next(r for r in ps.records if r.dataset == "bu3dfe")
    assert image_path_2d(r).endswith("_F2D.bmp")
    assert image_path_2d(ps.records[0]).endswith(".png")  # Bosphorus records sort first
    x = MapCache(synth_root / "cache2d", (("gray", 1), ("texture", 3)), 32, "2d").get(record_to_dict(r))
    assert x.shape == (4, 32, 32) and 0 <= x.min() and x.max() <= 1 and x.std() > 0.01
    np.testing.assert_allclose(x[0], 0.299 * x[1] + 0.587 * x[2] + 0.114 * x[3], atol=1e-4)


@pytest.mark.slow
def test_cli_train_2d_protocol_in_local_processes(synth_root, tmp_path, capsys):
    _need("ferbench.models", "create_model")
    from ferbench.cli import main

    rc = main(["train", "mffcnn", "--protocol", "mffcnn_2d_oulu", "--data", str(synth_root / "data"),
               "--out", str(tmp_path), "--folds", "2", "--epochs", "1", "--batch-size", "16", "--lr", "0.001",
               "--max-subjects", "4", "--no-progress"])
    assert rc == 0
    (out,) = tmp_path.iterdir()
    res = json.loads((out / "results.json").read_text())
    assert res["complete"] and res["n_splits"] == 2 and res["synthetic"]
    printed = capsys.readouterr().out       # the accuracy with its interval and p-value against chance
    n = res["chance_test"]["n"]
    assert f"(synthetic) on {n} held-out scans" in printed and "binomial p = " in printed
    assert main(["evaluate", str(out), "--no-progress"]) == 0


def test_load_fold_model_gives_the_fold_that_evaluate_scored(tmp_path):
    """The public loader returns the fold's own held-out subjects and a model whose predictions on them
    equal the per-fold predictions written by training."""
    import json

    import torch

    from ferbench.errors import FerbenchError
    from ferbench.eval.commands import load_fold_model, train
    from ferbench.synth import generate_dataset

    root = tmp_path / "data"
    generate_dataset(root, n_subjects=4, seed=1, layouts=("bu3dfe",), progress=False)
    res = train("cmcnn", "bu3dfe_p1_paper", root, tmp_path / "res", epochs=1, folds=2, size=32, seed=0,
                progress=False, workers=0)
    fm = load_fold_model(res, fold=1, device="cpu")
    splits = json.loads((res / "splits.json").read_text())["splits"]
    assert fm.test == splits[1]["test"] and fm.train == splits[1]["train"]
    assert fm.classes == ["anger", "disgust", "fear", "happiness", "sadness", "surprise"]
    subj = {fm.records[i]["subject"] for i in fm.test}
    assert subj.isdisjoint({fm.records[i]["subject"] for i in fm.train})
    x, y = fm.inputs(fm.test)
    assert x.shape == (len(fm.test), sum(c for _, c in fm.model.inputs), 32, 32) and len(y) == len(fm.test)
    with torch.no_grad():
        pred = fm.model(x).argmax(1).numpy()
    saved = json.loads((res / "folds" / "r00_f01.json").read_text())["pred"]
    assert pred.tolist() == [int(p) for p in saved]
    with pytest.raises(FerbenchError, match="fold 7"):
        load_fold_model(res, fold=7)

    # the linear-probe baseline reads the same fold: same subjects, same cached inputs
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ferbench.eval.commands import linear_probe

    n_ch = sum(c for _, c in fm.model.inputs)
    probe = linear_probe(res, fold=1)
    assert (probe["n_train"], probe["n_test"], probe["n_features"]) == (len(fm.train), len(fm.test), n_ch * 32 * 32)
    xtr, ytr = fm.inputs(fm.train)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000)).fit(xtr.reshape(len(ytr), -1), ytr)
    assert probe["accuracy"] == pytest.approx(clf.score(x.reshape(len(y), -1).numpy(), y))
    assert probe["chance_test"]["n"] == len(fm.test)
    small = linear_probe(res, fold=1, max_pixels=64)                    # 32 px -> 8 x 8 blocks of 4 x 4
    assert small["n_features"] == n_ch * 64

    # max_splits: only the first split is trained, and the results say so
    one = train("cmcnn", "bu3dfe_p1_paper", root, tmp_path / "one", epochs=1, folds=2, size=32, seed=0,
                progress=False, workers=0, max_splits=1)
    r1 = json.loads((one / "results.json").read_text())
    assert r1["n_splits_done"] == 1 and r1["protocol_meta"]["splits_run"] == "first 1 of 2"
    assert sorted(p.name for p in (one / "folds").iterdir()) == ["r00_f00.json"]
    assert [s.split("/")[-1] for s in r1["folds"][0]["test_subjects"]] == sorted(
        {fm.records[i]["subject"] for i in splits[0]["test"]})
    with pytest.raises(FerbenchError, match="max_splits"):
        train("cmcnn", "bu3dfe_p1_paper", root, tmp_path / "zero", epochs=1, folds=2, size=32, progress=False,
              workers=0, max_splits=0)
