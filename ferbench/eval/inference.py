"""Run a trained results folder on any scans: ``ferbench predict RUN SCAN_OR_FOLDER...``.

>>> from ferbench.eval.inference import predict_scans, predict_scan   # doctest: +SKIP
>>> table = predict_scans("ferbench_output/results/dfcnn__P-I__seed0", ["my_scans/"])  # doctest: +SKIP
>>> table.write_csv("predictions.csv"); print(table.summary_text())                   # doctest: +SKIP
>>> predict_scan(run, scan).predicted_class         # one Scan in memory (the napari Predict dock)  # doctest: +SKIP

The inputs are computed by the training pipeline itself (:func:`ferbench.eval.data.compute_input` /
:func:`ferbench.eval.data.inputs_for_scan`: read, preprocess, maps, stack), never from the run's map cache,
so a prediction on a scan equals the evaluation of the same scan by the same fold. With ``folds="all"`` the
first round's folds each predict and their softmax probabilities are averaged.

Reading and map computation run in a thread pool (``workers``; or worker processes with ``processes=True``)
ahead of the model, in input order, so the model is not left waiting; a file that cannot be read or mapped
becomes a :class:`Prediction` with
``error`` set (one line) while the others go on.
"""
from __future__ import annotations

import csv
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ferbench.errors import FerbenchError

__all__ = ["Prediction", "PredictionTable", "Predictor", "load_predictor", "find_scans", "predict_scan",
           "predict_scans", "write_cam_images", "CSV_FIXED_COLUMNS"]

CSV_FIXED_COLUMNS = ("file", "predicted_expression", "probability", "folds", "device", "source", "error")
"""Columns of the predictions CSV before the per-class ``p_<class>`` columns."""


# --------------------------------------------------------------------------- value types
@dataclass
class Prediction:
    """The prediction of one scan.

    Attributes
    ----------
    path
        The scan file (or the scan's source path / ``"scan"`` for an in-memory Scan).
    predicted_class
        Class name; None when the scan failed.
    probabilities
        Softmax probabilities in class order (averaged over ``folds``); None when the scan failed.
    classes
        Class names in label order.
    folds
        0-based folds (first round) whose models predicted.
    device
        Torch device the models ran on.
    error
        One-line reason when the scan could not be read or mapped, else None.
    synthetic
        True when the scan is synthetic (a generated dataset) or the run was trained on synthetic data.
    heatmaps
        ``{"<method> <modality>": (H, W) in [0, 1]}`` when Grad-CAM was asked for (averaged over folds).
    inputs
        ``{modality: image}`` of the model input, when Grad-CAM was asked for.
    """

    path: str
    predicted_class: str | None
    probabilities: np.ndarray | None
    classes: tuple[str, ...]
    folds: tuple[int, ...]
    device: str
    error: str | None = None
    synthetic: bool = False
    heatmaps: dict[str, np.ndarray] = field(default_factory=dict)
    inputs: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def predicted_index(self) -> int | None:
        return None if self.probabilities is None else int(np.argmax(self.probabilities))

    @property
    def probability(self) -> float | None:
        """Probability of the predicted class."""
        return None if self.probabilities is None else float(np.max(self.probabilities))

    @property
    def folds_label(self) -> str:
        """1-based, for people: ``"fold 2"`` or ``"folds 1-4 (mean)"`` / ``"folds 1,3 (mean)"``."""
        return folds_label(self.folds)

    def text(self) -> str:
        """One line: file, predicted expression and probability (or the error)."""
        from ferbench.views.labels import title_label

        name = title_label(os.path.basename(self.path) or self.path, self.synthetic)
        if not self.ok:
            return f"{name}: error: {self.error}"
        return f"{name}: {self.predicted_class} (p = {self.probability:.2f}, {self.folds_label})"


def folds_label(folds: Sequence[int]) -> str:
    """``"fold 2"`` for ``(1,)``; ``"folds 1-4 (mean)"`` for ``(0, 1, 2, 3)`` (1-based for people)."""
    f = [int(i) + 1 for i in folds]
    if len(f) == 1:
        return f"fold {f[0]}"
    if f == list(range(f[0], f[0] + len(f))):
        return f"folds {f[0]}-{f[-1]} (mean)"
    return "folds " + ",".join(map(str, f)) + " (mean)"


@dataclass
class PredictionTable:
    """Every prediction of a :func:`predict_scans` call, in input order.

    Attributes
    ----------
    predictions
        One :class:`Prediction` per scan (failed ones included, with ``error``).
    classes
        Class names in label order.
    folds
        0-based folds used.
    device
        Torch device.
    run
        The results folder.
    synthetic
        The run was trained on synthetic data.
    seconds
        Wall time of the whole call.
    """

    predictions: list[Prediction]
    classes: tuple[str, ...]
    folds: tuple[int, ...]
    device: str
    run: str
    synthetic: bool
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.predictions)

    def __iter__(self):
        return iter(self.predictions)

    @property
    def failed(self) -> list[Prediction]:
        return [p for p in self.predictions if not p.ok]

    @property
    def succeeded(self) -> list[Prediction]:
        return [p for p in self.predictions if p.ok]

    def probabilities(self) -> np.ndarray:
        """``(n_ok, n_classes)`` probabilities of the scans that succeeded, in input order."""
        ok = self.succeeded
        return np.stack([p.probabilities for p in ok]) if ok else np.zeros((0, len(self.classes)))

    def counts(self) -> dict[str, int]:
        """Predicted scans per class (every class, in label order)."""
        out = {c: 0 for c in self.classes}
        for p in self.succeeded:
            out[p.predicted_class] += 1
        return out

    def columns(self) -> list[str]:
        """CSV header: :data:`CSV_FIXED_COLUMNS` then ``p_<class>`` per class."""
        return list(CSV_FIXED_COLUMNS) + [f"p_{c}" for c in self.classes]

    def rows(self) -> list[dict[str, Any]]:
        """One dict per scan, keyed by :meth:`columns` (probabilities with 6 decimals; empty for failures)."""
        out = []
        for p in self.predictions:
            row: dict[str, Any] = {"file": p.path, "predicted_expression": p.predicted_class or "",
                                   "probability": "" if p.probability is None else f"{p.probability:.6f}",
                                   "folds": " ".join(str(f + 1) for f in p.folds), "device": p.device,
                                   "source": "synthetic" if p.synthetic else "real", "error": p.error or ""}
            for i, c in enumerate(self.classes):
                row[f"p_{c}"] = "" if p.probabilities is None else f"{float(p.probabilities[i]):.6f}"
            out.append(row)
        return out

    def write_csv(self, path: str | os.PathLike) -> Path:
        """Write the table as CSV (folds 1-based, as shown to people); returns the file."""
        path = Path(path)
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=self.columns())
            w.writeheader()
            w.writerows(self.rows())
        return path

    def summary_text(self) -> str:
        """A few lines: scans predicted per class, the folds and device, and each failure."""
        from ferbench.views.labels import title_label

        n_ok, n_bad = len(self.succeeded), len(self.failed)
        counts = ", ".join(f"{c} {n}" for c, n in self.counts().items())
        head = title_label(f"{n_ok} scan(s) predicted", self.synthetic)
        lines = [f"{head} by {Path(self.run).name} ({folds_label(self.folds)}, {self.device}): {counts}"]
        if self.seconds > 0 and n_ok:
            lines.append(f"{n_ok / self.seconds:.1f} scans/s end to end ({self.seconds:.1f} s)")
        if n_bad:
            lines.append(f"{n_bad} scan(s) failed:")
            lines += [f"  {p.path}: {p.error}" for p in self.failed]
        return "\n".join(lines)


# --------------------------------------------------------------------------- finding scans
def find_scans(paths: Iterable[str | os.PathLike]) -> list[str]:
    """Scan files to predict: files as given, folders searched recursively for
    :data:`ferbench.io.SCAN_EXTENSIONS` (sorted). A file given by name is kept whatever its suffix (reading it
    then says what is wrong); a path that does not exist raises.

    Raises
    ------
    FerbenchError
        A path that does not exist, or no scan file at all.
    """
    from ferbench.io import SCAN_EXTENSIONS

    out: list[str] = []
    given = [os.fspath(p) for p in paths]
    for p in given:
        if os.path.isdir(p):
            found = []
            for dirpath, dirnames, files in os.walk(p):
                dirnames.sort()
                found += [os.path.join(dirpath, f) for f in files if os.path.splitext(f)[1].lower() in SCAN_EXTENSIONS]
            out += sorted(found)
        elif os.path.exists(p):
            out.append(p)
        else:
            raise FerbenchError(f"{p}: no such file or folder")
    if not out:
        raise FerbenchError(f"{', '.join(given) or 'no paths'}: no scan files "
                            f"({', '.join(SCAN_EXTENSIONS)}) found")
    return out


# --------------------------------------------------------------------------- the models
class Predictor:
    """One or several fold models of a run, ready to predict (see :func:`load_predictor`).

    Attributes
    ----------
    fold_models
        :class:`~ferbench.eval.results.FoldModel` per fold (same inputs and size).
    classes, folds, device, run, synthetic, modality, map_fn
        As the run recorded them.
    """

    def __init__(self, fold_models: Sequence[Any], *, run: str = "", synthetic: bool = False):
        if not fold_models:
            raise FerbenchError(f"{run or 'predictor'}: no fold models to predict with")
        self.fold_models = list(fold_models)
        first = self.fold_models[0]
        net = getattr(first, "model", first)
        self.inputs = tuple((str(n), int(c)) for n, c in net.inputs)
        self.size = int(getattr(first, "size", None) or net.input_size)
        for fm in self.fold_models[1:]:
            m = getattr(fm, "model", fm)
            if tuple((str(n), int(c)) for n, c in m.inputs) != self.inputs or int(m.input_size) != self.size:
                raise FerbenchError(f"{run or 'predictor'}: the folds' models take different inputs")
        from ferbench.labels import EXPRESSIONS

        self.classes = tuple(getattr(first, "classes", None) or EXPRESSIONS)
        self.folds = tuple(int(getattr(fm, "fold", i)) for i, fm in enumerate(self.fold_models))
        self.modality = str(getattr(first, "modality", "3d") or "3d")
        self.map_fn = getattr(first, "map_fn", None)
        self.run = str(run)
        self.synthetic = bool(synthetic)
        self.device = str(next(net.parameters()).device)
        self._records: dict[str, dict[str, Any]] | None = None

    @property
    def networks(self) -> list[Any]:
        return [getattr(fm, "model", fm) for fm in self.fold_models]

    def _run_record(self, path: str) -> dict[str, Any] | None:
        """The run's own record of a file (so a map function of the run's sees what training saw)."""
        if self._records is None:
            recs = getattr(self.fold_models[0], "records", None) or []
            self._records = {os.path.abspath(str(r.get("path", ""))): r for r in recs}
        return self._records.get(os.path.abspath(path))

    def job(self, path: str) -> tuple:
        """Arguments of :func:`_input_job` for one file (picklable: runs in worker processes too)."""
        return (os.fspath(path), self.inputs, self.size, self.modality, self.map_fn, self._run_record(os.fspath(path)))

    def input_for(self, scan: Any) -> np.ndarray:
        """The model input ``(C, size, size)`` float32 of a scan file or in-memory Scan (training pipeline)."""
        if not isinstance(scan, (str, os.PathLike)):
            from ferbench.eval.data import inputs_for_scan

            if self.map_fn is not None or self.modality != "3d":
                raise FerbenchError("this run's inputs are computed from files (its own map function or 2D "
                                    "images); pass the scan's path")
            return inputs_for_scan(scan, self.networks[0])[0].numpy()
        return _input_job(*self.job(scan))

    def fold_probabilities(self, x) -> list[np.ndarray]:
        """Softmax probabilities of each fold's model, ``(B, n_classes)`` float64 (computed in float32), for a
        stacked batch."""
        import torch

        x = torch.as_tensor(x)
        out_p = []
        with torch.no_grad():
            for net in self.networks:
                dev = next(net.parameters()).device
                out = net(x.to(dev))
                logits = out["logits"] if isinstance(out, dict) else out
                out_p.append(torch.softmax(logits.float(), dim=1).double().cpu().numpy())
        return out_p

    def probabilities(self, x) -> np.ndarray:
        """Mean over folds of the softmax probabilities, ``(B, n_classes)`` float64, for a stacked batch."""
        acc = None
        for p in self.fold_probabilities(x):
            acc = p if acc is None else acc + p
        return acc / len(self.networks)

    def heatmaps(self, x, targets: Sequence[int], method: str) -> list[dict[str, np.ndarray]]:
        """Per scan of the batch ``{"<method> <modality>": (H, W)}`` for ``targets``, averaged over folds."""
        mean = self.mean_heatmaps(x, targets, method)
        return [{k: a[i].astype(np.float32) for k, a in mean.items()} for i in range(len(x))]

    def mean_heatmaps(self, x, targets: Sequence[int], method: str) -> dict[str, np.ndarray]:
        """``{"<method> <modality>": (B, H, W)}`` float64 for ``targets``, averaged over folds (:meth:`heatmaps`
        per scan, before it rounds them to float32)."""
        import torch

        from ferbench.explain import cam_maps_per_modality, gradient_saliency
        from ferbench.views.explanation import EXPLAIN_METHODS

        if method not in EXPLAIN_METHODS:
            raise FerbenchError(f"unknown method {method!r}; expected one of {', '.join(EXPLAIN_METHODS)}")
        x = torch.as_tensor(x)
        total: dict[str, np.ndarray] = {}
        for net in self.networks:
            xd = x.to(next(net.parameters()).device)
            maps = ({"saliency": gradient_saliency(net, xd, list(targets))} if method == "saliency" else
                    {f"{method} {m}": np.asarray(a) for m, a in
                     cam_maps_per_modality(net, xd, method, list(targets)).items()})
            for k, a in maps.items():
                total[k] = total[k] + a if k in total else np.asarray(a, dtype=np.float64)
        n = len(self.networks)
        return {k: a / n for k, a in total.items()}

    def prediction(self, path: str, probs: np.ndarray, *, synthetic: bool = False) -> Prediction:
        return Prediction(path=path, predicted_class=self.classes[int(np.argmax(probs))], probabilities=probs,
                          classes=self.classes, folds=self.folds, device=self.device, error=None,
                          synthetic=bool(synthetic or self.synthetic))

    def failure(self, path: str, error: str) -> Prediction:
        return Prediction(path=path, predicted_class=None, probabilities=None, classes=self.classes,
                          folds=self.folds, device=self.device, error=error, synthetic=self.synthetic)


def _parse_folds(run, folds: str | int | Sequence[int]) -> list[int]:
    avail = [f.index for f in run.folds(0)]
    if not avail:
        raise FerbenchError(f"{run.path}: the run has no folds")
    if isinstance(folds, str):
        if folds != "all":
            raise FerbenchError(f"folds must be 'all' or a 0-based fold index, got {folds!r}")
        have = [f for f in avail if run.checkpoint_path(f, 0).is_file()]
        if not have:
            raise FerbenchError(f"{run.path}: no fold has a checkpoint (no split finished)")
        return have
    want = [int(folds)] if isinstance(folds, (int, np.integer)) else [int(f) for f in folds]
    bad = [f for f in want if f not in avail]
    if bad or not want:
        raise FerbenchError(f"{run.path}: no fold {bad[0] + 1 if bad else '?'} (the run has folds "
                            f"1-{len(avail)}; 0-based in code)")
    return want


def load_predictor(run, folds: str | int | Sequence[int] = "all", device: str | None = None, *,
                   factory: Callable | None = None, map_fn: Callable | None = None) -> Predictor:
    """Load the fold models of a run (first round) for prediction.

    Parameters
    ----------
    run
        A :class:`~ferbench.eval.results.Run`, a results folder or one of its checkpoints.
    folds
        ``"all"`` (every first-round fold with a checkpoint; probabilities averaged), a 0-based fold index,
        or a list of them.
    device
        Torch device (default: CUDA when present, else CPU).
    factory, map_fn
        As for :meth:`Run.load_fold_model` (a run trained with a model or map function of your own).
    """
    from ferbench._device import default_device
    from ferbench.eval.results import Run, open_run

    run = run if isinstance(run, Run) else open_run(run)
    dev = default_device(device)
    fms = [run.load_fold_model(f, 0, str(dev), factory=factory, map_fn=map_fn) for f in _parse_folds(run, folds)]
    return Predictor(fms, run=str(run.path), synthetic=run.synthetic)


def _as_predictor(obj, device=None) -> Predictor:
    if isinstance(obj, Predictor):
        return obj
    from ferbench.eval.results import FoldModel, Run

    if isinstance(obj, FoldModel):
        return Predictor([obj])
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(o, FoldModel) for o in obj):
        return Predictor(list(obj))
    if isinstance(obj, (Run, str, os.PathLike)):
        return load_predictor(obj, "all", device)
    if hasattr(obj, "inputs") and hasattr(obj, "parameters"):      # a bare FERModel
        return Predictor([obj])
    raise TypeError(f"expected a Run, results folder, FoldModel(s), Predictor or model, got {type(obj).__name__}")


def _scan_synthetic(scan) -> bool:
    if isinstance(scan, (str, os.PathLike)):
        from ferbench.io import _in_synthetic_tree

        return bool(_in_synthetic_tree(os.fspath(scan)))
    return bool(getattr(getattr(scan, "meta", None), "synthetic", False))


# --------------------------------------------------------------------------- one scan
def predict_scan(model, scan, *, cam: str | None = None, device: str | None = None) -> Prediction:
    """Predict one scan (a file or an in-memory :class:`~ferbench.io.scan.Scan`): the entry for viewers.

    Parameters
    ----------
    model
        A :class:`Predictor` (load it once with :func:`load_predictor`), a Run or results folder (all folds),
        one or several :class:`~ferbench.eval.results.FoldModel`, or a FERModel.
    scan
        A scan path or Scan.
    cam
        A heat-map method (:data:`ferbench.views.EXPLAIN_METHODS`) to add ``heatmaps`` and ``inputs``.
    device
        Only used when ``model`` is a run to load.

    Returns
    -------
    Prediction
        With ``error`` set (not raised) when the scan cannot be read or mapped.
    """
    from ferbench.views.explanation import modality_images

    pred = _as_predictor(model, device)
    path = os.fspath(scan) if isinstance(scan, (str, os.PathLike)) else (
        getattr(getattr(scan, "meta", None), "source_path", None) or "scan")
    try:
        x = pred.input_for(scan)[None]
    except (FerbenchError, OSError, ValueError) as e:
        from ferbench.cli._args import one_line

        return pred.failure(path, one_line(e))
    probs = pred.probabilities(x)[0]
    out = pred.prediction(path, probs, synthetic=_scan_synthetic(scan))
    if cam:
        out.heatmaps = pred.heatmaps(x, [int(np.argmax(probs))], cam)[0]
        out.inputs = {k: v[0] for k, v in modality_images(pred.networks[0], x).items()}
    return out


# --------------------------------------------------------------------------- many scans
def _input_job(path: str, inputs, size: int, modality: str, map_fn, record) -> np.ndarray:
    """One file's model input: :func:`~ferbench.eval.data.inputs_for_scan` (ferbench's maps, 3D) or the run's
    :func:`~ferbench.eval.data.compute_input` (its own map function, or 2D images), as training computed it."""
    from types import SimpleNamespace

    from ferbench.eval.data import compute_input, inputs_for_scan

    if map_fn is None and modality == "3d":
        return inputs_for_scan(path, SimpleNamespace(inputs=inputs, input_size=size))[0].numpy()
    rec = record or {"path": path, "dataset": "", "subject": "", "expression": "", "intensity": None,
                     "synthetic": False, "extra": {}}
    return compute_input(rec, inputs, size, modality, map_fn)


def _load_job(args: tuple):
    """``(input, None)`` or ``(None, one-line error)`` for one file (threads and worker processes)."""
    import warnings

    from ferbench.cli._args import one_line

    try:
        with warnings.catch_warnings():       # a missing texture is said by the error of the map needing it
            warnings.simplefilter("ignore")
            return _input_job(*args), None
    except (FerbenchError, OSError, ValueError, MemoryError) as e:
        msg = one_line(e)
        return None, msg[len(args[0]) + 2:] if msg.startswith(f"{args[0]}: ") else msg   # the row names the file


def _worker_init() -> None:
    try:        # one BLAS / torch thread per worker process: the workers are the parallelism
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def predict_scans(run, paths: Sequence[str | os.PathLike] | str | os.PathLike, *,
                  folds: str | int | Sequence[int] = "all", device: str | None = None, batch_size: int = 32,
                  workers: int = 1, cam: str | None = None, cam_dir: str | os.PathLike | None = None,
                  progress: bool = True, factory: Callable | None = None, map_fn: Callable | None = None,
                  on_result: Callable[[Prediction], None] | None = None, processes: bool = False) -> PredictionTable:
    """Predict the expression of every scan file (folders searched recursively) with a trained run.

    Parameters
    ----------
    run
        A :class:`~ferbench.eval.results.Run`, results folder, or an already loaded :class:`Predictor`.
    paths
        Scan files and folders (:func:`find_scans`).
    folds
        ``"all"`` (first-round folds, softmax probabilities averaged) or a 0-based fold index / list.
    device
        Torch device (default: CUDA when present).
    batch_size
        Scans per model call.
    workers
        Threads that read, preprocess and map scans ahead of the model (0: all in this thread). Results keep
        the input order.
    cam, cam_dir
        A heat-map method (``"gradcam"``, ...) and the folder for its PNGs (:func:`write_cam_images`; default:
        heat maps kept on the predictions only).
    progress
        Show a tqdm bar.
    factory, map_fn
        For runs trained with a model or map function of your own.
    on_result
        Called with each Prediction as soon as it is known (input order), e.g. to update a viewer.
    processes
        Read and map in ``workers`` worker processes (spawned: a few seconds to start, then free of the GIL)
        instead of threads.

    Returns
    -------
    PredictionTable
        Failed scans are rows with ``error`` (one line), not exceptions.
    """
    import time

    from tqdm.auto import tqdm

    from ferbench._checks import check_int
    from ferbench.views.explanation import modality_images

    t0 = time.perf_counter()
    check_int("batch_size", batch_size, 1, 1_000_000)
    check_int("workers", workers, 0, 1024)
    from ferbench.eval.results import Run, open_run

    if not isinstance(run, (Predictor, Run)):
        run = open_run(run)          # a wrong results folder is said before the scans are looked for
    files = find_scans([paths] if isinstance(paths, (str, os.PathLike)) else paths)
    pred = run if isinstance(run, Predictor) else load_predictor(run, folds, device, factory=factory, map_fn=map_fn)
    if cam is not None:
        from ferbench.views.explanation import EXPLAIN_METHODS

        if cam not in EXPLAIN_METHODS:
            raise FerbenchError(f"unknown method {cam!r}; expected one of {', '.join(EXPLAIN_METHODS)}")
    results: list[Prediction | None] = [None] * len(files)
    names = _unique_stems(files)
    bar = tqdm(total=len(files), desc="predict", unit="scan", disable=not progress)
    batch: list[tuple[int, np.ndarray]] = []

    def flush() -> None:
        if not batch:
            return
        x = np.stack([a for _, a in batch])
        probs = pred.probabilities(x)
        heat = pred.heatmaps(x, probs.argmax(1).tolist(), cam) if cam else None
        images = modality_images(pred.networks[0], x) if cam else None
        for j, (i, _) in enumerate(batch):
            p = pred.prediction(files[i], probs[j], synthetic=_scan_synthetic(files[i]))
            if cam:
                p.heatmaps = heat[j]
                p.inputs = {k: v[j] for k, v in images.items()}
                if cam_dir is not None:
                    write_cam_images(p, cam_dir, name=names[i])
            results[i] = p
            if on_result:
                on_result(p)
        bar.update(len(batch))
        batch.clear()

    def take(i: int, arr, err) -> None:
        if err is not None:
            results[i] = pred.failure(files[i], err)
            if on_result:
                on_result(results[i])
            bar.update(1)
            return
        batch.append((i, arr))
        if len(batch) >= batch_size:
            flush()

    try:
        if workers == 0:
            for i, f in enumerate(files):
                take(i, *_load_job(pred.job(f)))
        else:
            if processes:
                import multiprocessing as mp
                from concurrent.futures import ProcessPoolExecutor

                # spawn: torch is imported here, and forking a process with OpenMP threads can hang
                ex = ProcessPoolExecutor(max_workers=int(workers), mp_context=mp.get_context("spawn"),
                                         initializer=_worker_init)
            else:
                ex = ThreadPoolExecutor(max_workers=int(workers), thread_name_prefix="ferbench-predict")
            # a bounded window of reads in flight keeps memory flat and the order of the input
            window = max(2 * int(batch_size), 2 * int(workers))
            with ex:
                pending: deque[tuple[int, Future]] = deque()
                nxt = 0
                while nxt < len(files) or pending:
                    while nxt < len(files) and len(pending) < window:
                        pending.append((nxt, ex.submit(_load_job, pred.job(files[nxt]))))
                        nxt += 1
                    i, fut = pending.popleft()
                    take(i, *fut.result())
        flush()
    finally:
        bar.close()
    return PredictionTable(predictions=[r for r in results if r is not None], classes=pred.classes,
                           folds=pred.folds, device=pred.device, run=pred.run, synthetic=pred.synthetic,
                           seconds=time.perf_counter() - t0)


# --------------------------------------------------------------------------- heat-map images
def _unique_stems(files: Sequence[str]) -> list[str]:
    """File stems, with ``-2``, ``-3``, ... added where two files of different folders share one.

    Every returned stem differs from all the others (compared case-blind, as some file systems do), also
    where a file's own stem is another's suffixed one (``a/x``, ``b/x``, ``c/x-2``).
    """
    used: set[str] = set()
    out = []
    for f in files:
        stem = Path(f).stem or "scan"
        name, k = stem, 1
        while name.casefold() in used:
            k += 1
            name = f"{stem}-{k}"
        used.add(name.casefold())
        out.append(name)
    return out


def _display(img: np.ndarray) -> np.ndarray:
    """A model input as an RGB float image in [0, 1] (one channel: min-max to gray)."""
    a = np.nan_to_num(np.asarray(img, dtype=np.float64))
    if a.ndim == 2:
        lo, hi = float(a.min()), float(a.max())
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
        return np.repeat(a[..., None], 3, axis=2)
    lo, hi = float(a.min()), float(a.max())
    if lo < 0 or hi > 1:
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return np.clip(a, 0, 1)


def write_cam_images(prediction: Prediction, out_dir: str | os.PathLike, *, name: str | None = None,
                     min_side: int = 224, alpha: float = 0.5) -> list[Path]:
    """Write one PNG per heat map of a prediction: the model input beside the heat map over it.

    Files are ``<out_dir>/<name>__<method>_<modality>.png`` (``name``: the scan's stem by default); the input
    shown is the heat map's modality (the first input for a map over all inputs). Small inputs are enlarged
    (nearest) to ``min_side`` pixels, and a caption names the file, the predicted expression and its probability (and "synthetic").

    Returns
    -------
    list of pathlib.Path
    """
    from PIL import Image, ImageDraw

    from ferbench.viz.explanations import heat_overlay

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if not prediction.ok or not prediction.heatmaps:
        return []
    stem = name or Path(prediction.path).stem or "scan"
    names = list(prediction.inputs)
    written = []
    for key, heat in prediction.heatmaps.items():
        modality = key.split(" ", 1)[1] if " " in key else key
        base = _display(prediction.inputs.get(modality, prediction.inputs[names[0]]) if names else heat)
        h = np.clip(np.nan_to_num(np.asarray(heat, dtype=np.float64)), 0, 1)
        if h.shape != base.shape[:2]:
            # resized here (8-bit, PIL) and not by heat_overlay (float, torch): the images stay as they were
            h = np.asarray(Image.fromarray((h * 255).astype(np.uint8)).resize(base.shape[1::-1], Image.BILINEAR),
                           dtype=np.float64) / 255.0
        over = heat_overlay(base, h, alpha)
        pair = np.concatenate([base, np.ones((base.shape[0], 2, 3)), over], axis=1)
        img = Image.fromarray((pair * 255).round().astype(np.uint8))
        scale = max(1, int(np.ceil(min_side / max(1, base.shape[0]))))
        if scale > 1:
            img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
        canvas = Image.new("RGB", (img.width, img.height + 18), "white")
        canvas.paste(img, (0, 18))
        caption = (f"{Path(prediction.path).name}: {prediction.predicted_class} (p = {prediction.probability:.2f}) "
                   f"- {key}{' (synthetic)' if prediction.synthetic else ''}")
        ImageDraw.Draw(canvas).text((3, 3), caption, fill="black")
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in key.replace(" ", "_"))
        f = out / f"{stem}__{safe}.png"
        canvas.save(f)
        written.append(f)
    return written
