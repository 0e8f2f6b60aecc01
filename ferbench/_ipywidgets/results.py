"""ResultsPanel: a results folder of ``ferbench.eval.commands.train`` beside the paper's numbers.

Shows :class:`~ferbench.viz.ConfusionComparisonDisplay` (ferbench's row-normalised confusion matrix, the
paper's, their difference) and :class:`~ferbench.viz.AccuracyTableDisplay` (per-expression accuracy), each
panel labelled with its source: "ferbench, synthetic data (...)" or the paper's table. The logic is
:func:`find_results`, :func:`comparison_options` and :func:`results_view`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import ipywidgets as widgets

from ferbench._ipywidgets._common import banner, new_figure, set_banner, show_figure, show_text

NONE = "none (ferbench only)"


class ResultsView(NamedTuple):
    """The two displays of one run (unplotted), its results dict, and problems met on the way."""

    confusion: object
    accuracy: object
    results: dict
    notes: list


def find_results(root: str | os.PathLike) -> list[Path]:
    """Results folders under ``root`` (``root`` itself if it is one), sorted: :func:`ferbench.eval.results.list_runs`."""
    from ferbench.eval.results import list_runs

    return [r.path for r in list_runs(root)]


def comparison_options(paper: str | None) -> tuple[list[tuple[str, tuple]], list[tuple[str, tuple]]]:
    """Dropdown options for the paper's confusion matrix and per-expression accuracies of ``paper``.

    Returns
    -------
    (confusion, accuracy)
        Lists of ``(label, (table_id, variant_or_row))``; each starts with ``("none (ferbench only)", ())``.
        Confusion: every stored confusion matrix of the paper. Accuracy: the diagonals of those matrices and
        every row of the tables with per-expression columns.
    """
    from ferbench.papers import PAPERS, list_tables, table
    from ferbench.views.results import paper_comparisons

    conf: list[tuple[str, tuple]] = [(NONE, ())]
    acc: list[tuple[str, tuple]] = [(NONE, ())]
    if paper not in PAPERS:
        return conf, acc
    for lab, choice in paper_comparisons(paper):
        conf.append((lab, choice))
        acc.append((lab + ", diagonal", choice))
    for _, tid, _caption in list_tables(paper):
        t = table(paper, tid)
        if t.extra.get("per_class_columns") and not t.extra.get("confusion_matrices"):
            for row in t.row_labels:
                acc.append((f"{_tname(tid)}: {row}", (tid, row)))
    return conf, acc


def _tname(tid: str) -> str:
    from ferbench.views.results import _table_name

    return _table_name(tid)


def default_comparison(paper: str | None) -> tuple[tuple, tuple]:
    """The (confusion, accuracy) choices :mod:`ferbench.demo` uses for ``paper`` (``()`` = none)."""
    try:
        from ferbench.demo import PLANS
    except Exception:  # noqa: BLE001 - the demo module is optional for this panel
        return (), ()
    plan = PLANS.get(paper or "")
    if plan is None:
        return (), ()
    return (tuple(plan.confusion) if plan.confusion else ()), (tuple(plan.accuracy) if plan.accuracy else ())


def results_view(results_dir: str | os.PathLike, confusion: tuple = (), accuracy: tuple = (),
                 paper: str | None = None) -> ResultsView:
    """The confusion-matrix comparison and accuracy table of a results folder, against the paper's numbers.

    Both displays are drawn from one :func:`ferbench.views.results_view` (the report uses the same).

    Parameters
    ----------
    results_dir
        A results folder or :class:`ferbench.eval.results.Run`.
    confusion
        ``(table_id, variant)`` of the paper's confusion matrix, or ``()`` for ferbench's only.
    accuracy
        ``(table_id, row_or_variant[, column])`` of the paper's per-expression accuracies, or ``()``.
    paper
        Paper key; default the ``paper`` recorded in results.json.

    Returns
    -------
    ResultsView
        ``confusion`` and ``accuracy`` displays (not yet plotted), the results dict, and ``notes``: why a
        paper comparison was dropped (e.g. the paper's classes differ from the run's).
    """
    from ferbench.eval.results import Run, open_run
    from ferbench.views.results import results_view as core_view
    from ferbench.viz import AccuracyTableDisplay, ConfusionComparisonDisplay

    run = results_dir if isinstance(results_dir, Run) else open_run(results_dir)
    paper = paper or run.paper
    notes: list[str] = []
    cview = aview = None
    if confusion and paper:
        try:
            cview = core_view(run, confusion, paper=paper)
        except Exception as exc:  # noqa: BLE001 - e.g. the paper's matrix has other classes
            notes.append(f"paper confusion matrix {paper} {_tname(confusion[0])} not compared: {exc}")
    if accuracy and paper:
        try:
            aview = core_view(run, None, paper=paper, accuracy_table=accuracy)
        except Exception as exc:  # noqa: BLE001
            notes.append(f"paper accuracies {paper} {_tname(accuracy[0])} not compared: {exc}")
    plain = core_view(run) if cview is None or aview is None else None
    cm = ConfusionComparisonDisplay.from_view(cview or plain)
    acc = AccuracyTableDisplay.from_view(aview or plain)
    return ResultsView(cm, acc, run.results, notes)


def summary_text(res) -> str:
    """One line: model, protocol, pooled accuracy (labelled synthetic/real), chance, initialisation.

    ``res`` is a :class:`ferbench.eval.results.Run` or its results dict.
    """
    from ferbench.eval.results import normalise_results

    res = normalise_results(getattr(res, "results", res))
    label = "synthetic" if res.get("synthetic") else ("real" if res.get("synthetic") is False else "unknown")
    acc = res.get("accuracy")
    acc_s = f"{100 * float(acc):.1f} %" if acc is not None else "n/a"
    n_cls = len(res.get("classes") or []) or 6
    ct = res.get("chance_test") or {}
    evidence = ""
    if ct.get("n"):
        lo, hi = ct["ci95"]
        evidence = f"; {ct['n']} scans of the first round: 95 % CI {100 * lo:.1f}-{100 * hi:.1f} %, p = {ct['p_value']:.2g}"
    return (f"ferbench, {label} data: {res.get('model')} under {res.get('protocol')}: pooled accuracy {acc_s} "
            f"on held-out subjects ({res.get('n_splits_done', '?')} split(s); chance {100 / n_cls:.1f} %{evidence}; "
            f"{res.get('init_note', 'random initialisation')})")


class ResultsPanel:
    """Pick a results folder and the paper's numbers to compare with; shows both displays.

    Parameters
    ----------
    root
        A results folder, or a folder searched for results folders (e.g. the ``out_dir`` given to ``train``).

    Attributes
    ----------
    widget : ipywidgets.VBox
    run, confusion, accuracy : ipywidgets.Dropdown
    summary : ipywidgets.HTML
    output : ipywidgets.Output
    view : ResultsView or None
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.view: ResultsView | None = None
        runs = find_results(self.root)
        self.run = widgets.Dropdown(options=[(_run_label(p, self.root), str(p)) for p in runs],
                                    description="run", layout=widgets.Layout(width="70%"))
        self.confusion = widgets.Dropdown(description="paper CM", layout=widgets.Layout(width="70%"))
        self.accuracy = widgets.Dropdown(description="paper acc.", layout=widgets.Layout(width="70%"))
        self.source = banner(None)
        self.summary = widgets.HTML()
        self.output = widgets.Output()
        self.widget = widgets.VBox([self.run, self.confusion, self.accuracy, self.source, self.summary, self.output])
        self._busy = False
        self.run.observe(self._run_changed, names="value")
        self.confusion.observe(self._changed, names="value")
        self.accuracy.observe(self._changed, names="value")
        if runs:
            self._run_changed(None)
        else:
            self.summary.value = (f"<i>No results folder under {self.root} yet: train a model with "
                                  "<code>ferbench.eval.commands.train</code> (or <code>ferbench train</code> / "
                                  "<code>ferbench demo</code>) and point this panel at its output folder.</i>")

    def _run_changed(self, change) -> None:
        if not self.run.value:
            return
        from ferbench.errors import FerbenchError
        from ferbench.eval.results import Run

        try:
            paper = Run(self.run.value).paper
        except FerbenchError:
            paper = None
        conf, acc = comparison_options(paper)
        dconf, dacc = default_comparison(paper)
        self._busy = True
        try:
            self.confusion.options = conf
            self.accuracy.options = acc
            if len(dacc) == 3:  # the demo compares with one overall-accuracy cell of a table
                acc = acc + [(f"{_tname(dacc[0])}: {dacc[1]}, {dacc[2]} (overall)", dacc)]
                self.accuracy.options = acc
            conf_values, acc_values = [v for _, v in conf], [v for _, v in acc]
            self.confusion.value = dconf if dconf in conf_values else ()
            if dacc not in acc_values:
                # the demo's accuracy table may hold no per-expression values: use the matrix's diagonal
                dacc = dconf if dconf in acc_values else ()
            self.accuracy.value = dacc
        finally:
            self._busy = False
        self.update()

    def _changed(self, change) -> None:
        if not self._busy:
            self.update()

    def update(self) -> None:
        """Redraw for the current run and paper choices."""
        if not self.run.value:
            return
        try:
            v = results_view(self.run.value, self.confusion.value or (), self.accuracy.value or ())
        except Exception as exc:  # noqa: BLE001
            self.view = None
            show_text(self.output, f"{self.run.value}: {type(exc).__name__}: {exc}")
            return
        self.view = v
        set_banner(self.source, v.results.get("synthetic"))
        notes = "".join(f"<br><i>{n}</i>" for n in v.notes)
        self.summary.value = summary_text(v.results) + notes
        ncm = 3 if v.confusion.paper is not None else 1
        fig = new_figure(4.0 * ncm, 7.6)
        top, bottom = fig.subfigures(2, 1, height_ratios=[1.05, 1])
        v.confusion.plot(ax=list(top.subplots(1, ncm, squeeze=False)[0]))
        v.accuracy.plot(ax=bottom.subplots())
        show_figure(self.output, fig)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)


def _run_label(p: Path, root: Path) -> str:
    try:
        rel = p.relative_to(root)
        return str(rel) if str(rel) != "." else p.name
    except ValueError:
        return str(p)
