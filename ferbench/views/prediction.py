"""A trained run applied to any scan: class probabilities (one fold or all folds averaged) and the Grad-CAM
of a chosen class on the scan's maps and on its vertices."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

__all__ = ["PredictionView", "prediction_view"]


@dataclass
class PredictionView:
    """One scan run through one or more trained folds of a run.

    Attributes
    ----------
    run_path
        The results folder.
    folds
        0-based folds (first round) whose models were averaged.
    classes
        Class names in label order.
    probabilities
        (k,) softmax probabilities averaged over ``folds``.
    fold_probabilities
        (len(folds), k) per fold.
    predicted_class
        ``classes[argmax(probabilities)]``.
    cam_class
        The class the heat maps explain (the predicted one unless another was asked for).
    method
        Grad-CAM family method (:data:`ferbench.views.EXPLAIN_METHODS` minus ``"saliency"``).
    inputs
        Input name -> the model's input as displayed ((H, W) or (H, W, 3)), from
        :func:`ferbench.eval.inputs_for_scan` (the first fold's model).
    heatmaps
        Modality -> (H, W) CAM in [0, 1] of ``cam_class``, averaged over folds.
    cam
        (H, W): the mean of ``heatmaps`` (what is painted on the surface).
    vertex_values
        (n,) ``cam`` read at the scan's vertices (or the ``vertices`` given),
        :func:`ferbench.preprocess.vertex_values_from_grid`; NaN off the face grid.
    device
        The torch device the models ran on (``"cpu"``, ``"cuda:0"``).
    scan_name
        The scan's file name (``"scan"`` for one made in memory).
    synthetic
        True for a synthetic scan or a run on synthetic data.
    """

    run_path: str
    folds: list[int]
    classes: list[str]
    probabilities: np.ndarray
    fold_probabilities: np.ndarray
    predicted_class: str
    cam_class: str
    method: str
    inputs: dict[str, np.ndarray]
    heatmaps: dict[str, np.ndarray]
    cam: np.ndarray
    vertex_values: np.ndarray
    device: str
    scan_name: str
    synthetic: bool

    @property
    def title(self) -> str:
        from ferbench.views.labels import title_label

        return title_label(self.scan_name, self.synthetic)

    def text(self) -> str:
        """One line: predicted class and probability, folds used, device."""
        p = float(self.probabilities[self.classes.index(self.predicted_class)])
        which = (f"fold {self.folds[0] + 1}" if len(self.folds) == 1
                 else f"{len(self.folds)} folds averaged")
        return (f"{self.title}: predicted {self.predicted_class} (p = {p:.2f}; {which}; on {self.device}); "
                f"{self.method} of {self.cam_class}")


def prediction_view(run, scan, folds: int | str | Sequence[int] = "all", method: str = "gradcam", *,
                    class_name: str | None = None, device: str | None = None, factory=None,
                    vertices: np.ndarray | None = None, fold_models: dict[int, Any] | None = None
                    ) -> PredictionView:
    """Predict the expression of any scan with a trained run and explain it.

    Parameters
    ----------
    run
        A :class:`~ferbench.eval.results.Run` or a results folder.
    scan
        A scan file or :class:`~ferbench.io.scan.Scan` (need not belong to any dataset).
    folds
        ``"all"`` (every trained fold of the first round, probabilities averaged), one 0-based fold, or a list.
    method
        ``"gradcam"``, ``"hirescam"`` or ``"gradcam++"``.
    class_name
        Class whose CAM is drawn (default: the predicted class).
    device
        Torch device (default: CUDA when present, else CPU).
    factory
        Your own model factory, for runs trained with one.
    vertices
        (n, 3) points in the scan's coordinates to read the CAM at (default: the scan's vertices), e.g. a
        seam-split copy of the mesh as displayed.
    fold_models
        Already loaded :class:`~ferbench.eval.results.FoldModel` by fold (reused; loaded ones are added).

    Raises
    ------
    ferbench.errors.FerbenchError
        Not a run, no trained fold, an unknown method or class, or a scan that cannot be preprocessed.
    """
    import torch

    from ferbench.errors import FerbenchError
    from ferbench.eval.inference import Predictor
    from ferbench.eval.results import Run, open_run
    from ferbench.preprocess import preprocess_scan, vertex_values_from_grid
    from ferbench.views.explanation import EXPLAIN_METHODS, modality_images

    if method not in EXPLAIN_METHODS or method == "saliency":
        raise FerbenchError(f"unknown CAM method {method!r}; expected one of "
                            f"{', '.join(m for m in EXPLAIN_METHODS if m != 'saliency')}")
    run = run if isinstance(run, Run) else open_run(run)
    if isinstance(folds, str):
        if folds != "all":
            raise FerbenchError(f"folds must be 'all', a fold index or a list of them, got {folds!r}")
        chosen = [f.index for f in run.folds(0) if f.checkpoint.is_file()]
        if not chosen:
            raise FerbenchError(f"{run.path}: no trained fold (no checkpoint in {run.path.name}/checkpoints)")
    else:
        chosen = [int(folds)] if np.ndim(folds) == 0 else [int(f) for f in folds]
    path = os.fspath(scan) if isinstance(scan, (str, os.PathLike)) else None
    if path is not None:
        from ferbench.io import read_scan

        scan = read_scan(path)
    cache = fold_models if fold_models is not None else {}
    for f in chosen:
        if cache.get(f) is None:
            cache[f] = run.load_fold_model(f, device=device, factory=factory)
    # the input pipeline of `ferbench predict` (the run's own map function where it has one)
    predictor = Predictor([cache[f] for f in chosen], run=str(run.path), synthetic=run.synthetic)
    src = scan          # the scan already read: ferbench's maps are computed from it as from its file
    own = scan.meta.source_path
    if predictor.map_fn is not None or predictor.modality != "3d":      # these inputs are computed from files
        if path is not None:
            src = path
        elif own and os.path.isfile(str(own)):
            src = str(own)
    x = torch.from_numpy(np.asarray(predictor.input_for(src), np.float32)[None])
    classes = list(predictor.classes)
    # each fold's softmax is computed in float32: kept as float32 here, as before
    fold_probs = np.stack([p[0] for p in predictor.fold_probabilities(x)]).astype(np.float32)
    mean = fold_probs.mean(0)
    pred = classes[int(mean.argmax())]
    target = pred if class_name is None else class_name
    if target not in classes:
        raise FerbenchError(f"unknown class {target!r}; the run's classes are {', '.join(classes)}")
    heat = {k[len(method) + 1:]: a[0] for k, a in predictor.mean_heatmaps(x, [classes.index(target)], method).items()}
    cam = np.mean(list(heat.values()), axis=0)
    inputs = {k: v[0] for k, v in modality_images(cache[chosen[0]].model, x).items()}
    grid = preprocess_scan(scan, size=int(cam.shape[0]))
    pts = scan.vertices if vertices is None else np.asarray(vertices, np.float64)
    vals = vertex_values_from_grid(pts, cam, grid)
    src = scan.meta.source_path
    return PredictionView(run_path=str(run.path), folds=chosen, classes=classes, probabilities=mean,
                          fold_probabilities=fold_probs, predicted_class=pred, cam_class=target, method=method,
                          inputs=inputs, heatmaps=heat, cam=cam, vertex_values=np.asarray(vals, np.float64),
                          device=predictor.device, scan_name=os.path.basename(str(src)) if src else "scan",
                          synthetic=bool(scan.meta.synthetic) or run.synthetic)
