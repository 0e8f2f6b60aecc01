"""PaperTablePanel: pick a paper and one of its tables, read the transcription.

The numbers are the papers' own, transcribed as printed (:mod:`ferbench.papers`); the panel labels
them with the table they come from. The logic is :func:`table_options` and :func:`table_text`.
"""
from __future__ import annotations

import ipywidgets as widgets

from ferbench._ipywidgets._common import pre_html


def paper_options() -> list[tuple[str, str]]:
    """``(label, key)`` for each paper, e.g. ``("DF-CNN (Li et al. 2017)", "dfcnn")``."""
    from ferbench.papers import PAPERS
    from ferbench.viz import PAPER_NAMES

    return [(PAPER_NAMES.get(p, p), p) for p in PAPERS]


def table_options(paper: str) -> list[tuple[str, str]]:
    """``(label, id)`` for each stored table and figure of ``paper`` (label: id and shortened caption)."""
    from ferbench.papers import list_tables

    out = []
    for _, tid, caption in list_tables(paper):
        cap = caption if len(caption) <= 70 else caption[:69] + "…"
        kind = "Fig." if tid.lower().startswith("fig") else "Table"
        shown = tid[3:] if kind == "Fig." else tid
        out.append((f"{kind} {shown}: {cap}", tid))
    return out


def table_text(paper: str, table_id: str) -> str:
    """The table as aligned text headed by ``[paper] source: caption`` (notes and errata below).

    Parameters
    ----------
    paper
        Paper key (``"dfcnn"``, ``"gemax_fa"``, ...).
    table_id
        Printed table id (``"II"``, ``"3"``) or figure id (``"fig12a"``).
    """
    from ferbench.papers import paper_info, table

    t = table(paper, table_id)
    lines = [f"paper numbers, transcribed as printed: {paper_info(paper)}", t.to_text()]
    if t.notes:
        lines += ["", "notes:"] + [f"  - {n}" for n in t.notes]
    return "\n".join(lines)


class PaperTablePanel:
    """Dropdowns for a paper and one of its tables; shows the transcribed table as text.

    Parameters
    ----------
    paper, table
        Initial selection (default: the first paper and its first table).

    Attributes
    ----------
    widget : ipywidgets.VBox
    paper, table : ipywidgets.Dropdown
    text : ipywidgets.HTML
        The table (``<pre>`` block); ``text.value`` contains the caption of the selected table.
    """

    def __init__(self, paper: str | None = None, table: str | None = None):
        popts = paper_options()
        paper = paper or popts[0][1]
        self.paper = widgets.Dropdown(options=popts, value=paper, description="paper")
        topts = table_options(paper)
        self.table = widgets.Dropdown(options=topts, value=table or topts[0][1], description="table",
                                      layout=widgets.Layout(width="70%"))
        self.text = widgets.HTML()
        self.widget = widgets.VBox([self.paper, self.table, self.text])
        self.paper.observe(self._paper_changed, names="value")
        self.table.observe(self._table_changed, names="value")
        self.update()

    def _paper_changed(self, change) -> None:
        self.table.options = table_options(self.paper.value)  # resets the value to the first table
        self.update()

    def _table_changed(self, change) -> None:
        self.update()

    def update(self) -> None:
        """Show the selected table."""
        if self.table.value is None:
            self.text.value = ""
            return
        self.text.value = pre_html(table_text(self.paper.value, self.table.value))

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)
