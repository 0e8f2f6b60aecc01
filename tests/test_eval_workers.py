"""Splits on several workers: local processes (--workers) and Dask (--scheduler), faults, the run lock.

Everything runs the tiny model on synthetic maps (``ferbench.eval.testing``), 4 subject folds of
8 subjects, 16 px: numbers here are synthetic.
"""
from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import torch

from ferbench.eval import runner
from ferbench.eval.commands import train
from ferbench.eval.runlock import RunLock, RunLockError, check_owner
from ferbench.eval.testing import fake_index, synthetic_map_fn, tiny_model, write_fake_files

torch.set_num_threads(1)
INPUTS = (("depth", 1), ("texture", 3))
REPO = Path(__file__).resolve().parents[1]
PROTOCOL = "bu3dfe_setting1_720"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    idx = fake_index(8, root=str(tmp_path_factory.mktemp("workers") / "data"))
    write_fake_files(idx)
    return idx


_REFS: dict = {}


def _ref(idx, epochs):
    """The single-process run (computed once per module and epoch count)."""
    if (idx.root, epochs) not in _REFS:
        _REFS[idx.root, epochs] = _train(idx, Path(idx.root).parent / f"ref{epochs}", epochs=epochs, workers=1)
    return _REFS[idx.root, epochs]


def _train(idx, out, epochs=3, **kw):
    return train(tiny_model, PROTOCOL, idx.root, out, epochs=epochs, batch_size=8, lr=3e-3, folds=4, seed=3,
                 size=16, progress=False, model_options={"inputs": INPUTS}, map_fn=synthetic_map_fn, index=idx, **kw)


def _predictions(folder):
    with open(Path(folder) / "predictions.csv", newline="") as fh:
        return list(csv.reader(fh))


def _folds(folder):
    return [json.loads(p.read_text()) for p in sorted((Path(folder) / "folds").glob("*.json"))]


def _wait_for(cond, timeout=120.0, what="condition"):
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


# --------------------------------------------------------------------------- the lock
def test_run_lock_refuses_a_live_owner_and_takes_over_a_dead_ones(data, tmp_path):
    folder = tmp_path / "runs" / f"tiny_model__{PROTOCOL}__seed3"
    with RunLock(folder) as held:
        info = json.loads(held.path.read_text())
        assert info["pid"] == os.getpid() and info["token"] == held.token
        with pytest.raises(RunLockError, match=rf"^results folder .* is in use by pid {os.getpid()}$"):
            RunLock(folder).acquire()
        with pytest.raises(RunLockError, match="in use by pid"):  # a second run of the same settings
            _train(data, tmp_path / "runs", workers=1)
        assert not (folder / "results.json").exists()
        check_owner(held.path, held.token)
    assert not held.path.exists()                      # released: the file is gone
    with pytest.raises(RunLockError, match="owned by no run"):
        check_owner(held.path, held.token)
    # a lock file left by a dead owner is taken over; that owner's workers are fenced out
    dead = _dead_pid()
    held.path.write_text(json.dumps({"pid": dead, "host": socket.gethostname(), "token": "old"}))
    lock = RunLock(folder).acquire()
    try:
        assert lock.took_over == dead
        with pytest.raises(RunLockError, match=f"now owned by pid {os.getpid()}"):
            check_owner(lock.path, "old")
    finally:
        lock.release()
    held.path.write_text(json.dumps({"pid": dead, "host": socket.gethostname(), "token": "old"}))
    out = _train(data, tmp_path / "runs", workers=1)
    assert json.loads((out / "results.json").read_text())["complete"] and not (out / "run.lock").exists()


def test_a_worker_of_an_ended_run_stops_before_writing_a_checkpoint(data, tmp_path):
    """The fencing check inside fit: the lock changes hands after epoch 1, epoch 2 is never written."""
    from ferbench.eval.data import InputSet, MapCache, record_to_dict
    from ferbench.eval.protocols import make_splits
    from ferbench.eval.training import TrainConfig, fit, load_checkpoint

    ps = make_splits(PROTOCOL, data, folds=4, seed=0)
    recs = [record_to_dict(r) for r in ps.records][:24]
    ds = InputSet(recs, ps.labels[:24], MapCache(tmp_path / "cache", INPUTS, 16, "3d", synthetic_map_fn))
    lock = RunLock(tmp_path / "res").acquire()
    calls = []

    def guard():
        calls.append(1)
        if len(calls) == 2:  # the run that started this worker ended; another took the folder
            lock.release()
            RunLock(tmp_path / "res").acquire()
        check_owner(lock.path, lock.token)

    ck = tmp_path / "res" / "f.pt"
    with pytest.raises(RunLockError, match="stops without writing"):
        fit(tiny_model(input_size=16, inputs=INPUTS), ds, TrainConfig(epochs=4, batch_size=8), checkpoint=ck,
            progress=False, guard=guard)
    assert load_checkpoint(ck)["epoch"] == 1


# --------------------------------------------------------------------------- command line
def test_cli_passes_workers_and_scheduler_to_train_and_demo(monkeypatch, capsys, tmp_path):
    import ferbench.demo
    import ferbench.eval.commands
    from ferbench.cli import main

    seen = []
    monkeypatch.setattr(ferbench.eval.commands, "train", lambda *a, **kw: seen.append(kw) or Path("/nonexistent"))
    monkeypatch.setattr(ferbench.demo, "run_demo", lambda **kw: seen.append(kw) or Path("/nonexistent/r.html"))
    base = ["train", "cmcnn", "--protocol", PROTOCOL, "--data", str(tmp_path), "--no-progress"]
    assert main(base + ["--workers", "2"]) == 0
    assert main(base + ["--scheduler", "tcp://10.0.0.1:8786"]) == 0
    assert main(["demo", "--quick", "--workers", "3"]) == 0
    assert main(["demo", "--quick", "--scheduler", "tcp://h:1"]) == 0
    assert [(k["workers"], k["dask_scheduler"]) for k in seen] == [(2, None), (None, "tcp://10.0.0.1:8786"),
                                                                   (3, None), (None, "tcp://h:1")]
    with pytest.raises(SystemExit):  # one or the other
        main(base + ["--workers", "2", "--scheduler", "tcp://h:1"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_an_unreachable_scheduler_is_one_line(data, tmp_path, capsys):
    pytest.importorskip("distributed")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(runner.FerbenchError, match=f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"):
        with runner.dask_client(f"tcp://127.0.0.1:{port}", timeout=2):
            pass


def test_one_gpu_per_worker(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setitem(runner._WORKER, "rank", 5)
    assert runner._fold_device(None) == "cuda:1"        # rank % n_gpus
    assert runner._fold_device("cpu") == "cpu"          # asked for
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")    # one GPU given to this worker
    assert runner._fold_device(None) == "cuda:0"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert runner._fold_device(None) is None


# --------------------------------------------------------------------------- local worker processes
def _spawned_children(exclude=()):
    import psutil

    out = []
    for c in psutil.Process().children():
        try:
            cmd = " ".join(c.cmdline())
        except psutil.Error:
            continue
        if "spawn_main" in cmd and c.pid not in exclude:
            out.append(c)
    return out


def _kill_one_worker_mid_fold(out: Path, exclude=(), pick=None) -> dict:
    """In a thread: once two splits have a checkpoint (both workers mid-split), SIGKILL one worker."""
    state = {"killed": None}

    def go():
        _wait_for(lambda: len(list((out / "checkpoints").glob("*.pt"))) >= 2, what="two checkpoints")
        victims = pick() if pick else _spawned_children(exclude)
        os.kill(victims[0].pid if hasattr(victims[0], "pid") else victims[0], signal.SIGKILL)
        state["killed"] = victims[0]

    t = threading.Thread(target=go, daemon=True)
    t.start()
    state["thread"] = t
    return state


@pytest.mark.slow
def test_local_worker_killed_mid_split_run_completes_with_equal_results(data, tmp_path):
    pytest.importorskip("psutil")
    ref = _ref(data, 8)
    before = {c.pid for c in _spawned_children()}
    folder = tmp_path / "pool" / ref.name
    state = _kill_one_worker_mid_fold(folder, exclude=before)
    out = _train(data, tmp_path / "pool", epochs=8, workers=2)
    state["thread"].join(5)
    assert state["killed"] is not None
    assert _predictions(out) == _predictions(ref)
    assert any((f["resumed_from"] or 0) >= 1 for f in _folds(out))  # retried from its checkpoint


# --------------------------------------------------------------------------- Dask
@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as lc, distributed.Client(lc) as client:
        yield lc, client


@pytest.mark.slow
def test_workers_and_scheduler_reach_the_same_code_path_and_equal_the_single_process_run(data, tmp_path,
                                                                                        cluster, monkeypatch):
    lc, client = cluster
    ref = _ref(data, 3)
    calls = []
    real = runner._run_folds

    def spy(jobs, ex, pool, *a, **kw):
        calls.append("pool" if pool is not None else type(ex).__name__)
        return real(jobs, ex, pool, *a, **kw)

    monkeypatch.setattr(runner, "_run_folds", spy)
    local = _train(data, tmp_path / "local", workers=2)
    dask = _train(data, tmp_path / "dask", dask_scheduler=lc.scheduler_address)
    assert calls == ["pool", "ClientExecutor"]
    assert _predictions(local) == _predictions(ref) == _predictions(dask)
    res = json.loads((dask / "results.json").read_text())
    assert res["complete"] and res["timings"]["maps_computed"] == len(json.loads((dask / "splits.json").read_text())
                                                                      ["records"])  # once, up front


@pytest.mark.slow
def test_dask_worker_killed_mid_split_run_completes_with_equal_results(data, tmp_path, cluster):
    lc, client = cluster
    ref = _ref(data, 8)
    folder = tmp_path / "dask" / ref.name
    state = _kill_one_worker_mid_fold(folder, pick=lambda: list(client.run(os.getpid).values()))
    out = _train(data, tmp_path / "dask", epochs=8, dask_scheduler=lc.scheduler_address)
    state["thread"].join(5)
    assert state["killed"] is not None
    assert _predictions(out) == _predictions(ref)
    assert any((f["resumed_from"] or 0) >= 1 for f in _folds(out))
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it


# --------------------------------------------------------------------------- kill -9 of the command
DRIVER = textwrap.dedent('''
    """`ferbench train` with the tiny model and synthetic maps swapped in (the command line is the real one)."""
    import sys

    if __name__ == "__main__":
        import ferbench.eval.commands as c
        from ferbench.cli import main
        from ferbench.eval.testing import fake_index, synthetic_map_fn, tiny_model

        idx = fake_index(8, root=sys.argv[1])
        real = c.train

        def train(model, protocol, data, out, **kw):
            return real(tiny_model, protocol, data, out, map_fn=synthetic_map_fn, index=idx,
                        model_options={"inputs": (("depth", 1), ("texture", 3))}, **kw)

        c.train = train
        sys.exit(main(sys.argv[2:]))
''')


def _gone(procs) -> bool:
    import psutil

    for p in procs:
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            pass
    return True


@pytest.mark.slow
def test_kill_9_of_ferbench_train_ends_its_workers_and_the_run_resumes(data, tmp_path):
    psutil = pytest.importorskip("psutil")
    driver = tmp_path / "drive.py"
    driver.write_text(DRIVER)
    args = ["train", "cmcnn", "--protocol", PROTOCOL, "--data", data.root, "--out", str(tmp_path / "runs"),
            "--folds", "4", "--epochs", "8", "--batch-size", "8", "--lr", "0.003", "--size", "16", "--seed", "3",
            "--workers", "2", "--no-progress"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    folder = tmp_path / "runs" / f"tiny_model__{PROTOCOL}__seed3"
    p = subprocess.Popen([sys.executable, str(driver), data.root, *args], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        _wait_for(lambda: len(list((folder / "checkpoints").glob("*.pt"))) >= 2 or p.poll() is not None,
                  what="checkpoints of the first run")
        assert p.poll() is None, "the run ended before it could be killed"
        workers = psutil.Process(p.pid).children(recursive=True)
        assert len([w for w in workers if "spawn_main" in " ".join(w.cmdline())]) == 2
    finally:
        p.kill()
        p.wait()
    t0 = time.monotonic()
    while not _gone(workers) and time.monotonic() - t0 < 5:
        time.sleep(0.05)
    assert _gone(workers), f"workers alive {time.monotonic() - t0:.1f} s after their parent was killed"
    assert json.loads((folder / "run.lock").read_text())["pid"] == p.pid  # left behind, stale
    done_before = len(list((folder / "folds").glob("*.json")))
    r = subprocess.run([sys.executable, str(driver), data.root, *args], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert done_before < 4 and any((f["resumed_from"] or 0) >= 1 for f in _folds(folder))
    assert _predictions(folder) == _predictions(_ref(data, 8))
