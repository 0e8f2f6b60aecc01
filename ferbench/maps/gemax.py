"""GEMax: maximum-entropy depth quantisation under a depth-distortion bound (Jiao et al. 2020).

Spec: ``shared/specs/gemax_fa.md`` §0-§3. Choices where the paper is silent (all [R] in the spec):

* N = 4096 input levels over the depth block ``0 <= delta <= d_dis`` behind the nose (``delta = z_nose - z``),
  ``level = min(N-1, floor((d_dis - delta)/d_dis * N))``: level N-1 is the nose, 0 the deepest kept point.
* Fence posts: cuts ``0 = d_0 < d_1 < ... < d_K = N``; output level k takes input levels ``d_k .. d_{k+1}-1``;
  the constraint is ``1 <= d_{k+1} - d_k <= tau`` (integer tau, inclusive). Feasible iff ``K <= N`` and ``K*tau >= N``.
  ``tau >= N-K+1`` is the unconstrained problem (clamped internally, same result).
* Entropy in bits over the face pixels inside the block; the background (mask off, or deeper than d_dis) is 0.
* Ties: the DP keeps the **largest** maximising predecessor (shortest last edge) at every cell.
* The histogram is over the pixels of the depth image, so the DP value equals the output map's entropy.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

__all__ = [
    "QuantizationResult", "GEMaxResult", "TauSweepResult", "depth_levels", "level_histogram", "gemax_dp",
    "gemax_dp_reference", "gemax_bruteforce", "gemax_dp_torch", "gemax_map", "entropy", "cuts_entropy",
    "uniform_result", "histeq_result", "greedy_result", "range_map", "uniform_map", "histeq_map", "greedy_map",
    "tau_sweep", "relaxation_count", "range_selection_blocks",
]


@dataclass
class QuantizationResult:
    """A monotone quantiser from N input levels to K output levels.

    Attributes
    ----------
    cuts
        (K+1,) int64 boundaries, ``cuts[0] = 0``, ``cuts[K] = N``; output level k takes input levels
        ``cuts[k] .. cuts[k+1]-1`` (empty when equal, which only the HE baseline produces).
    entropy
        Entropy in bits of the output histogram (for GEMax: the DP optimum W_K(N)).
    lut
        (N,) int64 lookup table input level -> output level (monotone).
    K, N, tau
        Output levels, input levels, distortion bound (None for unconstrained baselines).
    method
        ``"gemax"``, ``"uniform"``, ``"histeq"`` or ``"greedy"``.
    """

    cuts: np.ndarray
    entropy: float
    lut: np.ndarray
    K: int
    N: int
    tau: int | None = None
    method: str = "gemax"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def max_delta(self) -> float:
        """Largest fraction of the input range merged into one output level (Eq. 3)."""
        return float(np.diff(self.cuts).max() / self.N)


GEMaxResult = QuantizationResult


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


def _check_k_tau(N: int, K: int, tau: int) -> int:
    if int(K) != K or K < 1 or K > N:
        raise ValueError(f"need 1 <= K <= N, got K={K}, N={N}")
    if int(tau) != tau or tau < 1:
        raise ValueError(f"tau must be a positive integer, got {tau}")
    tau_eff = min(int(tau), N - int(K) + 1)
    if int(K) * tau_eff < N:
        raise ValueError(f"infeasible: K*tau = {int(K) * int(tau)} < N = {N} (tau must be >= ceil(N/K) = {-(-N // int(K))})")
    return tau_eff


def _result_from_cuts(hist: np.ndarray, cuts: np.ndarray, K: int, tau: int | None, method: str,
                      entropy_value: float | None = None) -> QuantizationResult:
    N = hist.size
    cuts = np.asarray(cuts, dtype=np.int64)
    lut = np.repeat(np.arange(K, dtype=np.int64), np.diff(cuts))
    H = cuts_entropy(hist, cuts) if entropy_value is None else float(entropy_value)
    return QuantizationResult(cuts=cuts, entropy=H, lut=lut, K=K, N=N, tau=tau, method=method)


def cuts_entropy(hist, cuts) -> float:
    """Entropy (bits) of the output histogram produced by ``cuts`` on ``hist``."""
    h = _check_hist(hist)
    C = np.concatenate([[0.0], np.cumsum(h)])
    cuts = np.asarray(cuts, dtype=np.int64)
    return float(_eta((C[cuts[1:]] - C[cuts[:-1]]) / C[-1]).sum())


# ---------------------------------------------------------------------------------------------
# the exact DP
# ---------------------------------------------------------------------------------------------

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


def gemax_dp_reference(hist, K: int = 256, tau: int = 20, count: bool = False):
    """Readable pure-Python O(K*N*tau) triple loop (no band pruning), used as the test/benchmark reference.

    With ``count=True`` returns ``(result, relaxations)`` where relaxations is the number of inner-loop
    evaluations, exactly ``K * sum_{x=1}^{N} min(tau_eff, x)``.
    """
    h = _check_hist(hist)
    N = h.size
    K = int(K)
    tau_eff = _check_k_tau(N, K, tau)
    C = [0.0]
    for c in h:
        C.append(C[-1] + float(c))
    total = C[-1]
    neg = -math.inf
    W = [0.0] + [neg] * N
    back = [[0] * (N + 1) for _ in range(K + 1)]
    relax = 0
    for k in range(1, K + 1):
        Wn = [neg] * (N + 1)
        bk = back[k]
        for xx in range(1, N + 1):
            best, arg = neg, 0
            for vv in range(max(0, xx - tau_eff), xx):
                relax += 1
                if W[vv] == neg:
                    continue
                P = (C[xx] - C[vv]) / total
                val = W[vv] + (-P * math.log2(P) if P > 0 else 0.0)
                if val >= best:                              # ">=": the largest v wins ties
                    best, arg = val, vv
            Wn[xx] = best
            bk[xx] = arg
        W = Wn
    cuts = [N]
    for k in range(K, 0, -1):
        cuts.append(back[k][cuts[-1]])
    cuts = np.array(cuts[::-1], dtype=np.int64)
    res = _result_from_cuts(h, cuts, K, int(tau), "gemax", entropy_value=W[N])
    return (res, relax) if count else res


def relaxation_count(N: int, K: int, tau: int) -> int:
    """Closed-form number of relaxations of the unpruned DP: K * (N*t - t(t-1)/2), t = min(tau, N-K+1)."""
    t = min(int(tau), N - K + 1)
    return int(K * (N * t - t * (t - 1) // 2))


def gemax_bruteforce(hist, K: int, tau: int) -> QuantizationResult:
    """Enumerate every feasible cut vector (tiny N only; N <= 16). Returns the best (largest-entropy) one."""
    h = _check_hist(hist)
    N = h.size
    if N > 16:
        raise ValueError("brute force is for N <= 16")
    _check_k_tau(N, K, tau)
    C = np.concatenate([[0.0], np.cumsum(h)])
    combos = list(itertools.combinations(range(1, N), K - 1))
    inner = np.array(combos, dtype=np.int64).reshape(len(combos), K - 1)
    F = np.concatenate([np.zeros((len(inner), 1), np.int64), inner, np.full((len(inner), 1), N)], axis=1)
    d = np.diff(F, axis=1)
    feas = (d <= tau).all(axis=1)
    F = F[feas]
    H = _eta((C[F[:, 1:]] - C[F[:, :-1]]) / C[-1]).sum(axis=1)
    i = int(np.argmax(H))
    return _result_from_cuts(h, F[i], K, int(tau), "bruteforce", entropy_value=float(H[i]))


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


# ---------------------------------------------------------------------------------------------
# baselines on histograms
# ---------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------
# depth images -> levels -> maps
# ---------------------------------------------------------------------------------------------

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


def range_selection_blocks(z: np.ndarray, mask=None, d_list_mm: Sequence[float] = tuple(range(50, 141, 10))):
    """Nested S1 blocks ``{d: valid mask of delta <= d}`` for the Tab. 4 ablation (5..14 cm)."""
    out = {}
    for d in d_list_mm:
        out[float(d)] = depth_levels(z, mask, d_dis_mm=float(d))[1]
    return out


# ---------------------------------------------------------------------------------------------
# tau sweeps
# ---------------------------------------------------------------------------------------------

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
