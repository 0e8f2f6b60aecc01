"""A procedural face model: the fallback when the Surrey Face Model is not available.

A regular 2.5 mm grid over a face-shaped outline is lifted onto an ellipsoid with a nose,
brow ridge, eye sockets, cheeks, lips and chin made of smooth bumps. Identity modes are
smooth global deformations (width, height, depth, nose, chin, eye spacing, ...) made
orthonormal by an SVD; the six expression fields are hand-made smooth displacements
(Gaussians and sigmoids anchored at hand-placed iBUG-68 landmark positions) with
magnitudes similar to the SFM blendshapes (anger/sadness subtle, surprise largest).
Coordinates follow the SFM frame (mm, +x subject's left, +y up, +z toward the viewer,
nose tip near (0, -2, 3.3)). Everything is deterministic: no random numbers.
"""
from __future__ import annotations

import hashlib

import numpy as np

from ferbench.labels import EXPRESSIONS

__all__ = ["procedural_face_model", "IBUG_TEMPLATE_XY"]


def _ibug_template() -> np.ndarray:
    """Hand-placed iBUG-68 (x, y) positions in mm (row i = point i + 1)."""
    phi = np.linspace(-np.pi / 2, np.pi / 2, 17)
    jaw = np.stack([66.0 * np.sin(phi), -80.0 + 108.0 * (1 - np.cos(phi))], axis=1)  # 1-17, right to left
    brow_r = [(-57, 44), (-46, 49), (-35, 51), (-24, 50), (-14, 47)]                  # 18-22 outer -> inner
    brow_l = [(14, 47), (24, 50), (35, 51), (46, 49), (57, 44)]                        # 23-27 inner -> outer
    nose = [(0, 30), (0, 20), (0, 9), (0, -2), (-12, -12), (-6, -14), (0, -15), (6, -14), (12, -12)]  # 28-36
    eye_r = [(-46, 34), (-39, 38), (-27, 38), (-19, 32), (-27, 29), (-39, 29)]         # 37-42
    eye_l = [(19, 32), (27, 38), (39, 38), (46, 34), (39, 29), (27, 29)]               # 43-48
    mouth_o = [(-24, -36), (-15, -31), (-6, -28), (0, -29), (6, -28), (15, -31), (24, -36),
               (15, -41), (7, -44), (0, -45), (-7, -44), (-15, -41)]                    # 49-60
    mouth_i = [(-19, -36), (-10, -34), (0, -34.5), (10, -34), (19, -36), (10, -37.5), (0, -38), (-10, -37.5)]  # 61-68
    pts = np.vstack([jaw, brow_r, brow_l, nose, eye_r, eye_l, mouth_o, mouth_i]).astype(np.float64)
    assert pts.shape == (68, 2)
    return pts


IBUG_TEMPLATE_XY = _ibug_template()


def _g(x, y, cx, cy, sx, sy=None):
    sy = sx if sy is None else sy
    return np.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def _gb(x, y, cx, cy, sx, sy=None):
    """A broader bump (x1.6) for the expression fields."""
    return _g(x, y, cx, cy, 1.6 * sx, 1.6 * (sx if sy is None else sy))


def _sig(t):
    return 1.0 / (1.0 + np.exp(-t))


def _height(x, y):
    """Face surface z(x, y) before the nose tip is moved to z = 3.3."""
    r2 = (x / 80.0) ** 2 + ((y - 8.0) / 112.0) ** 2
    z = -100.0 + 100.0 * np.sqrt(np.clip(1.0 - r2, 0.0, None))
    # nose: a ridge from the bridge to the tip, narrow at the bridge and wider at the tip
    t = np.clip((38.0 - y) / 40.0, 0.0, 1.0)  # 0 at the bridge (y=38) -> 1 at the tip (y=-2)
    width = 5.0 + 6.0 * t
    ridge = (3.0 + 19.0 * t ** 1.3) * np.exp(-0.5 * (x / width) ** 2) * _sig((y + 6.0) / 2.5) * _sig((42.0 - y) / 3.0)
    z = z + ridge + 8.0 * _g(x, y, 0, -3, 6.5, 5.0)  # rounded tip
    z = z + 3.0 * (_g(x, y, -11, -9, 5.0) + _g(x, y, 11, -9, 5.0))  # alae
    z = z - 9.0 * (_g(x, y, -32, 33, 11.0, 8.0) + _g(x, y, 32, 33, 11.0, 8.0))  # eye sockets
    z = z + 3.0 * (_g(x, y, -30, 34, 8.0, 5.0) + _g(x, y, 30, 34, 8.0, 5.0))  # eyeballs
    z = z + 4.0 * (_g(x, y, -33, 48, 14.0, 5.0) + _g(x, y, 33, 48, 14.0, 5.0))  # brow ridge
    z = z + 5.0 * (_g(x, y, -38, 2, 14.0) + _g(x, y, 38, 2, 14.0))  # cheeks
    z = z + 5.0 * _g(x, y, 0, -31, 16.0, 4.0) + 5.0 * _g(x, y, 0, -41, 14.0, 4.0)  # lips
    z = z - 2.5 * _g(x, y, 0, -36, 20.0, 1.2)  # mouth line
    z = z - 3.0 * _g(x, y, 0, -55, 14.0, 4.0) + 6.0 * _g(x, y, 0, -68, 14.0, 8.0)  # chin groove and chin
    return z


_FIELD_MEAN_MM = {"anger": 1.8, "disgust": 2.2, "fear": 2.8, "happiness": 3.4, "sadness": 1.5, "surprise": 6.0}
"""Mean per-vertex displacement of each procedural field at weight 1 (the SFM's are 2.0-10.2 mm)."""


def _expression_fields(x, y, n) -> dict[str, np.ndarray]:
    """Six smooth displacement fields (mm at weight 1), keyed by canonical expression name.

    Each field is a sum of broad Gaussian / sigmoid bumps, rescaled to the mean magnitude in
    :data:`_FIELD_MEAN_MM` so that the subtle expressions (anger, sadness) still stand out
    from the blendshape leakage, as they do in the SFM.
    """
    def field(dx=0.0, dy=0.0, dz=0.0):
        f = np.zeros((n, 3))
        f[:, 0], f[:, 1], f[:, 2] = dx, dy, dz
        return f

    sgn = np.tanh(x / 8.0)  # smooth sign: no tear along the midline
    brows = _gb(x, y, -35, 48, 22.0, 10.0) + _gb(x, y, 35, 48, 22.0, 10.0)
    inner_brows = _gb(x, y, -16, 47, 9.0, 8.0) + _gb(x, y, 16, 47, 9.0, 8.0)
    corners = _gb(x, y, -24, -36, 9.0) + _gb(x, y, 24, -36, 9.0)
    cheeks = _gb(x, y, -34, -4, 14.0) + _gb(x, y, 34, -4, 14.0)
    upper_lip = _gb(x, y, 0, -31, 14.0, 4.5)
    lower_lip = _gb(x, y, 0, -41, 14.0, 5.0)
    lower_lids = _gb(x, y, -32, 28, 9.0, 3.0) + _gb(x, y, 32, 28, 9.0, 3.0)
    upper_lids = _gb(x, y, -32, 38, 9.0, 3.0) + _gb(x, y, 32, 38, 9.0, 3.0)
    jaw = _sig((-37.0 - y) / 2.0) * np.exp(-0.5 * (x / 38.0) ** 2)  # everything below the mouth line
    nose_sides = _gb(x, y, -9, 8, 5.0, 8.0) + _gb(x, y, 9, 8, 5.0, 8.0)

    f = {}
    f["anger"] = (field(dx=-2.5 * sgn * inner_brows, dy=-4.0 * brows, dz=1.0 * brows)
                  + field(dy=-1.5 * upper_lip + 1.5 * lower_lip, dz=-1.0 * (upper_lip + lower_lip))
                  + field(dx=1.5 * sgn * _gb(x, y, 0, -10, 12.0, 5.0)))
    f["disgust"] = (field(dy=5.0 * _gb(x, y, 0, -30, 12.0, 5.0) + 2.5 * nose_sides + 3.0 * cheeks,
                          dz=2.0 * lower_lip - 1.0 * nose_sides)
                    + field(dy=-3.0 * brows - 2.0 * lower_lip, dx=-1.5 * sgn * inner_brows))
    f["fear"] = (field(dy=6.0 * brows + 1.5 * upper_lids, dx=-3.0 * sgn * inner_brows)
                 + field(dx=5.0 * sgn * corners, dy=-2.0 * corners - 4.0 * lower_lip - 5.0 * jaw, dz=-1.5 * jaw))
    f["happiness"] = (field(dx=6.0 * sgn * corners, dy=7.0 * corners + 4.0 * cheeks + 1.5 * lower_lids,
                            dz=-3.0 * corners + 2.0 * cheeks)
                      + field(dy=-2.0 * lower_lip + 1.0 * upper_lip, dz=-1.0 * lower_lip))
    f["sadness"] = (field(dy=4.5 * inner_brows - 1.0 * brows, dx=-1.0 * sgn * inner_brows)
                    + field(dy=-4.0 * corners + 2.0 * _gb(x, y, 0, -62, 14.0, 8.0), dz=2.0 * lower_lip))
    f["surprise"] = (field(dy=9.0 * brows + 3.0 * upper_lids)
                     + field(dy=-22.0 * jaw - 3.0 * lower_lip, dz=-6.0 * jaw)
                     + field(dy=1.0 * upper_lip, dx=-2.0 * sgn * corners))
    return {e: f[e] * (_FIELD_MEAN_MM[e] / np.linalg.norm(f[e], axis=1).mean()) for e in EXPRESSIONS}


def _identity_fields(x, y, z) -> np.ndarray:
    """Raw 1-sigma identity deformations (n, 3, k) in mm."""
    nose = np.exp(-0.5 * (x / 9.0) ** 2) * _sig((y + 8.0) / 3.0) * _sig((40.0 - y) / 3.0)
    eyes = _g(x, y, -32, 33, 14.0) - _g(x, y, 32, 33, 14.0)
    lower = _sig((-40.0 - y) / 8.0)
    cheeks = _g(x, y, -38, 2, 16.0) + _g(x, y, 38, 2, 16.0)
    zc = z - z.mean()
    fields = [
        (0.06 * x, 0 * x, 0 * x),                 # face width
        (0 * x, 0.05 * y, 0 * x),                 # face height
        (0 * x, 0 * x, 0.10 * zc),                # depth
        (0 * x, -1.0 * nose, 3.5 * nose),         # nose protrusion / droop
        (1.2 * np.sign(x) * nose, 0 * x, 0 * x),  # nose width
        (0 * x, -5.0 * lower, 2.5 * lower),       # chin length / projection
        (-2.0 * eyes, 0 * x, 0 * x),              # eye spacing
        (0 * x, 0 * x, 3.0 * cheeks),             # cheek fullness
        (0 * x, 0 * x, 0.04 * np.clip(y - 40.0, 0, None) ** 1.2),  # forehead slope
        (0.03 * x * _sig((-25.0 - y) / 6.0), 0 * x, 0 * x),         # jaw width
    ]
    return np.stack([np.stack(f, axis=1) for f in fields], axis=2)


def procedural_face_model():
    """Build the procedural :class:`~ferbench.synth.model.FaceModel` (deterministic, ~3.6k vertices)."""
    from ferbench.synth.model import PROCEDURAL_NAME, FaceModel

    step = 2.5
    xs = np.arange(-75.0, 75.0 + 1e-9, step)
    ys = np.arange(-85.0, 100.0 + 1e-9, step)
    gx, gy = np.meshgrid(xs, ys)  # row i: y = ys[i] (upward), column j: x = xs[j]
    # face outline: an egg (narrower at the chin)
    half_w = 75.0 * np.sqrt(np.clip(1 - ((gy - 12.0) / 99.0) ** 2, 0, None)) * (0.86 + 0.14 * _sig(gy / 25.0))
    inside = np.abs(gx) <= half_w
    idx = np.full(gx.shape, -1, np.int64)
    idx[inside] = np.arange(int(inside.sum()))
    x, y = gx[inside], gy[inside]
    z = _height(x, y)

    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]  # (i,j) (i,j+1) (i+1,j) (i+1,j+1)
    ok = (a >= 0) & (b >= 0) & (c >= 0) & (d >= 0)
    # y grows with the row index here, so (a, b, d) and (a, d, c) are counter-clockwise seen from +z
    tri = np.concatenate([np.stack([a[ok], b[ok], d[ok]], 1), np.stack([a[ok], d[ok], c[ok]], 1)])

    mean = np.stack([x, y, z], axis=1)
    tmpl = IBUG_TEMPLATE_XY
    dist = ((tmpl[:, None, :] - mean[None, :, :2]) ** 2).sum(-1)
    ibug = np.argmin(dist, axis=1).astype(np.int64)
    nose_tip = int(ibug[30])
    mean = mean - np.array([0.0, 0.0, mean[nose_tip, 2] - 3.3])  # nose tip at z = 3.3 as in the SFM

    raw = _identity_fields(x, y, mean[:, 2]).reshape(-1, 10)  # (3n, k), rows x0 y0 z0 x1 ...
    u, s, _ = np.linalg.svd(raw, full_matrices=False)
    u = u * np.where(u[np.argmax(np.abs(u), axis=0), np.arange(u.shape[1])] < 0, -1.0, 1.0)  # fixed signs

    blends = _expression_fields(x, y, len(x))
    uv = np.stack([(x - xs[0]) / (xs[-1] - xs[0]), (y - ys[0]) / (ys[-1] - ys[0])], axis=1)  # v = 0 at the bottom

    h = hashlib.sha256()
    for arr in (mean, u, s, tri, uv, *blends.values()):
        h.update(np.ascontiguousarray(np.round(arr, 6) if arr.dtype.kind == "f" else arr).tobytes())
    return FaceModel(name=PROCEDURAL_NAME, mean=mean, shape_basis=u, shape_stddev=s, triangles=tri.astype(np.int64),
                     uv=uv, blendshapes=blends, ibug_vertices=ibug, nose_tip=nose_tip, sha256=h.hexdigest())
