"""Qt dock widgets of the ferbench napari plugin (magicgui containers; logic in :mod:`ferbench_napari.tasks`)."""
from ferbench_napari._qt.widgets import (AttributeMapsWidget, EmbeddingWidget, ExplainWidget, GEMaxTauWidget,
                                         PredictWidget, ResultsWidget)

__all__ = ["AttributeMapsWidget", "GEMaxTauWidget", "ExplainWidget", "ResultsWidget", "EmbeddingWidget",
           "PredictWidget"]
