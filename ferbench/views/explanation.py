"""What a trained model looks at in one scan: inputs per modality, prediction, heat maps, attention."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

__all__ = ["EXPLAIN_METHODS", "ExplanationView", "modality_images", "explain_scan", "explanation_view", "heat_base",
           "SurfaceExplanation", "explanation_on_surface"]

EXPLAIN_METHODS: tuple[str, ...] = ("gradcam", "hirescam", "gradcam++", "saliency")
"""Heat-map methods: pytorch-grad-cam methods per input modality, or the plain input-gradient saliency
(:func:`ferbench.explain.gradient_saliency`) summed over all inputs."""


def heat_base(heat_name: str, inputs: Sequence[str]) -> str:
    """The input a heat map is drawn over, by its name.

    ``"<method> <modality>"`` -> that modality; ``"attention a_b"`` (a cross-modality attention module) -> ``a``;
    anything else (saliency summed over all inputs, a model's own attention such as ``"attention fused"``)
    -> the first input.

    Parameters
    ----------
    heat_name
        A key of :attr:`ExplanationView.heatmaps`.
    inputs
        The input names, in order (a key of :attr:`ExplanationView.inputs` each).
    """
    from ferbench.errors import FerbenchError

    inputs = list(inputs)
    if not inputs:
        raise FerbenchError(f"no input to draw the heat map {heat_name!r} over")
    last = heat_name.split(" ")[-1]
    if last in inputs:
        return last
    if heat_name.startswith("attention "):
        for name in inputs:
            if last.startswith(name + "_"):
                return name
    return inputs[0]


@dataclass
class ExplanationView:
    """One scan explained by one model.

    Attributes
    ----------
    results
        The results folder the model comes from ("" for a model given in code).
    fold
        0-based split (first round) of that folder.
    index, n_test
        0-based position of the scan among the fold's held-out scans, and their number (0, 1 for a scan
        that is not from the run).
    record
        The scan's record (``path``, ``subject``, ``expression``, ``intensity``, ``synthetic``, ...).
    classes
        Class names in label order.
    true_class
        Class name, or None when the scan's expression is unknown.
    predicted_class
        Class name.
    probabilities
        Softmax of the logits, in label order.
    inputs
        Input name -> the model's input as displayed: (H, W) or (H, W, 3) (values as fed to the model).
    heatmaps
        Name -> (H, W) heat map in [0, 1] at the input resolution: ``"<method> <modality>"`` (Grad-CAM family,
        one per modality) or ``"saliency"``, then ``"attention <name>"`` for the model's own attention maps.
    method
        The heat-map method.
    synthetic
        True when the scan is synthetic.
    """

    results: str
    fold: int
    index: int
    n_test: int
    record: dict[str, Any]
    classes: list[str]
    true_class: str | None
    predicted_class: str
    probabilities: np.ndarray
    inputs: dict[str, np.ndarray]
    heatmaps: dict[str, np.ndarray]
    method: str
    synthetic: bool

    @property
    def title(self) -> str:
        """The scan's file name plus ``" (synthetic)"`` for synthetic data."""
        from ferbench.views.labels import title_label

        return title_label(os.path.basename(str(self.record.get("path", "scan"))), self.synthetic)

    @property
    def correct(self) -> bool | None:
        return None if self.true_class is None else self.true_class == self.predicted_class

    def text(self) -> str:
        """One line: held-out scan i/n of fold f, true and predicted class with its probability."""
        p = float(self.probabilities[self.classes.index(self.predicted_class)])
        if self.true_class is None:
            return f"{self.title}: predicted {self.predicted_class} (p = {p:.2f}); heat maps: {self.method}"
        verdict = "correct" if self.correct else "wrong"
        return (f"{self.title}: held-out scan {self.index + 1}/{self.n_test} of fold {self.fold + 1} "
                f"(subject {self.record.get('subject', '?')}); true {self.true_class}, predicted "
                f"{self.predicted_class} (p = {p:.2f}, {verdict}); heat maps: {self.method}")


def modality_images(model, x) -> dict[str, np.ndarray]:
    """The stacked input ``x`` (N, C, H, W) split by :meth:`FERModel.input_slices`, as images:
    ``name -> (N, H, W)`` for one channel, ``(N, H, W, 3)`` for three, the channel mean otherwise."""
    arr = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
    out = {}
    for name, sl in model.input_slices().items():
        block = arr[:, sl]
        c = block.shape[1]
        out[name] = block.transpose(0, 2, 3, 1) if c == 3 else block[:, 0] if c == 1 else block.mean(1)
    return out


def _explain(model, x, method: str) -> tuple[np.ndarray, int, dict[str, np.ndarray], dict[str, np.ndarray]]:
    import torch

    from ferbench.errors import FerbenchError
    from ferbench.explain import attention_maps, cam_maps_per_modality, gradient_saliency
    from ferbench.explain.attention import has_attention

    if method not in EXPLAIN_METHODS:
        raise FerbenchError(f"unknown method {method!r}; expected one of {', '.join(EXPLAIN_METHODS)}")
    dev = next(model.parameters()).device
    x = x.to(dev)
    with torch.no_grad():
        out = model(x)
        logits = out["logits"] if isinstance(out, dict) else out
        probs = torch.softmax(logits.float(), 1)[0].cpu().numpy()
    pred = int(probs.argmax())
    inputs = {k: v[0] for k, v in modality_images(model, x).items()}
    heat: dict[str, np.ndarray] = {}
    if method == "saliency":
        heat["saliency"] = gradient_saliency(model, x, [pred])[0]
    else:
        for modality, m in cam_maps_per_modality(model, x, method, [pred]).items():
            heat[f"{method} {modality}"] = np.asarray(m)[0]
    if has_attention(model):
        for name, a in attention_maps(model, x).items():
            heat[f"attention {name}"] = np.asarray(a)[0]
    return probs, pred, inputs, heat


def explain_scan(model, scan, method: str = "gradcam", *, classes=None, expression: str | None = None
                 ) -> ExplanationView:
    """Explain any scan (a file or a Scan, not necessarily from a dataset) with a loaded model.

    The inputs are :func:`ferbench.eval.data.inputs_for_scan` (the training map pipeline), so the
    prediction equals what evaluation gives for the same scan.

    Parameters
    ----------
    model
        A FERModel in eval mode, or a :class:`ferbench.eval.results.FoldModel`.
    scan
        A scan path or :class:`~ferbench.io.scan.Scan`; or an already stacked input tensor (1, C, H, W).
    method
        One of :data:`EXPLAIN_METHODS`.
    classes
        Class names (default: the FoldModel's, else the six basic expressions).
    expression
        The scan's true expression when known (default: the scan's own label, if it is a class).
    """
    from ferbench.eval.data import inputs_for_scan
    from ferbench.labels import EXPRESSIONS

    net = getattr(model, "model", model)
    classes = list(classes or getattr(model, "classes", None) or EXPRESSIONS)
    meta = None
    if hasattr(scan, "shape") and getattr(scan, "ndim", 0) == 4:
        x = scan
        record: dict[str, Any] = {"path": "input"}
    else:
        if isinstance(scan, (str, os.PathLike)):
            from ferbench.io import read_scan

            scan = read_scan(scan)
        meta = scan.meta
        x = inputs_for_scan(scan, net)
        record = {"path": meta.source_path or "scan", "subject": meta.subject, "expression": meta.expression,
                  "intensity": getattr(meta, "intensity", None), "synthetic": bool(meta.synthetic)}
    probs, pred, inputs, heat = _explain(net, x, method)
    expr = expression if expression is not None else record.get("expression")
    true = expr if expr in classes else None
    return ExplanationView(results="", fold=0, index=0, n_test=1, record=record, classes=classes, true_class=true,
                           predicted_class=classes[pred], probabilities=probs, inputs=inputs, heatmaps=heat,
                           method=method, synthetic=bool(record.get("synthetic", False)))


def explanation_view(run, fold: int = 0, scan_index: int = 0, method: str = "gradcam", *,
                     device: str | None = "cpu", factory=None) -> ExplanationView:
    """Explain one held-out scan of a trained fold.

    Loads the fold (:meth:`ferbench.eval.results.Run.load_fold_model`), reads the scan's inputs from the
    run's map cache, predicts, and computes heat maps for the predicted class: per input modality
    (Grad-CAM family) or the input-gradient saliency, plus the model's own attention maps.

    Parameters
    ----------
    run
        A :class:`~ferbench.eval.results.Run` or a results folder.
    fold
        0-based split of the first round.
    scan_index
        0-based position among the fold's held-out scans (:meth:`Run.held_out` order).
    method
        One of :data:`EXPLAIN_METHODS`.
    device
        Torch device (CPU by default: one scan is quick).
    factory
        Your own model factory, for runs trained with one.

    Raises
    ------
    ferbench.errors.FerbenchError
        Not a results folder, fold not trained, ``scan_index`` out of range, or an unknown method.
    """
    from ferbench.errors import FerbenchError
    from ferbench.eval.results import Run, open_run

    run = run if isinstance(run, Run) else open_run(run)
    if method not in EXPLAIN_METHODS:
        raise FerbenchError(f"unknown method {method!r}; expected one of {', '.join(EXPLAIN_METHODS)}")
    fm = run.load_fold_model(int(fold), device=device, factory=factory)
    n_test = len(fm.test)
    if not 0 <= int(scan_index) < n_test:
        raise FerbenchError(f"{run.path}: fold {int(fold)} has {n_test} held-out scans; index {int(scan_index)} "
                            f"is out of range (0-based)")
    rec_idx = fm.test[int(scan_index)]
    x, y = fm.inputs([rec_idx])
    probs, pred, inputs, heat = _explain(fm.model, x, method)
    classes = fm.classes or [str(i) for i in range(len(probs))]
    rec = dict(fm.records[rec_idx])
    return ExplanationView(results=str(run.path), fold=int(fold), index=int(scan_index), n_test=n_test, record=rec,
                           classes=list(classes), true_class=classes[int(y[0])], predicted_class=classes[pred],
                           probabilities=probs, inputs=inputs, heatmaps=heat, method=method,
                           synthetic=bool(rec.get("synthetic", False)))


@dataclass
class SurfaceExplanation:
    """A heat map of one held-out scan's prediction, carried onto the scan's vertices.

    Attributes
    ----------
    scan
        The held-out scan as read from its file.
    values
        ``(n_vertices,)`` heat-map values in [0, 1] (NaN for vertices outside the model's crop).
    view
        The :class:`ExplanationView` the heat map comes from.
    heat_name
        Which of ``view.heatmaps`` was carried (e.g. ``"gradcam depth"``).
    """

    scan: Any
    values: np.ndarray
    view: ExplanationView
    heat_name: str

    @property
    def title(self) -> str:
        """``"gradcam depth, predicted surprise (synthetic)"``."""
        from ferbench.views.labels import title_label

        return title_label(f"{self.heat_name}, predicted {self.view.predicted_class}", self.view.synthetic)


def explanation_on_surface(run, fold: int = 0, scan_index: int | None = None, method: str = "gradcam", *,
                           device: str | None = "cpu", factory=None) -> SurfaceExplanation:
    """A heat map of a held-out scan's prediction (Grad-CAM family or saliency) on the scan's 3D surface.

    Every vertex takes the heat-map value of the grid pixel it falls in
    (:func:`ferbench.preprocess.vertex_values_from_grid`, the inverse of the training crop's resampling at the
    model's input size).

    Parameters
    ----------
    run
        A :class:`~ferbench.eval.results.Run` or a results folder.
    fold
        0-based split of the first round.
    scan_index
        0-based held-out position; default a level-4 surprise scan if the fold holds one (a clearly visible
        expression), else the first.
    method
        One of :data:`EXPLAIN_METHODS`; a Grad-CAM family method carries its first modality's map.
    device, factory
        As for :func:`explanation_view`.

    Returns
    -------
    SurfaceExplanation
    """
    from ferbench.eval.results import Run, open_run
    from ferbench.io import read_scan
    from ferbench.preprocess import preprocess_scan, vertex_values_from_grid

    run = run if isinstance(run, Run) else open_run(run)
    held = run.held_out(int(fold))
    if scan_index is None:
        scan_index = next((h for h in held if h.expression == "surprise" and h.intensity == 4), held[0]).position
    view = explanation_view(run, int(fold), int(scan_index), method, device=device, factory=factory)
    heat_name = next(k for k in view.heatmaps if k.startswith(method))
    cam = view.heatmaps[heat_name]
    scan = read_scan(held[int(scan_index)].path)
    grid = preprocess_scan(scan, size=cam.shape[0])          # the training crop at the model's input size
    return SurfaceExplanation(scan, vertex_values_from_grid(scan, cam, grid), view, heat_name)
