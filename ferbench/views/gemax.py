"""The GEMax map of one scan at one τ, its entropy, and GEMax Table 3's value (the one lookup)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

__all__ = ["PAPER_TABLE", "GEMaxView", "gemax_view", "EntropyCurve", "entropy_curve", "paper_table3_entropy",
           "paper_table3_entropies", "entropy_text"]

PAPER_TABLE: tuple[str, str] = ("gemax_fa", "3")
"""Paper and table printing GEMax entropies per τ (BU-3DFE, 224 x 224 maps, real data)."""


def _table():
    from ferbench import papers

    return papers.table(*PAPER_TABLE)


def paper_table3_entropy(tau: int, n_levels: int = 4096) -> tuple[Any | None, str]:
    """GEMax Table 3's entropy for ``tau`` (``tau >= n_levels`` is the table's ``N`` column).

    Returns
    -------
    (value, source)
        ``value`` a :class:`ferbench.papers.PrintedNumber` (bits) or None when the table has no column for
        ``tau``; ``source`` e.g. ``"GEMax Table 3 (BU-3DFE)"``.
    """
    t = _table()
    source = f"GEMax Table {t.id} ({t.dataset})" if t.dataset else f"GEMax Table {t.id}"
    col = "N" if int(tau) >= int(n_levels) else str(int(tau))
    if col not in t.columns:
        return None, source
    return t.cell("Entropy", col), source


def paper_table3_entropies() -> dict[str, float]:
    """Every entropy of GEMax Table 3 keyed by τ (``"16"``, ..., ``"60"``, ``"N"``)."""
    t = _table()
    return {str(c): float(t.cell("Entropy", c)) for c in t.columns}


def entropy_text(tau: int, entropy: float, synthetic: bool, paper: Any | None, source: str) -> str:
    """One line: ferbench's entropy (marked synthetic) beside the paper's, with its table.

    >>> entropy_text(20, 7.51234, True, 7.811, "GEMax Table 3 (BU-3DFE)")
    'τ = 20: entropy 7.512 bits (ferbench, synthetic) | paper 7.811 bits (GEMax Table 3 (BU-3DFE))'
    """
    ours = f"τ = {int(tau)}: entropy {entropy:.3f} bits (ferbench{', synthetic' if synthetic else ''})"
    theirs = f"paper {paper} bits ({source})" if paper is not None else f"paper: no value for this τ ({source})"
    return f"{ours} | {theirs}"


@dataclass
class GEMaxView:
    """One GEMax map of a scan and its entropy beside the paper's.

    Attributes
    ----------
    tau
        Distortion bound used.
    map
        (H, W) uint8 levels (0 outside the ``d_dis`` block).
    entropy
        Entropy in bits of ``map`` over the block (the DP optimum).
    result
        The :class:`ferbench.maps.gemax.QuantizationResult` (``result.lut``: input -> output level).
    grid
        The preprocessed FaceGrid (reuse it for the next τ), or None for a depth image.
    synthetic
        True for synthetic data.
    paper_entropy, paper_source
        See :func:`paper_table3_entropy`.
    valid
        (H, W) bool: the face pixels inside the block.
    K, N
        Output and input levels.
    title
        ``"GEMax map, τ = 20, H = 7.512 bits (synthetic)"``.
    """

    tau: int
    map: np.ndarray
    entropy: float
    result: Any
    grid: Any
    synthetic: bool
    paper_entropy: Any | None
    paper_source: str
    valid: np.ndarray
    K: int = 256
    N: int = 4096
    title: str = ""

    def text(self) -> str:
        """See :func:`entropy_text`."""
        return entropy_text(self.tau, self.entropy, self.synthetic, self.paper_entropy, self.paper_source)


def _source(scan_or_depth, size: int):
    from ferbench.io.dataset import ScanRecord
    from ferbench.io.scan import Scan
    from ferbench.preprocess import preprocess_scan

    if isinstance(scan_or_depth, ScanRecord):
        scan_or_depth = scan_or_depth.load()
    if isinstance(scan_or_depth, Scan):
        return preprocess_scan(scan_or_depth, size=int(size))
    return scan_or_depth


def gemax_view(scan_or_depth, tau: int, size: int = 224, *, K: int = 256, N: int = 4096,
               d_dis_mm: float = 60.0) -> GEMaxView:
    """GEMax map of a scan's depth for one τ, with its entropy and GEMax Table 3's value for that τ.

    Parameters
    ----------
    scan_or_depth
        A Scan or ScanRecord (preprocessed at ``size``), a FaceGrid, or a 2-D depth image (mm, NaN = missing).
    tau
        Distortion bound (``K * tau >= N``, i.e. >= 16 for the defaults; ``tau >= N``: unconstrained).
    K, N, d_dis_mm
        As :func:`ferbench.maps.gemax.gemax_map`.
    """
    from ferbench.maps.gemax import tau_sweep
    from ferbench.preprocess import FaceGrid
    from ferbench.views.labels import title_label

    src = _source(scan_or_depth, size)
    sw = tau_sweep(src, [int(tau)], K=int(K), N=int(N), d_dis_mm=float(d_dis_mm))
    value, source = paper_table3_entropy(int(tau), int(N))
    ent = float(sw.entropies[0])
    synthetic = bool(sw.synthetic)
    return GEMaxView(tau=int(tau), map=sw.maps[0], entropy=ent, result=sw.results[0],
                     grid=src if isinstance(src, FaceGrid) else None, synthetic=synthetic, paper_entropy=value,
                     paper_source=source, valid=sw.valid, K=int(K), N=int(N),
                     title=title_label(f"GEMax map, τ = {int(tau)}, H = {ent:.3f} bits", synthetic))


@dataclass
class EntropyCurve:
    """Entropy versus τ of one scan, beside GEMax Table 3 (for a small plot).

    Attributes
    ----------
    taus, entropies
        ferbench's values (``tau = N`` is the unconstrained column).
    labels
        Tick labels (``"16"``, ..., ``"N"``).
    paper_entropies
        Table 3's value for each τ (NaN where it prints none), in bits.
    paper_source
        ``"GEMax Table 3 (BU-3DFE)"``.
    synthetic
        True for synthetic data.
    title
        With ``" (synthetic)"``.
    """

    taus: list[int]
    entropies: np.ndarray
    labels: list[str]
    paper_entropies: np.ndarray
    paper_source: str
    synthetic: bool
    title: str


def entropy_curve(scan_or_depth, taus: Sequence[int | str] = (16, 20, 30, 40, 50, 60), size: int = 224, *,
                  K: int = 256, N: int = 4096, d_dis_mm: float = 60.0) -> EntropyCurve:
    """Entropy of the GEMax map for each τ (one histogram; see :func:`ferbench.maps.gemax.tau_sweep`)."""
    from ferbench.maps.gemax import tau_sweep
    from ferbench.views.labels import title_label

    sw = tau_sweep(_source(scan_or_depth, size), taus, K=int(K), N=int(N), d_dis_mm=float(d_dis_mm))
    tl = [int(t) for t in sw.taus]
    paper = []
    source = ""
    for t in tl:
        v, source = paper_table3_entropy(t, N)
        paper.append(np.nan if v is None else float(v))
    return EntropyCurve(taus=tl, entropies=np.asarray(sw.entropies, dtype=np.float64),
                        labels=["N" if t >= N else str(t) for t in tl], paper_entropies=np.asarray(paper),
                        paper_source=source, synthetic=bool(sw.synthetic),
                        title=title_label("GEMax entropy versus τ", bool(sw.synthetic)))
