"""Vectorised local-fit kernels (torch; CPU or CUDA) for normals and curvature.

Everything is computed in float64 on the input's device. Inputs are batches:
``xyz`` (B, H, W, 3) and ``mask`` (B, H, W) bool. Pixels are processed in chunks so memory
stays bounded (about 40 MB per chunk).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

_CHUNK = 8192


def _neighbourhoods(t: torch.Tensor, mask: torch.Tensor, window: int):
    """Unfold (B, H, W, C) values and (B, H, W) mask into (B, H, W, window², C) and (B, H, W, window²)."""
    B, H, W, C = t.shape
    r = window // 2
    x = torch.where(mask[..., None], t, torch.zeros((), dtype=t.dtype, device=t.device)).permute(0, 3, 1, 2)
    xu = F.unfold(F.pad(x, (r, r, r, r)), window)                       # (B, C*w², H*W)
    xu = xu.view(B, C, window * window, H, W).permute(0, 3, 4, 2, 1)    # (B, H, W, w², C)
    mu = F.unfold(F.pad(mask[:, None].to(t.dtype), (r, r, r, r)), window)
    mu = mu.view(B, window * window, H, W).permute(0, 2, 3, 1) > 0.5    # (B, H, W, w²)
    return xu, mu


def plane_fit_normals_eigh(xyz: torch.Tensor, mask: torch.Tensor, window: int = 5, min_neighbors: int = 6,
                      plane_through: str = "centroid") -> torch.Tensor:
    """Unit normals by a total-least-squares plane over a ``window`` x ``window`` neighbourhood.

    The normal is the eigenvector of the smallest eigenvalue of the scatter matrix of the valid
    neighbours (about their centroid, or about the centre point with ``plane_through="point"``,
    the literal reading of DF-CNN eq. 3), oriented so that n_z >= 0 (toward the viewer).

    Returns
    -------
    (B, H, W, 3) float64 tensor, NaN where the pixel is masked or has < ``min_neighbors`` valid
    neighbours (the pixel itself included).
    """
    if plane_through not in ("centroid", "point"):
        raise ValueError("plane_through must be 'centroid' or 'point'")
    xyz = xyz.to(torch.float64)
    out = torch.full_like(xyz, float("nan"))
    nb, nm = _neighbourhoods(xyz, mask, window)
    sel = mask & (nm.sum(-1) >= min_neighbors)
    idx = sel.nonzero(as_tuple=True)
    for s in range(0, idx[0].numel(), _CHUNK):
        ii = tuple(a[s:s + _CHUNK] for a in idx)
        q, w = nb[ii], nm[ii].to(torch.float64)                          # (P, w², 3), (P, w²)
        if plane_through == "centroid":
            c = (q * w[..., None]).sum(1) / w.sum(1, keepdim=True)
        else:
            c = xyz[ii]
        d = (q - c[:, None, :]) * w[..., None]
        cov = d.transpose(1, 2) @ d
        _, vecs = torch.linalg.eigh(cov)
        n = vecs[..., 0]
        n = torch.where(n[:, 2:3] < 0, -n, n)
        out[ii] = n / n.norm(dim=1, keepdim=True)
    return out


def principal_curvatures_tangent(xyz: torch.Tensor, normals: torch.Tensor, mask: torch.Tensor, window: int = 5,
                         min_neighbors: int = 4, c_min: float = 1e-3) -> tuple[torch.Tensor, torch.Tensor]:
    """Principal curvatures k1 >= k2 (1/mm) from the local cubic fit of Goldfeather & Interrante.

    At each pixel p with normal N a frame (e1, e2, N) is built; every valid neighbour q with normal m
    gives three least-squares rows (DF-CNN eq. 5)::

        z      = A/2 x² + B xy + C/2 y² + D x³ + E x²y + F xy² + G y³
        -a/c   = A x + B y + 3D x² + 2E xy + F y²
        -b/c   = B x + C y + E x² + 2F xy + 3G y²

    with (x, y, z) = coordinates of q - p and (a, b, c) = m in the frame. Neighbours with
    |c| < ``c_min`` are skipped. The eigenvalues of S = [[A, B], [B, C]] are returned.
    Sign convention: z is measured along N (toward the viewer), so a cap bulging toward the viewer
    has k1, k2 < 0. Coordinates are scaled by the neighbour spacing before solving (conditioning).

    Returns
    -------
    k1, k2 : (B, H, W) float64 tensors, NaN where there are too few neighbours or the system is singular.
    """
    xyz = xyz.to(torch.float64)
    normals = normals.to(torch.float64)
    ok = mask & torch.isfinite(normals).all(-1) & torch.isfinite(xyz).all(-1)
    k1 = torch.full(ok.shape, float("nan"), dtype=torch.float64, device=xyz.device)
    k2 = k1.clone()
    both = torch.cat([xyz, normals], dim=-1)
    nb, nm = _neighbourhoods(both, ok, window)
    sel = ok & (nm.sum(-1) >= min_neighbors + 1)
    idx = sel.nonzero(as_tuple=True)
    # spacing for conditioning: median horizontal neighbour distance over valid pairs
    dx = (xyz[:, :, 1:, :2] - xyz[:, :, :-1, :2]).norm(dim=-1)
    dxv = dx[ok[:, :, 1:] & ok[:, :, :-1]]
    scale = float(dxv.median()) if dxv.numel() else 1.0
    scale = scale if math.isfinite(scale) and scale > 0 else 1.0
    for s in range(0, idx[0].numel(), _CHUNK):
        ii = tuple(a[s:s + _CHUNK] for a in idx)
        p, N = xyz[ii], normals[ii]                                      # (P, 3)
        q, m, w = nb[ii][..., :3], nb[ii][..., 3:], nm[ii]
        # frame: e1 = the axis least aligned with N, made orthogonal to N
        helper = torch.zeros_like(N)
        use_x = N[:, 0].abs() < 0.9
        helper[use_x, 0] = 1.0
        helper[~use_x, 1] = 1.0
        e1 = helper - (helper * N).sum(1, keepdim=True) * N
        e1 = e1 / e1.norm(dim=1, keepdim=True)
        e2 = torch.cross(N, e1, dim=1)
        d = (q - p[:, None, :]) / scale
        x = (d * e1[:, None]).sum(-1)
        y = (d * e2[:, None]).sum(-1)
        z = (d * N[:, None]).sum(-1)
        a = (m * e1[:, None]).sum(-1)
        b = (m * e2[:, None]).sum(-1)
        c = (m * N[:, None]).sum(-1)
        good = w & (c.abs() >= c_min)
        wt = good.to(torch.float64)
        cs = torch.where(good, c, torch.ones_like(c))
        zero = torch.zeros_like(x)
        r1 = torch.stack([x * x / 2, x * y, y * y / 2, x ** 3, x * x * y, x * y * y, y ** 3], -1)
        r2 = torch.stack([x, y, zero, 3 * x * x, 2 * x * y, y * y, zero], -1)
        r3 = torch.stack([zero, x, y, zero, x * x, 2 * x * y, 3 * y * y], -1)
        R = torch.cat([r1, r2, r3], dim=1) * torch.cat([wt, wt, wt], dim=1)[..., None]     # (P, 3w², 7)
        rhs = torch.cat([z, -a / cs, -b / cs], dim=1) * torch.cat([wt, wt, wt], dim=1)
        AtA = R.transpose(1, 2) @ R
        Atb = (R.transpose(1, 2) @ rhs[..., None])[..., 0]
        theta, info = torch.linalg.solve_ex(AtA, Atb)
        A, Bc, C = theta[:, 0], theta[:, 1], theta[:, 2]
        mean = (A + C) / 2
        rad = torch.sqrt(((A - C) / 2) ** 2 + Bc ** 2)
        bad = (info != 0) | (good.sum(1) < min_neighbors)
        nan = torch.tensor(float("nan"), dtype=torch.float64, device=xyz.device)
        k1[ii] = torch.where(bad, nan, (mean + rad) / scale)
        k2[ii] = torch.where(bad, nan, (mean - rad) / scale)
    return k1, k2


def shape_index_from_curvatures(k1: torch.Tensor, k2: torch.Tensor, flat_tol: float = 1e-6) -> torch.Tensor:
    """SI = 1/2 - atan2(k1 + k2, k1 - k2)/pi in [0, 1]: cap 1, ridge 0.75, plane/saddle 0.5, rut 0.25, cup 0.

    Points with max(|k1|, |k2|) < ``flat_tol`` (1/mm; default 1e-6, a radius of 1 km) are planar and get
    0.5 exactly: atan2 of round-off-sized curvatures would otherwise be arbitrary.
    """
    si = 0.5 - torch.atan2(k1 + k2, k1 - k2) / math.pi
    flat = torch.maximum(k1.abs(), k2.abs()) < flat_tol
    return torch.where(flat, torch.full_like(si, 0.5), si)


# ----------------------------------------------------------------------------------------------
# Fast dense paths (default). Same estimators, restructured so the work is a handful of
# shifted-slice sums and small GEMMs instead of per-pixel eigen/least-squares problems.
# ----------------------------------------------------------------------------------------------

def _shift(t: torch.Tensor, di: int, dj: int, r: int) -> torch.Tensor:
    """View of a (B, H+2r, W+2r, ...) padded tensor shifted by (di, dj): out[i, j] = t[i+di, j+dj]."""
    H, W = t.shape[1] - 2 * r, t.shape[2] - 2 * r
    return t[:, r + di:r + di + H, r + dj:r + dj + W]


def _smallest_eigvec_sym3(c00, c01, c02, c11, c12, c22):
    """Unit eigenvector of the smallest eigenvalue of symmetric 3x3 matrices (closed form, elementwise).

    Eigenvalue by the trigonometric method, eigenvector as the largest cross product of two rows
    of (C - lambda I). NaN where the smallest eigenvalue is not simple (e.g. collinear points).
    """
    q = (c00 + c11 + c22) / 3
    p1 = c01 ** 2 + c02 ** 2 + c12 ** 2
    p2 = (c00 - q) ** 2 + (c11 - q) ** 2 + (c22 - q) ** 2 + 2 * p1
    p = torch.sqrt(p2 / 6)
    ps = torch.where(p > 0, p, torch.ones_like(p))
    b00, b11, b22, b01, b02, b12 = (c00 - q) / ps, (c11 - q) / ps, (c22 - q) / ps, c01 / ps, c02 / ps, c12 / ps
    det = b00 * (b11 * b22 - b12 * b12) - b01 * (b01 * b22 - b12 * b02) + b02 * (b01 * b12 - b11 * b02)
    phi = torch.acos(torch.clamp(det / 2, -1.0, 1.0)) / 3
    lam = q + 2 * p * torch.cos(phi + 2 * math.pi / 3)
    a00, a11, a22 = c00 - lam, c11 - lam, c22 - lam
    # cross products of the rows of (C - lam I): r0 x r1, r0 x r2, r1 x r2 (written out, no stacking)
    u = (c01 * c12 - c02 * a11, c02 * c01 - a00 * c12, a00 * a11 - c01 * c01)
    v_ = (c01 * a22 - c02 * c12, c02 * c02 - a00 * a22, a00 * c12 - c01 * c02)
    w = (a11 * a22 - c12 * c12, c12 * c02 - c01 * a22, c01 * c12 - a11 * c02)
    nu = u[0] ** 2 + u[1] ** 2 + u[2] ** 2
    nv2 = v_[0] ** 2 + v_[1] ** 2 + v_[2] ** 2
    nw = w[0] ** 2 + w[1] ** 2 + w[2] ** 2
    pick_v = nv2 > nu
    best = torch.where(pick_v, nv2, nu)
    pick_w = nw > best
    best = torch.where(pick_w, nw, best)
    comp = [torch.where(pick_w, w[k], torch.where(pick_v, v_[k], u[k])) for k in range(3)]
    nv = torch.sqrt(best)
    scale = (p * p).clamp_min(1e-300)
    ok = (p > 0) & (nv > 1e-10 * scale)
    inv = 1.0 / torch.where(ok, nv, torch.ones_like(nv))
    v = torch.stack([c * inv for c in comp], -1)
    return torch.where(ok[..., None], v, torch.full_like(v, float("nan")))


def plane_fit_normals(xyz: torch.Tensor, mask: torch.Tensor, window: int = 5, min_neighbors: int = 6,
                      plane_through: str = "centroid") -> torch.Tensor:
    """Unit normals by a total-least-squares plane over a ``window`` x ``window`` neighbourhood.

    The normal is the eigenvector of the smallest eigenvalue of the scatter matrix of the valid
    neighbours about their centroid (``plane_through="centroid"``, default) or about the centre point
    (``"point"``, the literal reading of DF-CNN eq. 3), oriented so that n_z >= 0 (toward the viewer).
    Scatter sums use coordinates relative to the centre pixel (no cancellation); the 3x3 eigenproblem
    is solved in closed form. :func:`plane_fit_normals_eigh` is the same estimator with ``torch.linalg.eigh``.

    Returns
    -------
    (B, H, W, 3) float64 tensor, NaN where the pixel is masked or has < ``min_neighbors`` valid
    neighbours in its window (the pixel itself included).
    """
    if plane_through not in ("centroid", "point"):
        raise ValueError("plane_through must be 'centroid' or 'point'")
    if window < 3 or window % 2 == 0:
        raise ValueError("window must be an odd integer >= 3")
    xyz = xyz.to(torch.float64)
    r = window // 2
    wmask = mask & torch.isfinite(xyz).all(-1)
    w = wmask.to(torch.float64)
    # centre coordinates per image so that the raw second moments do not cancel badly
    cnt = w.sum((1, 2)).clamp_min(1.0)
    X = torch.where(wmask[..., None], xyz, torch.zeros((), dtype=xyz.dtype, device=xyz.device))
    X = X - (X.sum((1, 2)) / cnt[:, None])[:, None, None, :]
    X = X * w[..., None]
    x, y, z = X.unbind(-1)
    pairs = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
    comps = (x, y, z)
    fields = torch.stack([w, x, y, z] + [comps[a] * comps[b] for a, b in pairs], 0)   # (10, B, H, W)
    # separable box sum over the window (shifted-view adds; zero padding = no neighbour)
    fp = F.pad(fields, (r, r, r, r))
    Hh, Ww = fields.shape[-2:]
    acc = fp[..., :, 0:Ww].clone()
    for k in range(1, window):
        acc += fp[..., :, k:k + Ww]
    box = acc[..., 0:Hh, :].clone()
    for k in range(1, window):
        box += acc[..., k:k + Hh, :]
    n, sx, sy, sz = box[0], box[1], box[2], box[3]
    S = (sx, sy, sz)
    ss = box[4:]
    if plane_through == "centroid":
        nn = n.clamp_min(1.0)
        cov = [ss[k] - S[a] * S[b] / nn for k, (a, b) in enumerate(pairs)]
    else:
        P = (x, y, z)
        cov = [ss[k] - P[a] * S[b] - S[a] * P[b] + n * P[a] * P[b] for k, (a, b) in enumerate(pairs)]
    v = _smallest_eigvec_sym3(*cov)
    v = torch.where(v[..., 2:3] < 0, -v, v)
    ok = wmask & (n >= min_neighbors)
    return torch.where(ok[..., None], v, torch.full_like(v, float("nan")))


def _grid_spacing(xyz: torch.Tensor, mask: torch.Tensor) -> tuple[float, float]:
    """Signed spacing (dx per column, dy per row) of a regular grid, from the valid neighbour pairs."""
    okx = mask[:, :, 1:] & mask[:, :, :-1]
    oky = mask[:, 1:, :] & mask[:, :-1, :]
    dx = (xyz[:, :, 1:, 0] - xyz[:, :, :-1, 0])[okx]
    dy = (xyz[:, 1:, :, 1] - xyz[:, :-1, :, 1])[oky]
    hx = float(dx.median()) if dx.numel() else 1.0
    hy = float(dy.median()) if dy.numel() else -hx
    if not (math.isfinite(hx) and hx != 0):
        hx = 1.0
    if not (math.isfinite(hy) and hy != 0):
        hy = -abs(hx)
    return hx, hy


def _monge_design(window: int, hx: float, hy: float, hs: float):
    """Per-offset rows of the graph cubic fit, in units of hs. Unknowns (g, h, A, B, C, D, E, F, G)."""
    r = window // 2
    rz, rsx, rsy = [], [], []
    for di in range(-r, r + 1):
        for dj in range(-r, r + 1):
            x, y = dj * hx / hs, di * hy / hs
            rz.append([x, y, x * x / 2, x * y, y * y / 2, x ** 3, x * x * y, x * y * y, y ** 3])
            rsx.append([1, 0, x, y, 0, 3 * x * x, 2 * x * y, y * y, 0])
            rsy.append([0, 1, 0, x, y, 0, x * x, 2 * x * y, 3 * y * y])
    return (torch.tensor(rz, dtype=torch.float64), torch.tensor(rsx, dtype=torch.float64),
            torch.tensor(rsy, dtype=torch.float64))


def principal_curvatures(xyz: torch.Tensor, normals: torch.Tensor, mask: torch.Tensor, window: int = 5,
                         min_neighbors: int = 9, c_min: float = 1e-3, method: str = "monge"
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """Principal curvatures k1 >= k2 (1/mm) from a local cubic fit to positions *and* normals.

    ``method="monge"`` (default) fits the cubic height function of the regular grid around each pixel,
    ``z(x, y) = z_p + g x + h y + A/2 x² + B xy + C/2 y² + D x³ + E x²y + F xy² + G y³``, to the
    neighbours' depths and to their normals written as slopes (``-n_x/n_z = z_x``, ``-n_y/n_z = z_y``),
    then takes the eigenvalues of the shape operator I⁻¹·II of the graph (exact differential geometry,
    so a surface that is a cubic graph is recovered exactly). Because the design rows depend only on
    the neighbour offset, the normal equations are two small GEMMs for all pixels at once.
    ``method="tangent"`` is Goldfeather & Interrante's fit in each pixel's tangent frame, as literally
    described in DF-CNN eq. 5 (:func:`principal_curvatures_tangent`); about 5x slower.

    Sign convention (both methods): z and the normal point toward the viewer, so a cap bulging toward
    the viewer has k1, k2 < 0 and shape index 1. Neighbours whose normal has |n_z| < ``c_min`` give no
    slope rows. Pixels with fewer than ``min_neighbors`` valid neighbours are NaN. Lengths are expressed in
    units of the grid spacing before solving, which fixes the relative weight of the position and slope
    equations independently of the length unit (and conditions the system).
    """
    if method == "tangent":
        return principal_curvatures_tangent(xyz, normals, mask, window=window,
                                            min_neighbors=min(min_neighbors, 4), c_min=c_min)
    if method != "monge":
        raise ValueError("method must be 'monge' or 'tangent'")
    xyz = xyz.to(torch.float64)
    normals = normals.to(torch.float64)
    dev = xyz.device
    B, H, W, _ = xyz.shape
    r = window // 2
    hx, hy = _grid_spacing(xyz, mask)
    hs = abs(hx)
    okz = mask & torch.isfinite(xyz).all(-1)
    oks = okz & torch.isfinite(normals).all(-1) & (normals[..., 2].abs() >= c_min)
    zero = torch.zeros((), dtype=torch.float64, device=dev)
    z = torch.where(okz, xyz[..., 2], zero) / hs
    nz = torch.where(oks, normals[..., 2], torch.ones((), dtype=torch.float64, device=dev))
    sx = torch.where(oks, -normals[..., 0] / nz, zero)
    sy = torch.where(oks, -normals[..., 1] / nz, zero)
    offs = [(di, dj) for di in range(-r, r + 1) for dj in range(-r, r + 1)]

    Rz, Rsx, Rsy = (m.to(dev) for m in _monge_design(window, hx, hy, hs))
    Rall = torch.cat([Rz, Rsx, Rsy], 0)                                               # (3 w², 9)
    centre = (window * window) // 2
    nw = window * window
    pads = [F.pad(f[:, None], (r, r, r, r))[:, 0] for f in (okz.to(torch.float64), oks.to(torch.float64), z, sx, sy)]
    # counts of valid depth / slope neighbours (box sums over shifted views)
    cz = torch.zeros_like(z)
    cs = torch.zeros_like(z)
    for di, dj in offs:
        cz += _shift(pads[0], di, dj, r)
        cs += _shift(pads[1], di, dj, r)
    cz = cz - okz.to(torch.float64)          # the centre's depth equation is 0 = 0
    sel = okz & (cz >= min_neighbors)
    full = sel & (cz == nw - 1) & (cs == nw)
    # every full window has the same normal matrix: there the fit is a fixed linear filter,
    # applied as a sum of scaled shifted views (no neighbourhood tensor is materialised)
    Rz0 = Rz.clone()
    Rz0[centre] = 0.0
    Ainv = torch.linalg.inv(Rz0.T @ Rz0 + Rsx.T @ Rsx + Rsy.T @ Rsy)
    K = (Rall @ Ainv[:5].T).cpu()                                                     # (3 w², 5)
    K[centre] = 0.0
    theta = torch.zeros((5,) + z.shape, dtype=torch.float64, device=dev)
    for f in range(3):
        for o, (di, dj) in enumerate(offs):
            view = _shift(pads[2 + f], di, dj, r)
            for c in range(5):
                coef = float(K[f * nw + o, c])
                if coef != 0.0:
                    theta[c].add_(view, alpha=coef)
    theta[:] -= K[:nw].sum(0).to(dev).view(5, 1, 1, 1) * z          # dz = z_q - z_p
    theta = theta.reshape(5, -1).T
    theta = torch.where(full.reshape(-1, 1), theta, torch.full_like(theta, float("nan")))
    part = (sel & ~full).reshape(-1).nonzero(as_tuple=True)[0]
    if part.numel():
        bi, rem = part // (H * W), part % (H * W)
        ii, jj = rem // W, rem % W
        def gather(fp: torch.Tensor) -> torch.Tensor:                               # (n_part, w²)
            return torch.stack([fp[bi, ii + r + di, jj + r + dj] for di, dj in offs], 1)
        wzp, wsp = gather(pads[0]), gather(pads[1])
        wzp[:, centre] = 0.0
        dz = (gather(pads[2]) - z.reshape(-1)[part][:, None]) * wzp
        data = torch.cat([dz, gather(pads[3]) * wsp, gather(pads[4]) * wsp], 1)
        Gz = (Rz[:, :, None] * Rz[:, None, :]).reshape(-1, 81)
        Gs = (Rsx[:, :, None] * Rsx[:, None, :] + Rsy[:, :, None] * Rsy[:, None, :]).reshape(-1, 81)
        AtA = (wzp @ Gz + wsp @ Gs).view(-1, 9, 9)
        sol, info = torch.linalg.solve_ex(AtA, data @ Rall)
        sol[info != 0] = float("nan")
        theta[part] = sol[:, :5]
    g, h, A, Bc, C = (theta[:, k] for k in range(5))
    w2 = 1 + g * g + h * h
    Hm = ((1 + h * h) * A - 2 * g * h * Bc + (1 + g * g) * C) / (2 * w2 ** 1.5)
    K = (A * C - Bc * Bc) / (w2 * w2)
    rad = torch.sqrt(torch.clamp(Hm * Hm - K, min=0.0))
    k1 = ((Hm + rad) / hs).view(B, H, W)
    k2 = ((Hm - rad) / hs).view(B, H, W)
    return k1, k2
