"""Training leaves out scans that cannot give the model's inputs (texture maps of a scan whose texture file is
missing), before splitting, says so once and records them in results.json. All on SYNTHETIC data."""
from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

DFCNN_LIKE = (("geometry", 1), ("texture", 3))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """3 generated subjects; one level-4 scan loses its texture file (as the missing_texture trait leaves it)."""
    from ferbench.synth import generate_dataset

    root = tmp_path_factory.mktemp("excl") / "data"
    generate_dataset(root, n_subjects=3, seed=2, layouts=("bu3dfe",), progress=False, workers=1, texture_size=64,
                     image_size=32, scanner_traits=0.0)
    wrl = sorted(root.glob("BU3DFE/*/*_HA04*_F3D.wrl"))[1]
    os.remove(wrl.with_suffix(".bmp"))
    return root, str(wrl)


def _train(root, out, inputs):
    from ferbench.eval.commands import train
    from ferbench.eval.testing import tiny_model

    return train(tiny_model, "bu3dfe_p1_paper", root, out, epochs=1, folds=2, size=16, seed=0, progress=False,
                 workers=0, model_options={"inputs": inputs})


def test_texture_model_leaves_the_scan_out_and_records_it(data, tmp_path):
    from ferbench.errors import ExcludedScansWarning
    from ferbench.eval.commands import evaluate
    from ferbench.eval.results import open_run
    from ferbench.eval.testing import tiny_model

    root, wrl = data
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = _train(root, tmp_path, DFCNN_LIKE)
    said = [str(w.message) for w in rec if issubclass(w.category, ExcludedScansWarning)]
    assert len(said) == 1 and said[0].startswith("1 scan(s) left out") and os.path.basename(wrl) in said[0]
    run = open_run(out)
    res = json.loads(run.results_path.read_text())
    assert [e["path"] for e in res["excluded"]] == [wrl] and run.excluded == res["excluded"]
    e = res["excluded"][0]
    assert e["reason"].startswith("needs a texture; texture missing") and ".bmp not found" in e["reason"]
    assert e["expression"] == "happiness" and e["subject"] in os.path.basename(wrl)
    paths = [r["path"] for r in run.records]
    assert wrl not in paths and sum(r["subject"] == e["subject"] for r in run.records) == 5  # 6 level-4 scans - 1
    assert res["complete"] and sum(f["n_test"] for f in res["folds"]) == len(paths)
    # evaluation re-applies the protocol with the same exclusion: the same splits, the same accuracy
    ev = evaluate(out, factory=tiny_model, progress=False, device="cpu")
    assert ev["n"] == len(paths) and ev["accuracy"] == pytest.approx(res["accuracy"])


def test_a_lone_checkpoint_leaves_the_scan_out_too(data, tmp_path):
    """A checkpoint outside its results folder: every labelled scan is a test sample, less the one without
    texture (the checkpoint's inputs need it)."""
    import shutil

    from ferbench.errors import ExcludedScansWarning
    from ferbench.eval.commands import evaluate
    from ferbench.eval.testing import tiny_model
    from ferbench.io.dataset import index_dataset
    from ferbench.labels import EXPRESSIONS

    root, wrl = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExcludedScansWarning)
        out = _train(root, tmp_path / "res", DFCNN_LIKE)
    lone = tmp_path / "lone" / "r00_f00.pt"
    lone.parent.mkdir()
    shutil.copy(out / "checkpoints" / "r00_f00.pt", lone)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        ev = evaluate(lone, root, factory=tiny_model, progress=False, device="cpu")
    assert sum(issubclass(w.category, ExcludedScansWarning) for w in rec) == 1
    n_labelled = sum(r.expression in EXPRESSIONS for r in index_dataset(root).records)
    assert ev["n"] == n_labelled - 1 and ev["folds"][0]["checkpoint_epoch"] == 1


def test_cli_train_says_the_left_out_scans_once(data, tmp_path, capsys):
    """The command line shows train's ExcludedScansWarning as its one line about the scans left out."""
    from ferbench.cli import main

    root, wrl = data
    assert main(["train", "cmcnn", "--protocol", "bu3dfe_p1_paper", "--data", str(root), "--out", str(tmp_path),
                 "--epochs", "1", "--folds", "2", "--size", "16", "--workers", "1", "--no-progress"]) == 0
    captured = capsys.readouterr()
    said = [ln for ln in (captured.out + captured.err).splitlines() if "left out" in ln]
    assert len(said) == 1 and said[0].startswith("ferbench: warning: 1 scan(s) left out"), said
    assert os.path.basename(wrl) in said[0]


def test_depth_only_model_keeps_the_scan(data, tmp_path):
    from ferbench.errors import ExcludedScansWarning
    from ferbench.eval.results import open_run

    root, wrl = data
    with warnings.catch_warnings():
        warnings.simplefilter("error", ExcludedScansWarning)
        out = _train(root, tmp_path, (("depth", 1),))
    run = open_run(out)
    assert run.excluded == [] and json.loads(run.results_path.read_text())["excluded"] == []
    assert wrl in [r["path"] for r in run.records]


def test_input_problem_is_cheap_and_exact(data):
    from ferbench.eval.data import input_problem

    root, wrl = data
    ok = sorted(root.glob("BU3DFE/*/*_F3D.wrl"))[0]
    assert input_problem(ok, ["texture"]) is None and input_problem(wrl, ["depth", "geometry"]) is None
    assert "not found" in input_problem(wrl, ["depth", "lbp"])


def test_default_traits_give_a_few_scans_without_texture():
    """missing_texture is a default trait, rare (RARE_TRAITS) and drawn from its own stream: the other traits'
    draws are those of the three-kind default."""
    from ferbench.synth.scanner import DEFAULT_TRAITS, RARE_TRAITS, draw_traits

    assert "missing_texture" in DEFAULT_TRAITS and RARE_TRAITS["missing_texture"] == 0.1
    got, old = [], []
    for i in range(4000):
        got.append(draw_traits(np.random.default_rng(i), 0.3, DEFAULT_TRAITS, RARE_TRAITS,
                               np.random.default_rng([i, 7])))
        old.append(draw_traits(np.random.default_rng(i), 0.3, ("seams", "holes", "spikes")))
    share = np.mean(["missing_texture" in g for g in got])
    assert 0.02 < share < 0.04
    assert [tuple(t for t in g if t != "missing_texture") for g in got] == old


def test_draw_traits_default_is_the_datasets_default():
    """A plain draw_traits(rng, share) is the datasets' draw (missing_texture rare); kinds named explicitly are
    all equally likely."""
    from ferbench.synth.scanner import DEFAULT_TRAITS, RARE_TRAITS, draw_traits

    plain = [draw_traits(np.random.default_rng(i), 0.3) for i in range(2000)]
    assert plain == [draw_traits(np.random.default_rng(i), 0.3, DEFAULT_TRAITS, RARE_TRAITS) for i in range(2000)]
    assert 0.02 < np.mean(["missing_texture" in d for d in plain]) < 0.04
    equal = [draw_traits(np.random.default_rng(i), 0.3, DEFAULT_TRAITS) for i in range(2000)]
    assert np.mean(["missing_texture" in d for d in equal]) > 0.1
