"""Per-pixel reference implementations (plain loops + numpy least squares) of the DF-CNN geometry maps,
the synthetic face grid the benchmarks run on, and the readable GEMax DP and brute force.

Slow by design: they are the readable definition the vectorised kernels are tested and benchmarked against.
"""
from __future__ import annotations

import itertools
import math

import numpy as np

from ferbench.maps.gemax.entropy import _check_hist, _eta
from ferbench.maps.gemax.result import QuantizationResult, _check_k_tau, _result_from_cuts


def normals_reference(xyz: np.ndarray, mask: np.ndarray, window: int = 5, min_neighbors: int = 6) -> np.ndarray:
    """(H, W, 3) unit normals: smallest-eigenvalue eigenvector of each window's scatter about its centroid, n_z >= 0."""
    H, W, _ = xyz.shape
    r = window // 2
    out = np.full((H, W, 3), np.nan)
    for i in range(H):
        for j in range(W):
            if not mask[i, j]:
                continue
            sl = (slice(max(0, i - r), i + r + 1), slice(max(0, j - r), j + r + 1))
            q = xyz[sl][mask[sl]]
            if len(q) < min_neighbors:
                continue
            d = q - q.mean(0)
            _, v = np.linalg.eigh(d.T @ d)
            n = v[:, 0]
            out[i, j] = -n if n[2] < 0 else n
    return out


def curvatures_reference(xyz: np.ndarray, normals: np.ndarray, mask: np.ndarray, window: int = 5,
                         min_neighbors: int = 9, c_min: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """(k1, k2) per pixel from the graph cubic fit (``method="monge"``), one ``lstsq`` per pixel.

    Lengths are measured in units of the grid spacing (as in the fast kernel), which fixes the relative
    weight of the position and the slope equations independently of the length unit.
    """
    H, W, _ = xyz.shape
    hs = float(np.nanmedian(np.abs(np.diff(xyz[..., 0], axis=1))))
    xyz = xyz / hs
    r = window // 2
    k1 = np.full((H, W), np.nan)
    k2 = np.full((H, W), np.nan)
    okn = mask & np.isfinite(normals).all(-1) & (np.abs(np.nan_to_num(normals[..., 2])) >= c_min)
    for i in range(H):
        for j in range(W):
            if not mask[i, j]:
                continue
            p = xyz[i, j]
            rows, rhs, nz = [], [], 0
            for di in range(-r, r + 1):
                for dj in range(-r, r + 1):
                    a, b = i + di, j + dj
                    if not (0 <= a < H and 0 <= b < W):
                        continue
                    x, y = xyz[a, b, 0] - p[0], xyz[a, b, 1] - p[1]
                    if mask[a, b] and (di or dj):
                        rows.append([x, y, x * x / 2, x * y, y * y / 2, x ** 3, x * x * y, x * y * y, y ** 3])
                        rhs.append(xyz[a, b, 2] - p[2])
                        nz += 1
                    if okn[a, b]:
                        n = normals[a, b]
                        rows.append([1, 0, x, y, 0, 3 * x * x, 2 * x * y, y * y, 0])
                        rhs.append(-n[0] / n[2])
                        rows.append([0, 1, 0, x, y, 0, x * x, 2 * x * y, 3 * y * y])
                        rhs.append(-n[1] / n[2])
            if nz < min_neighbors:
                continue
            th = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)[0]
            g, h, A, B, C = th[:5]
            w2 = 1 + g * g + h * h
            Hm = ((1 + h * h) * A - 2 * g * h * B + (1 + g * g) * C) / (2 * w2 ** 1.5)
            K = (A * C - B * B) / (w2 * w2)
            rad = math.sqrt(max(Hm * Hm - K, 0.0))
            k1[i, j], k2[i, j] = (Hm + rad) / hs, (Hm - rad) / hs
    return k1, k2


def shape_index_reference(k1: np.ndarray, k2: np.ndarray, flat_tol: float = 1e-6) -> np.ndarray:
    si = 0.5 - np.arctan2(k1 + k2, k1 - k2) / np.pi
    return np.where(np.maximum(np.abs(k1), np.abs(k2)) < flat_tol, 0.5, si)


def dfcnn_maps_reference(xyz: np.ndarray, mask: np.ndarray, texture: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The six DF-CNN maps computed pixel by pixel (same scalings as :mod:`ferbench.maps.dfcnn`)."""
    z = xyz[..., 2]
    zs = z[mask]
    geom = np.where(mask, (z - zs.min()) / (zs.max() - zs.min()), 0.0)
    n = normals_reference(xyz, mask)
    k1, k2 = curvatures_reference(xyz, n, mask)
    si = shape_index_reference(k1, k2)
    out = {"geometry": geom}
    for c, name in enumerate(("normal_x", "normal_y", "normal_z")):
        out[name] = np.where(mask & np.isfinite(n[..., c]), (n[..., c] + 1) / 2, 0.0)
    out["shape_index"] = np.where(mask & np.isfinite(si), si, 0.0)
    if texture is not None:
        out["texture"] = np.where(mask[..., None], texture, 0.0)
    return {k: v.astype(np.float32) for k, v in out.items()}



def synthetic_face_grid(size: int = 224, radius_mm: float = 80.0, seed: int = 0):
    """A FaceGrid of a parametric face (ellipsoid + nose + brows + noise 0.05 mm), nose tip at the origin."""
    from ferbench.io.scan import ScanMeta
    from ferbench.preprocess import FaceGrid

    rng = np.random.default_rng(seed)
    h = 2 * radius_mm / (size - 1)
    c = -radius_mm + h * np.arange(size)
    X, Y = np.meshgrid(c, c[::-1])
    base = 60.0 * np.sqrt(np.clip(1 - (X / 75.0) ** 2 - ((Y - 10) / 100.0) ** 2, 0, None))
    nose = 25.0 * np.exp(-(X ** 2 / (2 * 9.0 ** 2) + Y ** 2 / (2 * 14.0 ** 2)))
    eyes = -6.0 * (np.exp(-((X - 32) ** 2 + (Y - 22) ** 2) / 120.0) + np.exp(-((X + 32) ** 2 + (Y - 22) ** 2) / 120.0))
    lips = 3.0 * np.exp(-(X ** 2 / 300.0 + (Y + 38) ** 2 / 20.0))
    Z = base + nose + eyes + lips + rng.normal(0, 0.05, X.shape)
    Z -= Z[np.unravel_index(np.argmax(nose), nose.shape)]
    mask = (((X / 75.0) ** 2 + ((Y - 10) / 100.0) ** 2) < 0.97) & (X ** 2 + Y ** 2 <= radius_mm ** 2)
    tex = np.clip(np.stack([0.6 + 0.002 * Z, 0.45 + 0.001 * X, 0.4 + 0.0 * Y], -1), 0, 1).astype(np.float32)
    return FaceGrid(xyz=np.stack([X, Y, np.where(mask, Z, np.nan)], -1), valid=mask, texture=tex, pixel_size_mm=h,
                    mask=mask, meta=ScanMeta(dataset="synthetic", synthetic=True))


# ---------------------------------------------------------------------------------------------
# GEMax: the readable DP and brute force the vectorised solvers are tested and benchmarked against
# ---------------------------------------------------------------------------------------------

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
