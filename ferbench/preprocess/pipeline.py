"""Scan -> FaceGrid: nose tip, spherical crop, pose normalisation, resampling, holes and spikes.

Follows ``docs/dfcnn.md`` §2 (the Mian et al. 2007 [34] pipeline). Defaults ([R]/[X] in the spec):

============================  ===========================================================================
step                          default
============================  ===========================================================================
pose normalisation            ``align="auto"``: trimmed ICP onto ``template`` when one is given (point-to-plane,
                              keep the best 90 % of pairs, <= 50 iterations, centroid initialisation);
                              otherwise PCA ([34] Hotelling): rotate so the cropped face's least-variance axis
                              (its plane normal) is +z, iterating crop -> rotate until < 0.1 deg or 5 times.
                              PCA fixes yaw and pitch only; roll (in-plane) is kept.
nose tip                      ``nose_method="maxz"``: the point of largest z within ``x_window_mm = 30`` of the
                              x-median, robust to spikes (largest *median* z of the neighbours within 4 mm)
crop                          sphere of ``radius_mm = 80`` about the nose tip
grid                          ``size x size`` pixels spanning x, y in [-r, r] (h = 2r/(size-1); size 161 gives
                              the spec's 1 mm grid); row 0 = top (largest y), column 0 = smallest x
resampling                    meshes: orthographic z-buffer rasterisation (:func:`ferbench.geometry.rasterize`),
                              z and texture coordinates linear inside each triangle, *measured* = covered;
                              point clouds: linear interpolation over the Delaunay triangulation of the (x, y)
                              projections, *measured* when the triangle's longest edge <= ``max_edge_factor`` x
                              the median edge
texture                       per-pixel texture coordinates, interpolated per face corner (exact across UV
                              seams), sampled bilinearly from the image (v = 0 at the image bottom), else
                              interpolated vertex colours; holes are filled in colour, not in UV (a hole may
                              straddle a seam)
spikes                        meshes: vertices whose z is more than max(``spike_mm``, 3 x the median edge)
                              from the median z of their 1-ring are dropped with their triangles (scanner
                              outliers); then on the grid |z - median of the 3x3 measured neighbours| >
                              ``spike_mm = 5`` -> unmeasured
holes                         unmeasured pixels enclosed by the face are filled by linear interpolation
                              (nearest value as the fallback); ``valid`` keeps them False, ``mask`` True
smoothing                     3x3 median of z inside the face (``median=True``)
============================  ===========================================================================
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ferbench.errors import ScanFormatError
from ferbench.io.scan import Scan
from ferbench.preprocess.facegrid import FaceGrid

DEFAULTS: dict[str, Any] = dict(radius_mm=80.0, align="auto", template=None, max_align_iter=5, align_tol_deg=0.1,
                                nose_method="maxz", x_window_mm=30.0, nose_smooth_mm=4.0, spike_mm=5.0,
                                median=True, fill_holes=True, max_edge_factor=4.0, icp_trim=0.9, icp_max_iter=50)


# ------------------------------------------------------------------------------------------------
# rigid-transform helpers
# ------------------------------------------------------------------------------------------------

def rigid(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """4x4 homogeneous matrix of p -> R p + t."""
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, t
    return T


def apply_transform(T: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ T[:3, :3].T + T[:3, 3]


def rotation_angle_deg(R: np.ndarray) -> float:
    return math.degrees(math.acos(max(-1.0, min(1.0, (np.trace(R) - 1) / 2))))


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation taking unit vector a to unit vector b (Rodrigues)."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    v = np.cross(a, b)
    c = float(a @ b)
    s = float(np.linalg.norm(v))
    if s < 1e-12:
        if c > 0:
            return np.eye(3)
        axis = np.cross(a, [1.0, 0, 0]) if abs(a[0]) < 0.9 else np.cross(a, [0, 1.0, 0])
        axis /= np.linalg.norm(axis)
        return 2 * np.outer(axis, axis) - np.eye(3)
    K = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + K + K @ K * ((1 - c) / s ** 2)


# ------------------------------------------------------------------------------------------------
# steps
# ------------------------------------------------------------------------------------------------

def detect_nose_tip(vertices: np.ndarray, method: str = "maxz", x_window_mm: float = 30.0,
                    smooth_mm: float = 4.0, n_candidates: int = 400) -> np.ndarray:
    """Nose tip of a roughly frontal face (+z toward the viewer).

    ``method="maxz"`` (spec's simple detector for aligned faces): among the points within ``x_window_mm``
    of the x-median, the ``n_candidates`` largest-z points are scored by the median z of their neighbours
    within ``smooth_mm``; the best-scoring point wins (an isolated spike scores low).

    Returns
    -------
    (3,) coordinates of the nose-tip vertex.
    """
    if method != "maxz":
        raise ValueError(f"unknown nose-tip method {method!r} (available: 'maxz')")
    from scipy.spatial import cKDTree

    V = np.asarray(vertices, dtype=np.float64)
    if len(V) == 0:
        raise ValueError("no vertices")
    xm = np.median(V[:, 0])
    near = np.flatnonzero(np.abs(V[:, 0] - xm) <= x_window_mm)
    if near.size == 0:
        near = np.arange(len(V))
    cand = near[np.argsort(V[near, 2])[::-1][:n_candidates]]
    tree = cKDTree(V)
    nbrs = tree.query_ball_point(V[cand], r=smooth_mm, return_sorted=False)
    score = _neighbour_median_z(V[:, 2], nbrs)
    if not np.isfinite(score).any():
        return V[cand[0]].copy()
    return V[cand[int(np.argmax(score))]].copy()


def _neighbour_median_z(z: np.ndarray, nbrs) -> np.ndarray:
    """Median of ``z`` over each neighbour list (-inf for lists of < 3), without a Python loop per list.

    Equal to ``np.median(z[nb])`` per list: the lists are concatenated, sorted by (owner, z), and the
    median is read at each owner's middle position(s).
    """
    counts = np.fromiter((len(nb) for nb in nbrs), dtype=np.int64, count=len(nbrs))
    score = np.full(len(nbrs), -np.inf)
    if counts.sum() == 0:
        return score
    flat = np.concatenate([np.asarray(nb, dtype=np.int64) for nb in nbrs if len(nb)])
    owner = np.repeat(np.arange(len(nbrs)), counts)
    zs = z[flat]
    zs = zs[np.lexsort((zs, owner))]
    start = np.concatenate(([0], np.cumsum(counts)[:-1]))
    ok = counts >= 3
    lo = start[ok] + (counts[ok] - 1) // 2
    hi = start[ok] + counts[ok] // 2
    score[ok] = 0.5 * (zs[lo] + zs[hi])
    return score


def crop_sphere(vertices: np.ndarray, center: np.ndarray, radius_mm: float = 80.0) -> np.ndarray:
    """Boolean mask of the vertices within ``radius_mm`` of ``center``."""
    return np.linalg.norm(np.asarray(vertices) - np.asarray(center)[None], axis=1) <= radius_mm


def pca_rotation(points: np.ndarray) -> np.ndarray:
    """Rotation that maps the points' least-variance axis (plane normal, oriented toward +z) onto +z.

    The smallest such rotation is used, so the in-plane orientation (roll) is kept.
    """
    P = np.asarray(points, dtype=np.float64)
    C = np.cov((P - P.mean(0)).T)
    _, vecs = np.linalg.eigh(C)
    n = vecs[:, 0]
    if n[2] < 0:
        n = -n
    return _rotation_between(n, np.array([0.0, 0.0, 1.0]))


def _point_normals(P: np.ndarray, k: int = 10) -> np.ndarray:
    """Unit normals of a point cloud by PCA over the k nearest neighbours, oriented toward +z."""
    from scipy.spatial import cKDTree

    _, idx = cKDTree(P).query(P, k=min(k, len(P)))
    Q = P[idx] - P[idx].mean(1, keepdims=True)
    _, vecs = np.linalg.eigh(np.einsum("nki,nkj->nij", Q, Q))
    n = vecs[:, :, 0]
    return np.where(n[:, 2:3] < 0, -n, n)


def icp_align(source: np.ndarray, target: np.ndarray, max_iter: int = 50, trim: float = 0.9,
              tol: float = 1e-6) -> np.ndarray:
    """Trimmed point-to-plane ICP of ``source`` onto ``target``; returns the 4x4 transform (source -> target).

    Initialised by aligning centroids. Each iteration pairs every source point with its nearest target point,
    keeps the ``trim`` fraction of closest pairs and solves the linearised point-to-plane problem
    (small-angle rotation + translation, 6x6 normal equations); stops when the update is below ``tol``
    (radians and mm) or after ``max_iter`` iterations.
    """
    from scipy.spatial import cKDTree

    S = np.asarray(source, dtype=np.float64)
    Tg = np.asarray(target, dtype=np.float64)
    if len(S) < 6 or len(Tg) < 6:
        raise ValueError("ICP needs at least 6 source and target points")
    tree = cKDTree(Tg)
    Nt = _point_normals(Tg)
    T = rigid(np.eye(3), Tg.mean(0) - S.mean(0))
    for _ in range(int(max_iter)):
        P = apply_transform(T, S)
        d, j = tree.query(P)
        keep = d <= np.quantile(d, trim)
        p, q, n = P[keep], Tg[j[keep]], Nt[j[keep]]
        A = np.c_[np.cross(p, n), n]
        b = ((q - p) * n).sum(1)
        x = np.linalg.lstsq(A, b, rcond=None)[0]
        w, t = x[:3], x[3:]
        ang = float(np.linalg.norm(w))
        R = np.eye(3) if ang < 1e-15 else _rotation_axis_angle(w / ang, ang)
        T = rigid(R, t) @ T
        if ang < tol and np.linalg.norm(t) < tol:
            break
    return T


def _rotation_axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * K + (1 - math.cos(angle)) * K @ K


def _nanmedian3(z: np.ndarray) -> np.ndarray:
    """3x3 NaN-ignoring median (NaN where the window has no finite value); equals ``np.nanmedian``
    over each window, computed by one sort (NaNs sort last) instead of numpy's per-window fallback."""
    p = np.pad(z, 1, constant_values=np.nan)
    win = np.sort(np.lib.stride_tricks.sliding_window_view(p, (3, 3)).reshape(*z.shape, 9), axis=-1)
    n = (~np.isnan(win)).sum(-1)
    lo = np.take_along_axis(win, np.maximum(n - 1, 0)[..., None] // 2, -1)[..., 0]
    hi = np.take_along_axis(win, (n // 2)[..., None], -1)[..., 0]
    return np.where(n > 0, 0.5 * (lo + hi), np.nan)


def remove_spikes(z: np.ndarray, measured: np.ndarray, spike_mm: float = 5.0) -> np.ndarray:
    """Measured mask with spikes removed: |z - median of the 3x3 measured neighbourhood| > spike_mm."""
    med = _nanmedian3(np.where(measured, z, np.nan))
    return measured & ~(np.abs(z - med) > spike_mm)


def vertex_spikes(vertices: np.ndarray, faces: np.ndarray, spike_mm: float = 5.0) -> np.ndarray:
    """Boolean mask of spike vertices: |z - median z of the 1-ring| > max(spike_mm, 3 x median edge length).

    Scanner outliers are single vertices (or a few) thrown far along the line of sight; a grid-level 3x3
    median misses them when the mesh is coarser than the grid (the spike's cone covers many pixels).
    The threshold scales with the mesh's median edge so that coarse meshes keep their real relief.
    """
    V = np.asarray(vertices, dtype=np.float64)
    F = np.asarray(faces, dtype=np.int64)
    out = np.zeros(len(V), bool)
    if len(F) == 0:
        return out
    e = np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]])
    e = np.unique(np.concatenate([e, e[:, ::-1]]), axis=0)  # both directions, each edge once
    med_edge = float(np.median(np.linalg.norm(V[e[:, 0]] - V[e[:, 1]], axis=1)))
    thr = max(float(spike_mm), 3.0 * med_edge)
    z = V[:, 2]
    zs = z[e[:, 1]]
    order = np.lexsort((zs, e[:, 0]))
    src, zs = e[order, 0], zs[order]
    counts = np.bincount(src, minlength=len(V))
    start = np.cumsum(counts) - counts
    has = counts > 0
    lo = start[has] + (counts[has] - 1) // 2
    hi = start[has] + counts[has] // 2
    med = np.full(len(V), np.nan)
    med[has] = 0.5 * (zs[lo] + zs[hi])
    out[has] = np.abs(z[has] - med[has]) > thr
    return out


def _sample_bilinear(img: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    H, W = img.shape[:2]
    r = np.clip(rows, 0, H - 1)
    c = np.clip(cols, 0, W - 1)
    r0 = np.floor(r).astype(np.int64)
    c0 = np.floor(c).astype(np.int64)
    r1, c1 = np.minimum(r0 + 1, H - 1), np.minimum(c0 + 1, W - 1)
    fr, fc = (r - r0)[..., None], (c - c0)[..., None]
    im = img.astype(np.float64)
    return ((im[r0, c0] * (1 - fc) + im[r0, c1] * fc) * (1 - fr) + (im[r1, c0] * (1 - fc) + im[r1, c1] * fc) * fr)


def resample_to_grid(points: np.ndarray, size: int, radius_mm: float, values: np.ndarray | None = None,
                     faces: np.ndarray | None = None, max_edge_factor: float = 4.0,
                     corner_values: np.ndarray | None = None):
    """Resample z (and per-point values) onto the size x size grid over [-r, r]² (pixel centres at
    ``-r + j*h``, ``r - i*h``).

    With mesh ``faces`` and :mod:`ferbench.geometry` available, the mesh is rasterised orthographically
    (z-buffer: the surface nearest the viewer wins; linear interpolation inside each triangle), and a pixel is
    measured when a triangle covers it. Otherwise (point clouds) z is interpolated linearly over the Delaunay
    triangulation of the (x, y) projections and a pixel counts as measured when its Delaunay triangle's
    longest edge is <= ``max_edge_factor`` x the median edge (no bridging across holes or the outline).

    ``corner_values`` ((m, 3, C), one row per face corner, e.g. texture coordinates across UV seams) are
    interpolated instead of ``values`` on the mesh path.

    Returns
    -------
    z : (size, size) float64, NaN where not measured
    measured : (size, size) bool
    vals : (size, size, C) float64 or None
    """
    P = np.asarray(points, dtype=np.float64)
    h = 2 * radius_mm / (size - 1)
    if faces is not None and len(faces):
        try:
            from ferbench.geometry import rasterize
        except ImportError:  # the rasteriser is optional; fall back to Delaunay interpolation
            rasterize = None
        if rasterize is not None:
            lim = (-radius_mm - h / 2, radius_mm + h / 2)       # pixel centres land exactly on the grid
            attrs = None if values is None or corner_values is not None else {"v": np.asarray(values, np.float64)}
            cattrs = None if corner_values is None else {"v": np.asarray(corner_values, dtype=np.float64)}
            ras = rasterize(P, np.asarray(faces), size, size, lim, lim, vertex_attributes=attrs,
                            corner_attributes=cattrs)
            measured = np.isfinite(ras.depth)
            vals = None
            if attrs or cattrs:
                vals = ras.attributes["v"].reshape(size, size, -1)
            return np.where(measured, ras.depth, np.nan), measured, vals
    from scipy.interpolate import LinearNDInterpolator
    from scipy.spatial import Delaunay, QhullError

    xs = -radius_mm + h * np.arange(size)
    ys = radius_mm - h * np.arange(size)
    X, Y = np.meshgrid(xs, ys)
    q = np.stack([X.ravel(), Y.ravel()], 1)
    try:
        tri = Delaunay(P[:, :2])
    except (QhullError, ValueError) as e:
        raise ValueError(f"cannot triangulate the face points: {str(e).splitlines()[0]}") from None
    data = P[:, 2:3] if values is None else np.concatenate([P[:, 2:3], values], 1)
    out = LinearNDInterpolator(tri, data)(q)
    s = tri.simplices
    e = np.concatenate([P[s[:, 0], :2] - P[s[:, 1], :2], P[s[:, 1], :2] - P[s[:, 2], :2]])
    med_edge = float(np.median(np.linalg.norm(e, axis=1)))
    thr = max(max_edge_factor * med_edge, 1.5 * h)
    simp = tri.find_simplex(q)
    inside = simp >= 0
    s = tri.simplices[np.where(inside, simp, 0)]
    A, B, C = P[s[:, 0], :2], P[s[:, 1], :2], P[s[:, 2], :2]
    longest = np.maximum.reduce([np.linalg.norm(A - B, axis=1), np.linalg.norm(B - C, axis=1),
                                 np.linalg.norm(C - A, axis=1)])
    measured = (inside & (longest <= thr) & np.isfinite(out[:, 0])).reshape(size, size)
    z = np.where(measured, out[:, 0].reshape(size, size), np.nan)
    vals = None if values is None else out[:, 1:].reshape(size, size, -1)
    return z, measured, vals


def fill_holes(z: np.ndarray, measured: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Fill the unmeasured pixels of ``region`` by linear interpolation from nearby measured pixels
    (nearest measured value where outside their hull)."""
    from scipy import ndimage
    from scipy.interpolate import LinearNDInterpolator, NearestNDInterpolator

    holes = region & ~measured
    out = np.where(measured, z, np.nan)
    if not holes.any() or not measured.any():
        return out
    ring = measured & ndimage.binary_dilation(holes, iterations=3)
    src = np.argwhere(ring)
    dst = np.argwhere(holes)
    vals = z[ring]
    filled = np.full(len(dst), np.nan)
    if len(src) >= 3:
        try:
            filled = LinearNDInterpolator(src.astype(float), vals)(dst.astype(float))
        except Exception:  # degenerate (collinear) rings: fall through to nearest
            pass
    bad = ~np.isfinite(filled)
    if bad.any():
        allsrc = np.argwhere(measured)
        filled[bad] = NearestNDInterpolator(allsrc.astype(float), z[measured])(dst[bad].astype(float))
    out[holes] = filled
    return out


# ------------------------------------------------------------------------------------------------
# the pipeline
# ------------------------------------------------------------------------------------------------

def _points_and_colours(scan: Scan):
    """Values to resample: texture coordinates (preferred; per face corner when the scan indexes them so,
    kind ``"uv_corner"``, (m, 3, 2)) or per-vertex colours."""
    if scan.texture is not None and scan.texcoords is not None:
        if scan.texcoord_faces is not None and scan.n_faces:
            return "uv_corner", scan.corner_uv()
        uv = scan.vertex_uv()
        if uv is not None and np.isfinite(uv).all():
            return "uv", uv
    if scan.vertex_colors is not None:
        return "rgb", np.asarray(scan.vertex_colors, dtype=np.float64) / 255.0
    return None, None


def preprocess_scan(scan: Scan, size: int = 224, **params: Any) -> FaceGrid:
    """Normalise a scan and resample it to a FaceGrid (see :func:`_preprocess_scan` for the parameters)."""
    # Many small BLAS calls: a multi-threaded BLAS spin-waits on a busy machine and gets ~50x slower.
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return _preprocess_scan(scan, size, **params)
    with threadpool_limits(limits=1, user_api="blas"):
        return _preprocess_scan(scan, size, **params)


preprocess_scan.__doc__ = None  # replaced below by the full docstring


def _preprocess_scan(scan: Scan, size: int = 224, **params: Any) -> FaceGrid:
    """Normalise a textured face scan and resample it to a ``size`` x ``size`` FaceGrid.

    Parameters
    ----------
    scan
        A :class:`~ferbench.io.scan.Scan` (mm, +z toward the viewer).
    size
        Grid side in pixels (224 default; 161 gives the spec's 1 mm grid for r = 80 mm).
    **params
        Any of :data:`DEFAULTS` (see the module docstring): ``radius_mm``, ``align`` ("auto", "icp", "pca",
        "none"), ``template`` ((n, 3) points or a Scan, for ICP), ``max_align_iter``, ``align_tol_deg``,
        ``nose_method``, ``x_window_mm``, ``nose_smooth_mm``, ``spike_mm``, ``median``, ``fill_holes``,
        ``max_edge_factor``, ``icp_trim``, ``icp_max_iter``.

    Returns
    -------
    FaceGrid
        ``xyz`` in the normalised frame (nose tip at the origin), ``valid``, ``mask``, ``texture`` in [0, 1],
        ``transform`` (scan -> grid frame), ``nose_tip`` (scan coordinates).

    Raises
    ------
    ScanFormatError
        The scan is malformed or has too few points near the detected nose tip (names the file).
    """
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown preprocessing parameters {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    p = {**DEFAULTS, **params}
    size = int(size)
    if not 8 <= size <= 4096:
        raise ValueError(f"size must be in [8, 4096], got {size}")
    r = float(p["radius_mm"])
    if not r > 0:
        raise ValueError("radius_mm must be > 0")
    where = scan.meta.source_path
    scan.validate()
    V0 = scan.vertices
    if len(V0) < 3:
        raise ScanFormatError(where, f"only {len(V0)} vertices; a face needs at least 3")

    def nose_of(V):
        return detect_nose_tip(V, p["nose_method"], p["x_window_mm"], p["nose_smooth_mm"])

    # Nose tip and pose from the distinct points: unwelded meshes (seam vertices split per texture
    # coordinate, as in PLY files) must align exactly as the welded ones do.
    _, first = np.unique(V0, axis=0, return_index=True)
    U0 = V0 if len(first) == len(V0) else V0[np.sort(first)]
    T = np.eye(4)
    U = U0.copy()
    nose = nose_of(U)
    align = p["align"]
    if align == "auto":
        align = "icp" if p["template"] is not None else "pca"
    if align == "icp":
        if p["template"] is None:
            raise ValueError("align='icp' needs a template (points or Scan)")
        tmpl = p["template"].vertices if isinstance(p["template"], Scan) else np.asarray(p["template"], float)
        sel = crop_sphere(U, nose, r)
        T = icp_align(U[sel], tmpl, max_iter=p["icp_max_iter"], trim=p["icp_trim"])
        U = apply_transform(T, U0)
        nose = nose_of(U)
    elif align == "pca":
        for _ in range(int(p["max_align_iter"])):
            sel = crop_sphere(U, nose, r)
            if sel.sum() < 3:
                break
            R = pca_rotation(U[sel])
            c = U[sel].mean(0)
            step = rigid(R, c - R @ c)
            T = step @ T
            U = apply_transform(T, U0)
            nose = nose_of(U)
            if rotation_angle_deg(R) < p["align_tol_deg"]:
                break
    elif align != "none":
        raise ValueError(f"align must be 'auto', 'icp', 'pca' or 'none', got {align!r}")
    V = V0.copy() if align == "none" else apply_transform(T, V0)
    sel = crop_sphere(V, nose, r)
    if sel.sum() < 3:
        raise ScanFormatError(where, f"fewer than 3 points within {r} mm of the detected nose tip")
    T = rigid(np.eye(3), -nose) @ T
    V = V - nose
    nose_scan = apply_transform(np.linalg.inv(T), np.zeros((1, 3)))[0]
    kind, vals = _points_and_colours(scan)
    n_spikes = 0
    if scan.n_faces:
        keep_f = sel[scan.faces].all(1)
        if p["spike_mm"] is not None and p["spike_mm"] > 0:
            spiky = vertex_spikes(V, scan.faces[keep_f], float(p["spike_mm"]))
            n_spikes = int(spiky.sum())
            if n_spikes:
                keep_f &= ~spiky[scan.faces].any(1)
        faces = scan.faces[keep_f]
    else:
        keep_f, faces = None, None
    idx = np.flatnonzero(sel)
    remap = np.full(len(V), -1)
    remap[idx] = np.arange(len(idx))
    faces_sub = remap[faces] if faces is not None and len(faces) else None
    if kind == "uv_corner" and faces_sub is None:  # no triangle left: fall back to one UV per point
        uv = scan.vertex_uv()
        kind, vals = ("uv", uv) if np.isfinite(uv).all() else (None, None)
    try:
        z, measured, gv = resample_to_grid(V[sel], size, r,
                                           None if vals is None or kind == "uv_corner" else vals[sel], faces_sub,
                                           p["max_edge_factor"],
                                           corner_values=vals[keep_f] if kind == "uv_corner" else None)
    except ValueError as e:
        raise ScanFormatError(where, str(e)) from None
    if not measured.any():
        raise ScanFormatError(where, "no grid pixel is covered by the face after cropping")
    if p["spike_mm"] is not None and p["spike_mm"] > 0:
        measured = remove_spikes(z, measured, float(p["spike_mm"]))
    from scipy import ndimage

    h = 2 * r / (size - 1)
    xs = -r + h * np.arange(size)
    ys = r - h * np.arange(size)
    X, Y = np.meshgrid(xs, ys)
    disc = X ** 2 + Y ** 2 <= r * r
    region = ndimage.binary_fill_holes(ndimage.binary_closing(measured, iterations=2) | measured) & disc
    if p["fill_holes"]:
        zf = fill_holes(z, measured, region)
    else:
        zf = np.where(measured, z, np.nan)
        region = measured.copy()
    if p["median"]:
        zm = _nanmedian3(np.where(region, zf, np.nan))
        zf = np.where(region, zm, np.nan)
    region &= np.isfinite(zf)
    texture = None
    if kind is not None and gv is not None:
        if kind in ("uv", "uv_corner"):
            # sample where measured, then fill holes in colour: UVs interpolated across a hole that straddles
            # a seam would land between the atlas islands
            img = scan.texture
            Ht, Wt = img.shape[:2]
            ok = measured & np.isfinite(gv).all(-1)
            rgb = np.full((size, size, 3), np.nan)
            rgb[ok] = _sample_bilinear(img, (1.0 - gv[ok][:, 1]) * (Ht - 1), gv[ok][:, 0] * (Wt - 1)) / 255.0
            rgb = np.stack([fill_holes(rgb[..., c], ok, region) for c in range(3)], -1)  # v = 0: image bottom
            rgb = np.where(region[..., None], np.nan_to_num(rgb), 0.0)
        else:
            gvf = np.stack([fill_holes(gv[..., c], measured & np.isfinite(gv[..., c]), region)
                            for c in range(gv.shape[-1])], -1)
            rgb = np.where(region[..., None], np.nan_to_num(gvf), 0.0)
        texture = np.clip(rgb, 0, 1).astype(np.float32)
    xyz = np.stack([X, Y, np.where(region, zf, np.nan)], -1)
    params_used = {k: v for k, v in p.items() if k != "template"}
    params_used.update(size=size, align_used=align, template=p["template"] is not None, spike_vertices=n_spikes)
    return FaceGrid(xyz=xyz, valid=measured & region, texture=texture, pixel_size_mm=h, nose_tip=nose_scan,
                    transform=T, mask=region, meta=scan.meta, params=params_used)


preprocess_scan.__doc__ = _preprocess_scan.__doc__
