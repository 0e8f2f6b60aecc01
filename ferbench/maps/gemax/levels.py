"""Depth images -> the N input levels of the S1 block behind the nose, and their histogram."""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["depth_levels", "level_histogram", "range_selection_blocks"]


def depth_levels(z: np.ndarray, mask: np.ndarray | None = None, d_dis_mm: float = 60.0, n_levels: int = 4096,
                 z_nose: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """S1 range selection + quantisation to N levels (spec §2.2-2.3).

    Parameters
    ----------
    z
        (H, W) depth in mm, +z toward the viewer; NaN where missing.
    mask
        Face pixels (default: finite z).
    d_dis_mm
        Depth of the block kept behind the nose tip (paper: 6 cm).
    n_levels
        N.
    z_nose
        Nose-tip depth; default the maximum z over the mask.

    Returns
    -------
    levels : (H, W) int64, -1 outside the block
    valid : (H, W) bool, the pixels of the block
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"depth must be a 2-D image, got shape {z.shape}")
    if d_dis_mm <= 0 or n_levels < 1:
        raise ValueError("d_dis_mm must be > 0 and n_levels >= 1")
    m = np.isfinite(z) if mask is None else (np.asarray(mask, bool) & np.isfinite(z))
    if not m.any():
        raise ValueError("depth image has no valid pixels")
    zn = float(z[m].max()) if z_nose is None else float(z_nose)
    delta = np.where(m, zn - z, np.inf)
    valid = m & (delta >= 0) & (delta <= d_dis_mm)
    lev = np.floor((d_dis_mm - np.where(valid, delta, d_dis_mm)) / d_dis_mm * n_levels)
    lev = np.clip(lev, 0, n_levels - 1).astype(np.int64)
    lev[~valid] = -1
    return lev, valid


def level_histogram(levels: np.ndarray, valid: np.ndarray, n_levels: int = 4096) -> np.ndarray:
    """Counts of each level over the valid pixels."""
    return np.bincount(levels[valid], minlength=n_levels).astype(np.int64)


def _apply(lut: np.ndarray, levels: np.ndarray, valid: np.ndarray, K: int) -> np.ndarray:
    out = np.zeros(levels.shape, dtype=np.uint8 if K <= 256 else np.uint16)
    out[valid] = lut[levels[valid]]
    return out


def _as_numpy_batch(depth, mask):
    """Split numpy/torch single or batched inputs into lists of (z, mask) numpy pairs."""
    try:
        import torch
        is_t = isinstance(depth, torch.Tensor)
    except Exception:  # pragma: no cover
        is_t = False
    if is_t:
        depth = depth.detach().cpu().numpy()
        if mask is not None and not isinstance(mask, np.ndarray):
            mask = mask.detach().cpu().numpy()
    z = np.asarray(depth, dtype=np.float64)
    if z.ndim == 2:
        return [(z, None if mask is None else np.asarray(mask, bool))], False, is_t
    if z.ndim == 3:
        ms = [None] * len(z) if mask is None else list(np.asarray(mask, bool))
        return list(zip(z, ms)), True, is_t
    raise ValueError(f"depth must be (H, W) or (B, H, W), got {z.shape}")


def range_selection_blocks(z: np.ndarray, mask=None, d_list_mm: Sequence[float] = tuple(range(50, 141, 10))):
    """Nested S1 blocks ``{d: valid mask of delta <= d}`` for the Tab. 4 ablation (5..14 cm)."""
    out = {}
    for d in d_list_mm:
        out[float(d)] = depth_levels(z, mask, d_dis_mm=float(d))[1]
    return out
