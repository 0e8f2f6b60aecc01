"""Shared helpers of the display objects: provenance labels, class order, results folders."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ferbench.errors import FerbenchError
from ferbench.models.cfgs import PAPER_CFGS
from ferbench.labels import ALL_EXPRESSIONS, EXPRESSIONS, SHORT_NAMES

PAPER_NAMES: dict[str, str] = {p: c.display for p, c in PAPER_CFGS.items()}  # owned by ferbench/models/cfgs.py

#: A fixed colour per expression (tab10 entries), so every figure colours a class the same way.
CLASS_COLORS: dict[str, str] = {
    "anger": "#d62728", "disgust": "#2ca02c", "fear": "#9467bd", "happiness": "#ff7f0e",
    "sadness": "#1f77b4", "surprise": "#17becf", "neutral": "#7f7f7f",
}


class VizError(FerbenchError, ValueError):
    """A display was given inconsistent data (shapes, class labels, missing results)."""


def paper_source(paper: str, table: str | None = None, variant: str | None = None) -> str:
    """Plain label of a paper's number, e.g. ``"paper: DF-CNN (Li et al. 2017), Table V"``."""
    name = PAPER_NAMES.get(paper, paper)
    if table is None:
        return f"paper: {name}"
    t = str(table)
    low = t.lower()
    if low.startswith("fig") and not low.startswith("fig."):
        t = "Fig. " + t[3:].lstrip("ure").lstrip(" .")   # "fig12a" -> "Fig. 12a"
    elif not low.startswith(("table", "tab", "fig")):
        t = f"Table {t}"
    return f"paper: {name}, {t}" + (f" ({variant})" if variant else "")


def run_source(synthetic: bool | None, detail: str | None = None) -> str:
    """Plain label of ferbench's own number: ``"ferbench, synthetic data"`` / ``"ferbench, real data"``."""
    data = {True: "synthetic data", False: "real data", None: "data of unknown origin"}[
        None if synthetic is None else bool(synthetic)]
    return f"ferbench, {data}" + (f" ({detail})" if detail else "")


def short_labels(labels: Sequence[str]) -> list[str]:
    """Two-letter axis labels (AN, DI, ...) for expression names; other names unchanged."""
    return [SHORT_NAMES.get(str(lb), str(lb)) for lb in labels]


def class_color(label: str, i: int = 0) -> str:
    """The fixed colour of an expression (or a tab10 colour by index for other labels)."""
    if label in CLASS_COLORS:
        return CLASS_COLORS[label]
    import matplotlib

    return matplotlib.colormaps["tab10"](i % 10)


def canonical_order(labels: Sequence[Any]) -> list[str]:
    """Class names of ``labels`` sorted into ferbench order (the six expressions, then neutral)."""
    names = {canonical_label(lb, ALL_EXPRESSIONS) for lb in labels}
    return [c for c in ALL_EXPRESSIONS if c in names]


def canonical_label(label: Any, classes: Sequence[str] = EXPRESSIONS) -> str:
    """Map an int index, a name or a BU-3DFE code to a class name of ``classes``."""
    from ferbench.labels import BU3DFE_CODES

    if isinstance(label, (int, np.integer)):
        if not 0 <= int(label) < len(classes):
            raise VizError(f"class index {int(label)} outside 0..{len(classes) - 1}")
        return classes[int(label)]
    s = str(label)
    s = BU3DFE_CODES.get(s.upper(), s.lower())
    if s == "happy":
        s = "happiness"
    if s not in classes:
        raise VizError(f"unknown class label {label!r}; expected one of {', '.join(classes)}")
    return s


def reorder_matrix(m: np.ndarray, labels: Sequence[Any], order: Sequence[str]) -> np.ndarray:
    """Permute rows and columns of a square matrix from ``labels`` order into ``order``."""
    names = [canonical_label(lb, ALL_EXPRESSIONS if isinstance(lb, str) else order) for lb in labels]
    if sorted(names) != sorted(order) or len(set(names)) != len(names):
        raise VizError(f"matrix classes {names} do not match {list(order)}")
    idx = [names.index(c) for c in order]
    return np.asarray(m, dtype=np.float64)[np.ix_(idx, idx)]


def row_normalise(counts: np.ndarray) -> np.ndarray:
    """Rows scaled to sum to 100 (%); an empty row stays NaN (no samples of that class)."""
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise VizError(f"confusion matrix must be square, got shape {c.shape}")
    if not np.isfinite(c).all() or (c < 0).any():
        raise VizError("confusion matrix has negative or non-finite entries")
    s = c.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s > 0, 100.0 * c / np.where(s > 0, s, 1.0), np.nan)


def load_results(results_dir: str | os.PathLike) -> dict[str, Any]:
    """``results.json`` of a ferbench run folder (or the file itself), in the current schema
    (:func:`ferbench.eval.results.read_results_file`).

    Raises
    ------
    VizError
        Missing or unreadable file, naming the path.
    """
    from ferbench.eval.results import ResultsError, read_results_file

    try:
        return read_results_file(results_dir)
    except ResultsError as e:
        raise VizError(str(e)) from None


def results_confusion(res: dict[str, Any]) -> tuple[np.ndarray, list[str]]:
    """Confusion-matrix counts and class names from a results dict (ferbench class order by default)."""
    cm = res.get("confusion_matrix", res.get("confusion"))
    if isinstance(cm, dict):  # {"counts": [[...]], "labels": [...]}
        labels = cm.get("labels") or cm.get("classes") or list(EXPRESSIONS)
        cm = cm.get("counts", cm.get("matrix"))
    else:
        labels = res.get("classes") or res.get("labels") or list(EXPRESSIONS)
    if cm is None:
        raise VizError(f"{res.get('_path', 'results')}: no confusion_matrix entry")
    arr = np.asarray(cm, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] != len(labels):
        raise VizError(f"{res.get('_path', 'results')}: confusion_matrix shape {arr.shape} "
                       f"does not match {len(labels)} classes")
    return arr, [str(x) for x in labels]


def results_synthetic(res: dict[str, Any]) -> bool | None:
    """The run's synthetic flag (``synthetic`` key, or ``data``/``dataset`` naming synthetic data)."""
    if "synthetic" in res:
        return bool(res["synthetic"])
    for k in ("data", "dataset"):
        v = res.get(k)
        if isinstance(v, str):
            return "synth" in v.lower()
        if isinstance(v, dict) and "synthetic" in v:
            return bool(v["synthetic"])
    return None


def results_detail(res: dict[str, Any]) -> str | None:
    """``"model, protocol"`` of a results dict, for labels."""
    parts = [str(res[k]) for k in ("model", "protocol") if res.get(k)]
    return ", ".join(parts) or None


def paper_confusion(paper: str, table: str, variant: str | None = None) -> tuple[np.ndarray, list[str]]:
    """``ferbench.papers.confusion_matrix`` with a clear error when the papers module is absent."""
    try:
        from ferbench.papers import confusion_matrix
    except ImportError as e:
        raise VizError(f"paper numbers unavailable (ferbench.papers: {e})") from None
    out = confusion_matrix(paper, table, variant) if variant is not None else confusion_matrix(paper, table)
    if isinstance(out, tuple):
        m, labels = out
    else:
        m, labels = out, list(EXPRESSIONS)
    return np.asarray(m, dtype=np.float64), [str(x) for x in labels]


def paper_per_class(paper: str, table: str, row: str | None = None) -> dict[str, float]:
    """``ferbench.papers.per_class_accuracy`` as ``{expression: %}``."""
    try:
        from ferbench.papers import per_class_accuracy
    except ImportError as e:
        raise VizError(f"paper numbers unavailable (ferbench.papers: {e})") from None
    out = per_class_accuracy(paper, table, row) if row is not None else per_class_accuracy(paper, table)
    return as_class_dict(out)


def paper_overall(paper: str, table: str, row: str, column: str) -> float:
    """One printed overall accuracy (%) of a paper's table, e.g. ``("cmcnn", "V", "CM-CNN", "P1")``."""
    from ferbench.papers import table as paper_table

    v = paper_table(paper, table).cell(row, column)
    try:
        return float(v)
    except (TypeError, ValueError):
        raise VizError(f"{paper} {table} [{row}, {column}] is not a number (printed {v!r})") from None


def as_class_dict(values: Any, classes: Sequence[str] = EXPRESSIONS) -> dict[str, float]:
    """Per-class values given as a dict (names/codes/indices as keys), a sequence in ``classes`` order,
    or a pandas-like object with ``to_dict``."""
    if values is None:
        return {}
    if hasattr(values, "to_dict") and not isinstance(values, dict):
        values = values.to_dict()
    if isinstance(values, dict):
        out = {}
        for k, v in values.items():
            try:
                name = canonical_label(k, classes)
            except VizError:
                continue  # e.g. "mean"/"average" entries
            out[name] = float("nan") if v is None else float(v)
        return out
    arr = np.asarray([np.nan if v is None else v for v in values], dtype=np.float64).reshape(-1)
    if arr.size != len(classes):
        raise VizError(f"got {arr.size} per-class values for {len(classes)} classes")
    return dict(zip(classes, arr.tolist()))


# ---------------------------------------------------------------------------------------------- the Display contract
class Display:
    """Base of every ferbench Display (the scikit-learn contract).

    A Display is built with a ``from_*`` classmethod (``from_view``, ``from_run``, ``from_scan``, ...), which
    computes everything; ``plot(ax=None, ...)`` only draws, returns ``self`` and sets

    * ``figure_``: the matplotlib figure (or sub-figure) drawn into;
    * ``ax_``: the one Axes, for displays drawn on a single Axes (:class:`AccuracyTableDisplay`,
      :class:`EmbeddingDisplay`), or
    * ``axes_``: a numpy array of Axes, for displays drawn as a grid of panels
      (:class:`ConfusionComparisonDisplay`, :class:`ExplanationGridDisplay`, :class:`MapGridDisplay`,
      :class:`TauSweepDisplay`).

    ``ax`` accepts ``None`` (a new figure), an ``Axes`` (single-axes displays), or, for grids, a
    ``Figure``/``SubFigure`` to lay the panels out in or an array/list of Axes holding enough panels.
    The old ``fig=`` keyword of the grid displays is a deprecated alias of ``ax=`` (a Figure).
    """

    def _title(self, title: str, synthetic: bool | None) -> str:
        """``title`` labelled " (synthetic)" for generated data (:func:`ferbench.views.title_label`)."""
        from ferbench.views.labels import title_label

        return title_label(title, synthetic)

    @staticmethod
    def _single_axes(ax, figsize: tuple[float, float]):
        """``(figure, axes)`` to draw a single-axes display into: a new figure when ``ax`` is None, one
        Axes added to a given Figure/SubFigure, or ``ax`` itself."""
        if ax is None:
            import matplotlib.pyplot as plt

            # constrained layout: titles and outside legends fit, no empty bands
            fig, ax = plt.subplots(figsize=figsize, layout="constrained")
            return fig, ax
        if _is_figure(ax):
            return ax, ax.subplots()
        if not _is_axes(ax):
            raise VizError(f"ax must be a matplotlib Axes, a Figure or None, got {type(ax).__name__}")
        return ax.figure, ax

    @staticmethod
    def _grid_target(ax, fig=None, figsize: tuple[float, float] | None = None, need: int | None = None):
        """``(figure, axes or None)`` for a grid display: ``axes`` is a flat object array when ``ax`` gives
        Axes (at least ``need`` of them), ``None`` when the display must lay its panels out in ``figure``
        (``ax`` a Figure/SubFigure, or None for a new figure of ``figsize``). ``fig`` is the deprecated alias."""
        if fig is not None:
            import warnings

            warnings.warn("plot(fig=...) is deprecated; pass the figure as plot(ax=...)", DeprecationWarning,
                          stacklevel=3)
            if ax is not None:
                raise VizError("give ax= or fig=, not both")
            ax = fig
        if ax is None:
            import matplotlib.pyplot as plt

            return plt.figure(figsize=figsize, layout="constrained"), None
        if _is_figure(ax):
            return ax, None
        axes = np.asarray(ax if not _is_axes(ax) else [ax], dtype=object).ravel()
        if axes.size == 0 or not all(_is_axes(a) for a in axes):
            raise VizError("ax must be None, a Figure/SubFigure or an array of matplotlib Axes")
        if need is not None and axes.size < need:
            raise VizError(f"need {need} axes, got {axes.size}")
        return axes[0].figure, axes


def _is_figure(obj) -> bool:
    from matplotlib.figure import FigureBase

    return isinstance(obj, FigureBase)


def _is_axes(obj) -> bool:
    from matplotlib.axes import Axes

    return isinstance(obj, Axes)


def wrap_title(text: str, width_in: float, fontsize: float = 9.0) -> str:
    """``text`` wrapped to lines that fit ``width_in`` inches at ``fontsize`` points (no clipped titles).

    An average glyph of DejaVu Sans is about 0.55 em wide; the margin keeps a line clear of the edges.
    """
    chars = max(12, int(width_in * 72.0 / (0.58 * float(fontsize))) - 2)
    return wrap_lines(text, chars)


def wrap_lines(text: str, chars: int) -> str:
    """``text`` wrapped to lines of at most ``chars`` characters (long words broken).

    Its own line breaks count as spaces, so a title wrapped for one width can be wrapped again for another.
    """
    import textwrap

    return "\n".join(textwrap.wrap(str(text), int(chars), break_long_words=True)) or str(text)


def contrast_stretch(m, percentile: float = 99.0) -> np.ndarray:
    """A non-negative heat map scaled so its ``percentile``-th value (of the non-zero pixels) is 1, clipped.

    Gradient saliency is dominated by a few large pixels: scaled by its maximum it is nearly black.
    """
    a = np.nan_to_num(np.asarray(m, dtype=np.float64))
    a = np.clip(a, 0.0, None)
    nz = a[a > 0]
    if nz.size == 0:
        return a
    hi = float(np.percentile(nz, percentile))
    return np.clip(a / hi, 0.0, 1.0) if hi > 0 else a


def figure_width_in(fig) -> float:
    """Width in inches of a Figure or SubFigure."""
    if hasattr(fig, "get_figwidth"):
        return float(fig.get_figwidth())
    return float(fig.bbox.width) / float(fig.figure.dpi)


def axes_width_in(ax) -> float:
    """Width in inches of an Axes (before the layout engine runs: its initial box)."""
    return float(ax.get_window_extent().width) / float(ax.figure.dpi)    # a SubFigure's dpi is its figure's
