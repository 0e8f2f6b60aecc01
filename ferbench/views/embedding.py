"""2-D embedding (t-SNE or PCA) of a fold's held-out features, with the scans they come from."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EmbeddingView", "embedding_view", "nearest_point", "point_position", "EMBEDDING_METHODS"]

EMBEDDING_METHODS = ("tsne", "pca")


@dataclass
class EmbeddingView:
    """Held-out scans of one fold in 2-D.

    Attributes
    ----------
    points
        (N, 2) coordinates.
    paths, subjects
        Per point: scan file and subject.
    record_indices
        Per point: index into :attr:`ferbench.eval.results.Run.records`.
    y_true, y_pred
        Per point: class indices.
    classes
        Class names in label order.
    misclassified
        (N,) bool, ``y_true != y_pred``.
    method
        ``"tsne"`` or ``"pca"``.
    fold
        0-based split.
    feature_layer
        The layer the features come from.
    synthetic
        True for synthetic data.
    title
        With ``" (synthetic)"``.
    """

    points: np.ndarray
    paths: list[str]
    subjects: list[str]
    record_indices: list[int]
    y_true: np.ndarray
    y_pred: np.ndarray
    classes: list[str]
    misclassified: np.ndarray
    method: str
    fold: int
    feature_layer: str
    synthetic: bool
    title: str


def embedding_view(run, fold: int = 0, method: str = "tsne", *, max_scans: int | None = None, seed: int = 0,
                   device: str | None = "cpu", factory=None) -> EmbeddingView:
    """Embed the held-out scans of a fold: the model's ``feature_layer`` features -> 2-D.

    Parameters
    ----------
    run, fold
        The run (a :class:`~ferbench.eval.results.Run` or its folder) and its 0-based split (first round).
    method
        ``"tsne"`` (:func:`ferbench.explain.tsne_embedding`) or ``"pca"``.
    max_scans
        Keep a random subset of this many held-out scans (seeded by ``seed``) to stay quick on a CPU.
    device, factory
        As :meth:`ferbench.eval.results.Run.load_fold_model`.
    """
    import torch

    from ferbench.errors import FerbenchError
    from ferbench.eval.results import Run, open_run
    from ferbench.explain.embedding import layer_features, tsne_embedding
    from ferbench.views.labels import title_label

    if method not in EMBEDDING_METHODS:
        raise FerbenchError(f"unknown embedding {method!r}; expected one of {', '.join(EMBEDDING_METHODS)}")
    run = run if isinstance(run, Run) else open_run(run)
    fm = run.load_fold_model(int(fold), device=device, factory=factory)
    idx = list(fm.test)
    if max_scans is not None and len(idx) > max_scans:
        idx = sorted(np.random.default_rng(seed).permutation(idx)[: int(max_scans)].tolist())
    x, y = fm.inputs(idx)
    feats = layer_features(fm.model, x)
    with torch.no_grad():
        dev = next(fm.model.parameters()).device
        pred = fm.model(x.to(dev)).argmax(1).cpu().numpy()
    if method == "tsne":
        pts = tsne_embedding(feats, random_state=seed)
    else:
        from sklearn.decomposition import PCA

        if len(idx) < 2:
            raise FerbenchError(f"{run.path}: PCA needs at least 2 held-out scans, fold {fold} has {len(idx)}")
        pts = PCA(n_components=2, random_state=seed).fit_transform(np.asarray(feats, np.float64))
    recs = [fm.records[i] for i in idx]
    synthetic = any(bool(r.get("synthetic")) for r in recs)
    layer = str(getattr(fm.model, "feature_layer", "features"))
    return EmbeddingView(points=np.asarray(pts, np.float64), paths=[str(r["path"]) for r in recs],
                         subjects=[str(r.get("subject", "")) for r in recs], record_indices=[int(i) for i in idx],
                         y_true=np.asarray(y, np.int64), y_pred=np.asarray(pred, np.int64),
                         classes=list(fm.classes), misclassified=np.asarray(y) != np.asarray(pred), method=method,
                         fold=int(fold), feature_layer=layer, synthetic=synthetic,
                         title=title_label(f"{'t-SNE' if method == 'tsne' else 'PCA'} of the {layer} features, "
                                           f"held-out scans of fold {int(fold) + 1}", synthetic))


def nearest_point(view, x: float, y: float, max_distance: float | None = None) -> int | None:
    """The index of the point nearest to ``(x, y)``, or None when none lies within ``max_distance``.

    What a click or a hover on a scatter picks. Distances are Euclidean in the coordinates of ``view``'s points:
    data coordinates for an :class:`EmbeddingView`; a front end that wants a tolerance in screen pixels passes
    the points already transformed to pixels (an ``(N, 2)`` array) and the mouse position in the same pixels.

    Parameters
    ----------
    view
        An :class:`EmbeddingView` (its ``points``) or an ``(N, 2)`` array of coordinates.
    x, y
        The position.
    max_distance
        Farther points do not count (None: any distance). A tie goes to the lower index.

    Returns
    -------
    int or None
        None also when there are no points or the position is not finite.
    """
    from ferbench.errors import FerbenchError

    pts = np.asarray(getattr(view, "points", view), dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise FerbenchError(f"nearest_point: expected (N, 2) points, got shape {pts.shape}")
    if pts.shape[0] == 0 or not (np.isfinite(x) and np.isfinite(y)):
        return None
    d2 = (pts[:, 0] - float(x)) ** 2 + (pts[:, 1] - float(y)) ** 2
    d2 = np.where(np.isfinite(d2), d2, np.inf)
    k = int(np.argmin(d2))
    if not np.isfinite(d2[k]):
        return None
    if max_distance is not None and d2[k] > float(max_distance) ** 2:
        return None
    return k


def point_position(run, view, point: int) -> int:
    """The 0-based held-out position of embedding point ``point`` in its fold: the ``scan_index`` of
    :func:`ferbench.views.explanation_view` that explains that point's scan.

    Parameters
    ----------
    run
        The run (a :class:`~ferbench.eval.results.Run` or its folder) the view was computed from.
    view
        Its :class:`EmbeddingView`.
    point
        Index of the point.

    Raises
    ------
    ferbench.errors.FerbenchError
        The point's record is not held out in the view's fold (a view of another run).
    """
    from ferbench.errors import FerbenchError
    from ferbench.eval.results import Run, open_run

    run = run if isinstance(run, Run) else open_run(run)
    rec = int(view.record_indices[int(point)])
    for h in run.held_out(int(view.fold)):
        if int(h.record_index) == rec:
            return int(h.position)
    raise FerbenchError(f"{run.path}: record {rec} is not held out in fold {int(view.fold)}")
