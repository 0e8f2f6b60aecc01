"""Confusion matrix of a ferbench run next to the paper's (same protocol, same class order), both
row-normalised to %, with their difference."""
from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from ferbench.labels import EXPRESSIONS
from ferbench.viz._common import (Display, VizError, canonical_order, load_results, paper_confusion, paper_source,
                                  reorder_matrix, results_confusion, results_detail, results_synthetic,
                                  row_normalise, run_source, short_labels, wrap_lines)


class ConfusionComparisonDisplay(Display):
    """ferbench's confusion matrix, the paper's, and ``ours - paper`` (percentage points).

    Parameters
    ----------
    ours
        Row-normalised % matrix of ferbench's run, in ``labels`` order.
    paper
        Row-normalised % matrix from the paper (same order), or ``None`` (only ours is drawn).
    labels
        Class names (ferbench order, :data:`ferbench.labels.EXPRESSIONS` by default).
    ours_source, paper_source
        Plain provenance labels (``"ferbench, synthetic data (dfcnn, P-I)"``,
        ``"paper: DF-CNN (Li et al. 2017), Table V"``), shown in the panel titles.

    Attributes
    ----------
    difference : numpy.ndarray or None
        ``ours - paper`` in percentage points.
    figure_, axes_, images_
        Set by :meth:`plot` (``axes_``: array of 1 or 3 Axes; see :class:`ferbench.viz._common.Display`).
    """

    def __init__(self, ours: np.ndarray, paper: np.ndarray | None = None,
                 labels: Sequence[str] = EXPRESSIONS, ours_source: str = "ferbench",
                 paper_source: str | None = None):
        self.ours = np.asarray(ours, dtype=np.float64)
        self.paper = None if paper is None else np.asarray(paper, dtype=np.float64)
        self.labels = [str(x) for x in labels]
        k = len(self.labels)
        if self.ours.shape != (k, k):
            raise VizError(f"ferbench matrix has shape {self.ours.shape}, expected ({k}, {k})")
        if self.paper is not None and self.paper.shape != (k, k):
            raise VizError(f"paper matrix has shape {self.paper.shape}, expected ({k}, {k})")
        self.ours_source = ours_source
        self.paper_source = paper_source or ("paper" if self.paper is not None else None)
        self.difference = None if self.paper is None else self.ours - self.paper

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_matrices(cls, ours, paper=None, *, labels: Sequence[Any] = EXPRESSIONS,
                      paper_labels: Sequence[Any] | None = None, normalize: bool = True,
                      synthetic: bool | None = None, ours_source: str | None = None,
                      paper_source: str | None = None) -> "ConfusionComparisonDisplay":
        """From matrices: ``ours`` as counts (row-normalised here when ``normalize``) or already in %;
        ``paper`` as printed (row-normalised %, NaN = not recoverable; used as is), reordered from
        ``paper_labels`` into ``labels``."""
        names = [str(x) for x in labels]
        o = row_normalise(ours) if normalize else np.asarray(ours, dtype=np.float64)
        p = None
        if paper is not None:
            p = np.asarray(paper, dtype=np.float64)
            if paper_labels is not None:
                p = reorder_matrix(p, paper_labels, names)
        return cls(o, p, names, ours_source or run_source(synthetic), paper_source)

    @classmethod
    def from_predictions(cls, y_true, y_pred, *, labels: Sequence[str] = EXPRESSIONS, paper_matrix=None,
                         paper_labels: Sequence[Any] | None = None, paper: str | None = None,
                         table: str | None = None, variant: str | None = None, synthetic: bool | None = None,
                         detail: str | None = None) -> "ConfusionComparisonDisplay":
        """From integer predictions (label = index into ``labels``), optionally against a paper's matrix
        given directly (``paper_matrix``) or looked up with ``paper``/``table`` in :mod:`ferbench.papers`."""
        yt = np.asarray(y_true).astype(np.int64).reshape(-1)
        yp = np.asarray(y_pred).astype(np.int64).reshape(-1)
        k = len(labels)
        if yt.shape != yp.shape:
            raise VizError(f"y_true has {yt.size} entries, y_pred {yp.size}")
        if yt.size and (min(yt.min(), yp.min()) < 0 or max(yt.max(), yp.max()) >= k):
            raise VizError(f"labels must lie in 0..{k - 1}")
        counts = np.bincount(yt * k + yp, minlength=k * k).reshape(k, k)
        psrc = None
        if paper_matrix is None and paper is not None:
            if table is None:
                raise VizError("give table= with paper=")
            paper_matrix, paper_labels = paper_confusion(paper, table, variant)
        if paper is not None:
            psrc = paper_source(paper, table, variant)
        return cls.from_matrices(counts, paper_matrix, labels=labels, paper_labels=paper_labels,
                                 ours_source=run_source(synthetic, detail), paper_source=psrc)

    @classmethod
    def from_view(cls, view) -> "ConfusionComparisonDisplay":
        """From a :class:`ferbench.views.ResultsView` (ours row-normalised %, the paper's, both labelled)."""
        return cls(np.asarray(view.confusion_percent, dtype=np.float64),
                   None if view.paper_confusion is None else np.asarray(view.paper_confusion, dtype=np.float64),
                   list(view.classes), view.ours_source, view.paper_source)

    @classmethod
    def from_run(cls, run, paper_table=None, *, paper: str | None = None) -> "ConfusionComparisonDisplay":
        """From a :class:`ferbench.eval.results.Run` (or folder) via :func:`ferbench.views.results_view`;
        ``paper_table`` = ``(table, variant)`` of the paper's matrix."""
        from ferbench.views.results import results_view

        return cls.from_view(results_view(run, paper_table, paper=paper))

    @classmethod
    def from_results(cls, results_dir: str | os.PathLike, paper: str | None = None, table: str | None = None,
                     variant: str | None = None) -> "ConfusionComparisonDisplay":
        """From a ferbench results folder (``results.json``: confusion counts, synthetic flag), against
        the paper's matrix for the same protocol when ``paper``/``table`` are given."""
        res = load_results(results_dir)
        counts, labels = results_confusion(res)
        names = canonical_order(labels)
        counts = reorder_matrix(counts, labels, names)
        pm = pl = psrc = None
        if paper is None and table is not None:
            paper = res.get("paper")
        if paper is not None:
            if table is None:
                raise VizError("give table= with paper=")
            pm, pl = paper_confusion(paper, table, variant)
            psrc = paper_source(paper, table, variant)
        return cls.from_matrices(counts, pm, labels=names, paper_labels=pl,
                                 ours_source=run_source(results_synthetic(res), results_detail(res)),
                                 paper_source=psrc)

    # ------------------------------------------------------------------ drawing
    def plot(self, ax=None, *, cmap: str = "Blues", diff_cmap: str = "RdBu_r", values_format: str = ".1f",
             colorbar: bool = False) -> "ConfusionComparisonDisplay":
        """Draw 1 panel (ours) or 3 panels (ours, paper, difference).

        Parameters
        ----------
        ax
            A sequence of axes (1 or 3), a Figure/SubFigure to lay the panels out in, or ``None`` for a
            new figure.
        """
        # (matrix, title, colormap, limits, what an empty panel says instead of drawing blank axes)
        panels: list[tuple[np.ndarray, str, str, tuple[float, float], str]] = [
            (self.ours, f"{self.ours_source}", cmap, (0.0, 100.0), "no predictions")]
        if self.paper is not None:
            lim = float(np.nanmax(np.abs(self.difference))) if np.isfinite(self.difference).any() else 1.0
            lim = max(lim, 1.0)
            panels += [(self.paper, f"{self.paper_source}", cmap, (0.0, 100.0),
                        "no cell of this matrix is in\nthe paper's text (figure image only):\nnothing transcribed"),
                       (self.difference, "difference: ferbench - paper (pp)", diff_cmap, (-lim, lim),
                        "no paper cell to compare")]
        fig, axes = self._grid_target(ax, figsize=(4.2 * len(panels), 4.0))
        if axes is None:
            axes = np.asarray(fig.subplots(1, len(panels), squeeze=False)[0], dtype=object)
        elif len(axes) != len(panels):
            raise VizError(f"need {len(panels)} axes, got {len(axes)}")
        ticks = short_labels(self.labels)
        k = len(self.labels)
        self.images_, self.texts_ = [], []
        for a, (m, title, cm, (vmin, vmax), empty) in zip(axes, panels):
            im = a.imshow(m, cmap=cm, vmin=vmin, vmax=vmax)
            self.images_.append(im)
            if not np.isfinite(m).any():
                a.text((k - 1) / 2, (k - 1) / 2, empty, ha="center", va="center", fontsize=8, color="0.35",
                       wrap=True)
            mid = (vmin + vmax) / 2
            for i in range(k):
                for j in range(k):
                    v = m[i, j]
                    txt = "" if not np.isfinite(v) else format(v, values_format)
                    dark = np.isfinite(v) and (abs(v - mid) > 0.3 * (vmax - vmin)) and (cm == cmap and v > mid
                                                                                        or cm != cmap)
                    self.texts_.append(a.text(j, i, txt, ha="center", va="center", fontsize=7,
                                              color="white" if dark else "black"))
            a.set_xticks(range(k), ticks)
            a.set_yticks(range(k), ticks)
            a.set_xlabel("predicted")
            a.set_ylabel("true")
            a.set_title(wrap_lines(title, 42), fontsize=9)
            if colorbar:
                fig.colorbar(im, ax=a, fraction=0.046)
        self.figure_, self.axes_ = fig, axes
        return self

    def summary_rows(self) -> list[list[Any]]:
        """Per class: diagonal of ours, of the paper, difference (for a report table)."""
        rows = []
        for i, c in enumerate(self.labels):
            p = None if self.paper is None else round(float(self.paper[i, i]), 2)
            d = None if self.paper is None else round(float(self.difference[i, i]), 2)
            rows.append([c, p, round(float(self.ours[i, i]), 2), d])
        return rows
