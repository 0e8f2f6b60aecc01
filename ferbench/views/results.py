"""A run's results beside a paper's table: confusion, per-class accuracy, difference, chance test."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

__all__ = ["ResultsView", "results_view", "paper_comparisons"]


@dataclass
class ResultsView:
    """What the report, the notebook panel and napari show of a run's results.

    Attributes
    ----------
    run_path
        The results folder.
    classes
        Class names, ferbench order (the six expressions, then neutral when present).
    confusion
        (k, k) counts, rows = true class.
    confusion_percent
        Row-normalised % (NaN for an empty row).
    per_class_accuracy
        Class -> recall in % (from the counts).
    paper, paper_source
        Paper key and a label such as ``"paper: DF-CNN (Li et al. 2017), Table V"`` (None without a table).
    paper_confusion
        The paper's row-normalised % in ``classes`` order (NaN = not printed), or None.
    confusion_difference
        ``confusion_percent - paper_confusion`` (percentage points), or None.
    paper_per_class
        Class -> the paper's per-class % (its matrix's diagonal or a per-class table row), or None.
    per_class_difference
        Class -> ours - paper (points), or None.
    paper_overall
        The paper's overall accuracy (%) where it prints no per-class values, or None.
    paper_accuracy_source
        Label of the paper's per-class / overall values (None without them).
    summary
        :class:`ferbench.eval.results.RunSummary` (accuracy, Wilson CI, p against chance).
    synthetic
        True for synthetic data.
    ours_source
        ``"ferbench, synthetic data (model, protocol)"``.
    title
        With ``" (synthetic)"``.
    """

    run_path: str
    classes: list[str]
    confusion: np.ndarray
    confusion_percent: np.ndarray
    per_class_accuracy: dict[str, float]
    paper: str | None
    paper_source: str | None
    paper_confusion: np.ndarray | None
    confusion_difference: np.ndarray | None
    paper_per_class: dict[str, float] | None
    per_class_difference: dict[str, float] | None
    paper_overall: float | None
    paper_accuracy_source: str | None
    summary: Any
    synthetic: bool
    ours_source: str
    title: str


def _row_percent(c: np.ndarray) -> np.ndarray:
    s = c.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s > 0, 100.0 * c / np.where(s > 0, s, 1.0), np.nan)


def results_view(run, paper_table: Sequence[Any] | None = None, *, paper: str | None = None,
                 accuracy_table: Sequence[Any] | None = None) -> ResultsView:
    """The run's pooled confusion and per-class accuracy beside a paper's.

    Parameters
    ----------
    run
        A :class:`~ferbench.eval.results.Run` or a results folder.
    paper_table
        ``(table, variant)`` (or ``(table,)``) of the paper's confusion matrix, e.g. ``("V", None)``.
    paper
        Paper key (default: the run's recorded paper).
    accuracy_table
        ``(table, row, column)`` of the paper's per-class values (``column=None``), or one cell holding its
        overall accuracy for papers that print no per-class values. Default: the confusion matrix's diagonal.
    """
    from ferbench.eval.results import Run, open_run
    from ferbench.viz._common import (canonical_order, paper_confusion, paper_overall, paper_per_class,
                                      paper_source, reorder_matrix, results_confusion, results_detail, run_source)
    from ferbench.views.labels import title_label

    run = run if isinstance(run, Run) else open_run(run)
    res = run.results
    counts, labels = results_confusion(res)
    names = canonical_order(labels)
    counts = reorder_matrix(counts, labels, names)
    pct = _row_percent(counts)
    ours_pc = dict(zip(names, np.diag(pct).tolist()))
    paper = paper or (run.paper if (paper_table or accuracy_table) else None)
    pm = diff = ppc = pcd = pov = None
    psrc = asrc = None
    if paper and paper_table:
        table, variant = (tuple(paper_table) + (None,))[:2]
        m, plabels = paper_confusion(paper, table, variant)
        pm = reorder_matrix(m, plabels, names)
        diff = pct - pm
        psrc = paper_source(paper, table, variant)
        if not accuracy_table:
            ppc, asrc = dict(zip(names, np.diag(pm).tolist())), psrc
    if paper and accuracy_table:
        table, row, column = (tuple(accuracy_table) + (None, None))[:3]
        if column is not None:
            pov = paper_overall(paper, table, row, column)
        else:
            got = paper_per_class(paper, table, row)
            ppc = {c: float(got.get(c, np.nan)) for c in names}
        asrc = paper_source(paper, table, row) + (f", {column}" if column is not None else "")
    if ppc is not None:
        pcd = {c: ours_pc[c] - ppc.get(c, np.nan) for c in names}
    synthetic = run.synthetic
    return ResultsView(run_path=str(run.path), classes=names, confusion=counts, confusion_percent=pct,
                       per_class_accuracy=ours_pc, paper=paper, paper_source=psrc, paper_confusion=pm,
                       confusion_difference=diff, paper_per_class=ppc, per_class_difference=pcd,
                       paper_overall=pov, paper_accuracy_source=asrc, summary=run.summary() if run.has_results() else None,
                       synthetic=synthetic, ours_source=run_source(synthetic, results_detail(res)),
                       title=title_label(f"{res.get('model', run.name)} under {res.get('protocol', '?')}", synthetic))


def paper_comparisons(paper: str | None) -> list[tuple[str, tuple]]:
    """The paper's confusion matrices a run can be drawn beside: ``[(label, (table, variant)), ...]``.

    Labels read ``"Table V"`` or ``"Fig. 4 (P-I)"``; an unknown or missing paper gives ``[]``. Each choice is
    the ``paper_table`` argument of :func:`results_view`.
    """
    from ferbench.papers import PAPERS, list_confusion_matrices

    if paper not in PAPERS:
        return []
    return [(_table_name(tid) + (f" ({variant})" if variant else ""), (tid, variant))
            for _, tid, variant in list_confusion_matrices(paper)]


def _table_name(tid: str) -> str:
    """A paper's table or figure id as a label: ``"IV"`` -> ``"Table IV"``, ``"fig4"`` -> ``"Fig. 4"``."""
    return f"Fig. {tid[3:]}" if tid.lower().startswith("fig") else f"Table {tid}"
