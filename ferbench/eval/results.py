"""A results folder written by ``ferbench train`` / ``ferbench demo``, as one object.

This module is the only code that knows the layout of a results folder (see :mod:`ferbench.eval.runner`
for what each file holds) and the only one that opens ``results.json``, ``splits.json`` and
``evaluation.json``:

>>> from ferbench.eval.results import open_run, list_runs     # doctest: +SKIP
>>> run = open_run("ferbench_output/results/dfcnn__P-I__seed0")  # doctest: +SKIP
>>> run.summary().text                                          # doctest: +SKIP
'pooled accuracy 41.67 % (synthetic) on 24 held-out scans (...)'
>>> fm = run.load_fold_model(0)                                 # doctest: +SKIP

Conventions
-----------
* Folds and rounds are **0-based indices in code** (``run.fold(0)``, ``run.load_fold_model(fold=0)``) and
  **1-based labels for people** (:attr:`Fold.label` is ``"fold 1"``).
* One schema (:data:`SCHEMA_VERSION`) for ``results.json`` and ``evaluation.json``: ``accuracy`` is the
  pooled accuracy, ``accuracy_mean`` the mean over splits, ``folds`` one row per split (``round``, ``fold``,
  ``n_test``, ``accuracy``), ``per_class_accuracy`` a dict; every accuracy is a fraction in [0, 1].
  :func:`normalise_results` reads older folders (``accuracy_pooled``, ``per_fold`` with ``n``).
* A checkpoint may only name a model of the registry (:func:`ferbench.models.list_models`); a model of
  your own is passed in code (``run.load_fold_model(0, factory=my_factory)``), never imported from a name
  read from a file.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ferbench.errors import FerbenchError

__all__ = ["SCHEMA_VERSION", "RESULTS_FILE", "SPLITS_FILE", "EVALUATION_FILE", "SETTINGS_FILE", "ResultsError",
           "split_name", "checkpoint_name", "normalise_results", "write_json", "write_results", "write_splits",
           "read_results_file", "summary_text", "resolve_map_fn",
           "model_from_checkpoint", "Fold", "HeldOutScan", "RunSummary", "FoldModel", "Run", "open_run",
           "list_runs", "is_run"]

SCHEMA_VERSION = 2
"""Version of the results.json / evaluation.json schema written by this module (1: before ``accuracy``
meant the pooled accuracy and evaluation.json's splits were called ``per_fold``)."""

RESULTS_FILE = "results.json"
SPLITS_FILE = "splits.json"
EVALUATION_FILE = "evaluation.json"
SETTINGS_FILE = "run.json"
PREDICTIONS_FILE = "predictions.csv"
CHECKPOINTS_DIR = "checkpoints"
FOLDS_DIR = "folds"
CACHE_DIR = "cache"


class ResultsError(FerbenchError, ValueError):
    """A results folder is missing, damaged, ambiguous or lacks the asked-for fold."""


# --------------------------------------------------------------------------- names
def split_name(round: int, fold: int) -> str:
    """``"r{round:02d}_f{fold:02d}"`` (0-based): the stem of a split's checkpoint, fold file and features."""
    return f"r{int(round):02d}_f{int(fold):02d}"


def checkpoint_name(round: int, fold: int) -> str:
    """File name of a split's checkpoint inside ``checkpoints/``, e.g. ``"r00_f01.pt"``."""
    return split_name(round, fold) + ".pt"


def fold_file_name(round: int, fold: int) -> str:
    """File name of a finished split inside ``folds/``, e.g. ``"r00_f01.json"``."""
    return split_name(round, fold) + ".json"


def features_file_name(round: int, fold: int) -> str:
    """File name of a split's saved test embeddings, e.g. ``"features_r00_f01.npy"``."""
    return f"features_{split_name(round, fold)}.npy"


# --------------------------------------------------------------------------- schema
def normalise_results(data: dict[str, Any]) -> dict[str, Any]:
    """A results.json / evaluation.json dict in the current schema (a copy; old folders keep opening).

    * ``accuracy``: pooled accuracy (old results.json: ``accuracy_pooled``);
    * ``folds``: rows with ``round``, ``fold``, ``n_test``, ``accuracy`` (old evaluation.json: ``per_fold``
      with ``n``);
    * accuracies are fractions in [0, 1] (values written in percent by hand are divided by 100).
    """
    d = dict(data)
    if "accuracy_pooled" in d:
        d["accuracy"] = d.pop("accuracy_pooled")
    if "folds" not in d and isinstance(d.get("per_fold"), list):
        d["folds"] = d.pop("per_fold")
    d.pop("per_fold", None)
    folds = []
    for f in d.get("folds") or []:
        f = dict(f)
        if "n_test" not in f and "n" in f:
            f["n_test"] = f.pop("n")
        folds.append(f)
    d["folds"] = folds
    pc = d.get("per_class_accuracy")
    if isinstance(pc, dict):
        vals = [v for v in pc.values() if isinstance(v, (int, float)) and np.isfinite(v)]
        if vals and max(vals) > 1.0:          # percent, from an old or hand-written file
            d["per_class_accuracy"] = {k: (None if v is None else float(v) / 100.0) for k, v in pc.items()}
    for key in ("accuracy", "accuracy_mean"):
        v = d.get(key)
        if isinstance(v, (int, float)) and v > 1.0:
            d[key] = float(v) / 100.0
    d["schema"] = SCHEMA_VERSION
    return d


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write JSON atomically (temporary file, then rename) so a reader never sees half a file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def write_results(folder: str | os.PathLike, data: dict[str, Any]) -> Path:
    """Write ``folder/results.json`` (current schema) atomically; returns the file.

    ``excluded`` (the scans left out before splitting because they cannot give the model's inputs, each
    ``{"path", "subject", "expression", "reason"}``) is always written: from ``data`` or, as
    :func:`ferbench.eval.commands.train` records it, from ``protocol_meta["excluded"]``; empty when none.
    """
    f = Path(folder) / RESULTS_FILE
    excluded = data.get("excluded")
    if excluded is None:
        excluded = (data.get("protocol_meta") or {}).get("excluded") or []
    write_json(f, dict(data, schema=SCHEMA_VERSION, excluded=list(excluded)))
    return f


def write_splits(folder: str | os.PathLike, data: dict[str, Any]) -> Path:
    """Write ``folder/splits.json`` (:meth:`ferbench.eval.protocols.ProtocolSplits.to_json`) atomically."""
    f = Path(folder) / SPLITS_FILE
    write_json(f, data)
    return f


def _read_json(path: Path, what: str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        raise ResultsError(f"{path}: no {what} (not a ferbench results folder, or no split finished)") from None
    except (OSError, ValueError) as e:
        raise ResultsError(f"{path}: unreadable {what} ({type(e).__name__}: {str(e).splitlines()[0]})") from None


def read_results_file(path: str | os.PathLike) -> dict[str, Any]:
    """results.json (or evaluation.json) of a folder, or the file itself, in the current schema.

    Raises
    ------
    ResultsError
        Missing, unreadable or not a JSON object, naming the file.
    """
    p = Path(path)
    f = p / RESULTS_FILE if p.is_dir() or not p.suffix else p
    data = _read_json(f, f.name)
    if not isinstance(data, dict):
        raise ResultsError(f"{f}: {f.name} must hold an object")
    data = normalise_results(data)
    data.setdefault("_path", str(f))
    return data


# --------------------------------------------------------------------------- checkpoints -> models
def _checkpoint_meta(ck: dict[str, Any], path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of a checkpoint read by :func:`ferbench.eval.training.load_checkpoint` (its ``meta_json``).

    Raises
    ------
    ferbench.eval.training.CheckpointError
        The metadata is not a JSON object (``path`` names the file in the message).
    """
    from ferbench.eval.training import CheckpointError

    try:
        meta = json.loads(ck.get("meta_json", "{}") or "{}")
    except ValueError:
        raise CheckpointError(f"{path}: checkpoint metadata is not JSON") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: checkpoint metadata is not an object")
    return meta


def model_from_checkpoint(ck: dict[str, Any], path: str | os.PathLike, factory: Callable | None = None):
    """Build the model a checkpoint describes and load its weights.

    Parameters
    ----------
    ck
        A checkpoint read by :func:`ferbench.eval.training.load_checkpoint`.
    path
        Its file (for messages).
    factory
        A model factory of your own (``factory(n_classes=, input_size=, **options)``), for runs trained with
        one. Without it the checkpoint must name a registered model.

    Returns
    -------
    (model, meta)

    Raises
    ------
    ferbench.eval.training.CheckpointError
        No model name, a name outside the registry (nothing is imported or called), or weights that do not
        fit.
    """
    from ferbench.eval.runner import build_model
    from ferbench.eval.training import CheckpointError
    from ferbench.models import list_models

    meta = _checkpoint_meta(ck, path)
    name = meta.get("model")
    if not name or not isinstance(name, str):
        raise CheckpointError(f"{path}: checkpoint does not say which model it holds")
    if factory is None and name not in list_models():
        # never import a "module:qualname" read from a file: a downloaded checkpoint could run any code
        raise CheckpointError(f"{path}: checkpoint names model {name[:80]!r}, which is not a registered ferbench "
                              "model; pass factory= to load a model of your own")
    try:
        n_classes, size = int(meta["n_classes"]), int(meta["size"])
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(f"{path}: checkpoint metadata lacks n_classes / size") from None
    options = meta.get("model_options") or {}
    if not isinstance(options, dict):
        raise CheckpointError(f"{path}: checkpoint model_options is not an object")
    model = build_model(factory if factory is not None else name, n_classes, size, options)
    try:
        model.load_state_dict(ck["model"])
    except RuntimeError as e:
        raise CheckpointError(f"{path}: weights do not fit the model: {str(e).splitlines()[0]}") from None
    return model, meta


def resolve_map_fn(name: str | None) -> Callable | None:
    """A map function named in run.json: only ferbench's own are imported (a name read from a file must not
    import arbitrary code); pass your own in code as ``map_fn``."""
    if not name:
        return None
    import importlib

    mod, _, qual = str(name).rpartition(".")
    if not (mod == "ferbench" or mod.startswith("ferbench.")):
        raise FerbenchError(f"the run was trained with map function {str(name)[:80]}; pass it again as map_fn "
                            "(functions named in results are not imported)")
    try:
        fn = getattr(importlib.import_module(mod), qual)
    except (ImportError, AttributeError):
        raise FerbenchError(f"map function {name} recorded in the results cannot be imported") from None
    # only a function ferbench defines itself: not a name a ferbench module merely imported (shutil.rmtree, ...)
    if not callable(fn) or not str(getattr(fn, "__module__", "")).startswith("ferbench"):
        raise FerbenchError(f"the run names map function {str(name)[:80]}, which is not one of ferbench's; "
                            "pass it again as map_fn")
    return fn


# --------------------------------------------------------------------------- value types
@dataclass(frozen=True)
class Fold:
    """One split of a run.

    Attributes
    ----------
    round, index
        0-based round and fold (use these in code).
    n_train, n_test
        Training and held-out scans.
    test_subjects
        Held-out subjects.
    accuracy
        Held-out accuracy (fraction), None when the split has not finished.
    checkpoint
        The split's final checkpoint file (may not exist yet).
    """

    round: int
    index: int
    n_train: int
    n_test: int
    test_subjects: tuple[str, ...]
    accuracy: float | None
    checkpoint: Path

    @property
    def number(self) -> int:
        """1-based fold number, for people."""
        return self.index + 1

    @property
    def label(self) -> str:
        """``"fold 1"`` (round 0) or ``"round 2 fold 1"``: 1-based, for people."""
        return f"fold {self.number}" if self.round == 0 else f"round {self.round + 1} fold {self.number}"

    @property
    def name(self) -> str:
        """File stem ``"r00_f00"`` (see :func:`split_name`)."""
        return split_name(self.round, self.index)


@dataclass(frozen=True)
class HeldOutScan:
    """One held-out scan of a fold.

    Attributes
    ----------
    position
        0-based position among the fold's held-out scans (record order).
    record_index
        Index into :attr:`Run.records`.
    path, subject, expression, intensity, dataset
        From the dataset index.
    label, class_name
        Class index and name.
    synthetic
        True for generated data.
    """

    position: int
    record_index: int
    path: str
    subject: str
    expression: str
    intensity: Any
    dataset: str
    label: int
    class_name: str
    synthetic: bool

    @property
    def title(self) -> str:
        """File name plus ``" (synthetic)"`` for generated data."""
        from ferbench.views.labels import title_label

        return title_label(os.path.basename(self.path), synthetic=self.synthetic)


@dataclass(frozen=True)
class RunSummary:
    """Headline numbers of a run.

    Attributes
    ----------
    accuracy
        Pooled held-out accuracy (fraction; None when nothing finished).
    accuracy_mean
        Mean accuracy over finished splits.
    n
        Held-out scans of the chance test (first round: each scan once).
    ci95
        Wilson 95 % interval of the first-round accuracy.
    p_value
        One-sided binomial p of the first-round accuracy against chance.
    chance
        1 / number of classes.
    synthetic
        True for synthetic data.
    complete
        Every split finished.
    text
        One line (as ``ferbench train`` prints).
    """

    accuracy: float | None
    accuracy_mean: float | None
    n: int
    ci95: tuple[float, float]
    p_value: float
    chance: float
    synthetic: bool
    complete: bool
    text: str


@dataclass
class FoldModel:
    """A trained fold loaded from a results folder (see :meth:`Run.load_fold_model`).

    Attributes
    ----------
    model
        The network in eval mode, on the requested device.
    meta
        The checkpoint's metadata (model name, options, size, inputs, ...).
    records
        Every record of the protocol (dicts, as in ``splits.json``).
    labels
        Class index of every record.
    train, test
        Record indices of this fold's training and held-out subjects.
    size, modality
        Map side in pixels and ``"3d"`` / ``"2d"``.
    cache_dir
        The run's map cache (inputs are read from it, computed on a miss).
    classes
        Class names in label order.
    fold, round
        0-based split.
    map_fn
        The run's map function (None: ferbench's default maps).
    """

    model: Any
    meta: dict[str, Any]
    records: list[dict[str, Any]]
    labels: np.ndarray
    train: list[int]
    test: list[int]
    size: int
    modality: str
    cache_dir: Path
    classes: list[str] = field(default_factory=list)
    fold: int = 0
    round: int = 0
    map_fn: Callable | None = None

    def inputs(self, indices) -> tuple[Any, np.ndarray]:
        """Stacked model inputs (a CPU float tensor, N x C x H x W) and labels of the given record indices."""
        import torch

        from ferbench.eval.data import MapCache

        cache = MapCache(self.cache_dir, self.model.inputs, self.size, self.modality, self.map_fn)
        idx = [int(i) for i in indices]
        x = np.stack([cache.get(self.records[i]) for i in idx]) if idx else np.zeros(
            (0, sum(c for _, c in self.model.inputs), self.size, self.size), np.float32)
        return torch.from_numpy(x), self.labels[idx]


# --------------------------------------------------------------------------- the run
class Run:
    """A results folder (``<model>__<protocol>__seed<seed>``) opened for reading.

    Files are read on first use and kept; a folder holding only ``results.json`` opens too (everything
    that needs ``splits.json`` or checkpoints then raises :class:`ResultsError`).

    Parameters
    ----------
    path
        The folder. Prefer :func:`open_run`, which also explains what to do with a root of several runs.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._results: dict[str, Any] | None = None
        self._splits: dict[str, Any] | None = None
        self._settings: dict[str, Any] | None = None

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    # ------------------------------------------------------------ paths
    @property
    def name(self) -> str:
        """Folder name, e.g. ``"dfcnn__P-I__seed0"``."""
        return self.path.name

    @property
    def results_path(self) -> Path:
        return self.path / RESULTS_FILE

    @property
    def splits_path(self) -> Path:
        return self.path / SPLITS_FILE

    @property
    def evaluation_path(self) -> Path:
        return self.path / EVALUATION_FILE

    @property
    def settings_path(self) -> Path:
        return self.path / SETTINGS_FILE

    @property
    def predictions_path(self) -> Path:
        return self.path / PREDICTIONS_FILE

    @property
    def cache_dir(self) -> Path:
        return self.path / CACHE_DIR

    def checkpoint_path(self, fold: int = 0, round: int = 0) -> Path:
        """The final checkpoint of a split (0-based)."""
        return self.path / CHECKPOINTS_DIR / checkpoint_name(round, fold)

    def fold_path(self, fold: int = 0, round: int = 0) -> Path:
        """``folds/rXX_fYY.json`` of a split (0-based)."""
        return self.path / FOLDS_DIR / fold_file_name(round, fold)

    def features_path(self, fold: int = 0, round: int = 0) -> Path:
        """Saved test embeddings of a split (``save_features=True``)."""
        return self.path / features_file_name(round, fold)

    # ------------------------------------------------------------ files
    @property
    def results(self) -> dict[str, Any]:
        """results.json in the current schema (:func:`normalise_results`)."""
        if self._results is None:
            self._results = read_results_file(self.results_path)
        return self._results

    @property
    def splits(self) -> dict[str, Any]:
        """splits.json: ``records``, ``splits``, ``classes``, ``modality``, ``protocol``."""
        if self._splits is None:
            data = _read_json(self.splits_path, SPLITS_FILE)
            if not isinstance(data, dict) or not isinstance(data.get("splits"), list) \
                    or not isinstance(data.get("records"), list):
                raise ResultsError(f"{self.splits_path}: not a ferbench splits file")
            self._splits = data
        return self._splits

    @property
    def settings(self) -> dict[str, Any]:
        """run.json: the settings a resumed run must match (empty dict when absent)."""
        if self._settings is None:
            self._settings = _read_json(self.settings_path, SETTINGS_FILE) if self.settings_path.is_file() else {}
        return self._settings

    def evaluation(self) -> dict[str, Any] | None:
        """evaluation.json (written by ``ferbench evaluate``) in the current schema, or None."""
        return read_results_file(self.evaluation_path) if self.evaluation_path.is_file() else None

    def write_evaluation(self, data: dict[str, Any]) -> None:
        """Write evaluation.json (current schema)."""
        write_json(self.evaluation_path, dict(data, schema=SCHEMA_VERSION))

    def has_results(self) -> bool:
        return self.results_path.is_file()

    # ------------------------------------------------------------ facts
    def _get(self, key: str, default: Any = None) -> Any:
        if self.results_path.is_file():
            v = self.results.get(key)
            if v is not None:
                return v
        if self.splits_path.is_file() and key in ("classes", "protocol", "modality"):
            return self.splits.get(key, default)
        return self.settings.get(key, default) if self.settings_path.is_file() else default

    @property
    def model_name(self) -> str | None:
        return self._get("model")

    @property
    def protocol(self) -> str | None:
        return self._get("protocol")

    @property
    def paper(self) -> str | None:
        """Paper key of the model (``"dfcnn"``, ...), as recorded."""
        return self._get("paper") or None

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in (self._get("classes") or [])]

    @property
    def modality(self) -> str:
        return str(self._get("modality", "3d") or "3d")

    @property
    def synthetic(self) -> bool:
        """True when the run's data were synthetic."""
        v = self._get("synthetic")
        if v is not None:
            return bool(v)
        if self.splits_path.is_file():
            return any(bool(r.get("synthetic")) for r in self.splits["records"])
        return False

    @property
    def source(self) -> str:
        """``"synthetic"`` or ``"real"``."""
        return "synthetic" if self.synthetic else "real"

    @property
    def data_dir(self) -> str | None:
        return self._get("data_dir")

    @property
    def excluded(self) -> list[dict[str, Any]]:
        """Scans left out before splitting because they cannot give the model's inputs (e.g. a texture map of
        a scan without texture): ``[{"path", "subject", "expression", "reason"}, ...]``; empty when none."""
        if not self.results_path.is_file():
            return []
        res = self.results
        return list(res.get("excluded") or (res.get("protocol_meta") or {}).get("excluded") or [])

    @property
    def records(self) -> list[dict[str, Any]]:
        """Every record of the protocol (splits.json order)."""
        return self.splits["records"]

    @property
    def labels(self) -> np.ndarray:
        return np.asarray([int(r["label"]) for r in self.records], dtype=np.int64)

    # ------------------------------------------------------------ summary
    def summary(self) -> RunSummary:
        """Pooled accuracy, the chance test (Wilson CI, binomial p) and a one-line text."""
        from ferbench.eval.metrics import chance_test

        res = self.results
        k = max(1, len(res.get("classes") or []))
        chance = float(res.get("chance") or 1.0 / k)
        ct = res.get("chance_test")
        if not ct:  # old folders: the first round's fold rows are independent trials
            rows = [f for f in res.get("folds", []) if int(f.get("round", 0)) == 0 and f.get("accuracy") is not None]
            n = sum(int(f.get("n_test", 0)) for f in rows)
            hits = int(round(sum(float(f["accuracy"]) * int(f.get("n_test", 0)) for f in rows)))
            ct = chance_test(hits, n, chance) if n and 0 < chance < 1 else {"n": 0, "ci95": [np.nan, np.nan],
                                                                             "p_value": np.nan}
        return RunSummary(accuracy=res.get("accuracy"), accuracy_mean=res.get("accuracy_mean"), n=int(ct.get("n", 0)),
                          ci95=(float(ct["ci95"][0]), float(ct["ci95"][1])), p_value=float(ct["p_value"]),
                          chance=chance, synthetic=self.synthetic, complete=bool(res.get("complete", True)),
                          text=summary_text(res))

    # ------------------------------------------------------------ folds and scans
    def folds(self, round: int | None = None) -> list[Fold]:
        """Every split (of one round when ``round`` is given), in protocol order."""
        rows = {(int(f.get("round", 0)), int(f.get("fold", 0))): f
                for f in (self.results.get("folds", []) if self.results_path.is_file() else [])}
        out = []
        if self.splits_path.is_file():
            for s in self.splits["splits"]:
                r, f = int(s.get("round", 0)), int(s.get("fold", 0))
                if round is not None and r != int(round):
                    continue
                acc = rows.get((r, f), {}).get("accuracy")
                out.append(Fold(r, f, len(s["train"]), len(s["test"]), tuple(s.get("test_subjects", ())),
                                None if acc is None else float(acc), self.checkpoint_path(f, r)))
        else:
            for (r, f), row in sorted(rows.items()):
                if round is not None and r != int(round):
                    continue
                out.append(Fold(r, f, int(row.get("n_train", 0)), int(row.get("n_test", 0)),
                                tuple(row.get("test_subjects", ())), row.get("accuracy"), self.checkpoint_path(f, r)))
        return out

    def fold(self, fold: int = 0, round: int = 0) -> Fold:
        """One split (0-based)."""
        for f in self.folds(round):
            if f.index == int(fold):
                return f
        raise ResultsError(f"{self.path}: no fold {int(fold)} of round {int(round)} (0-based indices; "
                           f"the run has {len(self.folds(round))} fold(s) in that round)")

    def _split(self, fold: int, round: int) -> dict[str, Any]:
        for s in self.splits["splits"]:
            if int(s.get("round", 0)) == int(round) and int(s.get("fold", 0)) == int(fold):
                return s
        n = sum(1 for s in self.splits["splits"] if int(s.get("round", 0)) == int(round))
        raise ResultsError(f"{self.splits_path}: no fold {int(fold)} of round {int(round)} (0-based indices; "
                           f"the run has {n} fold(s) in that round)")

    def held_out(self, fold: int = 0, round: int = 0) -> list[HeldOutScan]:
        """The held-out scans of a split, in record order."""
        classes = self.classes
        out = []
        for pos, i in enumerate(self._split(fold, round)["test"]):
            r = self.records[int(i)]
            lab = int(r["label"])
            out.append(HeldOutScan(position=pos, record_index=int(i), path=str(r.get("path", "")),
                                   subject=str(r.get("subject", "")), expression=str(r.get("expression", "")),
                                   intensity=r.get("intensity"), dataset=str(r.get("dataset", "")), label=lab,
                                   class_name=classes[lab] if lab < len(classes) else str(lab),
                                   synthetic=bool(r.get("synthetic", False))))
        return out

    # ------------------------------------------------------------ models
    def load_fold_model(self, fold: int = 0, round: int = 0, device: str | None = None, *,
                        factory: Callable | None = None, map_fn: Callable | None = None) -> FoldModel:
        """Load the final checkpoint of one split (0-based).

        Parameters
        ----------
        fold, round
            The split.
        device
            Torch device (default: CUDA when present, else CPU).
        factory
            Your own model factory for runs trained with one (never imported from the checkpoint).
        map_fn
            The map function the run was trained with, when it is your own (ferbench's are found from run.json).

        Raises
        ------
        ResultsError
            No splits.json or no such split.
        ferbench.eval.training.CheckpointError
            No checkpoint, a damaged one, or one naming a model outside the registry (without ``factory``).
        """
        from ferbench._device import default_device
        from ferbench.eval.training import CheckpointError, load_checkpoint

        split = self._split(fold, round)
        ck_path = self.checkpoint_path(fold, round)
        if not ck_path.is_file():
            raise CheckpointError(f"{self.path}: fold {int(fold)} of round {int(round)} (0-based) has no checkpoint "
                                  f"({ck_path.name})")
        model, meta = model_from_checkpoint(load_checkpoint(ck_path), ck_path, factory)
        model.eval().to(default_device(device))
        records = self.records
        return FoldModel(model=model, meta=meta, records=records, labels=self.labels, train=list(split["train"]),
                         test=list(split["test"]), size=int(meta["size"]), modality=self.modality,
                         cache_dir=self.cache_dir, classes=self.classes, fold=int(fold), round=int(round),
                         map_fn=map_fn if map_fn is not None else resolve_map_fn(self.settings.get("map_fn")))


def summary_text(results: dict[str, Any]) -> str:
    """One line: pooled accuracy, held-out count, 95 % interval, chance and the p-value against it."""
    from ferbench.views.labels import title_label

    results = normalise_results(results)
    synthetic = bool(results.get("synthetic"))
    acc = results.get("accuracy")

    def fmt(v):
        if v is None or not np.isfinite(v):
            return "n/a"
        return title_label(f"{100 * v:.2f} %", synthetic)

    text = f"pooled accuracy {fmt(acc)}"
    ct = results.get("chance_test")
    if ct and ct.get("n"):
        lo, hi = ct["ci95"]
        p = ct["p_value"]
        text += (f" on {ct['n']} held-out scans ({ct.get('scope', 'first round')}: 95 % CI "
                 f"{100 * lo:.1f}-{100 * hi:.1f} %, chance {100 * results.get('chance', 0):.1f} %, "
                 f"one-sided binomial p = {p:.2g})")
    return text


# --------------------------------------------------------------------------- finding runs
def is_run(path: str | os.PathLike) -> bool:
    """True when ``path`` is a results folder (holds results.json, or splits.json and run.json)."""
    p = Path(path)
    return (p / RESULTS_FILE).is_file() or ((p / SPLITS_FILE).is_file() and (p / SETTINGS_FILE).is_file())


def list_runs(root: str | os.PathLike) -> list[Run]:
    """Every results folder at or below ``root`` (a run's own sub-folders are not searched), sorted by path."""
    p = Path(root)
    if is_run(p):
        return [Run(p)]
    found: list[Path] = []
    if p.is_dir():
        for dirpath, dirnames, _ in os.walk(p):
            d = Path(dirpath)
            if is_run(d):
                found.append(d)
                dirnames[:] = []       # a run's cache / checkpoints hold no runs
            else:
                dirnames.sort()
    return [Run(d) for d in sorted(found)]


def open_run(path: str | os.PathLike) -> Run:
    """Open one results folder (or its results.json / a checkpoint inside it).

    Raises
    ------
    ResultsError
        Not a results folder; or a root holding several runs (the message names them: pick one).
    """
    p = Path(path)
    if p.is_file():
        p = p.parent.parent if p.parent.name == CHECKPOINTS_DIR else p.parent
    if is_run(p):
        return Run(p)
    if not p.exists():
        raise ResultsError(f"{p}: no such results folder")
    runs = list_runs(p)
    if runs:
        names = ", ".join(str(r.path.relative_to(p)) for r in runs[:10]) + (" ..." if len(runs) > 10 else "")
        raise ResultsError(f"{p}: holds {len(runs)} runs; pick one: {names}")
    raise ResultsError(f"{p}: not a ferbench results folder (no {RESULTS_FILE})")
