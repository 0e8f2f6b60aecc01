"""The quantiser every GEMax solver and baseline returns, and the checks they share."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ferbench.maps.gemax.entropy import cuts_entropy

__all__ = ["QuantizationResult"]


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
