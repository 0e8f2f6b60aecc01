"""The results-run object: one owner of a results folder's layout, schema, checkpoints and fold models.

Runs here use the tiny test network on synthetic class-dependent maps (no scan files read).
"""
from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ferbench.eval.results import (SCHEMA_VERSION, ResultsError, Run, checkpoint_name, list_runs, normalise_results,
                                   open_run, split_name)
from ferbench.eval.testing import synthetic_map_fn, tiny_model
from ferbench.eval.training import CheckpointError

torch.set_num_threads(1)
INPUTS = (("depth", 1), ("texture", 3))    # the layout of the conftest's tiny_run
REPO = Path(__file__).resolve().parents[1]


def test_round_trip_train_open_summary_fold_model(tiny_run):
    run = open_run(tiny_run)
    res = run.results
    assert res["schema"] == SCHEMA_VERSION and "accuracy_pooled" not in res
    with open(tiny_run / "predictions.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh)]
    pooled = np.mean([r["y_true"] == r["y_pred"] for r in rows])
    s = run.summary()
    assert s.accuracy == pytest.approx(pooled) and 0.0 <= s.accuracy <= 1.0
    assert s.n == len(rows) and s.ci95[0] <= pooled <= s.ci95[1] and 0.0 <= s.p_value <= 1.0
    assert s.synthetic is True and s.chance == pytest.approx(1 / 6) and s.complete
    assert s.text.startswith(f"pooled accuracy {100 * pooled:.2f} % (synthetic)") and "binomial p" in s.text

    folds = run.folds()
    assert [(f.round, f.index) for f in folds] == [(0, 0), (0, 1), (0, 2), (0, 3)]
    assert [f.label for f in folds] == ["fold 1", "fold 2", "fold 3", "fold 4"] and folds[1].number == 2
    assert folds[1].checkpoint == tiny_run / "checkpoints" / "r00_f01.pt" and folds[1].checkpoint.is_file()
    assert [f.accuracy for f in folds] == pytest.approx([f["accuracy"] for f in res["folds"]])

    splits = json.loads((tiny_run / "splits.json").read_text())
    held = run.held_out(1)
    assert [h.record_index for h in held] == splits["splits"][1]["test"] and held[0].position == 0
    assert sorted({f"{h.dataset}/{h.subject}" for h in held}) == splits["splits"][1]["test_subjects"]
    assert all(h.class_name == run.classes[h.label] == h.expression for h in held)
    assert folds[1].n_test == len(held)

    fm = run.load_fold_model(1, factory=tiny_model, device="cpu")
    assert (fm.fold, fm.round) == (1, 0) and fm.test == [h.record_index for h in held]
    x, y = fm.inputs(fm.test)
    with torch.no_grad():
        pred = fm.model(x).argmax(1).numpy()
    saved = json.loads((tiny_run / "folds" / "r00_f01.json").read_text())
    assert pred.tolist() == [int(p) for p in saved["pred"]]
    with pytest.raises(ResultsError, match="no fold 7 of round 0"):
        run.load_fold_model(7, factory=tiny_model)


def _with_model_name(src: Path, dst: Path, name: str) -> Path:
    ck = torch.load(src, weights_only=True)
    meta = json.loads(ck["meta_json"])
    meta["model"] = name
    meta["model_options"] = {"command": "echo pwned"}
    ck["meta_json"] = json.dumps(meta)
    torch.save(ck, dst)
    return dst


@pytest.mark.parametrize("name", ["os:system", "torch.hub:load", "subprocess:run"])
def test_checkpoint_naming_code_is_refused_and_nothing_is_called(tiny_run, tmp_path, monkeypatch, name):
    """Issue 13.1: a checkpoint may only name a registered model; nothing is imported or called."""
    import os
    import subprocess

    from ferbench.eval.commands import evaluate, load_fold_model

    calls = []
    monkeypatch.setattr(os, "system", lambda *a, **k: calls.append(("system", a, k)))
    monkeypatch.setattr(torch.hub, "load", lambda *a, **k: calls.append(("hub", a, k)))
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append(("run", a, k)))
    folder = tmp_path / "run"
    shutil.copytree(tiny_run, folder, ignore=shutil.ignore_patterns("cache"))
    for f in (folder / "checkpoints").iterdir():
        _with_model_name(f, f, name)
    with pytest.raises(CheckpointError) as e:
        load_fold_model(folder, 0)
    msg = str(e.value)
    assert "\n" not in msg and "r00_f00.pt" in msg and "not a registered ferbench model" in msg
    with pytest.raises(CheckpointError, match="not a registered"):
        evaluate(folder / "checkpoints" / "r00_f00.pt", str(tiny_run.parents[1] / "data"), progress=False)
    with pytest.raises(CheckpointError, match="not a registered"):
        evaluate(folder, str(tiny_run.parents[1] / "data"), progress=False)
    assert calls == []
    # the user's own factory is passed in code: then the same checkpoint loads
    fm = open_run(folder).load_fold_model(0, factory=lambda **kw: tiny_model(**{"inputs": INPUTS, **{
        k: v for k, v in kw.items() if k != "command"}}), device="cpu")
    assert fm.model.input_slices() == {"depth": slice(0, 1), "texture": slice(1, 4)}
    assert calls == []


def test_map_function_named_in_run_json_is_not_imported(tiny_run, tmp_path):
    from ferbench.errors import FerbenchError
    from ferbench.eval.results import resolve_map_fn as _resolve_fn

    assert _resolve_fn("ferbench.eval.testing.synthetic_map_fn") is synthetic_map_fn
    with pytest.raises(FerbenchError, match="pass it again as map_fn"):
        _resolve_fn("os.system")
    # a name a ferbench module merely imported is not a ferbench function
    with pytest.raises(FerbenchError, match="not one of ferbench's"):
        _resolve_fn("ferbench.synth.dataset.shutil")


def test_old_schema_folder_still_opens(tmp_path):
    old = {"results_version": 1, "model": "dfcnn", "protocol": "P-I", "synthetic": True, "classes": ["a", "b"],
           "accuracy_pooled": 0.75, "accuracy_mean": 0.7, "confusion": [[3, 1], [1, 3]],
           "folds": [{"round": 0, "fold": 0, "n_train": 4, "n_test": 4, "accuracy": 0.75,
                      "test_subjects": ["x/1"]}]}
    (tmp_path / "results.json").write_text(json.dumps(old))
    (tmp_path / "evaluation.json").write_text(json.dumps(
        {"accuracy": 0.5, "per_fold": [{"round": 0, "fold": 0, "n": 8, "accuracy": 0.5}]}))
    run = open_run(tmp_path)
    assert run.results["accuracy"] == 0.75 and run.results["schema"] == SCHEMA_VERSION
    ev = run.evaluation()
    assert ev["folds"] == [{"round": 0, "fold": 0, "n_test": 8, "accuracy": 0.5}] and "per_fold" not in ev
    s = run.summary()      # no chance_test recorded: computed from the first round's folds
    assert s.accuracy == 0.75 and s.n == 4 and s.p_value == pytest.approx(5 / 16)
    assert [f.label for f in run.folds()] == ["fold 1"] and run.folds()[0].accuracy == 0.75
    assert normalise_results({"per_class_accuracy": {"a": 50.0, "b": 100.0}})["per_class_accuracy"] == {
        "a": 0.5, "b": 1.0}


def test_list_runs_and_a_root_of_several_runs(tiny_run, tmp_path):
    root = tmp_path / "results"
    for name in ("b__p__seed0", "a__p__seed0"):
        shutil.copytree(tiny_run, root / name, ignore=shutil.ignore_patterns("cache", "checkpoints"))
    (root / "notes").mkdir()
    runs = list_runs(root)
    assert [r.name for r in runs] == ["a__p__seed0", "b__p__seed0"] and all(isinstance(r, Run) for r in runs)
    with pytest.raises(ResultsError, match=r"holds 2 runs; pick one: a__p__seed0, b__p__seed0"):
        open_run(root)
    assert open_run(root / "a__p__seed0" / "results.json").path == root / "a__p__seed0"
    assert open_run(tiny_run / "checkpoints" / "r00_f00.pt").path == tiny_run
    assert list_runs(root / "a__p__seed0")[0].path == root / "a__p__seed0"
    with pytest.raises(ResultsError, match="not a ferbench results folder"):
        open_run(root / "notes")
    from ferbench._ipywidgets.results import find_results

    assert find_results(root) == [r.path for r in runs]


def test_checkpoint_name_is_built_in_one_place():
    assert checkpoint_name(0, 1) == "r00_f01.pt" and split_name(2, 10) == "r02_f10"
    from ferbench.eval.protocols import Split

    assert Split(1, 3, np.zeros(0), np.zeros(0)).name == "r01_f03"
    # only ferbench.eval.results spells the split name or opens results.json / splits.json
    pattern = re.compile(r'02d\}_f\{|"results\.json"|"splits\.json"|"evaluation\.json"')
    owners = set()
    for base in ("ferbench", "plugins", "scripts"):
        for f in (REPO / base).rglob("*.py"):
            if pattern.search(f.read_text(encoding="utf-8")):
                owners.add(f.relative_to(REPO).as_posix())
    assert owners == {"ferbench/eval/results.py"}


def test_input_slices_of_every_registered_model_match_split_inputs():
    from ferbench.models import create_model, list_models
    from ferbench.models._base import input_slices

    for name in list_models():
        with torch.device("meta"):          # parameters not allocated: split_inputs only reads the layout
            m = create_model(name, n_classes=6)
        sl = m.input_slices()
        assert list(sl) == [n for n, _ in m.inputs], name
        assert sl == input_slices(m.inputs) and max(s.stop for s in sl.values()) == m.in_channels
        x = torch.arange(m.in_channels, dtype=torch.float32).view(1, -1, 1, 1).expand(
            1, m.in_channels, m.input_size, m.input_size).contiguous()
        parts = m.split_inputs(x)
        for n, s in sl.items():
            assert parts[n][0, :, 0, 0].tolist() == list(range(s.start, s.stop)), name
        del m
