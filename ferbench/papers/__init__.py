"""The five papers' reported numbers, as data.

Every results table and confusion matrix of the papers ferbench reimplements is stored in
``ferbench/papers/data/<paper>.json`` exactly as printed (the JSON number tokens keep the
paper's decimals, e.g. ``86.20``), with its source, protocol, notes and errata. This module
loads them into small pandas-free objects.

Paper keys: ``"dfcnn"``, ``"gemax_fa"``, ``"attention_transformer"``, ``"cmcnn"``, ``"mffcnn"``.
Table ids are the printed table numbers (``"II"``, ``"3"``); figures are ``"fig12a"`` etc.

Examples
--------
>>> from ferbench import papers
>>> print(papers.table("dfcnn", "II"))          # doctest: +SKIP
>>> papers.table("gemax_fa", "3").cell("Entropy", "20")
7.811
>>> m, labels = papers.confusion_matrix("dfcnn", "IV", variant="Gabor")
>>> labels[0], float(m[0, 0])
('anger', 85.53)
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Iterable, Sequence

from ..errors import FerbenchError
from ..labels import ALL_EXPRESSIONS

__all__ = [
    "PAPERS", "PaperDataError", "PrintedNumber", "PaperInfo", "Table", "PaperConfusion",
    "paper_info", "list_tables", "table", "confusion_matrix", "list_confusion_matrices",
    "per_class_accuracy", "errata", "text_numbers", "load_paper",
]

PAPERS: tuple[str, ...] = ("dfcnn", "gemax_fa", "attention_transformer", "cmcnn", "mffcnn")
"""The paper keys, in the project's paper order (000..004)."""


class PaperDataError(FerbenchError, LookupError):
    """An unknown paper, table, row, column or variant, or a malformed paper-results file."""


class PrintedNumber(float):
    """A float that remembers how the paper printed it (``PrintedNumber("86.20").text == "86.20"``).

    Arithmetic gives plain floats; ``str()`` and ``repr()`` give the printed text.
    """

    text: str

    def __new__(cls, text: str) -> "PrintedNumber":
        obj = super().__new__(cls, text)
        obj.text = text
        return obj

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__

    @property
    def decimals(self) -> int:
        """Number of decimals printed (``"86.20"`` -> 2, ``"0"`` -> 0)."""
        return len(self.text.split(".", 1)[1]) if "." in self.text else 0

    def __reduce__(self):  # keep pickling (e.g. to dask workers) working
        return (PrintedNumber, (self.text,))


def _printed(v: Any) -> str:
    """How a cell value is displayed: the printed text, '' for a missing cell."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def decimals_of(v: Any) -> int:
    """Printed decimals of a cell value (0 for ints and non-numbers)."""
    return v.decimals if isinstance(v, PrintedNumber) else 0


@dataclass(frozen=True)
class PaperInfo:
    """Bibliographic data of one paper."""

    key: str
    title: str
    authors: tuple[str, ...]
    year: int
    venue: str
    doi: str | None = None
    source_text: str | None = None
    spec: str | None = None
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{', '.join(self.authors)} ({self.year}). {self.title}. {self.venue}."


@dataclass(frozen=True)
class Table:
    """One printed table or figure of a paper, as data.

    Attributes
    ----------
    paper, id, kind
        Paper key, printed id (``"II"``, ``"fig12a"``) and ``"table"`` or ``"figure"``.
    caption, source, protocol, dataset, units
        As printed / as named in the specs (``source`` e.g. ``"Table II, §VI-B1"``).
    columns
        Column headers.
    row_labels
        Row labels in printed order (confusion tables: ``"<variant>: <class>"``).
    values
        One tuple per row. Numbers are :class:`PrintedNumber` (floats) or ints; cells the
        paper prints as text (``"–"``, ``"N / A"``) are strings; ``None`` = no printed value.
    notes, errata
        Free-text notes and the list of errata dicts (``cell``/``row``/``where``, ``printed``,
        ``issue``, ``corrected_if_known``). Printed values are never corrected in ``values``.
    """

    paper: str
    id: str
    kind: str
    caption: str
    source: str
    protocol: str | None
    dataset: str | None
    units: str | None
    columns: tuple[str, ...]
    row_labels: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]
    notes: tuple[str, ...] = ()
    errata: tuple[dict, ...] = ()
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def rows(self) -> dict[str, tuple[Any, ...]]:
        """Row label -> tuple of cell values (printed order)."""
        return dict(zip(self.row_labels, self.values))

    def _col_index(self, col: str | int) -> int:
        if isinstance(col, int):
            if not -len(self.columns) <= col < len(self.columns):
                raise PaperDataError(f"{self.paper} {self.id}: column index {col} out of range ({len(self.columns)} columns)")
            return col % len(self.columns)
        try:
            return self.columns.index(col)
        except ValueError:
            raise PaperDataError(f"{self.paper} {self.id}: unknown column {col!r}; columns: {list(self.columns)}") from None

    def row(self, label: str) -> tuple[Any, ...]:
        """The cells of one row."""
        try:
            return self.values[self.row_labels.index(label)]
        except ValueError:
            raise PaperDataError(f"{self.paper} {self.id}: unknown row {label!r}; rows: {list(self.row_labels)}") from None

    def column(self, col: str | int) -> tuple[Any, ...]:
        """The cells of one column, top to bottom."""
        j = self._col_index(col)
        return tuple(r[j] for r in self.values)

    def cell(self, row: str, col: str | int) -> Any:
        """One cell value (a float/int, a printed string such as ``"–"``, or None)."""
        return self.row(row)[self._col_index(col)]

    def printed(self, row: str, col: str | int) -> str:
        """One cell exactly as printed (``"86.20"``, ``"0"``, ``"–"``)."""
        return _printed(self.cell(row, col))

    def errata_for(self, row: str | None = None, col: str | None = None) -> list[dict]:
        """Errata attached to a cell (``row`` and ``col``), a row, or all of them."""
        out = []
        for e in self.errata:
            if row is None:
                out.append(e)
            elif e.get("cell") and e["cell"][0] == row and (col is None or e["cell"][1] == col):
                out.append(e)
            elif col is None and e.get("row") == row:
                out.append(e)
        return out

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per row: ``{"row": label, <column>: value, ...}`` (pandas ``records`` layout)."""
        return [{"row": lab, **dict(zip(self.columns, vals))} for lab, vals in zip(self.row_labels, self.values)]

    def to_text(self, max_width: int = 48) -> str:
        """Aligned plain-text rendering headed by the source/caption line, with notes and errata."""
        def clip(s: str) -> str:
            return s if len(s) <= max_width else s[: max_width - 1] + "…"

        head = [""] + [clip(c) for c in self.columns]
        body = [[clip(lab)] + [clip(_printed(v)) for v in vals] for lab, vals in zip(self.row_labels, self.values)]
        widths = [max(len(r[j]) for r in [head] + body) for j in range(len(head))]

        def numeric(j: int) -> bool:
            return j > 0 and all(isinstance(vals[j - 1], (int, float)) or vals[j - 1] in (None, "–", "-", "N / A")
                                 for vals in self.values)

        right = [numeric(j) for j in range(len(head))]

        def fmt(r: list[str]) -> str:
            return "  ".join(c.rjust(w) if right[j] else c.ljust(w) for j, (c, w) in enumerate(zip(r, widths))).rstrip()

        lines = [f"[{self.paper}] {self.source}: {self.caption}"]
        meta = [f"{k}: {v}" for k, v in (("protocol", self.protocol), ("dataset", self.dataset), ("units", self.units)) if v]
        if meta:
            lines.append("  " + " | ".join(meta))
        lines += [fmt(head), "  ".join("-" * w for w in widths)] + [fmt(r) for r in body]
        for e in self.errata:
            where = e.get("cell") or e.get("row") or e.get("where") or ""
            if isinstance(where, list):
                where = " / ".join(where)
            printed = e.get("printed")
            lines.append(f"  erratum [{where}]: {e['issue']}" + (f" (printed: {_printed(printed)})" if printed is not None else ""))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()


class PaperConfusion(tuple):
    """``(matrix, class_labels)`` plus metadata; unpacks as a 2-tuple.

    ``matrix`` is a float numpy array of row-normalised percentages (rows = true class,
    columns = predicted), NaN where the paper's cell is not recoverable. ``class_labels``
    are ferbench names (``"anger"``, ..., ``"neutral"``).
    """

    paper: str
    id: str
    variant: str | None
    printed_average: PrintedNumber | None
    printed: tuple[tuple[str, ...], ...]
    derived: dict | None
    source: str

    def __new__(cls, matrix, class_labels, **meta):
        obj = super().__new__(cls, (matrix, tuple(class_labels)))
        for k, v in meta.items():
            setattr(obj, k, v)
        return obj

    @property
    def matrix(self):
        return self[0]

    @property
    def class_labels(self) -> tuple[str, ...]:
        return self[1]


# --------------------------------------------------------------------------- loading

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
