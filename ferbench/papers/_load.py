"""Loading ``ferbench/papers/data/<paper>.json`` and looking up tables, matrices, errata and text numbers."""
from __future__ import annotations

import json
import math
from functools import lru_cache
from importlib import resources
from typing import Iterable, Sequence

from ferbench.labels import ALL_EXPRESSIONS
from ferbench.papers._types import (PAPERS, PaperConfusion, PaperDataError, PaperInfo, PrintedNumber, Table,
                                     _printed)


def _parse_json(text: str, where: str) -> dict:
    try:
        return json.loads(text, parse_float=PrintedNumber)
    except json.JSONDecodeError as exc:
        raise PaperDataError(f"{where}: invalid JSON ({exc})") from None


@lru_cache(maxsize=None)
def load_paper(paper: str) -> dict:
    """The raw JSON document of one paper (numbers as :class:`PrintedNumber`). Cached; do not mutate."""
    if paper not in PAPERS:
        raise PaperDataError(f"unknown paper {paper!r}; known: {', '.join(PAPERS)}")
    res = resources.files(__package__).joinpath("data", f"{paper}.json")
    try:
        text = res.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PaperDataError(f"{res}: paper-results file missing (broken installation?)") from None
    doc = _parse_json(text, str(res))
    if doc.get("paper") != paper or not isinstance(doc.get("tables"), list):
        raise PaperDataError(f"{res}: not a ferbench paper-results file for {paper!r}")
    return doc


def _papers(paper: str | None) -> Sequence[str]:
    if paper is None:
        return PAPERS
    load_paper(paper)  # validates the key
    return (paper,)


def _entry(paper: str, id: str) -> dict:
    doc = load_paper(paper)
    for t in doc["tables"]:
        if t["id"] == id:
            return t
    ids = [t["id"] for t in doc["tables"]]
    raise PaperDataError(f"{paper}: unknown table/figure {id!r}; known: {', '.join(ids)}")


def _class_names(paper: str, labels: Iterable[str]) -> tuple[str, ...]:
    cmap = load_paper(paper)["class_map"]
    try:
        return tuple(cmap[lab] for lab in labels)
    except KeyError as exc:
        raise PaperDataError(f"{paper}: class label {exc.args[0]!r} has no ferbench name") from None


def paper_info(paper: str) -> PaperInfo:
    """Title, authors, year and venue of a paper.

    Parameters
    ----------
    paper
        One of :data:`PAPERS`.
    """
    d = load_paper(paper)
    return PaperInfo(key=paper, title=d["title"], authors=tuple(d["authors"]), year=int(d["year"]), venue=d["venue"],
                     doi=d.get("doi"), source_text=d.get("source_text"), spec=d.get("spec"), notes=tuple(d.get("notes", ())))


def list_tables(paper: str | None = None) -> list[tuple[str, str, str]]:
    """``(paper, id, caption)`` of every stored table and figure, in printed order."""
    return [(p, t["id"], t["caption"]) for p in _papers(paper) for t in load_paper(p)["tables"]]


@lru_cache(maxsize=None)
def table(paper: str, id: str) -> Table:
    """One table or figure of a paper as a :class:`Table`.

    Parameters
    ----------
    paper
        Paper key, e.g. ``"dfcnn"``.
    id
        Printed table number (``"II"``, ``"3"``) or figure id (``"fig12a"``).

    Notes
    -----
    Confusion-matrix tables have one row per (variant, true class), labelled
    ``"<variant>: <class>"`` (or just the class when the table has a single matrix).
    """
    t = _entry(paper, str(id))
    if "rows" in t:
        labels = tuple(r["label"] for r in t["rows"])
        values = tuple(tuple(r["values"]) for r in t["rows"])
    else:
        labels_l, values_l = [], []
        for cm in t.get("confusion_matrices", []):
            for lab, vals in zip(cm["paper_labels"], cm["matrix"]):
                labels_l.append(f"{cm['variant']}: {lab}" if cm["variant"] else lab)
                values_l.append(tuple(vals))
        labels, values = tuple(labels_l), tuple(values_l)
    if any(len(v) != len(t["columns"]) for v in values):
        raise PaperDataError(f"{paper} {id}: a row does not have {len(t['columns'])} cells")
    if len(set(labels)) != len(labels):
        raise PaperDataError(f"{paper} {id}: duplicate row labels")
    known = {"id", "kind", "caption", "source", "protocol", "dataset", "units", "columns", "rows", "notes", "errata"}
    return Table(paper=paper, id=t["id"], kind=t["kind"], caption=t["caption"], source=t["source"], protocol=t.get("protocol"),
                 dataset=t.get("dataset"), units=t.get("units"), columns=tuple(t["columns"]), row_labels=labels, values=values,
                 notes=tuple(t.get("notes", ())), errata=tuple(t.get("errata", ())),
                 extra={k: v for k, v in t.items() if k not in known})


def list_confusion_matrices(paper: str | None = None) -> list[tuple[str, str, str | None]]:
    """``(paper, table_or_figure_id, variant)`` of every stored confusion matrix."""
    return [(p, t["id"], cm["variant"]) for p in _papers(paper) for t in load_paper(p)["tables"]
            for cm in t.get("confusion_matrices", [])]


def _cm_entry(paper: str, id: str, variant: str | None) -> tuple[dict, dict]:
    t = _entry(paper, str(id))
    cms = t.get("confusion_matrices")
    if not cms:
        raise PaperDataError(f"{paper} {id}: not a confusion matrix; see list_confusion_matrices({paper!r})")
    if variant is None:
        if len(cms) > 1:
            raise PaperDataError(f"{paper} {id}: several matrices, pass variant= one of {[c['variant'] for c in cms]}")
        return t, cms[0]
    for cm in cms:
        if cm["variant"] == variant:
            return t, cm
    raise PaperDataError(f"{paper} {id}: unknown variant {variant!r}; known: {[c['variant'] for c in cms]}")


def confusion_matrix(paper: str, id: str, variant: str | None = None, order: str = "ferbench") -> PaperConfusion:
    """A paper's confusion matrix as ``(matrix, class_labels)``, row-normalised %.

    Parameters
    ----------
    paper, id
        Paper key and table/figure id (see :func:`list_confusion_matrices`).
    variant
        Which matrix of a table that prints several (e.g. ``"Gabor"`` in DF-CNN Table IV).
    order
        ``"ferbench"`` (default): classes reordered to :data:`ferbench.labels.ALL_EXPRESSIONS`
        order (neutral last); ``"paper"``: the paper's own order (names mapped to ferbench's).

    Returns
    -------
    PaperConfusion
        Unpacks as ``matrix, class_labels``; ``matrix`` is a float array (NaN = not
        recoverable), rows = true class. Also ``.printed`` (cells as printed, paper order),
        ``.printed_average``, ``.derived`` (reconstructed counts where the spec gives them;
        derived, not printed), ``.variant``, ``.source``.
    """
    import numpy as np

    t, cm = _cm_entry(paper, id, variant)
    names = _class_names(paper, cm["paper_labels"])
    mat = np.array([[math.nan if v is None else float(v) for v in row] for row in cm["matrix"]], dtype=float)
    printed = tuple(tuple(_printed(v) for v in row) for row in cm["matrix"])
    derived = cm.get("derived")
    if order == "ferbench":
        perm = sorted(range(len(names)), key=lambda i: ALL_EXPRESSIONS.index(names[i]))
        mat = mat[np.ix_(perm, perm)]
        names = tuple(names[i] for i in perm)
    elif order != "paper":
        raise PaperDataError(f"order must be 'ferbench' or 'paper', not {order!r}")
    mat.setflags(write=False)
    return PaperConfusion(mat, names, paper=paper, id=t["id"], variant=cm["variant"], printed_average=cm.get("printed_average"),
                          printed=printed, derived=derived, source=t["source"], paper_order=_class_names(paper, cm["paper_labels"]))


def per_class_accuracy(paper: str, id: str, row: str | None = None) -> dict[str, float | None]:
    """Per-expression accuracies (recall, %) where the paper gives them.

    Parameters
    ----------
    paper, id
        A confusion-matrix table/figure (the diagonal is returned) or a table with
        per-class columns (e.g. MFF-CNN Table 6).
    row
        The matrix variant (confusion tables) or the row label (per-class tables); may be
        omitted when there is only one.

    Returns
    -------
    dict
        ferbench class name -> value in the paper's class order (None where not recoverable).
    """
    t = _entry(paper, str(id))
    if t.get("confusion_matrices"):
        _, cm = _cm_entry(paper, id, row)
        names = _class_names(paper, cm["paper_labels"])
        return {n: cm["matrix"][i][i] for i, n in enumerate(names)}
    pcc = t.get("per_class_columns")
    if pcc:
        tab = table(paper, id)
        if row is None:
            if len(tab.row_labels) > 1:
                raise PaperDataError(f"{paper} {id}: pass row= one of {list(tab.row_labels)}")
            row = tab.row_labels[0]
        return {name: tab.cell(row, col) for col, name in pcc.items()}
    raise PaperDataError(f"{paper} {id}: the paper gives no per-expression values in this table")


def errata(paper: str | None = None, id: str | None = None) -> list[dict]:
    """Errata, each with ``paper`` and ``table`` keys added (``table`` None for paper-level ones)."""
    out = []
    for p in _papers(paper):
        doc = load_paper(p)
        if id is None:
            out += [{"paper": p, "table": None, **e} for e in doc.get("errata", [])]
        for t in doc["tables"]:
            if id is None or t["id"] == id:
                out += [{"paper": p, "table": t["id"], **e} for e in t.get("errata", [])]
        if id is not None:
            _entry(p, id)
    return out


def text_numbers(paper: str) -> list[dict]:
    """Numbers the paper gives only in its text (``where``, ``quantity``, ``printed``, ``values``, ``issue``)."""
    return list(load_paper(paper).get("text_numbers", []))
