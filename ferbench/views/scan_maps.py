"""Attribute maps of one scan, computed with one shared context, with display hints."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Generator, Sequence

import numpy as np

__all__ = ["MapLayer", "ScanMapsView", "map_style", "iter_scan_maps", "scan_maps_view"]

# full names (the maps' own ``description`` says how values are scaled)
_FULL_NAMES = {
    "geometry": "depth z (geometry map)", "normal_x": "surface normal, x component",
    "normal_y": "surface normal, y component", "normal_z": "surface normal, z component",
    "shape_index": "shape index", "texture": "texture (RGB)", "gray": "gray level (luma)",
    "lbp": "local binary pattern", "depth": "depth (min-max)", "gemax": "GEMax depth map",
}


def map_style(name: str, data: np.ndarray) -> tuple[str, tuple[float, float], str]:
    """Suggested ``(colormap, contrast_limits, value_meaning)`` of a map from :func:`ferbench.maps.compute_maps`.

    Maps are stored in [0, 1]. The normal components are ``(n + 1) / 2``, so 0.5 is a normal of 0:
    a diverging colormap over [0, 1] (= [-1, 1]); the shape index is diverging around its centre (saddle)
    over [0, 1]; depth-like and texture-derived maps use gray with limits from the face's own values.
    """
    if name.startswith("normal_"):
        return "RdBu_r", (0.0, 1.0), f"{name[-1]} component of the unit normal, [-1, 1] stored as [0, 1]"
    if name == "shape_index":
        return "RdBu_r", (0.0, 1.0), "shape index, [-1, 1] stored as [0, 1] (0.5 = saddle)"
    a = np.asarray(data, dtype=np.float64)
    fg = a[np.isfinite(a) & (a > 0)] if a.ndim == 2 else a[np.isfinite(a)]
    lo, hi = (float(fg.min()), float(fg.max())) if fg.size else (0.0, 1.0)
    if not hi > lo:
        lo, hi = 0.0, 1.0
    return "gray", (lo, hi), "scaled to [0, 1] (0 = background)"


@dataclass
class MapLayer:
    """One map of a scan, ready to draw.

    Attributes
    ----------
    name, full_name
        Registry name (``"normal_x"``) and words for people.
    data
        float32 (H, W) or (H, W, 3) in [0, 1].
    rgb
        True for a colour map (draw as is).
    colormap, contrast_limits
        Suggested colormap and value range (see :func:`map_style`).
    description
        How the values were computed and scaled.
    title
        Layer / panel title with the scan's name and ``" (synthetic)"``.
    """

    name: str
    full_name: str
    data: np.ndarray
    rgb: bool
    colormap: str
    contrast_limits: tuple[float, float]
    description: str
    title: str


@dataclass
class ScanMapsView:
    """Attribute maps of one scan.

    Attributes
    ----------
    scan_name
        The scan's file name (``"scan"`` for a scan made in memory).
    source_path
        The scan's file or None.
    synthetic
        True for generated data.
    size
        Grid side in pixels.
    maps
        Name -> :class:`MapLayer`, in the order asked for.
    missing
        Name -> why the map is absent (texture maps of a scan without texture).
    label
        Subject and expression of the scan (its file name when unknown).
    title
        ``"Attribute maps <label>"`` plus ``" (synthetic)"``.
    """

    scan_name: str
    source_path: str | None
    synthetic: bool
    size: int
    maps: dict[str, MapLayer] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    label: str = ""
    title: str = ""

    def arrays(self) -> dict[str, np.ndarray]:
        """Name -> array, as :func:`ferbench.maps.compute_maps` returns."""
        return {k: v.data for k, v in self.maps.items()}


def _grid(scan_or_grid, size: int, preprocess: dict[str, Any] | None):
    from ferbench.io.dataset import ScanRecord
    from ferbench.preprocess import FaceGrid, preprocess_scan

    if isinstance(scan_or_grid, FaceGrid):
        return scan_or_grid
    if isinstance(scan_or_grid, ScanRecord):
        scan_or_grid = scan_or_grid.load()
    return preprocess_scan(scan_or_grid, size=int(size), **(preprocess or {}))


def _scan_name(grid) -> tuple[str, str | None]:
    meta = getattr(grid, "meta", None)
    src = getattr(meta, "source_path", None) if meta is not None else None
    return (os.path.basename(src) if src else "scan"), src


def iter_scan_maps(scan_or_grid, names: Sequence[str] | None = None, size: int = 224,
                   preprocess: dict[str, Any] | None = None, **options: Any
                   ) -> Generator[str, None, ScanMapsView]:
    """:func:`scan_maps_view` one step at a time: yields ``"preprocess"`` then each map name when done.

    All maps share one :class:`ferbench.maps.MapContext` (:func:`ferbench.maps.iter_maps`), so the normal
    and shape-index maps share one plane fit. The view is the generator's return value
    (``StopIteration.value``; napari's ``worker.returned``).
    """
    from ferbench.maps import MAPS, iter_maps, list_maps
    from ferbench.views.labels import title_label

    grid = _grid(scan_or_grid, size, preprocess)
    yield "preprocess"
    names = list(list_maps() if names is None else names)
    missing = {n: "needs a texture and this scan has none" for n in names
               if grid.texture is None and getattr(MAPS.get(n), "needs_texture", False)}
    todo = [n for n in names if n not in missing]
    sname, src = _scan_name(grid)
    synthetic = bool(getattr(grid, "synthetic", False))
    meta = getattr(grid, "meta", None)
    label = " ".join(str(v) for v in (getattr(meta, "subject", None), getattr(meta, "expression", None)) if v)
    label = label or sname
    view = ScanMapsView(sname, src, synthetic, int(grid.xyz.shape[0]), {}, missing, label,
                        title_label(f"Attribute maps {label}", synthetic))
    for n, data in iter_maps(grid, todo, **options):
        data = np.asarray(data, dtype=np.float32)
        rgb = data.ndim == 3 and data.shape[-1] == 3
        cmap, lim, meaning = map_style(n, data)
        desc = getattr(MAPS.get(n), "description", "") or meaning
        view.maps[n] = MapLayer(n, _FULL_NAMES.get(n, n), data, rgb, cmap, lim, desc,
                                title_label(f"{sname} {n}", synthetic))
        yield n
    return view


def scan_maps_view(scan_or_grid, names: Sequence[str] | None = None, size: int = 224,
                   preprocess: dict[str, Any] | None = None, **options: Any) -> ScanMapsView:
    """Attribute maps of one scan (Scan, ScanRecord or preprocessed FaceGrid) with display hints.

    Parameters
    ----------
    scan_or_grid
        The scan.
    names
        Map names (default every registered map); texture maps of a scan without texture are listed in
        ``missing`` with the reason instead of raising.
    size
        Grid side in pixels when the scan must be preprocessed.
    preprocess
        Options of :func:`ferbench.preprocess.preprocess_scan`.
    **options
        Map options (e.g. ``tau=30``), see :func:`ferbench.maps.compute_maps`.

    Returns
    -------
    ScanMapsView
        ``view.arrays()`` equals ``compute_maps(scan, names_present, size=size, ...)``.
    """
    gen = iter_scan_maps(scan_or_grid, names, size, preprocess, **options)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
