"""Per-expression accuracy: the paper's number (with its table) next to ferbench's (synthetic or real data)."""
from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np

from ferbench.labels import EXPRESSIONS
from ferbench.viz._common import (Display, VizError, as_class_dict, canonical_order, load_results, paper_overall,
                                  paper_per_class, paper_source,
                                  results_confusion, results_detail, results_synthetic, reorder_matrix, run_source,
                                  short_labels)


class AccuracyTableDisplay(Display):
    """Per-class accuracy (%) of ferbench and of the paper, with the mean over classes.

    Parameters
    ----------
    ours
        ``{expression: %}`` of ferbench's run.
    paper
        ``{expression: %}`` from the paper, or ``None``.
    labels
        Row order (ferbench's class order).
    ours_source, paper_source
        Provenance labels used as column headers and in the plot's legend.
    paper_mean
        The paper's overall accuracy (%) where it prints no per-expression values (shown in the
        ``mean`` row and as a dashed line); ignored when ``paper`` gives every class.

    Attributes
    ----------
    header : list of str
    figure_, ax_ : set by :meth:`plot` (see :class:`ferbench.viz._common.Display`).
    """

    def __init__(self, ours: dict[str, float], paper: dict[str, float] | None = None,
                 labels: Sequence[str] = EXPRESSIONS, ours_source: str = "ferbench",
                 paper_source: str | None = None, paper_mean: float | None = None):
        self.labels = [str(x) for x in labels]
        self.paper_mean = None if paper_mean is None else float(paper_mean)
        if paper is None and paper_mean is not None:
            paper = {}  # a paper column holding only the overall number
        self.ours = {k: float(v) for k, v in ours.items()}
        self.paper = None if paper is None else {k: float(v) for k, v in paper.items()}
        self.ours_source = ours_source
        self.paper_source = paper_source or ("paper" if paper is not None else None)
        missing = [c for c in self.labels if c not in self.ours]
        if missing:
            raise VizError(f"ferbench accuracy missing for {', '.join(missing)}")

    @property
    def header(self) -> list[str]:
        h = ["expression"]
        if self.paper is not None:
            h.append(f"{self.paper_source} (%)")
        h.append(f"{self.ours_source} (%)")
        if self.paper is not None:
            h.append("difference (pp)")
        return h

    def rows(self, digits: int = 2) -> list[list[Any]]:
        """Table rows (one per class, then ``mean``); missing paper cells are ``None``."""
        out = []
        ours = [self.ours[c] for c in self.labels]
        pap = [None if self.paper is None else self.paper.get(c) for c in self.labels]
        for c, o, p in zip(self.labels, ours, pap):
            row: list[Any] = [c]
            if self.paper is not None:
                row.append(None if p is None else round(p, digits))
            row.append(round(o, digits))
            if self.paper is not None:
                row.append(None if p is None else round(o - p, digits))
            out.append(row)
        mean_o = float(np.mean(ours))
        row = ["mean"]
        if self.paper is not None:
            ok = all(p is not None for p in pap)
            mean_p = float(np.mean(pap)) if ok else self.paper_mean
            row.append(None if mean_p is None else round(mean_p, digits))
        row.append(round(mean_o, digits))
        if self.paper is not None:
            row.append(None if mean_p is None else round(mean_o - mean_p, digits))
        out.append(row)
        return out

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_values(cls, ours, paper=None, *, labels: Sequence[str] = EXPRESSIONS, synthetic: bool | None = None,
                    ours_source: str | None = None, paper_source: str | None = None) -> "AccuracyTableDisplay":
        """From per-class values (dicts keyed by name/code/index, or sequences in ``labels`` order)."""
        return cls(as_class_dict(ours, labels), None if paper is None else as_class_dict(paper, labels), labels,
                   ours_source or run_source(synthetic), paper_source)

    @classmethod
    def from_predictions(cls, y_true, y_pred, *, labels: Sequence[str] = EXPRESSIONS, paper_values=None,
                         paper: str | None = None, table: str | None = None, row: str | None = None,
                         synthetic: bool | None = None, detail: str | None = None) -> "AccuracyTableDisplay":
        """Per-class recall (%) of integer predictions; paper values given directly or looked up."""
        yt = np.asarray(y_true).astype(np.int64).reshape(-1)
        yp = np.asarray(y_pred).astype(np.int64).reshape(-1)
        if yt.shape != yp.shape:
            raise VizError(f"y_true has {yt.size} entries, y_pred {yp.size}")
        ours = {}
        for i, c in enumerate(labels):
            sel = yt == i
            ours[c] = float(100.0 * (yp[sel] == i).mean()) if sel.any() else float("nan")
        pv = None if paper_values is None else as_class_dict(paper_values, labels)
        if pv is None and paper is not None:
            if table is None:
                raise VizError("give table= with paper=")
            pv = paper_per_class(paper, table, row)
        psrc = paper_source(paper, table, row) if paper is not None else None
        return cls(ours, pv, labels, run_source(synthetic, detail), psrc)

    @classmethod
    def from_view(cls, view) -> "AccuracyTableDisplay":
        """From a :class:`ferbench.views.ResultsView`: per-class recall (%) beside the paper's values."""
        return cls(dict(view.per_class_accuracy), None if view.paper_per_class is None else dict(view.paper_per_class),
                   list(view.classes), view.ours_source, view.paper_accuracy_source, paper_mean=view.paper_overall)

    @classmethod
    def from_run(cls, run, accuracy_table=None, *, paper: str | None = None,
                 paper_table=None) -> "AccuracyTableDisplay":
        """From a :class:`ferbench.eval.results.Run` (or folder) via :func:`ferbench.views.results_view`;
        ``accuracy_table`` = ``(table, row, column)`` (see there)."""
        from ferbench.views.results import results_view

        return cls.from_view(results_view(run, paper_table, paper=paper, accuracy_table=accuracy_table))

    @classmethod
    def from_results(cls, results_dir: str | os.PathLike, paper: str | None = None, table: str | None = None,
                     row: str | None = None, column: str | None = None) -> "AccuracyTableDisplay":
        """From a ferbench results folder (``per_class_accuracy``, else the confusion counts).

        ``paper``/``table``/``row`` name the paper's per-expression values (a confusion matrix's
        diagonal or a per-class table row); with ``column`` they name one cell holding the paper's
        overall accuracy instead, for papers that print no per-expression values.
        """
        res = load_results(results_dir)
        try:  # exact recall from the pooled confusion counts
            counts, labels = results_confusion(res)
            names = canonical_order(labels)
            counts = reorder_matrix(counts, labels, names)
            with np.errstate(invalid="ignore", divide="ignore"):
                ours = dict(zip(names, (100.0 * np.diag(counts) / counts.sum(1)).tolist()))
        except VizError:
            pc = res.get("per_class_accuracy")
            if pc is None:
                raise
            names = canonical_order(list(pc))
            ours = as_class_dict(pc, names)
            ours = {k: 100.0 * v for k, v in ours.items()}    # the results schema stores fractions
        pv, pmean = None, None
        if paper is None and table is not None:
            paper = res.get("paper")
        if paper is not None:
            if table is None:
                raise VizError("give table= with paper=")
            if column is not None:  # the paper prints only an overall accuracy: one cell of a table
                pmean = paper_overall(paper, table, row, column)
            else:
                pv = paper_per_class(paper, table, row)
        src = None
        if paper is not None:
            src = paper_source(paper, table, row) + (f", {column}" if column is not None else "")
        return cls(ours, pv, names, run_source(results_synthetic(res), results_detail(res)), src, paper_mean=pmean)

    # ------------------------------------------------------------------ drawing
    def plot(self, ax=None, *, width: float = 0.38) -> "AccuracyTableDisplay":
        """Grouped bars per expression (paper vs ferbench), values printed on the bars.

        Parameters
        ----------
        ax
            A matplotlib Axes (or a Figure to add one to); ``None`` draws in a new figure.
        """
        fig, ax = self._single_axes(ax, (7.5, 4.0))
        x = np.arange(len(self.labels))
        ours = np.array([self.ours[c] for c in self.labels])
        series = []
        pap = None
        if self.paper is not None:
            pap = np.array([self.paper.get(c, np.nan) for c in self.labels], dtype=float)
            series.append((pap, self.paper_source, "#999999", -width / 2))
            series.append((ours, self.ours_source, "#1f77b4", width / 2))
        else:
            series.append((ours, self.ours_source, "#1f77b4", 0.0))
        # without per-class paper values the paper's overall number is drawn as a line instead of bars
        paper_bars = pap is not None and bool(np.isfinite(pap).any())
        self.bars_ = []
        for vals, label, color, off in series:
            if vals is pap and not paper_bars:
                continue
            b = ax.bar(x + off, np.nan_to_num(vals), width, label=label, color=color)
            ax.bar_label(b, labels=["" if not np.isfinite(v) else f"{v:.1f}" for v in vals], fontsize=7)
            self.bars_.append(b)
        if self.paper_mean is not None and not paper_bars:
            ax.axhline(self.paper_mean, ls="--", color="#666666",
                       label=f"{self.paper_source}: overall {self.paper_mean:.2f}")
        ours_mean = float(np.nanmean(ours))
        ax.axhline(ours_mean, ls=":", color="#1f77b4", lw=1,
                   label=f"{self.ours_source}: mean over expressions {ours_mean:.1f}")
        ax.set_xticks(x, short_labels(self.labels))
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 110)
        # the legend goes below the axes, where it hides no bar (inside it covered HA/SA/SU)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=1, frameon=False)
        from ferbench.viz._common import axes_width_in, wrap_title

        ax.set_title(wrap_title("per-expression accuracy: " + " vs ".join(s[1] for s in series), axes_width_in(ax), 9),
                     fontsize=9)
        self.figure_, self.ax_ = fig, ax
        return self
