"""A vectorised orthographic z-buffer triangle rasteriser (numpy only).

The view looks along -z: the viewer sits at +z, so where triangles overlap the one with
the **largest z** wins. Pixels are sampled at their centres; row 0 is the top of the image
(``y = ylim[1]``) and column 0 the left (``x = xlim[0]``)::

    x(col) = xlim[0] + (col + 0.5) * (xlim[1] - xlim[0]) / width
    y(row) = ylim[1] - (row + 0.5) * (ylim[1] - ylim[0]) / height

Because the projection is orthographic, screen-space barycentric coordinates are the
true barycentric coordinates on the 3D triangle, so depth and every per-vertex attribute
are interpolated exactly (up to float64 rounding) for fields linear over a triangle.

How it is vectorised: every triangle is expanded into (triangle, bounding-box row) items
and every item into its pixels with ``np.repeat``; all candidate (triangle, pixel) pairs
of a chunk are tested at once and the per-pixel winner is found
with unbuffered ``np.maximum.at`` / ``np.minimum.at``. Each (triangle, row) item is first
clipped to its scanline span, so almost every candidate is a hit. Chunks bound the memory
(``max_pairs`` candidates at a time), so a few huge triangles cannot blow up the
allocation; there is no Python loop per pixel or per triangle.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from ferbench.errors import ScanFormatError

__all__ = ["Raster", "rasterize", "MAX_SIDE", "MAX_PIXELS"]

MAX_SIDE = 16384
"""Largest accepted image width or height."""
MAX_PIXELS = 1 << 26
"""Largest accepted width x height (~67 megapixels)."""

_INSIDE_TOL = 1e-10  # barycentric slack so that pixel centres on shared edges leave no cracks


@dataclass
class Raster:
    """Result of :func:`rasterize`.

    Attributes
    ----------
    depth
        (H, W) float64 z of the visible surface at each pixel centre, NaN on background.
    face_index
        (H, W) int64 index of the visible triangle, -1 on background.
    barycentric
        (H, W, 3) float64 barycentric weights of the pixel centre in that triangle
        (they sum to 1), NaN on background.
    attributes
        name -> (H, W, k) float64 interpolated per-vertex and per-face-corner attributes, NaN on
        background.
    xlim, ylim
        The world window that was rasterised.
    """

    depth: np.ndarray
    face_index: np.ndarray
    barycentric: np.ndarray
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    xlim: tuple[float, float] = (0.0, 1.0)
    ylim: tuple[float, float] = (0.0, 1.0)

    @property
    def mask(self) -> np.ndarray:
        """(H, W) bool, True where a triangle covers the pixel centre."""
        return self.face_index >= 0

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.depth.shape)  # type: ignore[return-value]

    def pixel_centers(self) -> tuple[np.ndarray, np.ndarray]:
        """World x of each column (W,) and world y of each row (H,) at the pixel centres."""
        h, w = self.depth.shape
        return _centers(self.xlim, w, ascending=True), _centers(self.ylim, h, ascending=False)

    def xyz(self) -> np.ndarray:
        """(H, W, 3) world coordinates of the visible surface (NaN on background): a range image."""
        xs, ys = self.pixel_centers()
        h, w = self.depth.shape
        out = np.empty((h, w, 3))
        out[..., 0] = xs[None, :]
        out[..., 1] = ys[:, None]
        out[..., 2] = self.depth
        out[~self.mask] = np.nan
        return out


def _centers(lim: tuple[float, float], n: int, ascending: bool) -> np.ndarray:
    step = (lim[1] - lim[0]) / n
    c = lim[0] + (np.arange(n) + 0.5) * step
    return c if ascending else c[::-1].copy()


def _check_inputs(vertices, faces, width, height, xlim, ylim):
    v = np.asarray(vertices, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != 3:
        raise ScanFormatError(None, f"rasterize: vertices must have shape (n, 3), got {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ScanFormatError(None, "rasterize: vertices contain NaN or infinity")
    f = np.asarray(faces)
    if f.size == 0:
        f = np.zeros((0, 3), np.int64)
    if f.ndim != 2 or f.shape[1] != 3 or not np.issubdtype(f.dtype, np.integer):
        raise ScanFormatError(None, f"rasterize: faces must be an integer (m, 3) array, got {f.dtype} {f.shape}")
    f = f.astype(np.int64, copy=False)
    if f.size and (f.min() < 0 or f.max() >= len(v)):
        raise ScanFormatError(None, f"rasterize: face index out of range [0, {len(v) - 1}]")
    for name, n in (("width", width), ("height", height)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= int(n) <= MAX_SIDE:
            raise ScanFormatError(None, f"rasterize: {name} must be an integer in [1, {MAX_SIDE}], got {n!r}")
    if int(width) * int(height) > MAX_PIXELS:
        raise ScanFormatError(None, f"rasterize: {width}x{height} exceeds {MAX_PIXELS} pixels")
    lims = []
    for name, lim in (("xlim", xlim), ("ylim", ylim)):
        a = np.asarray(lim, dtype=np.float64)
        if a.shape != (2,) or not np.all(np.isfinite(a)) or not a[1] > a[0]:
            raise ScanFormatError(None, f"rasterize: {name} must be two finite increasing numbers, got {lim!r}")
        lims.append((float(a[0]), float(a[1])))
    return v, f, int(width), int(height), lims[0], lims[1]


def _check_attributes(attrs, n: int) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if attrs is None:
        return out
    if not isinstance(attrs, Mapping):
        raise ScanFormatError(None, "rasterize: vertex_attributes must be a dict name -> (n,) or (n, k) array")
    for name, a in attrs.items():
        a = np.asarray(a, dtype=np.float64)
        if a.ndim == 1:
            a = a[:, None]
        if a.ndim != 2 or a.shape[0] != n:
            raise ScanFormatError(None, f"rasterize: attribute {name!r} must have {n} rows, got shape {a.shape}")
        out[str(name)] = a
    return out


def _check_corner_attributes(attrs, m: int) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    if attrs is None:
        return out
    if not isinstance(attrs, Mapping):
        raise ScanFormatError(None, "rasterize: corner_attributes must be a dict name -> (m, 3) or (m, 3, k) array")
    for name, a in attrs.items():
        a = np.asarray(a, dtype=np.float64)
        if a.ndim == 2:
            a = a[:, :, None]
        if a.ndim != 3 or a.shape[:2] != (m, 3):
            raise ScanFormatError(None, f"rasterize: corner attribute {name!r} must have shape ({m}, 3[, k]), "
                                        f"got {a.shape}")
        out[str(name)] = a
    return out


def rasterize(vertices: np.ndarray, faces: np.ndarray, width: int, height: int,
              xlim: tuple[float, float], ylim: tuple[float, float],
              vertex_attributes: Mapping[str, np.ndarray] | None = None, *,
              corner_attributes: Mapping[str, np.ndarray] | None = None,
              max_pairs: int = 2_000_000) -> Raster:
    """Rasterise a triangle mesh orthographically along -z with a z-buffer.

    Parameters
    ----------
    vertices
        (n, 3) world coordinates; x, y are projected, z is depth (larger = nearer the viewer).
    faces
        (m, 3) integer vertex indices. Triangles seen edge-on (zero projected area) are skipped.
    width, height
        Image size in pixels.
    xlim, ylim
        World window ``(min, max)`` mapped onto the image (row 0 = ``ylim[1]``).
    vertex_attributes
        Optional name -> (n,) or (n, k) per-vertex values to interpolate.
    corner_attributes
        Optional name -> (m, 3) or (m, 3, k) values per face corner (e.g. texture coordinates
        indexed per corner, which differ between the faces that meet at a UV seam), interpolated
        with the barycentrics of the visible triangle's own corners. A name may not be used in
        both dicts.
    max_pairs
        Candidate (triangle, pixel) pairs processed per chunk (memory bound, not a limit).

    Returns
    -------
    Raster
        Depth, visible-face index, barycentrics and interpolated attributes. Ties in z go
        to the triangle with the smaller index.

    Raises
    ------
    ScanFormatError
        Malformed arrays, non-finite vertices, out-of-range indices, bad size or window.
    """
    v, f, w, h, xlim, ylim = _check_inputs(vertices, faces, width, height, xlim, ylim)
    attrs = _check_attributes(vertex_attributes, len(v))
    cattrs = _check_corner_attributes(corner_attributes, len(f))
    both = set(attrs) & set(cattrs)
    if both:
        raise ScanFormatError(None, f"rasterize: attribute {sorted(both)[0]!r} given per vertex and per corner")
    max_pairs = max(int(max_pairs), w)  # one bounding-box row must fit in a chunk

    dx, dy = (xlim[1] - xlim[0]) / w, (ylim[1] - ylim[0]) / h
    px = (v[:, 0] - xlim[0]) / dx - 0.5  # continuous column; pixel centres at integers
    py = (ylim[1] - v[:, 1]) / dy - 0.5  # continuous row (downward)
    fx, fy, fz = px[f], py[f], v[:, 2][f]  # (m, 3) each

    # Barycentric coefficients: w_k = a_k * col + b_k * row + c_k
    x0, x1, x2 = fx.T
    y0, y1, y2 = fy.T
    det = (y1 - y2) * (x0 - x2) + (x2 - x1) * (y0 - y2)
    with np.errstate(invalid="ignore", divide="ignore"):
        cmin = np.ceil(fx.min(1)).clip(0, w)
        cmax = np.floor(fx.max(1)).clip(-1, w - 1)
        rmin = np.ceil(fy.min(1)).clip(0, h)
        rmax = np.floor(fy.max(1)).clip(-1, h - 1)
    scale = np.maximum(np.abs(fx).max(1, initial=0), np.abs(fy).max(1, initial=0)) + 1.0
    ok = (np.abs(det) > 1e-12 * scale * scale) & (cmax >= cmin) & (rmax >= rmin)
    fid = np.flatnonzero(ok)

    zbuf = np.full(h * w, -np.inf)
    fbuf = np.full(h * w, -1, np.int64)
    bbuf = np.full((h * w, 3), np.nan)
    if len(fid):
        inv = 1.0 / det[fid]
        a0, b0 = (y1 - y2)[fid] * inv, (x2 - x1)[fid] * inv
        a1, b1 = (y2 - y0)[fid] * inv, (x0 - x2)[fid] * inv
        c0 = -(a0 * x2[fid] + b0 * y2[fid])
        c1 = -(a1 * x2[fid] + b1 * y2[fid])
        zc = fz[fid]
        col0 = cmin[fid].astype(np.int64)
        row0 = rmin[fid].astype(np.int64)
        nw = cmax[fid].astype(np.int64) - col0 + 1
        nh = rmax[fid].astype(np.int64) - row0 + 1

        # Items = (triangle, bbox row); built in groups so that the item arrays stay bounded too.
        nh_cum = np.cumsum(nh)
        start = 0
        while start < len(fid):
            stop = int(np.searchsorted(nh_cum, (nh_cum[start - 1] if start else 0) + max_pairs, side="right"))
            stop = max(stop, start + 1)
            sl = np.arange(start, stop)
            it = np.repeat(sl, nh[sl])  # local triangle index per item
            first = np.cumsum(nh[sl]) - nh[sl]
            row = row0[it] + (np.arange(len(it)) - np.repeat(first, nh[sl]))
            cs = col0[it]
            rowf, csf = row.astype(np.float64), cs.astype(np.float64)
            A0, A1 = a0[it], a1[it]
            E0 = A0 * csf + b0[it] * rowf + c0[it]  # barycentrics at the item's first column
            E1 = A1 * csf + b1[it] * rowf + c1[it]
            lo, n = _spans(A0, E0, A1, E1, nw[it])
            keep = n > 0
            it, A0, A1, E0, E1, lo, n = it[keep], A0[keep], A1[keep], E0[keep], E1[keep], lo[keep], n[keep]
            pixbase = (row[keep] * w + cs[keep]).astype(np.int64)
            n_cum = np.cumsum(n)
            istart = 0
            while istart < len(it):
                base = n_cum[istart - 1] if istart else 0
                istop = max(int(np.searchsorted(n_cum, base + max_pairs, side="right")), istart + 1)
                s_ = slice(istart, istop)
                _chunk(it[s_], A0[s_], A1[s_], E0[s_], E1[s_], pixbase[s_], lo[s_], n[s_], zc, fid, zbuf, fbuf, bbuf)
                istart = istop
            start = stop

    hit = np.flatnonzero(fbuf >= 0)
    depth = np.full(h * w, np.nan)
    depth[hit] = zbuf[hit]
    out_attrs: dict[str, np.ndarray] = {}
    if attrs:
        # per attribute column: three contiguous 1-D gathers (much faster than a (p, 3, k) gather)
        corners = np.ascontiguousarray(f[fbuf[hit]].T)  # (3, p) vertex ids of the visible triangles
        bt = np.ascontiguousarray(bbuf[hit].T)  # (3, p)
        for name, a in attrs.items():
            k = a.shape[1]
            img = np.full((h * w, k), np.nan)
            for j in range(k):
                col = np.ascontiguousarray(a[:, j])
                img[hit, j] = bt[0] * col.take(corners[0]) + bt[1] * col.take(corners[1]) + bt[2] * col.take(corners[2])
            out_attrs[name] = img.reshape(h, w, k)
    if cattrs:
        tri = fbuf[hit]
        bt = np.ascontiguousarray(bbuf[hit].T)  # (3, p)
        for name, a in cattrs.items():
            k = a.shape[2]
            img = np.full((h * w, k), np.nan)
            for j in range(k):
                col = np.ascontiguousarray(a[:, :, j])  # (m, 3)
                cv = col[tri]  # (p, 3) corner values of each visible triangle
                img[hit, j] = bt[0] * cv[:, 0] + bt[1] * cv[:, 1] + bt[2] * cv[:, 2]
            out_attrs[name] = img.reshape(h, w, k)
    depth = depth.reshape(h, w)
    return Raster(depth=depth, face_index=fbuf.reshape(h, w), barycentric=bbuf.reshape(h, w, 3),
                  attributes=out_attrs, xlim=xlim, ylim=ylim)


def _spans(A0, E0, A1, E1, ncol):
    """Per (triangle, row) item: first candidate column offset and count of the scanline span.

    Solves ``E_j + A_j * k >= -tol`` for the three barycentrics along the row; the span is
    widened by one pixel on each side and the exact per-pixel test in :func:`_chunk` decides,
    so rounding in the division cannot drop a pixel.
    """
    lo = np.zeros(len(A0))
    hi = (ncol - 1).astype(np.float64)
    for A, E in ((A0, E0), (A1, E1), (-(A0 + A1), 1.0 - E0 - E1)):
        with np.errstate(divide="ignore", invalid="ignore"):
            bound = (-_INSIDE_TOL - E) / A
        lo = np.where(A > 0, np.maximum(lo, bound), lo)
        hi = np.where(A < 0, np.minimum(hi, bound), hi)
        hi = np.where((A == 0) & (E < -_INSIDE_TOL), -2.0, hi)
    lo_i = np.clip(np.ceil(lo) - 1, 0, ncol).astype(np.int64)
    hi_i = np.minimum(np.clip(np.floor(hi) + 1, -1, ncol - 1), ncol - 1).astype(np.int64)
    return lo_i, np.maximum(hi_i - lo_i + 1, 0)


def _chunk(it, A0, A1, E0, E1, pixbase, lo, n, zc, fid, zbuf, fbuf, bbuf) -> None:
    """Test the candidate pixels of a chunk of (triangle, row) spans and merge them into the z-buffer."""
    P = int(n.sum())
    first = np.cumsum(n) - n
    k = np.repeat(lo - first, n) + np.arange(P)  # column offset from the item's first column
    kf = k.astype(np.float64)
    w0 = np.repeat(E0, n) + np.repeat(A0, n) * kf
    w1 = np.repeat(E1, n) + np.repeat(A1, n) * kf
    w2 = 1.0 - w0 - w1
    inside = (w0 >= -_INSIDE_TOL) & (w1 >= -_INSIDE_TOL) & (w2 >= -_INSIDE_TOL)
    if not inside.any():
        return
    t = np.repeat(it, n)[inside]
    w0, w1, w2 = w0[inside], w1[inside], w2[inside]
    pix = (np.repeat(pixbase, n) + k)[inside]
    z = w0 * zc[t, 0] + w1 * zc[t, 1] + w2 * zc[t, 2]
    # z-buffer with unbuffered ufunc.at (much faster than sorting): largest z wins, ties go to
    # the smaller triangle index (earlier chunks hold smaller indices, so they keep ties)
    z_old = zbuf[pix]
    np.maximum.at(zbuf, pix, z)
    z_new = zbuf[pix]
    cand = (z == z_new) & (z_new > z_old)
    if not cand.any():
        return
    p, tf = pix[cand], fid[t[cand]]
    fbuf[p] = np.iinfo(np.int64).max
    np.minimum.at(fbuf, p, tf)
    win = np.flatnonzero(cand)[tf == fbuf[p]]
    p = pix[win]
    bbuf[p, 0], bbuf[p, 1], bbuf[p, 2] = w0[win], w1[win], w2[win]
