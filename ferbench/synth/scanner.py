"""Scanner traits: give a synthetic scan what real scans have.

Real textured scans are not the clean, seam-free meshes a face model gives: their texture atlas is
stitched from several cameras (so vertices on the stitch carry one texture coordinate per side),
they have holes where the scanner saw nothing, isolated outlier vertices (spikes) thrown along the
line of sight, and now and then a texture file that is not beside the mesh. Each function here takes
a :class:`~ferbench.io.scan.Scan` and returns a new one with one such trait; :func:`apply_traits`
applies several, and :func:`draw_traits` decides (seeded) which traits a dataset scan gets.

* :func:`add_seamed_atlas`: the face is cut into left/right UV islands along ``u = u_split``; the
  texture is re-laid out as two strips (right island first, then a black gap, then the left island,
  as a two-camera atlas might be), and texture coordinates become per face corner. Texels are copied,
  not resampled, and columns shift by whole texels, so with per-corner sampling the seamed scan gives
  the same texture (to float rounding) as the original; a sampler that takes one UV per vertex
  interpolates across the gap and paints black seams.
* :func:`add_holes`: faces within a few blobs (on cheeks, forehead, chin, away from the nose tip) are
  removed and unreferenced vertices dropped (landmark vertex ids follow; -1 = removed).
* :func:`add_spikes`: a few vertices are moved along their normal by 12-35 mm.
* :func:`mark_texture_missing`: the scan keeps its texture coordinates and texture url but the
  dataset writer does not write the image (``meta.extra["scanner_traits"]`` says so).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ferbench.io.scan import Scan

__all__ = ["TRAITS", "DEFAULT_TRAITS", "RARE_TRAITS",
           "add_seamed_atlas", "add_holes", "add_spikes", "mark_texture_missing",
           "apply_traits", "draw_traits"]

TRAITS: tuple[str, ...] = ("seams", "holes", "spikes", "missing_texture")
"""Every scanner trait, in the order :func:`apply_traits` applies them."""
DEFAULT_TRAITS: tuple[str, ...] = ("seams", "holes", "spikes", "missing_texture")
"""Traits a synthetic dataset gives by default (``missing_texture`` rarely: :data:`RARE_TRAITS`). Training a
texture-map model (DF-CNN, CM-CNN) leaves scans without texture out before splitting
(:func:`ferbench.eval.data.exclude_unusable`; results.json lists them)."""
RARE_TRAITS: dict[str, float] = {"missing_texture": 0.1}
"""Default traits drawn on their own, for this fraction of the ``share`` (0.1 of the default 0.3: 3 % of the
BU-3DFE scans have no texture file), from a separate random stream so the other traits' draws do not move."""


def _record(scan: Scan, trait: str) -> None:
    t = list(scan.meta.extra.get("scanner_traits", ()))
    if trait not in t:
        t.append(trait)
    scan.meta.extra["scanner_traits"] = tuple(t)


def _nose(V: np.ndarray) -> np.ndarray:
    from ferbench.preprocess.pipeline import detect_nose_tip

    return detect_nose_tip(V)


def add_seamed_atlas(scan: Scan, u_split: float = 0.5, gap_px: int = 8) -> Scan:
    """Cut the texture atlas into two islands (a stitched two-camera atlas); see the module docstring.

    Parameters
    ----------
    scan
        A textured scan (per-vertex or per-corner texture coordinates).
    u_split
        Faces whose corners' mean u is below it form the first island, the others the second.
    gap_px
        Black columns between the islands.

    Returns
    -------
    Scan
        A copy with the re-laid-out texture (same height, new width) and per-corner texture
        coordinates (``texcoord_faces`` set; seam vertices have two texcoords).
    """
    if scan.texture is None or scan.texcoords is None:
        raise ValueError("add_seamed_atlas needs a textured scan with texture coordinates")
    tex = np.asarray(scan.texture)
    H, W = tex.shape[:2]
    C = scan.corner_uv()  # (m, 3, 2)
    cols = C[..., 0] * (W - 1)  # the preprocessing convention: u = 0 -> column 0, u = 1 -> column W - 1
    left = C[..., 0].mean(1) < u_split
    out = scan.copy()
    if left.all() or not left.any():  # one island only: nothing to cut
        _record(out, "seams")
        return out
    # columns each island needs, with one texel of margin for the bilinear lookup
    l_hi = int(min(W - 1, np.ceil(cols[left].max()) + 1))
    r_lo = int(max(0, np.floor(cols[~left].min()) - 1))
    right_strip, left_strip = tex[:, r_lo:], tex[:, :l_hi + 1]
    wr, gap = right_strip.shape[1], int(gap_px)
    new = np.zeros((H, wr + gap + left_strip.shape[1], 3), np.uint8)
    new[:, :wr] = right_strip
    new[:, wr + gap:] = left_strip
    W2 = new.shape[1]
    shift = np.where(left, wr + gap, -r_lo)[:, None]  # whole-texel column shift per face
    uv = C.copy()
    uv[..., 0] = (cols + shift) / (W2 - 1)
    uv[..., 1] = C[..., 1]  # same height, same rows
    tc, inv = np.unique(uv.reshape(-1, 2), axis=0, return_inverse=True)
    out.texture = new
    out.texcoords = tc
    out.texcoord_faces = np.asarray(inv).reshape(-1, 3).astype(np.int64)
    _record(out, "seams")
    return out.validate()


def _compact(scan: Scan, keep_faces: np.ndarray) -> Scan:
    """Keep the given faces and drop vertices no face uses; landmark vertex ids follow (-1 = removed)."""
    out = scan.copy()
    F = scan.faces[keep_faces]
    used = np.unique(F)
    remap = np.full(scan.n_vertices, -1, np.int64)
    remap[used] = np.arange(len(used))
    out.vertices = scan.vertices[used]
    out.faces = remap[F]
    if scan.texcoords is not None:
        if scan.texcoord_faces is None:
            out.texcoords = scan.texcoords[used]
        else:
            out.texcoord_faces = scan.texcoord_faces[keep_faces]
    if scan.vertex_colors is not None:
        out.vertex_colors = scan.vertex_colors[used]
    x = out.meta.extra
    ids = x.get("landmark_vertex_ids")
    if ids is not None:
        ids = np.asarray(ids, np.int64)
        new_ids = np.where(ids >= 0, remap[np.clip(ids, 0, None)], -1)
        x["landmark_vertex_ids"] = new_ids
        if "landmark_missing" in x:
            x["landmark_missing"] = np.asarray(x["landmark_missing"], bool) | (new_ids < 0)
    if "model_vertex_ids" in x:
        x["model_vertex_ids"] = np.asarray(x["model_vertex_ids"])[used]
    return out


def add_holes(scan: Scan, rng: np.random.Generator, n_holes: int | None = None,
              radius_mm: tuple[float, float] = (4.0, 9.0), ring_mm: tuple[float, float] = (25.0, 60.0)) -> Scan:
    """Remove the faces in a few round blobs (scanner drop-outs) away from the nose tip.

    Parameters
    ----------
    n_holes
        Number of blobs; None draws 1-3.
    radius_mm
        Range of blob radii.
    ring_mm
        Blob centres are vertices at this distance range from the nose tip (cheeks, forehead, chin),
        so that the nose tip itself, which preprocessing looks for, stays.

    Returns
    -------
    Scan
        A copy without the faces of the blobs and without the vertices no face uses;
        ``meta.extra["scanner_holes"]`` = number of blobs.
    """
    V = scan.vertices
    n = int(rng.integers(1, 4)) if n_holes is None else int(n_holes)
    d = np.linalg.norm(V - _nose(V), axis=1)
    cand = np.flatnonzero((d >= ring_mm[0]) & (d <= ring_mm[1]))
    if n <= 0 or cand.size == 0:
        out = scan.copy()
        out.meta.extra["scanner_holes"] = 0
        _record(out, "holes")
        return out
    centres = V[rng.choice(cand, size=n, replace=cand.size < n)]
    radii = rng.uniform(*radius_mm, size=n)
    inside = (np.linalg.norm(V[:, None, :] - centres[None], axis=2) < radii[None]).any(1)
    out = _compact(scan, ~inside[scan.faces].any(1))
    out.meta.extra["scanner_holes"] = n
    _record(out, "holes")
    return out.validate()


def add_spikes(scan: Scan, rng: np.random.Generator, n_spikes: int | None = None,
               height_mm: tuple[float, float] = (12.0, 35.0), min_nose_mm: float = 15.0,
               max_nose_mm: float = 65.0) -> Scan:
    """Throw a few vertices along their normal (scanner outliers): 70 % outward, 30 % inward.

    Parameters
    ----------
    n_spikes
        Number of spike vertices; None draws 2-6.
    height_mm
        Range of the displacement.
    min_nose_mm, max_nose_mm
        Spike vertices are this far from the nose tip (inside the face crop, not on the nose tip);
        landmark vertices are never spiked.

    Returns
    -------
    Scan
        A copy; ``meta.extra["scanner_spikes"]`` holds the spike vertex ids.
    """
    from ferbench.synth.texture import vertex_normals

    V = scan.vertices
    n = int(rng.integers(2, 7)) if n_spikes is None else int(n_spikes)
    d = np.linalg.norm(V - _nose(V), axis=1)
    used = np.zeros(len(V), bool)
    used[scan.faces.ravel()] = True
    ok = (d >= min_nose_mm) & (d <= max_nose_mm) & used
    lm_ids = np.asarray(scan.meta.extra.get("landmark_vertex_ids", ()), np.int64)
    ok[lm_ids[(lm_ids >= 0) & (lm_ids < len(V))]] = False  # landmarks stay on the surface
    cand = np.flatnonzero(ok)
    out = scan.copy()
    ids = rng.choice(cand, size=min(n, cand.size), replace=False) if cand.size else np.zeros(0, np.int64)
    h = rng.uniform(*height_mm, size=len(ids)) * np.where(rng.random(len(ids)) < 0.7, 1.0, -1.0)
    normals = vertex_normals(V, scan.faces)
    out.vertices = V.copy()
    out.vertices[ids] += normals[ids] * h[:, None]
    out.meta.extra["scanner_spikes"] = np.sort(ids).astype(np.int64)
    _record(out, "spikes")
    return out.validate()


def mark_texture_missing(scan: Scan) -> Scan:
    """Mark a scan so that the dataset writer leaves its texture image out (the mesh still names it)."""
    out = scan.copy()
    _record(out, "missing_texture")
    return out


def apply_traits(scan: Scan, traits: Sequence[str], rng: np.random.Generator) -> Scan:
    """Apply the named traits (any of :data:`TRAITS`) in :data:`TRAITS` order; returns a new Scan."""
    bad = [t for t in traits if t not in TRAITS]
    if bad:
        raise ValueError(f"unknown scanner traits {bad}; expected some of {TRAITS}")
    out = scan
    for t in TRAITS:
        if t not in traits:
            continue
        if t == "seams":
            out = add_seamed_atlas(out) if out.texture is not None and out.texcoords is not None else out
        elif t == "holes":
            out = add_holes(out, rng)
        elif t == "spikes":
            out = add_spikes(out, rng)
        else:
            out = mark_texture_missing(out)
    return out


def draw_traits(rng: np.random.Generator, share: float, kinds: Sequence[str] | None = None,
                rare: dict[str, float] | None = None, rare_rng: np.random.Generator | None = None) -> tuple[str, ...]:
    """Which traits one dataset scan gets: with probability ``share`` a non-empty random subset of ``kinds``
    (each kind with probability 1/2, at least one), else none.

    Kinds named in ``rare`` (``{kind: fraction}``, e.g. :data:`RARE_TRAITS`) are left out of that subset and
    given on their own with probability ``share * fraction``, drawn from ``rare_rng`` (default: ``rng``,
    after the others). Without ``kinds`` the draw is the datasets' default: :data:`DEFAULT_TRAITS` with
    ``rare`` defaulting to :data:`RARE_TRAITS`; kinds named explicitly are all equally likely unless ``rare``
    is given too."""
    if kinds is None:
        kinds = DEFAULT_TRAITS
        rare = RARE_TRAITS if rare is None else rare
    rare = {k: float(v) for k, v in (rare or {}).items() if k in tuple(kinds)}
    if rare:
        common = tuple(k for k in kinds if k not in rare)
        picked = draw_traits(rng, share, common) if common else ()
        r_rng = rare_rng if rare_rng is not None else rng
        extra = tuple(k for k in rare if r_rng.random() < float(share) * rare[k])
        return tuple(t for t in TRAITS if t in picked or t in extra)
    kinds = tuple(kinds)
    bad = [t for t in kinds if t not in TRAITS]
    if bad:
        raise ValueError(f"unknown scanner traits {bad}; expected some of {TRAITS}")
    if not 0.0 <= float(share) <= 1.0:
        raise ValueError(f"scanner-trait share must be in [0, 1], got {share!r}")
    hit = rng.random() < float(share)
    pick = rng.random(len(kinds)) < 0.5
    if not hit or not kinds:
        return ()
    if not pick.any():
        pick[int(rng.integers(len(kinds)))] = True
    return tuple(k for k, p in zip(kinds, pick) if p)
