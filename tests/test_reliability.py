"""Issue 13 items 2, 5, 6, 8: the demo never deletes what it did not write; an interrupted ``synth`` never passes
for a (complete or real) dataset; nonsense settings fail with one line; killed checkpoint writes are cleaned up;
an explicit missing face-model folder is an error."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import ferbench.synth
import ferbench.synth.dataset as synth_dataset
from ferbench.cli import main
from ferbench.errors import DatasetError, FerbenchError, ModelAssetError, SettingError
from ferbench.io.dataset import INCOMPLETE_MARKER, index_dataset

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def no_model(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("no_model")  # unused by _gen now (the procedural face is asked for by name)


def _gen(out, no_model, **kw):
    args = dict(n_subjects=2, seed=1, layouts=("bu3dfe",), face_model="procedural", texture_size=32, image_size=32,
                workers=1, progress=False)
    args.update(kw)
    return ferbench.synth.generate_dataset(out, **args)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


# --- item 5: interrupted synth ---------------------------------------------------------------------------------
def test_interrupted_synth_is_never_a_dataset_and_a_rerun_finishes_it(tmp_path, no_model, monkeypatch):
    out = tmp_path / "data"
    real_job = synth_dataset._subject_job
    calls = []

    def dying_job(*args):  # the second subject "crashes": an interruption after 25 scans were written
        calls.append(args[2])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_job(*args)

    monkeypatch.setattr(synth_dataset, "_subject_job", dying_job)
    with pytest.raises(KeyboardInterrupt):
        _gen(out, no_model)
    monkeypatch.undo()
    scans = list(tmp_path.rglob("*_F3D.wrl"))
    assert len(scans) == 25  # the first subject's scans are on disk ...
    # ... but nowhere indexable: not the target, not its parent, not the work folder itself
    if out.exists():
        with pytest.raises(DatasetError, match="incomplete"):
            index_dataset(out)
    else:
        with pytest.raises(DatasetError, match="not a folder"):
            index_dataset(out)
    assert len(index_dataset(tmp_path)) == 0
    build = scans[0].parents[2]
    assert (build / INCOMPLETE_MARKER).is_file()
    with pytest.raises(DatasetError, match="incomplete"):
        index_dataset(build)
    with pytest.raises(DatasetError, match="incomplete"):
        index_dataset(scans[0].parent)  # a subject folder of the unfinished dataset
    # the same command again finishes: 50 synthetic scans, no work folder left
    g = _gen(out, no_model)
    idx = index_dataset(out)
    assert len(g) == 50 and len(idx) == 50 and all(r.synthetic for r in idx)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
    assert not (out / INCOMPLETE_MARKER).exists()


def test_a_marked_target_is_refused_and_replaced_without_overwrite(tmp_path, no_model):
    # an interruption while the finished dataset is moved in leaves the target marked
    out = tmp_path / "data"
    g = _gen(out, no_model, n_subjects=1)
    (out / "manifest.csv").unlink()
    (out / INCOMPLETE_MARKER).write_text("x")
    with pytest.raises(DatasetError, match="incomplete"):
        index_dataset(out)
    with pytest.raises(DatasetError, match="incomplete"):
        index_dataset(g.root / "BU3DFE")
    _gen(out, no_model, n_subjects=1)
    assert len(index_dataset(out)) == 25 and not (out / INCOMPLETE_MARKER).exists()


def test_overwrite_replaces_a_complete_dataset_and_keeps_foreign_files(tmp_path, no_model, capsys):
    out = tmp_path / "data"
    _gen(out, no_model, n_subjects=2, seed=1)
    (out / "my_notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="overwrite"):
        _gen(out, no_model, n_subjects=1, seed=2)
    _gen(out, no_model, n_subjects=1, seed=2, overwrite=True)
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    assert len(rows) == 25 and {r["seed"] for r in rows} == {"2"}
    assert len(list(out.rglob("*_F3D.wrl"))) == 25  # the old second subject is gone
    assert (out / "my_notes.txt").read_text() == "mine"
    # the command line: refused without --overwrite (one line), replaced with it
    args = ["synth", str(out), "--subjects", "1", "--seed", "3", "--layouts", "bosphorus", "--no-progress",
            "--workers", "1"]
    assert main(args) == 2
    assert "--overwrite" in _one_line_error(capsys)
    assert main(args + ["--overwrite"]) == 0
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    assert len(rows) == 7 and {r["seed"] for r in rows} == {"3"} and not (out / "BU3DFE").exists()


# --- item 8: explicit missing model folder ----------------------------------------------------------------------
def test_explicit_missing_model_dir_is_an_error(tmp_path, no_model, capsys):
    with pytest.raises(ModelAssetError, match="not found"):
        _gen(tmp_path / "a", no_model, face_model=None, model_dir=tmp_path / "nonexistent")
    assert not (tmp_path / "a").exists()
    with pytest.raises(SystemExit) as e:
        main(["synth", str(tmp_path / "b"), "--model-dir", str(tmp_path / "nonexistent")])
    assert e.value.code == 2 and "nonexistent" in _one_line_error(capsys)
    # an existing folder without the model, named on the command line: no silent procedural face either
    assert main(["synth", str(tmp_path / "c"), "--model-dir", str(no_model), "--subjects", "1",
                 "--no-progress"]) == 2
    assert "not found" in _one_line_error(capsys)
    assert not (tmp_path / "c").exists()


# --- item 2: the demo's data folder --------------------------------------------------------------------------
def test_demo_never_deletes_a_data_folder_it_did_not_write(tmp_path, capsys, monkeypatch):
    def no_generation(*a, **k):
        raise AssertionError("the demo must refuse before generating data")

    monkeypatch.setattr(ferbench.synth, "generate_dataset", no_generation)
    mine = tmp_path / "data" / "thesis.txt"
    mine.parent.mkdir()
    mine.write_text("my own work")
    assert main(["demo", "--out", str(tmp_path), "--quick", "--no-progress"]) == 2
    err = _one_line_error(capsys)
    assert str(tmp_path / "data") in err and "refusing" in err
    assert mine.read_text() == "my own work"
    # a stamp alone does not make a folder the demo's: without the synthetic-data note it is refused too
    (tmp_path / "data" / "demo_data.json").write_text("{}")
    assert main(["demo", "--out", str(tmp_path), "--quick", "--no-progress"]) == 2
    assert mine.read_text() == "my own work"


def test_demo_replaces_its_own_stale_data(tmp_path, monkeypatch):
    from ferbench.demo import _prepare_data

    seen = {}

    def fake_generate(root, **kw):
        seen.update(kw, root=Path(root))
        Path(root).mkdir(parents=True, exist_ok=True)

    monkeypatch.setattr(ferbench.synth, "generate_dataset", fake_generate)
    data = tmp_path / "data"
    data.mkdir()
    (data / "SYNTHETIC_DATA.txt").write_text("synthetic")
    (data / "demo_data.json").write_text(json.dumps({"n_subjects": 3, "seed": 0, "layouts": ["bu3dfe"]}))
    root, synthetic = _prepare_data(tmp_path, None, 6, 0, False)
    assert root == data and synthetic and seen["overwrite"] is True and seen["n_subjects"] == 6
    assert json.loads((data / "demo_data.json").read_text())["n_subjects"] == 6
    # a matching stamp reuses the data without generating
    seen.clear()
    assert _prepare_data(tmp_path, None, 6, 0, False)[0] == data and not seen


# --- item 6: nonsense settings in the library --------------------------------------------------------------------
@pytest.mark.parametrize("kw", [dict(epochs=0), dict(epochs=-1), dict(batch_size=0), dict(batch_size=-4),
                                dict(lr=float("nan")), dict(lr=float("inf")), dict(lr=-1.0), dict(lr=0.0),
                                dict(seed=-1), dict(gamma=0.0), dict(momentum=1.5), dict(step_size=0),
                                dict(epochs=2.5), dict(epochs=True), dict(optimizer="rmsprop")])
def test_train_config_refuses_nonsense(kw):
    from ferbench.eval.training import TrainConfig, config_for

    with pytest.raises(FerbenchError) as e:
        TrainConfig(**kw)
    assert "\n" not in str(e.value)
    with pytest.raises(FerbenchError):
        config_for("dfcnn", **kw)


@pytest.mark.parametrize("kw", [dict(epochs=0), dict(epochs=-1), dict(batch_size=-4), dict(batch_size=0),
                                dict(lr=float("nan")), dict(lr=-1.0), dict(seed=-1), dict(folds=1),
                                dict(folds=0), dict(rounds=0), dict(size=0), dict(size=100_000),
                                dict(max_subjects=1), dict(max_splits=0), dict(device="bogus"),
                                dict(device="cuda:99")])
def test_train_refuses_nonsense_before_reading_data(kw, tmp_path):
    from ferbench.eval.commands import train

    # the data folder does not exist: the setting must be refused before anything looks at it
    with pytest.raises(SettingError) as e:
        train("dfcnn", "bu3dfe_setting1_720", tmp_path / "no_data", tmp_path / "out", progress=False, **kw)
    name = next(iter(kw))
    assert (name if name != "device" else "device") in str(e.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kw", [dict(epochs=-1), dict(epochs=0), dict(n_subjects=0), dict(n_subjects=-3),
                                dict(seed=-1)])
def test_run_demo_refuses_nonsense_before_writing(kw, tmp_path):
    from ferbench.demo import run_demo

    with pytest.raises(SettingError):
        run_demo(tmp_path / "out", quick=True, progress=False, **kw)
    assert not (tmp_path / "out").exists()


def test_device_names_are_checked():
    import torch

    from ferbench._device import default_device

    assert default_device("cpu") == torch.device("cpu")
    for bad in ("bogus", "cpu:1", "cuda:x", "", "gpu"):
        with pytest.raises(SettingError, match="unknown device"):
            default_device(bad)
    with pytest.raises(SettingError, match="CUDA"):
        default_device("cuda:99")


# --- item 8: killed checkpoint writes ---------------------------------------------------------------------------
_KILLED_WRITER = r"""
import os, signal, sys
import torch
from ferbench.eval.training import save_checkpoint
real = torch.save
def dying_save(obj, f, *a, **k):  # write part of the file, then die like kill -9 in the middle of a write
    with open(f, "wb") as fh:
        fh.write(b"\0" * 100_000)
    os.kill(os.getpid(), signal.SIGKILL)
torch.save = dying_save
save_checkpoint(sys.argv[1], {"model": {"w": torch.zeros(3)}})
"""


def test_killed_checkpoint_writes_leave_no_temp_files_behind(tmp_path):
    import torch

    from ferbench.eval.training import load_checkpoint, save_checkpoint

    ck = tmp_path / "fold0.pt"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(ck)], env=env, capture_output=True, timeout=120)
    assert r.returncode == -9
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].endswith(".tmp") and not ck.exists()
    # an anonymous temp file of an earlier ferbench version, old, and one of a writer that may still run
    legacy = tmp_path / "tmpab12cd34.tmp"
    legacy.write_bytes(b"\0" * 10)
    os.utime(legacy, (time.time() - 3600, time.time() - 3600))
    fresh = tmp_path / "tmpzz99yy88.tmp"
    fresh.write_bytes(b"\0")
    live = tmp_path / f"fold0.pt.{os.getppid()}.tmp"
    live.write_bytes(b"\0")
    save_checkpoint(ck, {"model": {"w": torch.ones(3)}})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["fold0.pt", fresh.name, live.name])
    assert torch.equal(load_checkpoint(ck)["model"]["w"], torch.ones(3))


@pytest.mark.parametrize("call", ["maps0", "maps_big", "tau0", "tau_neg", "tau_empty"])
def test_maps_commands_refuse_nonsense_in_the_library(call, tmp_path):
    from ferbench.cli.maps import run_maps, run_tau_sweep

    scan = tmp_path / "never_read.wrl"  # the setting is refused before the scan is read
    with pytest.raises(SettingError):
        {"maps0": lambda: run_maps(scan, tmp_path, size=0),
         "maps_big": lambda: run_maps(scan, tmp_path, size=100_000),
         "tau0": lambda: run_tau_sweep(scan, [16, 0], tmp_path),
         "tau_neg": lambda: run_tau_sweep(scan, [-3], tmp_path),
         "tau_empty": lambda: run_tau_sweep(scan, [], tmp_path)}[call]()
