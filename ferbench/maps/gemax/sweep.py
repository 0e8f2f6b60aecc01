"""GEMax maps and entropies of one scan for a list of tau (the histogram is computed once)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ferbench.maps.gemax.dp import gemax_dp
from ferbench.maps.gemax.levels import _apply, depth_levels, level_histogram
from ferbench.maps.gemax.result import QuantizationResult

__all__ = ["TauSweepResult", "tau_sweep"]


@dataclass
class TauSweepResult:
    """GEMax maps and entropies for a list of tau (one scan).

    Attributes
    ----------
    taus
        The requested tau values (int; N means unconstrained).
    maps
        One uint8 map per tau (0 outside the block).
    entropies
        (len(taus),) bits over the block pixels; equal to each DP optimum.
    results
        The :class:`QuantizationResult` per tau.
    valid
        The block mask shared by all maps.
    synthetic
        True when computed from synthetic data (figures say so).
    """

    taus: list[int]
    maps: list[np.ndarray]
    entropies: np.ndarray
    results: list[QuantizationResult]
    valid: np.ndarray
    synthetic: bool = False
    params: dict[str, Any] = field(default_factory=dict)


def tau_sweep(scan_or_grid, taus: Sequence[int | str] = (16, 20, 30, 40, 50, 60), K: int = 256, N: int = 4096,
              d_dis_mm: float = 60.0, size: int = 224, **preprocess) -> TauSweepResult:
    """GEMax maps and entropies for each tau (the histogram is computed once).

    Parameters
    ----------
    scan_or_grid
        A :class:`~ferbench.io.scan.Scan` (preprocessed with ``size`` and ``preprocess`` options),
        a :class:`~ferbench.preprocess.FaceGrid`, or a 2-D depth image (mm, NaN = missing).
    taus
        Distortion bounds; ``"N"`` or None means unconstrained (tau = N).
    """
    from ferbench.io.scan import Scan
    from ferbench.preprocess.facegrid import FaceGrid

    synthetic = False
    if isinstance(scan_or_grid, Scan):
        from ferbench.preprocess import preprocess_scan
        scan_or_grid = preprocess_scan(scan_or_grid, size=size, **preprocess)
    if isinstance(scan_or_grid, FaceGrid):
        synthetic = scan_or_grid.synthetic
        z, m = scan_or_grid.z, scan_or_grid.mask
    else:
        z = np.asarray(scan_or_grid, dtype=np.float64)
        m = None
    lev, valid = depth_levels(z, m, d_dis_mm, N)
    hist = level_histogram(lev, valid, N)
    tlist = [N if (t is None or (isinstance(t, str) and t.upper() == "N")) else int(t) for t in taus]
    results = [gemax_dp(hist, K, t) for t in tlist]
    maps = [_apply(r.lut, lev, valid, K) for r in results]
    return TauSweepResult(taus=tlist, maps=maps, entropies=np.array([r.entropy for r in results]),
                          results=results, valid=valid, synthetic=synthetic,
                          params={"K": K, "N": N, "d_dis_mm": d_dis_mm})
