"""Views: what a front end shows, computed once in the core.

Each view is a pure function returning a plain dataclass of arrays, labels and titles. The HTML report
(:mod:`ferbench.demo`), the napari plugin (``ferbench_napari.tasks``) and the notebook panels
only turn these into HTML, layers or widgets.

=================================  ====================================================================
:func:`scan_maps_view`             attribute maps of one scan (one shared computation), with colormaps
:func:`gemax_view`                 the GEMax map at one τ, its entropy and GEMax Table 3's value
:func:`entropy_curve`              entropy versus τ of one scan beside GEMax Table 3
:func:`explanation_view`           one held-out scan of a fold: inputs, prediction, heat maps
:func:`explain_scan`               the same for any scan, given a loaded model
:func:`heat_base`                  the input a heat map is drawn over
:func:`explanation_on_surface`     a held-out scan's Grad-CAM carried onto its 3D surface (per vertex)
:func:`embedding_view`             2-D embedding (t-SNE / PCA) of a fold's held-out features
:func:`nearest_point`              the embedding point under a click or hover (or None)
:func:`point_position`             the held-out position (explanation_view's scan) of an embedding point
:func:`results_view`               confusion, per-class accuracy, the paper's table, difference, chance
:func:`prediction_view`            a trained run (one fold or all averaged) on any scan, CAM on its vertices
:func:`title_label`                the "(synthetic)" / source labelling of any title
=================================  ====================================================================
"""
from __future__ import annotations

from typing import Any

_LAZY = {
    "title_label": "labels", "source_label": "labels",
    "MapLayer": "scan_maps", "ScanMapsView": "scan_maps", "scan_maps_view": "scan_maps", "iter_scan_maps": "scan_maps",
    "map_style": "scan_maps",
    "GEMaxView": "gemax", "gemax_view": "gemax", "EntropyCurve": "gemax", "entropy_curve": "gemax",
    "paper_table3_entropy": "gemax", "paper_table3_entropies": "gemax", "entropy_text": "gemax",
    "EXPLAIN_METHODS": "explanation", "ExplanationView": "explanation", "explanation_view": "explanation",
    "explain_scan": "explanation", "modality_images": "explanation", "heat_base": "explanation",
    "SurfaceExplanation": "explanation", "explanation_on_surface": "explanation",
    "EmbeddingView": "embedding", "embedding_view": "embedding", "nearest_point": "embedding", "point_position": "embedding",
    "ResultsView": "results", "results_view": "results", "paper_comparisons": "results",
    "PredictionView": "prediction", "prediction_view": "prediction",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"ferbench.views.{_LAZY[name]}"), name)
    raise AttributeError(name)


def __dir__() -> list[str]:
    return __all__
