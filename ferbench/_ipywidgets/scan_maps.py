"""ScanMapsPanel: pick a scan of a dataset and an attribute map, see the map.

The logic is in :func:`scan_options` and :func:`maps_view`; the panel only wires widgets to them.
"""
from __future__ import annotations

from typing import Any, Sequence

import ipywidgets as widgets

from ferbench._ipywidgets._common import as_index, banner, new_figure, record_label, set_banner, show_figure, show_text

ALL_MAPS = "all maps"


def scan_options(index) -> list[tuple[str, int]]:
    """Dropdown options ``(label, position)`` for every record of a dataset index.

    Parameters
    ----------
    index
        A :class:`ferbench.io.DatasetIndex` (or a dataset folder).

    Returns
    -------
    list of (str, int)
        ``("F0001 · happiness · 4", i)`` in index order.
    """
    idx = as_index(index)
    return [(record_label(r), i) for i, r in enumerate(idx)]


def map_options(names: Sequence[str] | None = None) -> list[str]:
    """``"all maps"`` followed by the map names (default: every registered map)."""
    from ferbench.maps import list_maps

    return [ALL_MAPS] + list(names if names is not None else list_maps())


def maps_view(scan_or_grid, map_name: str | Sequence[str] = ALL_MAPS, size: int = 112, **options: Any):
    """Compute one map (or several, or all of them) of a scan and return an unplotted MapGridDisplay.

    Parameters
    ----------
    scan_or_grid
        A Scan, ScanRecord or preprocessed FaceGrid.
    map_name
        A name from :func:`ferbench.maps.list_maps`, a list of names, or ``"all maps"`` (every registered map;
        texture maps only when the scan has a texture).
    size
        Grid side when the scan still has to be preprocessed.
    **options
        Map options (e.g. ``tau=30``), see :func:`ferbench.maps.compute_maps`.

    Returns
    -------
    ferbench.viz.MapGridDisplay
        ``.maps`` holds the arrays; ``.synthetic`` says whether the scan is synthetic.
    """
    from ferbench.views.scan_maps import scan_maps_view
    from ferbench.viz.maps import MapGridDisplay

    if isinstance(map_name, str):
        names = None if map_name == ALL_MAPS else [map_name]
    else:
        names = list(map_name)
    view = scan_maps_view(scan_or_grid, names=names, size=size, **options)
    if names is not None and view.missing:        # asked for a map the scan cannot give: say why
        from ferbench.errors import FerbenchError

        n, why = next(iter(view.missing.items()))
        raise FerbenchError(f"map {n!r} {why}")
    return MapGridDisplay.from_view(view)


class ScanMapsPanel:
    """Dropdowns for a scan (subject · expression · intensity) and a map name, and the map figure.

    Parameters
    ----------
    data
        A :class:`ferbench.io.DatasetIndex` or a dataset folder.
    size
        Grid side used to preprocess the scans (smaller is faster).
    map_names
        Maps offered (default: all registered maps).
    map_name
        The map shown first.

    Attributes
    ----------
    widget : ipywidgets.VBox
        Display this.
    scan, map : ipywidgets.Dropdown
    output : ipywidgets.Output
    display_ : MapGridDisplay or None
        The last view (its ``maps`` hold the arrays).
    """

    def __init__(self, data, size: int = 112, map_names: Sequence[str] | None = None, map_name: str = ALL_MAPS,
                 scan: int = 0):
        self.index = as_index(data)
        if len(self.index) == 0:
            raise ValueError("the dataset index has no scans")
        self.size = int(size)
        self.map_names = None if map_names is None else list(map_names)
        self._grids: dict[int, Any] = {}
        self.display_ = None
        self.scan = widgets.Dropdown(options=scan_options(self.index), value=int(scan), description="scan")
        self.map = widgets.Dropdown(options=map_options(map_names), value=map_name, description="map")
        self.source = banner(None)
        self.output = widgets.Output()
        self.widget = widgets.VBox([widgets.HBox([self.scan, self.map]), self.source, self.output])
        self.scan.observe(self._changed, names="value")
        self.map.observe(self._changed, names="value")
        self.update()

    def grid(self, i: int):
        """The preprocessed FaceGrid of record ``i`` (cached: preprocessing takes about a second)."""
        from ferbench.preprocess import preprocess_scan

        if i not in self._grids:
            if len(self._grids) >= 8:
                self._grids.pop(next(iter(self._grids)))
            self._grids[i] = preprocess_scan(self.index[i].load(), size=self.size)
        return self._grids[i]

    def _changed(self, change) -> None:
        self.update()

    def update(self) -> None:
        """Recompute and redraw for the current dropdown values."""
        rec = self.index[self.scan.value]
        try:
            which = self.map.value
            if which == ALL_MAPS and self.map_names is not None:
                which = self.map_names
            disp = maps_view(self.grid(self.scan.value), which, size=self.size)
        except Exception as exc:  # noqa: BLE001 - show the problem in the panel, keep the panel alive
            self.display_ = None
            show_text(self.output, f"{record_label(rec)}: {type(exc).__name__}: {exc}")
            return
        self.display_ = disp
        set_banner(self.source, disp.synthetic)
        n = len(disp.maps)
        ncols = min(n, 5)
        nrows = -(-n // ncols)
        fig = new_figure(2.4 * ncols + 0.4, 2.5 * nrows + 0.5)
        disp.plot(ax=fig, ncols=ncols)
        show_figure(self.output, fig)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
