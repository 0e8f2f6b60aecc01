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

from ferbench.papers._load import (confusion_matrix, errata, list_confusion_matrices, list_tables, load_paper,
                                   paper_info, per_class_accuracy, table, text_numbers)
from ferbench.papers._types import (PAPERS, PaperConfusion, PaperDataError, PaperInfo, PrintedNumber, Table,
                                    decimals_of)

__all__ = [
    "PAPERS", "PaperDataError", "PrintedNumber", "PaperInfo", "Table", "PaperConfusion",
    "paper_info", "list_tables", "table", "confusion_matrix", "list_confusion_matrices",
    "per_class_accuracy", "errata", "text_numbers", "load_paper", "decimals_of",
]
