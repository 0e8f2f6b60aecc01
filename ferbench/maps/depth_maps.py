"""GEMax and its baseline depth maps as registered attribute maps (values = level/(K-1) in [0, 1]).

See :mod:`ferbench.maps.gemax` for the algorithms and the spec choices. Background (outside the face
or deeper than ``d_dis_mm``) is 0.
"""
from __future__ import annotations

import numpy as np

from ferbench.maps import gemax as G
from ferbench.maps.base import AttributeMap, register


class _LevelMap(AttributeMap):
    paper = "gemax_fa"

    def _one(self, z: np.ndarray, m: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def forward(self, ctx):
        import torch

        z = ctx.xyz[..., 2].cpu().numpy()
        m = ctx.mask.cpu().numpy()
        if self.name == "gemax" and ctx.device.type == "cuda":
            lv, _ = G.gemax_map(torch.as_tensor(z, device=ctx.device), K=self.K, N=self.N, tau=self.tau,
                                mask=torch.as_tensor(m, device=ctx.device), d_dis_mm=self.d_dis_mm)
            return ctx.output(lv.to(torch.float64) / (self.K - 1))
        out = np.stack([self._one(z[b], m[b]) for b in range(len(z))]).astype(np.float64) / (self.K - 1)
        return ctx.output(torch.as_tensor(out, device=ctx.device))


@register
class GEMaxMap(_LevelMap):
    """GEMax map: exact max-entropy quantisation of the 6 cm block to K levels with bins of <= tau levels."""

    name = "gemax"
    description = "GEMax (tau-constrained max-entropy quantisation)"

    def __init__(self, tau: int = 20, K: int = 256, N: int = 4096, d_dis_mm: float = 60.0):
        self.tau, self.K, self.N, self.d_dis_mm = int(tau), int(K), int(N), float(d_dis_mm)

    def _one(self, z, m):
        return G.gemax_map(z, K=self.K, N=self.N, tau=self.tau, mask=m, d_dis_mm=self.d_dis_mm)[0]


@register
class RangeMap(_LevelMap):
    """Range image RI: uniform quantisation of the face depth (per-image min-max; ``mode="block"``: the d_mm block)."""

    name = "range"
    description = "range image (uniform quantisation)"

    def __init__(self, K: int = 256, mode: str = "minmax", d_mm: float = 140.0):
        self.K, self.mode, self.d_mm = int(K), mode, float(d_mm)

    def _one(self, z, m):
        return G.range_map(z, m, K=self.K, mode=self.mode, d_mm=self.d_mm)[0]


@register
class HistEqMap(_LevelMap):
    """Histogram equalisation of the d_dis block to K levels (unconstrained; over-enhances)."""

    name = "histeq"
    description = "histogram equalisation"

    def __init__(self, K: int = 256, N: int = 4096, d_dis_mm: float = 60.0, variant: str = "floor"):
        self.K, self.N, self.d_dis_mm, self.variant = int(K), int(N), float(d_dis_mm), variant

    def _one(self, z, m):
        return G.histeq_map(z, K=self.K, N=self.N, mask=m, d_dis_mm=self.d_dis_mm, variant=self.variant)[0]


@register
class GreedyMap(_LevelMap):
    """Greedy tau-limited equalisation of the d_dis block (the paper's local-optimum strawman)."""

    name = "greedy"
    description = "greedy tau-limited equalisation"

    def __init__(self, tau: int = 20, K: int = 256, N: int = 4096, d_dis_mm: float = 60.0):
        self.tau, self.K, self.N, self.d_dis_mm = int(tau), int(K), int(N), float(d_dis_mm)

    def _one(self, z, m):
        return G.greedy_map(z, K=self.K, N=self.N, tau=self.tau, mask=m, d_dis_mm=self.d_dis_mm)[0]
