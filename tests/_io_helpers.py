"""Small deterministic scans and files shared by the io tests (not a test module)."""
from __future__ import annotations

import numpy as np

from ferbench.io.bosphorus import grid_to_mesh
from ferbench.io.bu3dfe import BU3DFE_LANDMARK_NAMES
from ferbench.io.scan import Scan


def make_grid(h: int = 6, w: int = 7, hole: bool = True) -> np.ndarray:
    """(h, w, 3) range grid: x grows with the column, y falls with the row, a smooth z bump."""
    r, c = np.mgrid[0:h, 0:w].astype(np.float64)
    g = np.stack([c * 1.5 - 4.0, 3.0 - r * 1.25, 20.0 + np.sin(c) * np.cos(r)], axis=-1)
    if hole:
        g[0, 0] = np.nan
        g[h - 1, w - 2] = np.nan
    return g


def make_scan(seed: int = 0, h: int = 6, w: int = 7, per_corner_uv: bool = False, colors: bool = True,
              landmarks: int = 83) -> Scan:
    """A small textured mesh with landmarks, reproducible from ``seed``."""
    rng = np.random.default_rng(seed)
    v, f, _ = grid_to_mesh(make_grid(h, w))
    v = v + rng.normal(0, 0.01, v.shape)
    scan = Scan(vertices=v, faces=f)
    if per_corner_uv:
        scan.texcoords = rng.random((2 * len(v), 2))
        scan.texcoord_faces = rng.integers(0, len(scan.texcoords), f.shape)
    else:
        scan.texcoords = rng.random((len(v), 2))
    scan.texture = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    if colors:
        scan.vertex_colors = rng.integers(0, 256, v.shape, dtype=np.uint8)
    if landmarks:
        scan.landmarks = rng.normal(0, 30, (landmarks, 3))
        if landmarks == 83:
            scan.landmark_names = BU3DFE_LANDMARK_NAMES
    return scan.validate()


def write_synthetic_scan(path, subject_id: str, expression: str, level: int, seed: int, texture_size: int):
    """One textured synthetic scan (the shipped face model) written to ``path``; returns ``path``."""
    from ferbench.io import write_scan
    from ferbench.synth import load_face_model, sample_subject, subject_texture, synthesize_scan

    model = load_face_model()
    rng = np.random.default_rng(seed)
    subject = sample_subject(model, subject_id, rng)
    scan = synthesize_scan(model, subject, expression, level, rng,
                           texture=subject_texture(model, subject, texture_size))
    write_scan(scan, path)
    return path
