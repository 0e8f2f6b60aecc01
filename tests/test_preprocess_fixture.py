"""A parametric synthetic face mesh shared by the preprocessing and map-display tests (no tests here;
no dependency on ferbench.synth)."""
from __future__ import annotations

import numpy as np

from ferbench.io.scan import Scan, ScanMeta


def face_height(X, Y):
    """Ellipsoidal face (semi-axes 75 x 100 x 60 mm) + Gaussian nose (25 mm) + brow bump; nose tip at (0, 0)."""
    base = 60.0 * np.sqrt(np.clip(1 - (X / 75.0) ** 2 - ((Y - 10) / 100.0) ** 2, 0, None))
    nose = 25.0 * np.exp(-(X ** 2 / (2 * 9.0 ** 2) + Y ** 2 / (2 * 14.0 ** 2)))
    brow = 4.0 * np.exp(-((Y - 35) ** 2) / (2 * 6.0 ** 2)) * np.exp(-(X ** 2) / (2 * 30.0 ** 2))
    return base + nose + brow


def make_face(step: float = 1.5, extent: float = 90.0, noise: float = 0.0, seed: int = 0,
              texture: bool = True) -> Scan:
    """Triangulated height-field face; texture = a left/right colour split (red on +x, blue on -x)."""
    rng = np.random.default_rng(seed)
    xs = np.arange(-extent, extent + 1e-9, step)
    ys = np.arange(-extent, extent + 1e-9, step)
    X, Y = np.meshgrid(xs, ys)
    Z = face_height(X, Y)
    keep = ((X / 78.0) ** 2 + ((Y - 10) / 103.0) ** 2) < 1
    nx = len(xs)
    idx = np.full(X.shape, -1)
    idx[keep] = np.arange(keep.sum())
    V = np.stack([X[keep], Y[keep], Z[keep] + noise * rng.standard_normal(keep.sum())], 1)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    f1 = np.stack([a, c, b], -1).reshape(-1, 3)
    f2 = np.stack([b, c, d], -1).reshape(-1, 3)
    F = np.concatenate([f1, f2])
    F = F[(F >= 0).all(1)]
    kw = {}
    if texture:
        img = np.zeros((64, 64, 3), np.uint8)
        img[:, 32:, 0] = 255          # right half of the image (u > 0.5) red
        img[:, :32, 2] = 255          # left half blue
        u = (V[:, 0] + extent) / (2 * extent)
        v = (V[:, 1] + extent) / (2 * extent)
        kw = dict(texcoords=np.stack([u, v], 1), texture=img)
    return Scan(vertices=V, faces=F.astype(np.int64), meta=ScanMeta(dataset="synthetic", synthetic=True,
                                                                   source_path="synthetic_face"), **kw)


def rotation(yaw_deg: float = 0.0, pitch_deg: float = 0.0, roll_deg: float = 0.0) -> np.ndarray:
    a, b, c = np.radians([yaw_deg, pitch_deg, roll_deg])
    Ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    Rx = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    Rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return Rz @ Rx @ Ry
