"""Every ``ferbench`` command, sent a table of bad arguments, ends with one line on stderr, a non-zero exit
code and no traceback (issue 13 item 7), before any heavy work (no training, no dataset generation).

The table runs in-process (``ferbench.cli.main``, SystemExit caught) for speed; a handful of rows also run
as real ``python -m ferbench`` subprocesses to prove the entry point.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ferbench.cli import main

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("demo", "synth", "info", "index", "maps", "tau-sweep", "train", "evaluate", "predict", "models",
            "papers")


@pytest.fixture(scope="module")
def paths(tmp_path_factory) -> dict[str, str]:
    """A tiny synthetic dataset, one of its scans, a plain file, an empty folder, a broken scan, a foreign folder."""
    from ferbench.synth import generate_dataset

    t = tmp_path_factory.mktemp("bad_args")
    (t / "no_model").mkdir()
    generate_dataset(t / "ds", n_subjects=2, seed=0, layouts=("bu3dfe",), face_model="procedural",
                     texture_size=32, image_size=32, workers=1, progress=False)
    (t / "file.txt").write_text("not a scan\n")
    (t / "empty").mkdir()
    (t / "foreign").mkdir()
    (t / "foreign" / "mine.txt").write_text("mine")
    (t / "demo_out" / "data").mkdir(parents=True)  # --out of a demo whose data folder is the user's
    (t / "demo_out" / "data" / "mine.txt").write_text("mine")
    broken = t / "F0001_AN01WH_F3D.wrl"
    broken.write_bytes(b"#VRML V2.0 utf8\nShape { geometry IndexedFaceSet { coord Coordinate { point [ 0 0")
    (t / "ck.pt").write_bytes(b"PK\x03\x04 not a checkpoint")
    scan = sorted((t / "ds").glob("BU3DFE/*/*_F3D.wrl"))[0]
    return {"T": str(t), "DS": str(t / "ds"), "SCAN": str(scan), "FILE": str(t / "file.txt"),
            "EMPTY": str(t / "empty"), "BROKEN": str(broken), "FOREIGN": str(t / "foreign"), "CK": str(t / "ck.pt"),
            "NOMODEL": str(t / "no_model"), "MISSING": str(t / "missing"),
            "DEMO": str(t / "demo_out")}


TRAIN = "train dfcnn --protocol bu3dfe_setting1_720 --data {DS} --out {T}/res"
# (command line with {PLACEHOLDERS}, a word the one-line message must contain)
BAD: list[tuple[str, str]] = [
    # no command / unknown command / unknown options
    ("bogus", "invalid choice"),
    ("--bogus", "unrecognized"),
    ("models --all", "unrecognized"),
    ("papers nosuchpaper", "invalid choice"),
    ("papers dfcnn ZZ", "ZZ"),
    ("papers dfcnn IV extra", "unrecognized"),
    # demo
    ("demo --epochs -1", "--epochs"),
    ("demo --epochs 0", "--epochs"),
    ("demo --epochs two", "--epochs"),
    ("demo --subjects 0", "--subjects"),
    ("demo --subjects -3", "--subjects"),
    ("demo --subjects 1000", "--subjects"),
    ("demo --seed -1", "--seed"),
    ("demo --seed 99999999999", "--seed"),
    ("demo --paper nosuch", "--paper"),
    ("demo --out {FILE}", "not a folder"),
    ("demo --out {DEMO} --quick", "refusing"),
    ("demo --data {MISSING}", "no such folder"),
    ("demo --data {FILE}", "not a folder"),
    ("demo --device bogus", "device"),
    ("demo --device cuda:77", "cuda:77"),
    ("demo --quick=yes", "--quick"),
    # synth
    ("synth", "required"),
    ("synth {T}/s0 --subjects 0", "--subjects"),
    ("synth {T}/s1 --subjects -5", "--subjects"),
    ("synth {T}/s2 --subjects 1000", "--subjects"),
    ("synth {T}/s3 --subjects 1.5", "--subjects"),
    ("synth {T}/s4 --seed -1", "--seed"),
    ("synth {T}/s5 --workers -2", "--workers"),
    ("synth {T}/s6 --layouts ck+", "--layouts"),
    ("synth {FILE}", "not a folder"),
    ("synth {FOREIGN}", "refusing"),
    ("synth {DS}", "--overwrite"),
    ("synth {FOREIGN} --overwrite", "refusing"),
    ("synth /proc/nope --subjects 1 --model-dir {NOMODEL}", "not found"),
    ("synth /proc/nope --subjects 1", "/proc/nope"),
    ("synth {FILE}/sub --subjects 1", "file.txt"),
    ("synth {T}/s7 --model-dir {MISSING}", "missing"),
    ("synth {T}/s8 --model-dir {FILE}", "not a folder"),
    ("synth {T}/s9 --model-dir {NOMODEL} --subjects 1", "not found"),
    # info
    ("info", "required"),
    ("info {MISSING}", "no such file"),
    ("info {EMPTY}", "not a file"),
    ("info {FILE}", "extension"),
    ("info {BROKEN}", "F0001_AN01WH_F3D.wrl"),
    ("info {SCAN} {MISSING}", "no such file"),
    ("info /dev/null", "not a file"),
    # index
    ("index", "required"),
    ("index {MISSING}", "no such folder"),
    ("index {FILE}", "not a folder"),
    ("index {DS} --dataset ck+", "--dataset"),
    # maps
    ("maps {SCAN} --size 0", "--size"),
    ("maps {SCAN} --size -5", "--size"),
    ("maps {SCAN} --size 100000", "--size"),
    ("maps {SCAN} --size 15", "--size"),
    ("maps {SCAN} --size big", "--size"),
    ("maps {SCAN} --out {FILE}", "not a folder"),
    ("maps {MISSING}", "no such file"),
    ("maps {FILE}", "extension"),
    ("maps {BROKEN}", "F0001_AN01WH_F3D.wrl"),
    ("maps {EMPTY}", "not a file"),
    # tau-sweep
    ("tau-sweep {SCAN} --tau 0", "--tau"),
    ("tau-sweep {SCAN} --tau -3", "--tau"),
    ("tau-sweep {SCAN} --tau 16 0", "--tau"),
    ("tau-sweep {SCAN} --tau 1e9", "--tau"),
    ("tau-sweep {SCAN} --tau", "--tau"),
    ("tau-sweep {SCAN} --out {FILE}", "not a folder"),
    ("tau-sweep {MISSING}", "no such file"),
    ("tau-sweep {BROKEN}", "F0001_AN01WH_F3D.wrl"),
    # train: every setting
    (TRAIN + " --epochs 0", "--epochs"),
    (TRAIN + " --epochs -1", "--epochs"),
    (TRAIN + " --epochs 1.5", "--epochs"),
    (TRAIN + " --batch-size 0", "--batch-size"),
    (TRAIN + " --batch-size -4", "--batch-size"),
    (TRAIN + " --lr nan", "--lr"),
    (TRAIN + " --lr inf", "--lr"),
    (TRAIN + " --lr -1", "--lr"),
    (TRAIN + " --lr 0", "--lr"),
    (TRAIN + " --lr fast", "--lr"),
    (TRAIN + " --seed -1", "--seed"),
    (TRAIN + " --folds 0", "--folds"),
    (TRAIN + " --folds 1", "--folds"),
    (TRAIN + " --folds 50", "folds"),
    (TRAIN + " --rounds 0", "--rounds"),
    (TRAIN + " --rounds -2", "--rounds"),
    (TRAIN + " --size 0", "--size"),
    (TRAIN + " --size 100000", "--size"),
    (TRAIN + " --max-subjects 1", "--max-subjects"),
    (TRAIN + " --device bogus", "device"),
    (TRAIN + " --device cuda:7x", "device"),
    (TRAIN + " --device cuda:77", "cuda:77"),
    (TRAIN + " --out {FILE}", "not a folder"),
    ("train nosuchmodel --protocol bu3dfe_setting1_720 --data {DS}", "nosuchmodel"),
    ("train dfcnn --protocol nosuch --data {DS}", "nosuch"),
    ("train dfcnn --protocol bu3dfe_setting1_720 --data {EMPTY}", "no scans"),
    ("train dfcnn --protocol bu3dfe_setting1_720 --data {MISSING}", "no such folder"),
    ("train dfcnn --protocol bu3dfe_setting1_720 --data {FILE}", "not a folder"),
    ("train dfcnn --data {DS}", "--protocol"),
    ("train dfcnn --protocol bu3dfe_setting1_720", "--data"),
    # evaluate
    ("evaluate", "required"),
    ("evaluate {MISSING}", "no such file"),
    ("evaluate {EMPTY}", "results"),
    ("evaluate {DS}", "results"),
    ("evaluate {CK} --data {DS}", "ck.pt"),
    ("evaluate {EMPTY} --data {MISSING}", "no such folder"),
    ("evaluate {EMPTY} --device bogus", "device"),
    ("evaluate {EMPTY} --device cuda:77", "cuda:77"),
    # predict (a bad fold of a real run: tests/test_predict.py)
    ("predict", "required"),
    ("predict {EMPTY}", "required"),
    ("predict {MISSING} {SCAN}", "no such file"),
    ("predict {EMPTY} {MISSING}", "no such file"),
    ("predict {EMPTY} {SCAN}", "results"),
    ("predict {DS} {SCAN}", "results"),
    ("predict {EMPTY} {EMPTY}", "results"),
    ("predict {EMPTY} {SCAN} --fold 0", "--fold"),
    ("predict {EMPTY} {SCAN} --fold one", "--fold"),
    ("predict {EMPTY} {SCAN} --batch-size 0", "--batch-size"),
    ("predict {EMPTY} {SCAN} --workers -1", "--workers"),
    ("predict {EMPTY} {SCAN} --cam bogus", "--cam"),
    ("predict {EMPTY} {SCAN} --device bogus", "device"),
    ("predict {EMPTY} {SCAN} --device cuda:77", "cuda:77"),
    ("predict {EMPTY} {SCAN} --out {FILE}", "not a folder"),
    ("predict {EMPTY} {SCAN} --csv {EMPTY}", "folder"),
]
# the 21 command lines of issue 13 item 7 that printed tracebacks, and the nonsense settings of item 6
ISSUE_ROWS = {"maps {SCAN} --size 0", "maps {SCAN} --size -5", "maps {SCAN} --size 100000",
              "tau-sweep {SCAN} --tau 0", "tau-sweep {SCAN} --tau -3", "synth {T}/s0 --subjects 0",
              TRAIN + " --seed -1", TRAIN + " --batch-size 0", TRAIN + " --device bogus", TRAIN + " --device cuda:77",
              "synth /proc/nope --subjects 1", "demo --out {FILE}", "maps {SCAN} --out {FILE}",
              TRAIN + " --epochs 0", TRAIN + " --epochs -1", TRAIN + " --batch-size -4", TRAIN + " --lr nan",
              "demo --epochs -1"}


def _argv(line: str, paths: dict[str, str]) -> list[str]:
    return [w.format(**paths) for w in line.split()]


def test_the_table_covers_every_command():
    assert len(BAD) >= 80 and len({b[0] for b in BAD}) == len(BAD)
    assert {line.split()[0] for line, _ in BAD} >= set(COMMANDS) - {"models"}
    assert any(line.startswith("models") for line, _ in BAD)
    assert ISSUE_ROWS <= {b[0] for b in BAD}


@pytest.mark.parametrize("line,word", BAD, ids=[b[0] for b in BAD])
def test_bad_arguments_give_one_line_and_a_nonzero_exit(line, word, paths, capsys, monkeypatch):
    import ferbench.eval.runner
    import ferbench.synth.dataset

    def no_heavy_work(*a, **k):
        raise AssertionError("a bad command line reached training or data generation")

    monkeypatch.setattr(ferbench.eval.runner, "run_protocol", no_heavy_work)
    monkeypatch.setattr(ferbench.synth.dataset, "_subject_job", no_heavy_work)
    monkeypatch.chdir(paths["T"])  # default output folders land in the test's folder
    monkeypatch.delenv("FERBENCH_DEBUG", raising=False)
    try:
        code = main(_argv(line, paths))
    except SystemExit as e:
        code = e.code
    cap = capsys.readouterr()
    err = cap.err.strip()
    assert code not in (0, None), f"exit {code}: {err}"
    assert "Traceback" not in cap.err + cap.out
    assert len(err.splitlines()) == 1, err
    assert err.startswith("ferbench"), err
    assert word.lower() in err.lower(), err
    assert Path(paths["FOREIGN"], "mine.txt").read_text() == "mine"
    assert Path(paths["DEMO"], "data", "mine.txt").read_text() == "mine"


SUBPROCESS_ROWS = ["maps {SCAN} --size 0", TRAIN + " --batch-size 0", TRAIN + " --device cuda:77",
                   "synth /proc/nope --subjects 1", "info {BROKEN}", "demo --epochs -1"]


@pytest.mark.parametrize("line", SUBPROCESS_ROWS)
def test_the_real_entry_point(line, paths):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env.pop("FERBENCH_DEBUG", None)
    r = subprocess.run([sys.executable, "-m", "ferbench", *_argv(line, paths)], capture_output=True, text=True,
                       env=env, cwd=paths["T"], timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_debug_env_shows_the_traceback(paths, monkeypatch):
    from ferbench.errors import FerbenchError

    monkeypatch.setenv("FERBENCH_DEBUG", "1")
    with pytest.raises(FerbenchError):
        main(_argv("info {BROKEN}", paths))


def test_warnings_on_the_command_line_are_one_line(monkeypatch, capsys):
    import warnings

    import ferbench.cli as cli

    def warns(_args):
        warnings.warn("scan X: texture missing\n(X.bmp not found)", UserWarning)
        return 0

    monkeypatch.setattr(cli, "_cmd_models", warns)
    assert cli.main(["models"]) == 0
    assert capsys.readouterr().err == "ferbench: warning: scan X: texture missing (X.bmp not found)\n"
