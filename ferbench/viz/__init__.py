"""Display objects (scikit-learn style: ``.from_*`` constructors, ``.plot(ax=...)`` returning self, ``figure_``
and ``ax_`` (one Axes) or ``axes_`` (a grid); the contract is :class:`ferbench.viz._common.Display`).

* :class:`ConfusionComparisonDisplay` - ferbench's confusion matrix next to the paper's, with the difference.
* :class:`AccuracyTableDisplay` - per-expression accuracy, paper (with table) vs ferbench (synthetic/real).
* :class:`ExplanationDisplay` - one explained scan: its inputs, then its heat maps (columns labelled).
* :class:`ExplanationGridDisplay` - saliency / CAM / attention overlays, one row per class.
* :class:`EmbeddingDisplay` and :func:`embedding_panels` - t-SNE scatters coloured by expression.
* ``MapGridDisplay`` and ``TauSweepDisplay`` (attribute-map grid, tau sweep) live in :mod:`ferbench.viz.maps`.
* 3D views of a scan with pyvista (heat maps painted on the surface) live in :mod:`ferbench.viz.surface`.

Every label says where a number comes from: :func:`paper_source` / :func:`run_source`.
matplotlib is imported only when something is drawn.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ConfusionComparisonDisplay": "confusion",
    "AccuracyTableDisplay": "accuracy",
    "ExplanationGridDisplay": "explanations", "EmbeddingDisplay": "explanations",
    "ExplanationDisplay": "explanations",
    "embedding_panels": "explanations", "heat_overlay": "explanations", "display_images": "explanations",
    "Display": "_common", "paper_source": "_common", "run_source": "_common", "VizError": "_common", "CLASS_COLORS": "_common",
    "PAPER_NAMES": "_common", "row_normalise": "_common", "load_results": "_common",
    "MapGridDisplay": "maps", "TauSweepDisplay": "maps",
    "scan_to_polydata": "surface", "scan_plotter": "surface", "show_scan": "surface",
    "render_scan_png": "surface", "heat_vertex_colors": "surface",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"ferbench.viz.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'ferbench.viz' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
