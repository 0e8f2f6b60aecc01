"""scripts/synthetic_sanity.py end to end on a tiny synthetic dataset (one model, one epoch)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "synthetic_sanity.py"


@pytest.mark.slow
def test_sanity_script_reports_accuracy_interval_p_value_and_probe(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("synthetic_sanity", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--models", "mffcnn", "--subjects", "4", "--epochs", "1", "--out", str(tmp_path)]) == 0
    (row,) = json.loads((tmp_path / "sanity.json").read_text())
    res = json.loads((tmp_path / "results" / "mffcnn__mffcnn_2d_cv10__seed0" / "results.json").read_text())
    assert row["chance_test"] == res["chance_test"] and row["synthetic"] and row["epochs"] == 1
    ct = row["chance_test"]
    assert ct["n"] == res["folds"][0]["n_test"] and ct["accuracy"] == pytest.approx(res["folds"][0]["accuracy"])
    assert row["probe"]["n_test"] == ct["n"] and row["probe"]["n_train"] == row["n_train"]
    table = (tmp_path / "sanity.md").read_text().splitlines()
    assert table[0].startswith("| model (demo plan) |") and "accuracy (synthetic)" in table[0]
    assert table[2].startswith("| mffcnn (60 px, 1 epochs) | `mffcnn_2d_cv10` |")
    assert "linear probe" in capsys.readouterr().out
