"""Landmark sets of the synthetic scans, derived from a face model's iBUG-68 vertices.

* **iBUG-68**: exact for the 50 points of ``ibug_to_sfm.txt``; jaw line from the SFM
  contour chains; inner-lip corners 61/65 snapped (see :mod:`ferbench.synth.model`).
* **Bosphorus-22** (approximate): brows iBUG 27/25/23 (left) and 22/20/18 (right), eye
  corners 46/43/40/37, nose peaks 36/32, nose tip 31, mouth corners 55/49, lip middles
  52/63/67/58, chin 9. The two nose saddles are the vertices nearest the midpoints of the
  nose bridge (iBUG 28) and the inner eye corners.
* **BU-3DFE-83** (approximate, menpo3d grouping): eye outlines resampled to 8 points from
  the 6-point iBUG eye contours, each brow as a 10-point outline (the iBUG brow line shifted
  3 mm up and down), 12 nose points, the 20 iBUG mouth points, and 15 points resampled
  along the jaw line. Every point is snapped to the nearest vertex of the mean shape (of the
  skin surface, never an eyeball, for the ICT model), so a landmark is a fixed vertex of the
  model and moves with identity and expression.

"Left" is the subject's left (+x), as in both datasets.
"""
from __future__ import annotations

import numpy as np

__all__ = ["bu3dfe_vertices", "bosphorus_vertices", "BOSPHORUS_FROM_IBUG"]

BOSPHORUS_FROM_IBUG: tuple[int | str, ...] = (
    27, 25, 23, 22, 20, 18,          # brows: outer/middle/inner left, inner/middle/outer right
    46, 43, 40, 37,                  # eye corners: outer left, inner left, inner right, outer right
    "saddle_left", "saddle_right",   # approximate (not iBUG points)
    36, 31, 32,                      # left nose peak, nose tip, right nose peak
    55, 52, 49, 63, 67, 58,          # mouth corners L/R around the upper outer middle; upper/lower inner; lower outer
    9,                               # chin middle
)
"""iBUG point (1-based) behind each of the 22 Bosphorus landmarks, in file order."""


def _snap(mean: np.ndarray, points: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Nearest vertex to each point; only vertices in ``mask`` (the skin, not the eyeballs) when given."""
    cand = np.arange(len(mean)) if mask is None else np.flatnonzero(mask)
    d = ((points[:, None, :] - mean[cand][None, :, :]) ** 2).sum(-1)
    return cand[np.argmin(d, axis=1)].astype(np.int64)


def _resample(poly: np.ndarray, k: int, closed: bool) -> np.ndarray:
    """k points at equal arc length along a polyline (closed: the start is not repeated)."""
    pts = np.vstack([poly, poly[:1]]) if closed else poly
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.linspace(0.0, s[-1], k + 1 if closed else k)[:k]
    return np.stack([np.interp(t, s, pts[:, j]) for j in range(pts.shape[1])], axis=1)


def bosphorus_vertices(model) -> np.ndarray:
    """(22,) vertex ids of the Bosphorus landmarks of ``model`` (order of BOSPHORUS_LANDMARK_NAMES)."""
    m = model.mean
    skin = getattr(model, "skin_mask", None)
    ib = lambda k: int(model.ibug_vertices[k - 1])  # noqa: E731
    out = []
    for item in BOSPHORUS_FROM_IBUG:
        if item == "saddle_left":
            out.append(int(_snap(m, (0.5 * (m[ib(28)] + m[ib(43)]))[None], skin)[0]))
        elif item == "saddle_right":
            out.append(int(_snap(m, (0.5 * (m[ib(28)] + m[ib(40)]))[None], skin)[0]))
        else:
            out.append(ib(int(item)))
    return np.asarray(out, np.int64)


def bu3dfe_vertices(model) -> np.ndarray:
    """(83,) vertex ids of the approximate BU-3DFE landmarks of ``model`` (menpo3d grouping)."""
    m = model.mean
    P = lambda ks: m[[int(model.ibug_vertices[k - 1]) for k in ks]]  # noqa: E731
    up = np.array([0.0, 3.0, 0.0])
    groups = []
    groups.append(_resample(P([43, 44, 45, 46, 47, 48]), 8, closed=True))   # left eye 0-7 (from inner corner)
    groups.append(_resample(P([40, 39, 38, 37, 42, 41]), 8, closed=True))   # right eye 8-15 (from inner corner)
    for brow in ([23, 24, 25, 26, 27], [22, 21, 20, 19, 18]):              # left brow 16-25, right brow 26-35
        line = P(brow)
        groups.append(np.vstack([line + up, (line - up)[::-1]]))
    nose = P([28, 29, 30, 31, 32, 33, 34, 35, 36])
    nasion = 0.5 * (P([40])[0] + P([43])[0])
    out_r = P([32])[0] + np.array([-6.0, 5.0, -4.0])                       # alar wings beside the nostrils
    out_l = P([36])[0] + np.array([6.0, 5.0, -4.0])
    groups.append(np.vstack([nasion[None], nose, out_r[None], out_l[None]]))  # nose 36-47
    groups.append(P(range(49, 69)))                                          # mouth 48-67
    groups.append(_resample(P(range(1, 18)), 15, closed=False))             # chin / jaw 68-82
    pts = np.vstack(groups)
    assert len(pts) == 83
    ids = _snap(m, pts, getattr(model, "skin_mask", None))
    # exact iBUG vertices where the BU point *is* an iBUG point (mouth block, nose block)
    ids[48:68] = [int(model.ibug_vertices[k - 1]) for k in range(49, 69)]
    ids[37:46] = [int(model.ibug_vertices[k - 1]) for k in range(28, 37)]
    return ids
