"""Subject-independent evaluation: protocols, training loop, repeated cross-validation, results.

* :mod:`ferbench.eval.protocols` - named, seeded split generators (``list_protocols()``,
  ``make_splits``), DF-CNN P-I sessions, the explicit leaky split.
* :mod:`ferbench.eval.data` - records -> stacked model inputs, cached on disk.
* :mod:`ferbench.eval.training` - ``fit`` / ``predict`` with resumable checkpoints.
* :mod:`ferbench.eval.runner` - rounds x folds through local worker processes, any Executor or a Dask
  cluster, with faults survived; results folder layout.
* :mod:`ferbench.eval.runlock` - one run per results folder (``run.lock``), stale workers fenced out.
* :mod:`ferbench.eval.results` - a results folder as a :class:`~ferbench.eval.results.Run` (``open_run``,
  ``list_runs``): layout, schema, summary, folds, held-out scans, fold models.
* :mod:`ferbench.eval.commands` - ``train`` / ``evaluate`` behind the command line; ``load_fold_model``;
  ``linear_probe`` (a logistic-regression baseline on a fold's raw inputs).
* :mod:`ferbench.eval.inference` - ``predict_scans`` / ``predict_scan`` behind ``ferbench predict``: a trained
  run (one fold or all averaged) on any scan files.
* :mod:`ferbench.eval.metrics` - accuracy, per-class accuracy, confusion matrices.

Heavy packages (torch, sklearn) are imported inside the functions that need them.
"""
from __future__ import annotations

from ferbench.eval.metrics import accuracy, confusion_matrix, per_class_accuracy
from ferbench.eval.protocols import (PROTOCOLS, LeakWarning, ProtocolSplits, Split, check_subject_disjoint,
                                     leaky_sample_split, list_protocols, make_splits, pi_sessions)


def __getattr__(name: str):
    lazy = {"train": "commands", "evaluate": "commands", "run_protocol": "runner", "fit": "training",
            "predict": "training", "TrainConfig": "training", "MapCache": "data", "precompute": "data",
            "load_fold_model": "commands", "FoldModel": "results", "linear_probe": "commands",
            "Run": "results", "open_run": "results", "list_runs": "results", "inputs_for_scan": "data",
            "predict_scans": "inference", "predict_scan": "inference", "load_predictor": "inference",
            "Prediction": "inference", "PredictionTable": "inference"}
    if name in lazy:
        import importlib

        return getattr(importlib.import_module(f"ferbench.eval.{lazy[name]}"), name)
    raise AttributeError(name)


__all__ = ["PROTOCOLS", "LeakWarning", "ProtocolSplits", "Split", "check_subject_disjoint", "leaky_sample_split",
           "list_protocols", "make_splits", "pi_sessions", "accuracy", "confusion_matrix", "per_class_accuracy",
           "train", "evaluate", "load_fold_model", "FoldModel", "Run", "open_run", "list_runs", "inputs_for_scan",
           "linear_probe", "predict_scans", "predict_scan", "load_predictor", "Prediction", "PredictionTable", "run_protocol", "fit", "predict", "TrainConfig", "MapCache", "precompute"]
