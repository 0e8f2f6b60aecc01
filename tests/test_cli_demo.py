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
