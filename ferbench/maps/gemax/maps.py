"""Depth images -> quantised maps: GEMax, its baselines and the range image."""
from __future__ import annotations

import numpy as np

from ferbench.maps.gemax.baselines import greedy_result, histeq_result, uniform_result
from ferbench.maps.gemax.dp import gemax_dp, gemax_dp_torch
from ferbench.maps.gemax.levels import _apply, _as_numpy_batch, depth_levels, level_histogram
from ferbench.maps.gemax.result import _result_from_cuts

__all__ = ["gemax_map", "uniform_map", "histeq_map", "greedy_map", "range_map"]


def gemax_map(depth, K: int = 256, N: int = 4096, tau: int = 20, mask=None, d_dis_mm: float = 60.0,
              z_nose: float | None = None):
    """GEMax depth map (spec §2.10): S1 block, N-level histogram, exact DP, LUT.

    Parameters
    ----------
    depth
        (H, W) or (B, H, W) depth in mm (+z toward the viewer, NaN = missing); numpy or torch.
        A torch batch on CUDA runs the DP batched on the GPU (:func:`gemax_dp_torch`).
    K, N, tau, d_dis_mm
        Output levels, input levels, distortion bound, block depth.
    mask
        Face pixels (default: finite depth).

    Returns
    -------
    (map, result)
        ``map``: uint8 (uint16 if K > 256) output levels, 0 outside the block (same batch shape; a torch
        tensor if the input was one); ``result``: :class:`QuantizationResult` (a list for a batch), with
        ``result.extra["valid"]`` the block mask.
    """
    items, batched, is_t = _as_numpy_batch(depth, mask)
    prepared = []
    for z, m in items:
        lev, valid = depth_levels(z, m, d_dis_mm, N, z_nose)
        prepared.append((lev, valid, level_histogram(lev, valid, N)))
    use_torch_dp = False
    if is_t:
        import torch
        use_torch_dp = bool(depth.is_cuda)
    maps, results = [], []
    if use_torch_dp:
        import torch
        cuts_b, H_b = gemax_dp_torch(np.stack([p[2] for p in prepared]), K, tau, device=depth.device)
        cuts_b, H_b = cuts_b.cpu().numpy(), H_b.cpu().numpy()
        for (lev, valid, hist), cuts, H in zip(prepared, cuts_b, H_b):
            res = _result_from_cuts(hist.astype(np.float64), cuts, K, int(tau), "gemax", entropy_value=float(H))
            res.extra["valid"] = valid
            results.append(res)
            maps.append(_apply(res.lut, lev, valid, K))
    else:
        for lev, valid, hist in prepared:
            res = gemax_dp(hist, K, tau)
            res.extra["valid"] = valid
            results.append(res)
            maps.append(_apply(res.lut, lev, valid, K))
    out = np.stack(maps) if batched else maps[0]
    if is_t:
        import torch
        out = torch.as_tensor(out.astype(np.int32)).to(depth.device)
    return out, (results if batched else results[0])


def _hist_map(fn, depth, mask, N, d_dis_mm, K, **kw):
    items, batched, _ = _as_numpy_batch(depth, mask)
    maps, results = [], []
    for z, m in items:
        lev, valid = depth_levels(z, m, d_dis_mm, N)
        res = fn(level_histogram(lev, valid, N), K=K, **kw)
        res.extra["valid"] = valid
        maps.append(_apply(res.lut, lev, valid, K))
        results.append(res)
    return (np.stack(maps), results) if batched else (maps[0], results[0])


def uniform_map(depth, K: int = 256, N: int = 4096, mask=None, d_dis_mm: float = 60.0):
    """Uniform quantisation of the d_dis block (Fig. 6 'GEMax (S1)'; equals GEMax at tau = N/K)."""
    return _hist_map(uniform_result, depth, mask, N, d_dis_mm, K)


def histeq_map(depth, K: int = 256, N: int = 4096, mask=None, d_dis_mm: float = 60.0, variant: str = "floor"):
    """Histogram-equalised map of the d_dis block (spec §3.3)."""
    return _hist_map(histeq_result, depth, mask, N, d_dis_mm, K, variant=variant)


def greedy_map(depth, K: int = 256, N: int = 4096, tau: int = 20, mask=None, d_dis_mm: float = 60.0):
    """Greedy tau-limited equalisation of the d_dis block (spec §3.4)."""
    return _hist_map(greedy_result, depth, mask, N, d_dis_mm, K, tau=tau)


def range_map(depth, mask=None, K: int = 256, mode: str = "minmax", d_mm: float = 140.0):
    """Range image (RI, spec §3.1): uniform quantisation of the face depth to K levels.

    ``mode="minmax"`` (default): ``round((K-1)*(z - z_min)/(z_max - z_min))`` over the face pixels (per image);
    ``mode="block"``: uniform quantisation of the ``d_mm`` block behind the nose (nose = K-1).
    Returns (map uint8, valid mask); background 0.
    """
    items, batched, _ = _as_numpy_batch(depth, mask)
    maps, valids = [], []
    for z, m in items:
        m = np.isfinite(z) if m is None else (m & np.isfinite(z))
        if not m.any():
            raise ValueError("depth image has no valid pixels")
        if mode == "minmax":
            lo, hi = float(z[m].min()), float(z[m].max())
            val = (z - lo) / (hi - lo) if hi > lo else np.zeros_like(z)
            valid = m
        elif mode == "block":
            zn = float(z[m].max())
            valid = m & (zn - z <= d_mm)
            val = 1.0 - (zn - z) / d_mm
        else:
            raise ValueError("mode must be 'minmax' or 'block'")
        out = np.zeros(z.shape, dtype=np.uint8 if K <= 256 else np.uint16)
        out[valid] = np.clip(np.round((K - 1) * val[valid]), 0, K - 1)
        maps.append(out)
        valids.append(valid)
    return (np.stack(maps), np.stack(valids)) if batched else (maps[0], valids[0])
