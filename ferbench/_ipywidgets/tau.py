"""TauSlider: the GEMax map of one scan, recomputed live as the distortion bound τ moves.

The exact DP runs in about 15 ms at N = 4096, K = 256, τ <= 60, so every slider move recomputes the map.
τ = N (unconstrained; about 1 s with the monotone DP) is left out of the slider so that dragging stays
live; its paper entropy is still listed and ``tau_view(grid, 4096)`` computes it. The logic is :func:`tau_view`; the panel only wires widgets to it.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import ipywidgets as widgets

from ferbench._ipywidgets._common import banner, new_figure, set_banner, show_figure, to_grid
from ferbench.views.labels import title_label

PAPER_TABLE = "GEMax-FA Table 3 (BU-3DFE, real data)"


class TauView(NamedTuple):
    """What the slider shows for one τ: the uint8 map, its entropy (bits, face pixels in the block),
    the :class:`~ferbench.maps.gemax.QuantizationResult`, whether the scan is synthetic, and the block mask
    (the face pixels within ``d_dis`` of the nose tip; the map is 0 elsewhere)."""

    map: np.ndarray
    entropy: float
    result: object
    synthetic: bool
    valid: np.ndarray


def tau_view(scan_or_grid, tau: int, d_dis_mm: float = 60.0, K: int = 256, N: int = 4096,
             size: int = 112) -> TauView:
    """GEMax map and entropy of one scan for one τ: :func:`ferbench.views.gemax_view` as a :class:`TauView`.

    Parameters
    ----------
    scan_or_grid
        A Scan, ScanRecord, FaceGrid (preprocessed once by the panel), or a 2-D depth image (mm).
    tau
        Distortion bound: at most ``tau`` of the N input levels merge into one output level
        (feasible for ``tau >= N / K`` = 16 at the defaults).
    d_dis_mm
        Depth of the block kept behind the nose tip (paper: 60 mm).
    K, N
        Output and input levels.
    size
        Grid side when a Scan must be preprocessed first.

    Returns
    -------
    TauView
        Unpacks as ``(map, entropy, result, synthetic, valid)``.
    """
    from ferbench.views.gemax import gemax_view

    src = scan_or_grid if isinstance(scan_or_grid, np.ndarray) else to_grid(scan_or_grid, size)
    v = gemax_view(src, int(tau), K=K, N=N, d_dis_mm=float(d_dis_mm))
    return TauView(v.map, v.entropy, v.result, v.synthetic, v.valid)


def paper_entropies() -> dict[str, float]:
    """The paper's entropies by τ (``"16"`` ... ``"60"``, ``"N"``): :func:`ferbench.views.paper_table3_entropies`
    (empty if the paper data are unavailable)."""
    from ferbench.views.gemax import paper_table3_entropies

    try:
        return paper_table3_entropies()
    except Exception:  # noqa: BLE001 - the panel works without the paper's numbers
        return {}


def paper_label(tau: int | None = None) -> str:
    """One line with the paper's entropies, the current τ in brackets, e.g. ``"paper, GEMax-FA Table 3 ...: [20: 7.811] ..."``."""
    ent = paper_entropies()
    if not ent:
        return "paper entropies unavailable"
    cells = []
    for k, v in ent.items():
        cell = f"{k}: {float(v):.3f}"
        cells.append(f"[{cell}]" if tau is not None and k == str(int(tau)) else cell)
    return f"paper, {PAPER_TABLE}, entropy (bits) by τ: " + ", ".join(cells)


class TauSlider:
    """An IntSlider for τ (and one for the block depth d_dis) redrawing the GEMax map and its entropy.

    Parameters
    ----------
    scan_or_grid
        A Scan, ScanRecord or FaceGrid (a Scan is preprocessed once at ``size``).
    tau
        Initial τ.
    tau_range
        ``(min, max)`` of the slider; the minimum must satisfy ``K * min >= N``.
    size
        Grid side used to preprocess a Scan.

    Attributes
    ----------
    widget : ipywidgets.VBox
    slider, d_dis : ipywidgets.IntSlider
    label : ipywidgets.HTML
        ferbench's entropy (labelled synthetic/real) and the paper's Table 3 entropies.
    view : TauView
        The current result.
    history : dict of int -> float
        Entropy of every τ shown so far (at the current d_dis).
    """

    def __init__(self, scan_or_grid, tau: int = 20, tau_range: tuple[int, int] = (16, 60), size: int = 112,
                 d_dis_mm: int = 60, K: int = 256, N: int = 4096):
        self.grid = to_grid(scan_or_grid, size)
        self.K, self.N = int(K), int(N)
        lo, hi = int(tau_range[0]), int(tau_range[1])
        if self.K * lo < self.N:
            raise ValueError(f"tau_range starts at {lo}, infeasible: K*tau = {self.K * lo} < N = {self.N}")
        self.slider = widgets.IntSlider(value=int(tau), min=lo, max=hi, step=1, description="τ",
                                        continuous_update=True)
        self.d_dis = widgets.IntSlider(value=int(d_dis_mm), min=50, max=140, step=10, description="d_dis (mm)",
                                       continuous_update=False)
        self.label = widgets.HTML()
        self.source = banner(None)
        self.output = widgets.Output()
        self.history: dict[int, float] = {}
        self.view: TauView | None = None
        self.widget = widgets.VBox([widgets.HBox([self.slider, self.d_dis]), self.source, self.label, self.output])
        self.slider.observe(self._changed, names="value")
        self.d_dis.observe(self._d_changed, names="value")
        self.update()

    def _changed(self, change) -> None:
        self.update()

    def _d_changed(self, change) -> None:
        self.history.clear()
        self.update()

    def update(self) -> None:
        """Recompute the map for the current τ and d_dis and redraw."""
        tau = int(self.slider.value)
        v = tau_view(self.grid, tau, d_dis_mm=float(self.d_dis.value), K=self.K, N=self.N)
        self.view = v
        self.history[tau] = v.entropy
        set_banner(self.source, v.synthetic)
        src = "synthetic data" if v.synthetic else "real data"
        self.label.value = (f"<b>ferbench ({src}): τ = {tau}, d_dis = {self.d_dis.value} mm, "
                            f"H = {v.entropy:.3f} bits</b><br>{paper_label(tau)}")
        fig = new_figure(8.0, 3.3, layout=None)      # fixed margins: the redraw stays quick while dragging
        fig.subplots_adjust(left=0.01, right=0.98, bottom=0.14, top=0.9, wspace=0.25)
        ax_map, ax_lut = fig.subplots(1, 2, width_ratios=[1, 1.3])
        ax_map.imshow(v.map, cmap="gray", vmin=0, vmax=self.K - 1)
        ax_map.set_title(title_label(f"GEMax map, τ = {tau}, H = {v.entropy:.3f} bits", v.synthetic), fontsize=9)
        ax_map.axis("off")
        ax_lut.plot(np.arange(self.N), v.result.lut, lw=1.2, label=f"GEMax LUT, τ = {tau}")
        ax_lut.plot([0, self.N - 1], [0, self.K - 1], "--", color="gray", lw=0.8, label="uniform (τ = N/K)")
        ax_lut.set_xlabel("input level (N = %d, nose = N-1)" % self.N, fontsize=8)
        ax_lut.set_ylabel("output level", fontsize=8)
        ax_lut.legend(fontsize=7, loc="upper left")
        ax_lut.set_title("input → output levels (" + ("synthetic" if v.synthetic else "real") + " scan)", fontsize=9)
        show_figure(self.output, fig)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
