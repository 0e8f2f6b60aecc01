"""The command line and the main job (``ferbench demo``), end to end on tiny synthetic data."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from ferbench.cli import main


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory) -> Path:
    from ferbench.synth import generate_dataset

    root = tmp_path_factory.mktemp("synth")
    generate_dataset(root, n_subjects=2, seed=3, layouts=("bu3dfe",), progress=False)
    return root


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("demo", "synth", "info", "index", "maps", "tau-sweep", "train", "evaluate", "models", "papers"):
        assert re.search(rf"^\s+{re.escape(cmd)}\b", out, re.M), cmd


def test_scans_inside_a_synthetic_tree_are_labelled_synthetic(tiny_dataset, tmp_path):
    from ferbench.io import read_scan

    wrl = next(tiny_dataset.glob("BU3DFE/*/*_F3D.wrl"))
    assert read_scan(wrl).meta.synthetic is True
    # the same bytes outside the synthetic tree carry no such claim
    for f in wrl.parent.glob(wrl.stem + ".*"):
        shutil.copy(f, tmp_path / f.name)
    assert read_scan(tmp_path / wrl.name).meta.synthetic is False


def test_cli_info_index_maps_papers(tiny_dataset, tmp_path, capsys):
    wrl = sorted(tiny_dataset.glob("BU3DFE/*/*_HA04*_F3D.wrl"))[0]
    assert main(["info", str(wrl)]) == 0
    assert "happiness" in capsys.readouterr().out
    assert main(["index", str(tiny_dataset)]) == 0
    assert "50" in capsys.readouterr().out  # 2 subjects x 25 scans
    assert main(["maps", str(wrl), "--out", str(tmp_path / "maps"), "--size", "96"]) == 0
    assert any(p.suffix == ".png" for p in (tmp_path / "maps").iterdir())
    assert main(["papers", "dfcnn", "IV"]) == 0
    out = capsys.readouterr().out
    assert "[dfcnn] Table IV" in out and "85.53" in out  # Gabor AN->AN, printed value


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    bad = tmp_path / "F0001_AN01WH_F3D.wrl"
    bad.write_bytes(b"#VRML V2.0 utf8\nShape { geometry IndexedFaceSet { coord Coordinate { point [ 0 0")
    assert main(["info", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err


def test_demo_quick_writes_a_report_with_every_view(tmp_path):
    from ferbench.demo import run_demo

    report = run_demo(out_dir=tmp_path / "demo", quick=True, n_subjects=4, progress=False)
    html = report.read_text()
    assert report.name == "report.html"
    # maps, tau-sweep, confusion, accuracy, saliency, CAM, t-SNE
    assert html.count("<img") >= 7
    assert "could not be produced" not in html
    assert "SYNTHETIC" in html and "Table IV" in html
    assert "real data" not in html
    assert "ICT Face Model Light" in html  # the embedded default face model, named in the report
    # the accuracy comes with its interval and p-value, and a run at chance says so
    import json

    (res_file,) = (tmp_path / "demo" / "results").glob("*/results.json")
    p = json.loads(res_file.read_text())["chance_test"]["p_value"]
    assert "95 % CI" in html and f"p = {p:.2g}" in html
    assert ("not distinguishable from guessing" in html) == (p >= 0.05)


@pytest.mark.parametrize("paper", ["dfcnn", "gemax_fa", "attention_transformer", "cmcnn", "mffcnn"])
def test_every_demo_plan_resolves_its_paper_numbers(paper):
    """Each paper's demo compares with numbers that exist: the confusion matrix is the paper's BU-3DFE
    matrix where it prints one, and the accuracy spec gives per-class values or one overall number."""
    from ferbench.demo import PLANS
    from ferbench.eval import list_protocols
    from ferbench.models import list_models
    from ferbench.papers import per_class_accuracy, table

    plan = PLANS[paper]
    assert plan.model in list_models() and plan.protocol in list_protocols()
    assert plan.accuracy is not None
    if len(plan.accuracy) == 3:
        tid, row, col = plan.accuracy
        assert 0 < float(table(paper, tid).cell(row, col)) <= 100
    else:
        vals = per_class_accuracy(paper, *[a for a in plan.accuracy if a is not None])
        assert len(vals) >= 6 and all(v is None or 0 <= v <= 100 for v in vals.values())
    if plan.confusion is not None:
        t = table(paper, plan.confusion[0])
        if plan.protocol.startswith("bu3dfe"):
            assert "BU" in (t.dataset or "") or "BU" in t.caption, (paper, t.caption)
