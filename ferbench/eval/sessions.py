"""DF-CNN P-I sessions: a new linear SVM per 54-vs-6 subject partition of the evaluation subjects.

After ``train(..., protocol="bu3dfe_subset1_pi", save_features=True)`` the results folder holds
``features_r00_f00.npy`` (the 60 evaluation subjects' embeddings, in ``splits.json`` test order);
:func:`svm_sessions` then reproduces DF-CNN_svm [dfcnn.md §1.4, §9 #28: LinearSVC(C=1), squared
hinge, no scaling]. It also returns the softmax-free session mean of a fixed predictor when
``fixed_pred`` is given (the paper's 86.20 vs 86.25 discussion).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ferbench.errors import DatasetError

__all__ = ["svm_sessions"]


def svm_sessions(features: np.ndarray, labels: Sequence[int], groups: Sequence[str],
                 sessions: Sequence[Sequence[str]], *, C: float = 1.0, n_classes: int = 6,
                 fixed_pred: Sequence[int] | None = None, max_iter: int = 10000) -> dict:
    """Train and test one linear SVM per session.

    Parameters
    ----------
    features
        ``(N, D)`` embeddings of the evaluation samples.
    labels, groups
        Class and subject of each sample.
    sessions
        Test-subject sets (:func:`ferbench.eval.protocols.pi_sessions`); the other subjects train.
    C, max_iter
        LinearSVC parameters.
    n_classes
        Size of the confusion matrices.
    fixed_pred
        Optional predictions of a fixed classifier (e.g. the softmax head) scored on the same sessions.

    Returns
    -------
    dict
        ``accuracies`` (per session), ``mean``, ``std``, ``confusion_row_normalised_mean`` (%),
        and ``fixed_accuracies`` / ``fixed_mean`` when ``fixed_pred`` is given.
    """
    from sklearn.svm import LinearSVC

    from ferbench.eval.metrics import confusion_matrix, mean_row_normalised

    X = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    g = np.asarray(groups, dtype=object)
    if X.ndim != 2 or len(X) != len(y) or len(y) != len(g):
        raise DatasetError(f"features {X.shape}, labels {len(y)} and groups {len(g)} do not match")
    accs, fixed, cms = [], [], []
    for test_subs in sessions:
        te = np.isin(g, np.asarray(list(test_subs), dtype=object))
        if not te.any() or te.all():
            raise DatasetError(f"session {tuple(test_subs)} leaves no train or no test samples")
        if set(g[te]) & set(g[~te]):  # cannot happen with subject ids, kept as a guard
            raise DatasetError("a subject is in both parts of a session")
        clf = LinearSVC(C=C, max_iter=max_iter).fit(X[~te], y[~te])
        p = clf.predict(X[te])
        accs.append(float(np.mean(p == y[te])))
        cms.append(confusion_matrix(y[te], p, n_classes))
        if fixed_pred is not None:
            fixed.append(float(np.mean(np.asarray(fixed_pred)[te] == y[te])))
    out = {"accuracies": accs, "mean": float(np.mean(accs)), "std": float(np.std(accs)),
           "confusion_row_normalised_mean": mean_row_normalised(cms).tolist()}
    if fixed_pred is not None:
        out.update(fixed_accuracies=fixed, fixed_mean=float(np.mean(fixed)))
    return out
