"""Self-contained HTML reports (figures as base64 PNG, tables as HTML; no external assets).

>>> from ferbench.report import Report
>>> Report("ferbench demo").add_heading("Setup").add_text("Synthetic data only.").title
'ferbench demo'
"""
from __future__ import annotations

from ferbench.report.html import Report, ReportError

__all__ = ["Report", "ReportError"]
