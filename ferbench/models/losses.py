"""The papers' losses, as plain functions / small modules.

* :func:`fa_loss`: GEMax + Facial Attention's L_FA (diversity + concentration, Eq. 9).
* :func:`gaussian_soft_labels`, :func:`soft_focal_loss`: CM-CNN's focal loss with a Gaussian
  "soft label" over the class index (Eq. 5), with the ``label_spacing`` parameter.
* :class:`CenterIslandLoss`: Raimondo et al.'s center + island losses with learned centers.
* :func:`mff_joint_loss`: MFF-CNN's three-term joint loss (Eq. 5).
"""
from __future__ import annotations


import torch
from torch import nn
from torch.nn import functional as F


# ----------------------------------------------------------------------------- L_FA
def normalize_attention(maps: torch.Tensor, mode: str = "sum", eps: float = 1e-8) -> torch.Tensor:
    """Normalise non-negative attention maps ``(..., h, w)``.

    ``"sum"`` divides by the map's sum (an all-zero map becomes uniform, so a dead ReLU
    cannot produce NaNs); ``"max"`` divides by the peak; ``"sigmoid"`` applies a sigmoid;
    ``"none"`` returns the maps unchanged.
    """
    if mode == "none":
        return maps
    if mode == "sigmoid":
        return torch.sigmoid(maps)
    flat = maps.flatten(-2)
    if mode == "sum":
        s = flat.sum(-1, keepdim=True)
        dead = s <= eps
        out = torch.where(dead, torch.full_like(flat, 1.0 / flat.shape[-1]), flat / s.clamp_min(eps))
    elif mode == "max":
        m = flat.amax(-1, keepdim=True)
        out = torch.where(m <= eps, torch.ones_like(flat), flat / m.clamp_min(eps))
    else:
        raise ValueError(f"unknown attention normalisation {mode!r}")
    return out.reshape(maps.shape)


def attention_peaks(maps: torch.Tensor) -> torch.Tensor:
    """Row-major first-maximum position of each map ``(..., h, w)`` -> ``(..., 2)`` as (row, col)."""
    w = maps.shape[-1]
    idx = maps.detach().flatten(-2).argmax(-1)
    return torch.stack([idx // w, idx % w], dim=-1)


def fa_loss(maps: torch.Tensor, alpha: float = 1e3, beta: float = 1e2, mrg: float = 0.02,
            normalize: str = "sum", reduction: str = "mean", return_terms: bool = False):
    """L_FA of the Facial Attention module (docs/gemax_fa.md §4.4).

    ``L = sum_i sum_xy [ alpha * M_i(x,y) * (max_{j!=i} M_j(x,y) - mrg)
                        + beta * M_i(x,y) * ((x - t_x^i)^2 + (y - t_y^i)^2) ]``
    with coordinates ``x = col/(W-1)``, ``y = row/(H-1)`` in [0, 1] and the peak ``t^i`` of
    each normalised map taken as a constant (no gradient).

    Parameters
    ----------
    maps
        ``(B, N_M, H, W)`` non-negative attention maps (``N_M >= 2`` for the diversity term).
    alpha, beta, mrg
        Weights and margin (paper: alpha = 1e3, beta = 1e2; mrg not given, 0.02 recommended).
    normalize
        See :func:`normalize_attention` (default ``"sum"``).
    reduction
        ``"mean"`` over the batch, ``"sum"`` or ``"none"`` (per sample).
    return_terms
        Also return ``(diversity, compactness)`` with the same reduction (unweighted).

    Examples
    --------
    The spec's fixture: two 3x3 maps give 1e3 * 0.44 + 1e2 * 0.2 = 460.
    """
    if maps.ndim != 4 or maps.shape[1] < 1:
        raise ValueError(f"fa_loss expects (B, N_M, H, W) maps, got {tuple(maps.shape)}")
    B, n, H, W = maps.shape
    m = normalize_attention(maps, normalize)
    if n > 1:
        # max over the other maps: for each i, max over j != i
        others = m.unsqueeze(1).expand(B, n, n, H, W)
        eye = torch.eye(n, dtype=torch.bool, device=maps.device).view(1, n, n, 1, 1)
        others = others.masked_fill(eye, float("-inf")).amax(dim=2)
        div = (m * (others - mrg)).flatten(1).sum(-1)
    else:
        div = (m * (-mrg)).flatten(1).sum(-1)
    peaks = attention_peaks(m).to(m.dtype)  # (B, n, 2) constant
    ty = peaks[..., 0] / max(H - 1, 1)
    tx = peaks[..., 1] / max(W - 1, 1)
    ys = torch.arange(H, device=maps.device, dtype=m.dtype) / max(H - 1, 1)
    xs = torch.arange(W, device=maps.device, dtype=m.dtype) / max(W - 1, 1)
    d2 = (ys.view(1, 1, H, 1) - ty[..., None, None]) ** 2 + (xs.view(1, 1, 1, W) - tx[..., None, None]) ** 2
    comp = (m * d2).flatten(1).sum(-1)
    per = alpha * div + beta * comp

    def red(t):
        return t.mean() if reduction == "mean" else t.sum() if reduction == "sum" else t

    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"unknown reduction {reduction!r}")
    return (red(per), red(div), red(comp)) if return_terms else red(per)


# ----------------------------------------------------------------------------- soft focal
def gaussian_soft_labels(y: torch.Tensor, n_classes: int, sigma: float = 0.1,
                         label_spacing: float = 1.0) -> torch.Tensor:
    """CM-CNN's Gaussian "soft label" over the class index.

    ``q_k ∝ exp(-((k - y) * label_spacing)^2 / (2 sigma^2))``, normalised over k = 0..K-1.
    ``label_spacing = 1`` is the literal paper (indices 0..5, sigma = 0.1): numerically one-hot
    (neighbours get 1.9e-22). ``label_spacing = 1/(K-1)`` (0.2 for K = 6) puts the indices in
    [0, 1] and gives a visible smoothing (0.7866 / 0.1065 for an interior class).
    """
    if sigma <= 0 or label_spacing <= 0:
        raise ValueError("sigma and label_spacing must be > 0")
    k = torch.arange(n_classes, device=y.device, dtype=torch.float32)
    d = (k[None, :] - y.to(torch.float32)[:, None]) * label_spacing
    return torch.softmax(-(d ** 2) / (2.0 * sigma ** 2), dim=1)  # softmax = stable normalisation


def soft_focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = 2.0, alpha: float = 1.0,
                    sigma: float = 0.1, label_spacing: float = 1.0, formula: str = "A",
                    reduction: str = "mean") -> torch.Tensor:
    """Focal loss with soft targets (CM-CNN Eq. 5; docs/cmcnn.md §3.3).

    Parameters
    ----------
    logits
        ``(B, K)``.
    target
        Integer labels ``(B,)`` (turned into Gaussian soft labels) or a ``(B, K)`` distribution.
    gamma, alpha
        Focusing parameter and weight (paper: 2 and 1).
    sigma, label_spacing
        Soft-label width and index spacing (see :func:`gaussian_soft_labels`).
    formula
        ``"A"`` (default): ``-alpha * sum_k q_k (1 - p_k)^gamma log p_k``;
        ``"B"``: ``p_t = sum_k q_k p_k``, ``-alpha (1 - p_t)^gamma log p_t``.
        Both equal the standard focal loss for one-hot q, and cross-entropy when also gamma = 0.
    """
    K = logits.shape[1]
    q = target.to(logits.dtype) if target.ndim == 2 else gaussian_soft_labels(target, K, sigma, label_spacing).to(logits.dtype)
    logp = F.log_softmax(logits, dim=1)
    p = logp.exp()
    if formula == "A":
        per = -(q * (1.0 - p).clamp_min(0).pow(gamma) * logp).sum(1)
    elif formula == "B":
        pt = (q * p).sum(1).clamp_min(1e-12)
        per = -(1.0 - pt).clamp_min(0).pow(gamma) * torch.log(pt)
    else:
        raise ValueError(f"unknown focal-loss formula {formula!r} (use 'A' or 'B')")
    per = alpha * per
    return per.mean() if reduction == "mean" else per.sum() if reduction == "sum" else per


# ----------------------------------------------------------------------------- center / island
def center_loss(features: torch.Tensor, y: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Batch mean of squared L2 distances to the class centers (Wen et al.; spec §4 form)."""
    return ((features - centers[y]) ** 2).sum(1).mean()


def island_loss(centers: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Island loss: ``sum_{j != k} (cos(c_j, c_k) + 1)`` over ordered pairs (Cai et al.).

    Range ``[K(K-2), 2K(K-1)]``: K(K-1) for orthogonal centers, 2K(K-1) for identical directions,
    K(K-2) for a regular simplex. Invariant to the centers' scale.
    """
    c = centers / centers.norm(dim=1, keepdim=True).clamp_min(eps)
    cos = c @ c.t()
    K = c.shape[0]
    off = ~torch.eye(K, dtype=torch.bool, device=c.device)
    return (cos[off] + 1.0).sum()


class CenterIslandLoss(nn.Module):
    """Learned class centers with the center and island losses (Raimondo et al., Eq. 5).

    ``composition="nested"`` (default, as Cai et al. and the authors' code):
    ``lambda1 * (L_C + lambda2 * L_I)``; ``"literal"``: ``lambda1 * L_C + lambda2 * L_I``.
    The centers are parameters meant for their own ``SGD(lr=alpha=0.5)`` (see the model's
    ``extra_param_groups``).

    ``center_update`` sets the gradient the centers receive (the loss value is the same):
    ``"cai"`` (default): Cai et al.'s / Wen et al.'s update ``dL_C/dc + lambda2 dL_I/dc``, i.e. not
    shrunk by ``lambda1`` (for ``"literal"`` only the center term is unscaled), so SGD(0.5) moves a
    center a sizeable fraction of the way to its class mean per step; ``"loss_grad"``: the
    gradient of the weighted total (the authors' code): with lambda1 = 0.01 the centers barely move
    and the features are pulled toward the random initial centers (lambda1 L_C ~ 15 >> CE ~ 1.8
    for D = 768), which swamps cross-entropy in short runs.
    """

    def __init__(self, n_classes: int, dim: int, lambda1: float = 1e-2, lambda2: float = 10.0,
                 composition: str = "nested", use_island: bool = True, center_update: str = "cai",
                 center_norm: str = "sum"):
        super().__init__()
        if composition not in ("nested", "literal"):
            raise ValueError(f"unknown composition {composition!r}")
        if center_update not in ("cai", "loss_grad"):
            raise ValueError(f"unknown center_update {center_update!r} (use 'cai' or 'loss_grad')")
        if center_norm not in ("sum", "mean"):
            raise ValueError(f"unknown center_norm {center_norm!r} (use 'sum' or 'mean')")
        self.center_update, self.center_norm = center_update, center_norm
        self.centers = nn.Parameter(torch.randn(n_classes, dim))
        self.lambda1, self.lambda2 = float(lambda1), float(lambda2)
        self.composition, self.use_island = composition, bool(use_island)

    def forward(self, features: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``(weighted_total, center_term, island_term)``."""
        c = self.centers
        dim_div = float(c.shape[1]) if self.center_norm == "mean" else 1.0

        def grad_scaled(t, k):  # same value, gradient multiplied by k
            return t if k == 1.0 else t.detach() + (t - t.detach()) * k

        cai = self.center_update == "cai" and self.lambda1 > 0 and c.requires_grad
        lc = center_loss(features, y, grad_scaled(c, dim_div / self.lambda1) if cai else c) / dim_div
        c_isl = grad_scaled(c, 1.0 / self.lambda1) if cai and self.composition == "nested" else c
        li = island_loss(c_isl) if self.use_island else lc.new_zeros(())
        if self.composition == "nested":
            total = self.lambda1 * (lc + self.lambda2 * li)
        else:
            total = self.lambda1 * lc + self.lambda2 * li
        return total, lc, li


def class_weights(y, n_classes: int) -> torch.Tensor:
    """Inverse-frequency CE weights ``w_j = N / (K n_j)`` (1 for balanced labels; 0 for absent classes)."""
    y = torch.as_tensor(y).long().flatten()
    counts = torch.bincount(y, minlength=n_classes).double()
    w = torch.where(counts > 0, len(y) / (n_classes * counts.clamp_min(1)), torch.zeros_like(counts))
    return w.float()


# ----------------------------------------------------------------------------- MFF joint loss
def mff_joint_loss(z_img: torch.Tensor, z_patch: torch.Tensor, y: torch.Tensor,
                   lambdas: tuple[float, float, float] = (1.0, 1.0, 0.1), fusion: str = "prob_sum"
                   ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """MFF-CNN Eq. 5: ``l1 CE(image) + l2 CE(patch) + l3 * term3``.

    ``fusion="prob_sum"``: term3 = ``-log(p_img[y] + p_patch[y])`` (the literal "integrated
    possibility", computed as ``-logsumexp``; may be negative since the sum lies in (0, 2]).
    ``fusion="logit_sum"``: term3 = ``CE(z_img + z_patch)``.
    """
    l_img = F.cross_entropy(z_img, y)
    l_patch = F.cross_entropy(z_patch, y)
    if fusion == "prob_sum":
        lp_i = F.log_softmax(z_img, 1).gather(1, y[:, None])
        lp_p = F.log_softmax(z_patch, 1).gather(1, y[:, None])
        l_fused = -torch.logsumexp(torch.cat([lp_i, lp_p], 1), dim=1).mean()
    elif fusion == "logit_sum":
        l_fused = F.cross_entropy(z_img + z_patch, y)
    else:
        raise ValueError(f"unknown fusion {fusion!r}")
    a, b, c = lambdas
    return a * l_img + b * l_patch + c * l_fused, (l_img, l_patch, l_fused)


