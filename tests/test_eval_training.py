"""Training loop, checkpoints, resume, map cache, repeated CV through executors, results folder."""
from __future__ import annotations

import csv
import json
import os
import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from ferbench.errors import DatasetError
from ferbench.eval.data import InputSet, MapCache, compute_input, record_to_dict
from ferbench.eval.protocols import make_splits
from ferbench.eval.runner import run_protocol
from ferbench.eval.testing import fake_index, synthetic_map_fn, tiny_model, write_fake_files
from ferbench.eval.training import CheckpointError, TrainConfig, fit, load_checkpoint, predict, set_seed

torch.set_num_threads(1)
INPUTS = (("depth", 1), ("texture", 3))
SIZE = 16


@pytest.fixture()
def small_index(tmp_path):
    idx = fake_index(8, root=str(tmp_path / "data"))
    write_fake_files(idx)
    return idx


def _dataset(idx, tmp_path, n=None):
    ps = make_splits("bu3dfe_setting1_720", idx, folds=4, seed=0)
    recs = [record_to_dict(r) for r in ps.records][:n]
    cache = MapCache(tmp_path / "cache", INPUTS, SIZE, "3d", synthetic_map_fn)
    return InputSet(recs, ps.labels[: len(recs)], cache)


def _cfg(**kw):
    base = dict(epochs=4, batch_size=8, lr=3e-3, optimizer="adam", scheduler="step", step_size=2, gamma=0.5, seed=5)
    base.update(kw)
    return TrainConfig(**base)


def _train(data, cfg, ckpt, stop=None):
    set_seed(cfg.seed)
    model = tiny_model(input_size=SIZE, inputs=INPUTS)
    info = fit(model, data, cfg, checkpoint=ckpt, progress=False, stop_after_epoch=stop)
    return model, info


def test_compute_input_stacks_converts_and_resizes():
    rec = {"path": "/x/F0001_HA04WH_F3D.wrl", "expression": "happiness"}

    def fn(record, names, size, modality):
        return {"depth": np.full((10, 12), 2.0), "texture": np.ones((30, 30, 3)) * [0.2, 0.4, 0.6],
                "gray": np.full((30, 30, 1), np.nan)}

    x = compute_input(rec, (("texture", 1), ("depth", 3), ("gray", 1)), 8, map_fn=fn)
    assert x.shape == (5, 8, 8) and x.dtype == np.float32
    np.testing.assert_allclose(x[0], 0.299 * 0.2 + 0.587 * 0.4 + 0.114 * 0.6, rtol=1e-5)  # RGB -> luma
    np.testing.assert_allclose(x[1:4], 2.0, rtol=1e-5)  # 1 -> 3 channels, resized
    assert np.all(x[4] == 0)  # NaN background -> 0
    with pytest.raises(DatasetError, match="channels"):
        compute_input(rec, (("texture", 2),), 8, map_fn=fn)
    with pytest.raises(DatasetError, match="not computed"):
        compute_input(rec, (("lbp", 1),), 8, map_fn=fn)


def test_map_cache_hits_and_invalidates_on_file_change(small_index, tmp_path):
    rec = record_to_dict(small_index.records[3])
    c = MapCache(tmp_path / "c", INPUTS, SIZE, "3d", synthetic_map_fn)
    a = c.get(rec)
    b = MapCache(tmp_path / "c", INPUTS, SIZE, "3d", synthetic_map_fn).get(rec)
    np.testing.assert_array_equal(a, b)
    assert (c.hits, c.misses) == (0, 1)
    c.get(rec)
    assert c.hits == 1
    k0 = c.path(rec)
    assert MapCache(tmp_path / "c", INPUTS, SIZE + 2, "3d", synthetic_map_fn).path(rec) != k0  # size in key
    st = os.stat(rec["path"])
    os.utime(rec["path"], ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    assert c.path(rec) != k0  # edited file -> new key -> recomputed
    c.get(rec)
    assert c.misses == 2


def test_checkpoint_is_weights_only_and_resume_is_bit_identical(small_index, tmp_path):
    data = _dataset(small_index, tmp_path, n=40)
    cfg = _cfg()
    full, info_full = _train(data, cfg, tmp_path / "full.pt")
    assert info_full["complete"] and len(info_full["losses"]) == 4
    ck = torch.load(tmp_path / "full.pt", weights_only=True)  # plain tensors/ints/strings only
    assert ck["epoch"] == 4 and "rng_torch" in ck and "scheduler" in ck

    part, info_part = _train(data, cfg, tmp_path / "part.pt", stop=2)
    assert not info_part["complete"] and info_part["epochs_done"] == 2
    assert load_checkpoint(tmp_path / "part.pt")["epoch"] == 2
    # mess with the global RNGs as a new process would, then resume
    torch.manual_seed(999)
    np.random.seed(999)
    resumed, info_res = _train(data, cfg, tmp_path / "part.pt")
    assert info_res["resumed_from"] == 2 and info_res["complete"]
    assert info_res["losses"] == info_full["losses"]
    for (k, v), (k2, v2) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert k == k2 and torch.equal(v, v2), k
    np.testing.assert_array_equal(predict(full, data)["probabilities"], predict(resumed, data)["probabilities"])
    # a different seed really gives different weights (the comparison above can fail)
    other, _ = _train(data, _cfg(seed=6), None)
    assert not torch.equal(other.head.weight, full.head.weight)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_bad_checkpoints_are_refused(tmp_path, small_index):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    p = tmp_path / "evil.pt"
    with open(p, "wb") as fh:
        pickle.dump({"model": Evil()}, fh)
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_checkpoint(p)
    (tmp_path / "junk.pt").write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "none.pt")
    torch.save({"model": {"w": torch.zeros(3)}, "epoch": 1}, tmp_path / "other.pt")
    data = _dataset(small_index, tmp_path, n=10)
    with pytest.raises(CheckpointError, match="does not match"):
        _train(data, _cfg(), tmp_path / "other.pt")


def _run(idx, out, **kw):
    ps = make_splits("bu3dfe_setting1_720", idx, folds=4, rounds=kw.pop("rounds", 1), seed=0)
    cfg = kw.pop("cfg", _cfg(epochs=3))
    return run_protocol(tiny_model, ps, out, cfg, model_options={"inputs": INPUTS}, size=SIZE, progress=False,
                        map_fn=synthetic_map_fn, workers=kw.pop("workers", 1), **kw), ps


def _predictions(folder):
    with open(folder / "predictions.csv", newline="") as fh:
        return sorted(tuple(r) for r in csv.reader(fh))


def test_results_folder_layout_and_contents(small_index, tmp_path):
    out, ps = _run(small_index, tmp_path / "res", rounds=2, save_features=True)
    res = json.loads((out / "results.json").read_text())
    assert res["complete"] and res["n_splits"] == 8 and res["label"] == "synthetic" and res["synthetic"]
    assert "(synthetic)" in res["accuracy_text"] and res["init_note"] == "random initialisation"
    assert res["classes"] == list(ps.classes) and res["protocol"] == "bu3dfe_setting1_720"
    cm = np.array(res["confusion"])
    assert cm.shape == (6, 6) and cm.sum() == 2 * len(ps.records)  # every sample tested once per round
    ct = res["chance_test"]                          # first round only: each scan counted once
    assert ct["n"] == len(ps.records) and ct["scope"] == "first round"
    first = [f for f in res["folds"] if f["round"] == 0]
    assert ct["accuracy"] == pytest.approx(sum(f["accuracy"] * f["n_test"] for f in first) / len(ps.records))
    assert ct["ci95"][0] <= ct["accuracy"] <= ct["ci95"][1] and 0 <= ct["p_value"] <= 1
    rows = _predictions(out)
    assert len(rows) == 1 + 2 * len(ps.records)
    header = next(r for r in rows if r[0] == "round")
    assert header[:7] == ("round", "fold", "path", "subject", "dataset", "y_true", "y_pred")
    body = [r for r in rows if r[0] != "round"]
    acc = np.mean([r[5] == r[6] for r in body])
    assert res["accuracy"] == pytest.approx(acc)
    assert res["accuracy_mean"] == pytest.approx(np.mean([f["accuracy"] for f in res["folds"]]))
    pca = [res["per_class_accuracy"][c] for c in ps.classes]
    np.testing.assert_allclose(pca, np.diag(cm) / cm.sum(1))
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == sorted(f"{s.name}.pt" for s in ps.splits)
    assert np.load(out / "features_r00_f00.npy").shape == (len(ps.splits[0].test), 64)
    sp = json.loads((out / "splits.json").read_text())
    for s in sp["splits"]:
        assert not set(s["train_subjects"]) & set(s["test_subjects"])
    # a different run cannot silently reuse the folder
    with pytest.raises(DatasetError, match="different run"):
        _run(small_index, out, cfg=_cfg(epochs=5))


def test_cv_beats_chance_on_held_out_subjects(small_index, tmp_path):
    """Synthetic: the tiny model on synthetic class-dependent maps, 4 subject folds."""
    out, _ = _run(small_index, tmp_path / "res", cfg=_cfg(epochs=12, lr=1e-2, step_size=100))
    res = json.loads((out / "results.json").read_text())
    assert res["accuracy"] > 0.5  # chance = 1/6


def test_run_resume_after_interruption_equals_uninterrupted(small_index, tmp_path):
    ref, _ = _run(small_index, tmp_path / "ref")
    part, _ = _run(small_index, tmp_path / "part", stop_after_epoch=1)
    r = json.loads((part / "results.json").read_text())
    assert not r["complete"] and r["n_splits_done"] == 0
    assert all(load_checkpoint(p)["epoch"] == 1 for p in (part / "checkpoints").iterdir())
    # the second fold finishes, then the run is restarted again
    os.remove(part / "checkpoints" / "r00_f01.pt")
    _run(small_index, part)
    assert _predictions(part) == [tuple(x.replace(str(tmp_path / "ref"), str(tmp_path / "part")) for x in row)
                                  for row in _predictions(ref)]
    for name in ("r00_f00.pt", "r00_f03.pt"):
        a, b = load_checkpoint(ref / "checkpoints" / name), load_checkpoint(part / "checkpoints" / name)
        for k in a["model"]:
            assert torch.equal(a["model"][k], b["model"][k])


def test_thread_executor_gives_the_same_results_as_inline(small_index, tmp_path):
    ref, _ = _run(small_index, tmp_path / "ref", cache_dir=tmp_path / "cache")
    with ThreadPoolExecutor(2) as ex:
        other, _ = _run(small_index, tmp_path / "thr", executor=ex, cache_dir=tmp_path / "cache")
    assert _predictions(ref) == _predictions(other)
    assert json.loads((other / "results.json").read_text())["timings"]["maps_computed"] == 0  # cache shared


def test_dask_localcluster_executor(small_index, tmp_path):
    distributed = pytest.importorskip("distributed")
    ref, _ = _run(small_index, tmp_path / "ref", cache_dir=tmp_path / "cache")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as lc, \
            distributed.Client(lc) as client:
        other, _ = _run(small_index, tmp_path / "dask", executor=client, cache_dir=tmp_path / "cache")
    assert _predictions(ref) == _predictions(other)


def test_evaluate_reproduces_the_training_results(small_index, tmp_path):
    from ferbench.eval.commands import evaluate, train

    out = train(tiny_model, "bu3dfe_setting1_720", str(tmp_path / "data"), tmp_path / "runs", epochs=2,
                batch_size=8, lr=1e-2, folds=4, seed=1, size=SIZE, progress=False, workers=1,
                model_options={"inputs": INPUTS}, map_fn=synthetic_map_fn, index=small_index)
    assert out.name == "tiny_model__bu3dfe_setting1_720__seed1"
    res = json.loads((out / "results.json").read_text())
    ev = evaluate(out, None, progress=False, factory=tiny_model)  # the recorded data dir, re-indexed
    assert ev["label"] == "synthetic" or ev["label"] == "real"  # (files here have no manifest)
    assert ev["accuracy"] == pytest.approx(res["accuracy"])
    assert ev["confusion"] == res["confusion"]
    one = evaluate(out / "checkpoints" / "r00_f02.pt", progress=False, factory=tiny_model)
    assert one["n"] == res["folds"][2]["n_test"] and one["accuracy"] == pytest.approx(res["folds"][2]["accuracy"])
    assert (out / "evaluation.json").is_file()


@pytest.mark.slow
def test_local_process_pool_gives_the_same_results_as_inline(small_index, tmp_path):
    ref, _ = _run(small_index, tmp_path / "ref", cache_dir=tmp_path / "cache")
    other, _ = _run(small_index, tmp_path / "proc", workers=2, cache_dir=tmp_path / "cache")  # spawn processes
    assert _predictions(ref) == _predictions(other)


def test_precompute_fills_the_cache_once(small_index, tmp_path):
    from ferbench.eval.data import precompute

    recs = [record_to_dict(r) for r in small_index.records[:6]]
    cache = MapCache(tmp_path / "c", INPUTS, SIZE, "3d", synthetic_map_fn)
    with ThreadPoolExecutor(2) as ex:
        assert precompute(recs, cache, executor=ex, progress=False) == 6
    assert precompute(recs, cache, workers=0, progress=False) == 0
    assert all(os.path.isfile(cache.path(r)) for r in recs)
    np.testing.assert_array_equal(cache.get(recs[2]), compute_input(recs[2], INPUTS, SIZE, "3d", synthetic_map_fn))


def test_recalibrate_batchnorm_exact_statistics():
    import torch
    from ferbench.eval.training import recalibrate_batchnorm

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = torch.nn.BatchNorm1d(3)

        def forward_train(self, x):
            return self.bn(x)

    class D:
        def __init__(self, x):
            self.x = x

        def __len__(self):
            return len(self.x)

        def batch(self, idx):
            return self.x[idx], torch.zeros(len(idx), dtype=torch.long)

    x = torch.randn(40, 3) * 2 + 5
    m = M()
    assert recalibrate_batchnorm(m, D(x), batch_size=8) == 1
    assert torch.allclose(m.bn.running_mean, x.mean(0), atol=1e-5)
    assert m.bn.momentum == 0.1 and m.training
