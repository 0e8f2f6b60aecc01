"""The :class:`FaceGrid`: a preprocessed face resampled onto a regular x-y grid.

Conventions
-----------
* Frame: the scan's frame after pose normalisation, translated so the nose tip is the
  origin; +x is the subject's left, +y up, +z toward the viewer; millimetres.
* Row 0 is the top of the head (largest y); column 0 is the smallest x.
  Pixel (i, j) has ``x = x0 + j*h`` and ``y = y0 - i*h`` with ``h = pixel_size_mm``.
* ``valid`` marks pixels that were *measured* (covered by the scan). ``mask`` marks the face
  region (``valid`` plus the holes that were filled). Outside ``mask`` the z channel is NaN.
  When ``mask`` is not given it defaults to ``valid``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ferbench.io.scan import ScanMeta


@dataclass
class FaceGrid:
    """A face resampled onto a regular grid (see module docstring for conventions).

    Attributes
    ----------
    xyz
        (H, W, 3) float64 coordinates in mm; z is NaN outside ``mask``.
    valid
        (H, W) bool, True where the scan was measured (not a filled hole).
    texture
        (H, W, 3) float32 RGB in [0, 1] (0 outside ``mask``) or None.
    pixel_size_mm
        Grid spacing h in mm.
    nose_tip
        (3,) nose tip in the *input scan's* coordinates (it is the grid frame's origin).
    transform
        (4, 4) rigid transform mapping input-scan coordinates to the grid frame.
    mask
        (H, W) bool face region (measured or hole-filled); defaults to ``valid``.
    meta
        The scan's labels and provenance (``meta.synthetic`` labels figures).
    params
        The preprocessing parameters used (for cache keys and run metadata).
    """

    xyz: np.ndarray
    valid: np.ndarray
    texture: np.ndarray | None = None
    pixel_size_mm: float = 1.0
    nose_tip: np.ndarray = field(default_factory=lambda: np.zeros(3))
    transform: np.ndarray = field(default_factory=lambda: np.eye(4))
    mask: np.ndarray | None = None
    meta: ScanMeta | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xyz = np.asarray(self.xyz, dtype=np.float64)
        if xyz.ndim != 3 or xyz.shape[2] != 3:
            raise ValueError(f"FaceGrid.xyz must have shape (H, W, 3), got {xyz.shape}")
        H, W = xyz.shape[:2]
        valid = np.asarray(self.valid, dtype=bool)
        if valid.shape != (H, W):
            raise ValueError(f"FaceGrid.valid must have shape {(H, W)}, got {valid.shape}")
        mask = valid.copy() if self.mask is None else np.asarray(self.mask, dtype=bool)
        if mask.shape != (H, W):
            raise ValueError(f"FaceGrid.mask must have shape {(H, W)}, got {mask.shape}")
        mask = mask & np.isfinite(xyz).all(axis=2)   # a pixel without coordinates is never face
        self.xyz, self.valid, self.mask = xyz, valid & mask, mask
        if self.texture is not None:
            tex = np.asarray(self.texture, dtype=np.float32)
            if tex.shape != (H, W, 3):
                raise ValueError(f"FaceGrid.texture must have shape {(H, W, 3)}, got {tex.shape}")
            self.texture = tex
        self.nose_tip = np.asarray(self.nose_tip, dtype=np.float64).reshape(3)
        self.transform = np.asarray(self.transform, dtype=np.float64).reshape(4, 4)
        self.pixel_size_mm = float(self.pixel_size_mm)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.xyz.shape[:2])  # type: ignore[return-value]

    @property
    def z(self) -> np.ndarray:
        """(H, W) depth channel (mm, +z toward the viewer, NaN outside ``mask``)."""
        return self.xyz[..., 2]

    @property
    def synthetic(self) -> bool:
        return bool(self.meta is not None and self.meta.synthetic)

    def to_grid_frame(self, points: np.ndarray) -> np.ndarray:
        """Map (n, 3) points from the input scan's coordinates into the grid frame (applies ``transform``)."""
        P = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        return P @ self.transform[:3, :3].T + self.transform[:3, 3]

    def pixel_coords(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fractional grid positions of (n, 3) input-scan points.

        Returns
        -------
        rows, cols
            (n,) float64; pixel (i, j)'s centre is at ``rows == i``, ``cols == j`` (not clipped, so points
            off the grid have rows/cols outside ``[-0.5, H - 0.5]`` / ``[-0.5, W - 0.5]``).
        z
            (n,) depth of the points in the grid frame (mm, +z toward the viewer).
        """
        P = self.to_grid_frame(points)
        x0, y0 = self.xyz[0, 0, 0], self.xyz[0, 0, 1]     # x, y are set everywhere (only z is NaN off the face)
        h = self.pixel_size_mm
        return (y0 - P[:, 1]) / h, (P[:, 0] - x0) / h, P[:, 2]

    @classmethod
    def from_depth(cls, z: np.ndarray, pixel_size_mm: float = 1.0, mask: np.ndarray | None = None,
                   texture: np.ndarray | None = None, meta: ScanMeta | None = None) -> "FaceGrid":
        """Build a grid from a depth image z(i, j), centred so the middle pixel is x = y = 0.

        Parameters
        ----------
        z
            (H, W) depth in mm (+z toward the viewer); NaN marks missing pixels.
        pixel_size_mm
            Grid spacing.
        mask
            Pixels to treat as measured face; defaults to the finite pixels of ``z``.
        """
        z = np.asarray(z, dtype=np.float64)
        if z.ndim != 2:
            raise ValueError(f"depth must be 2-D, got shape {z.shape}")
        H, W = z.shape
        h = float(pixel_size_mm)
        x = (np.arange(W) - (W - 1) / 2.0) * h
        y = ((H - 1) / 2.0 - np.arange(H)) * h
        X, Y = np.meshgrid(x, y)
        m = np.isfinite(z) if mask is None else (np.asarray(mask, bool) & np.isfinite(z))
        zz = np.where(m, z, np.nan)
        return cls(np.stack([X, Y, zz], axis=-1), m, texture=texture, pixel_size_mm=h, mask=m, meta=meta)

    def __repr__(self) -> str:
        H, W = self.shape
        return (f"FaceGrid({H}x{W}, h={self.pixel_size_mm:.3f} mm, {int(self.valid.sum())} measured, "
                f"{int(self.mask.sum())} face pixels, texture={'yes' if self.texture is not None else 'no'}"
                f"{', synthetic' if self.synthetic else ''})")
