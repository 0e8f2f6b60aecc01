"""Grid -> scan: paint a per-pixel map of a :class:`FaceGrid` back onto the vertices of the original scan.

A map computed on the preprocessed grid (a Grad-CAM heat map, a depth or curvature map, a texture channel) is
sampled at every vertex of the scan the grid was made from: the vertex is moved into the grid frame with
``FaceGrid.transform`` and the map is read bilinearly at its fractional pixel position. Vertices the grid does
not represent get NaN: those off the grid or off the face region (``mask``), those outside the crop sphere,
and those hidden behind the visible surface (the orthographic z-buffer of the grid keeps only the surface
nearest the viewer, e.g. the neck under the chin).
"""
from __future__ import annotations

import numpy as np

from ferbench.errors import ScanFormatError
from ferbench.io.scan import Scan
from ferbench.preprocess.facegrid import FaceGrid


def _bilinear_masked(values: np.ndarray, ok: np.ndarray, rows: np.ndarray, cols: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear sample of ``values`` (H, W, C) at fractional (rows, cols) using only pixels where ``ok``.

    The weights of the usable corners are renormalised (exact bilinear when all four are usable).
    Returns the samples (n, C) (NaN where no corner is usable) and the usable-weight sum (n,).
    """
    H, W = ok.shape
    r = np.clip(rows, 0, H - 1)
    c = np.clip(cols, 0, W - 1)
    r0 = np.minimum(np.floor(r).astype(np.int64), H - 1)
    c0 = np.minimum(np.floor(c).astype(np.int64), W - 1)
    r1, c1 = np.minimum(r0 + 1, H - 1), np.minimum(c0 + 1, W - 1)
    fr, fc = r - r0, c - c0
    acc = np.zeros((len(rows), values.shape[2]))
    wsum = np.zeros(len(rows))
    for rr, cc, w in ((r0, c0, (1 - fr) * (1 - fc)), (r0, c1, (1 - fr) * fc),
                      (r1, c0, fr * (1 - fc)), (r1, c1, fr * fc)):
        use = ok[rr, cc] & (w > 0)
        w = np.where(use, w, 0.0)
        acc += w[:, None] * np.where(use[:, None], values[rr, cc], 0.0)
        wsum += w
    with np.errstate(invalid="ignore", divide="ignore"):
        out = acc / wsum[:, None]
    out[wsum <= 1e-9] = np.nan
    return out, wsum


def _corner_min_z(z: np.ndarray, ok: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Smallest grid depth over the (up to) four usable pixels around each position (+inf where none)."""
    H, W = ok.shape
    r0 = np.clip(np.floor(rows).astype(np.int64), 0, H - 1)
    c0 = np.clip(np.floor(cols).astype(np.int64), 0, W - 1)
    r1, c1 = np.clip(r0 + 1, 0, H - 1), np.clip(c0 + 1, 0, W - 1)
    zz = np.where(ok, z, np.inf)
    return np.minimum.reduce([zz[r0, c0], zz[r0, c1], zz[r1, c0], zz[r1, c1]])


def vertex_values_from_grid(scan: Scan | np.ndarray, grid_values: np.ndarray, facegrid: FaceGrid, *,
                            depth_tolerance_mm: float | None = None, crop: bool = True) -> np.ndarray:
    """Sample a per-pixel map of a scan's FaceGrid at every vertex of the original scan.

    Parameters
    ----------
    scan
        The scan ``facegrid`` was made from (:func:`~ferbench.preprocess.preprocess_scan`), or its (n, 3)
        vertices in the scan's own coordinates.
    grid_values
        (H', W') or (H', W', C) map over the grid, e.g. a Grad-CAM heat map. When (H', W') differs from the
        grid's (H, W) the map is taken to cover the same square (pixel areas aligned, as a bilinear resize
        with ``align_corners=False`` does). NaN pixels are treated as missing.
    facegrid
        The preprocessed grid (its ``transform``, ``pixel_size_mm``, ``xyz`` and ``mask`` are used).
    depth_tolerance_mm
        A vertex deeper than every face pixel around its position by more than this is hidden behind the
        visible surface and gets NaN. Default ``max(5 mm, 2 * pixel_size_mm)``.
    crop
        Also give NaN to vertices outside the crop sphere (``facegrid.params["radius_mm"]`` about the nose
        tip) when the grid records its radius.

    Returns
    -------
    (n,) or (n, C) float64
        One value per scan vertex (same trailing shape as ``grid_values``): bilinear over the four pixels
        around the vertex's projection, renormalised over those inside ``mask`` with a finite value; NaN
        for vertices off the grid, off the face, outside the crop or hidden.

    Raises
    ------
    ScanFormatError
        ``grid_values`` or the vertices have the wrong shape (names the scan's file).
    """
    where = scan.meta.source_path if isinstance(scan, Scan) else None
    V = np.asarray(scan.vertices if isinstance(scan, Scan) else scan, dtype=np.float64)
    if V.ndim != 2 or V.shape[1] != 3:
        raise ScanFormatError(where, f"vertices must have shape (n, 3), got {V.shape}")
    G = np.asarray(grid_values, dtype=np.float64)
    squeeze = G.ndim == 2
    if squeeze:
        G = G[..., None]
    if G.ndim != 3 or min(G.shape[:2]) < 1:
        raise ScanFormatError(where, f"grid values must have shape (H, W) or (H, W, C), got {np.shape(grid_values)}")
    H, W = facegrid.shape
    Hv, Wv = G.shape[:2]
    rows, cols, zv = facegrid.pixel_coords(V)
    on_grid = (rows >= -0.5) & (rows <= H - 0.5) & (cols >= -0.5) & (cols <= W - 0.5)

    # depth test on the grid itself (its own resolution)
    tol = max(5.0, 2 * facegrid.pixel_size_mm) if depth_tolerance_mm is None else float(depth_tolerance_mm)
    zmin = _corner_min_z(facegrid.z, facegrid.mask, rows, cols)
    visible = on_grid & np.isfinite(zmin) & (zv >= zmin - tol)
    if crop and "radius_mm" in facegrid.params:
        P = facegrid.to_grid_frame(V)            # the nose tip is the grid frame's origin
        visible &= np.linalg.norm(P, axis=1) <= float(facegrid.params["radius_mm"]) + 0.5 * facegrid.pixel_size_mm

    # the values' own pixel positions (same square, pixel areas aligned)
    if (Hv, Wv) == (H, W):
        rv, cv, mask_v = rows, cols, facegrid.mask
    else:
        rv = (rows + 0.5) * (Hv / H) - 0.5
        cv = (cols + 0.5) * (Wv / W) - 0.5
        ri = np.clip(np.rint((np.arange(Hv) + 0.5) * (H / Hv) - 0.5).astype(np.int64), 0, H - 1)
        ci = np.clip(np.rint((np.arange(Wv) + 0.5) * (W / Wv) - 0.5).astype(np.int64), 0, W - 1)
        mask_v = facegrid.mask[np.ix_(ri, ci)]    # nearest-pixel face region at the values' resolution
    ok = mask_v & np.isfinite(G).all(axis=2)
    out = np.full((len(V), G.shape[2]), np.nan)
    if visible.any():
        out[visible] = _bilinear_masked(G, ok, rv[visible], cv[visible])[0]
    return out[:, 0] if squeeze else out
