"""Attribute maps of a preprocessed face (DF-CNN, GEMax, CM-CNN), listed by a registry.

>>> from ferbench.maps import list_maps, get_map, compute_maps
>>> list_maps()[:3]
['depth', 'gemax', 'geometry']

Every map returns float32 in [0, 1] with background 0 (see each class for its scaling), so maps can be
stacked directly as CNN input channels. Names: geometry, normal_x, normal_y, normal_z, shape_index,
texture (RGB), gray, lbp, depth, gemax, range, histeq, greedy.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ferbench.maps.base import MAPS, AttributeMap, MapContext, accepted_options, missing_map_reasons
from ferbench.maps import dfcnn as _dfcnn  # noqa: F401  (registers the maps)
from ferbench.maps import cmcnn as _cmcnn  # noqa: F401
from ferbench.maps import depth_maps as _depth_maps  # noqa: F401

DFCNN_MAPS: tuple[str, ...] = ("geometry", "normal_x", "normal_y", "normal_z", "shape_index", "texture")
"""DF-CNN's six maps in the paper's order (I_g, I_n^x, I_n^y, I_n^z, I_c, I_t)."""
CMCNN_MAPS: tuple[str, ...] = ("gray", "lbp", "depth")
GEMAX_MAPS: tuple[str, ...] = ("gemax", "range", "histeq", "greedy")

__all__ = ["MAPS", "AttributeMap", "MapContext", "list_maps", "get_map", "compute_maps", "iter_maps",
           "missing_map_reasons", "DFCNN_MAPS",
           "CMCNN_MAPS", "GEMAX_MAPS"]


def list_maps(pattern: str = "*") -> list[str]:
    """Sorted names of the registered maps matching a shell pattern."""
    return MAPS.list(pattern)


def get_map(name: str, **options: Any) -> AttributeMap:
    """A map instance by name (options go to its constructor, e.g. ``get_map("gemax", tau=30)``)."""
    return MAPS.create(name, **options)


def compute_maps(scan_or_grid, names: Sequence[str] | None = None, size: int = 224,
                 preprocess: dict[str, Any] | None = None, **options: Any) -> dict[str, np.ndarray]:
    """Compute several maps of one scan (or FaceGrid) sharing intermediate results.

    Parameters
    ----------
    scan_or_grid
        A :class:`~ferbench.io.scan.Scan` (preprocessed by :func:`ferbench.preprocess.preprocess_scan`
        with ``size`` and ``preprocess`` options) or a :class:`~ferbench.preprocess.FaceGrid`.
    names
        Map names; default all registered maps, leaving out texture maps when there is no texture
        (:func:`missing_map_reasons` says why they are left out).
    options
        Map options, each passed to the maps whose constructor takes it (e.g. ``tau=30``, ``window=7``).

    Returns
    -------
    dict name -> float32 (H, W) or (H, W, C) array in [0, 1].
    """
    from ferbench.io.scan import Scan
    from ferbench.preprocess import FaceGrid, preprocess_scan

    if isinstance(scan_or_grid, Scan):
        grid = preprocess_scan(scan_or_grid, size=size, **(preprocess or {}))
    elif isinstance(scan_or_grid, FaceGrid):
        grid = scan_or_grid
    else:
        raise TypeError(f"expected a Scan or FaceGrid, got {type(scan_or_grid).__name__}")
    if names is None:
        names = [n for n in list_maps() if grid.texture is not None or not getattr(MAPS.get(n), "needs_texture", False)]
    return dict(iter_maps(grid, names, **options))


def iter_maps(grid, names: Sequence[str], **options: Any):
    """Yield ``(name, map)`` for each name of one FaceGrid, all from ONE shared :class:`MapContext`.

    The normal maps and the shape index share one plane fit, so a caller that wants progress after each map
    (napari, notebooks) gets it without redoing that work; :func:`compute_maps` is ``dict(iter_maps(...))``.
    """
    ctx = MapContext([grid], None)
    for n in names:
        cls = MAPS.get(n)
        m = cls(**accepted_options(cls, options))
        if m.needs_texture and grid.texture is None:
            from ferbench.errors import FerbenchError
            where = grid.meta.source_path if grid.meta is not None else None
            why = missing_map_reasons(grid, [n]).get(n, "needs a texture")
            raise FerbenchError(f"{where + ': ' if where else ''}map {n!r} {why}")
        yield n, m.forward(ctx)[0]
