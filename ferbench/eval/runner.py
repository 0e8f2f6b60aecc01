"""Repeated cross-validation (rounds x folds) through any ``concurrent.futures.Executor``.

:func:`run_protocol` trains one model per split of a :class:`~ferbench.eval.protocols.ProtocolSplits`
and writes a results folder. Every split is an independent job (:func:`run_fold`, a picklable
module-level function taking a plain dict), so the jobs can run

* in this process (``executor=None`` and one worker or one job),
* in local processes (default when there are several jobs: a spawn-context
  ``ProcessPoolExecutor`` of ``workers`` processes; ``ferbench train --workers N``),
* on a Dask cluster: pass a ``distributed.Client`` (its ``get_executor()`` is used; ``ferbench
  train --scheduler ADDRESS`` connects one with :func:`dask_client`) or any other Executor. The
  data, the results folder and the map cache must then be on a file system every worker sees.

Every way goes through :func:`_run_folds`. Faults: a local worker process that dies (killed, out
of memory) breaks the pool; the pool is restarted and the unfinished splits are submitted again,
each resuming from its last per-epoch checkpoint (up to ``retries`` restarts). Dask reschedules
the task of a lost worker itself (``distributed.scheduler.allowed-failures``); the retried split
resumes from its checkpoint when the results folder is shared, and restarts from its seed when it
is not. Either way the results equal those of an undisturbed run, because a split's training is a
function of its seed (:func:`_fold_seed`) and resuming is bit-identical. A run interrupted as a
whole is resumed by running it again with the same settings: finished splits are kept, the
others continue from their checkpoints.

Ownership: the running process holds ``run.lock`` (:class:`~ferbench.eval.runlock.RunLock`) for
the whole run; a second run on the same folder is refused while the owner lives. Local worker
processes exit within a second when their parent dies (a watchdog thread), and every worker checks
the lock's token before writing a checkpoint, so a stale worker never overwrites a resumed run's
files.

Devices: with ``device=None`` a worker on a machine with several GPUs trains on
``cuda:{rank % n_gpus}`` (rank: the local worker's index, or the number ending a Dask worker's
name); when ``CUDA_VISIBLE_DEVICES`` is set in the worker's environment (one GPU per worker, as
``dask-cuda`` does) it uses ``cuda:0``, its first visible GPU.

Determinism: a split's predictions depend on its seed only, not on the number of workers or
which worker ran it. Local workers set ``torch.set_num_threads(cpu_count // workers)``; CPU
kernels of some models can round differently with another thread count (last-digit differences
of probabilities), so for exact equality across machines keep the threads per worker equal
(``OMP_NUM_THREADS`` on Dask workers).

Results folder layout (stable; read by the report and plotting code)::

    results.json      model, paper, init_note, protocol (+ its meta), data dir, "label":
                      "synthetic"/"real", synthetic flag, seed, rounds, folds, train config,
                      per-fold accuracy, mean/std/pooled accuracy, per-class accuracy,
                      confusion matrix (counts, rows = true, class order = EXPRESSIONS
                      [+ neutral]), mean row-normalised confusion (%), timings, complete flag
    predictions.csv   round, fold, path, subject, dataset, y_true, y_pred, p_<class>..., synthetic
    splits.json       records, labels and every split's train/test indices and subjects
    run.lock          while a run is going: its owner (pid, host) and token (see ferbench.eval.runlock)
    run.json          the settings; a re-run into the same folder must match them (resume)
    folds/rXX_fYY.json  one finished split (predictions, losses, timings); finished splits are
                      skipped when the run is resumed
    checkpoints/rXX_fYY.pt  state dicts + optimiser/scheduler/RNG state (weights_only-loadable);
                      the last epoch's checkpoint is the evaluated model
    features_rXX_fYY.npy  optional test-set embeddings (``save_features=True``)
    cache/            the map cache (unless ``cache_dir`` points elsewhere)

Every number in results.json is also given as text with "(synthetic)" appended when the data
were synthetic.
"""
from __future__ import annotations

import contextlib
import csv
import functools
import json
import os
import re
import threading
import time
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ferbench.errors import DatasetError, FerbenchError
from ferbench.eval.results import (CHECKPOINTS_DIR, FOLDS_DIR, PREDICTIONS_FILE, SCHEMA_VERSION, checkpoint_name,
                                   features_file_name, fold_file_name, split_name, write_results, write_splits)

__all__ = ["run_protocol", "run_fold", "build_model", "aggregate", "dask_client", "RESULTS_VERSION"]

RESULTS_VERSION = 1

# Model initialisation and dropout use torch's *global* RNG, which threads share. Folds run by a
# thread-based executor (ThreadPoolExecutor, Dask with processes=False) therefore take turns
# inside one process so that every fold stays reproducible from its seed; processes and
# separate Dask workers run in parallel.
_RNG_LOCK = threading.Lock()


# --------------------------------------------------------------------------- models
def build_model(model: str | Callable, n_classes: int, size: int | None, options: dict[str, Any] | None = None):
    """A registered model name (``ferbench.models.create_model``) or a module-level factory."""
    options = dict(options or {})
    if callable(model):
        return model(n_classes=n_classes, input_size=size, **options)
    from ferbench.models import create_model

    try:
        return create_model(model, n_classes=n_classes, input_size=size, **options)
    except KeyError as e:
        raise FerbenchError(str(e).strip("'\"")) from None


def _model_facts(model: str | Callable, n_classes: int, size: int | None, options: dict[str, Any]
                 ) -> tuple[int, list[list[Any]], str, str]:
    """``(input_size, inputs, init_note, paper)`` that a run records, before any data are touched.

    A registered name's come from :func:`ferbench.models.model_cfg`; its option values are still checked
    now (a bad value fails before maps are computed) by building it on torch's ``meta`` device, which
    allocates and initialises no weights. A factory, or a ``weights`` file (``init_note`` names it), is
    built once for real.
    """
    if isinstance(model, str) and "weights" not in options:
        import torch

        from ferbench.models import model_cfg
        from ferbench.models._base import RANDOM_INIT

        try:
            cfg = model_cfg(model, size, **options)
        except KeyError as e:
            raise FerbenchError(str(e).strip("'\"")) from None
        with torch.device("meta"):
            build_model(model, n_classes, size, options)
        return int(cfg.input_size), [list(t) for t in cfg.inputs], RANDOM_INIT, cfg.paper
    probe = build_model(model, n_classes, size, options)
    return (int(probe.input_size), [list(t) for t in probe.inputs], getattr(probe, "init_note", ""),
            getattr(probe, "paper", ""))


def _model_id(model: str | Callable) -> str:
    if isinstance(model, str):
        return model
    return f"{getattr(model, '__module__', '?')}:{getattr(model, '__qualname__', repr(model))}"


def _fold_seed(seed: int, rnd: int, fold: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(rnd), int(fold)]).generate_state(1)[0])


# --------------------------------------------------------------------------- one split
def run_fold(job: dict[str, Any]) -> dict[str, Any]:
    """Train and test one split (runs in whatever process the executor chooses).

    ``job`` keys: model, model_options, n_classes, size, inputs, modality, map_fn, cache_dir,
    records (dicts), labels, train, test, round, fold, config (TrainConfig dict), checkpoint,
    device, progress, stop_after_epoch, features_path, threads, lock (path and token of the run's
    lock: checked before every checkpoint write).
    """
    import torch

    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    job = dict(job, device=_fold_device(job.get("device")))
    with _RNG_LOCK:
        return _run_fold_locked(job)


# --------------------------------------------------------------------------- worker processes
_WORKER: dict[str, Any] = {}  # this process's worker rank and watchdog (local pool workers)


def _init_local_worker(owner_pid: int, counter, threads: int | None) -> None:
    """ProcessPoolExecutor initializer: rank, torch threads, and exit when the parent is gone."""
    with counter.get_lock():
        _WORKER["rank"] = int(counter.value)
        counter.value += 1
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    _start_watchdog(owner_pid)


def _start_watchdog(owner_pid: int, interval: float = 0.25) -> None:
    """A daemon thread that ends this process as soon as its parent (the run's owner) dies.

    Without it a killed ``ferbench train`` leaves its pool workers training on, rewriting
    checkpoints, then waiting forever on the dead parent's queue. Polling ``getppid`` (the parent
    re-parents us to init or a sub-reaper when it dies) works on every POSIX system; it is not
    PR_SET_PDEATHSIG, which fires when the *thread* that started us exits.
    """
    if "watchdog" in _WORKER or owner_pid == os.getpid():
        return
    from ferbench.eval.runlock import pid_alive

    ppid = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != ppid or not pid_alive(owner_pid):
                os._exit(70)  # no cleanup: the parent's run is gone, its pool cannot take results

    t = threading.Thread(target=watch, name="ferbench-parent-watchdog", daemon=True)
    t.start()
    _WORKER["watchdog"] = t


def _worker_rank() -> int:
    if "rank" in _WORKER:
        return int(_WORKER["rank"])
    try:  # a Dask worker: LocalCluster names them 0, 1, ...; `dask worker --nworkers` ends names in -<i>
        from distributed import get_worker

        name = get_worker().name
    except (ImportError, ValueError):
        return 0
    if isinstance(name, int):
        return name
    m = re.search(r"(\d+)$", str(name))
    return int(m.group(1)) if m else 0


def _fold_device(device: str | None) -> str | None:
    """The device of a split: the one asked for, else one GPU per worker, else None (CPU)."""
    if device is not None:
        return device
    import torch

    if not torch.cuda.is_available():
        return None
    n = torch.cuda.device_count()
    if n <= 1 or os.environ.get("CUDA_VISIBLE_DEVICES"):
        return "cuda:0"
    return f"cuda:{_worker_rank() % n}"


def _run_fold_locked(job: dict[str, Any]) -> dict[str, Any]:
    from ferbench.eval.data import InputSet, MapCache
    from ferbench.eval.training import TrainConfig, fit, predict, set_seed

    cfg = TrainConfig.from_dict(job["config"])
    set_seed(cfg.seed)  # same initialisation on resume: the model is re-created, then the checkpoint loaded
    model = build_model(job["model"], job["n_classes"], job["size"], job["model_options"])
    cache = MapCache(job["cache_dir"], tuple(map(tuple, job["inputs"])), job["size"], job["modality"], job["map_fn"])
    recs, labels = job["records"], np.asarray(job["labels"])
    tr, te = list(job["train"]), list(job["test"])
    train_set = InputSet([recs[i] for i in tr], labels[tr], cache)
    test_set = InputSet([recs[i] for i in te], labels[te], cache)
    name = split_name(job["round"], job["fold"])
    guard = None
    if job.get("lock"):
        from ferbench.eval.runlock import check_owner

        guard = functools.partial(check_owner, job["lock"]["path"], job["lock"]["token"])
        guard()  # a resubmitted task of a run that has ended: do nothing
    info = fit(model, train_set, cfg, checkpoint=job["checkpoint"], device=job.get("device"),
               progress=bool(job.get("progress")), stop_after_epoch=job.get("stop_after_epoch"),
               meta={"model": _model_id(job["model"]), "model_options": job["model_options"],
                     "n_classes": job["n_classes"], "size": job["size"], "inputs": job["inputs"],
                     "round": job["round"], "fold": job["fold"]}, desc=f"train {name}", guard=guard)
    res = {"round": job["round"], "fold": job["fold"], "complete": info["complete"], "train": tr, "test": te,
           "losses": info["losses"], "epochs_done": info["epochs_done"], "train_seconds": info["seconds"],
           "train_images": info["images"], "init_note": getattr(model, "init_note", ""),
           "resumed_from": info["resumed_from"]}
    if not info["complete"]:
        return res
    pr = predict(model, test_set, batch_size=max(1, cfg.batch_size), device=job.get("device"),
                 features=bool(job.get("features_path")))
    if job.get("features_path"):
        np.save(job["features_path"], pr["features"].astype(np.float32), allow_pickle=False)
    res.update(probabilities=pr["probabilities"].tolist(), pred=pr["pred"].tolist(),
               predict_seconds=pr["seconds"], predict_images=len(te))
    return res


# --------------------------------------------------------------------------- the run
def _as_executor(executor):
    if executor is None or isinstance(executor, Executor):
        return executor
    if hasattr(executor, "get_executor"):  # a distributed.Client
        return executor.get_executor()
    if hasattr(executor, "submit"):
        return executor
    raise FerbenchError(f"executor must be a concurrent.futures.Executor or a dask Client, got {type(executor).__name__}")


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, allow_nan=True), encoding="utf-8")
    os.replace(tmp, path)


def run_protocol(model: str | Callable, ps, out_dir: str | os.PathLike, config, *,
                 model_options: dict[str, Any] | None = None, size: int | None = None, device: str | None = None,
                 executor: Any = None, workers: int | None = None, progress: bool = True,
                 map_fn: Callable | None = None, cache_dir: str | os.PathLike | None = None,
                 stop_after_epoch: int | None = None, save_features: bool = False,
                 data_dir: str | None = None, retries: int = 3) -> Path:
    """Train and evaluate ``model`` on every split of ``ps`` and write the results folder.

    Parameters
    ----------
    model
        Registered model name or module-level factory ``f(n_classes, input_size, **options)``.
    ps
        :class:`~ferbench.eval.protocols.ProtocolSplits` (from ``make_splits`` or
        ``leaky_sample_split``).
    out_dir
        The results folder (created; an existing one with the same settings is resumed). Held
        with a lock (``run.lock``) for the whole run: :class:`~ferbench.eval.runlock.RunLockError`
        while another live run owns it.
    config
        :class:`~ferbench.eval.training.TrainConfig`; ``config.seed`` seeds every split.
    model_options
        Extra options of the model factory.
    size
        Input side (default: the model's ``input_size``).
    device
        Torch device (default CUDA if present).
    executor
        None (inline for one job / one worker, else local processes), any Executor, or a
        ``distributed.Client``.
    workers
        Local process count when ``executor`` is None (default: CPU count).
    progress
        tqdm bars (maps, splits, batches).
    map_fn
        Map function (default: ``ferbench.maps.compute_maps`` / 2D image maps).
    cache_dir
        Map cache (default ``out_dir/cache``).
    stop_after_epoch
        Stop every split after this many epochs without writing results (to test resuming).
    save_features
        Save test embeddings per split.
    data_dir
        Recorded in results.json.
    retries
        How many times the local process pool is restarted after a worker died (each time the
        unfinished splits resume from their checkpoints). Dask retries lost tasks itself.

    Returns
    -------
    pathlib.Path
        The results folder.
    """
    from ferbench.eval.runlock import RunLock

    out = Path(out_dir)
    if workers is not None and int(workers) < 0:
        raise FerbenchError(f"workers must be >= 0, got {workers}")
    with RunLock(out) as lock:
        return _run_protocol_locked(model, ps, out, config, lock, model_options=model_options, size=size,
                                    device=device, executor=executor, workers=workers, progress=progress,
                                    map_fn=map_fn, cache_dir=cache_dir, stop_after_epoch=stop_after_epoch,
                                    save_features=save_features, data_dir=data_dir, retries=retries)


def _run_protocol_locked(model, ps, out: Path, config, lock, *, model_options, size, device, executor, workers,
                         progress, map_fn, cache_dir, stop_after_epoch, save_features, data_dir, retries) -> Path:
    from tqdm.auto import tqdm

    from ferbench.eval.data import MapCache, precompute, record_to_dict

    (out / CHECKPOINTS_DIR).mkdir(parents=True, exist_ok=True)
    (out / FOLDS_DIR).mkdir(exist_ok=True)
    model_options = dict(model_options or {})
    size, inputs, init_note, paper = _model_facts(model, ps.n_classes, size, model_options)
    records = [record_to_dict(r) for r in ps.records]
    cache_dir = Path(cache_dir) if cache_dir is not None else out / "cache"

    settings = {"results_version": RESULTS_VERSION, "model": _model_id(model), "model_options": model_options,
                "size": size, "inputs": inputs, "protocol": ps.protocol, "modality": ps.modality,
                "classes": list(ps.classes), "config": config.to_dict(), "map_fn": _fn_name(map_fn),
                "n_records": len(records), "splits": [[s.round, s.fold, len(s.train), len(s.test)] for s in ps.splits],
                "protocol_meta": ps.meta}
    settings = json.loads(json.dumps(settings))
    run_file = out / "run.json"
    if run_file.is_file():
        old = json.loads(run_file.read_text(encoding="utf-8"))
        diff = sorted(k for k in settings if old.get(k) != settings[k])
        if diff:
            raise DatasetError(f"{out}: holds a different run (differs in {', '.join(diff)}); "
                               f"use another results folder")
    _write_json(run_file, settings)
    write_splits(out, ps.to_json())

    jobs = []
    for s in ps.splits:
        fold_file = out / FOLDS_DIR / fold_file_name(s.round, s.fold)
        if fold_file.is_file():
            continue
        jobs.append({"model": model, "model_options": model_options, "n_classes": ps.n_classes, "size": size,
                     "inputs": inputs, "modality": ps.modality, "map_fn": map_fn, "cache_dir": str(cache_dir),
                     "records": records, "labels": ps.labels.tolist(), "train": s.train.tolist(),
                     "test": s.test.tolist(), "round": s.round, "fold": s.fold,
                     "config": dict(config.to_dict(), seed=_fold_seed(config.seed, s.round, s.fold)),
                     "checkpoint": str(out / CHECKPOINTS_DIR / checkpoint_name(s.round, s.fold)), "device": device,
                     "stop_after_epoch": stop_after_epoch,
                     "features_path": str(out / features_file_name(s.round, s.fold)) if save_features else None,
                     "lock": {"path": str(lock.path), "token": lock.token}})
    ex = _as_executor(executor)
    n_workers = (os.cpu_count() or 1) if workers is None else max(1, int(workers))
    inline = ex is None and (n_workers <= 1 or len(jobs) <= 1)
    threads = None
    if ex is None and not inline:
        threads = max(1, (os.cpu_count() or 1) // min(n_workers, len(jobs)))
    for j in jobs:
        j["progress"] = progress and inline
    pool = _LocalPool(min(n_workers, len(jobs)), threads) if ex is None and not inline else None
    interrupted = 0

    def done(res: dict[str, Any]) -> None:
        nonlocal interrupted
        if not res["complete"]:
            interrupted += 1
            return
        _write_json(out / FOLDS_DIR / fold_file_name(res["round"], res["fold"]), res)

    try:
        # the maps once for the whole protocol (on the workers), before any split: never per split
        t0 = time.perf_counter()
        cache = MapCache(cache_dir, tuple(map(tuple, inputs)), size, ps.modality, map_fn)
        if pool is not None:
            n_maps = pool.call(lambda e: precompute(records, cache, executor=e, progress=progress), retries)
        else:
            n_maps = precompute(records, cache, workers=0 if (ex is None and workers in (0, 1)) else workers,
                                executor=ex, progress=progress)
        if ex is not None and jobs:
            missing = [r["path"] for r in records if not os.path.isfile(cache.path(r))]
            if missing:
                raise FerbenchError(f"map cache {cache_dir}: {len(missing)} map(s) the workers computed are not "
                                    f"visible here (e.g. for {missing[0]}); put the results folder and the cache "
                                    f"on a file system every worker mounts")
        maps_seconds = time.perf_counter() - t0

        bar = tqdm(total=len(jobs), desc=f"{ps.protocol} splits", unit="split",
                   disable=not progress or len(jobs) < 2)
        try:
            if inline:
                for j in jobs:
                    done(run_fold(j))
                    bar.update(1)
            else:
                _run_folds(jobs, ex, pool, done, bar, retries)
        finally:
            bar.close()
    except BaseException:  # an error or Ctrl-C: the workers' splits are abandoned, end them now
        if pool is not None:
            pool.shutdown(kill=True)
            pool = None
        raise
    finally:
        if pool is not None:
            pool.shutdown()
    aggregate(out, ps, settings, init_note=init_note, paper=paper, data_dir=data_dir,
              extra_timings={"maps_seconds": maps_seconds, "maps_computed": n_maps})
    return out


class _LocalPool:
    """A spawn-context process pool that can be restarted after a worker died.

    Workers get a rank (for the GPU choice), a fixed torch thread count, and a watchdog that ends
    them when this process dies.
    """

    def __init__(self, n: int, threads: int | None):
        import multiprocessing as mp

        self.n, self.threads = max(1, n), threads
        self.ctx = mp.get_context("spawn")  # torch is imported here; forking with OpenMP threads can hang
        self.restarts = 0
        self.executor = self._new()

    def _new(self) -> ProcessPoolExecutor:
        counter = self.ctx.Value("i", 0)
        return ProcessPoolExecutor(max_workers=self.n, mp_context=self.ctx, initializer=_init_local_worker,
                                   initargs=(os.getpid(), counter, self.threads))

    def restart(self, retries: int, what: str) -> None:
        self.restarts += 1
        if self.restarts > retries:
            raise FerbenchError(f"{what}: worker processes died {self.restarts} times (killed, or out of "
                                f"memory?); giving up after {retries} restarts")
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.executor = self._new()

    def call(self, fn: Callable[[Executor], Any], retries: int) -> Any:
        while True:
            try:
                return fn(self.executor)
            except BrokenProcessPool:
                self.restart(retries, "maps")

    def shutdown(self, kill: bool = False) -> None:
        """Let the workers go (every result is in: no waiting for their interpreters to wind down), or
        with ``kill`` end them at once (the run failed; their splits would only be thrown away)."""
        procs = list((getattr(self.executor, "_processes", None) or {}).values())
        self.executor.shutdown(wait=False, cancel_futures=True)
        if kill:
            for p in procs:
                p.kill()


def _run_folds(jobs: list[dict[str, Any]], ex: Any, pool: _LocalPool | None, done: Callable, bar,
               retries: int) -> None:
    """Run ``jobs`` on ``ex`` (a Dask client's executor or any Executor) or on the local ``pool``.

    When a local worker dies the pool breaks: it is restarted and the unfinished splits are
    submitted again (they resume from their checkpoints). Dask retries a lost worker's task itself.
    """
    pending = {(j["round"], j["fold"]): j for j in jobs}
    while pending:
        target = pool.executor if pool is not None else ex
        futures = {target.submit(run_fold, j): key for key, j in pending.items()}
        broken = False
        for fut in as_completed(futures):
            try:
                res = fut.result()
            except BrokenProcessPool:
                broken = True
                continue
            except Exception as e:  # noqa: BLE001 - Dask gave up on a split whose workers kept dying
                if type(e).__name__ != "KilledWorker":
                    raise
                r, f = futures[fut]
                raise FerbenchError(f"split {split_name(r, f)}: the Dask workers running it died repeatedly "
                                    f"(out of memory?): {e}") from None
            done(res)
            pending.pop(futures[fut], None)
            bar.update(1)
        if broken and pending:
            if pool is None:
                raise FerbenchError("the process pool broke (a worker died); run again to resume")
            pool.restart(retries, f"{len(pending)} unfinished split(s)")


@contextlib.contextmanager
def dask_client(address: str, timeout: float = 30.0):
    """A ``distributed.Client`` connected to the scheduler at ``address`` (closed on exit).

    Raises
    ------
    FerbenchError
        dask.distributed is not installed, or the scheduler cannot be reached.
    """
    try:
        from distributed import Client
    except ImportError:
        raise FerbenchError("--scheduler needs dask.distributed: pip install 'ferbench[distributed]'") from None
    try:
        client = Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as e:
        raise FerbenchError(f"cannot reach the Dask scheduler at {address}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    try:
        yield client
    finally:
        client.close()


def _fn_name(fn: Callable | None) -> str | None:
    return None if fn is None else f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


# --------------------------------------------------------------------------- aggregation
def _fmt(v: float | None, synthetic: bool) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    from ferbench.views.labels import title_label

    return title_label(f"{100 * v:.2f} %", synthetic)


def results_summary(results: dict[str, Any]) -> str:
    """One line: pooled accuracy, held-out count, 95 % interval, chance and the p-value against it.

    ``results`` is a results.json dict (any schema); see :func:`ferbench.eval.results.summary_text`.
    """
    from ferbench.eval.results import summary_text

    return summary_text(results)


def aggregate(out: Path, ps, settings: dict[str, Any], *, init_note: str = "", paper: str = "",
              data_dir: str | None = None, extra_timings: dict[str, Any] | None = None) -> dict[str, Any]:
    """Combine ``folds/*.json`` into results.json and predictions.csv (also for a partial run)."""
    from ferbench.eval.metrics import chance_test, confusion_matrix, mean_row_normalised, per_class_accuracy

    out = Path(out)
    k = ps.n_classes
    groups = ps.groups()
    synthetic_flags = [bool(r.synthetic) for r in ps.records]
    synthetic = any(synthetic_flags)
    label = "synthetic" if synthetic else "real"
    fold_rows, cms, all_t, all_p = [], [], [], []
    first_round_hits = [0, 0]            # correct, n over the first round: each scan tested once
    pred_rows = []
    timings = {"train_seconds": 0.0, "predict_seconds": 0.0, "train_images": 0, "predict_images": 0}
    for s in ps.splits:
        f = out / FOLDS_DIR / fold_file_name(s.round, s.fold)
        if not f.is_file():
            continue
        res = json.loads(f.read_text(encoding="utf-8"))
        te = np.asarray(res["test"], dtype=np.int64)
        y = ps.labels[te]
        p = np.asarray(res["pred"], dtype=np.int64)
        probs = np.asarray(res["probabilities"], dtype=np.float64)
        cm = confusion_matrix(y, p, k)
        cms.append(cm)
        all_t.append(y)
        all_p.append(p)
        acc = float(np.mean(y == p)) if len(y) else float("nan")
        if s.round == ps.splits[0].round:
            first_round_hits[0] += int(np.sum(y == p))
            first_round_hits[1] += int(len(y))
        fold_rows.append({"round": s.round, "fold": s.fold, "n_train": len(res["train"]), "n_test": int(len(te)),
                          "test_subjects": sorted({groups[i] for i in te}), "accuracy": acc,
                          "accuracy_text": _fmt(acc, synthetic), "epochs": res["epochs_done"],
                          "final_train_loss": res["losses"][-1] if res["losses"] else None,
                          "train_seconds": res["train_seconds"], "predict_seconds": res.get("predict_seconds")})
        for key in ("train_seconds", "predict_seconds", "train_images", "predict_images"):
            timings[key] += res.get(key) or 0
        for i, yt, yp, pr in zip(te, y, p, probs):
            r = ps.records[i]
            pred_rows.append([s.round, s.fold, r.path, r.subject, r.dataset, int(yt), int(yp),
                              *[f"{v:.6f}" for v in pr], int(r.synthetic)])
    n_done = len(fold_rows)
    accs = np.array([f["accuracy"] for f in fold_rows], dtype=np.float64)
    t = np.concatenate(all_t) if all_t else np.zeros(0, np.int64)
    pp = np.concatenate(all_p) if all_p else np.zeros(0, np.int64)
    cm_total = confusion_matrix(t, pp, k)
    pca = per_class_accuracy(cm_total)
    rounds = sorted({f["round"] for f in fold_rows})
    round_means = [float(np.mean([f["accuracy"] for f in fold_rows if f["round"] == r])) for r in rounds]
    mean_acc = float(accs.mean()) if n_done else None
    pooled = float(np.mean(t == pp)) if t.size else None
    timings["train_images_per_s"] = timings["train_images"] / timings["train_seconds"] if timings["train_seconds"] else None
    timings["predict_images_per_s"] = (timings["predict_images"] / timings["predict_seconds"]
                                       if timings["predict_seconds"] else None)
    timings.update(extra_timings or {})
    results = {
        "results_version": RESULTS_VERSION, "schema": SCHEMA_VERSION,
        "label": label,
        "synthetic": synthetic,
        "synthetic_note": ("all numbers below were computed on SYNTHETIC data; they say nothing about real faces"
                           if synthetic else "real data"),
        "model": settings["model"], "model_options": settings["model_options"], "paper": paper,
        "init_note": init_note, "size": settings["size"], "inputs": settings["inputs"],
        "protocol": ps.protocol, "protocol_meta": ps.meta, "leaky": bool(ps.meta.get("leaky", False)),
        "data_dir": data_dir, "seed": settings["config"]["seed"], "train_config": settings["config"],
        "classes": list(ps.classes), "n_splits": len(ps.splits), "n_splits_done": n_done,
        "complete": n_done == len(ps.splits),
        "folds": fold_rows,
        "accuracy_mean": mean_acc, "accuracy_std": float(accs.std()) if n_done else None,
        "accuracy": pooled, "round_means": round_means,
        "accuracy_round_std": float(np.std(round_means)) if round_means else None,
        "accuracy_text": f"{_fmt(mean_acc, synthetic)} mean over {n_done} split(s)",
        "chance": 1.0 / k,
        # is the accuracy above chance at all? (first round only, so that the trials are independent)
        "chance_test": dict(chance_test(first_round_hits[0], first_round_hits[1], 1.0 / k), scope="first round"),
        "per_class_accuracy": {c: (None if np.isnan(v) else float(v)) for c, v in zip(ps.classes, pca)},
        "per_class_accuracy_text": {c: _fmt(None if np.isnan(v) else float(v), synthetic)
                                    for c, v in zip(ps.classes, pca)},
        "confusion": cm_total.tolist(),
        "confusion_row_normalised_mean": mean_row_normalised(cms).tolist() if cms else None,
        "timings": timings,
    }
    write_results(out, results)
    with open(out / PREDICTIONS_FILE, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["round", "fold", "path", "subject", "dataset", "y_true", "y_pred",
                    *[f"p_{c}" for c in ps.classes], "synthetic"])
        w.writerows(pred_rows)
    return results
