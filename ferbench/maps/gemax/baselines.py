"""Baseline quantisers on histograms: uniform, histogram equalisation, greedy tau-limited (spec §3)."""
from __future__ import annotations

import numpy as np

from ferbench.maps.gemax.entropy import _check_hist, _eta
from ferbench.maps.gemax.result import QuantizationResult, _check_k_tau, _result_from_cuts

__all__ = ["uniform_result", "histeq_result", "greedy_result"]


def uniform_result(hist, K: int = 256) -> QuantizationResult:
    """Uniform quantisation ``cuts[k] = round(k*N/K)`` (= GEMax at tau = N/K when K divides N)."""
    h = _check_hist(hist)
    N = h.size
    if K < 1 or K > N:
        raise ValueError(f"need 1 <= K <= N, got K={K}, N={N}")
    cuts = np.floor(np.arange(K + 1) * N / K + 0.5).astype(np.int64)
    return _result_from_cuts(h, cuts, K, -(-N // K), "uniform")


def histeq_result(hist, K: int = 256, variant: str = "floor") -> QuantizationResult:
    """Histogram equalisation to K levels (spec §3.3).

    ``variant="floor"``: ``lut[l] = min(K-1, floor(K*CDF(l)))``; ``"classic"``:
    ``round((K-1)*(CDF(l) - CDF_min)/(1 - CDF_min))``. Unused output levels give empty intervals in ``cuts``.
    """
    h = _check_hist(hist)
    N = h.size
    cdf = np.cumsum(h) / h.sum()
    if variant == "floor":
        lut = np.minimum(K - 1, np.floor(K * cdf + 1e-12)).astype(np.int64)
    elif variant == "classic":
        cmin = cdf[h > 0][0]
        den = 1.0 - cmin
        lut = (np.round((K - 1) * (cdf - cmin) / den) if den > 0 else np.zeros(N)).astype(np.int64)
        lut = np.clip(lut, 0, K - 1)
    else:
        raise ValueError("variant must be 'floor' or 'classic'")
    lut = np.maximum.accumulate(lut)
    cuts = np.searchsorted(lut, np.arange(K + 1), side="left").astype(np.int64)
    cuts[0], cuts[K] = 0, N
    out = np.bincount(lut, weights=h, minlength=K)
    H = float(_eta(out / out.sum()).sum())
    return QuantizationResult(cuts=cuts, entropy=H, lut=lut, K=K, N=N, tau=None, method="histeq",
                              extra={"variant": variant})


def greedy_result(hist, K: int = 256, tau: int = 20) -> QuantizationResult:
    """Greedy tau-limited equalisation (spec §3.4): walk left to right, close each bin at the first
    boundary reaching an equal share of the remaining mass, within the feasible range."""
    h = _check_hist(hist)
    N = h.size
    t = _check_k_tau(N, K, tau)
    C = np.concatenate([[0.0], np.cumsum(h)])
    cuts = [0]
    d = 0
    for k in range(K - 1):
        r = K - k
        lo = max(d + 1, N - (r - 1) * t)
        hi = min(d + t, N - (r - 1))
        target = C[d] + (C[N] - C[d]) / r
        j = int(np.searchsorted(C[lo:hi + 1], target - 1e-12 * C[N], side="left")) + lo
        d = j if j <= hi else hi
        cuts.append(d)
    cuts.append(N)
    return _result_from_cuts(h, np.array(cuts), K, int(tau), "greedy")
