"""Displays of attribute maps and GEMax tau sweeps (scikit-learn style: ``from_*`` then ``plot``).

* :class:`MapGridDisplay`: every attribute map of one scan in a grid.
* :class:`TauSweepDisplay`: GEMax maps for several tau plus entropy versus tau, with the paper's
  Table 3 entropies (BU-3DFE, real data) marked beside ferbench's.

Titles say "synthetic" when the scan is synthetic. matplotlib is imported only when drawing.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ferbench.viz._common import Display


def _is_synthetic(obj) -> bool:
    meta = getattr(obj, "meta", None)
    return bool(meta is not None and getattr(meta, "synthetic", False))


class MapGridDisplay(Display):
    """All attribute maps of one scan, one panel each.

    Attributes (after ``plot``)
    ---------------------------
    figure_, axes_ : the matplotlib figure and the array of axes (see :class:`ferbench.viz._common.Display`).
    """

    def __init__(self, maps: dict[str, np.ndarray], synthetic: bool = False, title: str | None = None,
                 missing: dict[str, str] | None = None):
        if not maps:
            raise ValueError("no maps to display")
        self.maps = maps
        self.synthetic = bool(synthetic)
        self.title = title
        self.missing = dict(missing or {})  # name -> why it could not be computed (drawn as a text panel)

    @classmethod
    def from_view(cls, view) -> "MapGridDisplay":
        """From a :class:`ferbench.views.ScanMapsView` (the maps it holds, its synthetic flag)."""
        disp = cls(view.arrays(), synthetic=view.synthetic, title=f"Attribute maps {view.label}")
        disp.view = view
        return disp

    @classmethod
    def from_scan(cls, scan, names: Sequence[str] | None = None, size: int = 224, **options: Any) -> "MapGridDisplay":
        """Compute the maps of a Scan or FaceGrid (see :func:`ferbench.maps.compute_maps`)."""
        from ferbench.maps import compute_maps, missing_map_reasons

        maps = compute_maps(scan, names=names, size=size, **options)
        missing = {} if names is not None else {n: why for n, why in missing_map_reasons(scan).items()
                                                if n not in maps}
        meta = getattr(scan, "meta", None)
        subject = getattr(meta, "subject", None) if meta is not None else None
        expr = getattr(meta, "expression", None) if meta is not None else None
        label = " ".join(str(s) for s in (subject, expr) if s)
        return cls(maps, synthetic=_is_synthetic(scan), title=f"Attribute maps {label}".strip(), missing=missing)

    def plot(self, ax=None, *, ncols: int | None = None, fig=None) -> "MapGridDisplay":
        """Draw one panel per map.

        Parameters
        ----------
        ax
            A Figure/SubFigure to lay the grid out in, an array of at least one Axes per map, or ``None``
            for a new figure.
        ncols
            Columns of the grid (at most 5 by default).
        fig
            Deprecated alias of ``ax`` (a Figure).
        """
        names = list(self.maps) + [m for m in self.missing if m not in self.maps]
        n = len(names)
        ncols = ncols or min(n, 5)
        nrows = -(-n // ncols)
        fig, axes = self._grid_target(ax, fig, figsize=(max(2.6 * ncols, 3.2), 2.6 * nrows + 0.5), need=n)
        if axes is None:
            axes = np.asarray(fig.subplots(nrows, ncols, squeeze=False), dtype=object).ravel()
        for a, name in zip(axes, names):
            if name not in self.maps:  # a map that could not be computed says why
                import textwrap

                a.text(0.5, 0.5, "\n".join(textwrap.wrap(f"missing: {self.missing[name]}", 26)), ha="center",
                       va="center", fontsize=7, transform=a.transAxes)
                a.set_title(name, fontsize=9)
                a.axis("off")
                continue
            m = self.maps[name]
            if m.ndim == 3 and m.shape[-1] == 3:
                a.imshow(np.clip(m, 0, 1))
            else:
                a.imshow(m, cmap="gray", vmin=0, vmax=1)
            a.set_title(name, fontsize=9)
            a.axis("off")
        for a in axes[n:]:
            a.axis("off")
        from ferbench.viz._common import figure_width_in, wrap_title

        fig.suptitle(wrap_title(self._title(self.title or "Attribute maps", self.synthetic), figure_width_in(fig), 11),
                     fontsize=11)
        self.figure_, self.axes_ = fig, axes
        return self


class TauSweepDisplay(Display):
    """GEMax maps for several tau and the entropy-versus-tau curve beside the paper's Table 3.

    Attributes (after ``plot``)
    ---------------------------
    figure_, axes_ : figure and array of axes (maps first, the entropy plot last).
    """

    def __init__(self, result, paper_entropies: dict[str, float] | None = None):
        self.result = result
        self.paper_entropies = paper_entropies

    @classmethod
    def from_scan(cls, scan, taus: Sequence[int | str] = (16, 20, 30, 40, 50, 60), **kwargs: Any) -> "TauSweepDisplay":
        """Run :func:`ferbench.maps.gemax.tau_sweep` on a Scan, FaceGrid or depth image."""
        from ferbench.maps.gemax import tau_sweep

        res = tau_sweep(scan, taus, **kwargs)
        from ferbench.views.gemax import paper_table3_entropies

        try:
            paper = paper_table3_entropies()
        except Exception:  # noqa: BLE001 - the paper data are optional for the figure
            paper = None
        return cls(res, paper_entropies=paper)

    def plot(self, ax=None, *, fig=None) -> "TauSweepDisplay":
        """Draw the maps in a row and the entropy plot at the right.

        Parameters
        ----------
        ax
            A Figure/SubFigure to lay the row out in, an array of at least ``len(taus) + 1`` Axes (maps,
            then the entropy plot), or ``None`` for a new figure.
        fig
            Deprecated alias of ``ax`` (a Figure).
        """
        r = self.result
        n = len(r.taus)
        fig, axes = self._grid_target(ax, fig, figsize=(2.4 * n + 4.5, 3.2), need=n + 1)
        if axes is None:
            gs = fig.add_gridspec(1, n + 2)
            axes = np.asarray([fig.add_subplot(gs[0, i]) for i in range(n)] + [fig.add_subplot(gs[0, n:])],
                              dtype=object)
        N = r.params.get("N", 4096)
        for a, t, m in zip(axes, r.taus, r.maps):
            a.imshow(m, cmap="gray", vmin=0, vmax=255)
            a.set_title(("τ = N" if t >= N else f"τ = {t}") + f"\nH = {r.entropies[list(r.taus).index(t)]:.3f}",
                        fontsize=9)
            a.axis("off")
        ae = axes[n]
        xs = np.arange(n)
        lab = f"ferbench, {'synthetic' if r.synthetic else 'real'} data"
        ae.plot(xs, r.entropies, "o-", label=lab)
        if self.paper_entropies:
            px, py = [], []
            for i, t in enumerate(r.taus):
                key = "N" if t >= N else str(t)
                if key in self.paper_entropies:
                    px.append(i)
                    py.append(self.paper_entropies[key])
            if px:
                ae.plot(px, py, "s--", color="gray", label="paper: GEMax-FA, Table 3 (BU-3DFE)")
        ae.set_xticks(xs)
        ae.set_xticklabels(["N" if t >= N else str(t) for t in r.taus])
        ae.set_xlabel("τ")
        ae.set_ylabel("entropy (bits, face pixels)")
        ae.legend(fontsize=8)
        ae.grid(alpha=0.3)
        fig.suptitle(self._title("GEMax tau sweep", r.synthetic))
        self.figure_, self.axes_ = fig, axes
        return self
