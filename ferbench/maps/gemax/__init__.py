"""GEMax: maximum-entropy depth quantisation under a depth-distortion bound (Jiao et al. 2020).

Method notes: ``docs/gemax_fa.md`` (§0-§3 of the paper's method). Choices where the paper is silent:

* N = 4096 input levels over the depth block ``0 <= delta <= d_dis`` behind the nose (``delta = z_nose - z``),
  ``level = min(N-1, floor((d_dis - delta)/d_dis * N))``: level N-1 is the nose, 0 the deepest kept point.
* Fence posts: cuts ``0 = d_0 < d_1 < ... < d_K = N``; output level k takes input levels ``d_k .. d_{k+1}-1``;
  the constraint is ``1 <= d_{k+1} - d_k <= tau`` (integer tau, inclusive). Feasible iff ``K <= N`` and ``K*tau >= N``.
  ``tau >= N-K+1`` is the unconstrained problem (clamped internally, same result).
* Entropy in bits over the face pixels inside the block; the background (mask off, or deeper than d_dis) is 0.
* Ties: the DP keeps the **largest** maximising predecessor (shortest last edge) at every cell.
* The histogram is over the pixels of the depth image, so the DP value equals the output map's entropy.

Modules: :mod:`~.dp` (the exact DP, numpy and batched torch), :mod:`~.levels` (depth -> N levels),
:mod:`~.entropy`, :mod:`~.baselines` (uniform, histogram equalisation, greedy), :mod:`~.maps` (depth image ->
map), :mod:`~.sweep` (tau sweeps), :mod:`~.result` (:class:`QuantizationResult`). The readable reference DP
and the brute force live in :mod:`ferbench.maps._reference` (re-exported here, loaded on first use).

>>> import numpy as np
>>> from ferbench.maps.gemax import gemax_dp
>>> gemax_dp(np.ones(8), K=4, tau=2).cuts.tolist()
[0, 2, 4, 6, 8]
"""
from __future__ import annotations

from typing import Any

from ferbench.maps.gemax.baselines import greedy_result, histeq_result, uniform_result
from ferbench.maps.gemax.dp import MONOTONE_TAU, gemax_dp, gemax_dp_torch
from ferbench.maps.gemax.entropy import cuts_entropy, entropy
from ferbench.maps.gemax.levels import depth_levels, level_histogram, range_selection_blocks
from ferbench.maps.gemax.maps import gemax_map, greedy_map, histeq_map, range_map, uniform_map
from ferbench.maps.gemax.result import QuantizationResult
from ferbench.maps.gemax.sweep import TauSweepResult, tau_sweep

__all__ = [
    "QuantizationResult", "TauSweepResult", "depth_levels", "level_histogram", "gemax_dp",
    "gemax_dp_reference", "gemax_bruteforce", "gemax_dp_torch", "gemax_map", "entropy", "cuts_entropy",
    "uniform_result", "histeq_result", "greedy_result", "range_map", "uniform_map", "histeq_map", "greedy_map",
    "tau_sweep", "relaxation_count", "range_selection_blocks",
]

# the test / benchmark references are imported on first use (ferbench.maps._reference imports this package)
_REFERENCE = ("gemax_dp_reference", "gemax_bruteforce", "relaxation_count")


def __getattr__(name: str) -> Any:
    if name in _REFERENCE:
        from ferbench.maps import _reference

        return getattr(_reference, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_REFERENCE))
