"""Notebook front end: small ipywidgets panels over ferbench's public functions.

This is the only place in ferbench that imports ipywidgets (the core never does, so it stays usable
without the ``notebooks`` extra). Each panel is a thin wrapper: its logic is a plain function a script
can call and a test can check without a browser.

=====================  ==================================================  ==========================
panel                  shows                                               logic
=====================  ==================================================  ==========================
:class:`ScanMapsPanel`  one attribute map (or all) of a scan of a dataset   :func:`maps_view`
:class:`TauSlider`      GEMax map + entropy, live as τ moves, with the      :func:`tau_view`
                        paper's Table 3 entropies
:class:`PaperTablePanel`  a paper's transcribed table                       :func:`table_text`
:class:`ResultsPanel`   a training run's confusion matrix and accuracies    :func:`results_view`
                        beside the paper's
:class:`ExplanationPanel`  a fold, a held-out scan, a method: inputs and    :func:`explanation_panel_view`
                        heat maps (Grad-CAM per modality, saliency, attention)
:class:`EmbeddingPanel`  t-SNE of held-out scans; a chosen point shows its   :func:`point_explanation`
                        maps and explanation
=====================  ==================================================  ==========================

Numbers computed on synthetic scans are labelled "synthetic sanity check"; paper numbers carry their table.

>>> from ferbench._ipywidgets import TauSlider          # doctest: +SKIP
>>> TauSlider(scan).widget                              # doctest: +SKIP
"""
from __future__ import annotations

from ferbench._ipywidgets._common import SYNTHETIC_NOTE
from ferbench._ipywidgets.explanation import (HOVER_RADIUS_PX, EmbeddingPanel, ExplanationPanel,
                                              explanation_panel_view, fold_options, ipympl_canvas,
                                              point_explanation, point_options, point_position,
                                              scan_options_for_fold)
from ferbench._ipywidgets.paper_tables import PaperTablePanel, paper_options, table_options, table_text
from ferbench._ipywidgets.results import (ResultsPanel, ResultsView, comparison_options, default_comparison,
                                          find_results, results_view, summary_text)
from ferbench._ipywidgets.scan_maps import ScanMapsPanel, map_options, maps_view, scan_options
from ferbench._ipywidgets.tau import TauSlider, TauView, paper_entropies, paper_label, tau_view

__all__ = [
    "SYNTHETIC_NOTE",
    "ScanMapsPanel", "scan_options", "map_options", "maps_view",
    "TauSlider", "TauView", "tau_view", "paper_entropies", "paper_label",
    "PaperTablePanel", "paper_options", "table_options", "table_text",
    "ResultsPanel", "ResultsView", "results_view", "find_results", "comparison_options", "default_comparison",
    "summary_text",
    "ExplanationPanel", "explanation_panel_view", "fold_options", "scan_options_for_fold",
    "EmbeddingPanel", "point_options", "point_position", "point_explanation", "ipympl_canvas", "HOVER_RADIUS_PX",
]
