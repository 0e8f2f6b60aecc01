"""Library functions behind ``ferbench train`` and ``ferbench evaluate``.

``train`` writes ``<out_dir>/<model>__<protocol>__seed<seed>/`` (layout: :mod:`ferbench.eval.runner`).
``evaluate`` re-runs the saved final-epoch checkpoints on a dataset folder (the recorded one by
default) and writes ``evaluation.json`` beside results.json.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ferbench.errors import DatasetError, FerbenchError
from ferbench.eval.results import FoldModel

__all__ = ["train", "evaluate", "results_folder_name", "load_fold_model", "FoldModel", "linear_probe"]


def results_folder_name(model_name: str, protocol: str, seed: int) -> str:
    """``<model>__<protocol>__seed<seed>`` with path separators removed."""
    safe = str(model_name).replace(os.sep, "_").replace(":", "_")
    return f"{safe}__{protocol}__seed{int(seed)}"


def _index(data_dir):
    from ferbench.io.dataset import index_dataset

    return index_dataset(data_dir)


def train(model_name: str | Callable, protocol: str, data_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
          epochs: int | None = None, batch_size: int | None = None, lr: float | None = None, folds: int | None = None,
          rounds: int = 1, seed: int = 0, size: int | None = None, device: str | None = None, executor: Any = None,
          progress: bool = True, max_subjects: int | None = None, optimizer: str | None = None,
          scheduler: str | None = None, model_options: dict[str, Any] | None = None, workers: int | None = None,
          map_fn: Callable | None = None, cache_dir: str | os.PathLike | None = None,
          save_features: bool = False, stop_after_epoch: int | None = None, index=None,
          max_splits: int | None = None, recalibrate_bn: bool | None = None,
          dask_scheduler: str | None = None) -> Path:
    """Train ``model_name`` under a subject-independent protocol and write a results folder.

    Parameters
    ----------
    model_name
        A name from ``ferbench.models.list_models()`` (or a module-level factory).
    protocol
        A name from :func:`ferbench.eval.protocols.list_protocols`.
    data_dir
        BU-3DFE / Bosphorus folder (synthetic or real).
    out_dir
        Parent folder; the run goes to ``out_dir/<model>__<protocol>__seed<seed>``.
    epochs, batch_size, lr, optimizer, scheduler
        Override the paper's preset (:data:`ferbench.eval.training.PRESETS`); None keeps it.
    folds, rounds, seed, max_subjects
        Protocol settings (:func:`ferbench.eval.protocols.make_splits`).
    size
        Input side (default: the model's).
    device, executor, workers, progress, map_fn, cache_dir, save_features, stop_after_epoch
        See :func:`ferbench.eval.runner.run_protocol`.
    index
        An already built DatasetIndex (skips indexing ``data_dir``).
    max_splits
        Train only the first ``max_splits`` splits (round 0 first): a quick look at a protocol; the
        results record how many of how many splits were run.
    recalibrate_bn
        Override the preset's precise-BatchNorm recalibration after the last epoch.
    dask_scheduler
        Address of a running Dask scheduler (``tcp://host:8786``): every split is a task on its
        workers (instead of ``workers`` local processes). Data, ``out_dir`` and the cache must be on
        a file system every worker mounts.

    Returns
    -------
    pathlib.Path
        The results folder.
    """
    from ferbench.eval.protocols import make_splits
    from ferbench.eval.runner import _model_facts, run_protocol
    from ferbench.eval.training import config_for

    _check_train_settings(epochs=epochs, batch_size=batch_size, lr=lr, folds=folds, rounds=rounds, seed=seed,
                          size=size, max_subjects=max_subjects, max_splits=max_splits, workers=workers,
                          stop_after_epoch=stop_after_epoch, device=device)
    from ferbench.eval.data import exclude_unusable

    idx = index if index is not None else _index(data_dir)
    ps = make_splits(protocol, idx, folds=folds, rounds=rounds, seed=seed, max_subjects=max_subjects)
    if isinstance(model_name, str):  # a registered name's inputs come from its settings: nothing built
        inputs, paper = _model_inputs(model_name, size, model_options), None
    else:  # a factory is built once here for its inputs and paper
        _, inputs, _, paper = _model_facts(model_name, ps.n_classes, size, dict(model_options or {}))
    # scans that cannot give this model's inputs (texture maps without texture) leave before splitting
    candidates = _protocol_candidates(protocol, idx)
    kept, excluded = exclude_unusable(candidates, inputs, ps.modality)
    if excluded:
        if len(excluded) == len(candidates.records):
            raise DatasetError(f"{data_dir or 'dataset'}: no scan usable by protocol {protocol} can give the "
                               f"model's inputs ({excluded[0]['path']}: {excluded[0]['reason']})")
        # the protocol's candidates less the excluded: the same splits as the whole index less them
        ps = make_splits(protocol, kept, folds=folds, rounds=rounds, seed=seed, max_subjects=max_subjects)
        ps.meta["excluded"] = excluded
    if max_splits is not None:
        if max_splits < 1:
            raise FerbenchError(f"max_splits must be >= 1, got {max_splits}")
        ps.meta["splits_run"] = f"first {min(max_splits, len(ps.splits))} of {len(ps.splits)}"
        ps.splits = ps.splits[:max_splits]
    if isinstance(model_name, str):  # the paper (training preset) comes from the model's settings: nothing built
        from ferbench.models import check_options, model_cfg

        try:
            paper = model_cfg(model_name).paper
        except KeyError as e:
            raise FerbenchError(str(e).strip("'\"")) from None
        check_options(model_name, dict(model_options or {}))
    cfg = config_for(paper, epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, scheduler=scheduler,
                     seed=seed, recalibrate_bn=recalibrate_bn)
    name = model_name if isinstance(model_name, str) else getattr(model_name, "__name__", "model")
    out = Path(out_dir) / results_folder_name(name, protocol, seed)
    kw = dict(model_options=model_options, size=size, device=device, workers=workers, progress=progress,
              map_fn=map_fn, cache_dir=cache_dir, stop_after_epoch=stop_after_epoch, save_features=save_features,
              data_dir=str(Path(data_dir).resolve()) if data_dir is not None else None)
    if dask_scheduler is None:
        return run_protocol(model_name, ps, out, cfg, executor=executor, **kw)
    if executor is not None or workers is not None:
        raise FerbenchError("give either a Dask scheduler or local workers / an executor, not both")
    from ferbench.eval.runner import dask_client

    with dask_client(dask_scheduler) as client:
        return run_protocol(model_name, ps, out, cfg, executor=client, **kw)


def _model_inputs(model_name: str, size: int | None, model_options: dict[str, Any] | None):
    """``model.inputs`` of a registered name, from its settings (nothing built)."""
    from ferbench.models import model_cfg

    try:
        return model_cfg(model_name, size, **dict(model_options or {})).inputs
    except KeyError as e:
        raise FerbenchError(str(e).strip("'\"")) from None


def _protocol_candidates(protocol: str, index):
    """The records a protocol may use (any subject it could select), as an index."""
    from ferbench.eval.protocols import _candidates, get_protocol

    return type(index)(_candidates(get_protocol(protocol), index), root=getattr(index, "root", None))


def _check_train_settings(*, epochs, batch_size, lr, folds, rounds, seed, size, max_subjects, max_splits, workers,
                          stop_after_epoch, device) -> None:
    """Refuse nonsense settings before any data are indexed or a model is built (one-line SettingError)."""
    from ferbench._checks import MAP_SIZE_MAX, SEED_MAX, check_float, check_int

    check_int("epochs", epochs, 1, 100_000, allow_none=True)
    check_int("batch_size", batch_size, 1, 1_000_000, allow_none=True)
    check_float("lr", lr, 0.0, 10.0, lo_open=True, allow_none=True)
    check_int("folds", folds, 2, 1000, allow_none=True)
    check_int("rounds", rounds, 1, 1000)
    check_int("seed", seed, 0, SEED_MAX)
    check_int("size", size, 16, MAP_SIZE_MAX, allow_none=True)
    check_int("max_subjects", max_subjects, 2, allow_none=True)
    check_int("max_splits", max_splits, 1, allow_none=True)
    check_int("workers", workers, 0, 1024, allow_none=True)
    check_int("stop_after_epoch", stop_after_epoch, 1, allow_none=True)
    if device is not None:
        from ferbench._device import default_device

        default_device(device)


def load_fold_model(results: str | os.PathLike, fold: int = 0, round: int = 0, device: str | None = None, *,
                    factory: Callable | None = None) -> FoldModel:
    """Load one trained fold of a results folder: ``open_run(results).load_fold_model(fold, round, ...)``.

    See :meth:`ferbench.eval.results.Run.load_fold_model` (``fold`` and ``round`` are 0-based; ``factory``
    for a model of your own; a checkpoint naming a model outside the registry is refused).
    """
    from ferbench.eval.results import open_run

    return open_run(results).load_fold_model(fold, round, device, factory=factory)


def evaluate(results: str | os.PathLike, data_dir: str | os.PathLike | None = None, *, device: str | None = None,
             progress: bool = True, batch_size: int = 64, map_fn: Callable | None = None,
             cache_dir: str | os.PathLike | None = None, factory: Callable | None = None) -> dict[str, Any]:
    """Evaluate a results folder (every split's final checkpoint on its test subjects) or one checkpoint.

    Parameters
    ----------
    results
        A results folder written by :func:`train`, or a ``checkpoints/*.pt`` file.
    data_dir
        Dataset folder; default: the one recorded in results.json. The protocol is re-applied
        to it with the recorded settings, so the test subjects are the same if the data are.
        For a lone checkpoint (no results folder around it) every usable record is a test sample.
    device, progress, batch_size, map_fn, cache_dir
        As for training (the map cache defaults to the results folder's). A run trained with a map
        function of your own needs it passed again as ``map_fn``.
    factory
        Your own model factory, for runs trained with one (checkpoints only name registered models).

    Returns
    -------
    dict
        In the results schema (:mod:`ferbench.eval.results`): ``accuracy`` (pooled), ``accuracy_mean``
        (over splits), ``folds`` (``round``, ``fold``, ``n_test``, ``accuracy``, ``checkpoint_epoch``),
        ``per_class_accuracy``, ``confusion`` (counts), ``n``, ``label`` ("synthetic"/"real"), ``init_note``,
        ``model``, ``protocol``. Also written to ``evaluation.json`` in the results folder.
    """
    from ferbench.eval.data import InputSet, MapCache, record_to_dict
    from ferbench.eval.metrics import summarise
    from ferbench.eval.protocols import make_splits
    from ferbench.eval.results import (SCHEMA_VERSION, CHECKPOINTS_DIR, Run, is_run, model_from_checkpoint,
                                       resolve_map_fn)
    from ferbench.eval.training import load_checkpoint, predict
    from ferbench.views.labels import title_label

    p = Path(results)
    if p.is_dir():
        folder, ckpts = p, None
    elif p.is_file():
        folder = p.parent.parent if p.parent.name == CHECKPOINTS_DIR else None
        ckpts = [p]
    else:
        raise FerbenchError(f"{p}: no such results folder or checkpoint")
    ck_first = None                      # a lone checkpoint, read once
    run = Run(folder) if folder is not None and is_run(folder) else None
    if run is not None and not (run.has_results() and run.settings_path.is_file()):
        run = None
    if run is None and ckpts is None:
        from ferbench.eval.results import open_run

        open_run(p)  # a root of several runs: says which to pick
        raise FerbenchError(f"{p}: not a ferbench results folder (no results.json / run.json)")
    res_json = run.results if run is not None else None
    if data_dir is None:
        data_dir = res_json.get("data_dir") if res_json else None
        if not data_dir:
            raise DatasetError(f"{p}: no dataset folder recorded; pass data_dir")
    idx = _index(data_dir)

    if run is not None:
        meta = res_json["protocol_meta"]
        if meta.get("excluded") and run.settings.get("inputs"):
            # the scans training left out (no texture for a texture map) leave again, so the splits match
            from ferbench.eval.data import exclude_unusable

            proto = res_json["protocol"].split("+")[0]
            idx, _ = exclude_unusable(_protocol_candidates(proto, idx), run.settings["inputs"],
                                      run.settings.get("modality", "3d"), warn=False)
        ps = make_splits(res_json["protocol"].split("+")[0], idx, folds=meta.get("n_folds"),
                         rounds=int(meta.get("rounds", 1)), seed=int(meta.get("seed", 0)),
                         max_subjects=meta.get("max_subjects"))
        if res_json.get("leaky"):
            raise FerbenchError(f"{folder}: a leaky sample-level run; evaluate it with run_protocol's outputs")
        pairs = [(s, run.checkpoint_path(s.fold, s.round)) for s in ps.splits]
        if ckpts is not None:
            pairs = [(s, c) for s, c in pairs if c.resolve() == ckpts[0].resolve()]
        modality, n_classes, classes = ps.modality, ps.n_classes, ps.classes
        map_fn = map_fn if map_fn is not None else resolve_map_fn(run.settings.get("map_fn"))
        cache_dir = cache_dir or run.cache_dir
    else:
        from ferbench.labels import EXPRESSIONS, label_index

        recs = [r for r in idx.records if r.expression in EXPRESSIONS]
        ck_first = _try_load_checkpoint(ckpts[0])  # read once: also the one the loop below evaluates
        ck_inputs = _checkpoint_inputs(ck_first, ckpts[0])
        if ck_inputs:       # scans that cannot give the model's inputs (texture maps without texture)
            from ferbench.eval.data import exclude_unusable

            recs = exclude_unusable(type(idx)(recs, root=getattr(idx, "root", None)), ck_inputs)[0].records
        if not recs:
            raise DatasetError(f"{data_dir}: no labelled expression scans to evaluate on")
        from ferbench.eval.protocols import ProtocolSplits, Split

        ps = ProtocolSplits("all_records", recs, np.array([label_index(r.expression) for r in recs]), EXPRESSIONS,
                            [Split(0, 0, np.zeros(0, np.int64), np.arange(len(recs)))], "3d", {})
        pairs = [(ps.splits[0], ckpts[0])]
        modality, n_classes, classes = "3d", len(EXPRESSIONS), EXPRESSIONS
        cache_dir = cache_dir or ckpts[0].parent / "cache"
    records = [record_to_dict(r) for r in ps.records]
    t_all, p_all, folds = [], [], []
    init_note, model_id = "", None
    for s, ckp in pairs:
        if not ckp.is_file():
            continue
        ck = ck_first if ck_first is not None and ckp is ckpts[0] else load_checkpoint(ckp)
        model, meta_ck = model_from_checkpoint(ck, ckp, factory)
        init_note, model_id = getattr(model, "init_note", ""), meta_ck.get("model")
        cache = MapCache(cache_dir, tuple(map(tuple, meta_ck["inputs"])), int(meta_ck["size"]), modality, map_fn)
        te = s.test.tolist()
        data = InputSet([records[i] for i in te], ps.labels[te], cache)
        pr = predict(model, data, batch_size=batch_size, device=device, progress=progress)
        y = ps.labels[te]
        t_all.append(y)
        p_all.append(pr["pred"])
        folds.append({"round": s.round, "fold": s.fold, "n_test": len(te),
                      "accuracy": float(np.mean(pr["pred"] == y)), "checkpoint_epoch": int(ck["epoch"])})
    if not folds:
        raise FerbenchError(f"{p}: no checkpoints to evaluate")
    summ = summarise(np.concatenate(t_all), np.concatenate(p_all), n_classes)
    synthetic = any(r.synthetic for r in ps.records)
    out = {"schema": SCHEMA_VERSION, "label": "synthetic" if synthetic else "real", "synthetic": synthetic,
           "model": model_id, "protocol": ps.protocol, "init_note": init_note, "data_dir": str(data_dir),
           "accuracy": summ["accuracy"], "accuracy_mean": float(np.mean([f["accuracy"] for f in folds])),
           "n": summ["n"], "folds": folds,
           "per_class_accuracy": dict(zip(classes, summ["per_class_accuracy"])),
           "confusion": summ["confusion"], "classes": list(classes)}
    out["accuracy_text"] = title_label(f"{100 * out['accuracy']:.2f} %", synthetic)
    if run is not None:
        run.write_evaluation(out)
    return out


def _try_load_checkpoint(path) -> dict[str, Any] | None:
    """A checkpoint read by :func:`~ferbench.eval.training.load_checkpoint`, or None when it cannot be (the
    evaluation loop reads it again and says why)."""
    from ferbench.eval.training import load_checkpoint

    try:
        return load_checkpoint(path)
    except (FerbenchError, OSError, ValueError):
        return None


def _checkpoint_inputs(ck: dict[str, Any] | None, path) -> list | None:
    """The ``inputs`` a checkpoint's metadata names (None when it says nothing readable)."""
    from ferbench.eval.results import _checkpoint_meta

    if ck is None:
        return None
    try:
        inputs = _checkpoint_meta(ck, path).get("inputs")
    except FerbenchError:
        return None
    return inputs if isinstance(inputs, list) else None


def linear_probe(results: str | os.PathLike, fold: int = 0, round: int = 0, *, C: float = 0.1,
                 max_pixels: int = 4096) -> dict[str, Any]:
    """A baseline for a trained fold: logistic regression on the fold's raw model inputs.

    The same train / test subjects and the same cached maps as the network's fold; each input
    channel is block-averaged down to at most ``max_pixels`` pixels, standardised, and fed to an
    L2-regularised multinomial logistic regression: a reference for what a linear read-out of the same
    inputs reaches on the same held-out subjects (on a few hundred synthetic scans it is often ahead of
    a deep network trained from random initialisation, which is the point of showing it).

    Parameters
    ----------
    results, fold, round
        A results folder written by :func:`train` and the split (0-based).
    C
        Inverse regularisation strength of ``sklearn.linear_model.LogisticRegression``.
    max_pixels
        Pixels kept per channel (block averaging by an integer factor).

    Returns
    -------
    dict
        ``accuracy`` (held-out), ``n_train``, ``n_test``, ``n_features``, ``chance_test``
        (see :func:`ferbench.eval.metrics.chance_test`).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from ferbench.eval.metrics import chance_test

    fm = load_fold_model(results, fold, round, device="cpu")
    k = int(fm.model.n_classes)
    xtr, ytr = fm.inputs(fm.train)
    xte, yte = fm.inputs(fm.test)
    if len(ytr) == 0 or len(yte) == 0 or len(set(ytr.tolist())) < 2:
        raise FerbenchError(f"{results}: fold {fold} has too few training classes or test samples for a probe")
    size = xtr.shape[-1]
    f = 1
    while (size // f) ** 2 > max_pixels:
        f += 1

    def flat(x):
        x = x.numpy()
        s = (x.shape[-1] // f) * f
        x = x[..., :s, :s].reshape(x.shape[0], x.shape[1], s // f, f, s // f, f).mean(axis=(3, 5))
        return np.nan_to_num(x.reshape(len(x), -1))

    a, b = flat(xtr), flat(xte)
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=3000)).fit(a, ytr)
    pred = clf.predict(b)
    hits = int(np.sum(pred == yte))
    return {"accuracy": hits / len(yte), "n_train": int(len(ytr)), "n_test": int(len(yte)),
            "n_features": int(a.shape[1]), "chance_test": chance_test(hits, len(yte), 1.0 / k)}
