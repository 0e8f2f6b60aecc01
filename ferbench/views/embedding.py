"""2-D embedding (t-SNE or PCA) of a fold's held-out features, with the scans they come from."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["EmbeddingView", "embedding_view", "EMBEDDING_METHODS"]

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
