"""ferbench: an interactive workbench for 2D+3D facial expression recognition.

The entry points a user reaches for first are attributes of this package, imported on first use
(PEP 562), so ``import ferbench`` stays fast and loads neither torch, scikit-learn nor matplotlib
(``benchmarks/bench_import.py`` measures it).

Data and maps
    >>> import ferbench
    >>> root = "synthetic"
    >>> ferbench.generate_dataset(root, n_subjects=2, layouts=("bu3dfe",))  # doctest: +SKIP
    >>> index = ferbench.index_dataset(root)                                 # doctest: +SKIP
    >>> scan = ferbench.read_scan(index.records[0].path)                     # doctest: +SKIP
    >>> grid = ferbench.preprocess_scan(scan, size=224)                      # doctest: +SKIP
    >>> maps = ferbench.compute_maps(grid, ["geometry", "normal_z", "shape_index"])  # doctest: +SKIP
    >>> gem, result = ferbench.gemax_map(grid.z, tau=20, mask=grid.mask)     # doctest: +SKIP
    >>> ferbench.gemax_dp([1, 1, 1, 1], K=2, tau=2).cuts.tolist()
    [0, 2, 4]

Models
    >>> ferbench.list_models("cmcnn*")
    ['cmcnn', 'cmcnn_concat']
    >>> ferbench.model_cfg("cmcnn").inputs
    (('gray', 1), ('lbp', 1), ('depth', 1))
    >>> model = ferbench.create_model("cmcnn", input_size=64)                 # doctest: +SKIP

Protocols, training, evaluation
    >>> splits = ferbench.make_splits("bu3dfe_setting1_720", index, folds=4)  # doctest: +SKIP
    >>> out = ferbench.train("cmcnn", "bu3dfe_p1_paper", root, "results")     # doctest: +SKIP
    >>> report = ferbench.evaluate(out)                                       # doctest: +SKIP
    >>> run = ferbench.open_run(out)                                          # doctest: +SKIP

Displays (matplotlib is imported when one is drawn)
    >>> ferbench.ConfusionComparisonDisplay.from_results(out, paper="dfcnn", table="IV").plot()  # doctest: +SKIP
    >>> ferbench.MapGridDisplay.from_scan(scan).plot()                       # doctest: +SKIP

The papers' numbers
    >>> ferbench.paper_table("gemax_fa", "3").cell("Entropy", "20")
    7.811
    >>> m, labels = ferbench.paper_confusion("dfcnn", "IV", variant="Gabor")
    >>> labels[0], float(m[0, 0])
    ('anger', 85.53)
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> "module:attribute"; every target is documented (with an example) where it is defined
_EXPORTS: dict[str, str] = {
    # data and maps
    "generate_dataset": "ferbench.synth:generate_dataset",
    "index_dataset": "ferbench.io.dataset:index_dataset",
    "read_scan": "ferbench.io:read_scan",
    "preprocess_scan": "ferbench.preprocess:preprocess_scan",
    "compute_maps": "ferbench.maps:compute_maps",
    "gemax_map": "ferbench.maps.gemax:gemax_map",
    "gemax_dp": "ferbench.maps.gemax:gemax_dp",
    "tau_sweep": "ferbench.maps.gemax:tau_sweep",
    # models
    "list_models": "ferbench.models:list_models",
    "create_model": "ferbench.models:create_model",
    "model_cfg": "ferbench.models:model_cfg",
    # protocols, training, evaluation, results
    "make_splits": "ferbench.eval.protocols:make_splits",
    "train": "ferbench.eval.commands:train",
    "evaluate": "ferbench.eval.commands:evaluate",
    "open_run": "ferbench.eval.results:open_run",
    # displays
    "ConfusionComparisonDisplay": "ferbench.viz:ConfusionComparisonDisplay",
    "AccuracyTableDisplay": "ferbench.viz:AccuracyTableDisplay",
    "ExplanationGridDisplay": "ferbench.viz:ExplanationGridDisplay",
    "EmbeddingDisplay": "ferbench.viz:EmbeddingDisplay",
    "MapGridDisplay": "ferbench.viz:MapGridDisplay",
    "TauSweepDisplay": "ferbench.viz:TauSweepDisplay",
    # the papers' numbers
    "paper_table": "ferbench.papers:table",
    "paper_confusion": "ferbench.papers:confusion_matrix",
    "list_paper_tables": "ferbench.papers:list_tables",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'ferbench' has no attribute {name!r}")
    module, attr = target.split(":")
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
