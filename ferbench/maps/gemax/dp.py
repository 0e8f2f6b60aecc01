"""The exact GEMax dynamic programme (numpy band / monotone layers, and batched torch)."""
from __future__ import annotations

import math

import numpy as np

from ferbench.maps.gemax.entropy import _check_hist, _eta
from ferbench.maps.gemax.result import QuantizationResult, _check_k_tau, _result_from_cuts

__all__ = ["gemax_dp", "gemax_dp_torch", "MONOTONE_TAU"]


def gemax_dp(hist, K: int = 256, tau: int = 20, method: str = "auto") -> QuantizationResult:
    """Exact maximum-entropy quantisation of ``hist`` (N levels) to K levels with bins of <= tau levels.

    Solves ``max_F sum_k eta(P[d_k, d_{k+1}))`` over ``0 = d_0 < ... < d_K = N``, ``d_{k+1} - d_k <= tau``,
    i.e. the K-edge maximum-weight path 0 -> N in the DAG of edges of length <= tau (spec §2.5-2.6).

    Implementation: the edge weights ``w(x-s, x)`` for s = 1..tau are one (N+1, tau) table (independent of k).
    For each of the K steps the candidates ``W_{k-1}(x-s) + w(x-s, x)`` are a strided (no-copy) window view
    of W plus that table, restricted to the band of cells that are reachable from 0 and can still reach N;
    one ``argmax`` over s gives W_k and the back-pointers. O(K*N*tau) work in K numpy calls.

    Parameters
    ----------
    hist
        (N,) non-negative counts (or probabilities).
    K
        Number of output levels.
    tau
        Largest number of input levels merged into one output level.
    method
        ``"band"`` (the dense O(K*N*tau) band above), ``"monotone"`` (O(K*N log N): the weight
        eta(mass) is concave in the interval mass, so the largest optimal predecessor is monotone and
        each layer is a vectorised divide and conquer; same optimum and tie rule) or ``"auto"`` (monotone
        when tau > :data:`MONOTONE_TAU`, which makes tau = N take well under a second instead of seconds).

    Returns
    -------
    QuantizationResult
        ``cuts`` (K+1), ``entropy`` (bits; equals the output map's entropy), ``lut`` (N,).

    Raises
    ------
    ValueError
        Empty or invalid histogram, ``K > N``, or ``K*tau < N`` (infeasible).
    """
    h = _check_hist(hist)
    N = h.size
    K = int(K)
    tau_eff = _check_k_tau(N, K, tau)
    if method == "auto":
        method = "monotone" if tau_eff > MONOTONE_TAU else "band"
    if method not in ("band", "monotone"):
        raise ValueError(f"unknown method {method!r}; expected 'auto', 'band' or 'monotone'")
    if method == "monotone":
        out = _gemax_dp_monotone(h, K, tau_eff)
        if out is not None:
            return _result_from_cuts(h, out[1], K, int(tau), "gemax", entropy_value=out[0])
    C = np.concatenate([[0.0], np.cumsum(h)])
    total = C[-1]
    # Wt[x, s-1] = w(x-s, x); -inf where x-s < 0
    x = np.arange(N + 1)[:, None]
    s = np.arange(1, tau_eff + 1)[None, :]
    v = x - s
    ok = v >= 0
    Wt = _eta((C[x] - C[np.where(ok, v, 0)]) / total)
    Wt[~ok] = -np.inf
    # Wp[tau + j] = W(j); the window view row x is W(x-tau .. x-1), reversed -> column s-1 = W(x-s)
    Wp = np.full(N + 1 + tau_eff, -np.inf)
    Wp[tau_eff] = 0.0                                        # W_0(0) = 0
    win = np.lib.stride_tricks.sliding_window_view(Wp, tau_eff)[:, ::-1]
    back = np.zeros((K + 1, N + 1), dtype=np.int32)
    for k in range(1, K + 1):
        lo = max(k, N - (K - k) * tau_eff)
        hi = min(N - (K - k), k * tau_eff)
        cand = win[lo:hi + 1] + Wt[lo:hi + 1]                # (band, tau)
        a = cand.argmax(axis=1)                              # first max = smallest s = largest v (tie rule)
        best = np.take_along_axis(cand, a[:, None], axis=1)[:, 0]
        back[k, lo:hi + 1] = np.arange(lo, hi + 1) - 1 - a
        Wp[:] = -np.inf
        Wp[tau_eff + lo:tau_eff + hi + 1] = best
    H = float(Wp[tau_eff + N])
    cuts = np.empty(K + 1, dtype=np.int64)
    cuts[K] = N
    for k in range(K, 0, -1):
        cuts[k - 1] = back[k, cuts[k]]
    assert cuts[0] == 0
    return _result_from_cuts(h, cuts, K, int(tau), "gemax", entropy_value=H)


# Above this tau the monotone (divide-and-conquer) DP does less work than the dense band DP.
MONOTONE_TAU = 256


def _layer_monotone(prev: np.ndarray, C: np.ndarray, total: float, tau: int, lo: int, hi: int):
    """One DP layer ``best[j] = max_{j-tau <= i < j} prev[i] + eta((C[j] - C[i]) / total)`` for j in [lo, hi].

    The weight is a concave function of the interval mass, so it satisfies the (reverse) quadrangle
    inequality and the largest maximiser ``i*(j)`` is non-decreasing in j (also under the band j - i <= tau).
    The midpoints of all open j-segments are solved together, level by level (divide and conquer with a
    ragged, vectorised argmax), so each layer costs O(N log N) instead of O(N tau).
    Returns ``(best, arg)`` over [lo, hi] (``arg`` = the largest maximiser, the band DP's tie rule).
    """
    n = hi - lo + 1
    best = np.full(n, -np.inf)
    arg = np.zeros(n, dtype=np.int64)
    jl, jr = np.array([lo]), np.array([hi])
    il, ir = np.array([max(0, lo - tau)]), np.array([hi - 1])
    while jl.size:
        mid = (jl + jr) // 2
        a = np.maximum(il, np.maximum(mid - tau, 0))
        b = np.minimum(ir, mid - 1)
        b = np.maximum(b, a)                                  # never empty (guarded below)
        cnt = b - a + 1
        seg = np.repeat(np.arange(mid.size), cnt)
        starts = np.concatenate(([0], np.cumsum(cnt)[:-1]))
        i = a[seg] + (np.arange(seg.size) - starts[seg])
        m = mid[seg]
        v = prev[i] + _eta((C[m] - C[i]) / total)
        v[(m - i > tau) | (i >= m)] = -np.inf
        vmax = np.maximum.reduceat(v, starts)
        pos = np.where(v == vmax[seg], np.arange(seg.size) + 1, 0)
        last = np.maximum.reduceat(pos, starts) - 1           # the largest maximiser (tie rule)
        opt = i[np.maximum(last, starts)]
        best[mid - lo], arg[mid - lo] = vmax, opt
        left = jl <= mid - 1
        right = mid + 1 <= jr
        jl, jr, il, ir = (np.concatenate((jl[left], mid[right] + 1)), np.concatenate((mid[left] - 1, jr[right])),
                          np.concatenate((il[left], opt[right])), np.concatenate((opt[left], ir[right])))
    return best, arg


def _gemax_dp_monotone(h: np.ndarray, K: int, tau_eff: int) -> tuple[float, np.ndarray] | None:
    """The GEMax DP with monotone-argmax layers (see :func:`_layer_monotone`); None if a guard trips."""
    N = h.size
    C = np.concatenate([[0.0], np.cumsum(h)])
    total = C[-1]
    prev = np.full(N + 1, -np.inf)
    prev[0] = 0.0
    back = np.zeros((K + 1, N + 1), dtype=np.int64)
    for k in range(1, K + 1):
        lo = max(k, N - (K - k) * tau_eff)
        hi = min(N - (K - k), k * tau_eff)
        best, arg = _layer_monotone(prev, C, total, tau_eff, lo, hi)
        if not np.all(np.isfinite(best)):
            return None                                       # cannot happen inside the band; stay exact anyway
        prev = np.full(N + 1, -np.inf)
        prev[lo:hi + 1] = best
        back[k, lo:hi + 1] = arg
    cuts = np.empty(K + 1, dtype=np.int64)
    cuts[K] = N
    for k in range(K, 0, -1):
        cuts[k - 1] = back[k, cuts[k]]
    if cuts[0] != 0:
        return None
    return float(prev[N]), cuts


def gemax_dp_torch(hists, K: int = 256, tau: int = 20, device=None):
    """Batched DP on torch (CUDA when present): ``hists`` (B, N) -> (cuts (B, K+1) int64, entropy (B,) float64).

    Same recurrence, band and tie rule as :func:`gemax_dp`, vectorised over the batch; float64 throughout.
    """
    import torch

    from ferbench._device import default_device

    dev = default_device(device) if not isinstance(hists, torch.Tensor) or device is not None else hists.device
    h = torch.as_tensor(hists, dtype=torch.float64, device=dev)
    if h.ndim == 1:
        h = h[None]
    if h.ndim != 2 or h.shape[1] == 0:
        raise ValueError(f"hists must be (B, N), got {tuple(h.shape)}")
    if not bool(torch.isfinite(h).all()) or bool((h < 0).any()):
        raise ValueError("histogram counts must be finite and >= 0")
    if bool((h.sum(1) <= 0).any()):
        raise ValueError("empty histogram (no valid pixels)")
    B, N = h.shape
    K = int(K)
    t = _check_k_tau(N, K, tau)
    C = torch.cat([torch.zeros(B, 1, dtype=torch.float64, device=dev), torch.cumsum(h, 1)], 1)
    x = torch.arange(N + 1, device=dev)[:, None]
    s = torch.arange(1, t + 1, device=dev)[None, :]
    v = x - s
    ok = v >= 0
    P = (C[:, x.expand(-1, t)] - C[:, v.clamp_min(0)]) / C[:, -1:, None]
    Wt = torch.where(P > 0, -P * torch.log2(torch.where(P > 0, P, torch.ones_like(P))), torch.zeros_like(P))
    Wt = torch.where(ok[None], Wt, torch.full_like(Wt, -math.inf))                    # (B, N+1, t)
    Wp = torch.full((B, N + 1 + t), -math.inf, dtype=torch.float64, device=dev)
    Wp[:, t] = 0.0
    back = torch.zeros((K + 1, B, N + 1), dtype=torch.int32, device=dev)
    for k in range(1, K + 1):
        lo = max(k, N - (K - k) * t)
        hi = min(N - (K - k), k * t)
        win = Wp.unfold(1, t, 1).flip(-1)                     # (B, N+2, t), column s-1 = W(x-s)
        cand = win[:, lo:hi + 1] + Wt[:, lo:hi + 1]
        best, a = cand.max(dim=2)                             # first max = smallest s (tie rule)
        back[k, :, lo:hi + 1] = (torch.arange(lo, hi + 1, device=dev) - 1 - a).to(torch.int32)
        Wp = torch.full_like(Wp, -math.inf)
        Wp[:, t + lo:t + hi + 1] = best
    H = Wp[:, t + N].clone()
    cuts = torch.empty((B, K + 1), dtype=torch.int64, device=dev)
    cuts[:, K] = N
    bidx = torch.arange(B, device=dev)
    for k in range(K, 0, -1):
        cuts[:, k - 1] = back[k, bidx, cuts[:, k]].to(torch.int64)
    return cuts, H
