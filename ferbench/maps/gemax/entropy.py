"""Entropy in bits of histograms, cut vectors and maps (the quantity GEMax maximises)."""
from __future__ import annotations

import numpy as np

__all__ = ["entropy", "cuts_entropy"]


def _eta(P: np.ndarray) -> np.ndarray:
    """-P log2 P with eta(0) = 0 (no NaNs)."""
    P = np.asarray(P, dtype=np.float64)
    out = np.zeros_like(P)
    pos = P > 0
    out[pos] = -P[pos] * np.log2(P[pos])
    return out


def _check_hist(hist) -> np.ndarray:
    h = np.asarray(hist)
    if h.ndim != 1 or h.size == 0:
        raise ValueError(f"histogram must be a non-empty 1-D array, got shape {h.shape}")
    if not np.issubdtype(h.dtype, np.number) or np.issubdtype(h.dtype, np.complexfloating):
        raise ValueError("histogram must be real numbers")
    h = h.astype(np.float64)
    if not np.all(np.isfinite(h)) or (h < 0).any():
        raise ValueError("histogram counts must be finite and >= 0")
    if h.sum() <= 0:
        raise ValueError("empty histogram (no valid pixels)")
    return h


def cuts_entropy(hist, cuts) -> float:
    """Entropy (bits) of the output histogram produced by ``cuts`` on ``hist``."""
    h = _check_hist(hist)
    C = np.concatenate([[0.0], np.cumsum(h)])
    cuts = np.asarray(cuts, dtype=np.int64)
    return float(_eta((C[cuts[1:]] - C[cuts[:-1]]) / C[-1]).sum())


def entropy(x, mask=None, n_bins: int | None = None) -> float:
    """Shannon entropy in bits of a histogram or of a map.

    Parameters
    ----------
    x
        A 1-D array without ``mask``: histogram counts. Otherwise a map: integer maps are used as
        levels; float maps are taken to lie in [0, 1] and quantised to ``round(x*(n_bins-1))``
        (n_bins default 256), the 8-bit conversion used throughout ferbench.
    mask
        Pixels to count (the face); default all finite pixels.
    """
    try:
        import torch
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        if isinstance(mask, torch.Tensor):
            mask = mask.detach().cpu().numpy()
    except Exception:  # pragma: no cover
        pass
    a = np.asarray(x)
    if a.ndim == 1 and mask is None:
        h = _check_hist(a)
        return float(_eta(h / h.sum()).sum())
    if np.issubdtype(a.dtype, np.floating):
        sel = np.isfinite(a) if mask is None else (np.asarray(mask, bool) & np.isfinite(a))
        nb = 256 if n_bins is None else int(n_bins)
        vals = np.clip(np.round(a[sel] * (nb - 1)), 0, nb - 1).astype(np.int64)
    else:
        sel = np.ones(a.shape, bool) if mask is None else np.asarray(mask, bool)
        vals = a[sel].astype(np.int64)
        if vals.size and vals.min() < 0:
            raise ValueError("integer maps must be non-negative levels")
    if vals.size == 0:
        raise ValueError("no pixels to measure the entropy of")
    h = np.bincount(vals).astype(np.float64)
    return float(_eta(h / h.sum()).sum())
