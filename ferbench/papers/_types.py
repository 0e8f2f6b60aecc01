"""The objects the papers' numbers are loaded into: printed numbers, tables, confusion matrices."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ferbench.errors import FerbenchError

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
