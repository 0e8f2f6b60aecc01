"""Qt dock widgets of the ferbench napari plugin (magicgui containers; logic in :mod:`ferbench_napari.tasks`)."""
from ferbench_napari._qt.widgets import AttributeMapsWidget, GEMaxTauWidget

__all__ = ["AttributeMapsWidget", "GEMaxTauWidget"]
