"""A self-contained HTML report: figures as base64 PNG, tables as HTML, one inline stylesheet,
no scripts, no external assets, no network.

>>> r = Report("demo").add_heading("Results")
>>> r = r.add_table([["anger", 80.0, 75.5]], header=["expression", "paper (%)", "ferbench (%)"],
...             caption="per-class accuracy", sources=["paper: DF-CNN, Table V", "ferbench, synthetic data"])
>>> "<table" in r.to_html()
True
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import math
import os
from pathlib import Path
from typing import Any, Sequence

from ferbench.errors import FerbenchError

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #ccc;padding-bottom:.2em}
table{border-collapse:collapse;margin:.5em 0 1.2em 0;font-size:.9em}
th,td{border:1px solid #bbb;padding:.25em .6em;text-align:right}
th{background:#eee}td:first-child,th:first-child{text-align:left}
figure{margin:1em 0 1.6em 0}figure img{max-width:100%;height:auto;border:1px solid #ddd}
figcaption,caption{font-size:.9em;color:#444;caption-side:bottom;text-align:left;padding-top:.3em}
.src{display:inline-block;font-size:.8em;padding:.05em .5em;margin:.1em .3em .1em 0;border-radius:.8em;
border:1px solid #999}
.src.paper{background:#f3ecd9;border-color:#b89b4c}.src.synthetic{background:#e2efff;border-color:#5b8fd6}
.src.real{background:#e3f5e3;border-color:#4c9a4c}
.meta{color:#666;font-size:.85em}
"""


class ReportError(FerbenchError, ValueError):
    """The report was given something it cannot render or write."""


def _source_class(src: str) -> str:
    s = src.lower()
    if s.startswith("paper"):
        return "src paper"
    if "synthetic" in s:
        return "src synthetic"
    if "real" in s:
        return "src real"
    return "src"


def _fmt(v: Any, digits: int) -> str:
    if v is None:
        return "&ndash;"
    if isinstance(v, bool):
        return html.escape(str(v))
    if isinstance(v, float):
        return "&ndash;" if math.isnan(v) else f"{v:.{digits}f}"
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # numpy scalars
        try:
            return _fmt(v.item(), digits)
        except (ValueError, TypeError):
            pass
    return html.escape(str(v))


class Report:
    """Collects headings, text, figures and tables and writes one self-contained HTML file.

    Parameters
    ----------
    title
        Page title and top heading.

    Notes
    -----
    Provenance: ``add_text``, ``add_figure`` and ``add_table`` take ``sources``, a list of plain labels
    such as ``"paper: DF-CNN (Li et al. 2017), Table V"`` or ``"ferbench, synthetic data"`` (see
    :func:`ferbench.viz.paper_source` / :func:`ferbench.viz.run_source`); each is rendered as a
    coloured badge (paper / synthetic / real) above the item so every section says plainly whose
    numbers it shows and on which data.
    """

    def __init__(self, title: str):
        self.title = str(title)
        self._parts: list[str] = []

    def __len__(self) -> int:
        return len(self._parts)

    def _badges(self, sources: Sequence[str] | str | None) -> str:
        if not sources:
            return ""
        if isinstance(sources, str):
            sources = [sources]
        return "<div>" + "".join(f'<span class="{_source_class(s)}">{html.escape(str(s))}</span>'
                                 for s in sources) + "</div>"

    def add_heading(self, text: str, level: int = 2) -> "Report":
        """A section heading (``level`` 2-4; level 1 is the report title)."""
        lv = min(max(int(level), 2), 4)
        self._parts.append(f"<h{lv}>{html.escape(str(text))}</h{lv}>")
        return self

    def add_text(self, text: str, sources: Sequence[str] | str | None = None) -> "Report":
        """A paragraph of plain text (escaped; blank lines start new paragraphs)."""
        paras = [p.strip() for p in str(text).split("\n\n") if p.strip()]
        body = "".join(f"<p>{html.escape(p)}</p>" for p in paras)
        self._parts.append(self._badges(sources) + body)
        return self

    def add_figure(self, fig, caption: str = "", sources: Sequence[str] | str | None = None,
                   dpi: int = 110, close: bool = True) -> "Report":
        """Embed a matplotlib figure (or a display object with ``figure_``) as a base64 PNG.

        Parameters
        ----------
        fig
            ``matplotlib.figure.Figure``, an object with ``figure_`` (ferbench/sklearn displays), or PNG bytes.
        caption
            Shown under the figure; figures of synthetic data should say so (or pass such a source).
        close
            Close the figure after rendering (frees memory in long demos).
        """
        png = self._png(fig, dpi, close)
        b64 = base64.b64encode(png).decode("ascii")
        cap = f"<figcaption>{html.escape(str(caption))}</figcaption>" if caption else ""
        self._parts.append(f'<figure>{self._badges(sources)}<img alt="{html.escape(str(caption))}" '
                           f'src="data:image/png;base64,{b64}">{cap}</figure>')
        return self

    @staticmethod
    def _png(fig, dpi: int, close: bool) -> bytes:
        if isinstance(fig, (bytes, bytearray)):
            if not bytes(fig[:8]) == b"\x89PNG\r\n\x1a\n":
                raise ReportError("figure bytes are not a PNG image")
            return bytes(fig)
        f = getattr(fig, "figure_", fig)
        if not hasattr(f, "savefig"):
            raise ReportError(f"cannot render {type(fig).__name__} as a figure (need a matplotlib Figure)")
        buf = io.BytesIO()
        f.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        if close:
            import matplotlib.pyplot as plt

            plt.close(f)
        return buf.getvalue()

    def add_table(self, rows: Sequence[Sequence[Any]], header: Sequence[str] | None = None, caption: str = "",
                  sources: Sequence[str] | str | None = None, digits: int = 2) -> "Report":
        """An HTML table; floats are printed with ``digits`` decimals, ``None``/NaN as a dash.

        Raises
        ------
        ReportError
            Rows of unequal length, or a header of another length.
        """
        rows = [list(r) for r in rows]
        width = len(header) if header is not None else (len(rows[0]) if rows else 0)
        bad = [i for i, r in enumerate(rows) if len(r) != width]
        if bad:
            raise ReportError(f"table rows {bad[:5]} do not have {width} cells")
        out = ["<table>"]
        if caption:
            out.append(f"<caption>{html.escape(str(caption))}</caption>")
        if header is not None:
            out.append("<thead><tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
                       + "</tr></thead>")
        out.append("<tbody>")
        for r in rows:
            out.append("<tr>" + "".join(f"<td>{_fmt(v, digits)}</td>" for v in r) + "</tr>")
        out.append("</tbody></table>")
        self._parts.append(self._badges(sources) + "".join(out))
        return self

    def add_display(self, display, caption: str = "", sources: Sequence[str] | str | None = None,
                    table: bool = True) -> "Report":
        """Convenience: a ferbench display's figure (plotting it when needed) plus, for displays with
        ``rows()``/``header``, its table. Sources default to the display's own provenance labels."""
        if sources is None:
            sources = [s for s in (getattr(display, "paper_source", None), getattr(display, "ours_source", None),
                                   getattr(display, "source", None)) if s]
        if not hasattr(display, "figure_"):
            display.plot()
        self.add_figure(display, caption, sources)
        if table and hasattr(display, "rows") and hasattr(display, "header"):
            self.add_table(display.rows(), display.header, caption, sources=None)
        return self

    def to_html(self) -> str:
        """The whole document as a string."""
        stamp = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        t = html.escape(self.title)
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{t}</title><style>{_CSS}</style></head><body>"
                f"<h1>{t}</h1><p class=\"meta\">generated by ferbench on {stamp}; self-contained (no external "
                "assets)</p>\n" + "\n".join(self._parts) + "\n</body></html>\n")

    def write(self, path: str | os.PathLike) -> Path:
        """Write the HTML file (parent folders created); returns its path.

        Raises
        ------
        ReportError
            The file cannot be written (naming the path).
        """
        p = Path(path)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(self.to_html(), encoding="utf-8")
        except OSError as e:
            raise ReportError(f"{p}: cannot write report ({e.strerror or e})") from None
        return p
