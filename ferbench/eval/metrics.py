"""Accuracy, per-class accuracy (recall) and confusion matrices.

Confusion matrices are integer counts, rows = true class, columns = predicted class, in
label order (``EXPRESSIONS``, neutral last when used). The papers' tables average
row-normalised per-session matrices: :func:`mean_row_normalised`.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

__all__ = ["confusion_matrix", "accuracy", "per_class_accuracy", "mean_per_class_accuracy",
           "row_normalised", "mean_row_normalised", "summarise", "chance_test"]


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """Counts ``C[i, j]`` = samples of true class i predicted as j (int64, ``(n_classes, n_classes)``)."""
    t = np.asarray(y_true, dtype=np.int64).ravel()
    p = np.asarray(y_pred, dtype=np.int64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.size} vs {p.size}")
    if t.size and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes})")
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Fraction of correct predictions (nan for no samples)."""
    t, p = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(t == p)) if t.size else float("nan")


def per_class_accuracy(cm: np.ndarray) -> np.ndarray:
    """Recall of each class from a count matrix (nan where a class has no samples)."""
    cm = np.asarray(cm, dtype=np.float64)
    n = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.diag(cm) / np.where(n > 0, n, 1), np.nan)


def mean_per_class_accuracy(cm: np.ndarray) -> float:
    """The papers' "average recognition accuracy across the expressions" (mean recall over present classes)."""
    return float(np.nanmean(per_class_accuracy(cm)))


def row_normalised(cm: np.ndarray) -> np.ndarray:
    """Rows scaled to sum to 100 (percent); empty rows stay 0."""
    cm = np.asarray(cm, dtype=np.float64)
    s = cm.sum(axis=1, keepdims=True)
    return np.divide(100.0 * cm, s, out=np.zeros_like(cm), where=s > 0)


def mean_row_normalised(cms: Iterable[np.ndarray]) -> np.ndarray:
    """Average of per-session row-normalised matrices (dfcnn.md §1.4 [R])."""
    mats = [row_normalised(c) for c in cms]
    if not mats:
        raise ValueError("no confusion matrices to average")
    return np.mean(mats, axis=0)


def summarise(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> dict:
    """Accuracy, per-class accuracy and count matrix as JSON-ready Python types."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    pca = per_class_accuracy(cm)
    return {"accuracy": accuracy(y_true, y_pred), "n": int(np.asarray(y_true).size),
            "per_class_accuracy": [None if np.isnan(v) else float(v) for v in pca],
            "mean_per_class_accuracy": mean_per_class_accuracy(cm) if cm.sum() else float("nan"),
            "confusion": cm.tolist()}


def chance_test(n_correct: int, n: int, chance: float) -> dict:
    """Is an accuracy above chance? Wilson 95 % interval and a one-sided exact binomial test.

    Each held-out scan must be counted once (one round of a cross-validation), so that the
    ``n`` predictions are independent trials.

    Parameters
    ----------
    n_correct, n
        Correct predictions and predictions.
    chance
        Accuracy of guessing (``1 / n_classes``).

    Returns
    -------
    dict
        ``accuracy``, ``n``, ``ci95`` (low, high) and ``p_value`` (P[X >= n_correct] for
        X ~ Binomial(n, chance)); nan entries for ``n = 0``.
    """
    from scipy.stats import binomtest

    n_correct, n = int(n_correct), int(n)
    if not 0 <= n_correct <= n:
        raise ValueError(f"need 0 <= n_correct <= n, got {n_correct} of {n}")
    if not 0.0 < chance < 1.0:
        raise ValueError(f"chance must lie in (0, 1), got {chance}")
    if n == 0:
        nan = float("nan")
        return {"accuracy": nan, "n": 0, "ci95": [nan, nan], "p_value": nan}
    t = binomtest(n_correct, n, chance, alternative="greater")
    # the interval is two-sided (the one-sided test's own interval would end at 1)
    ci = binomtest(n_correct, n, chance).proportion_ci(confidence_level=0.95, method="wilson")
    return {"accuracy": n_correct / n, "n": n, "ci95": [float(ci.low), float(ci.high)], "p_value": float(t.pvalue)}
