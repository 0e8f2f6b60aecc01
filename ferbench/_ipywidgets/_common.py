"""Helpers shared by the notebook panels: figures into an Output, provenance banners, scan loading."""
from __future__ import annotations

import html
import io
import os
from pathlib import Path
from typing import Any

import ipywidgets as widgets

SYNTHETIC_NOTE = ("ferbench, synthetic data: a synthetic sanity check. It says the pipeline runs; it says nothing "
                  "about accuracy on BU-3DFE, Bosphorus or any real data.")
"""The banner every panel shows above numbers computed on synthetic scans."""


def new_figure(width: float, height: float, layout: str | None = "constrained"):
    """A matplotlib Figure that is not registered with pyplot (no global state, nothing to close).

    Parameters
    ----------
    width, height
        Size in inches.
    layout
        matplotlib layout engine (None: fixed margins, the fastest redraw).
    """
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout=layout)


def figure_png(fig, dpi: int = 90) -> bytes:
    """PNG bytes of a matplotlib figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def show_figure(out: widgets.Output, fig, dpi: int = 90) -> None:
    """Replace the contents of ``out`` by ``fig`` (drawn as a PNG, so any matplotlib backend works).

    The Output's ``outputs`` state is set directly, in one update, instead of capturing a ``display`` call
    inside ``with out:`` after ``clear_output(wait=True)``: the capture routes every figure through the
    kernel's display machinery and the client's Output-widget bookkeeping, and headless execution with nbclient
    (ipykernel 7) was seen to lose a cell's reply after such cells on a busy machine. A state update renders the
    same in JupyterLab, and a redraw replaces the picture atomically (no flicker).
    """
    import base64

    png = figure_png(fig, dpi=dpi)
    out.outputs = ({"output_type": "display_data",
                    "data": {"image/png": base64.b64encode(png).decode("ascii"),
                             "text/plain": "<matplotlib figure>"},
                    "metadata": {}},)


def show_text(out: widgets.Output, text: str) -> None:
    """Replace the contents of ``out`` by plain text (one state update, see :func:`show_figure`)."""
    out.outputs = ({"output_type": "stream", "name": "stdout", "text": str(text) + "\n"},)


def banner(synthetic: bool | None, extra: str = "") -> widgets.HTML:
    """An HTML line saying where the panel's numbers come from (synthetic sanity check or real data)."""
    w = widgets.HTML()
    set_banner(w, synthetic, extra)
    return w


def set_banner(w: widgets.HTML, synthetic: bool | None, extra: str = "") -> None:
    """Update a :func:`banner` widget."""
    if synthetic:
        text = SYNTHETIC_NOTE
        style = "color:#8a5a00"
    elif synthetic is None:
        text = "ferbench, data of unknown origin"
        style = "color:#555"
    else:
        text = "ferbench, real data"
        style = "color:#555"
    if extra:
        text = f"{text} {extra}"
    w.value = f'<span style="{style}"><b>{html.escape(text)}</b></span>'


def pre_html(text: str) -> str:
    """``text`` escaped inside a ``<pre>`` block (tables keep their alignment)."""
    return f'<pre style="font-size:11px; line-height:1.25">{html.escape(text)}</pre>'


def as_index(data: Any):
    """A :class:`ferbench.io.DatasetIndex` from an index, a dataset folder, or a list of records."""
    from ferbench.io import DatasetIndex, index_dataset

    if isinstance(data, DatasetIndex):
        return data
    if isinstance(data, (str, os.PathLike, Path)):
        return index_dataset(data)
    return DatasetIndex(list(data))


def record_label(record) -> str:
    """``"F0001 · happiness · 4"`` (dataset added for Bosphorus)."""
    parts = [str(record.subject), str(record.expression or "?")]
    if record.intensity is not None:
        parts.append(str(record.intensity))
    if record.dataset != "bu3dfe":
        parts.append(str(record.dataset))
    extra = getattr(record, "extra", {}) or {}
    if record.dataset == "bosphorus" and extra.get("code"):
        parts.append(str(extra["code"]))
    return " · ".join(parts)


def to_grid(scan_or_grid, size: int):
    """A FaceGrid from a Scan (preprocessed at ``size``), a ScanRecord (loaded first) or a FaceGrid (as is)."""
    from ferbench.io import Scan, ScanRecord
    from ferbench.preprocess import FaceGrid, preprocess_scan

    if isinstance(scan_or_grid, ScanRecord):
        scan_or_grid = scan_or_grid.load()
    if isinstance(scan_or_grid, Scan):
        return preprocess_scan(scan_or_grid, size=size)
    if isinstance(scan_or_grid, FaceGrid):
        return scan_or_grid
    raise TypeError(f"expected a Scan, ScanRecord or FaceGrid, got {type(scan_or_grid).__name__}")
